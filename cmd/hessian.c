/* flatparams hessian: the exact Hessian of the loss with respect to the flat
 * vector, or a part of it: rows, the diagonal, a product with a vector,
 * eigenvalues, the trace.
 *
 * The full matrix is computed block of rows by block of rows (a block is one
 * cache-sized tangent pass per host thread, the passes side by side; on a GPU
 * one pass of up to 4 GiB of scratch), only the upper triangle's part of each
 * block (fp_hessian_row_blocks with FP_ROWS_UPPER). The rows go into memory for
 * matrices up to 256 MiB, else into an unlinked scratch file beside the output
 * in column tiles; a second pass writes each block of rows with its left part
 * read back from the strip of tiles above it, so the matrix is exactly
 * symmetric and the host never holds it whole. A GPU with room for the whole
 * matrix keeps it in its own memory, symmetrises it there the same way and
 * hands out finished rows (fp_hessian_full_on_device). */
#include "hessian.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t block_rows(compute_session *s, uint64_t n)
{
    const char *env = getenv("FLATPARAMS_BLOCK_ROWS");   /* tests: force many blocks */
    size_t k = env && atol(env) > 0 ? (size_t)atol(env)
                                    : fp_hessian_block(s->net, &s->x, FP_HESSIAN_BLOCK_BYTES);
    return k < n ? k : (size_t)(n ? n : 1);
}

/* Parses "A:B" (either side may be empty, as in a Python slice; B empty: *end
 * is UINT64_MAX, the last row); -1 with the reason when it is not that shape. */
static int parse_rows(const char *text, uint64_t *begin, uint64_t *end, fp_error *err)
{
    const char *colon = strchr(text, ':');
    char *stop;
    if (!colon)
        return fp_fail(err, "--rows %s: expected A:B (0-based, B excluded)", text);
    errno = 0;
    *begin = colon == text ? 0 : strtoull(text, &stop, 10);
    if (colon != text && (stop != colon || errno || text[0] == '-'))
        return fp_fail(err, "--rows %s: A is not a row number", text);
    *end = colon[1] ? strtoull(colon + 1, &stop, 10) : UINT64_MAX;
    if (colon[1] && (*stop || errno || colon[1] == '-'))
        return fp_fail(err, "--rows %s: B is not a row number", text);
    if (*begin > *end)
        return fp_fail(err, "--rows %s: the first row is after the end", text);
    return 0;
}

/* The rows of an n x n Hessian: -1 when they go past its end. */
static int check_rows(const char *text, uint64_t n, uint64_t begin, uint64_t *end, fp_error *err)
{
    *end = *end == UINT64_MAX ? n : *end;
    if (*end > n || begin > *end)
        return fp_fail(err, "--rows %s: the Hessian has %llu rows (0:%llu)", text,
                       (unsigned long long)n, (unsigned long long)n);
    return 0;
}


/* Opens the writer for rows x cols (or a vector when cols == 0). */
static int open_writer(job *j, fp_vec_writer **w, uint64_t rows, uint64_t cols, fp_error *err)
{
    uint64_t shape[2] = { rows, cols };
    return fp_vec_writer_open(w, j->opts->output ? j->opts->output : "-", j->opts->format,
                              compute_out_dtype(j->opts, j->s), cols ? 2 : 1, shape, err);
}

/* Writes count elements of the compute dtype, converted to the output dtype. */
static int write_converted(job *j, fp_vec_writer *w, void *data, uint64_t count, void *scratch,
                           fp_error *err)
{
    fp_dtype dtype = compute_out_dtype(j->opts, j->s), precision = fp_net_precision(j->s->net);
    if (dtype != precision) {
        fp_convert(scratch, dtype, data, precision, count, NULL);
        data = scratch;
    }
    return fp_vec_writer_write(w, data, count, err);
}

static int finish(fp_vec_writer *w, int rc, fp_error *err)
{
    if (rc == 0)
        return fp_vec_writer_commit(w, err);
    if (w)
        fp_vec_writer_abort(w);
    return rc;
}

/* A sink for fp_hessian_row_blocks: rows into one buffer (or, for the full
 * matrix in memory, in place), then out to the writer or the scratch file. */
typedef struct row_sink {
    job *j;
    uint64_t begin, end;   /* the rows asked for, for the progress line */
    void *rows, *conv;
    fp_vec_writer *w;      /* write_rows: rows straight to the output */
    struct scratch *sc;    /* write_full: the upper triangle's rows */
    void *tiled;           /* write_full to a file: a block of rows in column tiles */
    size_t wide;           /* ... of this many columns; a GPU's whole matrix: its block */
} row_sink;

/* Rows [begin, end) straight to the writer (no symmetrisation: other rows are not here). */
static void *rows_where(void *ctx, uint64_t at, uint64_t stop);
static int rows_ready(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err);

static int write_rows(job *j, uint64_t begin, uint64_t end, fp_error *err)
{
    uint64_t n = fp_net_n_params(j->s->net);
    size_t block = block_rows(j->s, end - begin), elem = 8;
    row_sink rs = { j, begin, end, malloc(block * n * elem + 1), malloc(block * n * elem + 1),
                    NULL, NULL, NULL, 0 };
    fp_row_sink sink = { rows_where, rows_ready, &rs };
    int rc = rs.rows && rs.conv ? open_writer(j, &rs.w, end - begin, n, err)
                                : fp_fail(err, "out of memory for %zu rows", block);
    if (rc == 0)
        rc = fp_hessian_row_blocks(j->s->net, &j->s->x, j->y, j->loss, begin, end, block, 0,
                                   &sink, err);
    free(rs.rows);
    free(rs.conv);
    return finish(rs.w, rc, err);
}

/* An unlinked scratch file beside the output (or in $TMPDIR for standard output). */
static int scratch_file(const char *output, fp_error *err)
{
    char path[PATH_MAX];
    const char *slash = output && strcmp(output, "-") ? strrchr(output, '/') : NULL;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (!output || !strcmp(output, "-"))
        snprintf(path, sizeof path, "%s/.flatparams-hessian-XXXXXX", tmp);
    else if (slash)
        snprintf(path, sizeof path, "%.*s/.flatparams-hessian-XXXXXX", (int)(slash - output), output);
    else
        snprintf(path, sizeof path, ".flatparams-hessian-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return fp_fail(err, "%s: cannot create the scratch file: %s", path, strerror(errno));
    unlink(path);
    return fd;
}

/* Where the upper triangle's rows wait for the second pass: in memory when the
 * matrix is at most SCRATCH_IN_MEMORY bytes, else an unlinked file. */
#define SCRATCH_IN_MEMORY ((uint64_t)256 << 20)
typedef struct scratch {
    int fd;
    char *mem;
    const char *output;   /* what the file is beside, for messages ("-": standard output) */
} scratch;

static int io_all(scratch *s, void *buf, size_t bytes, off_t at, int writing, fp_error *err)
{
    if (s->mem) {
        if (writing)
            memcpy(s->mem + at, buf, bytes);
        else
            memcpy(buf, s->mem + at, bytes);
        return 0;
    }
    for (size_t done = 0; done < bytes;) {
        ssize_t got = writing ? pwrite(s->fd, (char *)buf + done, bytes - done, at + (off_t)done)
                              : pread(s->fd, (char *)buf + done, bytes - done, at + (off_t)done);
        if (got <= 0)
            return fp_fail(err, "%s: the Hessian's scratch file: %s",
                           s->output && strcmp(s->output, "-") ? s->output : "standard output",
                           got < 0 ? strerror(errno) : "unexpected end");
        done += (size_t)got;
    }
    return 0;
}

/* Asks for transparent huge pages over the whole pages inside [p, p + bytes). */
static void advise_huge(void *p, size_t bytes)
{
    uintptr_t page = 2u << 20, lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

/* The scratch file keeps each block of rows (k rows from a multiple of the
 * block) in column tiles W wide, one after the other: tile t (columns t*W to
 * t*W + w, w = W but at the end) is k x w at element k * t*W of the block. So
 * the second pass reads the strip S[block rows, at:at+W] in one piece, not one
 * read per row. */
static void tile_rows(void *dst, const void *src, uint64_t k, uint64_t n, uint64_t W, size_t elem)
{
    for (uint64_t t0 = 0; t0 < n; t0 += W) {
        uint64_t w = n - t0 < W ? n - t0 : W;
        for (uint64_t r = 0; r < k; r++)
            memcpy((char *)dst + (k * t0 + r * w) * elem, (const char *)src + (r * n + t0) * elem,
                   w * elem);
    }
}

static void untile_rows(void *dst, const void *src, uint64_t k, uint64_t n, uint64_t W,
                        size_t elem)
{
    for (uint64_t t0 = 0; t0 < n; t0 += W) {
        uint64_t w = n - t0 < W ? n - t0 : W;
        for (uint64_t r = 0; r < k; r++)
            memcpy((char *)dst + (r * n + t0) * elem, (const char *)src + (k * t0 + r * w) * elem,
                   w * elem);
    }
}

static void *rows_where(void *ctx, uint64_t at, uint64_t stop)
{
    row_sink *rs = ctx;
    size_t elem = fp_dtype_size(fp_net_precision(rs->j->s->net));
    (void)stop;   /* in memory, the full matrix's rows go in place */
    return rs->sc && rs->sc->mem ? rs->sc->mem + at * fp_net_n_params(rs->j->s->net) * elem
                                 : rs->rows;
}

static int rows_ready(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err)
{
    row_sink *rs = ctx;
    uint64_t n = fp_net_n_params(rs->j->s->net);
    size_t elem = fp_dtype_size(fp_net_precision(rs->j->s->net));
    int rc = 0;
    if (!rs->sc) {   /* rows straight to the output (opened by write_rows, or run for the
                        full matrix; a GPU's whole matrix: the conversion buffer made here) */
        if (!rs->conv && !(rs->conv = malloc(rs->wide * n * 8 + 1)))
            rc = fp_fail(err, "out of memory for %zu rows", rs->wide);
        if (rc == 0)
            rc = write_converted(rs->j, rs->w, rows, (stop - at) * n, rs->conv, err);
    } else if (rs->sc->mem && rows != rows_where(ctx, at, stop))   /* a GPU's own memory */
        memcpy(rows_where(ctx, at, stop), rows, (stop - at) * n * elem);
    else if (!rs->sc->mem) {   /* the file: in column tiles */
        tile_rows(rs->tiled, rows, stop - at, n, rs->wide, elem);
        rc = io_all(rs->sc, rs->tiled, (stop - at) * n * elem, (off_t)(at * n * elem), 1, err);
    }
    cmd_progress_show(&rs->j->prog, stop - rs->begin, rs->end - rs->begin);
    return rc;
}

/* FLATPARAMS_TIME (benchmarks): the seconds of each phase of the full matrix. */
static void phase_time(const char *what, double *since)
{
    double now = compute_now();
    if (getenv("FLATPARAMS_TIME"))
        fprintf(stderr, "flatparams: %s seconds: %.6f\n", what, now - *since);
    *since = now;
}

/* The second pass reads this many bytes of rows at a time (and as many of the
 * strip above them): few, long reads, whatever the compute blocks are. */
#define PASS2_BYTES ((uint64_t)64 << 20)

/* The full matrix. First the upper triangle's rows (each block of rows from its
 * own first row on: the layers whose columns lie all to the left are skipped)
 * into the scratch, then the matrix out, W rows at a time: H[i,j] is S[i,j]
 * right of i's block, S[j,i] left of it, their average inside, so H is exactly
 * symmetric. */
static int write_full(job *j, fp_error *err)
{
    uint64_t n = fp_net_n_params(j->s->net);
    size_t elem = fp_dtype_size(fp_net_precision(j->s->net));
    if (n == 0) {   /* nothing selected: a 0 x 0 matrix, as torch's hessian gives */
        fp_vec_writer *w = NULL;
        uint64_t shape[2] = { 0, 0 };
        int rc = fp_vec_writer_open(&w, j->opts->output ? j->opts->output : "-", j->opts->format,
                                    compute_out_dtype(j->opts, j->s), 2, shape, err);
        return finish(w, rc, err);
    }
    size_t block = block_rows(j->s, n);
    uint64_t per = PASS2_BYTES / (block * n * elem);
    size_t wide = block * (size_t)(per ? per : 1);   /* W: whole compute blocks */
    const char *forced = getenv("FLATPARAMS_SCRATCH_FILE");   /* tests: =N, N blocks wide */
    if (forced && atol(forced) > 0)
        wide = block * (size_t)atol(forced);
    wide = wide < n ? wide : (size_t)n;
    scratch sc = { -1, NULL, j->opts->output };
    double clock = compute_now();
    /* A GPU with room for the whole matrix symmetrises it in its own memory and
     * hands out finished rows: no scratch, no second pass here. */
    row_sink direct = { j, 0, n, NULL, NULL, j->full, NULL, NULL, block };   /* conv: made there */
    fp_row_sink to_output = { rows_where, rows_ready, &direct };
    int on_device = fp_hessian_full_on_device(j->s->net, &j->s->x, j->y, j->loss, block,
                                              &to_output, err);
    free(direct.conv);
    if (on_device != 1) {
        phase_time("whole matrix on the GPU, written", &clock);
        j->full = NULL;   /* finished here */
        return finish(direct.w, on_device, err);
    }
    int in_memory = n * n * elem <= SCRATCH_IN_MEMORY && !getenv("FLATPARAMS_SCRATCH_FILE");
    if (in_memory && !(sc.mem = malloc(n * n * elem + 1)))   /* (tests force the file) */
        return fp_fail(err, "out of memory for the %llu x %llu matrix", (unsigned long long)n,
                       (unsigned long long)n);
    if (sc.mem)   /* fewer page faults on the first touch (where THP is on madvise) */
        advise_huge(sc.mem, n * n * elem);
    if (!sc.mem && (sc.fd = scratch_file(j->opts->output, err)) < 0)
        return -1;
    /* the file's second pass reads rows and strips into buffers; memory needs none */
    char *rows = sc.mem ? NULL : malloc(wide * n * elem + 1);
    char *strip = sc.mem ? NULL : malloc(wide * n * elem + 1);
    char *conv = malloc(wide * n * 8 + 1);
    fp_vec_writer *w = j->full;
    j->full = NULL;   /* finished here */
    int rc = (sc.mem || (rows && strip)) && conv ? 0
                                                  : fp_fail(err, "out of memory for %zu rows", wide);
    row_sink rs = { j, 0, n, rows, conv, NULL, &sc, strip, wide };
    fp_row_sink sink = { rows_where, rows_ready, &rs };
    if (rc == 0)
        rc = fp_hessian_row_blocks(j->s->net, &j->s->x, j->y, j->loss, 0, n, block, FP_ROWS_UPPER,
                                   &sink, err);
    phase_time("rows", &clock);
    if (rc == 0 && sc.mem) {
        fp_hessian_symmetrise(sc.mem, n, block, fp_net_precision(j->s->net));
        phase_time("symmetrise", &clock);
        for (uint64_t at = 0; rc == 0 && at < n; at += wide) {
            size_t W = n - at < wide ? (size_t)(n - at) : wide;
            rc = write_converted(j, w, sc.mem + at * n * elem, W * n, conv, err);
        }
        phase_time("write", &clock);
        goto done;
    }
    cmd_progress_begin(&j->prog, "symmetrised rows");
    for (uint64_t at = 0; rc == 0 && at < n; at += wide) {
        size_t W = n - at < wide ? (size_t)(n - at) : wide;
        /* the rows, their blocks tiled (into conv, free until the writing) */
        rc = io_all(&sc, conv, W * n * elem, (off_t)(at * n * elem), 0, err);
        for (uint64_t b = at; rc == 0 && b < at + W; b += block)
            untile_rows(rows + (b - at) * n * elem, conv + (b - at) * n * elem,
                        n - b < block ? n - b : block, n, wide, elem);
        for (uint64_t b = 0; rc == 0 && b < at + W; b += block) {   /* S[c, at:at+W], c < at+W */
            uint64_t k = n - b < block ? n - b : block;             /* a block's tile */
            rc = io_all(&sc, strip + b * W * elem, k * W * elem, (off_t)((b * n + k * at) * elem),
                        0, err);
        }
        if (rc < 0)
            break;
        fp_hessian_symmetrise_rows(rows, strip, W, block, n, at, fp_net_precision(j->s->net));
        rc = write_converted(j, w, rows, W * n, conv, err);
        cmd_progress_show(&j->prog, at + W, n);
    }
    phase_time("second pass (read back, symmetrise, write)", &clock);
done:
    if (sc.fd >= 0)
        close(sc.fd);
    free(sc.mem);
    free(rows);
    free(strip);
    free(conv);
    return finish(w, rc, err);
}

static int write_hvp(job *j, fp_error *err)
{
    fp_matrix v;
    uint64_t n = fp_net_n_params(j->s->net);
    if (compute_read_matrix(j->opts, j->s, j->opts->hvp, &v, err) < 0)
        return -1;
    int rc = 0;
    if (v.rows * v.cols != n || (v.rank == 2 && v.rows != 1 && v.cols != 1))
        rc = fp_fail(err, "%s: --hvp expected a vector of length %llu, got %llu", j->opts->hvp,
                     (unsigned long long)n, (unsigned long long)(v.rows * v.cols));
    void *hv = malloc(n * 8 + 1);
    if (rc == 0 && !hv)
        rc = fp_fail(err, "out of memory");
    if (rc == 0)
        rc = fp_hvp(j->s->net, &j->s->x, j->y, j->loss, v.data, 1, hv, err);
    if (rc == 0)
        rc = compute_write(j->opts, j->s, j->opts->output ? j->opts->output : "-", 1, n, 1, hv, err);
    free(hv);
    free(v.data);
    return rc;
}

static int check_modes(const cmd_opts *o)
{
    int modes = !!o->rows + !!o->diag + !!o->hvp + !!o->eigs + !!o->trace + !!o->hutchinson
                + !!o->hutchpp + !!o->density;
    if (modes > 1)
        return cmd_usage_error(&cmd_hessian, "--rows, --diag, --hvp, --eigs, --trace, "
                                             "--hutchinson, --hutchpp and --density exclude each "
                                             "other");
    int usage = hessian_check_spectral(o);
    if (usage)
        return usage;
    uint64_t begin, end;
    fp_error err;
    if (o->rows && parse_rows(o->rows, &begin, &end, &err) < 0)
        return cmd_usage_error(&cmd_hessian, "%s", err.msg);
    return 0;
}

static void allocate_on_gpu(job *j, const char *device)
{
    if (j->full && device && !strcmp(device, "cuda")
        && !getenv("FLATPARAMS_NO_PREALLOCATE"))   /* (benchmarks: what it gains) */
        fp_vec_writer_preallocate(j->full);
}

/* The full matrix's output is opened before the net is built: a bad -o fails
 * before any work, whatever the device. On a GPU a thread allocates the
 * file's space meanwhile (fp_vec_writer_preallocate): with --device cuda from
 * here on, while CUDA starts (about half a second), with auto once it has
 * chosen the GPU; so the rows, when they come, only copy into it. Nothing is
 * written to it before the rows, and an error removes it. Not on the host:
 * there the thread slows the 2 threads computing the rows more than it saves
 * (measured: 15.9-16.6 s against 15.0-15.2 s, n = 21,480, 2 cores). */
static int open_full_early(job *j, fp_error *err)
{
    const cmd_opts *o = j->opts;
    uint64_t n = j->s->layout.n_elems;
    if (o->rows || o->hvp || o->eigs || o->hutchinson || o->hutchpp || o->density || o->diag
        || o->trace || n == 0)
        return 0;
    if (open_writer(j, &j->full, n, n, err) < 0)
        return -1;
    allocate_on_gpu(j, o->device);
    return 0;
}

static int run(cmd_opts *opts)
{
    fp_loss loss;
    int rc = compute_parse_loss(&cmd_hessian, opts, &loss);
    if (rc == 0)
        rc = check_modes(opts);
    if (rc)
        return rc;
    compute_session s;
    if ((rc = compute_open_model(&cmd_hessian, opts, &s)))
        return rc;
    fp_error err;
    fp_matrix y_data = { 0 };
    job j = { opts, &s, opts->y ? &y_data : NULL, loss, { 0 }, NULL, NULL };
    cmd_progress_init(&j.prog, opts, "hessian");
    if ((rc = open_full_early(&j, &err)) < 0) {
        compute_close(&s);
        return cmd_error(&err);
    }
    if ((rc = compute_open_net(&cmd_hessian, opts, &s))) {
        fp_vec_writer_abort(j.full);
        return rc;
    }
    allocate_on_gpu(&j, s.net_opts.device);   /* (auto: now it has chosen) */
    if (opts->y) {
        rc = compute_read_batch(opts, &s, opts->y, &y_data, &err);
        if (rc == 0 && (rc = fp_net_check_target(s.net, &s.x, &y_data, loss, &err)) < 0)
            fp_fail_prefix(&err, opts->y);
    }
    cmd_progress_begin(&j.prog, "rows");   /* (the rate: from the work on) */
    uint64_t n = fp_net_n_params(s.net), begin = 0, end = 0;
    if (rc == 0 && opts->rows) {
        if ((rc = parse_rows(opts->rows, &begin, &end, &err)) == 0
            && (rc = check_rows(opts->rows, n, begin, &end, &err)) < 0)
            fp_fail_prefix(&err, opts->args[0]);   /* the model's Hessian is too small */
        if (rc == 0)
            rc = write_rows(&j, begin, end, &err);
    } else if (rc == 0 && opts->hvp) {
        rc = write_hvp(&j, &err);
    } else if (rc == 0 && (opts->eigs || opts->hutchinson || opts->hutchpp || opts->density
                           || opts->diag || opts->trace)) {
        rc = hessian_write_spectral(&j, &err);
    } else if (rc == 0) {
        rc = write_full(&j, &err);
    }
    cmd_progress_end(&j.prog, rc == 0);
    if (j.full)   /* (an error before write_full) */
        fp_vec_writer_abort(j.full);
    free(y_data.data);
    compute_close(&s);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_hessian = {
    .name = "hessian",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,x,y,loss,rows,diag,hvp,eigs,which,eigvecs,trace,hutchinson,hutchpp,density,"
               "probes,steps,sigma,points,seed,include,exclude,all,dtype,format,precision,device,"
               "quiet,train-mode,in-format,allow-external,arch,progress",
    .usage =
        "hessian MODEL -x X [-y Y] [--loss L] [-o OUT] [--rows A:B | --diag | --hvp V |\n"
        "        --eigs K [--which LM|LA|SA|BE] [--eigvecs F] | --trace | --hutchinson N |\n"
        "        --hutchpp N | --density [--probes N] [--steps M] [--sigma S] [--points G]]\n"
        "        [--seed S] [--precision f32|f64]\n"
        "\n"
        "Writes the exact Hessian (second derivatives) of the loss with respect to the flat\n"
        "parameter vector, n x n in flat order, or a part of it. Rows are computed a block\n"
        "at a time (Hessian-vector products, forward-over-reverse) and streamed, so memory\n"
        "stays far below n x n. The full matrix is made exactly symmetric: H[i,j] is the\n"
        "average of the two computed values (it goes through a scratch file beside OUT).\n"
        "\n"
        "  -x X, -y Y, --loss L   as for gradient (sumsq without -y, else mse by default)\n"
        "  -o OUT          output file (default: standard output, as text)\n"
        "  --rows A:B      rows A to B-1 (0-based; A or B may be left open): (B-A) x n, as\n"
        "                  computed (symmetric to rounding), so jobs can split one Hessian\n"
        "  --diag          the diagonal (n values; as many products as the full matrix)\n"
        "  --hvp V         H v for a vector file V of length n\n"
        "  --eigs K        the K eigenvalues largest in magnitude (Lanczos with full\n"
        "                  reorthogonalisation); --which LA or SA: largest or smallest;\n"
        "                  BE (or both): the K/2 smallest and K - K/2 largest, increasing\n"
        "  --eigvecs F     with --eigs: the eigenvectors too, into the matrix file F, K x n\n"
        "                  in flat order (row i for value i; unit length, largest entry > 0)\n"
        "  --trace         the exact trace (the sum of the diagonal)\n"
        "  --hutchinson N  estimate the trace from N Rademacher probes\n"
        "  --hutchpp N     estimate the trace by Hutch++ from N products (N >= 3): exact on\n"
        "                  a sketched top subspace, Hutchinson's on the rest; for a spectrum\n"
        "                  that decays, far closer than Hutchinson's from as many products\n"
        "                  (both print the standard error beside the progress)\n"
        "  --density       the eigenvalue density, an ESTIMATE by stochastic Lanczos\n"
        "                  quadrature (PyHessian's method): a table of G rows (eigenvalue,\n"
        "                  density), or a plot (log scale) when OUT ends in .png or .svg\n"
        "  --probes N      --density's random probes (default 1); --steps M, Lanczos steps\n"
        "                  per probe (default 100, at most n); --sigma S, the Gaussians'\n"
        "                  standard deviation (default sqrt(1e-5 x max(1, grid width)));\n"
        "                  --points G, grid points (default 10000): PyHessian's defaults\n"
        "  --seed S        the estimators' seed (default 24301): for a seed, the same numbers\n"
        "                  on any thread count\n"
        "  --precision P   compute in f32 or f64 (default: the flat vector's type)\n"
        "  --train-mode    BatchNorm differentiates through the batch's own statistics\n"
        "  --dtype T       element type of the output (default: the compute precision)\n"
        "  --format F      force the output format (npy, txt, csv, bin, h5, json)\n"
        "  --in-format F   force the format of X, Y and V (the same names; default: by\n"
        "                  content and extension)\n"
        "  --include GLOB, --exclude GLOB, --all   which parameters vary, as for gradient\n"
        "  --device D      cpu (default), cuda (one error line without a usable GPU),\n"
        "                  or auto (the GPU for large jobs when one is usable)\n"
        "  --allow-external, --arch JSON   as for gradient\n"
        "  --progress      progress also when stderr is not a terminal (a log, a pipe): a\n"
        "                  line every 5 s (FLATPARAMS_PROGRESS_SECONDS) and one at the end\n"
        "                  (on a terminal one line is updated in place, without it too)\n"
        "  -q, --quiet     no progress, not even with --progress\n",
};
