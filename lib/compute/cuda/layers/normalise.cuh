/*
 * What BatchNorm and LayerNorm share, on the GPU: the kernels of
 * layers/normalise.h, the same names, signatures and meaning, over device
 * pointers: a group's statistics (formulas.h's, the CPU's own) one thread per
 * group (and direction), elementwise work one thread per element. Included by
 * layers/normalise.h in the GPU's builds (FP_DEVICE_KERNELS), after
 * kernels.cuh.
 */

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

static void affine_tangent_backward(real *dxhat, real *td, real *hgamma, real *hbeta, size_t stride,
                                    const real *dout, const real *xhat, const real *txhat,
                                    const real *gamma, const real *tgamma, size_t B, size_t C,
                                    size_t K)
{
    LAUNCH(k_scale_columns, B * C, dxhat, dout, gamma, B, C);
    if (hgamma || hbeta)
        LAUNCH(k_affine_hv, K * C, hgamma, hbeta, stride, td, dout, xhat, txhat, B, C, K);
    LAUNCH(k_affine_td, K * B * C, td, dout, gamma, tgamma, stride, B, C, K);
}

__global__ static void k_norm_stats_tangent_backward(real *tdinp, const real *tdxhat, const real *dxhat,
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
        norm_stats_tangent_backward_group(tdinp + at, tdxhat + at, dxhat + p, xhat + p, txhat + at,
                                          rstd[grp], trstd[k * n_groups + grp], n, elem_stride);
    }
}

static void norm_stats_tangent_backward(real *tdinp, const real *tdxhat, const real *dxhat,
                                        const real *xhat, const real *txhat, const real *rstd,
                                        const real *trstd, size_t n_groups, size_t n,
                                        size_t group_stride, size_t elem_stride, size_t K)
{
    LAUNCH(k_norm_stats_tangent_backward, K * n_groups, tdinp, tdxhat, dxhat, xhat, txhat, rstd, trstd,
           n_groups, n, group_stride, elem_stride, K);
}
