/* flatparams hessian's spectral modes: eigenvalues (and eigenvectors) by
 * Lanczos, the diagonal and the trace, the trace estimated by Hutchinson or
 * Hutch++, and the spectral density by stochastic Lanczos quadrature, as a
 * table or a plot. The computation is the library's (fp_curvature.h); this
 * file checks options and writes results. */
#include "hessian.h"

#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PyHessian's density defaults: 100 Lanczos steps (iter), 1 probe (n_v). */
enum { DENSITY_STEPS = 100, DENSITY_PROBES = 1 };

static const struct {
    const char *name;
    fp_eig_which which;
} whiches[] = { { "LM", FP_EIG_LM }, { "LA", FP_EIG_LA }, { "SA", FP_EIG_SA },
                { "BE", FP_EIG_BE }, { "both", FP_EIG_BE } };

static int parse_which(const char *text, fp_eig_which *which)
{
    *which = FP_EIG_LM;
    for (size_t i = 0; text && i < sizeof whiches / sizeof *whiches; i++)
        if (!strcmp(text, whiches[i].name)) {
            *which = whiches[i].which;
            return 0;
        }
    return text ? -1 : 0;
}

/* --sigma's value: a positive finite number, or 0 when absent; -1 when bad. */
static double parse_sigma(const char *text)
{
    if (!text)
        return 0;
    char *end;
    double sigma = strtod(text, &end);
    return *end || end == text || !isfinite(sigma) || sigma <= 0 ? -1 : sigma;
}

/* An option that only `mode` (a flag of it, given or not) takes. */
static int needs(int given, int mode, const char *option, const char *modes)
{
    if (given && !mode)
        return cmd_usage_error(&cmd_hessian, "%s goes with %s", option, modes);
    return 0;
}

int hessian_check_spectral(const cmd_opts *o)
{
    fp_eig_which which;
    int usage = needs(!!o->which, !!o->eigs, "--which", "--eigs");
    usage = usage ? usage : needs(!!o->eigvecs, !!o->eigs, "--eigvecs", "--eigs");
    usage = usage ? usage : needs(!!o->seed, o->hutchinson || o->hutchpp || o->density, "--seed",
                                  "--hutchinson, --hutchpp or --density");
    usage = usage ? usage : needs(!!o->probes, o->density, "--probes", "--density");
    usage = usage ? usage : needs(!!o->steps, o->density, "--steps", "--density");
    usage = usage ? usage : needs(!!o->sigma, o->density, "--sigma", "--density");
    usage = usage ? usage : needs(!!o->points, o->density, "--points", "--density");
    if (usage)
        return usage;
    if (parse_which(o->which, &which) < 0)
        return cmd_usage_error(&cmd_hessian, "--which takes LM, LA, SA or BE (both), got '%s'",
                               o->which);
    if (o->hutchpp && o->hutchpp < 3)
        return cmd_usage_error(&cmd_hessian, "--hutchpp needs at least 3 products, got %ld",
                               o->hutchpp);
    if (o->points == 1)
        return cmd_usage_error(&cmd_hessian, "--points needs at least 2 grid points, got 1");
    if (parse_sigma(o->sigma) < 0)
        return cmd_usage_error(&cmd_hessian, "--sigma takes a positive number, got '%s'",
                               o->sigma);
    if (o->eigvecs && fp_plot_wanted(o->eigvecs))
        return cmd_usage_error(&cmd_hessian, "--eigvecs %s: eigenvectors are a matrix file, "
                                             "not a plot", o->eigvecs);
    if (o->output && fp_plot_wanted(o->output) && !o->density)
        return cmd_usage_error(&cmd_hessian, "-o %s: only --density is drawn as a plot",
                               o->output);
    uint64_t seed;
    return compute_parse_seed(&cmd_hessian, o, &seed);
}

static const char *output(const job *j)
{
    return j->opts->output ? j->opts->output : "-";
}

static int write_doubles(job *j, const double *values, uint64_t count, fp_error *err)
{
    return compute_write_doubles(j->opts, j->s, output(j), 1, count, 1, values, err);
}

/* --eigs K: the values to -o, the vectors (K x n) to --eigvecs, written first. */
static int write_eigs(job *j, fp_error *err)
{
    uint64_t n = fp_net_n_params(j->s->net);
    const cmd_opts *o = j->opts;
    if ((uint64_t)o->eigs > n)
        return fp_fail(err, "%s: --eigs %ld: the Hessian is %llu x %llu, so at most %llu "
                       "eigenvalues", o->args[0], o->eigs, (unsigned long long)n,
                       (unsigned long long)n, (unsigned long long)n);
    fp_eig_which which;
    parse_which(o->which, &which);
    size_t k = (size_t)o->eigs;
    double *values = malloc(k * sizeof *values);
    double *vectors = o->eigvecs ? malloc(k * n * sizeof *vectors + 1) : NULL;
    cmd_progress_begin(&j->prog, "Lanczos iterations");
    int rc = values && (vectors || !o->eigvecs)
                 ? fp_hessian_eigpairs(j->s->net, &j->s->x, j->y, j->loss, k, which, values,
                                       vectors, NULL, cmd_progress_show, &j->prog, err)
                 : fp_fail(err, "out of memory for %zu eigenvectors of %llu", k,
                           (unsigned long long)n);
    cmd_progress_end(&j->prog, rc == 0);
    if (rc == 0 && vectors)
        rc = compute_write_doubles(o, j->s, o->eigvecs, 2, k, n, vectors, err);
    if (rc == 0)
        rc = write_doubles(j, values, k, err);
    free(values);
    free(vectors);
    return rc;
}

/* --hutchinson N, --hutchpp N: the estimate, its standard error on stderr. */
static int write_estimate(job *j, fp_error *err)
{
    const cmd_opts *o = j->opts;
    double estimate, std_error;
    uint64_t seed;
    compute_parse_seed(&cmd_hessian, o, &seed);   /* (checked) */
    int rc = o->hutchpp ? fp_hessian_hutchpp(j->s->net, &j->s->x, j->y, j->loss,
                                             (uint64_t)o->hutchpp, seed, &estimate, &std_error, err)
                        : fp_hessian_hutchinson(j->s->net, &j->s->x, j->y, j->loss,
                                                (uint64_t)o->hutchinson, seed, &estimate,
                                                &std_error, err);
    if (rc < 0)
        return -1;
    if (cmd_progress_on(&j->prog))
        fprintf(stderr, "hessian: trace estimate %.10g ± %.3g (standard error, %s%ld %s)\n",
                estimate, std_error, o->hutchpp ? "Hutch++, " : "",
                o->hutchpp ? o->hutchpp : o->hutchinson, o->hutchpp ? "products" : "probes");
    return write_doubles(j, &estimate, 1, err);
}

/* --density: the estimate on its grid, as a table (eigenvalue, density) or a plot. */
static int write_density(job *j, fp_error *err)
{
    const cmd_opts *o = j->opts;
    size_t points = o->points ? (size_t)o->points : FP_DENSITY_POINTS;
    size_t probes = o->probes ? (size_t)o->probes : DENSITY_PROBES;
    size_t steps = o->steps ? (size_t)o->steps : DENSITY_STEPS;
    uint64_t seed, n = fp_net_n_params(j->s->net);
    compute_parse_seed(&cmd_hessian, o, &seed);   /* (checked) */
    fp_slq slq;
    cmd_progress_begin(&j->prog, "Lanczos steps");
    int rc = fp_hessian_slq(j->s->net, &j->s->x, j->y, j->loss, probes, steps, seed, &slq,
                            cmd_progress_show, &j->prog, err);
    cmd_progress_end(&j->prog, rc == 0);
    if (rc < 0)
        return fp_fail_prefix(err, o->args[0]);
    double *table = malloc(points * 3 * sizeof *table), sigma;
    if (!table) {
        fp_slq_free(&slq);
        return fp_fail(err, "out of memory for %zu grid points", points);
    }
    double *grid = table + 2 * points, *density = table + points;
    fp_slq_density(&slq, points, parse_sigma(o->sigma), grid, density, &sigma);
    if (cmd_progress_on(&j->prog))
        fprintf(stderr, "hessian: density estimated from %zu probes x %zu Lanczos steps, "
                "Gaussians of sigma %.3g\n", slq.probes, slq.steps, sigma);
    if (fp_plot_wanted(output(j))) {
        char title[512];
        snprintf(title, sizeof title, "Hessian eigenvalue density: %s (n = %llu)",
                 compute_model_name(o), (unsigned long long)n);
        fp_plot plot = { title, { "eigenvalue", 0, 0, 0 }, { "density (log scale)", 0, 0, 1 },
                         0, 0, 0 };
        rc = fp_plot_line(output(j), &plot, grid, density, points, err);
    } else {
        for (size_t i = 0; i < points; i++) {   /* rows of (eigenvalue, density), in place */
            double value = density[i];
            table[2 * i] = grid[i];
            table[2 * i + 1] = value;
        }
        rc = compute_write_doubles(o, j->s, output(j), 2, points, 2, table, err);
    }
    free(table);
    fp_slq_free(&slq);
    return rc;
}

/* The diagonal into j->diag, for compute_timed. */
static int diag_once(void *ctx, fp_error *err)
{
    job *j = ctx;
    return fp_hessian_diag(j->s->net, &j->s->x, j->y, j->loss, j->diag, cmd_progress_show,
                           &j->prog, err);
}

int hessian_write_spectral(job *j, fp_error *err)
{
    uint64_t n = fp_net_n_params(j->s->net);
    const cmd_opts *o = j->opts;
    if (o->eigs)
        return write_eigs(j, err);
    if (o->hutchinson || o->hutchpp)
        return write_estimate(j, err);
    if (o->density)
        return write_density(j, err);
    double *diag = malloc(n * sizeof *diag + 1), trace = 0;   /* --diag, --trace */
    j->diag = diag;   /* FLATPARAMS_TIME: the computation alone, timed */
    int rc = diag ? compute_timed(diag_once, j, err) : fp_fail(err, "out of memory");
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        trace += diag[i];
    if (rc == 0)
        rc = o->trace ? write_doubles(j, &trace, 1, err) : write_doubles(j, diag, n, err);
    free(diag);
    return rc;
}
