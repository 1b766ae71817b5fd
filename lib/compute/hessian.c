/*
 * Hessian products on a built net: H V for any number of directions (in blocks
 * whose scratch stays bounded), blocks of rows of H (H e_i), its diagonal and
 * trace, and Hutchinson's trace estimate. The arithmetic is the tangent pass's
 * (tangent.c, tangent_pass.c); this file only plans blocks and memory.
 */
#include "compute_internal.h"

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

size_t fp_hessian_block(fp_net *net, const fp_matrix *x, size_t max_bytes)
{
    if (net->backend->block_bytes > max_bytes)   /* a GPU takes bigger blocks */
        max_bytes = net->backend->block_bytes;
    uint64_t rows = x->rank == 1 && net->in_features != 1 ? 1 : x->rows;
    uint64_t widest = 1, per_row = 0;
    /* an estimate of the planned workspace (net.c's plan) per sample */
    uint64_t cur = x->rank == 1 && net->in_features != 1 ? x->rows : x->cols;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        cur = l->kind == LAYER_DENSE ? l->out : cur;
        per_row += 4 * cur + 2;
        widest = cur > widest ? cur : widest;
    }
    per_row += 3 * widest;
    per_row += 2 * widest;   /* tangent.c's stacked products */
    size_t elem = fp_dtype_size(net->precision);
    uint64_t per_direction = (rows * per_row + widest * widest + 2 * net->n_params) * elem;
    uint64_t k = max_bytes / (per_direction ? per_direction : 1);
    if (rows && k * rows > net->backend->max_dim)
        k = net->backend->max_dim / rows;
    return k ? (size_t)k : 1;
}

uint64_t fp_tangent_scratch_elems(const fp_net *net, size_t K)
{
    uint64_t dense = 0;   /* tangent.c's dense_tangent_hweight: the stacked products */
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer_plan *p = &net->plan[i];
        if (net->layers[i].kind != LAYER_DENSE)
            continue;
        uint64_t need = net->rows * (p->in > p->out ? p->in : p->out) + p->in * p->out;
        dense = need > dense ? need : dense;
    }
    return (uint64_t)K * (net->work_elems + dense);
}

/* H V for the block of directions dd describes (dd->k of them, any count),
 * in passes whose scratch stays near FP_HESSIAN_BLOCK_BYTES. */
static int hvp_blocks(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                      const tangent_dirs *dd, void *HV, fp_error *err)
{
    const void *x_data;
    void *owned;
    if (fp_net_prepare(net, x, y, loss, 1, &x_data, &owned, err) < 0)
        return -1;
    size_t elem = fp_dtype_size(net->precision), n = net->n_params, k = dd->k;
    size_t block = fp_hessian_block(net, x, FP_HESSIAN_BLOCK_BYTES);
    block = block < k ? block : k;
    /* a device backend keeps its scratch on the device */
    void *tw = net->backend->net_ops ? NULL
                                     : grow(&net->tangent_work, &net->tangent_bytes,
                                            fp_tangent_scratch_elems(net, block ? block : 1) * elem);
    if (!tw && !net->backend->net_ops) {
        free(owned);
        return fp_fail(err, "out of memory for the tangent pass of %zu directions", block);
    }
    for (size_t done = 0; done < k; done += block) {
        tangent_dirs part = *dd;
        part.k = k - done < block ? k - done : block;
        part.V = dd->V ? (const char *)dd->V + done * n * elem : NULL;
        if (dd->unit) {   /* unit rows: the support moves with the block */
            part.lo = dd->lo + done;
            part.hi = part.lo + part.k;
        }
        net->tangent_ops->hvp(net, x_data, loss, &part, (char *)HV + done * n * elem, tw);
        if (fp_net_device_failed(net, err) < 0) {
            free(owned);
            return -1;
        }
    }
    free(owned);
    return 0;
}

int fp_hvp(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss, const void *V,
           size_t k, void *HV, fp_error *err)
{
    tangent_dirs dd = { .V = V, .k = k, .lo = 0, .hi = net->n_params, .col_lo = 0, .unit = 0 };
    return hvp_blocks(net, x, y, loss, &dd, HV, err);
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

static int rows_from(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                     uint64_t row_begin, uint64_t row_end, uint64_t col_begin, int diag_only,
                     void *out, fp_error *err)
{
    uint64_t n = net->n_params;
    if (row_begin > row_end || row_end > n)
        return fp_fail(err, "rows %llu:%llu are outside 0:%llu",
                       (unsigned long long)row_begin, (unsigned long long)row_end,
                       (unsigned long long)n);
    size_t k = (size_t)(row_end - row_begin);
    if (!k)
        return 0;
    void *V = NULL;   /* a device backend makes unit directions itself */
    if (!net->backend->net_ops) {
        if (!(V = grow(&net->unit_dirs, &net->unit_bytes, k * n * fp_dtype_size(net->precision))))
            return fp_fail(err, "out of memory for %zu unit vectors", k);
        unit_rows(V, net->precision, n, row_begin, k);
    }
    /* H symmetric: H e_i is row i */
    tangent_dirs dd = { .V = V, .k = k, .lo = row_begin, .hi = row_end, .col_lo = col_begin,
                        .unit = 1, .diag_only = diag_only };
    return hvp_blocks(net, x, y, loss, &dd, out, err);
}

int fp_hessian_rows_from(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                         uint64_t row_begin, uint64_t row_end, uint64_t col_begin, void *out,
                         fp_error *err)
{
    return rows_from(net, x, y, loss, row_begin, row_end, col_begin, 0, out, err);
}

int fp_hessian_rows(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    uint64_t row_begin, uint64_t row_end, void *out, fp_error *err)
{
    return fp_hessian_rows_from(net, x, y, loss, row_begin, row_end, 0, out, err);
}

int fp_hessian_diag(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    double *diag, fp_progress_fn progress, void *ctx, fp_error *err)
{
    uint64_t n = net->n_params;
    size_t elem = fp_dtype_size(net->precision);
    size_t block = fp_hessian_block(net, x, FP_HESSIAN_BLOCK_BYTES);
    block = block < n ? block : (size_t)n;
    void *rows = malloc((block ? block : 1) * n * elem);
    if (!rows)
        return fp_fail(err, "out of memory for %zu rows of the Hessian", block);
    for (uint64_t begin = 0; begin < n; begin += block) {
        uint64_t end = n - begin < block ? n : begin + block;
        if (rows_from(net, x, y, loss, begin, end, begin, 1, rows, err) < 0) {
            free(rows);
            return -1;
        }
        for (uint64_t i = begin; i < end; i++) {
            size_t at = (size_t)((i - begin) * n + i);
            diag[i] = net->precision == FP_F32 ? ((float *)rows)[at] : ((double *)rows)[at];
        }
        if (progress)
            progress(ctx, end, n);
    }
    free(rows);
    return 0;
}

uint64_t fp_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int fp_hessian_hutchinson(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                          uint64_t probes, uint64_t seed, double *estimate, double *std_error,
                          fp_error *err)
{
    size_t n = (size_t)net->n_params, elem = fp_dtype_size(net->precision);
    size_t block = fp_hessian_block(net, x, FP_HESSIAN_BLOCK_BYTES);
    block = block < probes ? block : (size_t)probes;
    void *V = malloc((block ? block : 1) * n * elem), *HV = malloc((block ? block : 1) * n * elem);
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
        for (size_t i = 0; i < m * n; i++) {   /* Rademacher: ±1 */
            double s = (fp_splitmix64(&state) >> 63) ? 1.0 : -1.0;
            if (net->precision == FP_F32)
                ((float *)V)[i] = (float)s;
            else
                ((double *)V)[i] = s;
        }
        if ((rc = fp_hvp(net, x, y, loss, V, m, HV, err)) < 0)
            break;
        for (size_t r = 0; r < m; r++) {
            double q = 0;
            for (size_t i = r * n; i < (r + 1) * n; i++)
                q += net->precision == FP_F32 ? (double)((float *)V)[i] * ((float *)HV)[i]
                                              : ((double *)V)[i] * ((double *)HV)[i];
            sum += q;
            sum_sq += q * q;
        }
    }
    free(V);
    free(HV);
    if (rc < 0)
        return -1;
    double mean = probes ? sum / (double)probes : 0;
    *estimate = mean;
    if (std_error) {
        double var = probes > 1 ? (sum_sq - (double)probes * mean * mean) / (double)(probes - 1) : 0;
        *std_error = probes > 1 && var > 0 ? __builtin_sqrt(var / (double)probes) : 0;
    }
    return 0;
}
