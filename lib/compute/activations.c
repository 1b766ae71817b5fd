/*
 * Activations, forward and backward, over rows x cols row-major buffers.
 * Written over `real` and compiled once per precision (compute_f32.c,
 * compute_f64.c). Definitions follow NNlib (Flux): leakyrelu slope 0.01, elu
 * alpha 1, gelu in its exact erf form (PyTorch's default, not NNlib's tanh
 * approximation), softmax and logsoftmax over the last dimension (each row).
 * At the kinks the derivative is the one-sided value Zygote and PyTorch use:
 * relu'(0) = 0, leakyrelu'(0) = 0.01, elu'(0) = 1.
 */
#include "compute_internal.h"
#include "real.h"

#include <string.h>

/* The passes (passes.c, tangent_pass.c) clear buffers through this, so a
 * device build of them can supply its own. */
static void zero_reals(real *p, size_t n) { memset(p, 0, n * sizeof *p); }

static const real SELU_LAMBDA = R1(1.0507009873554804934193349852946);
static const real SELU_ALPHA = R1(1.6732632423543772848170429916717);
static const real LEAKY_SLOPE = R1(0.01);

static inline real sigmoid(real x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    real e = exp(x);
    return e / (1 + e);
}

/* Φ and φ, the standard normal's distribution and density, for gelu. */
static inline real normal_cdf(real x)
{
    return R1(0.5) * (1 + erf(x * R1(0.70710678118654752440)));
}

static inline real normal_pdf(real x)
{
    return exp(R1(-0.5) * x * x) * R1(0.39894228040143267794);
}

static void softmax_rows(real *out, const real *pre, size_t rows, size_t cols, int log_form)
{
    for (size_t r = 0; r < rows; r++) {
        const real *x = pre + r * cols;
        real *y = out + r * cols;
        real top = x[0];
        for (size_t c = 1; c < cols; c++)
            top = x[c] > top ? x[c] : top;
        real sum = 0;
        for (size_t c = 0; c < cols; c++)
            sum += exp(x[c] - top);
        if (log_form) {
            real shift = top + log(sum);
            for (size_t c = 0; c < cols; c++)
                y[c] = x[c] - shift;
        } else {
            for (size_t c = 0; c < cols; c++)
                y[c] = exp(x[c] - top) / sum;
        }
    }
}

/* out = act(pre); out may be pre. */
static void act_forward(act_kind act, real *out, const real *pre, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    switch (act) {
    case ACT_IDENTITY:
        if (out != pre)
            memcpy(out, pre, n * sizeof *out);
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            out[i] = pre[i] > 0 ? pre[i] : 0;
        break;
    case ACT_LEAKYRELU:
        for (size_t i = 0; i < n; i++)
            out[i] = pre[i] > 0 ? pre[i] : LEAKY_SLOPE * pre[i];
        break;
    case ACT_ELU:
        for (size_t i = 0; i < n; i++)
            out[i] = pre[i] > 0 ? pre[i] : expm1(pre[i]);
        break;
    case ACT_SELU:
        for (size_t i = 0; i < n; i++)
            out[i] = SELU_LAMBDA * (pre[i] > 0 ? pre[i] : SELU_ALPHA * expm1(pre[i]));
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++)
            out[i] = pre[i] * normal_cdf(pre[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            out[i] = sigmoid(pre[i]);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++)
            out[i] = tanh(pre[i]);
        break;
    case ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++)
            out[i] = log1p(exp(-fabs(pre[i]))) + (pre[i] > 0 ? pre[i] : 0);
        break;
    case ACT_SWISH:
        for (size_t i = 0; i < n; i++)
            out[i] = pre[i] * sigmoid(pre[i]);
        break;
    case ACT_SOFTMAX:
    case ACT_LOGSOFTMAX:
        softmax_rows(out, pre, rows, cols, act == ACT_LOGSOFTMAX);
        break;
    case ACT_COUNT:
        break;
    }
}

/* dpre = dout * act'(pre), given pre and out = act(pre); dpre may be dout. */
static void act_backward(act_kind act, real *dpre, const real *dout, const real *pre,
                         const real *out, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    switch (act) {
    case ACT_IDENTITY:
        if (dpre != dout)
            memcpy(dpre, dout, n * sizeof *dpre);
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            dpre[i] = pre[i] > 0 ? dout[i] : 0;
        break;
    case ACT_LEAKYRELU:
        for (size_t i = 0; i < n; i++)
            dpre[i] = pre[i] > 0 ? dout[i] : LEAKY_SLOPE * dout[i];
        break;
    case ACT_ELU:
        for (size_t i = 0; i < n; i++)
            dpre[i] = pre[i] > 0 ? dout[i] : dout[i] * exp(pre[i]);
        break;
    case ACT_SELU:
        for (size_t i = 0; i < n; i++)
            dpre[i] = SELU_LAMBDA * dout[i] * (pre[i] > 0 ? 1 : SELU_ALPHA * exp(pre[i]));
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++)
            dpre[i] = dout[i] * (normal_cdf(pre[i]) + pre[i] * normal_pdf(pre[i]));
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dpre[i] = dout[i] * out[i] * (1 - out[i]);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dpre[i] = dout[i] * (1 - out[i] * out[i]);
        break;
    case ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++)
            dpre[i] = dout[i] * sigmoid(pre[i]);
        break;
    case ACT_SWISH:
        for (size_t i = 0; i < n; i++) {
            real s = sigmoid(pre[i]);
            dpre[i] = dout[i] * (s + pre[i] * s * (1 - s));
        }
        break;
    case ACT_SOFTMAX:
    case ACT_LOGSOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            const real *y = out + r * cols, *dy = dout + r * cols;
            real *dx = dpre + r * cols;
            real sum = 0;
            if (act == ACT_SOFTMAX) {
                for (size_t c = 0; c < cols; c++)
                    sum += dy[c] * y[c];
                for (size_t c = 0; c < cols; c++)
                    dx[c] = y[c] * (dy[c] - sum);
            } else {
                for (size_t c = 0; c < cols; c++)
                    sum += dy[c];
                for (size_t c = 0; c < cols; c++)
                    dx[c] = dy[c] - exp(y[c]) * sum;
            }
        }
        break;
    case ACT_COUNT:
        break;
    }
}
