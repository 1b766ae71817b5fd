/*
 * LayerNorm on the GPU: the kernels of layers/layernorm.c, the same names,
 * signatures and meaning, over device pointers (normalise.cuh's groups, one
 * per sample). Included by layers/layernorm.c in the GPU's builds
 * (FP_DEVICE_KERNELS).
 */

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
