/* Reading JSON models: cJSON parses the whole document, this file maps it onto
 * the fp_node tree (the mapping is in json.c) and resolves $ref sharing once the
 * whole tree exists. Arrays are materialized: the file is read whole anyway. */
#include "json_internal.h"

#include <cjson/cJSON.h>
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

static const char *kind_name(const cJSON *item)
{
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNull(item)) return "null";
    if (cJSON_IsArray(item)) return "an array";
    return "an object";
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
static int element_value(const cJSON *item, fp_dtype dtype, double *value)
{
    if (cJSON_IsNumber(item)) {
        *value = item->valuedouble;
        return 0;
    }
    if (cJSON_IsBool(item) && dtype == FP_BOOL) {
        *value = cJSON_IsTrue(item);
        return 0;
    }
    if (!cJSON_IsString(item))
        return -1;
    const char *s = item->valuestring;
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

/* Walks a tensor's "data" in row-major order: counting when dst is NULL,
 * otherwise converting through a small double buffer into dst. */
typedef struct data_walk {
    reader *r;
    fp_dtype dtype;
    int complex;
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

static int walk_data(data_walk *w, const cJSON *item)
{
    int pair = w->complex && cJSON_IsArray(item) && item->child && !cJSON_IsArray(item->child);
    if (cJSON_IsArray(item) && !pair) {
        for (const cJSON *child = item->child; child; child = child->next)
            if (walk_data(w, child) < 0)
                return -1;
        return 0;
    }
    uint64_t index = w->n_done + (w->complex ? w->n_chunk / 2 : w->n_chunk);
    double parts[2] = { 0, 0 };
    if (pair) {
        const cJSON *re = item->child, *im = re->next;
        if (!im || im->next || element_value(re, w->dtype, &parts[0]) < 0
            || element_value(im, w->dtype, &parts[1]) < 0)
            return fail(w->r, "data element %llu is not an [re, im] pair of numbers",
                        (unsigned long long)index);
    } else if (w->complex) {
        return fail(w->r, "data element %llu is %s, expected an [re, im] pair",
                    (unsigned long long)index, kind_name(item));
    } else if (element_value(item, w->dtype, &parts[0]) < 0) {
        return fail(w->r, "data element %llu is %s, expected a number",
                    (unsigned long long)index, kind_name(item));
    } else if (check_integer(w->r, w->dtype, index, parts[0]) < 0) {
        return -1;
    }
    if (!w->dst) {
        w->n_done++;
        return 0;
    }
    w->chunk[w->n_chunk++] = parts[0];
    if (w->complex)
        w->chunk[w->n_chunk++] = parts[1];
    if (w->n_chunk == sizeof w->chunk / sizeof w->chunk[0])
        flush_chunk(w);
    return 0;
}

static int shape_from_json(reader *r, const cJSON *json, int *rank, uint64_t *shape)
{
    if (!cJSON_IsArray(json))
        return fail(r, "tensor shape is %s, expected an array of sizes", kind_name(json));
    *rank = 0;
    for (const cJSON *dim = json->child; dim; dim = dim->next) {
        if (*rank == FP_MAX_RANK)
            return fail(r, "tensor rank is beyond the supported %d", FP_MAX_RANK);
        double x = dim->valuedouble;
        if (!cJSON_IsNumber(dim) || x < 0 || x != floor(x) || x >= 18446744073709551616.0)
            return fail(r, "tensor shape entry %d is not a non-negative integer", *rank);
        shape[(*rank)++] = (uint64_t)x;
    }
    return 0;
}

static int convert_tensor(reader *r, const cJSON *item, fp_node **out)
{
    const cJSON *dtype_json = NULL, *shape_json = NULL, *data = NULL, *trainable = NULL;
    for (const cJSON *child = item->child; child; child = child->next) {
        const char *k = child->string;
        const cJSON **slot = !strcmp(k, "dtype") ? &dtype_json : !strcmp(k, "shape") ? &shape_json
                           : !strcmp(k, "data") ? &data : !strcmp(k, "trainable") ? &trainable : NULL;
        if (!slot)
            return fail(r, "tensor object has an unexpected key \"%s\" (it may hold dtype, "
                        "shape, data and trainable)", k);
        *slot = child;
    }
    if (!cJSON_IsString(dtype_json))
        return fail(r, "tensor dtype is %s, expected a string", kind_name(dtype_json));
    fp_dtype dtype = fp_dtype_parse(dtype_json->valuestring);
    if (dtype == FP_DT_NONE)
        return fail(r, "unknown dtype \"%s\"", dtype_json->valuestring);
    int rank = 0;
    uint64_t shape[FP_MAX_RANK];
    if (shape_from_json(r, shape_json, &rank, shape) < 0)
        return -1;
    if (trainable && !cJSON_IsBool(trainable)
        && !(cJSON_IsNumber(trainable) && (trainable->valuedouble == 0 || trainable->valuedouble == 1)))
        return fail(r, "tensor trainable is %s, expected true or false", kind_name(trainable));

    fp_error sub;
    fp_node *node = fp_node_new_array(dtype, rank, shape, &sub);
    if (!node)
        return fail(r, "%s", sub.msg);
    *out = node;
    node->trainable = !trainable || cJSON_IsTrue(trainable) || trainable->valuedouble == 1;

    data_walk *w = calloc(1, sizeof *w);
    if (!w)
        return fail(r, "out of memory");
    *w = (data_walk){ .r = r, .dtype = dtype, .complex = fp_dtype_is_complex(dtype) };
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
            walk_data(w, data); /* validated by the counting pass */
            flush_chunk(w);
        }
    }
    free(w);
    return rc;
}

/* ---- bare numeric arrays */

/* The rank and shape an array of numbers and arrays would have: the nesting
 * down to its first number (depth-first). 0 when it nests no number: a list. */
static int first_number_rank(const cJSON *array, int depth, uint64_t *shape)
{
    shape[depth] = 0;
    for (const cJSON *child = array->child; child; child = child->next)
        shape[depth]++;
    for (const cJSON *child = array->child; child; child = child->next) {
        if (cJSON_IsNumber(child))
            return depth + 1;
        int rank = cJSON_IsArray(child) ? first_number_rank(child, depth + 1, shape) : 0;
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
static int fill_numeric(reader *r, const cJSON *array, int depth, const fp_node *node,
                        size_t *trail, double **dst)
{
    char row[256];
    size_t count = 0;
    for (const cJSON *child = array->child; child; child = child->next)
        count++;
    if (count != node->shape[depth]) {
        format_row(row, sizeof row, trail, depth);
        return fail(r, "ragged array: row %s has %zu element%s, expected %llu", row, count,
                    count == 1 ? "" : "s", (unsigned long long)node->shape[depth]);
    }
    int leaf_level = depth + 1 == node->rank;
    size_t index = 0;
    for (const cJSON *child = array->child; child; child = child->next, index++) {
        trail[depth] = index;
        if (cJSON_IsNumber(child) && leaf_level) {
            *(*dst)++ = child->valuedouble;
            continue;
        }
        format_row(row, sizeof row, trail, depth + 1);
        if (!cJSON_IsNumber(child) && !cJSON_IsArray(child))
            return fail(r, "array mixes numbers with %s (element %s)", kind_name(child), row);
        if (leaf_level)
            return fail(r, "ragged array: element %s is an array, expected a number", row);
        if (!cJSON_IsArray(child))
            return fail(r, "ragged array: row %s is a number, expected %llu elements", row,
                        (unsigned long long)node->shape[depth + 1]);
        if (fill_numeric(r, child, depth + 1, node, trail, dst) < 0)
            return -1;
    }
    return 0;
}

static int convert(reader *r, const cJSON *item, fp_node **out);

static int append_child(reader *r, fp_node *parent, const char *key, const cJSON *item)
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
static const cJSON *first_non_number(const cJSON *array)
{
    for (const cJSON *child = array->child; child; child = child->next) {
        const cJSON *found = cJSON_IsArray(child) ? first_non_number(child)
                           : cJSON_IsNumber(child) ? NULL : child;
        if (found)
            return found;
    }
    return NULL;
}

static int convert_array(reader *r, const cJSON *item, fp_node **out)
{
    /* Beside objects, strings, booleans or nulls, numbers and arrays are
     * elements of a list (Keras configs hold [null, 16] and ["dense", 0, 0]). */
    const cJSON *other = first_non_number(item);
    uint64_t shape[FP_JSON_MAX_DEPTH + 1];
    int rank = other ? 0 : first_number_rank(item, 0, shape);
    if (rank == 0) {
        if (!(*out = fp_node_new(FP_LIST)))
            return fail(r, "out of memory");
        for (const cJSON *child = item->child; child; child = child->next)
            if (append_child(r, *out, NULL, child) < 0)
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

static int check_unique_keys(reader *r, const cJSON *item)
{
    size_t n = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        n++;
    if (n < 2)
        return 0;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return fail(r, "out of memory");
    n = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        keys[n++] = child->string;
    qsort(keys, n, sizeof *keys, compare_keys);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            rc = push_key(r, keys[i]) < 0 ? -1 : fail(r, "duplicate key");
    free(keys);
    return rc;
}

static int convert_ref(reader *r, const cJSON *item, const cJSON *ref, fp_node **out)
{
    if (item->child != ref || ref->next)
        return fail(r, "an object with \"$ref\" may hold no other key");
    if (!cJSON_IsString(ref))
        return fail(r, "$ref is %s, expected a path string", kind_name(ref));
    if (r->path.len == 0)
        return fail(r, "the root cannot be a $ref");
    if (!(*out = fp_json_refs_add(&r->refs, ref->valuestring, r->path.buf)))
        return fail(r, "out of memory");
    return 0;
}

static int convert_map(reader *r, const cJSON *item, fp_node **out)
{
    if (check_unique_keys(r, item) < 0)
        return -1;
    fp_node *node = *out = fp_node_new(FP_MAP);
    if (!node)
        return fail(r, "out of memory");
    for (const cJSON *child = item->child; child; child = child->next)
        if (append_child(r, node, child->string, child) < 0)
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

static int convert(reader *r, const cJSON *item, fp_node **out)
{
    *out = NULL;
    if (cJSON_IsObject(item)) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(item, "$ref");
        if (ref)
            return convert_ref(r, item, ref, out);
        if (cJSON_GetObjectItemCaseSensitive(item, "dtype") && cJSON_GetObjectItemCaseSensitive(item, "shape")
            && cJSON_GetObjectItemCaseSensitive(item, "data"))
            return check_unique_keys(r, item) < 0 ? -1 : convert_tensor(r, item, out);
        return convert_map(r, item, out);
    }
    if (cJSON_IsArray(item))
        return convert_array(r, item, out);
    if (cJSON_IsString(item))
        *out = fp_node_new_string(item->valuestring);
    else if (cJSON_IsNumber(item))
        *out = fp_node_new_number(item->valuedouble);
    else if (cJSON_IsBool(item))
        *out = fp_node_new_bool(cJSON_IsTrue(item));
    else
        *out = fp_node_new(FP_NULL);
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
    cJSON *json = NULL;
    int rc = nul ? invalid_at(&r, text, (size_t)(nul - text)) : check_depth(&r, text, n);
    if (rc == 0) {
        const char *end = NULL;
        json = cJSON_ParseWithLengthOpts(text, n + 1, &end, 1);
        if (!json)
            rc = invalid_at(&r, text, end && end >= text && end <= text + n ? (size_t)(end - text) : n);
    }
    free(text);

    fp_node *root = NULL;
    if (rc == 0)
        rc = convert(&r, json, &root);
    cJSON_Delete(json);
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
