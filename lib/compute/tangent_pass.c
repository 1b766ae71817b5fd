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

#include <stdlib.h>
#include <string.h>


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

/* neuron: NULL, or the neuron directions of layer first_live (see neuron rows below). */
static void tangent_forward(fp_net *net, const real *x, const tangent_dirs *dd, size_t first_live,
                            size_t first_need, real *tw, const tslice *neuron)
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
        if (neuron && i == first_live)
            tw_b = *neuron;   /* 1 at output o0 + k in every sample, as a bias direction */
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

typedef struct neuron_rows neuron_rows;
static void neuron_rows_of(fp_net *net, const neuron_rows *nr, const tangent_dirs *dd, size_t j,
                           const real *td, const real *d, const real *tin, const real *inp);

/* The backward pass (no parameter gradients) and its tangent, into HV; or with
 * nr, the neuron rows' (into nr's rows, HV unused). */
static void tangent_backward(fp_net *net, const real *x, const tangent_dirs *dd, size_t first_live,
                             size_t first_need, real *HV, real *tw, const neuron_rows *nr)
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
        real *hw = nr ? NULL : slot_hv(net, dd, l, i, &l->weight, HV);
        real *hb = nr ? NULL : slot_hv(net, dd, l, i, &l->bias, HV);
        size_t C = p->in;
        switch (l->kind) {
        case LAYER_DENSE:
            if (nr)
                neuron_rows_of(net, nr, dd, i, td, d, tin, inp);
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

/* One pass over the directions dd (trimmed to what they touch and want). */
static void plain_pass(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dd, real *HV,
                       real *tw)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    size_t K = dd->k, first_live, first_need;
    trim(net, dd, &first_live, &first_need);
    if (first_live == net->n_layers || first_need == net->n_layers)
        return;   /* zero directions, or no column wanted */
    tangent_forward(net, (const real *)x, dd, first_live, first_need, tw, NULL);
    net_loss(net, loss, 1);
    loss_tangent(loss, tw + K * net->delta_at[0], tw + K * last->out_at, WORK(net, last->out_at),
                 y, net->rows, last->out, K);
    tangent_backward(net, (const real *)x, dd, first_live, first_need, HV, tw, NULL);
}

/* ---- Rows of a Dense weight from its neurons' tangents.
 *
 * Where every layer from Dense layer L up works sample by sample (Dense
 * layers and activations; no normalisation) and so does the loss, the tangent
 * of the unit direction of W_L[o, c] is, in each sample b, x[b, c] (layer L's
 * input) times the tangent of neuron o: the direction that adds 1 to output o
 * of layer L in every sample, which is o's bias direction. So a block of W_L's
 * rows takes one tangent pass per neuron, not per row, and each row is
 *
 *   H[(o, c), W_j(p, q)] = sum_b x[b, c] M_o[b, (p, q)],
 *   M_o[b, (p, q)] = td_o[b, p] x_j[b, q] + d[b, p] tx_o[b, q]   (neuron_outer),
 *   H[(o, c), bias_j(p)] = sum_b x[b, c] td_o[b, p],
 *
 * products with the batch as their inner dimension, for the columns of the
 * layers from L up: the upper triangle's rows (all columns when L is first).
 * td_o, tx_o: the tangents of layer j's dL/dpre and input for neuron o; d:
 * dL/dpre. M is formed a few of layer j's weight rows at a time (nr->M_cap).
 * Where it runs: fp_neuron_rows_on (hessian.c). */

struct neuron_rows {
    size_t L;
    const real *x;       /* the batch (layer L's input, if L is first) */
    uint64_t e0, e1;     /* the rows: W_L's elements [e0, e1) */
    size_t o0, K;        /* the neurons o0 .. o0 + K - 1, direction k = neuron o0 + k */
    real *HV;            /* the rows of the flat indices row0 .. */
    uint64_t row0;
    real *M;             /* scratch of M_cap elements */
    uint64_t M_cap;
};

/* The rows c0 .. c1 - 1 of neuron o within W_L's elements [e0, e1). */
static void neuron_inputs(const layer *l, const layer_plan *p, uint64_t e0, uint64_t e1, size_t o,
                          size_t *c0, size_t *c1)
{
    uint64_t C = p->in, OC = p->out, lo, hi;
    if (!l->kernel_in_out) {   /* e = o C + c */
        lo = e0 > o * C ? e0 - o * C : 0;
        hi = e1 > o * C ? e1 - o * C : 0;
    } else {                   /* e = c OC + o */
        lo = e0 > o ? (e0 - o + OC - 1) / OC : 0;
        hi = e1 > o ? (e1 - o + OC - 1) / OC : 0;
    }
    *c0 = (size_t)(lo < C ? lo : C);
    *c1 = (size_t)(hi < C ? hi : C);
    *c1 = *c1 > *c0 ? *c1 : *c0;
}

/* Layer j's columns of the neuron rows, from its td (K x B x OC), d, input
 * tangent tin (K x B x C, NULL: zero) and input. */
static void neuron_rows_of(fp_net *net, const neuron_rows *nr, const tangent_dirs *dd, size_t j,
                           const real *td, const real *d, const real *tin, const real *inp)
{
    const layer *l = &net->layers[j], *lL = &net->layers[nr->L];
    const layer_plan *p = &net->plan[j], *pL = &net->plan[nr->L];
    const real *xL = layer_input(net, nr->x, nr->L);
    size_t B = net->rows, C = p->in, OC = p->out, CL = pL->in, OCL = pL->out;
    uint64_t n = net->n_params;
    uint64_t stride = lL->kernel_in_out ? OCL * n : n;   /* row (o, c) to (o, c + 1) */
    size_t minor = l->kernel_in_out ? OC : C, majors = l->kernel_in_out ? C : OC;
    size_t chunk = nr->M_cap / (B * minor);
    chunk = chunk ? chunk : 1;
    int want_w = slot_wanted(net, dd, l, j, &l->weight), want_b = slot_wanted(net, dd, l, j, &l->bias);
    for (size_t k = 0; k < nr->K; k++) {
        size_t o = nr->o0 + k, c0, c1;
        neuron_inputs(lL, pL, nr->e0, nr->e1, o, &c0, &c1);
        if (c0 == c1)
            continue;
        uint64_t e = lL->kernel_in_out ? c0 * OCL + o : o * CL + c0;
        real *rows = nr->HV + (lL->weight.offset + e - nr->row0) * n;
        size_t ldc = (size_t)(c1 - c0 > 1 ? stride : n);   /* (neuron_layer: within max_dim) */
        const real *tdk = td + k * B * OC, *tik = tin ? tin + k * B * C : NULL;
        for (size_t m0 = 0; want_w && m0 < majors; m0 += chunk) {
            size_t m1 = majors - m0 < chunk ? majors : m0 + chunk, w = (m1 - m0) * minor;
            neuron_outer(nr->M, tdk, d, tik, inp, B, C, OC, m0, m1, l->kernel_in_out);
            GEMM(net->backend)(1, 0, c1 - c0, w, B, 1, xL + c0, CL, nr->M, w, 1,
                               rows + l->weight.offset + m0 * minor, ldc);
        }
        if (want_b)
            GEMM(net->backend)(1, 0, c1 - c0, OC, B, 1, xL + c0, CL, tdk, OC, 1,
                               rows + l->bias.offset, ldc);
    }
}

static uint64_t slot_elems(const fp_net *net, size_t i, const slot *s)
{
    return slot_size(&net->layers[i], &net->plan[i], s);
}

/* The Dense layer whose weight holds flat element e, when its rows may come
 * from neurons (see above) for the columns dd wants; n_layers when not. */
static size_t neuron_layer(const fp_net *net, const tangent_dirs *dd, uint64_t e)
{
    size_t L = net->n_layers;
    for (size_t i = 0; i < net->n_layers && L == net->n_layers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind == LAYER_DENSE && l->weight.home == SLOT_PARAM && e >= l->weight.offset
            && e < l->weight.offset + slot_elems(net, i, &l->weight))
            L = i;
    }
    if (L == net->n_layers)
        return L;
    const slot *w = &net->layers[L].weight;
    uint64_t w_end = w->offset + slot_elems(net, L, w);
    if (net->layers[L].kernel_in_out && net->plan[L].out * net->n_params > net->backend->max_dim)
        return net->n_layers;   /* a Keras kernel's rows (o, c), (o, c + 1): out rows apart */
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const slot *slots[4] = { &l->weight, &l->bias, &l->mean, &l->var };
        if (i >= L && l->kind != LAYER_DENSE && l->kind != LAYER_ACTIVATION)
            return net->n_layers;   /* a norm layer: not sample by sample (BatchNorm) */
        for (int s = 0; s < 4; s++) {
            if (slots[s]->home != SLOT_PARAM || slots[s] == w)
                continue;
            uint64_t at = slots[s]->offset, end = at + slot_elems(net, i, slots[s]);
            if (at < w_end && end > w->offset)
                return net->n_layers;   /* W_L shared: its directions enter twice */
            if (i < L && end > dd->col_lo)
                return net->n_layers;   /* a column below L is wanted */
        }
    }
    return L;
}

/* The neurons of W_L's elements [e0, e1): o0 .. o0 + *K - 1. */
static size_t neuron_span(const layer *l, const layer_plan *p, uint64_t e0, uint64_t e1, size_t *K)
{
    uint64_t C = p->in, OC = p->out, first, last;
    if (!l->kernel_in_out) {
        first = e0 / C;
        last = (e1 - 1) / C;
    } else if (e1 - e0 >= OC || e0 % OC > (e1 - 1) % OC) {
        first = 0;   /* every neuron, or wrapping round: all of them */
        last = OC - 1;
    } else {
        first = e0 % OC;
        last = (e1 - 1) % OC;
    }
    *K = (size_t)(last - first + 1);
    return (size_t)first;
}

/* W_L's rows [a, b) (flat indices; HV's first row is flat index dd->lo) from
 * the tangents of neurons o0 .. o0 + K - 1; M after cap directions' tangents. */
static void neuron_pass(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dd, size_t L,
                        uint64_t a, uint64_t b, size_t o0, size_t K, size_t cap, real *HV,
                        real *tw)
{
    const layer *l = &net->layers[L];
    const layer_plan *last = &net->plan[net->n_layers - 1], *pL = &net->plan[L];
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    neuron_rows nr = { L, (const real *)x, a - l->weight.offset, b - l->weight.offset, o0, K, HV,
                       dd->lo, tw + cap * net->work_elems, fp_neuron_scratch_elems(net) };
    /* K directions that touch no parameter (lo = hi): the neurons' come at layer L */
    tangent_dirs dn = { NULL, K, 0, 0, dd->col_lo, 1, dd->diag_only, 1 };
    tslice neuron = { 1, NULL, net->n_params, 1, (int64_t)o0, pL->out };
    tangent_forward(net, (const real *)x, &dn, L, L, tw, &neuron);
    net_loss(net, loss, 1);
    loss_tangent(loss, tw + K * net->delta_at[0], tw + K * last->out_at, WORK(net, last->out_at),
                 y, net->rows, last->out, K);
    tangent_backward(net, (const real *)x, &dn, L, L, NULL, tw, &nr);
}

/* Plain passes over dd's directions from .. to - 1 (counted from dd's first),
 * at most cap at a time. */
static void plain_passes(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dd,
                         size_t from, size_t to, size_t cap, real *HV, real *tw)
{
    uint64_t n = net->n_params;
    for (size_t at = from; at < to; at += cap) {
        tangent_dirs part = *dd;
        part.k = to - at < cap ? to - at : cap;
        part.V = dd->V ? (const real *)dd->V + at * n : NULL;
        if (dd->unit) {   /* unit rows: the support moves with the part */
            part.lo = dd->lo + at;
            part.hi = part.lo + part.k;
        }
        plain_pass(net, x, loss, &part, HV + at * n, tw);
    }
}

/* HV (K x n) = H V for the batch net.c prepared; tw: fp_tangent_scratch_elems,
 * holding cap (fp_tangent_capacity) directions' tangents. Unit rows go in
 * segments: a Dense weight's rows from its neurons where they may (at most cap
 * neurons a pass), the rest in plain passes (at most cap directions a pass). */
static void net_hvp(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dd, void *HV,
                    void *tw)
{
    size_t cap = fp_tangent_capacity(net, dd->k, dd->unit);
    zero_reals((real *)HV, dd->k * net->n_params);
    if (!dd->forward_done)
        net_forward(net, x);
    if (!dd->unit || dd->hi - dd->lo != dd->k || !fp_neuron_rows_on(net)) {
        plain_passes(net, x, loss, dd, 0, dd->k, cap, (real *)HV, (real *)tw);
        return;
    }
    for (uint64_t at = dd->lo, stop; at < dd->hi; at = stop) {
        size_t L = neuron_layer(net, dd, at);
        if (L < net->n_layers) {   /* to the weight's end, cap neurons a pass */
            const layer *l = &net->layers[L];
            uint64_t end = l->weight.offset + slot_elems(net, L, &l->weight);
            size_t K, o0;
            stop = end < dd->hi ? end : dd->hi;
            if (l->kernel_in_out && stop - at < 2 * net->plan[L].out) {
                /* a Keras kernel's rows run over o first: in fewer than 2 x out rows
                 * a neuron serves about one row (a wrapping range, every neuron) */
                plain_passes(net, x, loss, dd, (size_t)(at - dd->lo), (size_t)(stop - dd->lo),
                             cap, (real *)HV, (real *)tw);
                continue;
            }
            o0 = neuron_span(l, &net->plan[L], at - l->weight.offset, stop - l->weight.offset, &K);
            for (size_t done = 0; done < K; done += cap)
                neuron_pass(net, x, loss, dd, L, at, stop, o0 + done,
                            K - done < cap ? K - done : cap, cap, (real *)HV, (real *)tw);
            continue;
        }
        stop = dd->hi;   /* to the next weight whose rows may come from neurons */
        for (size_t i = 0; i < net->n_layers; i++) {
            const slot *w = &net->layers[i].weight;
            if (net->layers[i].kind == LAYER_DENSE && w->home == SLOT_PARAM && w->offset > at
                && w->offset < stop && neuron_layer(net, dd, w->offset) < net->n_layers)
                stop = w->offset;
        }
        plain_passes(net, x, loss, dd, (size_t)(at - dd->lo), (size_t)(stop - dd->lo), cap,
                     (real *)HV, (real *)tw);
    }
}

const net_tangent_ops PASS_NAME(fp_net_tangent_ops) = {
    .hvp = net_hvp,
};
