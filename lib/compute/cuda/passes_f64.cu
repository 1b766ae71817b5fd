/* The passes (passes.c, tangent_pass.c) and the layer kinds' ops on the GPU in
 * double: the same files, compiled against the CUDA kernels of kernels.cuh and
 * cuda/layers/ instead of the host's. */
#include "cuda_internal.h"
#define FP_REAL_BITS 64
#define PASS_NAME(name) name##_cuda_f64
#define FP_DEVICE_KERNELS 1   /* the layer files take the GPU's kernels */
#include "../real.h"
#include "kernels.cuh"
#include "compute/layer_files.h"
#include "../passes.c"
#include "../tangent_pass.c"
