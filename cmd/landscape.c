/* flatparams landscape: the loss on a 1-D or 2-D grid of points θ + a d1
 * (+ b d2) around the model's parameters θ, along random filter-normalised
 * directions (Li et al. 2018), the Hessian's top eigenvectors, or directions
 * from vector files; a table, or a line or contour plot. The directions and
 * the losses are the library's (fp_curvature.h); this file parses and wires. */
#include "compute.h"

#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_POINTS = 21, CONTOUR_LEVELS = 12 };

typedef enum { DIRS_RANDOM, DIRS_EIGEN, DIRS_FILES } dirs_kind;

typedef struct landscape {
    cmd_opts *opts;
    compute_session s;
    fp_matrix y;
    fp_loss loss;
    dirs_kind kind;
    char files[2][4096];   /* --directions FILE[,FILE] */
    size_t dims, points;
    double lo, hi;
    uint64_t seed;
    cmd_progress prog;
} landscape;

/* --range A:B, A < B: 0, else -1. */
static int parse_range(const char *text, double *lo, double *hi)
{
    char *end;
    errno = 0;
    *lo = strtod(text, &end);
    if (end == text || *end != ':' || errno)
        return -1;
    const char *second = end + 1;
    *hi = strtod(second, &end);
    return end == second || *end || errno || !isfinite(*lo) || !isfinite(*hi) || !(*lo < *hi)
               ? -1 : 0;
}

static int check_options(landscape *l)
{
    const cmd_opts *o = l->opts;
    const char *spec = o->directions ? o->directions : "random";
    size_t files = 0;
    l->kind = !strcmp(spec, "random") ? DIRS_RANDOM : !strcmp(spec, "eigen") ? DIRS_EIGEN
                                                                              : DIRS_FILES;
    if (l->kind == DIRS_FILES) {
        const char *comma = strchr(spec, ',');
        if (comma && strchr(comma + 1, ','))
            return cmd_usage_error(&cmd_landscape, "--directions takes random, eigen, or one or "
                                                   "two vector files FILE[,FILE], got '%s'", spec);
        size_t first = comma ? (size_t)(comma - spec) : strlen(spec);
        if (first == 0 || first >= sizeof l->files[0] || (comma && !comma[1])
            || (comma && strlen(comma + 1) >= sizeof l->files[1]))
            return cmd_usage_error(&cmd_landscape, "--directions '%s': a file name is empty or "
                                                   "too long", spec);
        snprintf(l->files[0], sizeof l->files[0], "%.*s", (int)first, spec);
        if (comma)
            snprintf(l->files[1], sizeof l->files[1], "%s", comma + 1);
        files = comma ? 2 : 1;
    }
    if (o->dims && o->dims != 1 && o->dims != 2)
        return cmd_usage_error(&cmd_landscape, "--dims takes 1 or 2, got %ld", o->dims);
    if (files && o->dims && (size_t)o->dims != files)
        return cmd_usage_error(&cmd_landscape, "--dims %ld, but --directions names %zu file%s",
                               o->dims, files, files == 1 ? "" : "s");
    l->dims = files ? files : o->dims ? (size_t)o->dims : 2;
    if (o->seed && l->kind != DIRS_RANDOM)
        return cmd_usage_error(&cmd_landscape, "--seed goes with --directions random");
    if (o->points == 1)
        return cmd_usage_error(&cmd_landscape, "--points needs at least 2 grid points, got 1");
    l->points = o->points ? (size_t)o->points : DEFAULT_POINTS;
    l->lo = -1, l->hi = 1;
    if (o->range && parse_range(o->range, &l->lo, &l->hi) < 0)
        return cmd_usage_error(&cmd_landscape, "--range takes A:B with A < B, got '%s'", o->range);
    return compute_parse_seed(&cmd_landscape, o, &l->seed);
}

/* The directions, dims x n doubles. */
static int make_directions(landscape *l, double *dirs, fp_error *err)
{
    fp_net *net = l->s.net;
    uint64_t n = fp_net_n_params(net);
    const fp_matrix *y = l->opts->y ? &l->y : NULL;
    if (l->kind == DIRS_RANDOM)
        return fp_landscape_random(net, &l->s.layout, l->dims, l->seed, dirs, err);
    if (l->kind == DIRS_EIGEN) {
        double values[2];
        if (l->dims > n)
            return fp_fail(err, "%s: --directions eigen: the Hessian is %llu x %llu", l->opts->args[0],
                           (unsigned long long)n, (unsigned long long)n);
        cmd_progress_begin(&l->prog, "Lanczos iterations");
        int rc = fp_hessian_eigpairs(net, &l->s.x, y, l->loss, l->dims, FP_EIG_LM, values, dirs,
                                     NULL, cmd_progress_show, &l->prog, err);
        cmd_progress_end(&l->prog, rc == 0);
        if (rc == 0 && cmd_progress_on(&l->prog))
            fprintf(stderr, "landscape: eigenvalues of the directions: %.10g%s%.10g\n", values[0],
                    l->dims == 2 ? ", " : "", l->dims == 2 ? values[1] : NAN);
        return rc;
    }
    for (size_t d = 0; d < l->dims; d++) {
        fp_matrix v;
        if (fp_matrix_read(l->files[d], l->opts->in_format, l->opts->dtype, FP_F64, &v, err) < 0)
            return -1;
        int rc = 0;
        if (v.rows * v.cols != n || (v.rank == 2 && v.rows != 1 && v.cols != 1))
            rc = fp_fail(err, "%s: expected a direction of length %llu, got %llu", l->files[d],
                         (unsigned long long)n, (unsigned long long)(v.rows * v.cols));
        else
            memcpy(dirs + d * n, v.data, n * sizeof *dirs);
        free(v.data);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* "direction 1 (random, filter-normalised)" and the like. */
static void axis_label(const landscape *l, size_t d, char *buf, size_t cap)
{
    if (l->kind == DIRS_RANDOM)
        snprintf(buf, cap, "direction %zu (random, filter-normalised)", d + 1);
    else if (l->kind == DIRS_EIGEN)
        snprintf(buf, cap, "direction %zu (Hessian eigenvector %zu)", d + 1, d + 1);
    else {
        const char *slash = strrchr(l->files[d], '/');
        snprintf(buf, cap, "direction %zu (%s)", d + 1, slash ? slash + 1 : l->files[d]);
    }
}

static int write_result(landscape *l, const double *coords, const double *losses, fp_error *err)
{
    const char *out = l->opts->output ? l->opts->output : "-";
    size_t points = l->points, rows = l->dims == 1 ? points : points * points;
    if (fp_plot_wanted(out)) {
        char title[512], xlabel[512], ylabel[512], loss[64];
        snprintf(title, sizeof title, "Loss landscape: %s (n = %llu)", compute_model_name(l->opts),
                 (unsigned long long)fp_net_n_params(l->s.net));
        snprintf(loss, sizeof loss, "loss (%s)", fp_loss_name(l->loss));
        axis_label(l, 0, xlabel, sizeof xlabel);
        axis_label(l, 1, ylabel, sizeof ylabel);
        fp_plot plot = { title, { xlabel, l->lo, l->hi, 0 }, { l->dims == 1 ? loss : ylabel, 0, 0, 0 },
                         1, 0, 0 };
        return l->dims == 1 ? fp_plot_line(out, &plot, coords, losses, points, err)
                            : fp_plot_contour(out, &plot, coords, points, coords, points, losses,
                                              CONTOUR_LEVELS, loss, err);
    }
    size_t cols = l->dims + 1;
    double *table = malloc(rows * cols * sizeof *table + 1);
    if (!table)
        return fp_fail(err, "out of memory for %zu rows", rows);
    for (size_t r = 0; r < rows; r++) {   /* (a, loss) or (a, b, loss), a the outer */
        table[r * cols] = coords[l->dims == 1 ? r : r / points];
        if (l->dims == 2)
            table[r * cols + 1] = coords[r % points];
        table[r * cols + cols - 1] = losses[r];
    }
    int rc = compute_write_doubles(l->opts, &l->s, out, 2, rows, cols, table, err);
    free(table);
    return rc;
}

static int run(cmd_opts *opts)
{
    landscape l = { .opts = opts };
    int rc = compute_parse_loss(&cmd_landscape, opts, &l.loss);
    if (rc == 0)
        rc = check_options(&l);
    if (rc == 0)
        rc = compute_open(&cmd_landscape, opts, &l.s);
    if (rc)
        return rc;
    fp_error err;
    cmd_progress_init(&l.prog, opts, "landscape");
    if (opts->y) {
        rc = compute_read_batch(opts, &l.s, opts->y, &l.y, &err);
        if (rc == 0 && (rc = fp_net_check_target(l.s.net, &l.s.x, &l.y, l.loss, &err)) < 0)
            fp_fail_prefix(&err, opts->y);
    }
    uint64_t n = fp_net_n_params(l.s.net);
    size_t total = l.dims == 1 ? l.points : l.points * l.points;
    double *dirs = malloc(l.dims * n * sizeof *dirs + 1), *coords = malloc(l.points * sizeof *coords);
    double *losses = malloc(total * sizeof *losses);
    if (rc == 0 && (!dirs || !coords || !losses))
        rc = fp_fail(&err, "out of memory for %zu directions of %llu", l.dims,
                     (unsigned long long)n);
    if (rc == 0 && n == 0)
        rc = fp_fail(&err, "%s: no parameters vary: a landscape needs at least one", opts->args[0]);
    if (rc == 0)
        rc = make_directions(&l, dirs, &err);
    for (size_t i = 0; rc == 0 && i < l.points; i++)
        coords[i] = l.lo + (l.hi - l.lo) * (double)i / (double)(l.points - 1);
    if (rc == 0) {
        cmd_progress_begin(&l.prog, "losses");
        rc = fp_landscape_grid(l.s.net, &l.s.x, opts->y ? &l.y : NULL, l.loss, dirs, l.dims,
                               coords, l.points, losses, cmd_progress_show, &l.prog, &err);
        cmd_progress_end(&l.prog, rc == 0);
    }
    if (rc == 0)
        rc = write_result(&l, coords, losses, &err);
    free(dirs);
    free(coords);
    free(losses);
    free(l.y.data);
    compute_close(&l.s);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_landscape = {
    .name = "landscape",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,x,y,loss,directions,dims,range,points,seed,include,exclude,all,dtype,"
               "format,precision,device,quiet,train-mode,in-format,allow-external,arch,progress",
    .usage =
        "landscape MODEL -x X [-y Y] [--loss L] [-o OUT] [--directions random|eigen|F[,F]]\n"
        "        [--dims 1|2] [--range A:B] [--points N] [--seed S] [--precision f32|f64]\n"
        "\n"
        "Evaluates the loss on a grid around the model's parameters θ: L(θ + a d1) for N\n"
        "values of a (1-D), or L(θ + a d1 + b d2) for N x N pairs (2-D), a and b evenly\n"
        "from A to B. Writes a table, one row per point: (a, loss) or (a, b, loss), a the\n"
        "outer loop; or, when OUT ends in .png or .svg, a line plot (1-D) or a contour\n"
        "plot (2-D, θ marked with a cross).\n"
        "\n"
        "  -x X, -y Y, --loss L   as for gradient (sumsq without -y, else mse by default)\n"
        "  -o OUT          output file (default: standard output, as text)\n"
        "  --directions D  random (default): Gaussian directions, filter-normalised as Li et\n"
        "                  al. (2018): each filter's part rescaled to the norm of the same\n"
        "                  part of θ, a filter being an output neuron of a Dense weight\n"
        "                  (a row of out x in, a column of a Keras kernel) and every other\n"
        "                  array as a whole; eigen: the Hessian's eigenvectors of largest\n"
        "                  |eigenvalue| (unit length, Lanczos); or one or two vector files\n"
        "                  of length n, FILE[,FILE], taken as they are\n"
        "  --dims 1|2      directions, so grid dimensions (default 2; files: their count)\n"
        "  --range A:B     the grid's coordinates a and b (default -1:1)\n"
        "  --points N      grid points per dimension (default 21)\n"
        "  --seed S        the random directions' seed (default 24301)\n"
        "  --precision P   compute in f32 or f64 (default: the flat vector's type)\n"
        "  --train-mode    BatchNorm normalises with the batch's own statistics\n"
        "  --dtype T       element type of the table (default: the compute precision)\n"
        "  --format F      force the table's format (npy, txt, csv, bin, h5, json)\n"
        "  --in-format F   force the format of X, Y and the direction files\n"
        "  --include GLOB, --exclude GLOB, --all   which parameters move, as for gradient\n"
        "  --device D      cpu (default), cuda, or auto, as for gradient\n"
        "  --allow-external, --arch JSON   as for gradient\n"
        "  --progress      progress also when stderr is not a terminal\n"
        "  -q, --quiet     no progress\n",
};
