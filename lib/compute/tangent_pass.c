/*
 * H V for K directions in one pass (Pearlmutter's R-operator): the primal
 * forward, the tangent forward, the loss's second derivative, then the backward
 * pass and its tangent side by side, layer by layer. The tangent of the
 * parameter gradients is H V. Written over `real` and compiled once per
 * precision, after tangent.c and passes.c; the entry goes into net_ops.
 */
#include "compute_internal.h"
#include "real.h"

#include <string.h>

/* Direction k's (or H V row k's) slice for a parameter: rows + k*n + offset;
 * NULL for constants, whose tangent is zero. */
static real *slot_rows(slot s, const void *rows)
{
    return s.home == SLOT_PARAM ? (real *)rows + s.offset : NULL;
}

static int layer_has_param(const layer *l)
{
    return l->weight.home == SLOT_PARAM || l->bias.home == SLOT_PARAM
           || l->mean.home == SLOT_PARAM || l->var.home == SLOT_PARAM;
}

/* A layer whose output depends on the parameters (else its tangents are zero). */
static int layer_live(const layer *l) { return l->grad_below || layer_has_param(l); }

/* The tangent of layer i's input: NULL (zero) when nothing below has parameters. */
static real *tangent_input(const fp_net *net, real *tw, size_t K, size_t i)
{
    return net->layers[i].grad_below ? tw + K * net->plan[i - 1].out_at : NULL;
}

static void tangent_forward(fp_net *net, const real *x, const real *V, size_t K, real *tw)
{
    size_t B = net->rows, n = net->n_params;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        if (!layer_live(l))
            continue;
        const real *inp = layer_input(net, x, i), *tin = tangent_input(net, tw, K, i);
        real *tpre = tw + K * p->pre_at, *pre = WORK(net, p->pre_at);
        real *txhat = tw + K * p->norm_at, *xhat = WORK(net, p->norm_at);
        real *trstd = tw + K * p->stats_at, *stats = WORK(net, p->stats_at);
        size_t C = p->in;
        switch (l->kind) {
        case LAYER_DENSE:
            dense_tangent_forward(net->backend, tpre, tin, inp, slot_value(net, l->weight),
                                  slot_rows(l->weight, V), slot_rows(l->bias, V), n, B, p->in,
                                  p->out, K, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            if (net->train_mode)
                norm_stats_tangent(txhat, trstd, tin, xhat, stats + C, C, B, 1, C, K);
            else
                running_stats_tangent(txhat, trstd, tin, xhat, stats + C, slot_rows(l->mean, V),
                                      slot_rows(l->var, V), n, B, C, K);
            affine_tangent_forward(tpre, txhat, xhat, slot_value(net, l->weight),
                                   slot_rows(l->weight, V), slot_rows(l->bias, V), n, B, C, K);
            break;
        case LAYER_LAYERNORM:
            norm_stats_tangent(txhat, trstd, tin, xhat, stats + B, B, C, C, 1, K);
            affine_tangent_forward(tpre, txhat, xhat, slot_value(net, l->weight),
                                   slot_rows(l->weight, V), slot_rows(l->bias, V), n, B, C, K);
            break;
        case LAYER_ACTIVATION:
            tpre = (real *)tin;
            pre = (real *)inp;
            break;
        }
        act_tangent_forward(l->act, tw + K * p->out_at, tpre, pre, WORK(net, p->out_at), B,
                            p->out, K);
    }
}

/* The backward pass (no parameter gradients) and its tangent, into HV. */
static void tangent_backward(fp_net *net, const real *x, const real *V, size_t K, real *HV,
                             real *tw)
{
    size_t B = net->rows, n = net->n_params;
    real *d = WORK(net, net->delta_at[0]), *d_below = WORK(net, net->delta_at[1]);
    real *td = tw + K * net->delta_at[0], *td_below = tw + K * net->delta_at[1];
    real *g = tw + K * net->target_at;   /* scratch: the norm layers' dL/dxhat */
    for (size_t i = net->n_layers; i-- > 0;) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        if (!layer_live(l))
            break;
        const real *inp = layer_input(net, x, i), *tin = tangent_input(net, tw, K, i);
        const real *pre = l->kind == LAYER_ACTIVATION ? inp : WORK(net, p->pre_at);
        const real *tpre = l->kind == LAYER_ACTIVATION ? tin : tw + K * p->pre_at;
        const real *out = WORK(net, p->out_at), *tout = tpre ? tw + K * p->out_at : NULL;
        act_tangent_backward(l->act, td, tpre, tout, d, pre, out, B, p->out, K);
        act_backward(l->act, d, d, pre, out, B, p->out);
        real *dinp = l->grad_below ? d_below : NULL, *tdinp = l->grad_below ? td_below : NULL;
        const real *xhat = WORK(net, p->norm_at), *txhat = tw + K * p->norm_at;
        const real *stats = WORK(net, p->stats_at), *trstd = tw + K * p->stats_at;
        const real *gamma = slot_value(net, l->weight);
        size_t C = p->in;
        switch (l->kind) {
        case LAYER_DENSE:
            dense_tangent_backward(net->backend, tdinp, slot_rows(l->weight, HV),
                                   slot_rows(l->bias, HV), n, td, d, tin, inp,
                                   slot_value(net, l->weight), slot_rows(l->weight, V), B, p->in,
                                   p->out, K, l->kernel_in_out);
            dense_backward(net->backend, dinp, NULL, NULL, d, inp, slot_value(net, l->weight), B,
                           p->in, p->out, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            affine_tangent_backward(g, td, slot_rows(l->weight, HV), slot_rows(l->bias, HV), n, d,
                                    xhat, txhat, gamma, slot_rows(l->weight, V), B, C, K);
            if (net->train_mode && tdinp)
                norm_stats_tangent_backward(tdinp, td, g, xhat, txhat, stats + C, trstd, C, B, 1,
                                            C, K);
            else if (!net->train_mode)
                running_stats_tangent_backward(tdinp, slot_rows(l->mean, HV), slot_rows(l->var, HV),
                                               n, td, g, xhat, txhat, stats + C, trstd, B, C, K);
            batchnorm_backward(dinp, NULL, NULL, NULL, NULL, d, xhat, stats, gamma, B, C,
                               net->train_mode);
            break;
        case LAYER_LAYERNORM:
            affine_tangent_backward(g, td, slot_rows(l->weight, HV), slot_rows(l->bias, HV), n, d,
                                    xhat, txhat, gamma, slot_rows(l->weight, V), B, C, K);
            if (tdinp)
                norm_stats_tangent_backward(tdinp, td, g, xhat, txhat, stats + B, trstd, B, C, C,
                                            1, K);
            layernorm_backward(dinp, NULL, NULL, d, xhat, stats, gamma, B, C);
            break;
        case LAYER_ACTIVATION:
            if (!l->grad_below)
                return;
            continue;   /* d and td already hold the input's */
        }
        if (!dinp)
            break;
        real *swap = d;
        d = d_below;
        d_below = swap;
        swap = td;
        td = td_below;
        td_below = swap;
    }
}

/* HV (K x n) = H V for the batch net.c prepared; tw: K * work_elems elements. */
static void net_hvp(fp_net *net, const void *x, fp_loss loss, const void *V, size_t K, void *HV,
                    void *tw)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    net_forward(net, x);
    tangent_forward(net, x, V, K, tw);
    net_loss(net, loss, 1);
    int live = layer_live(&net->layers[net->n_layers - 1]);
    loss_tangent(loss, (real *)tw + K * net->delta_at[0],
                 live ? (real *)tw + K * last->out_at : NULL, WORK(net, last->out_at), y,
                 net->rows, last->out, K);
    memset(HV, 0, K * net->n_params * sizeof(real));
    tangent_backward(net, x, V, K, HV, tw);
}

const net_tangent_ops REAL_NAME(fp_net_tangent_ops) = {
    .hvp = net_hvp,
};
