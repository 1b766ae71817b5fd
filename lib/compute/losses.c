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
#include "formulas.h"

/* The loss of out against y (NULL for sumsq); with d non-NULL also dL/dout. */
static double loss_forward_backward(fp_loss loss, real *d, const real *out, const real *y,
                                    size_t B, size_t C)
{
    size_t n = B * C;
    double total = 0;
    if (loss == FP_LOSS_LOGITCROSSENTROPY) {
        for (size_t b = 0; b < B; b++)
            total += logit_crossentropy_row(d ? d + b * C : NULL, out + b * C, y + b * C, C,
                                            1 / (real)B);
    } else {
        for (size_t i = 0; i < n; i++) {
            real di;
            total += loss_term(loss, out[i], y ? y[i] : 0, &di, n, B);
            if (d)
                d[i] = di;
        }
    }
    return loss_total(loss, total, n, B);
}
