/* The Hessian suite's helpers: loss cases and targets (as in test_compute.c,
 * where they are private), a BatchNorm layer, and Jacobi's eigenvalue method. */
#include "test_hessian.h"

#include <math.h>
#include <stdlib.h>

const t_loss_case t_loss_cases[] = {
    { FP_LOSS_SUMSQ, NULL, T_Y_NONE },
    { FP_LOSS_MSE, NULL, T_Y_REAL },
    { FP_LOSS_SSE, NULL, T_Y_REAL },
    { FP_LOSS_MAE, NULL, T_Y_REAL },
    { FP_LOSS_HUBER, NULL, T_Y_REAL },
    { FP_LOSS_CROSSENTROPY, "softmax", T_Y_ONEHOT },
    { FP_LOSS_CROSSENTROPY, "softmax", T_Y_LABELS },
    { FP_LOSS_CROSSENTROPY, "sigmoid", T_Y_PROB },
    { FP_LOSS_LOGITCROSSENTROPY, NULL, T_Y_ONEHOT },
    { FP_LOSS_LOGITCROSSENTROPY, NULL, T_Y_LABELS },
    { FP_LOSS_BINARYCROSSENTROPY, "sigmoid", T_Y_PROB },
    { FP_LOSS_LOGITBINARYCROSSENTROPY, NULL, T_Y_PROB },
};
const size_t t_n_loss_cases = sizeof t_loss_cases / sizeof t_loss_cases[0];

fp_matrix t_target(t_target_kind kind, uint64_t rows, uint64_t classes)
{
    if (kind == T_Y_REAL)   /* wide enough for both sides of huber's δ = 1 */
        return t_matrix(rows, classes, -2.5, 2.5);
    if (kind == T_Y_PROB) {
        fp_matrix y = t_matrix(rows, classes, 0, 1);
        ((double *)y.data)[0] = 0;   /* xlogy's zero branches */
        ((double *)y.data)[1] = 1;
        return y;
    }
    fp_matrix y = t_matrix(rows, kind == T_Y_LABELS ? 1 : classes, 0, 0);
    y.rank = kind == T_Y_LABELS ? 1 : 2;
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t label = (r * 7 + 1) % classes;
        if (kind == T_Y_LABELS)
            ((double *)y.data)[r] = (double)label;
        else
            ((double *)y.data)[r * classes + label] = 1;
    }
    return y;
}

fp_node *t_batchnorm(uint64_t n, const char *act, const char *const keys[4])
{
    fp_node *bn = t_layer("BatchNorm");
    t_put(bn, keys[0], t_array(n, 0, 0.5, 1.5));
    t_put(bn, keys[1], t_array(n, 0, -0.3, 0.3));
    t_put(bn, keys[2], t_array(n, 0, -0.2, 0.2));
    t_put(bn, keys[3], t_array(n, 0, 0.5, 1.5));
    t_put(bn, "eps", fp_node_new_number(1e-5));
    t_act(bn, act);
    return bn;
}

static int increasing(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void t_jacobi_eigenvalues(double *A, uint64_t n, double *values)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, total = 0;
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = 0; j < n; j++) {
                total += A[i * n + j] * A[i * n + j];
                if (i != j)
                    off += A[i * n + j] * A[i * n + j];
            }
        if (off <= 1e-32 * total)
            break;
        for (uint64_t p = 0; p < n; p++)
            for (uint64_t q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (apq == 0)
                    continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = copysign(1.0, theta) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (uint64_t k = 0; k < n; k++) {   /* columns p, q */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (uint64_t k = 0; k < n; k++) {   /* rows p, q */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (uint64_t i = 0; i < n; i++)
        values[i] = A[i * n + i];
    qsort(values, n, sizeof *values, increasing);
}
