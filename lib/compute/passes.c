/*
 * The forward and backward passes over the layer list, on the buffers net.c
 * planned for the batch. Written over `real` and compiled once per precision;
 * the table at the end is what net.c calls.
 */
#include "compute_internal.h"
#include "real.h"

#include <string.h>

#define WORK(net, at) ((real *)(net)->work + (at))

static real *slot_value(const fp_net *net, slot s)
{
    if (s.home == SLOT_PARAM)
        return (real *)net->params + s.offset;
    return s.home == SLOT_CONST ? (real *)net->consts + s.offset : NULL;
}

/* NULL for constants: their gradient is never computed. */
static real *slot_grad(const fp_net *net, slot s)
{
    return s.home == SLOT_PARAM ? (real *)net->grads + s.offset : NULL;
}

static const real *layer_input(const fp_net *net, const real *x, size_t i)
{
    return i == 0 ? x : WORK(net, net->plan[i - 1].out_at);
}

static void net_forward(fp_net *net, const void *x)
{
    size_t B = net->rows;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const real *inp = layer_input(net, (const real *)x, i);
        real *pre = WORK(net, p->pre_at), *out = WORK(net, p->out_at);
        switch (l->kind) {
        case LAYER_DENSE:
            dense_forward(net->backend, pre, inp, slot_value(net, l->weight),
                          slot_value(net, l->bias), B, p->in, p->out, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            batchnorm_forward(pre, WORK(net, p->norm_at), WORK(net, p->stats_at), inp,
                              slot_value(net, l->weight), slot_value(net, l->bias),
                              slot_value(net, l->mean), slot_value(net, l->var), B, p->in,
                              (real)l->eps, net->train_mode);
            break;
        case LAYER_LAYERNORM:
            layernorm_forward(pre, WORK(net, p->norm_at), WORK(net, p->stats_at), inp,
                              slot_value(net, l->weight), slot_value(net, l->bias), B, p->in,
                              (real)l->eps);
            break;
        case LAYER_ACTIVATION:
            pre = (real *)inp;
            break;
        }
        act_forward(l->act, out, pre, B, p->out);
    }
}

static double net_loss(fp_net *net, fp_loss kind, int with_grad)
{
    const layer_plan *last = &net->plan[net->n_layers - 1];
    const real *y = fp_loss_needs_target(kind) ? WORK(net, net->target_at) : NULL;
    real *d = with_grad ? WORK(net, net->delta_at[0]) : NULL;
    return loss_forward_backward(kind, d, WORK(net, last->out_at), y, net->rows, last->out);
}

/* From dL/dout in delta_at[0] down to the lowest layer with a parameter in the
 * flat vector; two delta buffers take turns as dout and dinp. */
static void net_backward(fp_net *net, const void *x)
{
    size_t B = net->rows;
    real *d = WORK(net, net->delta_at[0]), *d_below = WORK(net, net->delta_at[1]);
    zero_reals((real *)net->grads, net->n_params);
    for (size_t i = net->n_layers; i-- > 0;) {
        const layer *l = &net->layers[i];
        const layer_plan *p = &net->plan[i];
        const real *inp = layer_input(net, (const real *)x, i);
        const real *pre = l->kind == LAYER_ACTIVATION ? inp : WORK(net, p->pre_at);
        act_backward(l->act, d, d, pre, WORK(net, p->out_at), B, p->out);
        real *dinp = l->grad_below ? d_below : NULL;
        switch (l->kind) {
        case LAYER_DENSE:
            dense_backward(net->backend, dinp, slot_grad(net, l->weight), slot_grad(net, l->bias),
                           d, inp, slot_value(net, l->weight), B, p->in, p->out, l->kernel_in_out);
            break;
        case LAYER_BATCHNORM:
            batchnorm_backward(dinp, slot_grad(net, l->weight), slot_grad(net, l->bias),
                               slot_grad(net, l->mean), slot_grad(net, l->var), d,
                               WORK(net, p->norm_at), WORK(net, p->stats_at),
                               slot_value(net, l->weight), B, p->in, net->train_mode);
            break;
        case LAYER_LAYERNORM:
            layernorm_backward(dinp, slot_grad(net, l->weight), slot_grad(net, l->bias), d,
                               WORK(net, p->norm_at), WORK(net, p->stats_at),
                               slot_value(net, l->weight), B, p->in);
            break;
        case LAYER_ACTIVATION:
            if (!l->grad_below)
                return;
            continue;   /* act_backward already turned d into dL/dinp */
        }
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
