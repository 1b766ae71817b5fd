/*
 * A layer kind's ops: its part of each pass, written once over `real` in its
 * file (layers/<kind>.c) and compiled four times, f32 and f64 on the host
 * and on the GPU, against kernels of the same names and signatures (the
 * file's own, or cuda/layers/<kind>.cuh's). The passes (passes.c,
 * tangent_pass.c) call them through the table of the build's ops that
 * layers/registry.h makes, by the layer's kind. Included after real.h; the
 * helpers here are the ones every kind and the passes share.
 */
#ifndef FP_COMPUTE_LAYER_OPS_H
#define FP_COMPUTE_LAYER_OPS_H

#include "compute_internal.h"
#include "real.h"
#include "formulas.h"

#include <string.h>

#ifndef GEMM   /* (the GPU's kernels.cuh defines the same) */
#define GEMM(be) ((be)->REAL_NAME(gemm))
#endif

#define WORK(net, at) ((real *)(net)->work + (at))

static inline real *slot_value(const fp_net *net, const slot *s)
{
    if (s->home == SLOT_PARAM)
        return (real *)net->params + s->offset;
    return s->home == SLOT_CONST ? (real *)net->consts + s->offset : NULL;
}

/* NULL for constants: their gradient is never computed. */
static inline real *slot_grad(const fp_net *net, const slot *s)
{
    return s->home == SLOT_PARAM ? (real *)net->grads + s->offset : NULL;
}

/* Layer i's output on the batch x (a reshaping layer's is its input's). */
static inline const real *layer_output(const fp_net *net, const real *x, size_t i)
{
    uint64_t at = net->plan[i].out_at;
    return at == PLAN_AT_INPUT ? x : WORK(net, at);
}

static inline const real *layer_input(const fp_net *net, const real *x, size_t i)
{
    return i == 0 ? x : layer_output(net, x, i - 1);
}

/* Rows and columns for the activation of a layer: its output's last
 * dimension is the one softmax runs over. */
static inline void act_rows_cols(const fp_net *net, const layer_plan *p, size_t *rows,
                                 size_t *cols)
{
    const sample_shape *s = &p->out_shape;
    size_t last = s->rank ? (size_t)s->dim[s->rank - 1] : 1;
    *cols = last;
    *rows = last ? net->rows * (size_t)(p->out_elems / last) : 0;
}

/* ---- the tangent pass */

/* A parameter's directions (formulas.h's tslice): not live when they are zero there. */
static inline tslice slot_dirs(const fp_net *net, const tangent_dirs *dirs, const slot *s)
{
    tslice t = { 0, NULL, 0, 0, 0, 0 };
    if (s->home != SLOT_PARAM || s->offset >= dirs->hi || s->offset + s->n_elems <= dirs->lo)
        return t;
    t.live = 1;
    t.rows = dirs->V ? (const real *)dirs->V + s->offset : NULL;
    t.stride = net->n_params;
    t.unit = dirs->unit;
    t.unit_at = (int64_t)dirs->lo - (int64_t)s->offset;
    t.size = s->n_elems;
    return t;
}

/* Whether a parameter's H V columns are wanted (not a constant, not all below col_lo). */
static inline int slot_wanted(const tangent_dirs *dirs, const slot *s)
{
    return s->home == SLOT_PARAM && s->offset + s->n_elems > dirs->col_lo;
}

struct neuron_rows;   /* dense.c's */

/* One layer in the tangent pass: what its tangent ops read and write. */
typedef struct tangent_step {
    fp_net *net;
    const tangent_dirs *dirs;
    size_t index;              /* the layer's, in net->layers */
    const layer *l;
    const layer_plan *p;
    size_t rows, K;            /* the batch's samples, the directions */
    real *tangents;                  /* the tangent workspace: the plan, scaled by K */
    const real *inp, *tinp;    /* the input, its tangents (NULL: zero) */
    /* forward */
    real *pre, *tpre;          /* the output before the activation, and its tangents */
    const tslice *neuron;      /* neuron rows: these directions in place of the bias's (dense.c) */
    /* backward */
    const real *dpre;          /* dL/dpre */
    real *tdpre;               /* its tangents (the layer may use them up) */
    real *dinp, *tdinp;        /* dL/dinp and its tangents, NULL when nothing below needs them */
    real *spare;               /* rows x the widest layer, for the layer's own use */
    void *HV;                  /* the H V rows (K x n_params) */
    const struct neuron_rows *neuron_rows;   /* instead of H V (dense.c) */
} tangent_step;

/* Direction k's H V slice for a parameter (+ k * n_params), or NULL when not
 * wanted (or a neuron pass, which writes its rows itself). */
static inline real *step_hv(const tangent_step *s, const slot *slot_of)
{
    if (s->neuron_rows || !slot_wanted(s->dirs, slot_of))
        return NULL;
    return (real *)s->HV + slot_of->offset;
}

typedef struct layer_ops {
    /* pre (rows x out_elems) from inp (rows x in_elems). */
    void (*forward)(fp_net *net, const layer *l, const layer_plan *p, const real *inp,
                    real *pre);
    /* From dpre = dL/dpre: dinp (NULL: not wanted), and each parameter's
     * gradient accumulated (+=, so a shared one gets the sum over its uses). */
    void (*backward)(fp_net *net, const layer *l, const layer_plan *p, const real *inp,
                     const real *dpre, real *dinp);
    /* Below the lowest layer the directions touch: the tangents its way back
     * reads (its own scratch's), zeroed. NULL: none. */
    void (*tangent_zero)(const tangent_step *s);
    /* tpre from tinp and the directions of its parameters. */
    void (*tangent_forward)(const tangent_step *s);
    /* H V into its parameters' rows (or neuron rows), dinp and tdinp. */
    void (*tangent_backward)(const tangent_step *s);
    /* Neuron rows (NULL: none): the end of the run of rows, from flat element
     * e (one of layer i's), that its neurons' tangents may give for the
     * columns dirs wants; 0 when they may not. */
    uint64_t (*neuron_rows_end)(const fp_net *net, const tangent_dirs *dirs, size_t i, uint64_t e);
    /* Rows [at, stop) of such a run (HV's first row is flat element dirs->lo),
     * cap directions' tangents at a time in tangents. */
    void (*neuron_rows)(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs,
                        size_t i, uint64_t at, uint64_t stop, size_t cap, real *HV, real *tangents);
} layer_ops;

/* The passes a kind's fast path runs (passes.c, tangent_pass.c, tangent.c). */
static double net_loss(fp_net *net, fp_loss kind, int with_grad);
static void loss_tangent(fp_loss loss, real *tdout, const real *tout, const real *out,
                         const real *y, size_t B, size_t C, size_t K);
static void tangent_forward(fp_net *net, const real *x, const tangent_dirs *dirs, size_t first_live,
                            size_t first_need, real *tangents, const tslice *neuron);
static void tangent_backward(fp_net *net, const real *x, const tangent_dirs *dirs,
                             size_t first_live, size_t first_need, real *HV, real *tangents,
                             const struct neuron_rows *neurons);
static void plain_passes(fp_net *net, const real *x, fp_loss loss, const tangent_dirs *dirs,
                         size_t from, size_t to, size_t cap, real *HV, real *tangents);

#endif
