/*
 * The Hessian's spectral density by stochastic Lanczos quadrature (Ubaru,
 * Chen & Saad 2017), as PyHessian computes it (Ghorbani, Krishnan & Xiao
 * 2019): per probe, Lanczos with full reorthogonalisation from a normalised
 * Rademacher vector, the tridiagonal's eigenvalues as nodes and the squared
 * first components of its eigenvectors as weights; then each node broadened
 * by a Gaussian onto a grid. lanczos.c's QL and reorthogonalisation do the
 * linear algebra; fp_hvp_reproducible the products, all of a group's probes
 * in one call per step.
 */
#include "lanczos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A group's Lanczos vectors (probes x steps x n doubles) stay under this. */
#define SLQ_GROUP_BYTES ((uint64_t)1 << 30)

void fp_slq_free(fp_slq *slq)
{
    free(slq->nodes);
    free(slq->weights);
    free(slq->counts);
    memset(slq, 0, sizeof *slq);
}

/* One group of probes in lock step. Q: group x steps x n; the rest scratch. */
typedef struct slq_group {
    fp_net *net;
    const fp_matrix *x, *y;
    fp_loss loss;
    size_t size, steps, n;
    double *Q, *w, *alpha, *beta;
    void *V, *HV;
    int *open;     /* the probe's Krylov space has not closed */
} slq_group;

/* Rademacher probes scaled to unit length, one after the other from the generator. */
static void start_probes(slq_group *g, uint64_t *state)
{
    double scale = 1 / sqrt((double)g->n);
    for (size_t p = 0; p < g->size; p++) {
        double *q = g->Q + p * g->steps * g->n;
        for (size_t t = 0; t < g->n; t++)
            q[t] = (fp_splitmix64(state) >> 63) ? scale : -scale;
        g->open[p] = 1;
    }
}

/* Lanczos step j of every open probe; counts[p] the steps each has made. */
static int step(slq_group *g, size_t j, size_t *counts, fp_error *err)
{
    size_t n = g->n, elem = fp_dtype_size(g->net->precision);
    for (size_t p = 0; p < g->size; p++) {
        char *v = (char *)g->V + p * n * elem;
        if (g->open[p])
            fp_convert(v, g->net->precision, g->Q + (p * g->steps + j) * n, FP_F64, n, NULL);
        else
            memset(v, 0, n * elem);   /* (the same passes, whatever closed) */
    }
    if (fp_hvp_reproducible(g->net, g->x, g->y, g->loss, g->V, g->size, g->HV, err) < 0)
        return -1;
    /* where beta counts as zero: the products' rounding, relative to T's size */
    double closed = g->net->precision == FP_F32 ? 1e-6 : 1e-12;
    for (size_t p = 0; p < g->size; p++) {
        if (!g->open[p])
            continue;
        double *Qp = g->Q + p * g->steps * n, *alpha = g->alpha + p * g->steps;
        double *beta = g->beta + p * g->steps, a = 0, scale = 0;
        fp_convert(g->w, FP_F64, (char *)g->HV + p * n * elem, g->net->precision, n, NULL);
        for (size_t t = 0; t < n; t++)
            a += Qp[j * n + t] * g->w[t];
        alpha[j] = a;
        double b = fp_lanczos_orthogonalise(g->w, Qp, j + 1, n);
        counts[p] = j + 1;
        for (size_t i = 0; i <= j; i++)
            scale = fmax(scale, fabs(alpha[i]) + (i ? fabs(beta[i - 1]) : 0));
        if (j + 1 == g->steps || b <= closed * fmax(scale, 1e-300)) {
            g->open[p] = 0;
            continue;
        }
        beta[j] = b;
        for (size_t t = 0; t < n; t++)
            Qp[(j + 1) * n + t] = g->w[t] / b;
    }
    return 0;
}

static int by_node(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

/* A probe's T (count x count) into its nodes and weights, by increasing node. */
static int quadrature(const double *alpha, const double *beta, size_t count, double *nodes,
                      double *weights, double *scratch, fp_error *err)
{
    double *e = scratch, *first = scratch + count, *pairs = first + count;
    memcpy(nodes, alpha, count * sizeof *nodes);
    memcpy(e, beta, count * sizeof *e);
    if (fp_tridiagonal_eigs(nodes, e, first, 0, 1, count) < 0)
        return fp_fail(err, "the tridiagonal eigenproblem did not converge");
    for (size_t i = 0; i < count; i++) {
        pairs[2 * i] = nodes[i];
        pairs[2 * i + 1] = first[i] * first[i];
    }
    qsort(pairs, count, 2 * sizeof *pairs, by_node);
    for (size_t i = 0; i < count; i++) {
        nodes[i] = pairs[2 * i];
        weights[i] = pairs[2 * i + 1];
    }
    return 0;
}

int fp_hessian_slq(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                   size_t probes, size_t steps, uint64_t seed, fp_slq *out,
                   fp_progress_fn progress, void *ctx, fp_error *err)
{
    size_t n = (size_t)net->n_params, elem = fp_dtype_size(net->precision);
    memset(out, 0, sizeof *out);
    if (n == 0)
        return fp_fail(err, "no parameters vary: the Hessian is 0 x 0 and has no spectrum");
    if (probes == 0 || steps == 0)
        return fp_fail(err, "the density needs at least one probe and one step");
    steps = steps < n ? steps : n;
    uint64_t per_probe = (uint64_t)steps * n * sizeof(double);
    size_t group = (size_t)(SLQ_GROUP_BYTES / per_probe ? SLQ_GROUP_BYTES / per_probe : 1);
    group = group < probes ? group : probes;
    out->probes = probes;
    out->steps = steps;
    out->nodes = calloc(probes * steps, sizeof *out->nodes);
    out->weights = calloc(probes * steps, sizeof *out->weights);
    out->counts = calloc(probes, sizeof *out->counts);
    slq_group g = { net, x, y, loss, group, steps, n, malloc(group * per_probe + 1),
                    malloc(n * sizeof(double) + 1), calloc(2 * group * steps, sizeof(double)),
                    NULL, malloc(group * n * elem + 1), malloc(group * n * elem + 1),
                    malloc(group * sizeof(int)) };
    double *scratch = malloc(4 * steps * sizeof *scratch + 1);
    int rc = 0;
    if (!out->nodes || !out->weights || !out->counts || !g.Q || !g.w || !g.alpha || !g.V || !g.HV
        || !g.open || !scratch)
        rc = fp_fail(err, "out of memory for %zu Lanczos vectors of %zu", group * steps, n);
    else
        g.beta = g.alpha + group * steps;
    uint64_t state = seed, reported = 0, total = (uint64_t)probes * steps;
    for (size_t first = 0; rc == 0 && first < probes; first += group) {
        g.size = probes - first < group ? probes - first : group;
        memset(g.alpha, 0, 2 * group * steps * sizeof(double));
        start_probes(&g, &state);
        for (size_t j = 0; rc == 0 && j < steps; j++) {
            rc = step(&g, j, out->counts + first, err);
            reported = (uint64_t)first * steps + (uint64_t)(j + 1) * g.size;
            if (progress)
                progress(ctx, reported, total);
            int any = 0;
            for (size_t p = 0; p < g.size; p++)
                any |= g.open[p];
            if (!any)
                break;
        }
        for (size_t p = 0; rc == 0 && p < g.size; p++)
            rc = quadrature(g.alpha + p * steps, g.beta + p * steps, out->counts[first + p],
                            out->nodes + (first + p) * steps, out->weights + (first + p) * steps,
                            scratch, err);
    }
    if (rc == 0 && progress && reported < total)   /* probes that closed early: the end */
        progress(ctx, total, total);
    free(g.Q);
    free(g.w);
    free(g.alpha);
    free(g.V);
    free(g.HV);
    free(g.open);
    free(scratch);
    if (rc < 0)
        fp_slq_free(out);
    return rc;
}

void fp_slq_density(const fp_slq *slq, size_t points, double sigma, double *grid,
                    double *density, double *sigma_used)
{
    double lo = 0, hi = 0;
    for (size_t p = 0; p < slq->probes; p++) {   /* nodes are increasing per probe */
        const double *nodes = slq->nodes + p * slq->steps;
        lo += nodes[0];
        hi += nodes[slq->counts[p] - 1];
    }
    lo = lo / (double)slq->probes - FP_DENSITY_MARGIN;
    hi = hi / (double)slq->probes + FP_DENSITY_MARGIN;
    double variance = sigma > 0 ? sigma * sigma : FP_DENSITY_VARIANCE * fmax(1, hi - lo);
    if (sigma_used)
        *sigma_used = sqrt(variance);
    double norm = 1 / sqrt(2 * M_PI * variance), reach = 40 * sqrt(variance), total = 0;
    for (size_t i = 0; i < points; i++) {
        grid[i] = lo + (hi - lo) * (double)i / (double)(points - 1);
        double sum = 0;
        for (size_t p = 0; p < slq->probes; p++)
            for (size_t j = 0; j < slq->counts[p]; j++) {
                double d = grid[i] - slq->nodes[p * slq->steps + j];
                if (fabs(d) < reach)   /* (beyond: below double's smallest) */
                    sum += slq->weights[p * slq->steps + j] * norm * exp(-d * d / (2 * variance));
            }
        density[i] = sum / (double)slq->probes;
        total += density[i];
    }
    double area = total * (hi - lo) / (double)(points - 1);
    for (size_t i = 0; i < points && area > 0; i++)
        density[i] /= area;
}
