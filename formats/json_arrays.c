/* JSON arrays (json.c has the mapping): tensor objects, {"dtype", "shape",
 * "data"}, and bare arrays of numbers, float64 shaped by their nesting. The
 * numbers go from the text (runs of numbers stay text in the parsed
 * document) straight into the array's buffer, through a small double buffer. */
#include "json_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- tensor objects */

/* A tensor element: a number, or one of the strings that stand for the values
 * JSON cannot write ("NaN", "Infinity", "-Infinity"; case and "inf" forgiven);
 * true/false too for bool tensors. */
static int element_value(const fp_jvalue *item, fp_dtype dtype, double *value)
{
    if (item->type == FP_J_NUMBER) {
        *value = item->u.number;
        return 0;
    }
    if ((item->type == FP_J_TRUE || item->type == FP_J_FALSE) && dtype == FP_BOOL) {
        *value = item->type == FP_J_TRUE;
        return 0;
    }
    if (item->type != FP_J_STRING)
        return -1;
    const char *s = item->u.string;
    int negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!strcasecmp(s, "nan") && !negative)
        *value = NAN;
    else if (!strcasecmp(s, "infinity") || !strcasecmp(s, "inf"))
        *value = negative ? -INFINITY : INFINITY;
    else
        return -1;
    return 0;
}

/* An integer dtype's range; 0 for the other dtypes. */
static int integer_range(fp_dtype dtype, int64_t *lo, uint64_t *hi)
{
    static const struct { fp_dtype dtype; int64_t lo; uint64_t hi; } ranges[] = {
        { FP_I8, INT8_MIN, INT8_MAX }, { FP_U8, 0, UINT8_MAX },
        { FP_I16, INT16_MIN, INT16_MAX }, { FP_U16, 0, UINT16_MAX },
        { FP_I32, INT32_MIN, INT32_MAX }, { FP_U32, 0, UINT32_MAX },
        { FP_I64, INT64_MIN, INT64_MAX }, { FP_U64, 0, UINT64_MAX },
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (ranges[i].dtype == dtype) {
            *lo = ranges[i].lo;
            *hi = ranges[i].hi;
            return 1;
        }
    return 0;
}

/* As NumPy's np.array(data, dtype) does: an element of an integer tensor is
 * truncated toward zero (2.5 -> 2) and must then fit the dtype (1000 in int8
 * is refused, not clamped; NaN and infinities never fit). The values went
 * through doubles, so int64's and uint64's largest values read as 2^63 and
 * 2^64, which pass as those values. */
static int check_integer(fp_json_reader *r, fp_dtype dtype, uint64_t index, double value)
{
    int64_t lo;
    uint64_t hi;
    if (!integer_range(dtype, &lo, &hi))
        return 0;
    double whole = trunc(value);
    if (whole >= (double)lo && whole <= (double)hi)
        return 0;
    return fp_json_reader_fail(r, "data element %llu, %.17g, does not fit %s (%lld to %llu)",
                               (unsigned long long)index, value, fp_dtype_name(dtype), (long long)lo,
                               (unsigned long long)hi);
}

/* Walks a tensor's "data" in row-major order: checking and counting when dst
 * is NULL, otherwise converting through a small double buffer into dst. */
typedef struct data_walk {
    fp_json_reader *r;
    fp_dtype dtype;
    int complex;
    int integer;           /* the dtype has a range to check each value against */
    unsigned char *dst;
    uint64_t n_done;
    double chunk[1024];
    size_t n_chunk;        /* doubles in chunk */
} data_walk;

static void flush_chunk(data_walk *w)
{
    size_t n = w->complex ? w->n_chunk / 2 : w->n_chunk;
    fp_convert(w->dst + w->n_done * fp_dtype_size(w->dtype), w->dtype, w->chunk,
               w->complex ? FP_C128 : FP_F64, n, NULL);
    w->n_done += n;
    w->n_chunk = 0;
}

/* One element (its two parts when complex), checked already. */
static void take_element(data_walk *w, const double parts[2])
{
    if (!w->dst) {
        w->n_done++;
        return;
    }
    w->chunk[w->n_chunk++] = parts[0];
    if (w->complex)
        w->chunk[w->n_chunk++] = parts[1];
    if (w->n_chunk == sizeof w->chunk / sizeof w->chunk[0])
        flush_chunk(w);
}

/* A run of numbers where elements are expected: real elements, read from the
 * text only when they are stored or their range checked. */
static int walk_numbers(data_walk *w, const fp_jvalue *run)
{
    if (w->complex)
        return fp_json_reader_fail(w->r, "data element %llu is a number, expected an [re, im] pair",
                                   (unsigned long long)(w->n_done + w->n_chunk / 2));
    if (!w->dst && !w->integer) {
        w->n_done += run->n;
        return 0;
    }
    fp_jnumbers it;
    fp_jnumbers_start(&it, run);
    for (size_t i = 0; i < run->n; i++) {
        double parts[2] = { fp_jnumbers_next(&it, NULL, NULL), 0 };
        if (!w->dst && check_integer(w->r, w->dtype, w->n_done, parts[0]) < 0)
            return -1;
        take_element(w, parts);
    }
    return 0;
}

static int walk_data(data_walk *w, const fp_jvalue *item)
{
    int pair = w->complex && fp_json_is_array(item) && item->n
               && (item->type == FP_J_NUMBERS || !fp_json_is_array(&item->u.items[0]));
    if (item->type == FP_J_NUMBERS && !pair)
        return walk_numbers(w, item);
    if (item->type == FP_J_ARRAY && !pair) {
        for (size_t i = 0; i < item->n; i++)
            if (walk_data(w, &item->u.items[i]) < 0)
                return -1;
        return 0;
    }
    uint64_t index = w->n_done + (w->complex ? w->n_chunk / 2 : w->n_chunk);
    double parts[2] = { 0, 0 };
    if (pair && item->type == FP_J_NUMBERS && item->n == 2) {
        fp_jnumbers it;
        fp_jnumbers_start(&it, item);
        if (w->dst) {
            parts[0] = fp_jnumbers_next(&it, NULL, NULL);
            parts[1] = fp_jnumbers_next(&it, NULL, NULL);
        }
    } else if (pair) {
        if (item->n != 2 || element_value(&item->u.items[0], w->dtype, &parts[0]) < 0
            || element_value(&item->u.items[1], w->dtype, &parts[1]) < 0)
            return fp_json_reader_fail(w->r, "data element %llu is not an [re, im] pair of numbers",
                                       (unsigned long long)index);
    } else if (w->complex) {
        return fp_json_reader_fail(w->r, "data element %llu is %s, expected an [re, im] pair",
                                   (unsigned long long)index, fp_json_kind_name(item));
    } else if (element_value(item, w->dtype, &parts[0]) < 0) {
        return fp_json_reader_fail(w->r, "data element %llu is %s, expected a number",
                                   (unsigned long long)index, fp_json_kind_name(item));
    } else if (!w->dst && check_integer(w->r, w->dtype, index, parts[0]) < 0) {
        return -1;
    }
    take_element(w, parts);
    return 0;
}

static int shape_from_json(fp_json_reader *r, const fp_jvalue *json, int *rank, uint64_t *shape)
{
    if (!fp_json_is_array(json))
        return fp_json_reader_fail(r, "tensor shape is %s, expected an array of sizes",
                                   fp_json_kind_name(json));
    fp_jnumbers it;
    if (json->type == FP_J_NUMBERS)
        fp_jnumbers_start(&it, json);
    for (*rank = 0; (size_t)*rank < json->n;) {
        if (*rank == FP_MAX_RANK)
            return fp_json_reader_fail(r, "tensor rank is beyond the supported %d", FP_MAX_RANK);
        const fp_jvalue *dim = json->type == FP_J_ARRAY ? &json->u.items[*rank] : NULL;
        int is_number = !dim || dim->type == FP_J_NUMBER;
        double x = !dim ? fp_jnumbers_next(&it, NULL, NULL) : is_number ? dim->u.number : 0;
        if (!is_number || x < 0 || x != floor(x) || x >= 18446744073709551616.0)
            return fp_json_reader_fail(r, "tensor shape entry %d is not a non-negative integer", *rank);
        shape[(*rank)++] = (uint64_t)x;
    }
    return 0;
}

int fp_json_convert_tensor(fp_json_reader *r, const fp_jvalue *item, fp_node **out)
{
    const fp_jvalue *dtype_json = NULL, *shape_json = NULL, *data = NULL, *trainable = NULL;
    for (size_t i = 0; i < item->n; i++) {
        const fp_jvalue *child = &item->u.items[i];
        const char *k = child->key;
        const fp_jvalue **slot = !strcmp(k, "dtype") ? &dtype_json : !strcmp(k, "shape") ? &shape_json
                               : !strcmp(k, "data") ? &data : !strcmp(k, "trainable") ? &trainable : NULL;
        if (!slot)
            return fp_json_reader_fail(r, "tensor object has an unexpected key \"%s\" (it may hold dtype, "
                                       "shape, data and trainable)", k);
        *slot = child;
    }
    if (dtype_json->type != FP_J_STRING)
        return fp_json_reader_fail(r, "tensor dtype is %s, expected a string",
                                   fp_json_kind_name(dtype_json));
    fp_dtype dtype = fp_dtype_parse(dtype_json->u.string);
    if (dtype == FP_DT_NONE)
        return fp_json_reader_fail(r, "unknown dtype \"%s\"", dtype_json->u.string);
    int rank = 0;
    uint64_t shape[FP_MAX_RANK];
    if (shape_from_json(r, shape_json, &rank, shape) < 0)
        return -1;
    int trainable_number = trainable && trainable->type == FP_J_NUMBER;
    if (trainable && trainable->type != FP_J_TRUE && trainable->type != FP_J_FALSE
        && !(trainable_number && (trainable->u.number == 0 || trainable->u.number == 1)))
        return fp_json_reader_fail(r, "tensor trainable is %s, expected true or false",
                                   fp_json_kind_name(trainable));

    fp_error sub;
    fp_node *node = fp_node_new_array(dtype, rank, shape, &sub);
    if (!node)
        return fp_json_reader_fail(r, "%s", sub.msg);
    *out = node;
    node->trainable = !trainable || trainable->type == FP_J_TRUE
                      || (trainable_number && trainable->u.number == 1);

    data_walk *w = calloc(1, sizeof *w);
    if (!w)
        return fp_json_reader_fail(r, "out of memory");
    int64_t lo;
    uint64_t hi;
    *w = (data_walk){ .r = r, .dtype = dtype, .complex = fp_dtype_is_complex(dtype),
                      .integer = integer_range(dtype, &lo, &hi) };
    int rc = walk_data(w, data);
    if (rc == 0 && w->n_done != node->n_elems)
        rc = fp_json_reader_fail(r, "tensor data has %llu elements but its shape holds %llu",
                                 (unsigned long long)w->n_done, (unsigned long long)node->n_elems);
    if (rc == 0) {
        /* Even a zero-size array gets data: the tree's arrays are all materialized. */
        if (!(node->data = malloc(fp_array_bytes(node) ? fp_array_bytes(node) : 1))) {
            rc = fp_json_reader_fail(r, "out of memory for %zu bytes", fp_array_bytes(node));
        } else {
            w->dst = node->data;
            w->n_done = 0;
            walk_data(w, data); /* checked by the counting pass */
            flush_chunk(w);
        }
    }
    free(w);
    return rc;
}

/* ---- bare numeric arrays */

/* The rank and shape an array of numbers and arrays would have: the nesting
 * down to its first number (depth-first). 0 when it nests no number: a list. */
static int first_number_rank(const fp_jvalue *array, int depth, uint64_t *shape)
{
    shape[depth] = array->n;
    if (array->type == FP_J_NUMBERS)
        return depth + 1;
    for (size_t i = 0; i < array->n; i++) {
        const fp_jvalue *child = &array->u.items[i];
        if (child->type == FP_J_NUMBER)
            return depth + 1;
        int rank = fp_json_is_array(child) ? first_number_rank(child, depth + 1, shape) : 0;
        if (rank)
            return rank;
    }
    return 0;
}

static void format_row(char *buf, size_t cap, const size_t *trail, int n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? "/%zu" : "%zu", trail[i]);
}

/* Copies the numbers in row-major order, checking the array is rectangular with
 * the shape found above and holds nothing but numbers. */
static int fill_numeric(fp_json_reader *r, const fp_jvalue *array, int depth, const fp_node *node,
                        size_t *trail, double **dst)
{
    char row[256];
    size_t count = array->n;
    if (count != node->shape[depth]) {
        format_row(row, sizeof row, trail, depth);
        return fp_json_reader_fail(r, "ragged array: row %s has %zu element%s, expected %llu", row, count,
                                   count == 1 ? "" : "s", (unsigned long long)node->shape[depth]);
    }
    int leaf_level = depth + 1 == node->rank;
    if (array->type == FP_J_NUMBERS && leaf_level) {
        fp_jnumbers it;
        fp_jnumbers_start(&it, array);
        for (size_t i = 0; i < count; i++)
            *(*dst)++ = fp_jnumbers_next(&it, NULL, NULL);
        return 0;
    }
    if (array->type == FP_J_NUMBERS) {
        trail[depth] = 0;
        format_row(row, sizeof row, trail, depth + 1);
        return fp_json_reader_fail(r, "ragged array: row %s is a number, expected %llu elements", row,
                                   (unsigned long long)node->shape[depth + 1]);
    }
    for (size_t index = 0; index < count; index++) {
        const fp_jvalue *child = &array->u.items[index];
        trail[depth] = index;
        if (child->type == FP_J_NUMBER && leaf_level) {
            *(*dst)++ = child->u.number;
            continue;
        }
        format_row(row, sizeof row, trail, depth + 1);
        if (child->type != FP_J_NUMBER && !fp_json_is_array(child))
            return fp_json_reader_fail(r, "array mixes numbers with %s (element %s)",
                                       fp_json_kind_name(child), row);
        if (leaf_level)
            return fp_json_reader_fail(r, "ragged array: element %s is an array, expected a number", row);
        if (!fp_json_is_array(child))
            return fp_json_reader_fail(r, "ragged array: row %s is a number, expected %llu elements", row,
                                       (unsigned long long)node->shape[depth + 1]);
        if (fill_numeric(r, child, depth + 1, node, trail, dst) < 0)
            return -1;
    }
    return 0;
}

/* The first element, at any depth of nested arrays, that is not a number. */
static const fp_jvalue *first_non_number(const fp_jvalue *array)
{
    if (array->type == FP_J_NUMBERS)
        return NULL;
    for (size_t i = 0; i < array->n; i++) {
        const fp_jvalue *child = &array->u.items[i];
        const fp_jvalue *found = fp_json_is_array(child) ? first_non_number(child)
                               : child->type == FP_J_NUMBER ? NULL : child;
        if (found)
            return found;
    }
    return NULL;
}

int fp_json_convert_numeric(fp_json_reader *r, const fp_jvalue *item, fp_node **out)
{
    uint64_t shape[FP_JSON_MAX_DEPTH + 1];
    int rank = first_non_number(item) ? 0 : first_number_rank(item, 0, shape);
    *out = NULL;
    if (rank == 0)
        return 0;
    fp_error sub;
    fp_node *node = fp_node_new_array(FP_F64, rank, shape, &sub);
    if (!node)
        return fp_json_reader_fail(r, "%s", sub.msg);
    *out = node;
    if (!(node->data = malloc(fp_array_bytes(node))))
        return fp_json_reader_fail(r, "out of memory for %zu bytes", fp_array_bytes(node));
    size_t trail[FP_MAX_RANK];
    double *dst = node->data;
    return fill_numeric(r, item, 0, node, trail, &dst);
}
