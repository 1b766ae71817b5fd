/*
 * H V for K directions in one pass (Pearlmutter's R-operator): the primal
 * forward, the tangent forward, the loss's second derivative, then the backward
 * pass and its tangent side by side, layer by layer. The tangent of the
 * parameter gradients is H V. Written over `real` and compiled once per
 * precision, after tangent.c and passes.c; the entry goes into net_ops.
 *
 * What is known of the directions (tangent_dirs) trims the work: layers below
 * the lowest one whose parameters the directions touch have zero tangents, so
 * the tangent forward starts there; layers whose H V columns are all below
 * col_lo (rows of H whose left part comes from symmetry) are not visited on
 * the way back; unit directions turn X dW^T into column copies.
 */
#include "compute_internal.h"
#include "real.h"


/* The elements of a layer's parameter slot (every slot of a norm layer is per feature). */
static uint64_t slot_size(const layer *l, const layer_plan *p, const slot *s)
{
    if (l->kind == LAYER_DENSE)
        return s == &l->weight ? p->in * p->out : p->out;
    return p->in;
}

/* A parameter's directions: not live when they are zero there. */
static tslice slot_dirs(const fp_net *net, const tangent_dirs *dd, const layer *l, size_t i,
                        const slot *s)
{
    tslice t = { 0, NULL, 0, 0, 0, 0 };
    uint64_t size = slot_size(l, &net->plan[i], s);
    if (s->home != SLOT_PARAM || s->offset >= dd->hi || s->offset + size <= dd->lo)
        return t;
    t.live = 1;
    t.rows = dd->V ? (const real *)dd->V + s->offset : NULL;
    t.stride = net->n_params;
    t.unit = dd->unit;
    t.unit_at = (int64_t)dd->lo - (int64_t)s->offset;
    t.size = size;
    return t;
}

/* Whether a parameter's H V columns are wanted (not a constant, not all below col_lo). */
static int slot_wanted(const fp_net *net, const tangent_dirs *dd, const layer *l, size_t i,
                       const slot *s)
{
    return s->home == SLOT_PARAM && s->offset + slot_size(l, &net->plan[i], s) > dd->col_lo;
}

/* Direction k's H V slice for a parameter (+ k * n_params), or NULL when not wanted. */
static real *slot_hv(const fp_net *net, const tangent_dirs *dd, const layer *l, size_t i,
                     const slot *s, void *HV)
{
    return slot_wanted(net, dd, l, i, s) ? (real *)HV + s->offset : NULL;
}

/* The lowest layer whose parameters the directions touch (the tangents below
 * it are zero), and the lowest whose H V columns are wanted; n_layers if none. */
static void trim(const fp_net *net, const tangent_dirs *dd, size_t *first_live,
                 size_t *first_need)
{
    *first_live = *first_need = net->n_layers;
    for (size_t i = net->n_layers; i-- > 0;) {
        const layer *l = &net->layers[i];
        const slot *slots[4] = { &l->weight, &l->bias, &l->mean, &l->var };
        for (int s = 0; s < 4; s++) {
            if (slots[s]->home != SLOT_PARAM)
                continue;
            if (slot_dirs(net, dd, l, i, slots[s]).live)
                *first_live = i;
            if (slot_wanted(net, dd, l, i, slots[s]))
                *first_need = i;
        }
    }
}

static void tangent_forward(fp_net *net, const real *x, const tangent_dirs *dd, size_t first_live,
                            size_t first_need, real *tw)
{
    size_t B = net->rows, K = dd->k;
    for (size_t i = first_need < first_live ? first_need : first_live; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        real *txhat = tw + K * p->norm_at, *trstd = tw + K * p->stats_at;
        size_t C = p->in;
        if (i < first_live) {
            /* zero tangents; the way back reads a norm layer's */
            if (l->kind == LAYER_BATCHNORM || l->kind == LAYER_LAYERNORM) {
                zero_reals(txhat, K * B * C);
                zero_reals(trstd, K * (l->kind == LAYER_BATCHNORM ? C : B));
            }
            continue;
        }
        const real *inp = layer_input(net, x, i);
        const real *tin = i > first_live ? tw + K * net->plan[i - 1].out_at : NULL;
        real *tpre = tw + K * p->pre_at, *pre = WORK(net, p->pre_at);
        real *xhat = WORK(net, p->norm_at), *stats = WORK(net, p->stats_at);
        tslice tw_w = slot_dirs(net, dd, l, i, &l->weight), tw_b = slot_dirs(net, dd, l, i, &l->bias);
        switch (l->kind) {
        case LAYER_DENSE:
            dense_tangent_forward(net->backend, tpre, tin, inp, slot_value(net, l->weight), &tw_w,
                                  &tw_b, B, p->in, p->out, K, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            if (net->train_mode)
                norm_stats_tangent(txhat, trstd, tin, xhat, stats + C, C, B, 1, C, K);
            else
                running_stats_tangent(txhat, trstd, tin, xhat, stats + C,
                                      slot_dirs(net, dd, l, i, &l->mean).rows,
                                      slot_dirs(net, dd, l, i, &l->var).rows, net->n_params, B, C,
                                      K);
            affine_tangent_forward(tpre, txhat, xhat, slot_value(net, l->weight), tw_w.rows,
                                   tw_b.rows, net->n_params, B, C, K);
            break;
        case LAYER_LAYERNORM:
            norm_stats_tangent(txhat, trstd, tin, xhat, stats + B, B, C, C, 1, K);
            affine_tangent_forward(tpre, txhat, xhat, slot_value(net, l->weight), tw_w.rows,
                                   tw_b.rows, net->n_params, B, C, K);
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
static void tangent_backward(fp_net *net, const real *x, const tangent_dirs *dd, size_t first_live,
                             size_t first_need, real *HV, real *tw)
{
    size_t B = net->rows, K = dd->k, n = net->n_params;
    real *d = WORK(net, net->delta_at[0]), *d_below = WORK(net, net->delta_at[1]);
    real *td = tw + K * net->delta_at[0], *td_below = tw + K * net->delta_at[1];
    real *g = tw + K * net->target_at;   /* scratch: the norm layers' dL/dxhat */
    for (size_t i = net->n_layers; i-- > first_need;) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const real *inp = layer_input(net, x, i);
        const real *tin = i > first_live ? tw + K * net->plan[i - 1].out_at : NULL;
        const real *pre = l->kind == LAYER_ACTIVATION ? inp : WORK(net, p->pre_at);
        const real *tpre = i < first_live ? NULL
                           : l->kind == LAYER_ACTIVATION ? tin : tw + K * p->pre_at;
        const real *out = WORK(net, p->out_at), *tout = tpre ? tw + K * p->out_at : NULL;
        act_tangent_backward(l->act, td, tpre, tout, d, pre, out, B, p->out, K);
        act_backward(l->act, d, d, pre, out, B, p->out);
        int below = i > first_need;
        real *dinp = below ? d_below : NULL, *tdinp = below ? td_below : NULL;
        const real *xhat = WORK(net, p->norm_at), *txhat = tw + K * p->norm_at;
        const real *stats = WORK(net, p->stats_at), *trstd = tw + K * p->stats_at;
        const real *gamma = slot_value(net, l->weight);
        tslice tw_w = slot_dirs(net, dd, l, i, &l->weight);
        real *hw = slot_hv(net, dd, l, i, &l->weight, HV), *hb = slot_hv(net, dd, l, i, &l->bias, HV);
        size_t C = p->in;
        switch (l->kind) {
        case LAYER_DENSE:
            dense_tangent_backward(net->backend, tdinp, hw, hb, n, td, d, tin, inp,
                                   slot_value(net, l->weight), &tw_w, B, p->in, p->out, K,
                                   l->kernel_in_out);
            if (dinp)
                dense_backward(net->backend, dinp, NULL, NULL, d, inp, slot_value(net, l->weight),
                               B, p->in, p->out, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            affine_tangent_backward(g, td, hw, hb, n, d, xhat, txhat, gamma, tw_w.rows, B, C, K);
            if (net->train_mode && tdinp)
                norm_stats_tangent_backward(tdinp, td, g, xhat, txhat, stats + C, trstd, C, B, 1,
                                            C, K);
            else if (!net->train_mode)
                running_stats_tangent_backward(tdinp, slot_hv(net, dd, l, i, &l->mean, HV),
                                               slot_hv(net, dd, l, i, &l->var, HV), n, td, g, xhat,
                                               txhat, stats + C, trstd, B, C, K);
            batchnorm_backward(dinp, NULL, NULL, NULL, NULL, d, xhat, stats, gamma, B, C,
                               net->train_mode);
            break;
        case LAYER_LAYERNORM:
            affine_tangent_backward(g, td, hw, hb, n, d, xhat, txhat, gamma, tw_w.rows, B, C, K);
            if (tdinp)
                norm_stats_tangent_backward(tdinp, td, g, xhat, txhat, stats + B, trstd, B, C, C,
                                            1, K);
            layernorm_backward(dinp, NULL, NULL, d, xhat, stats, gamma, B, C);
            break;
        case LAYER_ACTIVATION:
            if (!below)
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

/* HV (K x n) = H V for the batch net.c prepared; tw: fp_tangent_scratch_elems. */
static void net_hvp(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dd, void *HV,
                    void *tw)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    size_t K = dd->k, first_live, first_need;
    trim(net, dd, &first_live, &first_need);
    zero_reals((real *)HV, K * net->n_params);
    if (!dd->forward_done)
        net_forward(net, x);
    if (first_live == net->n_layers || first_need == net->n_layers)
        return;   /* zero directions, or no column wanted */
    tangent_forward(net, (const real *)x, dd, first_live, first_need, (real *)tw);
    net_loss(net, loss, 1);
    loss_tangent(loss, (real *)tw + K * net->delta_at[0], (real *)tw + K * last->out_at,
                 WORK(net, last->out_at), y, net->rows, last->out, K);
    tangent_backward(net, (const real *)x, dd, first_live, first_need, (real *)HV, (real *)tw);
}

const net_tangent_ops PASS_NAME(fp_net_tangent_ops) = {
    .hvp = net_hvp,
};
