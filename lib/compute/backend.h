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

struct fp_net;
struct net_ops;
struct net_tangent_ops;

typedef struct fp_backend {
    const char *name;
    /* The largest dimension gemm accepts (CBLAS takes int). */
    size_t max_dim;
    void (*gemm_f32) FP_GEMM_SIGNATURE(float);
    void (*gemm_f64) FP_GEMM_SIGNATURE(double);
    /* A device backend: the pass tables that move data to the device and run
     * there (NULL: the host's own), and the release of a net's device state. */
    void (*net_ops)(int precision, const struct net_ops **ops,
                    const struct net_tangent_ops **tangent_ops);
    void (*net_release)(struct fp_net *net);
    /* Whether a call of the last passes failed (a device's): 1 with the reason,
     * which is then cleared; NULL for a backend that cannot fail. */
    int (*failed)(char *why, size_t cap);
    /* Scratch one Hessian pass may use, bytes: the host's is FP_HESSIAN_BLOCK_BYTES,
     * a device's comes from its free memory when opened (and replaces the host's). */
    size_t block_bytes;
    /* The host's threads: how many gemm may use, and setting that count (the
     * Hessian runs blocks of directions side by side, each gemm on one thread).
     * NULL for a device backend. */
    int (*get_threads)(void);
    void (*set_threads)(int n);
    /* Readies n host threads to run gemm side by side: a working buffer of
     * the BLAS for each, while there is room (blas_memory.c); returns how
     * many are ready, at least 1. NULL: all of them, always. */
    size_t (*ready_gemm_callers)(size_t n);
} fp_backend;

extern const fp_backend fp_backend_cpu;

/* blas_memory.c: OpenBLAS's working buffers, taken while there is room for
 * them (a buffer OpenBLAS maps itself and cannot get, it retries for ever).
 * The pool then holds one for each of up to `wanted` threads calling gemm at
 * once; returns for how many (0: not even one). Call with no gemm running on
 * this program's own threads. */
size_t blas_reserve_buffers(size_t wanted);
/* One buffer (blas_reserve_buffers(1)), or -1 with the reason in why. */
int blas_reserve_caller_buffer(char *why, size_t why_cap);

/* By name: "cpu" (or NULL), "cuda", or "auto" (cuda when built and a GPU is
 * usable, else cpu); NULL with the reason in why otherwise, or when the
 * calling thread's BLAS buffer does not fit (cpu). */
const fp_backend *fp_backend_find(const char *name, char *why, size_t why_cap);

/* backend_cuda.cu (the module libflatparams_cuda.so): the CUDA backend when a
 * GPU is usable, else NULL and why. */
const fp_backend *fp_backend_cuda_open(char *why, size_t why_cap);

#endif
