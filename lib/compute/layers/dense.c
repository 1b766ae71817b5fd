/*
 * Dense (Flux's Dense, PyTorch's Linear, Keras' Dense): y = x W^T + b, W
 * out x in as Flux and PyTorch store it, or a Keras kernel K in x out
 * (y = x K + b). Its parameters: the weight (or kernel) and an optional bias.
 *
 * Besides the four passes it has a fast path for rows of H: the tangent of
 * the unit direction of W[o, c] is, sample by sample, x[:, c] times the
 * tangent of neuron o, so a block of W's rows takes one tangent pass per
 * neuron rather than one per row (neuron rows, below).
 *
 * A kind's file (layer.h): the description, compiled once through
 * registry.c, then the kernels and ops, compiled once per build.
 */
#include "../compute_internal.h"   /* (layer.h: what a kind is) */

enum { DENSE_WEIGHT, DENSE_BIAS };   /* its slots */

typedef struct dense_settings {
    uint64_t in, out;
    int kernel_in_out;     /* the weight is a Keras kernel, in x out */
} dense_settings;

extern const layer_type fp_layer_dense;

#ifndef FP_REAL_BITS
/* ---------------------------------------------------------------- the description */

#include <stdio.h>
#include <stdlib.h>

static const char *const dense_aliases[] = { "Linear", NULL };
static const char *const dense_weight_keys[] = { "weight", "kernel", NULL };
static const char *const dense_bias_keys[] = { "bias", NULL };
static const char *const *const dense_fields[] = { dense_weight_keys, dense_bias_keys,
                                                   layer_activation_keys, NULL };

static int dense_read(layer_reader *r, const fp_node *map, const char *path, layer *l)
{
    dense_settings *d = layer_settings(r, l, sizeof *d);
    if (!d)
        return -1;
    const char *key = "weight";
    const fp_node *weight = fp_map_get(map, "weight");
    if (!weight || weight->kind == FP_NULL) {
        key = "kernel";
        weight = fp_map_get(map, "kernel");
        d->kernel_in_out = 1;
    }
    if (!weight)
        return layer_fail(r, path, "Dense has no weight (out x in) or kernel (in x out)");
    char *at = layer_join(path, key);
    if (!at)
        return layer_no_memory(r);
    int rc = 0;
    if (weight->kind != FP_ARRAY) {
        rc = layer_fail(r, at, "expected a matrix, found a %s", layer_node_kind(weight->kind));
    } else if (weight->rank != 2) {
        rc = layer_fail(r, at, "expected a matrix, found an array of rank %d", weight->rank);
    } else {
        d->out = weight->shape[d->kernel_in_out ? 1 : 0];
        d->in = weight->shape[d->kernel_in_out ? 0 : 1];
        char what[96];
        snprintf(what, sizeof what, "%s is %llu x %llu", key,
                 (unsigned long long)weight->shape[0], (unsigned long long)weight->shape[1]);
        rc = layer_fix_width(r, path, what, d->in, d->out);
        if (rc == 0)
            rc = layer_take_array(r, weight, at, weight->n_elems, &l->slots[DENSE_WEIGHT]);
    }
    free(at);
    const fp_node *bias = rc == 0 ? layer_field(map, dense_bias_keys, &key) : NULL;
    uint64_t n_out = d->out;
    if (bias)
        rc = layer_take_field(r, bias, path, key, &n_out, &l->slots[DENSE_BIAS]);
    return rc;
}

static int dense_output_shape(const layer *l, const sample_shape *in, sample_shape *out,
                              char *why, size_t cap)
{
    const dense_settings *d = l->settings;
    if (in->rank != 1 || in->dim[0] != d->in) {
        char shape[96];
        shape_text(shape, sizeof shape, in);
        snprintf(why, cap, "Dense takes vectors of %llu, not samples of %s%s",
                 (unsigned long long)d->in, shape,
                 in->rank > 1 ? " (a Flatten before it makes vectors of them)" : "");
        return -1;
    }
    *out = shape_vector(d->out);
    return 0;
}

/* Its weight's rows take one tangent per neuron, `in` rows each; not where
 * another layer uses the same array (its directions would enter twice). */
static uint64_t dense_rows_per_tangent(const fp_net *net, size_t i)
{
    const layer *l = &net->layers[i];
    const slot *w = &l->slots[DENSE_WEIGHT];
    if (w->home != SLOT_PARAM)
        return 0;
    for (size_t j = 0; j < net->n_layers; j++)
        for (int s = 0; s < LAYER_MAX_SLOTS && j != i; s++)
            if (net->layers[j].slots[s].home == SLOT_PARAM
                && net->layers[j].slots[s].offset == w->offset)
                return 1;
    return ((const dense_settings *)l->settings)->in;
}

/* A neuron pass's M (neuron_outer): the weight's rows of products for the
 * whole batch, at least one row. */
static uint64_t dense_neuron_scratch(const fp_net *net, size_t i, uint64_t most)
{
    const dense_settings *d = net->layers[i].settings;
    uint64_t row = net->rows * (d->in > d->out ? d->in : d->out);
    uint64_t all = net->rows * d->in * d->out;
    uint64_t want = all < most ? all : most;
    return want > row ? want : row;
}

static const neuron_rows_sizes dense_neuron_sizes = {
    .rows_per_tangent = dense_rows_per_tangent,
    .scratch = dense_neuron_scratch,
};

const layer_type fp_layer_dense = {
    .name = "Dense",
    .aliases = dense_aliases,
    .flags = LAYER_HAS_ACTIVATION | LAYER_SAMPLEWISE,
    .fields = dense_fields,
    .read = dense_read,
    .output_shape = dense_output_shape,
    .neuron_rows = &dense_neuron_sizes,
};

#else
/* ---------------------------------------------------------------- the kernels */

#include "../layer_ops.h"

/* Element j of the weight as (output o, input c); a Keras kernel is in x out. */
FP_HD static inline void weight_index(size_t j, size_t C, size_t OC, int kernel_in_out, size_t *o,
                                      size_t *c)
{
    *o = kernel_in_out ? j % OC : j / C;
    *c = kernel_in_out ? j / OC : j % C;
}

#ifdef FP_DEVICE_KERNELS   /* the GPU's, beside this file's */
#include "../cuda/layers/dense.cuh"
#else

/* out = inp W^T + bias, W out x in (a Keras kernel in x out: out = inp K + bias).
 * B is the batch (rows), C the input features, OC the output features. */
static void dense_forward(const fp_backend *be, real *out, const real *inp, const real *weight,
                          const real *bias, size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (bias)
        for (size_t b = 0; b < B; b++)
            memcpy(out + b * OC, bias, OC * sizeof *out);
    GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C, weight, kernel_in_out ? OC : C,
             bias ? 1 : 0, out, OC);
}

static void dense_backward(const fp_backend *be, real *dinp, real *dweight, real *dbias,
                           const real *dout, const real *inp, const real *weight,
                           size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (dweight && !kernel_in_out)   /* dW (OC x C) += dout^T inp */
        GEMM(be)(1, 0, OC, C, B, 1, dout, OC, inp, C, 1, dweight, C);
    else if (dweight)                /* dK (C x OC) += inp^T dout */
        GEMM(be)(1, 0, C, OC, B, 1, inp, C, dout, OC, 1, dweight, OC);
    if (dbias)
        for (size_t b = 0; b < B; b++)
            for (size_t o = 0; o < OC; o++)
                dbias[o] += dout[b * OC + o];
    if (dinp)                        /* dinp (B x C) = dout W */
        GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC, weight, kernel_in_out ? OC : C,
                 0, dinp, C);
}

/* The tangent pass. A parameter's directions come as a tslice (formulas.h):
 * absent (not live: zero in every direction), dense rows, or unit vectors,
 * where direction k is 1 at element unit_at + k of the parameter and X dW_k^T
 * is a column copy instead of a product. The parameter gradients' tangents
 * (H V rows: hweight/hbias, direction k at + k*stride) are NULL when not wanted. */

static void dense_tangent_forward(const fp_backend *be, real *tout, const real *tinp,
                                  const real *inp, const real *weight, const tslice *weight_dirs,
                                  const tslice *bias_dirs, size_t B, size_t C, size_t OC, size_t K,
                                  int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C, k0, k1;
    if (tinp)   /* all directions' input tangents through W in one product */
        GEMM(be)(0, !kernel_in_out, K * B, OC, C, 1, tinp, C, weight, ldw, 0, tout, OC);
    else
        memset(tout, 0, K * B * OC * sizeof *tout);
    if (weight_dirs->live && weight_dirs->unit) {   /* X e_(o,c)^T: column c of X into column o */
        unit_range(weight_dirs, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            size_t o, c;
            weight_index((size_t)(weight_dirs->unit_at + (int64_t)k), C, OC, kernel_in_out, &o, &c);
            for (size_t b = 0; b < B; b++)
                tout[(k * B + b) * OC + o] += inp[b * C + c];
        }
    } else if (weight_dirs->rows) {
        for (size_t k = 0; k < K; k++)
            GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C,
                     weight_dirs->rows + k * weight_dirs->stride, ldw, 1, tout + k * B * OC, OC);
    }
    if (bias_dirs->live && bias_dirs->unit) {
        unit_range(bias_dirs, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++)
            for (size_t b = 0; b < B; b++)
                tout[(k * B + b) * OC + (size_t)(bias_dirs->unit_at + (int64_t)k)] += 1;
    } else if (bias_dirs->rows) {
        for (size_t k = 0; k < K; k++)
            for (size_t b = 0; b < B; b++)
                for (size_t o = 0; o < OC; o++)
                    tout[(k * B + b) * OC + o] += bias_dirs->rows[k * bias_dirs->stride + o];
    }
}

/* The weight's H V rows, hw_k += (dout^T inp)' = td_k^T inp + dout^T ti_k
 * (a Keras kernel: the transpose), one product per direction and term, each
 * accumulating straight into direction k's row: the directions' blocks are
 * already contiguous (td_k at k*B rows), so nothing is copied or stacked. */
static void dense_tangent_hweight(const fp_backend *be, real *hw, size_t stride,
                                  const real *tdout, const real *dout, const real *tinp,
                                  const real *inp, size_t B, size_t C, size_t OC, size_t K,
                                  int kernel_in_out)
{
    for (size_t k = 0; k < K; k++) {
        const real *td = tdout + k * B * OC, *ti = tinp ? tinp + k * B * C : NULL;
        real *h = hw + k * stride;
        if (!kernel_in_out) {   /* OC x C */
            GEMM(be)(1, 0, OC, C, B, 1, td, OC, inp, C, 1, h, C);
            if (ti)
                GEMM(be)(1, 0, OC, C, B, 1, dout, OC, ti, C, 1, h, C);
        } else {                /* C x OC */
            GEMM(be)(1, 0, C, OC, B, 1, inp, C, td, OC, 1, h, OC);
            if (ti)
                GEMM(be)(1, 0, C, OC, B, 1, ti, C, dout, OC, 1, h, OC);
        }
    }
}

static void dense_tangent_backward(const fp_backend *be, real *tdinp, real *hweight, real *hbias,
                                   size_t stride, const real *tdout, const real *dout,
                                   const real *tinp, const real *inp, const real *weight,
                                   const tslice *weight_dirs, size_t B, size_t C, size_t OC,
                                   size_t K, int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C;
    if (hweight)
        dense_tangent_hweight(be, hweight, stride, tdout, dout, tinp, inp, B, C, OC, K,
                              kernel_in_out);
    if (hbias)
        for (size_t k = 0; k < K; k++)
            for (size_t b = 0; b < B; b++)
                for (size_t o = 0; o < OC; o++)
                    hbias[k * stride + o] += tdout[(k * B + b) * OC + o];
    if (!tdinp)
        return;
    /* (dout W)' = td W + dout dW_k */
    GEMM(be)(0, kernel_in_out, K * B, C, OC, 1, tdout, OC, weight, ldw, 0, tdinp, C);
    if (weight_dirs->live && weight_dirs->unit) {   /* dout e_(o,c): column o of dout into c */
        size_t k0, k1;
        unit_range(weight_dirs, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            size_t o, c;
            weight_index((size_t)(weight_dirs->unit_at + (int64_t)k), C, OC, kernel_in_out, &o, &c);
            for (size_t b = 0; b < B; b++)
                tdinp[(k * B + b) * C + c] += dout[b * OC + o];
        }
    } else if (weight_dirs->rows) {
        for (size_t k = 0; k < K; k++)
            GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC,
                     weight_dirs->rows + k * weight_dirs->stride, ldw, 1, tdinp + k * B * C, C);
    }
}

/* One neuron's part of a Dense weight's H V rows (neuron rows, below):
 * M (B x w) = td[b, p] inp[b, q] + dout[b, p] tinp[b, q] for the weight's
 * elements from major index m0 to m1 in its flat order (p x q, or q x p for a
 * Keras kernel: w = (m1 - m0) times the minor size). tinp may be NULL (zero). */
static void neuron_outer(real *M, const real *td, const real *dout, const real *tinp,
                         const real *inp, size_t B, size_t C, size_t OC, size_t m0, size_t m1,
                         int kernel_in_out)
{
    size_t minor = kernel_in_out ? OC : C, w = (m1 - m0) * minor;
    for (size_t b = 0; b < B; b++) {
        const real *t = td + b * OC, *d = dout + b * OC, *x = inp + b * C;
        const real *tx = tinp ? tinp + b * C : NULL;
        for (size_t m = m0; m < m1; m++) {
            real *r = M + b * w + (m - m0) * minor;
            if (!kernel_in_out) {   /* p = m: td[p] x + d[p] tx */
                for (size_t q = 0; q < C; q++)
                    r[q] = t[m] * x[q] + (tx ? d[m] * tx[q] : 0);
            } else {                /* q = m: td x[q] + d tx[q] */
                for (size_t p = 0; p < OC; p++)
                    r[p] = t[p] * x[m] + (tx ? d[p] * tx[m] : 0);
            }
        }
    }
}

#endif   /* the host's kernels */

/* ---------------------------------------------------------------- neuron rows
 *
 * Where every layer from Dense layer L up works sample by sample (Dense
 * layers, activations, reshapes; no normalisation) and so does the loss, the
 * tangent of the unit direction of W_L[o, c] is, in each sample b, x[b, c]
 * (layer L's input) times the tangent of neuron o: the direction that adds 1
 * to output o of layer L in every sample, which is o's bias direction. So a
 * block of W_L's rows takes one tangent pass per neuron, not per row, and
 * each row is
 *
 *   H[(o, c), W_j(p, q)] = sum_b x[b, c] M_o[b, (p, q)],
 *   M_o[b, (p, q)] = td_o[b, p] x_j[b, q] + d[b, p] tx_o[b, q]   (neuron_outer),
 *   H[(o, c), bias_j(p)] = sum_b x[b, c] td_o[b, p],
 *
 * products with the batch as their inner dimension, for the columns of the
 * layers from L up: the upper triangle's rows (all columns when L is first).
 * td_o, tx_o: the tangents of layer j's dL/dpre and input for neuron o; d:
 * dL/dpre. M is formed a few of layer j's weight rows at a time (neurons->M_cap).
 * Where it runs: fp_neuron_rows_on (hessian.c). */

typedef struct neuron_rows neuron_rows;
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
static void neuron_inputs(const dense_settings *d, uint64_t e0, uint64_t e1, size_t o, size_t *c0,
                          size_t *c1)
{
    uint64_t C = d->in, OC = d->out, lo, hi;
    if (!d->kernel_in_out) {   /* e = o C + c */
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
static void neuron_rows_of(fp_net *net, const neuron_rows *neurons, const tangent_dirs *dirs,
                           size_t j, const real *td, const real *d, const real *tin,
                           const real *inp)
{
    const layer *l = &net->layers[j], *lL = &net->layers[neurons->L];
    const dense_settings *dj = (const dense_settings *)l->settings;
    const dense_settings *dL = (const dense_settings *)lL->settings;
    const real *xL = layer_input(net, neurons->x, neurons->L);
    size_t B = net->rows, C = dj->in, OC = dj->out, CL = dL->in, OCL = dL->out;
    uint64_t n = net->n_params;
    uint64_t stride = dL->kernel_in_out ? OCL * n : n;   /* row (o, c) to (o, c + 1) */
    size_t minor = dj->kernel_in_out ? OC : C, majors = dj->kernel_in_out ? C : OC;
    size_t chunk = neurons->M_cap / (B * minor);
    chunk = chunk ? chunk : 1;
    const slot *weight = &l->slots[DENSE_WEIGHT], *bias = &l->slots[DENSE_BIAS];
    int want_w = slot_wanted(dirs, weight), want_b = slot_wanted(dirs, bias);
    for (size_t k = 0; k < neurons->K; k++) {
        size_t o = neurons->o0 + k, c0, c1;
        neuron_inputs(dL, neurons->e0, neurons->e1, o, &c0, &c1);
        if (c0 == c1)
            continue;
        uint64_t e = dL->kernel_in_out ? c0 * OCL + o : o * CL + c0;
        real *rows = neurons->HV + (lL->slots[DENSE_WEIGHT].offset + e - neurons->row0) * n;
        size_t ldc = (size_t)(c1 - c0 > 1 ? stride : n);   /* (neuron_rows_end: within max_dim) */
        const real *tdk = td + k * B * OC, *tik = tin ? tin + k * B * C : NULL;
        for (size_t m0 = 0; want_w && m0 < majors; m0 += chunk) {
            size_t m1 = majors - m0 < chunk ? majors : m0 + chunk, w = (m1 - m0) * minor;
            neuron_outer(neurons->M, tdk, d, tik, inp, B, C, OC, m0, m1, dj->kernel_in_out);
            GEMM(net->backend)(1, 0, c1 - c0, w, B, 1, xL + c0, CL, neurons->M, w, 1,
                               rows + weight->offset + m0 * minor, ldc);
        }
        if (want_b)
            GEMM(net->backend)(1, 0, c1 - c0, OC, B, 1, xL + c0, CL, tdk, OC, 1,
                               rows + bias->offset, ldc);
    }
}

/* Where flat element e is in layer L's weight and its rows may come from
 * neurons for the columns dirs wants: the weight's end; else 0. */
static uint64_t dense_neuron_rows_end(const fp_net *net, const tangent_dirs *dirs, size_t L,
                                      uint64_t e)
{
    const layer *lL = &net->layers[L];
    const slot *w = &lL->slots[DENSE_WEIGHT];
    uint64_t w_end = w->offset + w->n_elems;
    if (w->home != SLOT_PARAM || e < w->offset || e >= w_end)
        return 0;
    if (((const dense_settings *)lL->settings)->kernel_in_out
        && net->plan[L].out_elems * net->n_params > net->backend->max_dim)
        return 0;   /* a Keras kernel's rows (o, c), (o, c + 1): out rows apart */
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        int has_params = 0;
        for (int s = 0; s < LAYER_MAX_SLOTS; s++) {
            const slot *other = &l->slots[s];
            has_params |= other->home != SLOT_ABSENT;
            if (other->home != SLOT_PARAM || other == w)
                continue;
            uint64_t at = other->offset, end = at + other->n_elems;
            if (at < w_end && end > w->offset)
                return 0;   /* W_L shared: its directions enter twice */
            if (i < L && end > dirs->col_lo)
                return 0;   /* a column below L is wanted */
        }
        if (i >= L && (!(l->type->flags & LAYER_SAMPLEWISE)
                       || (has_params && l->type != &fp_layer_dense)))
            return 0;   /* batch statistics (BatchNorm), or columns only Dense's are made here */
    }
    return w_end;
}

/* The neurons of W_L's elements [e0, e1): o0 .. o0 + *K - 1. */
static size_t neuron_span(const dense_settings *d, uint64_t e0, uint64_t e1, size_t *K)
{
    uint64_t C = d->in, OC = d->out, first, last;
    if (!d->kernel_in_out) {
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

/* W_L's rows [a, b) (flat indices; HV's first row is flat index dirs->lo) from
 * the tangents of neurons o0 .. o0 + K - 1; M after cap directions' tangents. */
static void neuron_pass(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs,
                        size_t L, uint64_t a, uint64_t b, size_t o0, size_t K, size_t cap,
                        real *HV, real *tangents)
{
    const layer *l = &net->layers[L];
    const layer_plan *pL = &net->plan[L];
    const real *out = layer_output(net, x, net->n_layers - 1);
    const real *y = fp_loss_needs_target(loss) ? WORK(net, net->target_at) : NULL;
    uint64_t w_at = l->slots[DENSE_WEIGHT].offset;
    neuron_rows neurons = { L, x, a - w_at, b - w_at, o0, K, HV, dirs->lo,
                            tangents + cap * net->work_elems, fp_neuron_scratch_elems(net) };
    /* K directions that touch no parameter (lo = hi): the neurons' come at layer L */
    tangent_dirs dn = { NULL, K, 0, 0, dirs->col_lo, 1, dirs->diag_only, 1 };
    tslice neuron = { 1, NULL, net->n_params, 1, (int64_t)o0, pL->out_elems };
    tangent_forward(net, x, &dn, L, L, tangents, &neuron);
    net_loss(net, loss, 1);
    const layer_plan *last = &net->plan[net->n_layers - 1];
    loss_tangent(loss, tangents + K * net->delta_at[0], tangents + K * last->out_at, out, y,
                 net->rows, last->out_elems, K);
    tangent_backward(net, x, &dn, L, L, NULL, tangents, &neurons);
}

/* W_L's rows [at, stop), cap neurons a pass. */
static void dense_neuron_rows(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs,
                              size_t L, uint64_t at, uint64_t stop, size_t cap, real *HV,
                              real *tangents)
{
    const layer *l = &net->layers[L];
    const dense_settings *d = (const dense_settings *)l->settings;
    uint64_t w_at = l->slots[DENSE_WEIGHT].offset;
    if (d->kernel_in_out && stop - at < 2 * d->out) {
        /* a Keras kernel's rows run over o first: in fewer than 2 x out rows
         * a neuron serves about one row (a wrapping range, every neuron) */
        plain_passes(net, x, loss, dirs, (size_t)(at - dirs->lo), (size_t)(stop - dirs->lo), cap,
                     HV, tangents);
        return;
    }
    size_t K, o0 = neuron_span(d, at - w_at, stop - w_at, &K);
    for (size_t done = 0; done < K; done += cap)
        neuron_pass(net, x, loss, dirs, L, at, stop, o0 + done, K - done < cap ? K - done : cap,
                    cap, HV, tangents);
}

/* ---------------------------------------------------------------- the ops */

static void dense_op_forward(fp_net *net, const layer *l, const layer_plan *p, const real *inp,
                             real *pre)
{
    const dense_settings *d = (const dense_settings *)l->settings;
    dense_forward(net->backend, pre, inp, slot_value(net, &l->slots[DENSE_WEIGHT]),
                  slot_value(net, &l->slots[DENSE_BIAS]), net->rows, p->in_elems, p->out_elems,
                  d->kernel_in_out);
}

static void dense_op_backward(fp_net *net, const layer *l, const layer_plan *p, const real *inp,
                              const real *dpre, real *dinp)
{
    const dense_settings *d = (const dense_settings *)l->settings;
    dense_backward(net->backend, dinp, slot_grad(net, &l->slots[DENSE_WEIGHT]),
                   slot_grad(net, &l->slots[DENSE_BIAS]), dpre, inp,
                   slot_value(net, &l->slots[DENSE_WEIGHT]), net->rows, p->in_elems, p->out_elems,
                   d->kernel_in_out);
}

static void dense_op_tangent_forward(const tangent_step *s)
{
    const layer *l = s->l;
    const dense_settings *d = (const dense_settings *)l->settings;
    tslice weight = slot_dirs(s->net, s->dirs, &l->slots[DENSE_WEIGHT]);
    tslice bias = s->neuron ? *s->neuron : slot_dirs(s->net, s->dirs, &l->slots[DENSE_BIAS]);
    dense_tangent_forward(s->net->backend, s->tpre, s->tinp, s->inp,
                          slot_value(s->net, &l->slots[DENSE_WEIGHT]), &weight, &bias, s->rows,
                          s->p->in_elems, s->p->out_elems, s->K, d->kernel_in_out);
}

static void dense_op_tangent_backward(const tangent_step *s)
{
    const layer *l = s->l;
    const dense_settings *d = (const dense_settings *)l->settings;
    const real *weight = slot_value(s->net, &l->slots[DENSE_WEIGHT]);
    tslice weight_dirs = slot_dirs(s->net, s->dirs, &l->slots[DENSE_WEIGHT]);
    if (s->neuron_rows)
        neuron_rows_of(s->net, s->neuron_rows, s->dirs, s->index, s->tdpre, s->dpre, s->tinp,
                       s->inp);
    dense_tangent_backward(s->net->backend, s->tdinp, step_hv(s, &l->slots[DENSE_WEIGHT]),
                           step_hv(s, &l->slots[DENSE_BIAS]), s->net->n_params, s->tdpre, s->dpre,
                           s->tinp, s->inp, weight, &weight_dirs, s->rows, s->p->in_elems,
                           s->p->out_elems, s->K, d->kernel_in_out);
    if (s->dinp)
        dense_backward(s->net->backend, s->dinp, NULL, NULL, s->dpre, s->inp, weight, s->rows,
                       s->p->in_elems, s->p->out_elems, d->kernel_in_out);
}

static const layer_ops dense_ops = {
    .forward = dense_op_forward,
    .backward = dense_op_backward,
    .tangent_zero = NULL,
    .tangent_forward = dense_op_tangent_forward,
    .tangent_backward = dense_op_tangent_backward,
    .neuron_rows_end = dense_neuron_rows_end,
    .neuron_rows = dense_neuron_rows,
};

#endif
