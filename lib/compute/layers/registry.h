/*
 * The layer kinds, one line each: LAYER_KIND(name) for layers/<name>.c, whose
 * GPU kernels (if it has any) are cuda/layers/<name>.cuh. Their order is the
 * order messages list their names in (Flux's names first, then the other
 * tools').
 *
 * Where the compute core needs every kind it includes this list with
 * LAYER_KIND defined to what it needs (registry.c: the table of
 * descriptions; passes.c: each build's table of ops), and
 * lib/compute/meson.build reads it to include every kind's file in each
 * build (layer_files.h). So a new kind is its file, its CUDA kernels and a
 * line here.
 */
LAYER_KIND(dense)
LAYER_KIND(batchnorm)
LAYER_KIND(layernorm)
LAYER_KIND(dropout)
LAYER_KIND(flatten)
LAYER_KIND(activation)
LAYER_KIND(input)
