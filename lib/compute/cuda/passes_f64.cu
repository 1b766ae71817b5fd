/* The passes (passes.c, tangent_pass.c) on the GPU in double: the same files, compiled
 * against the CUDA kernels of kernels.cuh instead of the host's. */
#include "cuda_internal.h"
#define FP_REAL_BITS 64
#define PASS_NAME(name) name##_cuda_f64
#include "../real.h"
#include "kernels.cuh"
#include "../passes.c"
#include "../tangent_pass.c"
