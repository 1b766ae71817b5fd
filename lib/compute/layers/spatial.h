/*
 * What the spatial layers (convolution, pooling, zero padding) share: where a
 * sample's channels are, and the geometry of a window sliding over 1 to 3
 * spatial dimensions (its size, stride, dilation and padding), read from a
 * layer's fields in every tool's spelling.
 *
 * A sample's layout is its source's: channels last, (d..., C), for Keras
 * (unless its data_format says channels_first); channels first, (C, d...),
 * for PyTorch and for flatparams' native files (Flux's WHCN arrays as Julia
 * writes them, dimensions reversed: NCHW read row-major). X comes in that
 * layout, and Flatten flattens a sample row-major, which is the order each of
 * those frameworks' own Flatten gives. Spatial sizes, strides and paddings
 * are always listed in the sample's row-major order of its spatial
 * dimensions (PyTorch's (H, W), Keras' (rows, cols)).
 *
 * Per-dimension settings (stride, dilation, kernel_size, pool_size, explicit
 * padding) are a number (the same for every dimension) or an INTEGER array
 * (in JSON a tensor object, {"dtype": "int64", "shape": [2], "data": [2, 1]}):
 * a bare JSON list of numbers is a float64 array, which would be a
 * parameter of the flat vector, so it is refused here with a message saying
 * so. Keras' configs give lists, which its readers store as int64 arrays.
 */
#ifndef FP_LAYERS_SPATIAL_H
#define FP_LAYERS_SPATIAL_H

#include "../compute_internal.h"   /* (layer.h: what a kind is) */

enum { SPATIAL_MAX_DIMS = 3 };

typedef struct spatial_geometry {
    int dims;                          /* spatial dimensions: 1 to 3 */
    int channels_last;                 /* samples (d..., C), not (C, d...) */
    uint64_t window[SPATIAL_MAX_DIMS];    /* kernel or pool size */
    uint64_t stride[SPATIAL_MAX_DIMS];
    uint64_t dilation[SPATIAL_MAX_DIMS];
    /* Explicit padding before and after each dimension; with pad_same, what
     * spatial_output_shape resolved for the input it was given. */
    uint64_t pad_lo[SPATIAL_MAX_DIMS], pad_hi[SPATIAL_MAX_DIMS];
    int pad_same;                      /* "same": TensorFlow's rule (spatial_output_shape) */
} spatial_geometry;

/* A sample's spatial sizes and channels under the geometry's layout; -1 when
 * its rank is not dims + 1. */
static inline int spatial_split(const spatial_geometry *g, const sample_shape *shape,
                                uint64_t sizes[SPATIAL_MAX_DIMS], uint64_t *channels)
{
    if (shape->rank != g->dims + 1)
        return -1;
    int first = g->channels_last ? 0 : 1;
    for (int d = 0; d < g->dims; d++)
        sizes[d] = shape->dim[first + d];
    *channels = shape->dim[g->channels_last ? g->dims : 0];
    return 0;
}

/* The sample shape of spatial sizes and channels under the geometry's layout. */
static inline sample_shape spatial_join(const spatial_geometry *g,
                                        const uint64_t sizes[SPATIAL_MAX_DIMS], uint64_t channels)
{
    sample_shape shape = { .rank = g->dims + 1 };
    int first = g->channels_last ? 0 : 1;
    for (int d = 0; d < g->dims; d++)
        shape.dim[first + d] = sizes[d];
    shape.dim[g->channels_last ? g->dims : 0] = channels;
    return shape;
}

#ifndef FP_REAL_BITS
/* ---------------------------------------------------------------- reading the fields */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const spatial_stride_keys[] = { "stride", "strides", NULL };
static const char *const spatial_dilation_keys[] = { "dilation", "dilation_rate", NULL };
static const char *const spatial_padding_keys[] = { "padding", "pad", NULL };
static const char *const spatial_layout_keys[] = { "data_format", NULL };

/* A per-dimension integer setting found under key at path: a number for
 * every dimension, or an integer array of dims values. Each at least `least`. */
static int spatial_ints(layer_reader *r, const fp_node *node, const char *path, const char *key,
                        int dims, uint64_t least, uint64_t out[SPATIAL_MAX_DIMS])
{
    char *at = layer_join(path, key);
    if (!at)
        return layer_no_memory(r);
    int rc = 0;
    if (node->kind == FP_NUMBER) {
        double v = node->number;
        if (!(v >= (double)least && v <= 1e12 && v == floor(v)))
            rc = layer_fail(r, at, "expected a whole number of at least %llu, found %g",
                            (unsigned long long)least, v);
        for (int d = 0; rc == 0 && d < dims; d++)
            out[d] = (uint64_t)v;
    } else if (node->kind != FP_ARRAY) {
        rc = layer_fail(r, at, "expected a number or an integer array, found a %s",
                        layer_node_kind(node->kind));
    } else if (fp_dtype_is_param(node->dtype)) {
        rc = layer_fail(r, at, "is a %s array, which would be a parameter: give an integer "
                        "array ({\"dtype\": \"int64\", \"shape\": [%d], \"data\": [...]}) or a "
                        "number", fp_dtype_name(node->dtype), dims);
    } else if (node->rank != 1 || node->n_elems != (uint64_t)dims) {
        rc = layer_fail(r, at, "expected %d values, one per spatial dimension, found %llu", dims,
                        (unsigned long long)node->n_elems);
    } else {
        int64_t values[SPATIAL_MAX_DIMS];
        fp_error err = { 0 };
        if (fp_array_read(node, values, FP_I64, &err) < 0)
            rc = layer_fail(r, at, "%s", err.msg);
        for (int d = 0; rc == 0 && d < dims; d++) {
            if (values[d] < (int64_t)least || values[d] > (int64_t)1e12)
                rc = layer_fail(r, at, "value %lld is below %llu", (long long)values[d],
                                (unsigned long long)least);
            else
                out[d] = (uint64_t)values[d];
        }
    }
    free(at);
    return rc;
}

/* The optional per-dimension setting under any of keys (fallback for every
 * dimension when absent). */
static int spatial_setting(layer_reader *r, const fp_node *map, const char *path,
                           const char *const *keys, int dims, uint64_t least, uint64_t fallback,
                           uint64_t out[SPATIAL_MAX_DIMS])
{
    const char *key;
    const fp_node *node = layer_field(map, keys, &key);
    for (int d = 0; d < dims; d++)
        out[d] = fallback;
    return node ? spatial_ints(r, node, path, key, dims, least, out) : 0;
}

/* Padding: "valid" (none), "same" (TensorFlow's rule, also PyTorch's with
 * stride 1), a number for both sides of every dimension, an integer array of
 * dims values (both sides of each), or of dims x 2 (before, after). */
static int spatial_padding(layer_reader *r, const fp_node *map, const char *path,
                           spatial_geometry *g)
{
    const char *key;
    const fp_node *node = layer_field(map, spatial_padding_keys, &key);
    memset(g->pad_lo, 0, sizeof g->pad_lo);
    memset(g->pad_hi, 0, sizeof g->pad_hi);
    g->pad_same = 0;
    if (!node)
        return 0;
    if (node->kind == FP_STRING) {
        if (!strcmp(node->str, "same") || !strcmp(node->str, "SAME"))
            g->pad_same = 1;
        else if (strcmp(node->str, "valid") && strcmp(node->str, "VALID")) {
            char *at = layer_join(path, key);
            int rc = at ? layer_fail(r, at, "unknown padding '%s' (valid, same, or numbers)",
                                     node->str)
                        : layer_no_memory(r);
            free(at);
            return rc;
        }
        return 0;
    }
    if (node->kind == FP_ARRAY && node->rank == 2 && !fp_dtype_is_param(node->dtype)) {
        char *at = layer_join(path, key);
        int64_t values[2 * SPATIAL_MAX_DIMS];
        fp_error err = { 0 };
        int rc = at ? 0 : layer_no_memory(r);
        if (rc == 0 && (node->shape[0] != (uint64_t)g->dims || node->shape[1] != 2))
            rc = layer_fail(r, at, "expected %d x 2 values (before, after each spatial "
                            "dimension), found %llu x %llu", g->dims,
                            (unsigned long long)node->shape[0], (unsigned long long)node->shape[1]);
        else if (rc == 0 && fp_array_read(node, values, FP_I64, &err) < 0)
            rc = layer_fail(r, at, "%s", err.msg);
        for (int d = 0; rc == 0 && d < g->dims; d++) {
            if (values[2 * d] < 0 || values[2 * d + 1] < 0)
                rc = layer_fail(r, at, "a padding cannot be negative");
            g->pad_lo[d] = (uint64_t)values[2 * d];
            g->pad_hi[d] = (uint64_t)values[2 * d + 1];
        }
        free(at);
        return rc;
    }
    int rc = spatial_ints(r, node, path, key, g->dims, 0, g->pad_lo);
    memcpy(g->pad_hi, g->pad_lo, sizeof g->pad_hi);
    return rc;
}

/* Where the channels are: data_format when the layer has one, else the
 * kind's convention (channels_last_by_default: Keras' classes). */
static int spatial_layout(layer_reader *r, const fp_node *map, const char *path,
                          int channels_last_by_default, spatial_geometry *g)
{
    const char *key;
    const fp_node *node = layer_field(map, spatial_layout_keys, &key);
    g->channels_last = channels_last_by_default;
    if (!node)
        return 0;
    if (node->kind == FP_STRING && !strcmp(node->str, "channels_last"))
        g->channels_last = 1;
    else if (node->kind == FP_STRING && !strcmp(node->str, "channels_first"))
        g->channels_last = 0;
    else {
        char *at = layer_join(path, key);
        int rc = at ? layer_fail(r, at, "expected \"channels_last\" or \"channels_first\"")
                    : layer_no_memory(r);
        free(at);
        return rc;
    }
    return 0;
}

/* The spatial sizes out of a window sliding over sizes in (with "same"
 * padding resolved for them into g: TensorFlow's rule, the total
 * max((ceil(n / s) - 1) s + (k - 1) d + 1 - n, 0), its smaller half before);
 * -1 with the reason in why when a window does not fit. */
static int spatial_slide(spatial_geometry *g, const uint64_t in[SPATIAL_MAX_DIMS],
                         uint64_t out[SPATIAL_MAX_DIMS], char *why, size_t cap)
{
    for (int d = 0; d < g->dims; d++) {
        uint64_t reach = (g->window[d] - 1) * g->dilation[d] + 1;
        if (g->pad_same) {
            uint64_t steps = (in[d] + g->stride[d] - 1) / g->stride[d];
            uint64_t need = steps ? (steps - 1) * g->stride[d] + reach : 0;
            uint64_t total = need > in[d] ? need - in[d] : 0;
            g->pad_lo[d] = total / 2;
            g->pad_hi[d] = total - total / 2;
        }
        uint64_t padded = in[d] + g->pad_lo[d] + g->pad_hi[d];
        if (padded < reach) {
            snprintf(why, cap, "its window spans %llu along spatial dimension %d, but the input "
                     "has %llu there (with padding)", (unsigned long long)reach, d + 1,
                     (unsigned long long)padded);
            return -1;
        }
        out[d] = (padded - reach) / g->stride[d] + 1;
    }
    return 0;
}

#endif /* !FP_REAL_BITS */
#endif
