/*
 * BatchNorm (Flux's BatchNorm, Keras' BatchNormalization, PyTorch's
 * BatchNorm1d): each feature normalised over the batch, then scaled and
 * shifted. In inference mode (the default) with its running mean and
 * variance, which may be parameters themselves (--all); in train mode
 * (--train-mode) with the batch's own statistics, differentiated through.
 * Its slots: scale, shift, running mean, running variance (normalise.h).
 */
#include "normalise.h"

#ifndef FP_REAL_BITS
/* ---------------------------------------------------------------- the description */

static const char *const batchnorm_aliases[] = { "BatchNormalization", "BatchNorm1d", NULL };

static int batchnorm_read(layer_reader *r, const fp_node *map, const char *path, layer *l)
{
    return norm_read(r, map, path, l, !layer_train_mode(r));
}

/* xhat, then the mean and 1/std of each feature */
static uint64_t batchnorm_scratch(const layer *l, const layer_plan *p, uint64_t rows)
{
    (void)l;
    return rows * p->in_elems + 2 * p->in_elems;
}

const layer_type fp_layer_batchnorm = {
    .name = "BatchNorm",
    .aliases = batchnorm_aliases,
    .flags = LAYER_HAS_ACTIVATION | LAYER_READS_UNIT_ROWS,
    .fields = norm_fields,
    .read = batchnorm_read,
    .output_shape = norm_output_shape,
    .scratch = batchnorm_scratch,
};

#else
/* ---------------------------------------------------------------- the kernels */

#ifdef FP_DEVICE_KERNELS   /* the GPU's, beside this file's */
#include "../cuda/layers/batchnorm.cuh"
#else

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

/* Inference mode's tangent: xhat = (x - mean) rstd, rstd = (var + eps)^-1/2,
 * where mean and var may be parameters (--all). trstd: K x C. */
static void running_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                                  const real *rstd, const real *tmean, const real *tvar,
                                  size_t stride, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++) {
        real *tr = trstd + k * C;
        for (size_t c = 0; c < C; c++)
            tr[c] = tvar ? R1(-0.5) * rstd[c] * rstd[c] * rstd[c] * tvar[k * stride + c] : 0;
        for (size_t b = 0; b < B; b++) {
            for (size_t c = 0; c < C; c++) {
                size_t i = b * C + c, ki = k * B * C + i;
                real tx = (tinp ? tinp[ki] : 0) - (tmean ? tmean[k * stride + c] : 0);
                txhat[ki] = tx * rstd[c] + xhat[i] * tr[c] / rstd[c];
            }
        }
    }
}

/* Inference mode backwards: dinp = dxhat rstd, dmean = -Σ dxhat rstd,
 * dvar = -1/2 Σ dxhat xhat rstd^2; their tangents. tdinp may be NULL. */
static void running_stats_tangent_backward(real *tdinp, real *hmean, real *hvar, size_t stride,
                                           const real *tdxhat, const real *dxhat, const real *xhat,
                                           const real *txhat, const real *rstd,
                                           const real *trstd, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < B * C; i++) {
            size_t c = i % C, ki = k * B * C + i;
            real r = rstd[c], tr = trstd[k * C + c];
            real t = tdxhat[ki] * r + dxhat[i] * tr;
            if (tdinp)
                tdinp[ki] = t;
            if (hmean)
                hmean[k * stride + c] -= t;
            if (hvar)
                hvar[k * stride + c] -= R1(0.5) * (tdxhat[ki] * xhat[i] * r * r
                                                   + dxhat[i] * txhat[ki] * r * r
                                                   + 2 * dxhat[i] * xhat[i] * r * tr);
        }
}

#endif   /* the host's kernels */

/* ---------------------------------------------------------------- the ops */

static void batchnorm_op_forward(fp_net *net, const layer *l, const layer_plan *p,
                                 const real *inp, real *pre)
{
    norm_scratch s = norm_scratch_of(net, p, NULL, 0);
    batchnorm_forward(pre, s.xhat, s.stats, inp, slot_value(net, &l->slots[NORM_SCALE]),
                      slot_value(net, &l->slots[NORM_SHIFT]), slot_value(net, &l->slots[NORM_MEAN]),
                      slot_value(net, &l->slots[NORM_VAR]), net->rows, p->in_elems,
                      (real)((const norm_settings *)l->settings)->eps, net->train_mode);
}

static void batchnorm_op_backward(fp_net *net, const layer *l, const layer_plan *p,
                                  const real *inp, const real *dpre, real *dinp)
{
    (void)inp;
    norm_scratch s = norm_scratch_of(net, p, NULL, 0);
    batchnorm_backward(dinp, slot_grad(net, &l->slots[NORM_SCALE]),
                       slot_grad(net, &l->slots[NORM_SHIFT]), slot_grad(net, &l->slots[NORM_MEAN]),
                       slot_grad(net, &l->slots[NORM_VAR]), dpre, s.xhat, s.stats,
                       slot_value(net, &l->slots[NORM_SCALE]), net->rows, p->in_elems,
                       net->train_mode);
}

/* The way back reads the tangents of xhat and the statistics. */
static void batchnorm_op_tangent_zero(const tangent_step *step)
{
    norm_scratch s = norm_scratch_of(step->net, step->p, step->tangents, step->K);
    size_t C = step->p->in_elems;
    zero_reals(s.txhat, step->K * step->rows * C);
    zero_reals(s.tstats, step->K * C);
}

static void batchnorm_op_tangent_forward(const tangent_step *step)
{
    fp_net *net = step->net;
    const layer *l = step->l;
    norm_scratch s = norm_scratch_of(net, step->p, step->tangents, step->K);
    size_t B = step->rows, C = step->p->in_elems, K = step->K;
    if (net->train_mode)
        norm_stats_tangent(s.txhat, s.tstats, step->tinp, s.xhat, s.stats + C, C, B, 1, C, K);
    else
        running_stats_tangent(s.txhat, s.tstats, step->tinp, s.xhat, s.stats + C,
                              slot_dirs(net, step->dirs, &l->slots[NORM_MEAN]).rows,
                              slot_dirs(net, step->dirs, &l->slots[NORM_VAR]).rows,
                              net->n_params, B, C, K);
    affine_tangent_forward(step->tpre, s.txhat, s.xhat, slot_value(net, &l->slots[NORM_SCALE]),
                           slot_dirs(net, step->dirs, &l->slots[NORM_SCALE]).rows,
                           slot_dirs(net, step->dirs, &l->slots[NORM_SHIFT]).rows, net->n_params,
                           B, C, K);
}

static void batchnorm_op_tangent_backward(const tangent_step *step)
{
    fp_net *net = step->net;
    const layer *l = step->l;
    norm_scratch s = norm_scratch_of(net, step->p, step->tangents, step->K);
    size_t B = step->rows, C = step->p->in_elems, K = step->K, n = net->n_params;
    const real *gamma = slot_value(net, &l->slots[NORM_SCALE]);
    real *dxhat = step->spare;   /* dL/dxhat */
    affine_tangent_backward(dxhat, step->tdpre, step_hv(step, &l->slots[NORM_SCALE]),
                            step_hv(step, &l->slots[NORM_SHIFT]), n, step->dpre, s.xhat, s.txhat,
                            gamma, slot_dirs(net, step->dirs, &l->slots[NORM_SCALE]).rows, B, C, K);
    if (net->train_mode && step->tdinp)
        norm_stats_tangent_backward(step->tdinp, step->tdpre, dxhat, s.xhat, s.txhat, s.stats + C,
                                    s.tstats, C, B, 1, C, K);
    else if (!net->train_mode)
        running_stats_tangent_backward(step->tdinp, step_hv(step, &l->slots[NORM_MEAN]),
                                       step_hv(step, &l->slots[NORM_VAR]), n, step->tdpre, dxhat,
                                       s.xhat, s.txhat, s.stats + C, s.tstats, B, C, K);
    batchnorm_backward(step->dinp, NULL, NULL, NULL, NULL, step->dpre, s.xhat, s.stats, gamma, B,
                       C, net->train_mode);
}

static const layer_ops batchnorm_ops = {
    .forward = batchnorm_op_forward,
    .backward = batchnorm_op_backward,
    .tangent_zero = batchnorm_op_tangent_zero,
    .tangent_forward = batchnorm_op_tangent_forward,
    .tangent_backward = batchnorm_op_tangent_backward,
    .neuron_rows_end = NULL,
    .neuron_rows = NULL,
};

#endif
