/*
 * Trace estimators from Hessian-vector products: Hutchinson's (the mean of
 * z^T H z over Rademacher probes z) and Hutch++ (Meyer, Musco, Musco &
 * Woodruff 2021: the trace of a sketched low-rank part exactly, Hutchinson's
 * on the rest). Probes come from a seed and go through fp_hvp_reproducible in
 * blocks sized by memory alone, so a seed gives the same bytes on any thread
 * count.
 */
#include "compute_internal.h"
#include "fp_curvature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Probes per block of products: their directions and products near this. */
#define PROBE_BLOCK_BYTES ((uint64_t)64 << 20)

static size_t probe_block(const fp_net *net, uint64_t probes)
{
    uint64_t per = 2 * (net->n_params ? net->n_params : 1) * fp_dtype_size(net->precision);
    uint64_t block = PROBE_BLOCK_BYTES / per;
    block = block ? block : 1;
    return (size_t)(block < probes ? block : (probes ? probes : 1));
}

/* count Rademacher values (±1) in the compute dtype, from the generator. */
static void rademacher(void *V, fp_dtype dtype, size_t count, uint64_t *state)
{
    for (size_t i = 0; i < count; i++) {
        double s = (fp_splitmix64(state) >> 63) ? 1.0 : -1.0;
        if (dtype == FP_F32)
            ((float *)V)[i] = (float)s;
        else
            ((double *)V)[i] = s;
    }
}

/* v . w for two rows of n of the compute dtype, in double. */
static double dot_row(fp_dtype dtype, const void *v, const void *w, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += dtype == FP_F32 ? (double)((const float *)v)[i] * ((const float *)w)[i]
                               : ((const double *)v)[i] * ((const double *)w)[i];
    return sum;
}

/* A sample's mean and the standard error of that mean. */
static void mean_and_error(double sum, double sum_sq, uint64_t count, double *mean, double *error)
{
    *mean = count ? sum / (double)count : 0;
    if (!error)
        return;
    double var = count > 1 ? (sum_sq - (double)count * *mean * *mean) / (double)(count - 1) : 0;
    *error = count > 1 && var > 0 ? sqrt(var / (double)count) : 0;
}

int fp_hessian_hutchinson(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                          uint64_t probes, uint64_t seed, double *estimate, double *std_error,
                          fp_error *err)
{
    size_t n = (size_t)net->n_params, elem = fp_dtype_size(net->precision);
    size_t block = probe_block(net, probes);
    void *V = malloc(block * n * elem + 1), *HV = malloc(block * n * elem + 1);
    if (!V || !HV) {
        free(V);
        free(HV);
        return fp_fail(err, "out of memory for %zu probes", block);
    }
    uint64_t state = seed;
    double sum = 0, sum_sq = 0;
    int rc = 0;
    for (uint64_t done = 0; done < probes && rc == 0; done += block) {
        size_t m = probes - done < block ? (size_t)(probes - done) : block;
        rademacher(V, net->precision, m * n, &state);
        if ((rc = fp_hvp_reproducible(net, x, y, loss, V, m, HV, err)) < 0)
            break;
        for (size_t r = 0; r < m; r++) {
            double q = dot_row(net->precision, (char *)V + r * n * elem, (char *)HV + r * n * elem, n);
            sum += q;
            sum_sq += q * q;
        }
    }
    free(V);
    free(HV);
    if (rc < 0)
        return -1;
    mean_and_error(sum, sum_sq, probes, estimate, std_error);
    return 0;
}

/* Q's rows made orthonormal in place (Gram-Schmidt, twice per row); rows
 * that fall to nothing (H S of lower rank) are dropped. The rows kept. */
static size_t orthonormalise(double *Q, size_t rows, size_t n)
{
    size_t kept = 0;
    for (size_t r = 0; r < rows; r++) {
        double *q = Q + kept * n, before = 0;
        if (r != kept)
            memmove(q, Q + r * n, n * sizeof *q);
        for (size_t t = 0; t < n; t++)
            before += q[t] * q[t];
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < kept; j++) {
                const double *p = Q + j * n;
                double dot = 0;
                for (size_t t = 0; t < n; t++)
                    dot += p[t] * q[t];
                for (size_t t = 0; t < n; t++)
                    q[t] -= dot * p[t];
            }
        double norm = 0;
        for (size_t t = 0; t < n; t++)
            norm += q[t] * q[t];
        if (!(norm > 1e-24 * before) || norm == 0)
            continue;   /* in the span already */
        norm = sqrt(norm);
        for (size_t t = 0; t < n; t++)
            q[t] /= norm;
        kept++;
    }
    return kept;
}

/* HV = H V for rows of doubles (converted through the compute dtype, in V and HV). */
static int products_of(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                       const double *rows, size_t count, void *V, void *HV, fp_error *err)
{
    fp_convert(V, net->precision, rows, FP_F64, count * net->n_params, NULL);
    return fp_hvp_reproducible(net, x, y, loss, V, count, HV, err);
}

int fp_hessian_hutchpp(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                       uint64_t products, uint64_t seed, double *estimate, double *std_error,
                       fp_error *err)
{
    if (products < 3)
        return fp_fail(err, "Hutch++ needs at least 3 products, got %llu",
                       (unsigned long long)products);
    size_t n = (size_t)net->n_params, elem = fp_dtype_size(net->precision);
    size_t sketch = (size_t)(products / 3), rest = (size_t)(products - 2 * sketch);
    size_t most = sketch > rest ? sketch : rest;
    double *Q = malloc(most * n * sizeof *Q + 1);
    void *V = malloc(most * n * elem + 1), *HV = malloc(most * n * elem + 1);
    int rc = Q && V && HV ? 0 : fp_fail(err, "out of memory for %zu directions of Hutch++", most);
    uint64_t state = seed;
    double low_rank = 0, sum = 0, sum_sq = 0;
    size_t rank = 0;
    if (rc == 0) {   /* Q: an orthonormal basis of H S */
        rademacher(V, net->precision, sketch * n, &state);
        rc = fp_hvp_reproducible(net, x, y, loss, V, sketch, HV, err);
    }
    if (rc == 0) {
        fp_convert(Q, FP_F64, HV, net->precision, sketch * n, NULL);
        rank = orthonormalise(Q, sketch, n);
        rc = rank ? products_of(net, x, y, loss, Q, rank, V, HV, err) : 0;
    }
    for (size_t r = 0; rc == 0 && r < rank; r++) {   /* tr(Q^T H Q) */
        const char *hq = (const char *)HV + r * n * elem;
        for (size_t t = 0; t < n; t++)
            low_rank += Q[r * n + t] * (net->precision == FP_F32 ? ((const float *)hq)[t]
                                                                 : ((const double *)hq)[t]);
    }
    double *G = rc == 0 ? malloc(rest * n * sizeof *G + 1) : NULL;
    if (rc == 0 && !G)
        rc = fp_fail(err, "out of memory for %zu directions of Hutch++", rest);
    if (rc == 0) {   /* the rest: G projected off Q, Hutchinson's estimate */
        rademacher(V, net->precision, rest * n, &state);
        fp_convert(G, FP_F64, V, net->precision, rest * n, NULL);
        for (size_t g = 0; g < rest; g++)
            for (size_t r = 0; r < rank; r++) {
                double dot = 0, *row = G + g * n;
                for (size_t t = 0; t < n; t++)
                    dot += Q[r * n + t] * row[t];
                for (size_t t = 0; t < n; t++)
                    row[t] -= dot * Q[r * n + t];
            }
        rc = products_of(net, x, y, loss, G, rest, V, HV, err);
    }
    for (size_t g = 0; rc == 0 && g < rest; g++) {
        double q = dot_row(net->precision, (char *)V + g * n * elem, (char *)HV + g * n * elem, n);
        sum += q;
        sum_sq += q * q;
    }
    free(G);
    free(Q);
    free(V);
    free(HV);
    if (rc < 0)
        return -1;
    double mean;
    mean_and_error(sum, sum_sq, rest, &mean, std_error);
    *estimate = low_rank + mean;
    return 0;
}
