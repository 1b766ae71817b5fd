/*
 * BatchNorm on the GPU: the kernels of layers/batchnorm.c, the same names,
 * signatures and meaning, over device pointers (the running statistics'
 * parts; the rest is normalise.cuh's). Included by layers/batchnorm.c in the
 * GPU's builds (FP_DEVICE_KERNELS).
 */

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
__global__ static void k_running_tdinp(real *tdinp, const real *tdxhat, const real *dxhat, const real *rstd,
                                       const real *trstd, size_t B, size_t C, size_t K)
{
    FOR_EACH(ki, K * B * C) {
        size_t k = ki / (B * C), i = ki % (B * C), c = i % C;
        tdinp[ki] = tdxhat[ki] * rstd[c] + dxhat[i] * trstd[k * C + c];
    }
}

__global__ static void k_running_hv(real *hmean, real *hvar, size_t stride, const real *tdxhat,
                                    const real *dxhat, const real *xhat, const real *txhat,
                                    const real *rstd, const real *trstd, size_t B, size_t C,
                                    size_t K)
{
    FOR_EACH(t, K * C) {
        size_t k = t / C, c = t % C;
        real r = rstd[c], tr = trstd[k * C + c], sm = 0, sv = 0;
        for (size_t b = 0; b < B; b++) {
            size_t i = b * C + c, ki = k * B * C + i;
            sm += tdxhat[ki] * r + dxhat[i] * tr;
            sv += R1(0.5) * (tdxhat[ki] * xhat[i] * r * r + dxhat[i] * txhat[ki] * r * r
                             + 2 * dxhat[i] * xhat[i] * r * tr);
        }
        if (hmean)
            hmean[k * stride + c] -= sm;
        if (hvar)
            hvar[k * stride + c] -= sv;
    }
}

static void running_stats_tangent_backward(real *tdinp, real *hmean, real *hvar, size_t stride,
                                           const real *tdxhat, const real *dxhat, const real *xhat,
                                           const real *txhat, const real *rstd,
                                           const real *trstd, size_t B, size_t C, size_t K)
{
    if (tdinp)
        LAUNCH(k_running_tdinp, K * B * C, tdinp, tdxhat, dxhat, rstd, trstd, B, C, K);
    if (hmean || hvar)
        LAUNCH(k_running_hv, K * C, hmean, hvar, stride, tdxhat, dxhat, xhat, txhat, rstd, trstd, B, C, K);
}
