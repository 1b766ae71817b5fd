/*
 * H V for K directions in one pass (Pearlmutter's R-operator): the primal
 * forward, the tangent forward, the loss's second derivative, then the backward
 * pass and its tangent side by side, layer by layer. The tangent of the
 * parameter gradients is H V. Each layer's own part is its kind's tangent ops
 * (layer_ops.h); its activation's is here, for every kind alike. Written over
 * `real` and compiled once per precision, after the layer kinds' files and
 * passes.c; the entry goes into net_tangent_ops.
 *
 * The tangent workspace is the primal plan scaled by K (a primal buffer at
 * element `at` of B x C has its tangent at K*at, (K*B) x C), so net.c's plan
 * serves both. V and HV are K rows of the flat vector; a parameter's
 * direction and its H V entries sit at its offset in the row, so a shared
 * parameter reads the same direction in every use and its H V rows
 * accumulate (+=) the sum.
 *
 * What is known of the directions (tangent_dirs) trims the work: layers below
 * the lowest one whose parameters the directions touch have zero tangents, so
 * the tangent forward starts there; layers whose H V columns are all below
 * col_lo (rows of H whose left part comes from symmetry) are not visited on
 * the way back; unit directions turn X dW^T into column copies; and a kind
 * with neuron rows (dense.c) takes its rows of H from its neurons' tangents.
 */
#include "layer_ops.h"

/* The lowest layer whose parameters the directions touch (the tangents below
 * it are zero), and the lowest whose H V columns are wanted; n_layers if none. */
static void trim(const fp_net *net, const tangent_dirs *dirs, size_t *first_live,
                 size_t *first_need)
{
    *first_live = *first_need = net->n_layers;
    for (size_t i = net->n_layers; i-- > 0;) {
        const layer *l = &net->layers[i];
        for (int s = 0; s < LAYER_MAX_SLOTS; s++) {
            if (l->slots[s].home != SLOT_PARAM)
                continue;
            if (slot_dirs(net, dirs, &l->slots[s]).live)
                *first_live = i;
            if (slot_wanted(dirs, &l->slots[s]))
                *first_need = i;
        }
    }
}

/* Layer i in the tangent pass, with what every kind reads. */
static tangent_step step_of(fp_net *net, const real *x, const tangent_dirs *dirs, size_t i,
                            size_t first_live, real *tangents)
{
    tangent_step s;
    memset(&s, 0, sizeof s);
    s.net = net;
    s.dirs = dirs;
    s.index = i;
    s.l = &net->layers[i];
    s.p = &net->plan[i];
    s.rows = net->rows;
    s.K = dirs->k;
    s.tangents = tangents;
    s.inp = layer_input(net, x, i);
    s.tinp = i > first_live ? tangents + dirs->k * net->plan[i - 1].out_at : NULL;
    return s;
}

/* neuron: NULL, or the neuron directions of layer first_live (dense.c's neuron rows). */
static void tangent_forward(fp_net *net, const real *x, const tangent_dirs *dirs, size_t first_live,
                            size_t first_need, real *tangents, const tslice *neuron)
{
    size_t K = dirs->k;
    for (size_t i = first_need < first_live ? first_need : first_live; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const layer_ops *ops = ops_of(l);
        tangent_step s = step_of(net, x, dirs, i, first_live, tangents);
        size_t rows, cols;
        if (i < first_live) {   /* zero tangents; the way back reads a norm layer's */
            if (ops->tangent_zero)
                ops->tangent_zero(&s);
            continue;
        }
        if (l->type->flags & LAYER_RESHAPES)
            continue;   /* its tangents are its input's */
        s.neuron = neuron && i == first_live ? neuron : NULL;
        if (l->type->flags & LAYER_ONLY_ACTIVATION) {
            s.tpre = (real *)s.tinp;
            s.pre = (real *)s.inp;
        } else {
            s.tpre = tangents + K * p->pre_at;
            s.pre = WORK(net, p->pre_at);
            ops->tangent_forward(&s);
        }
        act_rows_cols(net, p, &rows, &cols);
        act_tangent_forward(l->act, tangents + K * p->out_at, s.tpre, s.pre, WORK(net, p->out_at),
                            rows, cols, K);
    }
}

/* The backward pass (no parameter gradients) and its tangent, into HV; or with
 * neurons, the neuron rows' (into neurons's rows, HV unused). */
static void tangent_backward(fp_net *net, const real *x, const tangent_dirs *dirs,
                             size_t first_live, size_t first_need, real *HV, real *tangents,
                             const struct neuron_rows *neurons)
{
    size_t K = dirs->k;
    real *d = WORK(net, net->delta_at[0]), *d_below = WORK(net, net->delta_at[1]);
    real *td = tangents + K * net->delta_at[0], *td_below = tangents + K * net->delta_at[1];
    for (size_t i = net->n_layers; i-- > first_need;) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        tangent_step s = step_of(net, x, dirs, i, first_live, tangents);
        int below = i > first_need;
        size_t rows, cols;
        if (l->type->flags & LAYER_RESHAPES) {   /* d and td are its input's already */
            if (!below)
                return;
            continue;
        }
        int only_act = (l->type->flags & LAYER_ONLY_ACTIVATION) != 0;
        const real *pre = only_act ? s.inp : WORK(net, p->pre_at);
        const real *tpre = i < first_live ? NULL : only_act ? s.tinp : tangents + K * p->pre_at;
        const real *out = WORK(net, p->out_at), *tout = tpre ? tangents + K * p->out_at : NULL;
        act_rows_cols(net, p, &rows, &cols);
        act_tangent_backward(l->act, td, tpre, tout, d, pre, out, rows, cols, K);
        act_backward(l->act, d, d, pre, out, rows, cols);
        if (only_act) {   /* d and td already hold the input's */
            if (!below)
                return;
            continue;
        }
        s.dpre = d;
        s.tdpre = td;
        s.dinp = below ? d_below : NULL;
        s.tdinp = below ? td_below : NULL;
        s.spare = tangents + K * net->target_at;
        s.HV = HV;
        s.neuron_rows = neurons;
        ops_of(l)->tangent_backward(&s);
        if (!s.dinp)
            break;
        real *swap = d;
        d = d_below;
        d_below = swap;
        swap = td;
        td = td_below;
        td_below = swap;
    }
}

/* One pass over the directions dirs (trimmed to what they touch and want). */
static void plain_pass(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs, real *HV,
                       real *tangents)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    size_t K = dirs->k, first_live, first_need;
    trim(net, dirs, &first_live, &first_need);
    if (first_live == net->n_layers || first_need == net->n_layers)
        return;   /* zero directions, or no column wanted */
    tangent_forward(net, x, dirs, first_live, first_need, tangents, NULL);
    net_loss(net, loss, 1);
    loss_tangent(loss, tangents + K * net->delta_at[0], tangents + K * last->out_at,
                 WORK(net, last->out_at), y, net->rows, last->out_elems, K);
    tangent_backward(net, x, dirs, first_live, first_need, HV, tangents, NULL);
}

/* Plain passes over dirs's directions from .. to - 1 (counted from dirs's first),
 * at most cap at a time. */
static void plain_passes(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs,
                         size_t from, size_t to, size_t cap, real *HV, real *tangents)
{
    uint64_t n = net->n_params;
    for (size_t at = from; at < to; at += cap) {
        tangent_dirs part = *dirs;
        part.k = to - at < cap ? to - at : cap;
        part.V = dirs->V ? (const real *)dirs->V + at * n : NULL;
        if (dirs->unit) {   /* unit rows: the support moves with the part */
            part.lo = dirs->lo + at;
            part.hi = part.lo + part.k;
        }
        plain_pass(net, x, loss, &part, HV + at * n, tangents);
    }
}

/* The layer whose neuron rows (its kind's fast path) give flat element e's
 * row for the columns dirs wants, and the end of the run of rows they give;
 * n_layers when none. */
static size_t neuron_layer(const fp_net *net, const tangent_dirs *dirs, uint64_t e, uint64_t *end)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_ops *ops = ops_of(l);
        for (int s = 0; s < LAYER_MAX_SLOTS && ops->neuron_rows_end; s++) {
            const slot *at = &l->slots[s];
            if (at->home == SLOT_PARAM && e >= at->offset && e < at->offset + at->n_elems) {
                *end = ops->neuron_rows_end(net, dirs, i, e);
                return *end ? i : net->n_layers;
            }
        }
    }
    return net->n_layers;
}

/* HV (K x n) = H V for the batch net.c prepared; tangents: fp_tangent_scratch_elems,
 * holding cap (fp_tangent_capacity) directions' tangents. Unit rows go in
 * segments: rows from a layer's neurons where they may (at most cap neurons a
 * pass), the rest in plain passes (at most cap directions a pass). */
static void net_hvp(fp_net *net, const void *x_data, fp_loss loss, const tangent_dirs *dirs,
                    void *HV_data, void *tw_data)
{
    const real *x = (const real *)x_data;
    real *HV = (real *)HV_data, *tangents = (real *)tw_data;
    size_t cap = fp_tangent_capacity(net, dirs->k, dirs->unit);
    zero_reals(HV, dirs->k * net->n_params);
    if (!dirs->forward_done)
        net_forward(net, x);
    if (!dirs->unit || dirs->hi - dirs->lo != dirs->k || !fp_neuron_rows_on(net)) {
        plain_passes(net, x, loss, dirs, 0, dirs->k, cap, HV, tangents);
        return;
    }
    for (uint64_t at = dirs->lo, stop, end; at < dirs->hi; at = stop) {
        size_t L = neuron_layer(net, dirs, at, &end);
        if (L < net->n_layers) {
            stop = end < dirs->hi ? end : dirs->hi;
            ops_of(&net->layers[L])->neuron_rows(net, x, loss, dirs, L, at, stop, cap, HV,
                                                 tangents);
            continue;
        }
        stop = dirs->hi;   /* to the next parameter whose rows may come from neurons */
        for (size_t i = 0; i < net->n_layers; i++) {
            for (int s = 0; s < LAYER_MAX_SLOTS; s++) {
                const slot *next = &net->layers[i].slots[s];
                if (next->home == SLOT_PARAM && next->offset > at && next->offset < stop
                    && neuron_layer(net, dirs, next->offset, &end) < net->n_layers)
                    stop = next->offset;
            }
        }
        plain_passes(net, x, loss, dirs, (size_t)(at - dirs->lo), (size_t)(stop - dirs->lo), cap,
                     HV, tangents);
    }
}

const net_tangent_ops PASS_NAME(fp_net_tangent_ops) = {
    .hvp = net_hvp,
};
