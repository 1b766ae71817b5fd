/*
 * The forward and backward passes over the layer list, on the buffers net.c
 * planned for the batch: each layer's own part by its kind's ops (layer.h,
 * layer_ops.h), then its activation, here, for every kind alike. Written over
 * `real` and compiled once per precision (and once more per precision for the
 * GPU, cuda/passes_*.cu); the table at the end is what net.c calls.
 */
#include "layer_ops.h"

/* Every kind's ops in this build, by the kind's line in layers/registry.h. */
#define LAYER_KIND(name) &name##_ops,
static const layer_ops *const ops_by_kind[] = {
#include "layers/registry.h"
};
#undef LAYER_KIND

static inline const layer_ops *ops_of(const layer *l)
{
    return ops_by_kind[l->kind];
}

/* A layer's output before its activation: its input where the layer
 * computes nothing but the activation, or only reshapes. */
static inline int keeps_input(const layer *l)
{
    return (l->type->flags & (LAYER_ONLY_ACTIVATION | LAYER_RESHAPES)) != 0;
}

static void net_forward(fp_net *net, const void *x)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const real *inp = layer_input(net, (const real *)x, i);
        real *pre = keeps_input(l) ? (real *)inp : WORK(net, p->pre_at);
        size_t rows, cols;
        if (l->type->flags & LAYER_RESHAPES)
            continue;   /* its output is its input */
        if (!keeps_input(l))
            ops_of(l)->forward(net, l, p, inp, pre);
        act_rows_cols(net, p, &rows, &cols);
        act_forward(l->act, WORK(net, p->out_at), pre, rows, cols);
    }
}

static double net_loss(fp_net *net, fp_loss kind, int with_grad)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(kind) ? WORK(net, net->target_at) : NULL;
    real *d = with_grad ? WORK(net, net->delta_at[0]) : NULL;
    return loss_forward_backward(kind, d, WORK(net, last->out_at), y, net->rows, last->out_elems);
}

/* From dL/dout in delta_at[0] down to the lowest layer with a parameter in the
 * flat vector; two delta buffers take turns as dout and dinp. */
static void net_backward(fp_net *net, const void *x)
{
    real *d = WORK(net, net->delta_at[0]), *d_below = WORK(net, net->delta_at[1]);
    zero_reals((real *)net->grads, net->n_params);
    for (size_t i = net->n_layers; i-- > 0;) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const real *inp = layer_input(net, (const real *)x, i);
        const real *pre = keeps_input(l) ? inp : WORK(net, p->pre_at);
        size_t rows, cols;
        if (!(l->type->flags & LAYER_RESHAPES)) {
            act_rows_cols(net, p, &rows, &cols);
            act_backward(l->act, d, d, pre, WORK(net, p->out_at), rows, cols);
        }
        if (keeps_input(l)) {   /* d already is dL/dinp */
            if (!l->grad_below)
                return;
            continue;
        }
        real *dinp = l->grad_below ? d_below : NULL;
        ops_of(l)->backward(net, l, p, inp, d, dinp);
        if (!dinp)
            break;
        real *swap = d;
        d = d_below;
        d_below = swap;
    }
}

const net_ops PASS_NAME(fp_net_ops) = {
    .forward = net_forward,
    .loss = net_loss,
    .backward = net_backward,
};
