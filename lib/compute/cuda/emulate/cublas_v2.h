/*
 * cuBLAS, emulated on the CPU with CBLAS (OpenBLAS), for the CUDA backend's
 * emulation (cuda_runtime.h beside this says what it checks). Column-major, as
 * cuBLAS is; only what backend_cuda.cu and kernels.cuh call.
 */
#ifndef FP_CUDA_EMULATE_CUBLAS_H
#define FP_CUDA_EMULATE_CUBLAS_H

#include <cblas.h>

#include "cuda_runtime.h"

typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
struct fp_emu_blas { int unused; };
typedef fp_emu_blas *cublasHandle_t;

inline cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    static fp_emu_blas one;
    *h = &one;
    return CUBLAS_STATUS_SUCCESS;
}

inline CBLAS_TRANSPOSE fp_emu_op(cublasOperation_t op)
{
    return op == CUBLAS_OP_T ? CblasTrans : CblasNoTrans;
}

/* cuBLAS's checks of the shapes (its leading dimensions at least the rows stored). */
inline bool fp_emu_gemm_ok(cublasOperation_t oa, cublasOperation_t ob, int m, int n, int k, int lda,
                           int ldb, int ldc)
{
    int rows_a = oa == CUBLAS_OP_N ? m : k, rows_b = ob == CUBLAS_OP_N ? k : n;
    return m >= 0 && n >= 0 && k >= 0 && lda >= (rows_a > 1 ? rows_a : 1)
           && ldb >= (rows_b > 1 ? rows_b : 1) && ldc >= (m > 1 ? m : 1);
}

inline void fp_emu_cblas(cublasOperation_t oa, cublasOperation_t ob, int m, int n, int k,
                         float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                         float *c, int ldc)
{
    cblas_sgemm(CblasColMajor, fp_emu_op(oa), fp_emu_op(ob), m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
}

inline void fp_emu_cblas(cublasOperation_t oa, cublasOperation_t ob, int m, int n, int k,
                         double alpha, const double *a, int lda, const double *b, int ldb,
                         double beta, double *c, int ldc)
{
    cblas_dgemm(CblasColMajor, fp_emu_op(oa), fp_emu_op(ob), m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
}

/* count products at fixed strides (cuBLAS' strided batches; one: count 1). */
template <typename T>
inline cublasStatus_t fp_emu_gemm(cublasOperation_t oa, cublasOperation_t ob, int m, int n, int k,
                                  const T *alpha, const T *a, int lda, long long sa, const T *b,
                                  int ldb, long long sb, const T *beta, T *c, int ldc,
                                  long long sc, int count)
{
    if (!fp_emu_gemm_ok(oa, ob, m, n, k, lda, ldb, ldc) || count < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < count; i++)
        fp_emu_cblas(oa, ob, m, n, k, *alpha, a + i * sa, lda, b + i * sb, ldb, *beta, c + i * sc,
                     ldc);
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t oa, cublasOperation_t ob,
                                  int m, int n, int k, const float *alpha, const float *a, int lda,
                                  const float *b, int ldb, const float *beta, float *c, int ldc)
{
    return fp_emu_gemm(oa, ob, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

inline cublasStatus_t cublasDgemm(cublasHandle_t, cublasOperation_t oa, cublasOperation_t ob,
                                  int m, int n, int k, const double *alpha, const double *a,
                                  int lda, const double *b, int ldb, const double *beta, double *c,
                                  int ldc)
{
    return fp_emu_gemm(oa, ob, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t oa,
                                                cublasOperation_t ob, int m, int n, int k,
                                                const float *alpha, const float *a, int lda,
                                                long long sa, const float *b, int ldb, long long sb,
                                                const float *beta, float *c, int ldc, long long sc,
                                                int count)
{
    return fp_emu_gemm(oa, ob, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, count);
}

inline cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t oa,
                                                cublasOperation_t ob, int m, int n, int k,
                                                const double *alpha, const double *a, int lda,
                                                long long sa, const double *b, int ldb,
                                                long long sb, const double *beta, double *c,
                                                int ldc, long long sc, int count)
{
    return fp_emu_gemm(oa, ob, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, count);
}

#endif
