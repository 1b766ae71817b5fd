/* Between the CUDA files: the device builds of the pass tables (passes_f32.cu,
 * passes_f64.cu) that backend_cuda.cu wraps. C++ (nvcc) only. */
#ifndef FP_CUDA_INTERNAL_H
#define FP_CUDA_INTERNAL_H

extern "C" {
#include "../compute_internal.h"

extern const net_ops fp_net_ops_cuda_f32, fp_net_ops_cuda_f64;
extern const net_tangent_ops fp_net_tangent_ops_cuda_f32, fp_net_tangent_ops_cuda_f64;
}

#endif
