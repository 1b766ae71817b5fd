/*
 * The tangent (forward-over-reverse) pass: Pearlmutter's R-operator, which
 * turns one forward and one backward pass into H V for a block of K directions
 * at once. Each layer's third function (after llm.c's forward and backward):
 * `*_tangent_forward` carries the directional derivative of the activations,
 * `*_tangent_backward` that of the backward pass's deltas and parameter
 * gradients. The K directions are an extra batch dimension: a tangent buffer is
 * (K*B) x features, direction k's rows at k*B; so input tangents go through a
 * layer's weight in ONE product, and only a direction's own weight tangent
 * (X dW_k^T) takes one product per direction.
 *
 * Buffers: the tangent workspace is the primal plan scaled by K (a primal
 * buffer at element `at` of B x C has its tangent at K*at, (K*B) x C), so net.c's
 * plan serves both. A NULL tangent means zero (nothing below depends on the
 * parameters). V and HV are K rows of the flat vector; a parameter's direction
 * and its H V entries sit at its offset in the row, so a shared parameter reads
 * the same direction in every use and its H V rows accumulate (+=) the sum.
 * Written over `real` and compiled once per precision, after passes.c.
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

/* tg = the tangent of dL/dout (loss_forward_backward's d), given tout. */
static void loss_tangent(fp_loss loss, real *tg, const real *tout, const real *out, const real *y,
                         size_t B, size_t C, size_t K)
{
    size_t n = B * C;
    real per_row = 1 / (real)B;
    if (!tout) {
        memset(tg, 0, K * n * sizeof *tg);
        return;
    }
    if (loss == FP_LOSS_LOGITCROSSENTROPY) {   /* d = (p Σy - y)/B, p = softmax(out) */
        for (size_t r = 0; r < K * B; r++)
            logit_crossentropy_tangent_row(tg + r * C, out + (r % B) * C, y + (r % B) * C,
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
                tg[k * n + at + i] = hs[i] * tout[k * n + at + i];
    }
}

/* ---- Dense. A parameter's directions come as a tslice (formulas.h):
 * absent (not live: zero in every direction), dense rows, or unit vectors,
 * where direction k is 1 at element unit_at + k of the parameter and X dW_k^T
 * is a column copy instead of a product. The parameter gradients' tangents
 * (H V rows: hweight/hbias, direction k at + k*stride) are NULL when not wanted. */

static void dense_tangent_forward(const fp_backend *be, real *tout, const real *tinp,
                                  const real *inp, const real *weight, const tslice *tw,
                                  const tslice *tb, size_t B, size_t C, size_t OC, size_t K,
                                  int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C, k0, k1;
    if (tinp)   /* all directions' input tangents through W in one product */
        GEMM(be)(0, !kernel_in_out, K * B, OC, C, 1, tinp, C, weight, ldw, 0, tout, OC);
    else
        memset(tout, 0, K * B * OC * sizeof *tout);
    if (tw->live && tw->unit) {   /* X e_(o,c)^T: column c of X into column o */
        unit_range(tw, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            size_t o, c;
            weight_index((size_t)(tw->unit_at + (int64_t)k), C, OC, kernel_in_out, &o, &c);
            for (size_t b = 0; b < B; b++)
                tout[(k * B + b) * OC + o] += inp[b * C + c];
        }
    } else if (tw->rows) {
        for (size_t k = 0; k < K; k++)
            GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C, tw->rows + k * tw->stride, ldw, 1,
                     tout + k * B * OC, OC);
    }
    if (tb->live && tb->unit) {
        unit_range(tb, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++)
            for (size_t b = 0; b < B; b++)
                tout[(k * B + b) * OC + (size_t)(tb->unit_at + (int64_t)k)] += 1;
    } else if (tb->rows) {
        for (size_t k = 0; k < K; k++)
            for (size_t b = 0; b < B; b++)
                for (size_t o = 0; o < OC; o++)
                    tout[(k * B + b) * OC + o] += tb->rows[k * tb->stride + o];
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
                                   const tslice *tw, size_t B, size_t C, size_t OC, size_t K,
                                   int kernel_in_out)
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
    if (tw->live && tw->unit) {   /* dout e_(o,c): column o of dout into column c */
        size_t k0, k1;
        unit_range(tw, K, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            size_t o, c;
            weight_index((size_t)(tw->unit_at + (int64_t)k), C, OC, kernel_in_out, &o, &c);
            for (size_t b = 0; b < B; b++)
                tdinp[(k * B + b) * C + c] += dout[b * OC + o];
        }
    } else if (tw->rows) {
        for (size_t k = 0; k < K; k++)
            GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC, tw->rows + k * tw->stride, ldw, 1,
                     tdinp + k * B * C, C);
    }
}

/* One neuron's part of a Dense weight's H V rows (tangent_pass.c's neuron
 * rows): M (B x w) = td[b, p] inp[b, q] + dout[b, p] tinp[b, q] for the weight's
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

/* ---- normalisation. Groups as in layers.c (BatchNorm: columns, LayerNorm:
 * rows). For statistics of the data, xhat' = rstd (x' - mean(x') - xhat
 * mean(xhat x')), the very formula of norm_stats_backward, and rstd' = -rstd^2
 * mean(xhat x'). trstd: K x n_groups. */
static void norm_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                               const real *rstd, size_t n_groups, size_t n, size_t group_stride,
                               size_t elem_stride, size_t K)
{
    size_t block = n_groups * n;
    if (!tinp) {
        memset(txhat, 0, K * block * sizeof *txhat);
        memset(trstd, 0, K * n_groups * sizeof *trstd);
        return;
    }
    for (size_t k = 0; k < K; k++) {
        const real *ti = tinp + k * block;
        norm_stats_backward(txhat + k * block, ti, xhat, rstd, n_groups, n, group_stride,
                            elem_stride);
        for (size_t g = 0; g < n_groups; g++) {
            real m = 0;
            for (size_t i = 0; i < n; i++)
                m += xhat[g * group_stride + i * elem_stride] * ti[g * group_stride + i * elem_stride];
            trstd[k * n_groups + g] = -rstd[g] * rstd[g] * m / (real)n;
        }
    }
}

/* BatchNorm in inference mode: xhat = (x - mean) rstd, rstd = (var + eps)^-1/2,
 * where mean and var may be parameters (--all). trstd: K x C. */
static void running_stats_tangent(real *txhat, real *trstd, const real *tinp, const real *xhat,
                                  const real *rstd, const real *tmean, const real *tvar,
                                  size_t stride, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++) {
        real *tr = trstd + k * C;
        for (size_t c = 0; c < C; c++)
            tr[c] = tvar ? R1(-0.5) * rstd[c] * rstd[c] * rstd[c] * tvar[k * stride + c] : 0;
        for (size_t b = 0; b < B; b++) {
            for (size_t c = 0; c < C; c++) {
                size_t i = b * C + c, ki = k * B * C + i;
                real tx = (tinp ? tinp[ki] : 0) - (tmean ? tmean[k * stride + c] : 0);
                txhat[ki] = tx * rstd[c] + xhat[i] * tr[c] / rstd[c];
            }
        }
    }
}

/* tout = gamma' xhat + gamma xhat' + beta' per column. */
static void affine_tangent_forward(real *tout, const real *txhat, const real *xhat,
                                   const real *gamma, const real *tgamma, const real *tbeta,
                                   size_t stride, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++)
        for (size_t b = 0; b < B; b++)
            for (size_t c = 0; c < C; c++) {
                size_t i = b * C + c, ki = k * B * C + i;
                tout[ki] = (gamma ? gamma[c] : 1) * txhat[ki]
                           + (tgamma ? tgamma[k * stride + c] * xhat[i] : 0)
                           + (tbeta ? tbeta[k * stride + c] : 0);
            }
}

/* The affine part backwards: g = dout gamma (primal, into g), td becomes the
 * tangent of g (in place), and the parameters' H V rows accumulate. */
static void affine_tangent_backward(real *g, real *td, real *hgamma, real *hbeta, size_t stride,
                                    const real *dout, const real *xhat, const real *txhat,
                                    const real *gamma, const real *tgamma, size_t B, size_t C,
                                    size_t K)
{
    for (size_t i = 0; i < B * C; i++)
        g[i] = dout[i] * (gamma ? gamma[i % C] : 1);
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < B * C; i++) {
            size_t c = i % C, ki = k * B * C + i;
            if (hgamma)
                hgamma[k * stride + c] += td[ki] * xhat[i] + dout[i] * txhat[ki];
            if (hbeta)
                hbeta[k * stride + c] += td[ki];
            td[ki] = td[ki] * (gamma ? gamma[c] : 1) + (tgamma ? dout[i] * tgamma[k * stride + c] : 0);
        }
}

/* The tangent of norm_stats_backward's dinp, each group and direction by
 * formulas.h's norm_stats_tangent_backward_group. */
static void norm_stats_tangent_backward(real *tdinp, const real *tg, const real *g,
                                        const real *xhat, const real *txhat, const real *rstd,
                                        const real *trstd, size_t n_groups, size_t n,
                                        size_t group_stride, size_t elem_stride, size_t K)
{
    size_t block = n_groups * n;
    for (size_t k = 0; k < K; k++)
        for (size_t grp = 0; grp < n_groups; grp++) {
            size_t at = k * block + grp * group_stride, p = grp * group_stride;
            norm_stats_tangent_backward_group(tdinp + at, tg + at, g + p, xhat + p, txhat + at,
                                              rstd[grp], trstd[k * n_groups + grp], n,
                                              elem_stride);
        }
}

/* BatchNorm inference backwards: dinp = g rstd, dmean = -Σ g rstd,
 * dvar = -1/2 Σ g xhat rstd^2; their tangents. tdinp may be NULL. */
static void running_stats_tangent_backward(real *tdinp, real *hmean, real *hvar, size_t stride,
                                           const real *tg, const real *g, const real *xhat,
                                           const real *txhat, const real *rstd,
                                           const real *trstd, size_t B, size_t C, size_t K)
{
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < B * C; i++) {
            size_t c = i % C, ki = k * B * C + i;
            real r = rstd[c], tr = trstd[k * C + c];
            real t = tg[ki] * r + g[i] * tr;
            if (tdinp)
                tdinp[ki] = t;
            if (hmean)
                hmean[k * stride + c] -= t;
            if (hvar)
                hvar[k * stride + c] -= R1(0.5) * (tg[ki] * xhat[i] * r * r + g[i] * txhat[ki] * r * r
                                                   + 2 * g[i] * xhat[i] * r * tr);
        }
}
