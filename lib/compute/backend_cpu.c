/* The CPU backend: CBLAS from OpenBLAS. Threads are OpenBLAS's own
 * (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS). */
#include "backend.h"

#include <cblas.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void gemm_f32 FP_GEMM_SIGNATURE(float)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static void gemm_f64 FP_GEMM_SIGNATURE(double)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

const fp_backend fp_backend_cpu = {
    .name = "cpu",
    .max_dim = INT_MAX,
    .gemm_f32 = gemm_f32,
    .gemm_f64 = gemm_f64,
};

const fp_backend *fp_backend_find(const char *name, char *why, size_t why_cap)
{
    if (!name || !strcmp(name, "cpu"))
        return &fp_backend_cpu;
    if (strcmp(name, "cuda") && strcmp(name, "auto")) {
        snprintf(why, why_cap, "unknown device '%s' (cpu, cuda, auto)", name);
        return NULL;
    }
#ifdef FP_HAVE_CUDA
    const fp_backend *gpu = fp_backend_cuda_open(why, why_cap);
#else
    const fp_backend *gpu = NULL;
    snprintf(why, why_cap, "this flatparams was built without CUDA (meson option cuda)");
#endif
    if (!gpu && !strcmp(name, "auto"))
        return &fp_backend_cpu;   /* auto falls back silently */
    return gpu;
}
