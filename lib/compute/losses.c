/*
 * Losses with Flux.Losses' definitions (src/losses/functions.jl), on a model
 * output of B rows (samples) x C columns: Flux's `dims = 1` is our row, so
 * crossentropy and logitcrossentropy sum over each row's classes and average
 * over the B samples, and every other loss averages over all B*C elements.
 * Each term is computed in `real`, the value summed in double. Written over
 * `real` and compiled once per precision.
 */
#include "compute_internal.h"
#include "real.h"

static inline real sign_of(real x)
{
    return (real)((x > 0) - (x < 0));
}

/* log(sigmoid(x)) without overflow: -softplus(-x). */
static inline real log_sigmoid(real x)
{
    return -(log1p(exp(-fabs(x))) + (x < 0 ? -x : 0));
}

/* -sum(y .* logsoftmax(x)) for one row, and (softmax(x) sum(y) - y) / B into d. */
static double logit_crossentropy_row(real *d, const real *x, const real *y, size_t C, real per_row)
{
    real top = x[0], sum_y = 0, sum_exp = 0;
    for (size_t c = 1; c < C; c++)
        top = x[c] > top ? x[c] : top;
    for (size_t c = 0; c < C; c++) {
        sum_exp += exp(x[c] - top);
        sum_y += y[c];
    }
    real log_sum = top + log(sum_exp);
    double total = 0;
    for (size_t c = 0; c < C; c++)
        total -= (double)(y[c] * (x[c] - log_sum));
    if (d)
        for (size_t c = 0; c < C; c++)
            d[c] = (exp(x[c] - log_sum) * sum_y - y[c]) * per_row;
    return total;
}

/* The loss of out against y (NULL for sumsq); with d non-NULL also dL/dout. */
static double loss_forward_backward(fp_loss loss, real *d, const real *out, const real *y,
                                    size_t B, size_t C)
{
    size_t n = B * C;
    real per_elem = 1 / (real)n, per_row = 1 / (real)B, eps = R1(REAL_EPS);
    double total = 0;
    switch (loss) {
    case FP_LOSS_SUMSQ:
        for (size_t i = 0; i < n; i++) {
            total += (double)(out[i] * out[i]);
            if (d)
                d[i] = 2 * out[i];
        }
        return total;
    case FP_LOSS_MSE:
    case FP_LOSS_SSE: {
        real scale = loss == FP_LOSS_MSE ? per_elem : 1;
        for (size_t i = 0; i < n; i++) {
            real e = out[i] - y[i];
            total += (double)(e * e);
            if (d)
                d[i] = 2 * e * scale;
        }
        return total * (double)scale;
    }
    case FP_LOSS_MAE:
        for (size_t i = 0; i < n; i++) {
            real e = out[i] - y[i];
            total += (double)fabs(e);
            if (d)
                d[i] = sign_of(e) * per_elem;
        }
        return total / (double)n;
    case FP_LOSS_HUBER:   /* δ = 1: quadratic strictly inside, linear outside */
        for (size_t i = 0; i < n; i++) {
            real e = out[i] - y[i], a = fabs(e);
            total += (double)(a < 1 ? R1(0.5) * e * e : a - R1(0.5));
            if (d)
                d[i] = (a < 1 ? e : sign_of(e)) * per_elem;
        }
        return total / (double)n;
    case FP_LOSS_CROSSENTROPY:   /* xlogy: a zero target contributes nothing */
        for (size_t i = 0; i < n; i++) {
            if (y[i] != 0)
                total -= (double)(y[i] * log(out[i] + eps));
            if (d)
                d[i] = y[i] != 0 ? -y[i] / (out[i] + eps) * per_row : 0;
        }
        return total / (double)B;
    case FP_LOSS_LOGITCROSSENTROPY:
        for (size_t b = 0; b < B; b++)
            total += logit_crossentropy_row(d ? d + b * C : NULL, out + b * C, y + b * C, C, per_row);
        return total / (double)B;
    case FP_LOSS_BINARYCROSSENTROPY:
        for (size_t i = 0; i < n; i++) {
            real p = out[i] + eps, q = 1 - out[i] + eps, t = 1 - y[i];
            total -= (double)((y[i] != 0 ? y[i] * log(p) : 0) + (t != 0 ? t * log(q) : 0));
            if (d)
                d[i] = ((y[i] != 0 ? -y[i] / p : 0) + (t != 0 ? t / q : 0)) * per_elem;
        }
        return total / (double)n;
    case FP_LOSS_LOGITBINARYCROSSENTROPY:
        for (size_t i = 0; i < n; i++) {
            total += (double)((1 - y[i]) * out[i] - log_sigmoid(out[i]));
            if (d)
                d[i] = (exp(log_sigmoid(out[i])) - y[i]) * per_elem;
        }
        return total / (double)n;
    case FP_LOSS_COUNT:
        break;
    }
    return 0;
}
