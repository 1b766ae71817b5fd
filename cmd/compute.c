/* The setup predict and gradient share: options checked, model opened and laid
 * out, net built, X read and checked against the model. */
#include "compute.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double compute_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int compute_timed(int (*work)(void *ctx, fp_error *err), void *ctx, fp_error *err)
{
    const char *env = getenv("FLATPARAMS_TIME");
    double start = compute_now();
    if (work(ctx, err) < 0)
        return -1;
    if (!env)
        return 0;
    double first = compute_now() - start;
    int runs = atoi(env) > 0 ? atoi(env) : 1;
    double *times = malloc((size_t)runs * sizeof *times);
    if (!times)
        return fp_fail(err, "out of memory");
    for (int i = 0; i < runs; i++) {
        start = compute_now();
        if (work(ctx, err) < 0) {
            free(times);
            return -1;
        }
        times[i] = compute_now() - start;
    }
    qsort(times, (size_t)runs, sizeof *times, by_value);
    fprintf(stderr, "flatparams: compute seconds: first %.6f, median %.6f of %d more\n", first,
            times[runs / 2], runs);
    free(times);
    return 0;
}

fp_dtype compute_out_dtype(const cmd_opts *opts, const compute_session *s)
{
    return opts->dtype ? opts->dtype : compute_precision(s);
}

int compute_read_matrix(const cmd_opts *opts, const compute_session *s, const char *path,
                        fp_matrix *out, fp_error *err)
{
    fp_dtype precision = fp_net_precision(s->net);
    /* a .bin X or Y says its element type with --dtype (doc/contract.md §5), as VEC does */
    return fp_matrix_read(path, opts->in_format, opts->dtype, precision, out, err);
}

int compute_read_batch(const cmd_opts *opts, const compute_session *s, const char *path,
                       fp_matrix *out, fp_error *err)
{
    return fp_batch_read(path, opts->in_format, opts->dtype, fp_net_precision(s->net), out, err);
}

int compute_write(const cmd_opts *opts, const compute_session *s, const char *path, int rank,
                  uint64_t rows, uint64_t cols, const void *data, fp_error *err)
{
    fp_dtype precision = fp_net_precision(s->net), dtype = compute_out_dtype(opts, s);
    uint64_t shape[2] = { rows, cols }, n = rank == 2 ? rows * cols : rows;
    void *converted = NULL;
    if (dtype != precision) {
        if (!(converted = malloc(n * fp_dtype_size(dtype) + 1)))
            return fp_fail(err, "out of memory");
        fp_convert(converted, dtype, data, precision, n, NULL);
        data = converted;
    }
    fp_vec_writer *w = NULL;
    int rc = fp_vec_writer_open(&w, path, opts->format, dtype, rank, shape, err);
    if (rc == 0)
        rc = fp_vec_writer_write(w, data, n, err);
    if (rc == 0)
        rc = fp_vec_writer_commit(w, err);
    else if (w)
        fp_vec_writer_abort(w);
    free(converted);
    return rc;
}

int compute_write_doubles(const cmd_opts *opts, const compute_session *s, const char *path,
                          int rank, uint64_t rows, uint64_t cols, const double *values,
                          fp_error *err)
{
    uint64_t count = rank == 2 ? rows * cols : rows;
    void *data = malloc(count * 8 + 1);
    if (!data)
        return fp_fail(err, "out of memory");
    fp_convert(data, fp_net_precision(s->net), values, FP_F64, count, NULL);
    int rc = compute_write(opts, s, path, rank, rows, cols, data, err);
    free(data);
    return rc;
}

int compute_parse_seed(const cmd *c, const cmd_opts *opts, uint64_t *seed)
{
    *seed = FP_SEED_DEFAULT;
    if (!opts->seed)
        return 0;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(opts->seed, &end, 10);
    if (errno || *end || end == opts->seed || opts->seed[0] == '-' || opts->seed[0] == '+')
        return cmd_usage_error(c, "--seed takes a number from 0 to 18446744073709551615, got '%s'",
                               opts->seed);
    *seed = value;
    return 0;
}

const char *compute_model_name(const cmd_opts *opts)
{
    const char *slash = strrchr(opts->args[0], '/');
    return slash && slash[1] ? slash + 1 : opts->args[0];
}

int compute_parse_loss(const cmd *c, const cmd_opts *opts, fp_loss *loss)
{
    *loss = opts->y ? FP_LOSS_MSE : FP_LOSS_SUMSQ;
    if (opts->loss && fp_loss_parse(opts->loss, loss) < 0)
        return cmd_usage_error(c, "unknown --loss '%s' (%s)", opts->loss, fp_loss_names());
    if (fp_loss_needs_target(*loss) && !opts->y)
        return cmd_usage_error(c, "--loss %s needs -y Y", fp_loss_name(*loss));
    if (!fp_loss_needs_target(*loss) && opts->y)
        return cmd_usage_error(c, "--loss %s takes no -y", fp_loss_name(*loss));
    return 0;
}

static int check_options(const cmd *c, const cmd_opts *opts, fp_net_options *net_opts)
{
    if (!opts->x)
        return cmd_usage_error(c, "missing -x X (one sample per row)");
    int usage = cmd_check_vec_format(c, "in-format", opts->in_format);
    if (!usage && !opts->nested)   /* (--nested: a model format, gradient's to check) */
        usage = cmd_check_vec_format(c, "format", opts->format);
    if (usage)
        return usage;
    if (opts->precision)   /* f32 or f64: cmd_parse checked */
        net_opts->precision = fp_dtype_parse(opts->precision);
    if (opts->dtype && !fp_dtype_is_float(opts->dtype))
        return cmd_usage_error(c, "--dtype must be a real floating type here, got %s",
                               fp_dtype_name(opts->dtype));
    net_opts->device = opts->device;
    net_opts->train_mode = opts->train_mode;
    return 0;
}

/* --device auto: the GPU when one is usable and the job is big enough for it
 * to pay for starting CUDA (about half a second): a Hessian (n^2 work) from
 * 10,000 parameters, predict and gradient from 1,000,000; else the CPU. */
static const char *auto_device(const cmd *c, uint64_t n_params)
{
    uint64_t enough = !strcmp(c->name, "hessian") ? 10000 : 1000000;
    fp_error err;
    return n_params >= enough && fp_device_usable("cuda", &err) ? "cuda" : "cpu";
}

int compute_open_model(const cmd *c, cmd_opts *opts, compute_session *s)
{
    memset(s, 0, sizeof *s);
    s->net_opts.source = opts->args[0];
    int rc = check_options(c, opts, &s->net_opts);
    if (rc)
        return rc;
    fp_error err;
    if (cmd_open_model(opts->args[0], &s->tree, &err) < 0)
        return cmd_error(&err);
    s->have_tree = 1;
    cmd_warn_unmatched(opts, s->tree.root);
    if (fp_layout_build(s->tree.root, &opts->sel, &s->layout, &err) < 0) {
        compute_close(s);
        return cmd_error(&err);
    }
    s->have_layout = 1;
    return 0;
}

fp_dtype compute_precision(const compute_session *s)
{
    return s->net ? fp_net_precision(s->net)
                  : s->net_opts.precision ? s->net_opts.precision : s->layout.dtype;
}

int compute_open_net(const cmd *c, cmd_opts *opts, compute_session *s)
{
    fp_error err;
    if (s->net_opts.device && !strcmp(s->net_opts.device, "auto"))
        s->net_opts.device = auto_device(c, s->layout.n_elems);
    if (fp_net_build(&s->net, s->tree.root, &s->layout, &s->net_opts, &err) < 0)
        goto fail;
    if (compute_read_batch(opts, s, opts->x, &s->x, &err) < 0)
        goto fail;
    if (fp_net_check_input(s->net, &s->x, &err) < 0) {
        fp_fail_prefix(&err, opts->x);
        goto fail;
    }
    return 0;
fail:
    compute_close(s);
    return cmd_error(&err);
}

int compute_open(const cmd *c, cmd_opts *opts, compute_session *s)
{
    int rc = compute_open_model(c, opts, s);
    return rc ? rc : compute_open_net(c, opts, s);
}

void compute_close(compute_session *s)
{
    free(s->x.data);
    fp_net_free(s->net);
    if (s->have_layout)
        fp_layout_free(&s->layout);
    if (s->have_tree)
        fp_tree_free(&s->tree);
    memset(s, 0, sizeof *s);
}
