/* Reading JSON models: json_parse.c parses the whole document (a run of numbers
 * stays text until it is read straight into its array's buffer), this file maps
 * it onto the fp_node tree (the mapping is in json.c) and resolves $ref sharing
 * once the whole tree exists. Arrays are materialized: the file is read whole
 * anyway. */
#include "json_internal.h"
#include "json_parse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct reader {
    const char *file;
    fp_error *err;
    fp_json_path path;
    fp_json_refs refs;
} reader;

static int fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader *r, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fp_json_fail(r->err, r->file, fp_json_path_str(&r->path), "%s", what);
}

static int push_key(reader *r, const char *key)
{
    return fp_json_path_push(&r->path, key, 0) < 0 ? fail(r, "out of memory") : 0;
}

static int push_index(reader *r, size_t index)
{
    return fp_json_path_push_index(&r->path, index) < 0 ? fail(r, "out of memory") : 0;
}

static const char *kind_name(const fp_jvalue *item)
{
    static const char *const names[] = {
        [FP_J_NULL] = "null", [FP_J_FALSE] = "a boolean", [FP_J_TRUE] = "a boolean",
        [FP_J_NUMBER] = "a number", [FP_J_STRING] = "a string", [FP_J_ARRAY] = "an array",
        [FP_J_NUMBERS] = "an array", [FP_J_OBJECT] = "an object",
    };
    return names[item->type];
}

/* ---- the file and its nesting */

static char *read_whole(reader *r, size_t *n_out)
{
    FILE *f = fopen(r->file, "rb");
    if (!f) {
        fp_fail(r->err, "%s: cannot open: %s", r->file, strerror(errno));
        return NULL;
    }
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
    size_t n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *grown = realloc(buf, 2 * cap);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    int read_error = ferror(f);
    fclose(f);
    if (!buf) {
        fp_fail(r->err, "%s: out of memory reading the file", r->file);
        return NULL;
    }
    if (read_error) {
        fp_fail(r->err, "%s: cannot read: %s", r->file, strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *n_out = n;
    return buf;
}

static int invalid_at(reader *r, const char *text, size_t offset)
{
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    return fp_fail(r->err, "%s: invalid JSON at line %zu, column %zu", r->file, line, column);
}

/* Refuses nesting beyond FP_JSON_MAX_DEPTH before cJSON recurses into it, and
 * names the path where it happens: a light scan that tracks, per open container,
 * the current key or index. */
static int check_depth(reader *r, const char *text, size_t n)
{
    struct frame {
        int is_object, want_key;
        size_t index;
        const char *key;
        size_t key_len;
    } stack[FP_JSON_MAX_DEPTH];
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == '"') {
            size_t start = ++i;
            while (i < n && text[i] != '"')
                i += text[i] == '\\' ? 2 : 1;
            struct frame *top = depth ? &stack[depth - 1] : NULL;
            if (top && top->is_object && top->want_key) {
                top->key = text + start;
                top->key_len = (i < n ? i : n) - start;
                top->want_key = 0;
            }
        } else if (c == '{' || c == '[') {
            if (depth == FP_JSON_MAX_DEPTH)
                break;
            stack[depth++] = (struct frame){ .is_object = c == '{', .want_key = c == '{' };
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        } else if (c == ',' && depth) {
            stack[depth - 1].index++;
            stack[depth - 1].want_key = stack[depth - 1].is_object;
        }
    }
    if (depth < FP_JSON_MAX_DEPTH)
        return 0;
    for (int d = 0; d < depth; d++) {
        char name[256];
        if (stack[d].is_object)
            snprintf(name, sizeof name, "%.*s", (int)(stack[d].key_len < 255 ? stack[d].key_len : 255),
                     stack[d].key ? stack[d].key : "");
        if ((stack[d].is_object ? push_key(r, name) : push_index(r, stack[d].index)) < 0)
            return -1;
    }
    return fail(r, "nesting deeper than %d levels", FP_JSON_MAX_DEPTH);
}

/* ---- values */

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
static int check_integer(reader *r, fp_dtype dtype, uint64_t index, double value)
{
    int64_t lo;
    uint64_t hi;
    if (!integer_range(dtype, &lo, &hi))
        return 0;
    double whole = trunc(value);
    if (whole >= (double)lo && whole <= (double)hi)
        return 0;
    return fail(r, "data element %llu, %.17g, does not fit %s (%lld to %llu)", (unsigned long long)index,
                value, fp_dtype_name(dtype), (long long)lo, (unsigned long long)hi);
}

/* Walks a tensor's "data" in row-major order: checking and counting when dst
 * is NULL, otherwise converting through a small double buffer into dst. */
typedef struct data_walk {
    reader *r;
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
        return fail(w->r, "data element %llu is a number, expected an [re, im] pair",
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
            return fail(w->r, "data element %llu is not an [re, im] pair of numbers",
                        (unsigned long long)index);
    } else if (w->complex) {
        return fail(w->r, "data element %llu is %s, expected an [re, im] pair",
                    (unsigned long long)index, kind_name(item));
    } else if (element_value(item, w->dtype, &parts[0]) < 0) {
        return fail(w->r, "data element %llu is %s, expected a number",
                    (unsigned long long)index, kind_name(item));
    } else if (!w->dst && check_integer(w->r, w->dtype, index, parts[0]) < 0) {
        return -1;
    }
    take_element(w, parts);
    return 0;
}

static int shape_from_json(reader *r, const fp_jvalue *json, int *rank, uint64_t *shape)
{
    if (!fp_json_is_array(json))
        return fail(r, "tensor shape is %s, expected an array of sizes", kind_name(json));
    fp_jnumbers it;
    if (json->type == FP_J_NUMBERS)
        fp_jnumbers_start(&it, json);
    for (*rank = 0; (size_t)*rank < json->n;) {
        if (*rank == FP_MAX_RANK)
            return fail(r, "tensor rank is beyond the supported %d", FP_MAX_RANK);
        const fp_jvalue *dim = json->type == FP_J_ARRAY ? &json->u.items[*rank] : NULL;
        int is_number = !dim || dim->type == FP_J_NUMBER;
        double x = !dim ? fp_jnumbers_next(&it, NULL, NULL) : is_number ? dim->u.number : 0;
        if (!is_number || x < 0 || x != floor(x) || x >= 18446744073709551616.0)
            return fail(r, "tensor shape entry %d is not a non-negative integer", *rank);
        shape[(*rank)++] = (uint64_t)x;
    }
    return 0;
}

static int convert_tensor(reader *r, const fp_jvalue *item, fp_node **out)
{
    const fp_jvalue *dtype_json = NULL, *shape_json = NULL, *data = NULL, *trainable = NULL;
    for (size_t i = 0; i < item->n; i++) {
        const fp_jvalue *child = &item->u.items[i];
        const char *k = child->key;
        const fp_jvalue **slot = !strcmp(k, "dtype") ? &dtype_json : !strcmp(k, "shape") ? &shape_json
                               : !strcmp(k, "data") ? &data : !strcmp(k, "trainable") ? &trainable : NULL;
        if (!slot)
            return fail(r, "tensor object has an unexpected key \"%s\" (it may hold dtype, "
                        "shape, data and trainable)", k);
        *slot = child;
    }
    if (dtype_json->type != FP_J_STRING)
        return fail(r, "tensor dtype is %s, expected a string", kind_name(dtype_json));
    fp_dtype dtype = fp_dtype_parse(dtype_json->u.string);
    if (dtype == FP_DT_NONE)
        return fail(r, "unknown dtype \"%s\"", dtype_json->u.string);
    int rank = 0;
    uint64_t shape[FP_MAX_RANK];
    if (shape_from_json(r, shape_json, &rank, shape) < 0)
        return -1;
    int trainable_number = trainable && trainable->type == FP_J_NUMBER;
    if (trainable && trainable->type != FP_J_TRUE && trainable->type != FP_J_FALSE
        && !(trainable_number && (trainable->u.number == 0 || trainable->u.number == 1)))
        return fail(r, "tensor trainable is %s, expected true or false", kind_name(trainable));

    fp_error sub;
    fp_node *node = fp_node_new_array(dtype, rank, shape, &sub);
    if (!node)
        return fail(r, "%s", sub.msg);
    *out = node;
    node->trainable = !trainable || trainable->type == FP_J_TRUE
                      || (trainable_number && trainable->u.number == 1);

    data_walk *w = calloc(1, sizeof *w);
    if (!w)
        return fail(r, "out of memory");
    int64_t lo;
    uint64_t hi;
    *w = (data_walk){ .r = r, .dtype = dtype, .complex = fp_dtype_is_complex(dtype),
                      .integer = integer_range(dtype, &lo, &hi) };
    int rc = walk_data(w, data);
    if (rc == 0 && w->n_done != node->n_elems)
        rc = fail(r, "tensor data has %llu elements but its shape holds %llu",
                  (unsigned long long)w->n_done, (unsigned long long)node->n_elems);
    if (rc == 0) {
        /* Even a zero-size array gets data: the tree's arrays are all materialized. */
        if (!(node->data = malloc(fp_array_bytes(node) ? fp_array_bytes(node) : 1))) {
            rc = fail(r, "out of memory for %zu bytes", fp_array_bytes(node));
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
static int fill_numeric(reader *r, const fp_jvalue *array, int depth, const fp_node *node,
                        size_t *trail, double **dst)
{
    char row[256];
    size_t count = array->n;
    if (count != node->shape[depth]) {
        format_row(row, sizeof row, trail, depth);
        return fail(r, "ragged array: row %s has %zu element%s, expected %llu", row, count,
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
        return fail(r, "ragged array: row %s is a number, expected %llu elements", row,
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
            return fail(r, "array mixes numbers with %s (element %s)", kind_name(child), row);
        if (leaf_level)
            return fail(r, "ragged array: element %s is an array, expected a number", row);
        if (!fp_json_is_array(child))
            return fail(r, "ragged array: row %s is a number, expected %llu elements", row,
                        (unsigned long long)node->shape[depth + 1]);
        if (fill_numeric(r, child, depth + 1, node, trail, dst) < 0)
            return -1;
    }
    return 0;
}

static int convert(reader *r, const fp_jvalue *item, fp_node **out);

static int append_child(reader *r, fp_node *parent, const char *key, const fp_jvalue *item)
{
    fp_node *child = NULL;
    size_t saved = r->path.len;
    int rc = (key ? push_key(r, key) : push_index(r, parent->n_children)) < 0 ? -1
           : convert(r, item, &child);
    if (rc == 0 && fp_node_append(parent, key, child, r->err) < 0)
        rc = fail(r, "out of memory");
    if (rc == 0)
        fp_json_refs_placed(&r->refs, parent);
    if (rc < 0 && child && child->refs == 0)
        fp_node_release(child);
    fp_json_path_pop(&r->path, saved);
    return rc;
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

static int convert_array(reader *r, const fp_jvalue *item, fp_node **out)
{
    /* Beside objects, strings, booleans or nulls, numbers and arrays are
     * elements of a list (Keras configs hold [null, 16] and ["dense", 0, 0]). */
    const fp_jvalue *other = first_non_number(item);
    uint64_t shape[FP_JSON_MAX_DEPTH + 1];
    int rank = other ? 0 : first_number_rank(item, 0, shape);
    if (rank == 0) {
        if (!(*out = fp_node_new(FP_LIST)))
            return fail(r, "out of memory");
        for (size_t i = 0; i < item->n; i++)
            if (append_child(r, *out, NULL, &item->u.items[i]) < 0)
                return -1;
        return 0;
    }
    fp_error sub;
    fp_node *node = fp_node_new_array(FP_F64, rank, shape, &sub);
    if (!node)
        return fail(r, "%s", sub.msg);
    *out = node;
    if (!(node->data = malloc(fp_array_bytes(node))))
        return fail(r, "out of memory for %zu bytes", fp_array_bytes(node));
    size_t trail[FP_MAX_RANK];
    double *dst = node->data;
    return fill_numeric(r, item, 0, node, trail, &dst);
}

/* ---- objects */

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_unique_keys(reader *r, const fp_jvalue *item)
{
    size_t n = item->n;
    if (n < 2)
        return 0;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return fail(r, "out of memory");
    for (size_t i = 0; i < n; i++)
        keys[i] = item->u.items[i].key;
    qsort(keys, n, sizeof *keys, compare_keys);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            rc = push_key(r, keys[i]) < 0 ? -1 : fail(r, "duplicate key");
    free(keys);
    return rc;
}

static int convert_ref(reader *r, const fp_jvalue *item, const fp_jvalue *ref, fp_node **out)
{
    if (item->n != 1)
        return fail(r, "an object with \"$ref\" may hold no other key");
    if (ref->type != FP_J_STRING)
        return fail(r, "$ref is %s, expected a path string", kind_name(ref));
    if (r->path.len == 0)
        return fail(r, "the root cannot be a $ref");
    if (!(*out = fp_json_refs_add(&r->refs, ref->u.string, r->path.buf)))
        return fail(r, "out of memory");
    return 0;
}

static int convert_map(reader *r, const fp_jvalue *item, fp_node **out)
{
    if (check_unique_keys(r, item) < 0)
        return -1;
    fp_node *node = *out = fp_node_new(FP_MAP);
    if (!node)
        return fail(r, "out of memory");
    for (size_t i = 0; i < item->n; i++)
        if (append_child(r, node, item->u.items[i].key, &item->u.items[i]) < 0)
            return -1;
    /* The layer type and the trainable mark stay ordinary children as well, so
     * writing the tree back reproduces the document. */
    const fp_node *type = fp_map_get(node, "type"), *trainable = fp_map_get(node, "trainable");
    if (type && type->kind == FP_STRING && !(node->type = strdup(type->str)))
        return fail(r, "out of memory");
    if (trainable && ((trainable->kind == FP_BOOLEAN && !trainable->boolean)
                      || (trainable->kind == FP_NUMBER && trainable->number == 0)))
        node->trainable = 0;
    return 0;
}

static int convert(reader *r, const fp_jvalue *item, fp_node **out)
{
    *out = NULL;
    switch (item->type) {
    case FP_J_OBJECT: {
        const fp_jvalue *ref = fp_json_member(item, "$ref");
        if (ref)
            return convert_ref(r, item, ref, out);
        if (fp_json_member(item, "dtype") && fp_json_member(item, "shape") && fp_json_member(item, "data"))
            return check_unique_keys(r, item) < 0 ? -1 : convert_tensor(r, item, out);
        return convert_map(r, item, out);
    }
    case FP_J_ARRAY:
    case FP_J_NUMBERS:
        return convert_array(r, item, out);
    case FP_J_STRING:
        *out = fp_node_new_string(item->u.string);
        break;
    case FP_J_NUMBER:
        *out = fp_node_new_number(item->u.number);
        break;
    case FP_J_TRUE:
    case FP_J_FALSE:
        *out = fp_node_new_bool(item->type == FP_J_TRUE);
        break;
    case FP_J_NULL:
        *out = fp_node_new(FP_NULL);
        break;
    }
    return *out ? 0 : fail(r, "out of memory");
}

/* ---- the entry */

int fp_json_read(fp_tree *tree, fp_error *err)
{
    reader r = { .file = tree->path, .err = err, .refs = { .file = tree->path } };
    size_t n;
    char *text = read_whole(&r, &n);
    if (!text)
        return -1;
    const char *nul = memchr(text, 0, n);
    fp_jvalue json = { .type = FP_J_NULL };
    int rc = nul ? invalid_at(&r, text, (size_t)(nul - text)) : check_depth(&r, text, n);
    if (rc == 0) {
        size_t end;
        int out_of_memory;
        rc = fp_json_parse(text, n + 1, 1, &json, &end, &out_of_memory);
        if (rc < 0 && out_of_memory)
            fp_fail(err, "%s: out of memory parsing the JSON text (%zu bytes)", r.file, n);
        else if (rc < 0)
            invalid_at(&r, text, end);
        else
            fp_json_unescape(&json);
    }

    /* The text holds the document's strings and numbers until the tree has them. */
    fp_node *root = NULL;
    if (rc == 0)
        rc = convert(&r, &json, &root);
    fp_json_free(&json);
    free(text);
    if (rc == 0 && r.refs.n)
        rc = fp_json_refs_link(&r.refs, root, err);
    if (root)
        root->refs++; /* the tree's reference */
    if (rc == 0)
        tree->root = root;
    else
        fp_node_release(root);
    fp_json_refs_free(&r.refs);
    free(r.path.buf);
    return rc;
}
