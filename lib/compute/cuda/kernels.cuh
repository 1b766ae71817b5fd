/*
 * The compute kernels on an NVIDIA GPU: the same functions, with the same
 * signatures and meaning, as activations.c, losses.c and tangent.c, over
 * device pointers; each layer kind's are in cuda/layers/<kind>.cuh, beside
 * its file's. passes.c, tangent_pass.c and the kinds' ops (the order of the
 * work) are compiled against these unchanged, and the formulas themselves
 * (one element, row or group) are formulas.h's, shared with the CPU, so the
 * two cannot drift apart in what they compute, only in how.
 *
 * Elementwise work is one thread per element (grid-stride); per-row and
 * per-group work (softmax, normalisation statistics, column sums) one thread
 * per row or group: these are small next to the matrix products, which go to
 * cuBLAS (backend_cuda.cu). Everything runs on the default stream, in order
 * (the pipelined copies of rows back to the host have their own stream).
 * Written over `real` and included once per precision (passes_f32.cu,
 * passes_f64.cu).
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>

/* backend_cuda.cu: the library's cuBLAS handle, and where a failed launch or
 * call is recorded (net.c turns it into an error after the pass). */
extern "C" cublasHandle_t fp_cuda_blas(void);
extern "C" void fp_cuda_note(cudaError_t e, const char *what);
/* FLATPARAMS_CUDA_PROFILE=1: each launch and product synchronised and timed,
 * the totals per kernel printed at exit (backend_cuda.cu). */
extern "C" double fp_cuda_prof_start(void);
extern "C" void fp_cuda_prof_end(const char *what, double start);
extern "C" void fp_cuda_prof_gemm(const char *what, size_t m, size_t n, size_t k, size_t count,
                                  double start);

#define GEMM(be) ((be)->REAL_NAME(gemm))
#define T_PER_BLOCK 256

static inline unsigned grid_for(size_t n)
{
    size_t blocks = (n + T_PER_BLOCK - 1) / T_PER_BLOCK;
    return (unsigned)(blocks == 0 ? 1 : blocks > (1u << 20) ? (1u << 20) : blocks);
}

#define FOR_EACH(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                            i += (size_t)gridDim.x * blockDim.x)
/* Over K directions of n elements each: k from the grid's y (no 64-bit division). */
#define FOR_EACH_K(k, i, K, n)                                                          \
    for (size_t k = blockIdx.y; k < (K); k += gridDim.y)                              \
        for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);         \
             i += (size_t)gridDim.x * blockDim.x)
#define LAUNCH_K(kernel, K, n, ...) do {                                              \
        if ((K) > 0 && (n) > 0) {                                                     \
            size_t gy = (K) < 65535 ? (K) : 65535, gx = grid_for(n);                  \
            gx = gx * gy > (1u << 22) ? ((1u << 22) / gy ? (1u << 22) / gy : 1) : gx;   \
            double t0_ = fp_cuda_prof_start();                                        \
            FP_LAUNCH(kernel, dim3((unsigned)gx, (unsigned)gy), T_PER_BLOCK, __VA_ARGS__);  \
            fp_cuda_note(cudaGetLastError(), #kernel);                                \
            fp_cuda_prof_end(#kernel, t0_);                                           \
        }                                                                             \
    } while (0)
#define LAUNCH(kernel, n, ...) do {                                                   \
        if ((n) > 0) {                                                                \
            double t0_ = fp_cuda_prof_start();                                        \
            FP_LAUNCH(kernel, grid_for(n), T_PER_BLOCK, __VA_ARGS__);                  \
            fp_cuda_note(cudaGetLastError(), #kernel);                                \
            fp_cuda_prof_end(#kernel, t0_);                                           \
        }                                                                             \
    } while (0)

static void zero_reals(real *p, size_t n)
{
    double t0 = fp_cuda_prof_start();
    if (n)
        fp_cuda_note(cudaMemset(p, 0, n * sizeof *p), "cudaMemset");
    fp_cuda_prof_end("memset", t0);
}

/* ------------------------------------------------------------ activations */

/* The formulas (activations, losses, softmax rows, normalisation groups) are
 * formulas.h's, the CPU's own: __host__ __device__ under nvcc. */
#include "../formulas.h"

__global__ static void k_act_forward(act_kind act, real *out, const real *pre, size_t n)
{
    FOR_EACH(i, n) out[i] = act_value(act, pre[i]);
}

__global__ static void k_softmax_rows(real *out, const real *pre, size_t rows, size_t cols, int log_form)
{
    FOR_EACH(r, rows) softmax_row(out + r * cols, pre + r * cols, cols, log_form);
}

static void act_forward(act_kind act, real *out, const real *pre, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX)
        LAUNCH(k_softmax_rows, rows, out, pre, rows, cols, act == ACT_LOGSOFTMAX);
    else if (act != ACT_IDENTITY)
        LAUNCH(k_act_forward, n, act, out, pre, n);
    else if (out != pre && n)
        fp_cuda_note(cudaMemcpy(out, pre, n * sizeof *out, cudaMemcpyDeviceToDevice), "cudaMemcpy");
}

__global__ static void k_act_backward(act_kind act, real *dpre, const real *dout, const real *pre,
                                      const real *out, size_t n)
{
    FOR_EACH(i, n) dpre[i] = dout[i] * act_grad(act, pre[i], out[i]);
}

__global__ static void k_softmax_backward(act_kind act, real *dpre, const real *dout, const real *out,
                                          size_t rows, size_t cols)
{
    FOR_EACH(r, rows) softmax_backward_row(act, dpre + r * cols, dout + r * cols, out + r * cols, cols);
}

static void act_backward(act_kind act, real *dpre, const real *dout, const real *pre,
                         const real *out, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX)
        LAUNCH(k_softmax_backward, rows, act, dpre, dout, out, rows, cols);
    else if (act != ACT_IDENTITY)
        LAUNCH(k_act_backward, n, act, dpre, dout, pre, out, n);
    else if (dpre != dout && n)
        fp_cuda_note(cudaMemcpy(dpre, dout, n * sizeof *dpre, cudaMemcpyDeviceToDevice), "cudaMemcpy");
}

/* ------------------------------------------------------------ losses */

__device__ static void add_double(double *acc, double v)
{
    atomicAdd(acc, v);
}

__global__ static void k_loss_elementwise(fp_loss loss, real *d, const real *out, const real *y,
                                          size_t B, size_t C, double *acc)
{
    size_t n = B * C;
    double part = 0;
    FOR_EACH(i, n) {
        real di;
        part += loss_term(loss, out[i], y ? y[i] : 0, &di, n, B);
        if (d)
            d[i] = di;
    }
    add_double(acc, part);
}

__global__ static void k_loss_logitce(real *d, const real *out, const real *y, size_t B, size_t C,
                                      double *acc)
{
    double part = 0;
    FOR_EACH(r, B) part += logit_crossentropy_row(d ? d + r * C : NULL, out + r * C, y + r * C, C,
                                                  1 / (real)B);
    add_double(acc, part);
}

/* The loss, summed in double on the device and copied back (one number). */
static double loss_forward_backward(fp_loss loss, real *d, const real *out, const real *y,
                                    size_t B, size_t C)
{
    double *acc = NULL, total = 0;
    size_t n = B * C;
    if (fp_cuda_note(cudaMalloc((void **)&acc, sizeof *acc), "cudaMalloc"), !acc)
        return 0;
    fp_cuda_note(cudaMemset(acc, 0, sizeof *acc), "cudaMemset");
    if (loss == FP_LOSS_LOGITCROSSENTROPY)
        LAUNCH(k_loss_logitce, B, d, out, y, B, C, acc);
    else
        LAUNCH(k_loss_elementwise, n, loss, d, out, y, B, C, acc);
    fp_cuda_note(cudaMemcpy(&total, acc, sizeof total, cudaMemcpyDeviceToHost), "cudaMemcpy");
    cudaFree(acc);
    return loss_total(loss, total, n, B);
}

/* ------------------------------------------------------------ the tangent pass */

__global__ static void k_act_tangent_forward(act_kind act, real *tout, const real *tpre,
                                             const real *pre, const real *out, size_t n, size_t K)
{
    FOR_EACH_K(k, i, K, n) {
        real d1, d2;
        act_derivs(act, pre[i], out[i], &d1, &d2);
        tout[k * n + i] = d1 * tpre[k * n + i];
    }
}

__global__ static void k_softmax_tangent_forward(act_kind act, real *tout, const real *tpre,
                                                 const real *out, size_t B, size_t C, size_t K)
{
    FOR_EACH(r, K * B) softmax_tangent_row(act, tout + r * C, tpre + r * C, out + (r % B) * C, C);
}

static void act_tangent_forward(act_kind act, real *tout, const real *tpre, const real *pre,
                                const real *out, size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX)
        LAUNCH(k_softmax_tangent_forward, K * B, act, tout, tpre, out, B, C, K);
    else if (act != ACT_IDENTITY)
        LAUNCH_K(k_act_tangent_forward, K, n, act, tout, tpre, pre, out, n, K);
    else if (tout != tpre && n)
        fp_cuda_note(cudaMemcpy(tout, tpre, K * n * sizeof *tout, cudaMemcpyDeviceToDevice),
                     "cudaMemcpy");
}

__global__ static void k_act_tangent_backward(act_kind act, real *td, const real *tpre,
                                              const real *dout, const real *pre, const real *out,
                                              size_t n, size_t K)
{
    FOR_EACH_K(k, i, K, n) {
        size_t t = k * n + i;
        real d1, d2;
        act_derivs(act, pre[i], out[i], &d1, &d2);
        td[t] = d1 * td[t] + (tpre ? d2 * dout[i] * tpre[t] : 0);
    }
}

__global__ static void k_softmax_tangent_backward(act_kind act, real *td, const real *tout,
                                                  const real *dout, const real *out, size_t B,
                                                  size_t C, size_t K)
{
    FOR_EACH(r, K * B)
        softmax_tangent_backward_row(act, td + r * C, tout ? tout + r * C : NULL, dout + (r % B) * C,
                                     out + (r % B) * C, C);
}

static void act_tangent_backward(act_kind act, real *td, const real *tpre, const real *tout,
                                 const real *dout, const real *pre, const real *out, size_t B,
                                 size_t C, size_t K)
{
    size_t n = B * C;
    if (act == ACT_IDENTITY)
        return;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX)
        LAUNCH(k_softmax_tangent_backward, K * B, act, td, tout, dout, out, B, C, K);
    else
        LAUNCH_K(k_act_tangent_backward, K, n, act, td, tpre, dout, pre, out, n, K);
}

__global__ static void k_loss_tangent(fp_loss loss, real *tdout, const real *tout, const real *out,
                                      const real *y, size_t n, size_t B, size_t K)
{
    FOR_EACH_K(k, i, K, n)
        tdout[k * n + i] = loss_second_derivative(loss, out[i], y ? y[i] : 0, n, B) * tout[k * n + i];
}

__global__ static void k_logitce_tangent(real *tdout, const real *tout, const real *out, const real *y,
                                         size_t B, size_t C, size_t K)
{
    FOR_EACH(r, K * B)
        logit_crossentropy_tangent_row(tdout + r * C, out + (r % B) * C, y + (r % B) * C, tout + r * C,
                                       C, 1 / (real)B);
}

static void loss_tangent(fp_loss loss, real *tdout, const real *tout, const real *out, const real *y,
                         size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    if (!tout)
        zero_reals(tdout, K * n);
    else if (loss == FP_LOSS_LOGITCROSSENTROPY)
        LAUNCH(k_logitce_tangent, K * B, tdout, tout, out, y, B, C, K);
    else
        LAUNCH_K(k_loss_tangent, K, n, loss, tdout, tout, out, y, n, B, K);
}

/* ---- batched products (the layers' tangents: one per direction) */

/* C_k (row-major m x n) = alpha op(A_k) op(B_k) + beta C_k for k < count, the
 * operands at fixed element strides (0: shared): cuBLAS' strided batches. */
static void gemm_batched(int ta, int tb, size_t m, size_t n, size_t k, real alpha, const real *a,
                         size_t lda, long long sa, const real *b, size_t ldb, long long sb,
                         real beta, real *c, size_t ldc, long long sc, size_t count)
{
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t st;
    if (!count || !m || !n)
        return;
    double t0 = fp_cuda_prof_start();
    /* row-major C = A B is column-major C^T = B^T A^T */
#if FP_REAL_BITS == 32
    st = cublasSgemmStridedBatched(fp_cuda_blas(), ob, oa, (int)n, (int)m, (int)k, &alpha, b, (int)ldb, sb,
                                   a, (int)lda, sa, &beta, c, (int)ldc, sc, (int)count);
#else
    st = cublasDgemmStridedBatched(fp_cuda_blas(), ob, oa, (int)n, (int)m, (int)k, &alpha, b, (int)ldb, sb,
                                   a, (int)lda, sa, &beta, c, (int)ldc, sc, (int)count);
#endif
    if (st != CUBLAS_STATUS_SUCCESS)
        fp_cuda_note(cudaErrorUnknown, "cublas<t>gemmStridedBatched");
    fp_cuda_prof_gemm("batch", m, n, k, count, t0);
}
