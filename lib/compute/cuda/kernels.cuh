/*
 * The compute kernels on an NVIDIA GPU: the same functions, with the same
 * signatures and meaning, as activations.c, layers.c, losses.c and tangent.c,
 * over device pointers. passes.c and tangent_pass.c (the order of the work)
 * are compiled against these unchanged, and the formulas themselves (one
 * element, row or group) are formulas.h's, shared with the CPU, so the two
 * cannot drift apart in what they compute, only in how.
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

/* ------------------------------------------------------------ layers */

__global__ static void k_rows_of(real *out, const real *row, size_t B, size_t C)
{
    FOR_EACH(i, B * C) out[i] = row[i % C];
}

/* sums[c] += sum over rows of m[b, c] (column sums). */
__global__ static void k_column_sums(real *sums, const real *m, size_t B, size_t C)
{
    FOR_EACH(c, C) {
        real s = 0;
        for (size_t b = 0; b < B; b++)
            s += m[b * C + c];
        sums[c] += s;
    }
}

static void dense_forward(const fp_backend *be, real *out, const real *inp, const real *weight,
                          const real *bias, size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (bias)
        LAUNCH(k_rows_of, B * OC, out, bias, B, OC);
    GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C, weight, kernel_in_out ? OC : C,
             bias ? 1 : 0, out, OC);
}

static void dense_backward(const fp_backend *be, real *dinp, real *dweight, real *dbias,
                           const real *dout, const real *inp, const real *weight,
                           size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (dweight && !kernel_in_out)
        GEMM(be)(1, 0, OC, C, B, 1, dout, OC, inp, C, 1, dweight, C);
    else if (dweight)
        GEMM(be)(1, 0, C, OC, B, 1, inp, C, dout, OC, 1, dweight, OC);
    if (dbias)
        LAUNCH(k_column_sums, OC, dbias, dout, B, OC);
    if (dinp)
        GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC, weight, kernel_in_out ? OC : C,
                 0, dinp, C);
}

__global__ static void k_norm_stats(real *xhat, real *mean, real *rstd, const real *inp,
                                    size_t n_groups, size_t n, size_t group_stride,
                                    size_t elem_stride, real eps)
{
    FOR_EACH(g, n_groups) norm_stats_group(xhat + g * group_stride, &mean[g], &rstd[g],
                                           inp + g * group_stride, n, elem_stride, eps);
}

/* K blocks of n_groups groups (block k at k * block): the tangent pass reuses it. */
__global__ static void k_norm_stats_backward(real *dinp, const real *dxhat, const real *xhat,
                                             const real *rstd, size_t n_groups, size_t n,
                                             size_t group_stride, size_t elem_stride, size_t K,
                                             size_t block)
{
    FOR_EACH(t, K * n_groups) {
        size_t k = t / n_groups, g = t % n_groups;
        size_t at = g * group_stride;
        norm_stats_backward_group(dinp + k * block + at, dxhat + k * block + at, xhat + at,
                                  rstd[g], n, elem_stride);
    }
}

static void norm_stats_backward(real *dinp, const real *dxhat, const real *xhat, const real *rstd,
                                size_t n_groups, size_t n, size_t group_stride, size_t elem_stride)
{
    LAUNCH(k_norm_stats_backward, n_groups, dinp, dxhat, xhat, rstd, n_groups, n, group_stride,
           elem_stride, (size_t)1, (size_t)0);
}

__global__ static void k_affine_forward(real *out, const real *xhat, const real *gamma,
                                        const real *beta, size_t B, size_t C)
{
    FOR_EACH(i, B * C) {
        size_t c = i % C;
        out[i] = (gamma ? gamma[c] : 1) * xhat[i] + (beta ? beta[c] : 0);
    }
}

/* dgamma[c] += sum_b dout xhat, dbeta[c] += sum_b dout. */
__global__ static void k_affine_param_grads(real *dgamma, real *dbeta, const real *dout,
                                            const real *xhat, size_t B, size_t C)
{
    FOR_EACH(c, C) {
        real sg = 0, sb = 0;
        for (size_t b = 0; b < B; b++) {
            sg += dout[b * C + c] * xhat[b * C + c];
            sb += dout[b * C + c];
        }
        if (dgamma)
            dgamma[c] += sg;
        if (dbeta)
            dbeta[c] += sb;
    }
}

__global__ static void k_scale_columns(real *dst, const real *src, const real *scale, size_t B, size_t C)
{
    FOR_EACH(i, B * C) dst[i] = src[i] * (scale ? scale[i % C] : 1);
}

static void affine_backward(real *dgamma, real *dbeta, real *dxhat, const real *dout,
                            const real *xhat, const real *gamma, size_t B, size_t C)
{
    if (dgamma || dbeta)
        LAUNCH(k_affine_param_grads, C, dgamma, dbeta, dout, xhat, B, C);
    if (dxhat)
        LAUNCH(k_scale_columns, B * C, dxhat, dout, gamma, B, C);
}

__global__ static void k_running_stats(real *mean, real *rstd, const real *run_mean,
                                       const real *run_var, size_t C, real eps)
{
    FOR_EACH(c, C) {
        mean[c] = run_mean[c];
        rstd[c] = 1 / sqrt(run_var[c] + eps);
    }
}

__global__ static void k_normalise(real *xhat, const real *inp, const real *mean, const real *rstd,
                                   size_t B, size_t C)
{
    FOR_EACH(i, B * C) xhat[i] = (inp[i] - mean[i % C]) * rstd[i % C];
}

static void batchnorm_forward(real *out, real *xhat, real *stats, const real *inp,
                              const real *gamma, const real *beta, const real *run_mean,
                              const real *run_var, size_t B, size_t C, real eps, int train)
{
    real *mean = stats, *rstd = stats + C;
    if (train) {
        LAUNCH(k_norm_stats, C, xhat, mean, rstd, inp, C, B, (size_t)1, C, eps);
    } else {
        LAUNCH(k_running_stats, C, mean, rstd, run_mean, run_var, C, eps);
        LAUNCH(k_normalise, B * C, xhat, inp, mean, rstd, B, C);
    }
    LAUNCH(k_affine_forward, B * C, out, xhat, gamma, beta, B, C);
}

__global__ static void k_running_stats_grads(real *dmean, real *dvar, const real *dout,
                                             const real *xhat, const real *rstd, const real *gamma,
                                             size_t B, size_t C)
{
    FOR_EACH(c, C) {
        real sm = 0, sv = 0;
        for (size_t b = 0; b < B; b++) {
            real dxhat = dout[b * C + c] * (gamma ? gamma[c] : 1);
            sm += dxhat * rstd[c];
            sv += R1(0.5) * dxhat * xhat[b * C + c] * rstd[c] * rstd[c];
        }
        if (dmean)
            dmean[c] -= sm;
        if (dvar)
            dvar[c] -= sv;
    }
}

static void batchnorm_backward(real *dinp, real *dgamma, real *dbeta, real *dmean, real *dvar,
                               const real *dout, const real *xhat, const real *stats,
                               const real *gamma, size_t B, size_t C, int train)
{
    const real *rstd = stats + C;
    affine_backward(dgamma, dbeta, dinp, dout, xhat, gamma, B, C);
    if (!train && (dmean || dvar))
        LAUNCH(k_running_stats_grads, C, dmean, dvar, dout, xhat, rstd, gamma, B, C);
    if (!dinp)
        return;
    if (train)
        norm_stats_backward(dinp, dinp, xhat, rstd, C, B, 1, C);
    else
        LAUNCH(k_scale_columns, B * C, dinp, dinp, rstd, B, C);
}

static void layernorm_forward(real *out, real *xhat, real *stats, const real *inp,
                              const real *gamma, const real *beta, size_t B, size_t C, real eps)
{
    LAUNCH(k_norm_stats, B, xhat, stats, stats + B, inp, B, C, C, (size_t)1, eps);
    LAUNCH(k_affine_forward, B * C, out, xhat, gamma, beta, B, C);
}

static void layernorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout,
                               const real *xhat, const real *stats, const real *gamma,
                               size_t B, size_t C)
{
    affine_backward(dgamma, dbeta, dinp, dout, xhat, gamma, B, C);
    if (dinp)
        norm_stats_backward(dinp, dinp, xhat, stats + B, B, C, C, 1);
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

__global__ static void k_loss_tangent(fp_loss loss, real *tg, const real *tout, const real *out,
                                      const real *y, size_t n, size_t B, size_t K)
{
    FOR_EACH_K(k, i, K, n)
        tg[k * n + i] = loss_second_derivative(loss, out[i], y ? y[i] : 0, n, B) * tout[k * n + i];
}

__global__ static void k_logitce_tangent(real *tg, const real *tout, const real *out, const real *y,
                                         size_t B, size_t C, size_t K)
{
    FOR_EACH(r, K * B)
        logit_crossentropy_tangent_row(tg + r * C, out + (r % B) * C, y + (r % B) * C, tout + r * C,
                                       C, 1 / (real)B);
}

static void loss_tangent(fp_loss loss, real *tg, const real *tout, const real *out, const real *y,
                         size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    if (!tout)
        zero_reals(tg, K * n);
    else if (loss == FP_LOSS_LOGITCROSSENTROPY)
        LAUNCH(k_logitce_tangent, K * B, tg, tout, out, y, B, C, K);
    else
        LAUNCH_K(k_loss_tangent, K, n, loss, tg, tout, out, y, n, B, K);
}

/* ---- Dense */

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

/* Unit directions k in [k0, k1): dst[(k*B + b)*ldd + to] += src[b*lds + from]
 * (+1 for a bias: src NULL), (to, from) the element's (o, c) or (c, o). */
__global__ static void k_unit_scatter(real *dst, const real *src, size_t k0, size_t k1, int64_t unit_at,
                                      size_t B, size_t C, size_t OC, int kernel_in_out, int to_input,
                                      int bias)
{
    size_t ldd = to_input ? C : OC, lds = to_input ? OC : C;
    FOR_EACH(t, (k1 - k0) * B) {
        size_t k = k0 + t / B, b = t % B, o, c;
        size_t j = (size_t)(unit_at + (int64_t)k);
        if (bias) {
            dst[(k * B + b) * ldd + j] += 1;
            continue;
        }
        weight_index(j, C, OC, kernel_in_out, &o, &c);
        dst[(k * B + b) * ldd + (to_input ? c : o)] += src[b * lds + (to_input ? o : c)];
    }
}

__global__ static void k_add_bias_rows(real *tout, const real *tbias, size_t stride, size_t B,
                                       size_t OC, size_t K)
{
    FOR_EACH(t, K * B * OC) {
        size_t k = t / (B * OC), o = t % OC;
        tout[t] += tbias[k * stride + o];
    }
}

static void dense_tangent_forward(const fp_backend *be, real *tout, const real *tinp,
                                  const real *inp, const real *weight, const tslice *tw,
                                  const tslice *tb, size_t B, size_t C, size_t OC, size_t K,
                                  int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C, k0, k1;
    if (tinp)
        GEMM(be)(0, !kernel_in_out, K * B, OC, C, 1, tinp, C, weight, ldw, 0, tout, OC);
    else
        zero_reals(tout, K * B * OC);
    if (tw->live && tw->unit) {
        unit_range(tw, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tout, inp, k0, k1, tw->unit_at, B, C, OC,
               kernel_in_out, 0, 0);
    } else if (tw->rows) {   /* tout_k += inp tw_k^T, all k in one batched call */
        gemm_batched(0, !kernel_in_out, B, OC, C, 1, inp, C, 0, tw->rows, ldw,
                     (long long)tw->stride, 1, tout, OC, (long long)(B * OC), K);
    }
    if (tb->live && tb->unit) {
        unit_range(tb, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tout, (const real *)NULL, k0, k1, tb->unit_at, B,
               C, OC, kernel_in_out, 0, 1);
    } else if (tb->rows) {
        LAUNCH(k_add_bias_rows, K * B * OC, tout, tb->rows, tb->stride, B, OC, K);
    }
}

__global__ static void k_bias_hv(real *hbias, size_t stride, const real *tdout, size_t B, size_t OC,
                                 size_t K)
{
    FOR_EACH(t, K * OC) {
        size_t k = t / OC, o = t % OC;
        real s = 0;
        for (size_t b = 0; b < B; b++)
            s += tdout[(k * B + b) * OC + o];
        hbias[k * stride + o] += s;
    }
}

/* hw_k += td_k^T inp + dout^T ti_k (a Keras kernel: the transposes), each term
 * one strided batch over k accumulating straight into the H V rows. */
static void dense_tangent_backward(const fp_backend *be, real *tdinp, real *hweight, real *hbias,
                                   size_t stride, const real *tdout, const real *dout,
                                   const real *tinp, const real *inp, const real *weight,
                                   const tslice *tw, size_t B, size_t C, size_t OC, size_t K,
                                   int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C;
    long long s = (long long)stride, so = (long long)(B * OC), si = (long long)(B * C);
    if (hweight && !kernel_in_out) {
        gemm_batched(1, 0, OC, C, B, 1, tdout, OC, so, inp, C, 0, 1, hweight, C, s, K);
        if (tinp)
            gemm_batched(1, 0, OC, C, B, 1, dout, OC, 0, tinp, C, si, 1, hweight, C, s, K);
    } else if (hweight) {
        gemm_batched(1, 0, C, OC, B, 1, inp, C, 0, tdout, OC, so, 1, hweight, OC, s, K);
        if (tinp)
            gemm_batched(1, 0, C, OC, B, 1, tinp, C, si, dout, OC, 0, 1, hweight, OC, s, K);
    }
    if (hbias)
        LAUNCH(k_bias_hv, K * OC, hbias, stride, tdout, B, OC, K);
    if (!tdinp)
        return;
    GEMM(be)(0, kernel_in_out, K * B, C, OC, 1, tdout, OC, weight, ldw, 0, tdinp, C);
    if (tw->live && tw->unit) {
        size_t k0, k1;
        unit_range(tw, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tdinp, dout, k0, k1, tw->unit_at, B, C, OC,
               kernel_in_out, 1, 0);
    } else if (tw->rows) {
        gemm_batched(0, kernel_in_out, B, C, OC, 1, dout, OC, 0, tw->rows, ldw,
                     (long long)tw->stride, 1, tdinp, C, si, K);
    }
}

/* tangent.c's neuron_outer: one thread per entry of M (B x w). */
__global__ static void k_neuron_outer(real *M, const real *td, const real *dout, const real *tinp,
                                      const real *inp, size_t B, size_t C, size_t OC, size_t m0,
                                      size_t w, int kernel_in_out)
{
    size_t minor = kernel_in_out ? OC : C;
    FOR_EACH_K(b, j, B, w) {
        size_t m = m0 + j / minor, mn = j % minor;
        size_t p = kernel_in_out ? mn : m, q = kernel_in_out ? m : mn;
        M[b * w + j] = td[b * OC + p] * inp[b * C + q] + (tinp ? dout[b * OC + p] * tinp[b * C + q] : 0);
    }
}

static void neuron_outer(real *M, const real *td, const real *dout, const real *tinp,
                         const real *inp, size_t B, size_t C, size_t OC, size_t m0, size_t m1,
                         int kernel_in_out)
{
    size_t w = (m1 - m0) * (kernel_in_out ? OC : C);
    LAUNCH_K(k_neuron_outer, B, w, M, td, dout, tinp, inp, B, C, OC, m0, w, kernel_in_out);
}

/* ---- normalisation (tangent.c's, one thread per direction and group) */

__global__ static void k_trstd(real *trstd, const real *tinp, const real *xhat, const real *rstd,
                               size_t n_groups, size_t n, size_t group_stride, size_t elem_stride,
                               size_t K)
{
    size_t block = n_groups * n;
    FOR_EACH(t, K * n_groups) {
        size_t k = t / n_groups, g = t % n_groups;
        const real *ti = tinp + k * block;
        real m = 0;
        for (size_t i = 0; i < n; i++)
            m += xhat[g * group_stride + i * elem_stride] * ti[g * group_stride + i * elem_stride];
        trstd[k * n_groups + g] = -rstd[g] * rstd[g] * m / (real)n;
    }
}

static void norm_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                               const real *rstd, size_t n_groups, size_t n, size_t group_stride,
                               size_t elem_stride, size_t K)
{
    size_t block = n_groups * n;
    if (!tinp) {
        zero_reals(txhat, K * block);
        zero_reals(trstd, K * n_groups);
        return;
    }
    LAUNCH(k_norm_stats_backward, K * n_groups, txhat, tinp, xhat, rstd, n_groups, n, group_stride,
           elem_stride, K, block);
    LAUNCH(k_trstd, K * n_groups, trstd, tinp, xhat, rstd, n_groups, n, group_stride, elem_stride, K);
}

__global__ static void k_running_trstd(real *trstd, const real *rstd, const real *tvar,
                                       size_t stride, size_t C, size_t K)
{
    FOR_EACH(t, K * C) {
        size_t k = t / C, c = t % C;
        trstd[t] = tvar ? R1(-0.5) * rstd[c] * rstd[c] * rstd[c] * tvar[k * stride + c] : 0;
    }
}

__global__ static void k_running_txhat(real *txhat, const real *trstd, const real *tinp,
                                       const real *xhat, const real *rstd, const real *tmean,
                                       size_t stride, size_t B, size_t C, size_t K)
{
    FOR_EACH(ki, K * B * C) {
        size_t k = ki / (B * C), i = ki % (B * C), c = i % C;
        real tx = (tinp ? tinp[ki] : 0) - (tmean ? tmean[k * stride + c] : 0);
        txhat[ki] = tx * rstd[c] + xhat[i] * trstd[k * C + c] / rstd[c];
    }
}

static void running_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                                  const real *rstd, const real *tmean, const real *tvar,
                                  size_t stride, size_t B, size_t C, size_t K)
{
    LAUNCH(k_running_trstd, K * C, trstd, rstd, tvar, stride, C, K);
    LAUNCH(k_running_txhat, K * B * C, txhat, trstd, tinp, xhat, rstd, tmean, stride, B, C, K);
}

__global__ static void k_affine_tangent_forward(real *tout, const real *txhat, const real *xhat,
                                                const real *gamma, const real *tgamma,
                                                const real *tbeta, size_t stride, size_t B,
                                                size_t C, size_t K)
{
    FOR_EACH(ki, K * B * C) {
        size_t k = ki / (B * C), i = ki % (B * C), c = i % C;
        tout[ki] = (gamma ? gamma[c] : 1) * txhat[ki]
                   + (tgamma ? tgamma[k * stride + c] * xhat[i] : 0)
                   + (tbeta ? tbeta[k * stride + c] : 0);
    }
}

static void affine_tangent_forward(real *tout, const real *txhat, const real *xhat,
                                   const real *gamma, const real *tgamma, const real *tbeta,
                                   size_t stride, size_t B, size_t C, size_t K)
{
    LAUNCH(k_affine_tangent_forward, K * B * C, tout, txhat, xhat, gamma, tgamma, tbeta, stride, B,
           C, K);
}

__global__ static void k_affine_hv(real *hgamma, real *hbeta, size_t stride, const real *td,
                                   const real *dout, const real *xhat, const real *txhat, size_t B,
                                   size_t C, size_t K)
{
    FOR_EACH(t, K * C) {
        size_t k = t / C, c = t % C;
        real sg = 0, sb = 0;
        for (size_t b = 0; b < B; b++) {
            size_t i = b * C + c, ki = k * B * C + i;
            sg += td[ki] * xhat[i] + dout[i] * txhat[ki];
            sb += td[ki];
        }
        if (hgamma)
            hgamma[k * stride + c] += sg;
        if (hbeta)
            hbeta[k * stride + c] += sb;
    }
}

__global__ static void k_affine_td(real *td, const real *dout, const real *gamma, const real *tgamma,
                                   size_t stride, size_t B, size_t C, size_t K)
{
    FOR_EACH(ki, K * B * C) {
        size_t k = ki / (B * C), i = ki % (B * C), c = i % C;
        td[ki] = td[ki] * (gamma ? gamma[c] : 1) + (tgamma ? dout[i] * tgamma[k * stride + c] : 0);
    }
}

static void affine_tangent_backward(real *g, real *td, real *hgamma, real *hbeta, size_t stride,
                                    const real *dout, const real *xhat, const real *txhat,
                                    const real *gamma, const real *tgamma, size_t B, size_t C,
                                    size_t K)
{
    LAUNCH(k_scale_columns, B * C, g, dout, gamma, B, C);
    if (hgamma || hbeta)
        LAUNCH(k_affine_hv, K * C, hgamma, hbeta, stride, td, dout, xhat, txhat, B, C, K);
    LAUNCH(k_affine_td, K * B * C, td, dout, gamma, tgamma, stride, B, C, K);
}

__global__ static void k_norm_stats_tangent_backward(real *tdinp, const real *tg, const real *g,
                                                     const real *xhat, const real *txhat,
                                                     const real *rstd, const real *trstd,
                                                     size_t n_groups, size_t n,
                                                     size_t group_stride, size_t elem_stride,
                                                     size_t K)
{
    size_t block = n_groups * n;
    FOR_EACH(t, K * n_groups) {
        size_t k = t / n_groups, grp = t % n_groups;
        size_t at = k * block + grp * group_stride, p = grp * group_stride;
        norm_stats_tangent_backward_group(tdinp + at, tg + at, g + p, xhat + p, txhat + at,
                                          rstd[grp], trstd[k * n_groups + grp], n, elem_stride);
    }
}

static void norm_stats_tangent_backward(real *tdinp, const real *tg, const real *g,
                                        const real *xhat, const real *txhat, const real *rstd,
                                        const real *trstd, size_t n_groups, size_t n,
                                        size_t group_stride, size_t elem_stride, size_t K)
{
    LAUNCH(k_norm_stats_tangent_backward, K * n_groups, tdinp, tg, g, xhat, txhat, rstd, trstd,
           n_groups, n, group_stride, elem_stride, K);
}

__global__ static void k_running_tdinp(real *tdinp, const real *tg, const real *g, const real *rstd,
                                       const real *trstd, size_t B, size_t C, size_t K)
{
    FOR_EACH(ki, K * B * C) {
        size_t k = ki / (B * C), i = ki % (B * C), c = i % C;
        tdinp[ki] = tg[ki] * rstd[c] + g[i] * trstd[k * C + c];
    }
}

__global__ static void k_running_hv(real *hmean, real *hvar, size_t stride, const real *tg,
                                    const real *g, const real *xhat, const real *txhat,
                                    const real *rstd, const real *trstd, size_t B, size_t C,
                                    size_t K)
{
    FOR_EACH(t, K * C) {
        size_t k = t / C, c = t % C;
        real r = rstd[c], tr = trstd[k * C + c], sm = 0, sv = 0;
        for (size_t b = 0; b < B; b++) {
            size_t i = b * C + c, ki = k * B * C + i;
            sm += tg[ki] * r + g[i] * tr;
            sv += R1(0.5) * (tg[ki] * xhat[i] * r * r + g[i] * txhat[ki] * r * r
                             + 2 * g[i] * xhat[i] * r * tr);
        }
        if (hmean)
            hmean[k * stride + c] -= sm;
        if (hvar)
            hvar[k * stride + c] -= sv;
    }
}

static void running_stats_tangent_backward(real *tdinp, real *hmean, real *hvar, size_t stride,
                                           const real *tg, const real *g, const real *xhat,
                                           const real *txhat, const real *rstd,
                                           const real *trstd, size_t B, size_t C, size_t K)
{
    if (tdinp)
        LAUNCH(k_running_tdinp, K * B * C, tdinp, tg, g, rstd, trstd, B, C, K);
    if (hmean || hvar)
        LAUNCH(k_running_hv, K * C, hmean, hvar, stride, tg, g, xhat, txhat, rstd, trstd, B, C, K);
}
