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
#include "formulas.h"

#include <string.h>

/* The passes (passes.c, tangent_pass.c) clear buffers through this, so a
 * device build of them can supply its own. */
static void zero_reals(real *p, size_t n) { memset(p, 0, n * sizeof *p); }

/* out = act(pre); out may be pre. */
static void act_forward(act_kind act, real *out, const real *pre, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX) {
        for (size_t r = 0; r < rows; r++)
            softmax_row(out + r * cols, pre + r * cols, cols, act == ACT_LOGSOFTMAX);
    } else if (act == ACT_IDENTITY) {
        if (out != pre)
            memcpy(out, pre, n * sizeof *out);
    } else {   /* act is the same for every i: the compiler takes the switch out */
        for (size_t i = 0; i < n; i++)
            out[i] = act_value(act, pre[i]);
    }
}

/* dpre = dout * act'(pre), given pre and out = act(pre); dpre may be dout. */
static void act_backward(act_kind act, real *dpre, const real *dout, const real *pre,
                         const real *out, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    if (act == ACT_SOFTMAX || act == ACT_LOGSOFTMAX) {
        for (size_t r = 0; r < rows; r++)
            softmax_backward_row(act, dpre + r * cols, dout + r * cols, out + r * cols, cols);
    } else if (act == ACT_IDENTITY) {
        if (dpre != dout)
            memcpy(dpre, dout, n * sizeof *dpre);
    } else {
        for (size_t i = 0; i < n; i++)
            dpre[i] = dout[i] * act_grad(act, pre[i], out[i]);
    }
}
