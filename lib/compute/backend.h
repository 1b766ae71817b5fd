/*
 * What the layers need from the hardware: matrix products. The CPU backend
 * wraps CBLAS (OpenBLAS); a CUDA backend implements the same table with cuBLAS,
 * and the layers' logic stays as it is.
 */
#ifndef FP_COMPUTE_BACKEND_H
#define FP_COMPUTE_BACKEND_H

#include <stddef.h>

/* Row-major C (m x n) = alpha * op(A) op(B) + beta * C, op(A) m x k, op(B) k x n;
 * trans_a/trans_b non-zero mean op = transpose. Leading dimensions as in CBLAS. */
#define FP_GEMM_SIGNATURE(real)                                                        \
    (int trans_a, int trans_b, size_t m, size_t n, size_t k, real alpha, const real *a, \
     size_t lda, const real *b, size_t ldb, real beta, real *c, size_t ldc)

typedef struct fp_backend {
    const char *name;
    /* The largest dimension gemm accepts (CBLAS takes int). */
    size_t max_dim;
    void (*gemm_f32) FP_GEMM_SIGNATURE(float);
    void (*gemm_f64) FP_GEMM_SIGNATURE(double);
} fp_backend;

extern const fp_backend fp_backend_cpu;

/* By name ("cpu", "cuda"); NULL with a message in err when it is not built. */
const fp_backend *fp_backend_find(const char *name, char *why, size_t why_cap);

#endif
