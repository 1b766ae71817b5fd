/* The Hessian suite's helper: Jacobi's eigenvalue method. */
#include "test_hessian.h"

#include <math.h>
#include <stdlib.h>

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
