/*
 * The tangent (forward-over-reverse) pass: Pearlmutter's R-operator, which
 * turns one forward and one backward pass into H V for a block of K directions
 * at once. Each layer kind has a third and fourth function (after llm.c's
 * forward and backward, in its file under layers/): `*_tangent_forward`
 * carries the directional derivative of the activations, `*_tangent_backward`
 * that of the backward pass's deltas and parameter gradients. This file holds
 * the same for what every layer shares: its activation, and the loss. The K
 * directions are an extra batch dimension: a tangent buffer is (K*B) x
 * features, direction k's rows at k*B; so input tangents go through a layer's
 * weight in ONE product, and only a direction's own weight tangent (X dW_k^T)
 * takes one product per direction. A NULL tangent means zero (nothing below
 * depends on the parameters). Written over `real` and compiled once per
 * precision.
 */
#include "compute_internal.h"
#include "real.h"
#include "formulas.h"

#include <string.h>

/* Elementwise loops compute a chunk's derivatives once, then sweep the K
 * directions over it, so each direction's rows are read contiguously. */
enum { CHUNK = 256 };

/* tout = the tangent of act(pre) for K directions; tout may be tpre. */
static void act_tangent_forward(act_kind act, real *tout, const real *tpre, const real *pre,
                                const real *out, size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX) {
        for (size_t r = 0; r < K * B; r++)
            softmax_tangent_row(act, tout + r * C, tpre + r * C, out + (r % B) * C, C);
        return;
    }
    if (act == ACT_IDENTITY) {
        if (tout != tpre)
            memcpy(tout, tpre, K * n * sizeof *tout);
        return;
    }
    real d1[CHUNK], d2[CHUNK];
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t len = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = 0; i < len; i++)
            act_derivs(act, pre[at + i], out[at + i], &d1[i], &d2[i]);
        for (size_t k = 0; k < K; k++)
            for (size_t i = 0; i < len; i++)
                tout[k * n + at + i] = d1[i] * tpre[k * n + at + i];
    }
}

/* td: the tangent of dL/dout in, the tangent of dL/dpre out (in place). Needs
 * the primal dout, so it runs before act_backward overwrites it. */
static void act_tangent_backward(act_kind act, real *td, const real *tpre, const real *tout,
                                 const real *dout, const real *pre, const real *out, size_t B,
                                 size_t C, size_t K)
{
    size_t n = B * C;
    if (act == ACT_IDENTITY)
        return;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX) {
        for (size_t r = 0; r < K * B; r++)
            softmax_tangent_backward_row(act, td + r * C, tout ? tout + r * C : NULL,
                                         dout + (r % B) * C, out + (r % B) * C, C);
        return;
    }
    real d1[CHUNK], d2[CHUNK];
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t len = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = 0; i < len; i++) {
            act_derivs(act, pre[at + i], out[at + i], &d1[i], &d2[i]);
            d2[i] *= dout[at + i];
        }
        for (size_t k = 0; k < K; k++) {
            real *t = td + k * n + at;
            const real *tp = tpre ? tpre + k * n + at : NULL;
            for (size_t i = 0; i < len; i++)
                t[i] = d1[i] * t[i] + (tp ? d2[i] * tp[i] : 0);
        }
    }
}

/* tdout = the tangent of dL/dout (loss_forward_backward's d), given tout. */
static void loss_tangent(fp_loss loss, real *tdout, const real *tout, const real *out,
                         const real *y, size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    real per_row = 1 / (real)B;
    if (!tout) {
        memset(tdout, 0, K * n * sizeof *tdout);
        return;
    }
    if (loss == FP_LOSS_LOGITCROSSENTROPY) {   /* d = (p Σy - y)/B, p = softmax(out) */
        for (size_t r = 0; r < K * B; r++)
            logit_crossentropy_tangent_row(tdout + r * C, out + (r % B) * C, y + (r % B) * C,
                                           tout + r * C, C, per_row);
        return;
    }
    real hs[CHUNK];
    for (size_t at = 0; at < n; at += CHUNK) {   /* elementwise: d'(out) */
        size_t len = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = 0; i < len; i++)
            hs[i] = loss_second_derivative(loss, out[at + i], y ? y[at + i] : 0, n, B);
        for (size_t k = 0; k < K; k++)
            for (size_t i = 0; i < len; i++)
                tdout[k * n + at + i] = hs[i] * tout[k * n + at + i];
    }
}
