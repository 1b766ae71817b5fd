/*
 * Eigenvalues (and eigenvectors) of the Hessian without forming it: Lanczos
 * on Hessian-vector products, with full reorthogonalisation (classical
 * Gram-Schmidt, twice) so the Ritz values carry no ghost copies, and the
 * tridiagonal eigenproblem by implicit QL, tracking the last row of its
 * eigenvectors for the residual bounds |beta_m z_m,i| that decide
 * convergence (all of them when the Ritz vectors are wanted). The vectors
 * are doubles whatever the compute precision. The QL and the
 * orthogonalisation serve density.c's quadrature too (lanczos.h).
 */
#include "lanczos.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int fp_tridiagonal_eigs(double *d, double *e, double *Z, size_t first_row, size_t rows, size_t m)
{
    memset(Z, 0, rows * m * sizeof *Z);
    for (size_t r = 0; r < rows; r++)
        Z[r * m + first_row + r] = 1;
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
                for (size_t row = 0; row < rows; row++) {
                    double *z = Z + row * m;
                    f = z[i + 1];
                    z[i + 1] = s * z[i] + c * f;
                    z[i] = c * z[i] - s * f;
                }
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

/* order: the m Ritz values, the k wanted first (FP_EIG_BE: the k/2 smallest,
 * then the k - k/2 largest, so the k read increasing), the rest after them. */
static void rank_ritz(fp_eig_which which, const double *theta, size_t m, size_t k, ranked *order,
                      ranked *spare)
{
    for (size_t i = 0; i < m; i++)
        order[i] = (ranked){ wanted_key(which, theta[i]), i };
    qsort(order, m, sizeof *order, by_key);
    if (which != FP_EIG_BE || m < k)
        return;
    size_t low = k / 2, high = k - low;
    memcpy(spare, order, m * sizeof *order);
    memcpy(order + low, spare + m - high, high * sizeof *order);
    memcpy(order + k, spare + low, (m - k) * sizeof *order);
}

double fp_lanczos_orthogonalise(double *w, const double *Q, size_t j, size_t n)
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

#define orthogonalise fp_lanczos_orthogonalise

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
    if (fp_tridiagonal_eigs(theta, e, zlast, m ? m - 1 : 0, m ? 1 : 0, m) < 0)
        return fp_fail(err, "the tridiagonal eigenproblem did not converge");
    double top = 0;
    for (size_t i = 0; i < m; i++)
        top = fmax(top, fabs(theta[i]));
    rank_ritz(which, theta, m, k, order, order + m);
    *converged = m >= k;
    for (size_t i = 0; i < k && i < m; i++)
        if (fabs(beta_next * zlast[order[i].index]) > tol * fmax(top, DBL_MIN))
            *converged = 0;
    return 0;
}

/* The Ritz vectors of the k wanted values (order's first k) into vectors (k x n):
 * Q^T z for the eigenvectors z of T_m, each with its largest component positive. */
static int ritz_vectors(const double *alpha, const double *beta, const double *Q, size_t m,
                        size_t n, size_t k, const ranked *order, double *vectors, fp_error *err)
{
    double *d = malloc((m * m + 2 * m) * sizeof *d), *e = d ? d + m : NULL, *Z = d ? e + m : NULL;
    if (!d)
        return fp_fail(err, "out of memory for the eigenvectors of a %zu x %zu tridiagonal", m, m);
    memcpy(d, alpha, m * sizeof *d);
    memcpy(e, beta, m * sizeof *e);
    if (fp_tridiagonal_eigs(d, e, Z, 0, m, m) < 0) {
        free(d);
        return fp_fail(err, "the tridiagonal eigenproblem did not converge");
    }
    for (size_t i = 0; i < k; i++) {
        double *v = vectors + i * n, largest = 0;
        memset(v, 0, n * sizeof *v);
        for (size_t j = 0; j < m; j++) {
            double z = Z[j * m + order[i].index];
            for (size_t t = 0; t < n; t++)
                v[t] += z * Q[j * n + t];
        }
        for (size_t t = 0; t < n; t++)
            largest = fabs(v[t]) > fabs(largest) ? v[t] : largest;
        if (largest < 0)   /* a sign of one's own: the same vector on every run */
            for (size_t t = 0; t < n; t++)
                v[t] = -v[t];
    }
    free(d);
    return 0;
}

int fp_hessian_eigs(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    size_t k, fp_eig_which which, double *values, size_t *iterations,
                    fp_progress_fn progress, void *ctx, fp_error *err)
{
    return fp_hessian_eigpairs(net, x, y, loss, k, which, values, NULL, iterations, progress, ctx,
                               err);
}

int fp_hessian_eigpairs(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                        size_t k, fp_eig_which which, double *values, double *vectors,
                        size_t *iterations, fp_progress_fn progress, void *ctx, fp_error *err)
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
    ranked *order = malloc(2 * m_max * sizeof *order);   /* and rank_ritz's spare */
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
    if (vectors && ritz_vectors(alpha, beta, Q, m, n, k, order, vectors, err) < 0)
        goto done;
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
