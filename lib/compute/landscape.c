/*
 * Loss landscapes: the loss along directions from the trained parameters θ,
 * L(θ + a d1 + b d2) over a grid (Li, Xu, Taylor, Studer & Goldstein 2018),
 * and their random, filter-normalised directions. The losses come from the
 * forward pass and the loss (fp_loss_value) with the net's parameters set to
 * each point, and θ put back after.
 */
#include "compute_internal.h"
#include "fp_curvature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A filter: count elements of the flat vector from offset, stride apart. */
typedef struct filter {
    uint64_t offset, count, stride;
} filter;

/* Whether the parameter at offset is a Dense layer's weight in the net. */
static int is_dense_weight(const fp_net *net, uint64_t offset)
{
    int kind;
    const layer_type *dense = fp_layer_type_named("Dense", &kind);
    for (size_t i = 0; i < net->n_layers; i++) {
        const slot *w = &net->layers[i].slots[0];   /* Dense's first slot: its weight */
        if (net->layers[i].type == dense && w->home == SLOT_PARAM && w->offset == offset)
            return 1;
    }
    return 0;
}

/* The filters of the flat vector, in its order; NULL when out of memory. A
 * Dense weight's filters are its output neurons: the rows of a weight out x
 * in, the columns of a kernel in x out (the key dense.c reads it by); any
 * other array is one filter. */
static filter *list_filters(const fp_net *net, const fp_layout *layout, size_t *count)
{
    size_t cap = layout->n_params + 1, used = 0;
    filter *list = malloc(cap * sizeof *list);
    for (size_t i = 0; list && i < layout->n_params; i++) {
        const fp_param *p = &layout->params[i];
        const fp_node *array = p->node;
        int dense = array && array->rank == 2 && is_dense_weight(net, p->offset);
        const char *key = strrchr(p->path, '/');
        int kernel = dense && key && !strcmp(key + 1, "kernel");
        uint64_t filters = !dense ? 1 : kernel ? array->shape[1] : array->shape[0];
        if (used + filters > cap) {
            cap = (used + filters) * 2;
            filter *grown = realloc(list, cap * sizeof *list);
            if (!grown) {
                free(list);
                return NULL;
            }
            list = grown;
        }
        for (uint64_t f = 0; f < filters; f++) {
            if (!dense)
                list[used++] = (filter){ p->offset, p->n_elems, 1 };
            else if (kernel)   /* in x out: neuron f is column f */
                list[used++] = (filter){ p->offset + f, array->shape[0], array->shape[1] };
            else               /* out x in: neuron f is row f */
                list[used++] = (filter){ p->offset + f * array->shape[1], array->shape[1], 1 };
        }
    }
    *count = used;
    return list;
}

/* A standard normal draw (Box-Muller, the cosine half). */
static double gaussian(uint64_t *state)
{
    double u1 = (double)((fp_splitmix64(state) >> 11) + 1) * 0x1p-53;   /* (0, 1] */
    double u2 = (double)(fp_splitmix64(state) >> 11) * 0x1p-53;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double filter_norm(const filter *f, const double *v)
{
    double sum = 0;
    for (uint64_t i = 0; i < f->count; i++)
        sum += v[f->offset + i * f->stride] * v[f->offset + i * f->stride];
    return sqrt(sum);
}

int fp_landscape_random(const fp_net *net, const fp_layout *layout, size_t k, uint64_t seed,
                        double *directions, fp_error *err)
{
    size_t n = (size_t)net->n_params, count;
    if (layout->n_elems != net->n_params)
        return fp_fail(err, "the layout has %llu elements, the net %llu",
                       (unsigned long long)layout->n_elems, (unsigned long long)net->n_params);
    double *theta = malloc(n * sizeof *theta + 1);
    filter *filters = theta ? list_filters(net, layout, &count) : NULL;
    if (!filters) {
        free(theta);
        return fp_fail(err, "out of memory for the directions' filters");
    }
    fp_convert(theta, FP_F64, net->params, net->precision, n, NULL);
    uint64_t state = seed;
    for (size_t d = 0; d < k; d++) {
        double *v = directions + d * n;
        for (size_t t = 0; t < n; t++)
            v[t] = gaussian(&state);
        for (size_t f = 0; f < count; f++) {
            double have = filter_norm(&filters[f], v), want = filter_norm(&filters[f], theta);
            double scale = have > 0 ? want / have : 0;
            for (uint64_t i = 0; i < filters[f].count; i++)
                v[filters[f].offset + i * filters[f].stride] *= scale;
        }
    }
    free(filters);
    free(theta);
    return 0;
}

int fp_landscape_grid(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                      const double *directions, size_t k, const double *coords, size_t points,
                      double *losses, fp_progress_fn progress, void *ctx, fp_error *err)
{
    size_t n = (size_t)net->n_params, elem = fp_dtype_size(net->precision);
    if (k != 1 && k != 2)
        return fp_fail(err, "a landscape has 1 or 2 directions, not %zu", k);
    void *saved = malloc(n * elem + 1);
    double *theta = malloc(n * sizeof *theta + 1), *point = malloc(n * sizeof *point + 1);
    int rc = saved && theta && point ? 0 : fp_fail(err, "out of memory for %zu parameters", n);
    if (rc == 0) {
        memcpy(saved, net->params, n * elem);
        fp_convert(theta, FP_F64, net->params, net->precision, n, NULL);
    }
    uint64_t total = k == 1 ? points : (uint64_t)points * points;
    for (uint64_t at = 0; rc == 0 && at < total; at++) {
        double a = coords[k == 1 ? at : at / points], b = k == 1 ? 0 : coords[at % points];
        for (size_t t = 0; t < n; t++)
            point[t] = theta[t] + a * directions[t] + (k == 2 ? b * directions[n + t] : 0);
        fp_convert(net->params, net->precision, point, FP_F64, n, NULL);
        rc = fp_loss_value(net, x, y, loss, &losses[at], err);
        if (rc == 0 && progress)
            progress(ctx, at + 1, total);
    }
    if (saved)
        memcpy(net->params, saved, n * elem);   /* θ again, bit for bit */
    free(saved);
    free(theta);
    free(point);
    return rc;
}
