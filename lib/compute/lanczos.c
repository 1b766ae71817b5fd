/*
 * Eigenvalues of the Hessian without forming it: Lanczos on Hessian-vector
 * products, with full reorthogonalisation (classical Gram-Schmidt, twice) so
 * the Ritz values carry no ghost copies, and the tridiagonal eigenproblem by
 * implicit QL, tracking the last row of its eigenvectors for the residual
 * bounds |beta_m z_m,i| that decide convergence. The vectors are doubles
 * whatever the compute precision.
 */
#include "compute_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Implicit QL on the tridiagonal (d[0..m), off-diagonal e[0..m-1) with e[i]
 * between i and i+1): d becomes the eigenvalues, zlast the last components of
 * their eigenvectors. e is destroyed. -1 when it does not converge. */
static int tridiagonal_eigs(double *d, double *e, double *zlast, size_t m)
{
    for (size_t i = 0; i < m; i++)
        zlast[i] = i + 1 == m ? 1 : 0;
    if (m)
        e[m - 1] = 0;
    for (size_t l = 0; l < m; l++) {
        int iter = 0;
        size_t mm;
        do {
            for (mm = l; mm + 1 < m; mm++) {
                double dd = fabs(d[mm]) + fabs(d[mm + 1]);
                if (fabs(e[mm]) <= DBL_EPSILON * dd)
                    break;
            }
            if (mm == l)
                break;
            if (iter++ == 100)
                return -1;
            double g = (d[l + 1] - d[l]) / (2 * e[l]), r = hypot(g, 1);
            g = d[mm] - d[l] + e[l] / (g + copysign(r, g));
            double s = 1, c = 1, p = 0;
            size_t i;
            int deflated = 0;
            for (i = mm; i-- > l;) {
                double f = s * e[i], b = c * e[i];
                e[i + 1] = r = hypot(f, g);
                if (r == 0) {
                    d[i + 1] -= p;
                    e[mm] = 0;
                    deflated = 1;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2 * c * b;
                d[i + 1] = g + (p = s * r);
                g = c * r - b;
                f = zlast[i + 1];
                zlast[i + 1] = s * zlast[i] + c * f;
                zlast[i] = c * zlast[i] - s * f;
            }
            if (deflated)
                continue;
            d[l] -= p;
            e[l] = g;
            e[mm] = 0;
        } while (1);
    }
    return 0;
}

/* A Ritz value's rank: smaller keys are wanted first. */
typedef struct ranked {
    double key;
    size_t index;
} ranked;

static int by_key(const void *a, const void *b)
{
    double x = ((const ranked *)a)->key, y = ((const ranked *)b)->key;
    return (x > y) - (x < y);
}

static double wanted_key(fp_eig_which which, double value)
{
    return which == FP_EIG_LM ? -fabs(value) : which == FP_EIG_LA ? -value : value;
}

/* w -= Q_j (Q_j^T w), twice; returns |w|. */
static double orthogonalise(double *w, const double *Q, size_t j, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < j; i++) {
            const double *q = Q + i * n;
            double dot = 0;
            for (size_t t = 0; t < n; t++)
                dot += q[t] * w[t];
            for (size_t t = 0; t < n; t++)
                w[t] -= dot * q[t];
        }
    double norm = 0;
    for (size_t t = 0; t < n; t++)
        norm += w[t] * w[t];
    return sqrt(norm);
}

/* A random unit vector orthogonal to Q_j; 0 when Q_j spans everything. */
static double random_start(double *w, const double *Q, size_t j, size_t n, uint64_t *state)
{
    for (int tries = 0; tries < 5; tries++) {
        for (size_t t = 0; t < n; t++)
            w[t] = (double)(fp_splitmix64(state) >> 11) * 0x1p-53 - 0.5;
        double norm = orthogonalise(w, Q, j, n);
        if (norm > 1e-8) {
            for (size_t t = 0; t < n; t++)
                w[t] /= norm;
            return 1;
        }
    }
    return 0;
}

typedef struct lanczos {
    fp_net *net;
    const fp_matrix *x, *y;
    fp_loss loss;
    void *v, *hv;   /* one direction in the compute dtype */
} lanczos;

static int apply(lanczos *lz, const double *q, double *w, size_t n, fp_error *err)
{
    fp_dtype dt = lz->net->precision;
    fp_convert(lz->v, dt, q, FP_F64, n, NULL);
    if (fp_hvp(lz->net, lz->x, lz->y, lz->loss, lz->v, 1, lz->hv, err) < 0)
        return -1;
    fp_convert(w, FP_F64, lz->hv, dt, n, NULL);
    return 0;
}

/* Ritz values of T_m, the wanted k first in `order`; 1 when they converged. */
static int ritz(const double *alpha, const double *beta, size_t m, double beta_next, size_t k,
                fp_eig_which which, double tol, double *theta, double *zlast, double *e,
                ranked *order, int *converged, fp_error *err)
{
    memcpy(theta, alpha, m * sizeof *theta);
    memcpy(e, beta, m * sizeof *e);
    if (tridiagonal_eigs(theta, e, zlast, m) < 0)
        return fp_fail(err, "the tridiagonal eigenproblem did not converge");
    double top = 0;
    for (size_t i = 0; i < m; i++) {
        order[i] = (ranked){ wanted_key(which, theta[i]), i };
        top = fmax(top, fabs(theta[i]));
    }
    qsort(order, m, sizeof *order, by_key);
    *converged = m >= k;
    for (size_t i = 0; i < k && i < m; i++)
        if (fabs(beta_next * zlast[order[i].index]) > tol * fmax(top, DBL_MIN))
            *converged = 0;
    return 0;
}

int fp_hessian_eigs(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    size_t k, fp_eig_which which, double *values, size_t *iterations,
                    fp_progress_fn progress, void *ctx, fp_error *err)
{
    size_t n = (size_t)net->n_params;
    if (k > n || k == 0)
        return fp_fail(err, "%zu eigenvalues asked of a %zu x %zu Hessian (1 to %zu)", k, n,
                       n, n);
    size_t m_max = n, cap = ((size_t)2 << 30) / (8 * n);   /* at most 2 GiB of vectors */
    m_max = m_max < cap ? m_max : (cap > k + 2 ? cap : k + 2);
    double tol = net->precision == FP_F32 ? 1e-5 : 1e-11;
    size_t elem = fp_dtype_size(net->precision);
    double *Q = malloc(m_max * n * sizeof *Q), *w = malloc(n * sizeof *w);
    double *alpha = malloc(5 * m_max * sizeof *alpha);
    ranked *order = malloc(m_max * sizeof *order);
    lanczos lz = { net, x, y, loss, malloc(n * elem), malloc(n * elem) };
    int rc = -1, converged = 0;
    if (!Q || !w || !alpha || !order || !lz.v || !lz.hv) {
        fp_fail(err, "out of memory for %zu Lanczos vectors of %zu", m_max, n);
        goto done;
    }
    double *beta = alpha + m_max, *theta = beta + m_max, *zlast = theta + m_max, *e = zlast + m_max;
    uint64_t state = 0x5EED;
    random_start(Q, Q, 0, n, &state);
    size_t m = 0;
    while (m < m_max) {
        double *q = Q + m * n;
        if (apply(&lz, q, w, n, err) < 0)
            goto done;
        double a = 0;
        for (size_t t = 0; t < n; t++)
            a += q[t] * w[t];
        alpha[m] = a;
        double b = orthogonalise(w, Q, m + 1, n);
        m++;
        beta[m - 1] = b;   /* between m-1 and m */
        if (progress)   /* iterations until convergence: not known in advance */
            progress(ctx, m, 0);
        double scale = 0;
        for (size_t i = 0; i < m; i++)
            scale = fmax(scale, fabs(alpha[i]) + fabs(beta[i]));
        int breakdown = b <= 1e-12 * fmax(scale, DBL_MIN) || m == n;
        if (m >= k && (m % 4 == 0 || m == m_max || breakdown)) {
            if (ritz(alpha, beta, m, breakdown ? 0 : b, k, which, tol, theta, zlast, e, order,
                     &converged, err) < 0)
                goto done;
            /* after a breakdown the found values are exact, but the rest of R^n is unexplored */
            if ((converged && !breakdown && m >= (2 * k + 10 < n ? 2 * k + 10 : n)) || m == n
                || m == m_max)
                break;
        }
        if (m == m_max)
            break;
        if (breakdown) {
            beta[m - 1] = 0;
            if (!random_start(Q + m * n, Q, m, n, &state))
                break;
        } else {
            for (size_t t = 0; t < n; t++)
                Q[m * n + t] = w[t] / b;
        }
    }
    if (ritz(alpha, beta, m, 0, k, which, tol, theta, zlast, e, order, &converged, err) < 0)
        goto done;
    if (m < k) {
        fp_fail(err, "Lanczos found only %zu of %zu eigenvalues", m, k);
        goto done;
    }
    for (size_t i = 0; i < k; i++)
        values[i] = theta[order[i].index];
    if (iterations)
        *iterations = m;
    rc = 0;
done:
    free(Q);
    free(w);
    free(alpha);
    free(order);
    free(lz.v);
    free(lz.hv);
    return rc;
}
