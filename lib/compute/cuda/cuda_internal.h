/* Between the CUDA files: the device builds of the pass tables (passes_f32.cu,
 * passes_f64.cu) that backend_cuda.cu wraps. C++ (nvcc) only. */
#ifndef FP_CUDA_INTERNAL_H
#define FP_CUDA_INTERNAL_H

#include <cuda_runtime.h>

/* kernel<<<grid, block>>>(args), in a form the CPU emulation (emulate/,
 * meson option emulate_cuda) can run as well. */
#ifdef FP_CUDA_EMULATED
#define FP_LAUNCH(kernel, grid, block, ...) \
    fp_emu_launch(dim3(grid), dim3(block), [&] { kernel(__VA_ARGS__); })
#else
#define FP_LAUNCH(kernel, grid, block, ...) kernel<<<grid, block>>>(__VA_ARGS__)
#endif

extern "C" {
#include "../compute_internal.h"

extern const net_ops fp_net_ops_cuda_f32, fp_net_ops_cuda_f64;
extern const net_tangent_ops fp_net_tangent_ops_cuda_f32, fp_net_tangent_ops_cuda_f64;
}

#endif
