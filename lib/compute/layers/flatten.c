/*
 * Flatten (Flux's, Keras' and PyTorch's): each sample as a vector of its
 * elements in row-major order, the batch's first dimension kept. The data
 * does not move, so it has no buffer and no work (LAYER_RESHAPES): only its
 * shape changes.
 */
#include "../compute_internal.h"   /* (layer.h: what a kind is) */

#ifndef FP_REAL_BITS

static int flatten_output_shape(const layer *l, const sample_shape *in, sample_shape *out,
                                char *why, size_t cap)
{
    (void)l;
    (void)why;
    (void)cap;
    *out = shape_vector(shape_elems(in));
    return 0;
}

const layer_type fp_layer_flatten = {
    .name = "Flatten",
    .aliases = NULL,
    .flags = LAYER_RESHAPES | LAYER_SAMPLEWISE,
    .fields = NULL,
    .output_shape = flatten_output_shape,
};

#else

#include "../layer_ops.h"

static const layer_ops flatten_ops = { NULL };

#endif
