/*
 * The layers, each a pair of plain functions (llm.c's matmul_forward /
 * matmul_backward): every size explicit, no hidden state. B is the batch
 * (rows), C the input features, OC the output features; all buffers row-major.
 * Backward functions ACCUMULATE parameter gradients (+=), so a parameter used
 * by several layers gets the sum over its uses; a NULL gradient pointer means
 * "not wanted" (a constant, or nothing below needs dinp).
 * Written over `real` and compiled once per precision.
 */
#include "compute_internal.h"
#include "real.h"
#include "formulas.h"

#include <string.h>

#define GEMM(be) ((be)->REAL_NAME(gemm))

/* out = inp W^T + bias, W out x in (a Keras kernel in x out: out = inp K + bias). */
static void dense_forward(const fp_backend *be, real *out, const real *inp, const real *weight,
                          const real *bias, size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (bias)
        for (size_t b = 0; b < B; b++)
            memcpy(out + b * OC, bias, OC * sizeof *out);
    GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C, weight, kernel_in_out ? OC : C,
             bias ? 1 : 0, out, OC);
}

static void dense_backward(const fp_backend *be, real *dinp, real *dweight, real *dbias,
                           const real *dout, const real *inp, const real *weight,
                           size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (dweight && !kernel_in_out)   /* dW (OC x C) += dout^T inp */
        GEMM(be)(1, 0, OC, C, B, 1, dout, OC, inp, C, 1, dweight, C);
    else if (dweight)                /* dK (C x OC) += inp^T dout */
        GEMM(be)(1, 0, C, OC, B, 1, inp, C, dout, OC, 1, dweight, OC);
    if (dbias)
        for (size_t b = 0; b < B; b++)
            for (size_t o = 0; o < OC; o++)
                dbias[o] += dout[b * OC + o];
    if (dinp)                        /* dinp (B x C) = dout W */
        GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC, weight, kernel_in_out ? OC : C,
                 0, dinp, C);
}

/* ---- normalisation: the statistics of groups of n elements. BatchNorm's
 * groups are the columns (elem_stride C), LayerNorm's the rows (elem_stride 1). */

static void norm_stats(real *xhat, real *mean, real *rstd, const real *inp, size_t n_groups,
                       size_t n, size_t group_stride, size_t elem_stride, real eps)
{
    for (size_t g = 0; g < n_groups; g++)
        norm_stats_group(xhat + g * group_stride, &mean[g], &rstd[g], inp + g * group_stride, n,
                         elem_stride, eps);
}

/* Through the statistics: dinp = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
 * dinp may be dxhat. */
static void norm_stats_backward(real *dinp, const real *dxhat, const real *xhat, const real *rstd,
                                size_t n_groups, size_t n, size_t group_stride, size_t elem_stride)
{
    for (size_t g = 0; g < n_groups; g++) {
        size_t at = g * group_stride;
        norm_stats_backward_group(dinp + at, dxhat + at, xhat + at, rstd[g], n, elem_stride);
    }
}

/* out = gamma .* xhat .+ beta per column; either may be absent (affine = false). */
static void affine_forward(real *out, const real *xhat, const real *gamma, const real *beta,
                           size_t B, size_t C)
{
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            out[b * C + c] = (gamma ? gamma[c] : 1) * xhat[b * C + c] + (beta ? beta[c] : 0);
}

static void affine_backward(real *dgamma, real *dbeta, real *dxhat, const real *dout,
                            const real *xhat, const real *gamma, size_t B, size_t C)
{
    for (size_t b = 0; b < B; b++) {
        for (size_t c = 0; c < C; c++) {
            size_t k = b * C + c;
            if (dgamma)
                dgamma[c] += dout[k] * xhat[k];
            if (dbeta)
                dbeta[c] += dout[k];
            if (dxhat)
                dxhat[k] = dout[k] * (gamma ? gamma[c] : 1);
        }
    }
}

/* stats: mean[C] then rstd[C]. Inference mode normalises with the running
 * statistics; train mode with the batch's own (and differentiates through them). */
static void batchnorm_forward(real *out, real *xhat, real *stats, const real *inp,
                              const real *gamma, const real *beta, const real *run_mean,
                              const real *run_var, size_t B, size_t C, real eps, int train)
{
    real *mean = stats, *rstd = stats + C;
    if (train) {
        norm_stats(xhat, mean, rstd, inp, C, B, 1, C, eps);
    } else {
        for (size_t c = 0; c < C; c++) {
            mean[c] = run_mean[c];
            rstd[c] = 1 / sqrt(run_var[c] + eps);
        }
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++)
                xhat[b * C + c] = (inp[b * C + c] - mean[c]) * rstd[c];
    }
    affine_forward(out, xhat, gamma, beta, B, C);
}

/* dmean, dvar: gradients of the running statistics (inference mode, --all). */
static void batchnorm_backward(real *dinp, real *dgamma, real *dbeta, real *dmean, real *dvar,
                               const real *dout, const real *xhat, const real *stats,
                               const real *gamma, size_t B, size_t C, int train)
{
    const real *rstd = stats + C;
    affine_backward(dgamma, dbeta, dinp, dout, xhat, gamma, B, C);
    if (!train && (dmean || dvar)) {
        for (size_t b = 0; b < B; b++) {
            for (size_t c = 0; c < C; c++) {
                real dxhat = dout[b * C + c] * (gamma ? gamma[c] : 1);
                if (dmean)
                    dmean[c] -= dxhat * rstd[c];
                if (dvar)
                    dvar[c] -= R1(0.5) * dxhat * xhat[b * C + c] * rstd[c] * rstd[c];
            }
        }
    }
    if (!dinp)
        return;
    if (train) {
        norm_stats_backward(dinp, dinp, xhat, rstd, C, B, 1, C);
    } else {
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++)
                dinp[b * C + c] *= rstd[c];
    }
}

/* stats: mean[B] then rstd[B]: each row normalised over its C features. */
static void layernorm_forward(real *out, real *xhat, real *stats, const real *inp,
                              const real *gamma, const real *beta, size_t B, size_t C, real eps)
{
    norm_stats(xhat, stats, stats + B, inp, B, C, C, 1, eps);
    affine_forward(out, xhat, gamma, beta, B, C);
}

static void layernorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout,
                               const real *xhat, const real *stats, const real *gamma,
                               size_t B, size_t C)
{
    affine_backward(dgamma, dbeta, dinp, dout, xhat, gamma, B, C);
    if (dinp)
        norm_stats_backward(dinp, dinp, xhat, stats + B, B, C, C, 1);
}
