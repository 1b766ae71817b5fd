/*
 * LayerNorm (Flux's LayerNorm, Keras' LayerNormalization): each sample's
 * features normalised by their own mean and variance, then scaled and
 * shifted (Flux keeps the two in a `diag` child). Its slots: scale, shift
 * (normalise.h).
 */
#include "normalise.h"

#ifndef FP_REAL_BITS
/* ---------------------------------------------------------------- the description */

static const char *const layernorm_aliases[] = { "LayerNormalization", NULL };

static int layernorm_read(layer_reader *r, const fp_node *map, const char *path, layer *l)
{
    return norm_read(r, map, path, l, 0);
}

/* xhat, then the mean and 1/std of each sample */
static uint64_t layernorm_scratch(const layer *l, const layer_plan *p, uint64_t rows)
{
    (void)l;
    return rows * p->in_elems + 2 * rows;
}

const layer_type fp_layer_layernorm = {
    .name = "LayerNorm",
    .aliases = layernorm_aliases,
    .flags = LAYER_HAS_ACTIVATION | LAYER_READS_UNIT_ROWS,
    .fields = norm_fields,
    .read = layernorm_read,
    .output_shape = norm_output_shape,
    .scratch = layernorm_scratch,
};

#else
/* ---------------------------------------------------------------- the kernels */

#ifdef FP_DEVICE_KERNELS   /* the GPU's, beside this file's */
#include "../cuda/layers/layernorm.cuh"
#else

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

#endif   /* the host's kernels */

/* ---------------------------------------------------------------- the ops */

static void layernorm_op_forward(fp_net *net, const layer *l, const layer_plan *p,
                                 const real *inp, real *pre)
{
    norm_scratch s = norm_scratch_of(net, p, NULL, 0);
    layernorm_forward(pre, s.xhat, s.stats, inp, slot_value(net, &l->slots[NORM_SCALE]),
                      slot_value(net, &l->slots[NORM_SHIFT]), net->rows, p->in_elems,
                      (real)((const norm_settings *)l->settings)->eps);
}

static void layernorm_op_backward(fp_net *net, const layer *l, const layer_plan *p,
                                  const real *inp, const real *dpre, real *dinp)
{
    (void)inp;
    norm_scratch s = norm_scratch_of(net, p, NULL, 0);
    layernorm_backward(dinp, slot_grad(net, &l->slots[NORM_SCALE]),
                       slot_grad(net, &l->slots[NORM_SHIFT]), dpre, s.xhat, s.stats,
                       slot_value(net, &l->slots[NORM_SCALE]), net->rows, p->in_elems);
}

/* The way back reads the tangents of xhat and the statistics. */
static void layernorm_op_tangent_zero(const tangent_step *step)
{
    norm_scratch s = norm_scratch_of(step->net, step->p, step->tangents, step->K);
    zero_reals(s.txhat, step->K * step->rows * step->p->in_elems);
    zero_reals(s.tstats, step->K * step->rows);
}

static void layernorm_op_tangent_forward(const tangent_step *step)
{
    fp_net *net = step->net;
    const layer *l = step->l;
    norm_scratch s = norm_scratch_of(net, step->p, step->tangents, step->K);
    size_t B = step->rows, C = step->p->in_elems, K = step->K;
    norm_stats_tangent(s.txhat, s.tstats, step->tinp, s.xhat, s.stats + B, B, C, C, 1, K);
    affine_tangent_forward(step->tpre, s.txhat, s.xhat, slot_value(net, &l->slots[NORM_SCALE]),
                           slot_dirs(net, step->dirs, &l->slots[NORM_SCALE]).rows,
                           slot_dirs(net, step->dirs, &l->slots[NORM_SHIFT]).rows, net->n_params,
                           B, C, K);
}

static void layernorm_op_tangent_backward(const tangent_step *step)
{
    fp_net *net = step->net;
    const layer *l = step->l;
    norm_scratch s = norm_scratch_of(net, step->p, step->tangents, step->K);
    size_t B = step->rows, C = step->p->in_elems, K = step->K;
    const real *gamma = slot_value(net, &l->slots[NORM_SCALE]);
    real *dxhat = step->spare;   /* dL/dxhat */
    affine_tangent_backward(dxhat, step->tdpre, step_hv(step, &l->slots[NORM_SCALE]),
                            step_hv(step, &l->slots[NORM_SHIFT]), net->n_params, step->dpre,
                            s.xhat, s.txhat, gamma,
                            slot_dirs(net, step->dirs, &l->slots[NORM_SCALE]).rows, B, C, K);
    if (step->tdinp)
        norm_stats_tangent_backward(step->tdinp, step->tdpre, dxhat, s.xhat, s.txhat, s.stats + B,
                                    s.tstats, B, C, C, 1, K);
    layernorm_backward(step->dinp, NULL, NULL, step->dpre, s.xhat, s.stats, gamma, B, C);
}

static const layer_ops layernorm_ops = {
    .forward = layernorm_op_forward,
    .backward = layernorm_op_backward,
    .tangent_zero = layernorm_op_tangent_zero,
    .tangent_forward = layernorm_op_tangent_forward,
    .tangent_backward = layernorm_op_tangent_backward,
    .neuron_rows_end = NULL,
    .neuron_rows = NULL,
};

#endif
