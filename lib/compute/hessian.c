/*
 * Hessian products on a built net: H V for any number of directions (in blocks
 * whose scratch stays bounded), blocks of rows of H (H e_i), its diagonal and
 * trace (the estimators are trace.c's). The arithmetic is the tangent pass's
 * (tangent.c, tangent_pass.c); this file only plans blocks and memory.
 */
#include "compute_internal.h"
#include "fp_curvature.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A scratch buffer of the net, grown to at least bytes; NULL when out of memory. */
static void *grow(void **buf, size_t *have, size_t bytes)
{
    if (*have >= bytes)
        return *buf;
    free(*buf);
    *have = 0;
    if ((*buf = malloc(bytes)))
        *have = bytes;
    return *buf;
}

/* A host thread's Hessian scratch, kept in the net between calls: the tangent
 * workspace, its unit directions, and (beyond the first thread, which uses the
 * net's own) a workspace for the primal passes. */
typedef struct fp_hvp_worker {
    void *work, *tangent, *unit;
    size_t work_bytes, tangent_bytes, unit_bytes;
} fp_hvp_worker;

enum { MAX_WORKERS = 64 };

/* row_blocks' flag beside the public FP_ROWS_UPPER: only the diagonal is read
 * (a device copies back just that). */
enum { ROWS_DIAG = 1 << 8 };

void fp_hvp_workers_free(fp_net *net)
{
    for (size_t i = 0; i < net->n_workers; i++) {
        free(net->workers[i].work);
        free(net->workers[i].tangent);
        free(net->workers[i].unit);
    }
    free(net->workers);
    net->workers = NULL;
    net->n_workers = 0;
}

/* At least t workers' (empty) scratch in the net. */
static int workers_ready(fp_net *net, size_t t)
{
    if (net->n_workers >= t)
        return 0;
    fp_hvp_worker *w = realloc(net->workers, t * sizeof *w);
    if (!w)
        return -1;
    memset(w + net->n_workers, 0, (t - net->n_workers) * sizeof *w);
    net->workers = w;
    net->n_workers = t;
    return 0;
}

/* How many blocks of directions run side by side: the host's thread count
 * (each gemm then runs on one thread), 1 on a device. */
static size_t host_threads(const fp_net *net)
{
    if (net->backend->net_ops || !net->backend->get_threads)
        return 1;
    int t = net->backend->get_threads();
    return t < 1 ? 1 : t > MAX_WORKERS ? MAX_WORKERS : (size_t)t;
}

/* On the host, one pass's tangent activations are kept near this size, so a
 * layer's K directions are still in cache when the next loop or product reads
 * them, but K is not cut below PASS_MIN_DIRECTIONS, where the products get too
 * thin. Measured on the 2-core development VM (32 MiB L3), 2 threads:
 * bench/hessian's --diag (n = 4,328, batch 128; 0.58 MB of activations per
 * direction) took 0.56 s with K = 96, 0.38-0.43 s with K = 27, 0.30 s with
 * K = 8-14 and 0.35 s with K = 4; rows 0:512 of bench/gpu_check's MLP
 * (batch 1024, 5.4 MB per direction) 1.8 s with K = 1 and 1.27 s with K = 3-4. */
#define PASS_CACHE_BYTES ((uint64_t)8 << 20)
#define PASS_MIN_DIRECTIONS 4

/* Directions one pass (one thread) takes with about max_bytes of scratch. */
static size_t pass_block(fp_net *net, const fp_matrix *x, size_t max_bytes)
{
    if (net->backend->net_ops)   /* a device sizes its passes by its own memory */
        max_bytes = net->backend->block_bytes;
    uint64_t rows, widest = 1, per_row = 0;
    /* an estimate of the planned workspace (net.c's plan) per sample: each
     * layer's output, before its activation, its scratch and their statistics */
    sample_shape sample;
    fp_net_input_shape(net, x, &rows, &sample);
    uint64_t cur = shape_elems(&sample);
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        sample_shape out = sample;
        char why[8];
        if (l->type->output_shape && l->type->output_shape(l, &sample, &out, why, sizeof why) == 0)
            sample = out;
        if (l->type->flags & LAYER_RESHAPES)
            continue;   /* (no buffer of its own) */
        cur = shape_elems(&sample);
        per_row += 4 * cur + 2;
        widest = cur > widest ? cur : widest;
    }
    per_row += 3 * widest;
    size_t elem = fp_dtype_size(net->precision);
    uint64_t activations = rows * per_row * elem;   /* one direction's tangent workspace */
    uint64_t rows_kept = net->backend->net_ops ? 3 : 2;   /* V, H V (a device: two H V) */
    uint64_t per_direction = activations + (widest * widest + rows_kept * net->n_params) * elem;
    uint64_t k = max_bytes / (per_direction ? per_direction : 1);
    uint64_t cached = activations ? PASS_CACHE_BYTES / activations : k;
    cached = cached > PASS_MIN_DIRECTIONS ? cached : PASS_MIN_DIRECTIONS;
    if (!net->backend->net_ops && k > cached)
        k = cached;
    if (rows && k * rows > net->backend->max_dim)
        k = net->backend->max_dim / rows;
    return k ? (size_t)k : 1;
}

int fp_neuron_rows_on(const fp_net *net)
{
    const char *v = getenv("FLATPARAMS_NEURON_ROWS");
    if (v && (!strcmp(v, "0") || !strcmp(v, "1")))
        return v[0] == '1';
    return !net->backend->net_ops;   /* a device's gain is not measured yet */
}

/* How many rows of H one neuron's tangent serves, at least (neuron rows: a
 * kind's fast path, dense.c's): the fewest any layer's serve, when every
 * layer works sample by sample; else 1. */
static size_t neuron_factor(const fp_net *net)
{
    uint64_t f = 0;
    if (!fp_neuron_rows_on(net))
        return 1;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer_type *type = net->layers[i].type;
        if (!(type->flags & LAYER_SAMPLEWISE))
            return 1;
        uint64_t rows = type->neuron_rows ? type->neuron_rows->rows_per_tangent(net, i) : 0;
        f = rows && (f == 0 || rows < f) ? rows : f;
    }
    return f ? (size_t)f : 1;
}

size_t fp_tangent_capacity(const fp_net *net, size_t k, int unit)
{
    size_t f = unit ? neuron_factor(net) : 1;
    /* k rows in a row-major weight span at most k / in + 2 neurons */
    return f > 1 && k / f + 2 < k ? k / f + 2 : k;
}

/* Rows of H one pass takes: pass_block's directions, or with neuron rows
 * (one tangent per f rows) f times as many, while the rows themselves (a pass
 * keeps two or, on a device, three n-rows each) stay within the pass's bytes. */
static size_t pass_rows(fp_net *net, const fp_matrix *x, size_t max_bytes)
{
    size_t k = pass_block(net, x, max_bytes), f = neuron_factor(net);
    if (f <= 1)
        return k;
    uint64_t most = net->backend->net_ops ? net->backend->block_bytes : max_bytes;
    uint64_t row = (net->backend->net_ops ? 3 : 2) * net->n_params * fp_dtype_size(net->precision);
    uint64_t rows = (uint64_t)k * f, fit = row ? most / row : rows;
    rows = rows < fit ? rows : fit;
    return rows > k ? (size_t)rows : k;
}

size_t fp_hessian_block(fp_net *net, const fp_matrix *x, size_t max_bytes)
{
    return pass_rows(net, x, max_bytes) * host_threads(net);
}

/* Elements of a neuron pass's scratch (dense.c's M: a weight's rows of
 * products for the whole batch), at most 1 Mi elements on the host (8 MiB in
 * f64, in cache) and 16 Mi on a device (fewer, bigger products), or what one
 * row needs; none when neuron rows are off. */
uint64_t fp_neuron_scratch_elems(const fp_net *net)
{
    uint64_t most = net->backend->net_ops ? (uint64_t)1 << 24 : (uint64_t)1 << 20, need = 0;
    if (!fp_neuron_rows_on(net))
        return 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer_type *type = net->layers[i].type;
        uint64_t want = type->neuron_rows ? type->neuron_rows->scratch(net, i, most) : 0;
        need = want > need ? want : need;
    }
    return need;
}

uint64_t fp_tangent_scratch_elems(const fp_net *net, size_t K, int unit)
{
    /* the primal plan, scaled by the directions' tangents held, then a neuron pass's M */
    return (uint64_t)fp_tangent_capacity(net, K, unit) * net->work_elems
           + fp_neuron_scratch_elems(net);
}

/* Unit vectors e_begin .. e_begin+k-1 as k rows of n. */
static void unit_rows(void *V, fp_dtype dtype, size_t n, uint64_t begin, size_t k)
{
    size_t elem = fp_dtype_size(dtype);
    memset(V, 0, k * n * elem);
    for (size_t r = 0; r < k; r++) {
        char *at = (char *)V + (r * n + begin + r) * elem;
        if (dtype == FP_F32)
            *(float *)at = 1;
        else
            *(double *)at = 1;
    }
}

/* One call's directions cut into parts of `part` directions, which the
 * threads take in turn (an atomic counter), each writing its own rows of HV. */
typedef struct hvp_run {
    fp_net *net;
    const void *x;
    fp_loss loss;
    const tangent_dirs *dirs;
    void *HV;
    size_t part, n_parts;
    size_t next;       /* the next part to take */
    int failed;        /* 1: out of memory, 2: the device failed (its reason in err) */
    fp_error *err;
} hvp_run;

typedef struct hvp_thread {
    hvp_run *run;
    size_t id;
    pthread_t tid;
} hvp_thread;

/* Whether the tangent pass reads unit directions' rows: only some kinds'
 * parameters do (normalisation layers'; a Dense layer needs just where the 1 is). */
static int reads_unit_rows(const fp_net *net)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        for (int s = 0; s < LAYER_MAX_SLOTS && (l->type->flags & LAYER_READS_UNIT_ROWS); s++)
            if (l->slots[s].home == SLOT_PARAM)
                return 1;
    }
    return 0;
}

static void run_parts(hvp_run *r, size_t id)
{
    fp_net *net = r->net, clone, *use = net;
    fp_hvp_worker *w = &net->workers[id];
    size_t elem = fp_dtype_size(net->precision), n = (size_t)net->n_params;
    int host = !net->backend->net_ops;   /* a device keeps its scratch, and makes unit rows */
    if (id > 0) {   /* the backward passes in a workspace of its own (hvp_parts filled it) */
        clone = *net;
        clone.work = w->work;
        use = &clone;
    }
    void *tangents = host ? grow(&w->tangent, &w->tangent_bytes,
                           fp_tangent_scratch_elems(net, r->part, r->dirs->unit) * elem)
                    : NULL;
    int rows_read = host && r->dirs->unit && reads_unit_rows(net);
    void *unit = rows_read ? grow(&w->unit, &w->unit_bytes, r->part * n * elem) : NULL;
    if (host && (!tangents || (rows_read && !unit))) {
        __atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (;;) {
        size_t at = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        if (at >= r->n_parts || __atomic_load_n(&r->failed, __ATOMIC_RELAXED))
            return;
        size_t done = at * r->part;
        tangent_dirs part = *r->dirs;
        part.forward_done = host;   /* batch_begin ran it (a device runs its own) */
        part.k = r->dirs->k - done < r->part ? r->dirs->k - done : r->part;
        part.V = r->dirs->V ? (const char *)r->dirs->V + done * n * elem : NULL;
        if (r->dirs->unit) {   /* unit rows: the support moves with the part */
            part.lo = r->dirs->lo + done;
            part.hi = part.lo + part.k;
            if (unit) {
                unit_rows(unit, net->precision, n, part.lo, part.k);
                part.V = unit;
            }
        }
        use->tangent_ops->hvp(use, r->x, r->loss, &part, (char *)r->HV + done * n * elem, tangents);
        if (!host && fp_net_device_failed(net, r->err) < 0) {
            r->failed = 2;
            return;
        }
    }
}

static void *run_thread(void *arg)
{
    hvp_thread *t = arg;
    run_parts(t->run, t->id);
    return NULL;
}

/* A prepared batch for any number of Hessian passes: X in the compute dtype,
 * the primal forward run once (the same for every block of directions), and on
 * a host with threads, gemm set to one thread while blocks run side by side
 * (from before the forward on, so the gemm pool's threads stay asleep). */
typedef struct hvp_batch {
    const void *x;
    void *owned;
    int gemm_threads;   /* gemm's thread count, to restore; 0: unchanged */
    size_t side_by_side;   /* passes run side by side meanwhile (1: one at a time) */
} hvp_batch;

/* side_by_side: more than one block of directions will run. */
static int batch_begin(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                       int side_by_side, hvp_batch *b, fp_error *err)
{
    b->gemm_threads = 0;
    b->side_by_side = 1;
    if (fp_net_prepare(net, x, y, loss, 1, &b->x, &b->owned, err) < 0)
        return -1;
    if (side_by_side && host_threads(net) > 1) {
        b->side_by_side = host_threads(net);
        b->gemm_threads = net->backend->get_threads();
        net->backend->set_threads(1);
    }
    if (!net->backend->net_ops)   /* a device runs its own in each pass */
        net->ops->forward(net, b->x);
    return 0;
}

static void batch_end(fp_net *net, hvp_batch *b)
{
    if (b->gemm_threads)
        net->backend->set_threads(b->gemm_threads);
    free(b->owned);
}

/* H V for the directions dirs describes (dirs->k of them, any count) on a prepared
 * batch, in passes whose scratch stays near FP_HESSIAN_BLOCK_BYTES each: on the
 * host, as many passes side by side as it has threads (each gemm then on one
 * thread, so the elementwise work runs in parallel too); unit directions
 * (dirs->V NULL) are made per pass. A part's arithmetic does not depend on which
 * thread runs it: the same parts give the same bytes on every run. */
/* fp_hvp_reproducible shares the directions out as among this many threads,
 * whatever the count. */
#define REPRODUCIBLE_SHARES 8

static int hvp_parts(fp_net *net, const fp_matrix *x, const hvp_batch *b, fp_loss loss,
                     const tangent_dirs *dirs, int reproducible, void *HV, fp_error *err)
{
    size_t k = dirs->k, threads = b->side_by_side;
    size_t part = dirs->unit ? pass_rows(net, x, FP_HESSIAN_BLOCK_BYTES)
                           : pass_block(net, x, FP_HESSIAN_BLOCK_BYTES);
    size_t shares = reproducible ? REPRODUCIBLE_SHARES : threads;
    size_t even = (k + shares - 1) / shares;   /* the directions shared out */
    part = even && even < part ? even : part;
    hvp_run r = { net, b->x, loss, dirs, HV, part, part ? (k + part - 1) / part : 0, 0, 0, err };
    threads = threads < r.n_parts ? threads : r.n_parts;
    if (workers_ready(net, threads ? threads : 1) < 0)
        return fp_fail(err, "out of memory for the tangent pass of %zu directions", part);
    /* the other threads' workspaces: the forward and the target, copied here,
     * before any thread runs (thread 0's passes write the net's own) */
    size_t elem = fp_dtype_size(net->precision);
    for (size_t i = 1; i < threads; i++) {
        fp_hvp_worker *w = &net->workers[i];
        if (!grow(&w->work, &w->work_bytes, net->work_elems * elem)) {
            threads = i;   /* fewer threads take the same parts */
            break;
        }
        memcpy(w->work, net->work, net->work_elems * elem);
    }
    if (threads > 1 && net->backend->ready_gemm_callers) {   /* each needs a BLAS buffer */
        size_t ready = net->backend->ready_gemm_callers(threads);
        threads = ready && ready < threads ? ready : threads;   /* fewer take the same parts */
    }
    hvp_thread t[MAX_WORKERS];
    size_t started = 1;
    for (; started < threads; started++) {
        t[started] = (hvp_thread){ &r, started, 0 };
        if (pthread_create(&t[started].tid, NULL, run_thread, &t[started]) != 0)
            break;   /* fewer threads take the same parts */
    }
    run_parts(&r, 0);
    for (size_t i = 1; i < started; i++)
        pthread_join(t[i].tid, NULL);
    if (r.failed == 1)
        return fp_fail(err, "out of memory for the tangent pass of %zu directions", part);
    return r.failed ? -1 : 0;
}

int fp_hvp(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss, const void *V,
           size_t k, void *HV, fp_error *err)
{
    tangent_dirs dirs = { .V = V, .k = k, .lo = 0, .hi = net->n_params, .col_lo = 0, .unit = 0 };
    hvp_batch b;
    if (batch_begin(net, x, y, loss, k > 1, &b, err) < 0)
        return -1;
    int rc = hvp_parts(net, x, &b, loss, &dirs, 0, HV, err);
    batch_end(net, &b);
    return rc;
}

int fp_hvp_reproducible(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                        const void *V, size_t k, void *HV, fp_error *err)
{
    tangent_dirs dirs = { .V = V, .k = k, .lo = 0, .hi = net->n_params, .col_lo = 0, .unit = 0 };
    hvp_batch b;
    /* side by side even for one direction: gemm on one thread, for the forward too */
    if (batch_begin(net, x, y, loss, 1, &b, err) < 0)
        return -1;
    int rc = hvp_parts(net, x, &b, loss, &dirs, 1, HV, err);
    batch_end(net, &b);
    return rc;
}

static int check_rows(const fp_net *net, uint64_t row_begin, uint64_t row_end, fp_error *err)
{
    if (row_begin > row_end || row_end > net->n_params)
        return fp_fail(err, "rows %llu:%llu are outside 0:%llu",
                       (unsigned long long)row_begin, (unsigned long long)row_end,
                       (unsigned long long)net->n_params);
    return 0;
}

/* Rows [row_begin, row_end) of H on a prepared batch; columns below col_begin
 * not wanted. H is symmetric, so H e_i is row i (hvp_parts makes the e_i). */
static int batch_rows(fp_net *net, const fp_matrix *x, const hvp_batch *b, fp_loss loss,
                      uint64_t row_begin, uint64_t row_end, uint64_t col_begin, int diag_only,
                      void *out, fp_error *err)
{
    tangent_dirs dirs = { .V = NULL, .k = (size_t)(row_end - row_begin), .lo = row_begin,
                        .hi = row_end, .col_lo = col_begin, .unit = 1, .diag_only = diag_only };
    return dirs.k ? hvp_parts(net, x, b, loss, &dirs, 0, out, err) : 0;
}

int fp_hessian_rows_from(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                         uint64_t row_begin, uint64_t row_end, uint64_t col_begin, void *out,
                         fp_error *err)
{
    hvp_batch b;
    if (check_rows(net, row_begin, row_end, err) < 0)
        return -1;
    if (row_begin == row_end)
        return 0;
    if (batch_begin(net, x, y, loss, row_end - row_begin > 1, &b, err) < 0)
        return -1;
    int rc = batch_rows(net, x, &b, loss, row_begin, row_end, col_begin, 0, out, err);
    batch_end(net, &b);
    return rc;
}

int fp_hessian_rows(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    uint64_t row_begin, uint64_t row_end, void *out, fp_error *err)
{
    return fp_hessian_rows_from(net, x, y, loss, row_begin, row_end, 0, out, err);
}

/* row_blocks on a device with pipelined blocks: two in flight, so the device
 * computes (and copies back) one block while the sink writes the one before.
 * After a failure no block is started, and those in flight are waited for. */
static int pipelined_blocks(fp_net *net, const hvp_batch *b, fp_loss loss, uint64_t row_begin,
                            uint64_t row_end, size_t block, int flags, const fp_row_sink *sink,
                            fp_error *err)
{
    const net_tangent_ops *ops = net->tangent_ops;
    uint64_t started = row_begin, at = row_begin;
    int rc = 0;
    while (at < (rc == 0 ? row_end : started)) {
        while (rc == 0 && started < row_end && started - at < 2 * (uint64_t)block) {
            uint64_t stop = row_end - started < block ? row_end : started + block;
            tangent_dirs dirs = { .V = NULL, .k = (size_t)(stop - started), .lo = started,
                                .hi = stop, .col_lo = flags & FP_ROWS_UPPER ? started : 0,
                                .unit = 1 };
            ops->rows_start(net, b->x, loss, &dirs);
            started = stop;
        }
        uint64_t stop = row_end - at < block ? row_end : at + block;
        const void *rows = ops->rows_wait(net);
        if (rc == 0 && fp_net_device_failed(net, err) < 0)
            rc = -1;
        else if (rc == 0 && !rows)
            rc = fp_fail(err, "the GPU's rows %llu:%llu did not arrive", (unsigned long long)at,
                         (unsigned long long)stop);
        if (rc == 0)
            rc = sink->ready(sink->ctx, at, stop, (void *)rows, err);
        at = stop;
    }
    return rc;
}

/* The loop of fp_hessian_row_blocks, also with the diagonal's flag. */
static int row_blocks(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                      uint64_t row_begin, uint64_t row_end, size_t block, int flags,
                      const fp_row_sink *sink, fp_error *err)
{
    hvp_batch b;
    if (check_rows(net, row_begin, row_end, err) < 0)
        return -1;
    if (row_begin == row_end)
        return 0;
    block = block ? block : 1;
    if (batch_begin(net, x, y, loss, row_end - row_begin > 1, &b, err) < 0)
        return -1;
    int rc = 0;
    if (net->tangent_ops->rows_start && !(flags & ROWS_DIAG)
        && block <= pass_rows(net, x, FP_HESSIAN_BLOCK_BYTES)
        && !getenv("FLATPARAMS_NO_PIPELINE")) {   /* (benchmarks: the overlap's gain) */
        rc = pipelined_blocks(net, &b, loss, row_begin, row_end, block, flags, sink, err);
        batch_end(net, &b);
        return rc;
    }
    for (uint64_t at = row_begin; rc == 0 && at < row_end; at += block) {
        uint64_t stop = row_end - at < block ? row_end : at + block;
        void *rows = sink->where(sink->ctx, at, stop);
        rc = batch_rows(net, x, &b, loss, at, stop, flags & FP_ROWS_UPPER ? at : 0,
                        flags & ROWS_DIAG, rows, err);
        if (rc == 0)
            rc = sink->ready(sink->ctx, at, stop, rows, err);
    }
    batch_end(net, &b);
    return rc;
}

int fp_hessian_row_blocks(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                          uint64_t row_begin, uint64_t row_end, size_t block, int flags,
                          const fp_row_sink *sink, fp_error *err)
{
    return row_blocks(net, x, y, loss, row_begin, row_end, block, flags & FP_ROWS_UPPER, sink,
                      err);
}

int fp_hessian_full_on_device(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                              size_t block, const fp_row_sink *sink, fp_error *err)
{
    hvp_batch b;
    if (!net->tangent_ops->full_matrix || getenv("FLATPARAMS_NO_PIPELINE"))
        return 1;
    if (batch_begin(net, x, y, loss, 0, &b, err) < 0)
        return -1;
    int rc = net->tangent_ops->full_matrix(net, b.x, loss, block ? block : 1,
                                           pass_rows(net, x, FP_HESSIAN_BLOCK_BYTES), sink, err);
    batch_end(net, &b);
    return rc;
}

/* fp_hessian_diag's sink: the diagonal out of each block's rows. */
typedef struct diag_sink {
    fp_net *net;
    void *rows;
    double *diag;
    fp_progress_fn progress;
    void *ctx;
} diag_sink;

static void *diag_where(void *ctx, uint64_t at, uint64_t stop)
{
    (void)at;
    (void)stop;
    return ((diag_sink *)ctx)->rows;
}

static int diag_ready(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err)
{
    diag_sink *d = ctx;
    uint64_t n = d->net->n_params;
    (void)err;
    for (uint64_t i = at; i < stop; i++) {
        size_t e = (size_t)((i - at) * n + i);
        d->diag[i] = d->net->precision == FP_F32 ? ((float *)rows)[e] : ((double *)rows)[e];
    }
    if (d->progress)
        d->progress(d->ctx, stop, n);
    return 0;
}

int fp_hessian_diag(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    double *diag, fp_progress_fn progress, void *ctx, fp_error *err)
{
    uint64_t n = net->n_params;
    size_t block = fp_hessian_block(net, x, FP_HESSIAN_BLOCK_BYTES);
    block = block < n ? block : (size_t)n;
    diag_sink d = { net, malloc((block ? block : 1) * n * fp_dtype_size(net->precision)), diag,
                    progress, ctx };
    if (!d.rows)
        return fp_fail(err, "out of memory for %zu rows of the Hessian", block);
    fp_row_sink sink = { diag_where, diag_ready, &d };
    int rc = row_blocks(net, x, y, loss, 0, n, block, FP_ROWS_UPPER | ROWS_DIAG, &sink, err);
    free(d.rows);
    return rc;
}

uint64_t fp_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
