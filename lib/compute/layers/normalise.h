/*
 * What BatchNorm (batchnorm.c) and LayerNorm (layernorm.c) share: an affine
 * map (scale gamma, shift beta, either optional) of x normalised by the
 * statistics of groups of n elements. BatchNorm's groups are the columns
 * (features over the batch: elem_stride C), LayerNorm's the rows (a sample's
 * features: elem_stride 1). Their scratch: xhat (rows x C), then the groups'
 * mean and 1/std.
 *
 * Like a kind's file, two halves: how they are read (the description), and
 * the host's kernels (the GPU's: cuda/kernels.cuh).
 */
#ifndef FP_LAYERS_NORMALISE_H
#define FP_LAYERS_NORMALISE_H

#include "../compute_internal.h"   /* (layer.h: what a kind is) */
#include "vocabulary.h"

enum { NORM_SCALE, NORM_SHIFT, NORM_MEAN, NORM_VAR };   /* their slots (LayerNorm: the first two) */

typedef struct norm_settings {
    double eps;
    uint64_t n;            /* the features it normalises; 0: its input's, whatever they are */
} norm_settings;

#ifndef FP_REAL_BITS
/* ---------------------------------------------------------------- the description */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys each tool uses for the same array or setting (the running
 * statistics': vocabulary.h, as the trainable rule reads them too). */
static const char *const norm_scale_keys[] = { "gamma", "γ", "scale", "weight", NULL };
static const char *const norm_shift_keys[] = { "beta", "β", "bias", NULL };
static const char *const norm_eps_keys[] = { "eps", "ϵ", "ε", "epsilon", NULL };
static const char *const norm_diag_keys[] = { "diag", NULL };
static const char *const *const norm_fields[] = { norm_scale_keys, norm_shift_keys,
                                                  fp_running_mean_keys, fp_running_var_keys,
                                                  norm_eps_keys, layer_activation_keys,
                                                  norm_diag_keys, NULL };

/* The optional array under keys into slot s; Flux's LayerNorm keeps its scale
 * and shift in a `diag` (Scale) child, so look there as well (diag_key: what
 * to call it there). *n: see layer_take_field. */
static int norm_take(layer_reader *r, const fp_node *map, const char *path,
                     const char *const *keys, const char *diag_key, uint64_t *n, slot *s)
{
    const char *key;
    const fp_node *node = layer_field(map, keys, &key);
    const fp_node *diag = fp_map_get(map, "diag");
    if (!node && diag_key && diag && diag->kind == FP_MAP && (node = layer_field(diag, keys, &key)))
        key = diag_key;
    return node ? layer_take_field(r, node, path, key, n, s) : 0;
}

/* The scale, the shift and eps; the statistics are BatchNorm's (with_stats). */
static int norm_read(layer_reader *r, const fp_node *map, const char *path, layer *l,
                     int with_stats)
{
    norm_settings *ns = layer_settings(r, l, sizeof *ns);
    if (!ns)
        return -1;
    /* The width: from any of the arrays, else the layer keeps its input's width. */
    uint64_t n = 0;
    int rc = norm_take(r, map, path, norm_scale_keys, "diag/scale", &n, &l->slots[NORM_SCALE]);
    if (rc == 0)
        rc = norm_take(r, map, path, norm_shift_keys, "diag/bias", &n, &l->slots[NORM_SHIFT]);
    if (rc == 0 && with_stats) {
        rc = norm_take(r, map, path, fp_running_mean_keys, NULL, &n, &l->slots[NORM_MEAN]);
        if (rc == 0)
            rc = norm_take(r, map, path, fp_running_var_keys, NULL, &n, &l->slots[NORM_VAR]);
        if (rc == 0 && (l->slots[NORM_MEAN].home == SLOT_ABSENT
                        || l->slots[NORM_VAR].home == SLOT_ABSENT))
            return layer_fail(r, path, "BatchNorm in inference mode needs its running mean and "
                                       "var (or use --train-mode)");
    }
    if (rc < 0)
        return -1;
    ns->eps = 1e-5;
    const char *key;
    const fp_node *eps = layer_field(map, norm_eps_keys, &key);
    fp_error unread;   /* (the message below says what is wrong) */
    if (eps && eps->kind == FP_NUMBER)
        ns->eps = eps->number;
    else if (eps && !(eps->kind == FP_ARRAY && eps->n_elems == 1
                      && fp_array_read(eps, &ns->eps, FP_F64, &unread) == 0))
        return layer_fail(r, path, "%s should be a number", key);
    if (!n)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "normalises %llu features", (unsigned long long)n);
    ns->n = n;
    return layer_fix_width(r, path, what, n, n);
}

/* A sample of the features it normalises (any, without arrays). */
static int norm_output_shape(const layer *l, const sample_shape *in, sample_shape *out,
                             char *why, size_t cap)
{
    const norm_settings *ns = l->settings;
    if (in->rank != 1 || (ns->n && in->dim[0] != ns->n)) {
        char shape[96];
        shape_text(shape, sizeof shape, in);
        if (ns->n)
            snprintf(why, cap, "normalises vectors of %llu features, not samples of %s",
                     (unsigned long long)ns->n, shape);
        else
            snprintf(why, cap, "normalises vectors, not samples of %s", shape);
        return -1;
    }
    *out = *in;
    return 0;
}

#else
/* ---------------------------------------------------------------- the host's kernels */

#include "../layer_ops.h"

#ifdef FP_DEVICE_KERNELS   /* the GPU's, beside this file's */
#include "../cuda/layers/normalise.cuh"
#else

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

/* The tangent pass. For statistics of the data, xhat' = rstd (x' - mean(x') -
 * xhat mean(xhat x')), the very formula of norm_stats_backward, and rstd' =
 * -rstd^2 mean(xhat x'). trstd: K x n_groups. */
static void norm_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                               const real *rstd, size_t n_groups, size_t n, size_t group_stride,
                               size_t elem_stride, size_t K)
{
    size_t block = n_groups * n;
    if (!tinp) {
        memset(txhat, 0, K * block * sizeof *txhat);
        memset(trstd, 0, K * n_groups * sizeof *trstd);
        return;
    }
    for (size_t k = 0; k < K; k++) {
        const real *ti = tinp + k * block;
        norm_stats_backward(txhat + k * block, ti, xhat, rstd, n_groups, n, group_stride,
                            elem_stride);
        for (size_t g = 0; g < n_groups; g++) {
            real m = 0;
            for (size_t i = 0; i < n; i++)
                m += xhat[g * group_stride + i * elem_stride] * ti[g * group_stride + i * elem_stride];
            trstd[k * n_groups + g] = -rstd[g] * rstd[g] * m / (real)n;
        }
    }
}

/* tout = gamma' xhat + gamma xhat' + beta' per column. */
static void affine_tangent_forward(real *tout, const real *txhat, const real *xhat,
                                   const real *gamma, const real *tgamma, const real *tbeta,
                                   size_t stride, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++)
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++) {
                size_t i = b * C + c, ki = k * B * C + i;
                tout[ki] = (gamma ? gamma[c] : 1) * txhat[ki]
                           + (tgamma ? tgamma[k * stride + c] * xhat[i] : 0)
                           + (tbeta ? tbeta[k * stride + c] : 0);
            }
}

/* The affine part backwards: dxhat = dout gamma (primal, into dxhat), td becomes
 * the tangent of dxhat (in place), and the parameters' H V rows accumulate. */
static void affine_tangent_backward(real *dxhat, real *td, real *hgamma, real *hbeta, size_t stride,
                                    const real *dout, const real *xhat, const real *txhat,
                                    const real *gamma, const real *tgamma, size_t B, size_t C,
                                    size_t K)
{
    for (size_t i = 0; i < B * C; i++)
        dxhat[i] = dout[i] * (gamma ? gamma[i % C] : 1);
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < B * C; i++) {
            size_t c = i % C, ki = k * B * C + i;
            if (hgamma)
                hgamma[k * stride + c] += td[ki] * xhat[i] + dout[i] * txhat[ki];
            if (hbeta)
                hbeta[k * stride + c] += td[ki];
            td[ki] = td[ki] * (gamma ? gamma[c] : 1) + (tgamma ? dout[i] * tgamma[k * stride + c] : 0);
        }
}

/* The tangent of norm_stats_backward's dinp, each group and direction by
 * formulas.h's norm_stats_tangent_backward_group. */
static void norm_stats_tangent_backward(real *tdinp, const real *tdxhat, const real *dxhat,
                                        const real *xhat, const real *txhat, const real *rstd,
                                        const real *trstd, size_t n_groups, size_t n,
                                        size_t group_stride, size_t elem_stride, size_t K)
{
    size_t block = n_groups * n;
    for (size_t k = 0; k < K; k++)
        for (size_t grp = 0; grp < n_groups; grp++) {
            size_t at = k * block + grp * group_stride, p = grp * group_stride;
            norm_stats_tangent_backward_group(tdinp + at, tdxhat + at, dxhat + p, xhat + p,
                                              txhat + at, rstd[grp], trstd[k * n_groups + grp],
                                              n, elem_stride);
        }
}

#endif   /* the host's kernels */

/* The scratch of a norm layer's step: xhat, its tangents, the statistics
 * (mean, then 1/std, n_groups each) and their tangents. */
typedef struct norm_scratch {
    real *xhat, *stats;
    real *txhat, *tstats;
} norm_scratch;

static inline norm_scratch norm_scratch_of(const fp_net *net, const layer_plan *p, real *tangents,
                                           size_t K)
{
    uint64_t xhat_at = p->scratch_at, stats_at = p->scratch_at + net->rows * p->in_elems;
    norm_scratch s = { WORK(net, xhat_at), WORK(net, stats_at), NULL, NULL };
    if (tangents) {
        s.txhat = tangents + K * xhat_at;
        s.tstats = tangents + K * stats_at;
    }
    return s;
}

#endif
#endif
