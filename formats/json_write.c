/* Writing JSON models: streamed through stdio, never built as a cJSON tree, so
 * at most one array's elements are in memory at a time. Everything written
 * reads back as the same tree (json.c has the mapping), or the write fails:
 *
 *   - float64 arrays of rank >= 1, non-empty, finite and trainable, under a map
 *     or at the root, are bare nested arrays (they read back as float64);
 *   - every other array is a tensor object with flat data, since a bare array
 *     would read back as float64 (other dtypes), as a list (a zero-size
 *     dimension, or an array inside a list, whose JSON array would merge into
 *     the list's) or without its mark (trainable: false);
 *   - a node reached again (refs > 1) is {"$ref": "<its first path>"};
 *   - numbers print in the shortest form that reads back bit-exactly
 *     (float16 and bfloat16 through float32); inside tensor data NaN and the
 *     infinities are "NaN", "Infinity", "-Infinity"; as settings, infinities
 *     are 1e999 and -1e999 (which read back as such) and NaN is "NaN". */
#include "json_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct first_seen {
    const fp_node *node;
    char *path;
} first_seen;

typedef struct writer {
    FILE *f;
    const char *file;      /* the name messages use */
    const fp_array_source *src;
    fp_error *err;
    fp_json_path path;     /* with RFC 6901 escapes: the form $ref uses */
    first_seen *seen;      /* shared nodes already written */
    size_t n_seen, cap_seen;
} writer;

static int fail(writer *w, const char *what)
{
    return fp_json_fail(w->err, w->file, fp_json_path_str(&w->path), "%s", what);
}

static int check_io(writer *w)
{
    if (ferror(w->f))
        return fp_fail(w->err, "%s: cannot write: %s", w->file, strerror(errno ? errno : EIO));
    return 0;
}

/* ---- scalars */

static void put_string(writer *w, const char *s)
{
    putc('"', w->f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':  fputs("\\\"", w->f); break;
        case '\\': fputs("\\\\", w->f); break;
        case '\n': fputs("\\n", w->f); break;
        case '\r': fputs("\\r", w->f); break;
        case '\t': fputs("\\t", w->f); break;
        case '\b': fputs("\\b", w->f); break;
        case '\f': fputs("\\f", w->f); break;
        default:
            if (*p < 0x20)
                fprintf(w->f, "\\u%04x", *p);
            else
                putc(*p, w->f); /* UTF-8 passes through */
        }
    }
    putc('"', w->f);
}

static void put_real(writer *w, double x, int single)
{
    char buf[64];
    if (isnan(x))
        fputs("\"NaN\"", w->f);
    else if (isinf(x))
        fputs(x > 0 ? "\"Infinity\"" : "\"-Infinity\"", w->f);
    else {
        if (single)
            fp_format_f32(buf, sizeof buf, (float)x);
        else
            fp_format_f64(buf, sizeof buf, x);
        fputs(buf, w->f);
    }
}

static void put_setting_number(writer *w, double x)
{
    if (isinf(x))
        fputs(x > 0 ? "1e999" : "-1e999", w->f);
    else
        put_real(w, x, 0);
}

/* ---- arrays */

static void put_element(writer *w, const void *data, fp_dtype dtype, uint64_t i)
{
    switch (dtype) {
    case FP_F16:  put_real(w, fp_f16_to_f32(((const uint16_t *)data)[i]), 1); break;
    case FP_BF16: put_real(w, fp_bf16_to_f32(((const uint16_t *)data)[i]), 1); break;
    case FP_F32:  put_real(w, ((const float *)data)[i], 1); break;
    case FP_F64:  put_real(w, ((const double *)data)[i], 0); break;
    case FP_C64:
    case FP_C128:
        putc('[', w->f);
        for (int part = 0; part < 2; part++) {
            if (part)
                fputs(", ", w->f);
            if (dtype == FP_C64)
                put_real(w, ((const float *)data)[2 * i + part], 1);
            else
                put_real(w, ((const double *)data)[2 * i + part], 0);
        }
        putc(']', w->f);
        break;
    case FP_BOOL: fputs(((const uint8_t *)data)[i] ? "true" : "false", w->f); break;
    case FP_I8:   fprintf(w->f, "%d", ((const int8_t *)data)[i]); break;
    case FP_U8:   fprintf(w->f, "%u", ((const uint8_t *)data)[i]); break;
    case FP_I16:  fprintf(w->f, "%d", ((const int16_t *)data)[i]); break;
    case FP_U16:  fprintf(w->f, "%u", ((const uint16_t *)data)[i]); break;
    case FP_I32:  fprintf(w->f, "%" PRId32, ((const int32_t *)data)[i]); break;
    case FP_U32:  fprintf(w->f, "%" PRIu32, ((const uint32_t *)data)[i]); break;
    case FP_I64:  fprintf(w->f, "%" PRId64, ((const int64_t *)data)[i]); break;
    case FP_U64:  fprintf(w->f, "%" PRIu64, ((const uint64_t *)data)[i]); break;
    default:      fputs("null", w->f); break;
    }
}

static void put_nested(writer *w, const fp_node *arr, const double *data, int depth, uint64_t *pos)
{
    putc('[', w->f);
    for (uint64_t i = 0; i < arr->shape[depth]; i++) {
        if (i)
            fputs(", ", w->f);
        if (depth + 1 == arr->rank)
            put_real(w, data[(*pos)++], 0);
        else
            put_nested(w, arr, data, depth + 1, pos);
    }
    putc(']', w->f);
}

static int reads_back_bare(const fp_node *arr, const void *data)
{
    if (arr->dtype != FP_F64 || arr->rank == 0 || arr->n_elems == 0 || !arr->trainable)
        return 0;
    for (uint64_t i = 0; i < arr->n_elems; i++)
        if (!isfinite(((const double *)data)[i]))
            return 0;
    return 1;
}

static int write_array(writer *w, const fp_node *arr, int bare_allowed)
{
    size_t bytes = fp_array_bytes(arr);
    void *data = malloc(bytes ? bytes : 1);
    if (!data)
        return fail(w, "out of memory for the array's data");
    int rc = w->src ? w->src->fill(w->src->ctx, arr, data, w->err)
                    : fp_array_read(arr, data, arr->dtype, w->err);
    if (rc < 0) {
        free(data);
        return -1;
    }
    if (bare_allowed && reads_back_bare(arr, data)) {
        uint64_t pos = 0;
        put_nested(w, arr, data, 0, &pos);
    } else {
        fprintf(w->f, "{\"dtype\": \"%s\", \"shape\": [", fp_dtype_name(arr->dtype));
        for (int d = 0; d < arr->rank; d++)
            fprintf(w->f, "%s%" PRIu64, d ? ", " : "", arr->shape[d]);
        fputs("], \"data\": [", w->f);
        for (uint64_t i = 0; i < arr->n_elems; i++) {
            if (i)
                fputs(", ", w->f);
            put_element(w, data, arr->dtype, i);
        }
        fputs(arr->trainable ? "]}" : "], \"trainable\": false}", w->f);
    }
    free(data);
    return check_io(w);
}

/* ---- containers */

static int write_node(writer *w, const fp_node *node, int level, int in_list);

static void put_newline(writer *w, int level)
{
    fprintf(w->f, "\n%*s", 2 * level, "");
}

static int write_child(writer *w, const fp_node *parent, size_t i, int level)
{
    size_t saved = w->path.len;
    int rc = parent->kind == FP_MAP ? fp_json_path_push(&w->path, parent->keys[i], 1)
                                    : fp_json_path_push_index(&w->path, i);
    if (rc < 0)
        return fail(w, "out of memory");
    const fp_node *child = parent->children[i];
    if (parent->kind == FP_LIST && child->kind == FP_NUMBER)
        return fail(w, "a list holding numbers cannot be written as JSON "
                       "(it would read back as a float64 array)");
    if (i)
        putc(',', w->f);
    put_newline(w, level + 1);
    if (parent->kind == FP_MAP) {
        put_string(w, parent->keys[i]);
        fputs(": ", w->f);
    }
    rc = write_node(w, child, level + 1, parent->kind == FP_LIST);
    fp_json_path_pop(&w->path, saved);
    return rc;
}

static int write_map(writer *w, const fp_node *map, int level)
{
    if (fp_map_get(map, "$ref"))
        return fail(w, "a map with a \"$ref\" key cannot be written as JSON "
                       "(it would read back as a reference)");
    if (fp_map_get(map, "dtype") && fp_map_get(map, "shape") && fp_map_get(map, "data"))
        return fail(w, "a map with keys dtype, shape and data cannot be written as JSON "
                       "(it would read back as a tensor)");
    /* A layer type or trainable mark the tree holds outside its children (HDF5
     * attributes) becomes a child, the form the reader takes them from. */
    int add_type = map->type && !fp_map_get(map, "type");
    int add_mark = !map->trainable && !fp_map_get(map, "trainable");
    if (!map->n_children && !add_type && !add_mark) {
        fputs("{}", w->f);
        return 0;
    }
    putc('{', w->f);
    if (add_type) {
        put_newline(w, level + 1);
        fputs("\"type\": ", w->f);
        put_string(w, map->type);
    }
    if (add_mark) {
        fputs(add_type ? "," : "", w->f);
        put_newline(w, level + 1);
        fputs("\"trainable\": false", w->f);
    }
    for (size_t i = 0; i < map->n_children; i++) {
        if (i == 0 && (add_type || add_mark))
            putc(',', w->f);
        if (write_child(w, map, i, level) < 0)
            return -1;
    }
    put_newline(w, level);
    putc('}', w->f);
    return 0;
}

static int write_list(writer *w, const fp_node *list, int level)
{
    if (!list->n_children) {
        fputs("[]", w->f);
        return 0;
    }
    putc('[', w->f);
    for (size_t i = 0; i < list->n_children; i++)
        if (write_child(w, list, i, level) < 0)
            return -1;
    put_newline(w, level);
    putc(']', w->f);
    return 0;
}

/* The first path of an already written shared node, or NULL (remembering it). */
static int first_path(writer *w, const fp_node *node, const char **path)
{
    *path = NULL;
    for (size_t i = 0; i < w->n_seen; i++) {
        if (w->seen[i].node == node) {
            *path = w->seen[i].path;
            return 0;
        }
    }
    if (w->n_seen == w->cap_seen) {
        size_t cap = w->cap_seen ? 2 * w->cap_seen : 16;
        first_seen *seen = realloc(w->seen, cap * sizeof *seen);
        if (!seen)
            return fail(w, "out of memory");
        w->seen = seen;
        w->cap_seen = cap;
    }
    if (!(w->seen[w->n_seen].path = strdup(fp_json_path_str(&w->path))))
        return fail(w, "out of memory");
    w->seen[w->n_seen++].node = node;
    return 0;
}

static int write_node(writer *w, const fp_node *node, int level, int in_list)
{
    if (node->refs > 1) {
        const char *path;
        if (first_path(w, node, &path) < 0)
            return -1;
        if (path) {
            fputs("{\"$ref\": ", w->f);
            put_string(w, path);
            putc('}', w->f);
            return 0;
        }
    }
    switch (node->kind) {
    case FP_MAP:     return write_map(w, node, level);
    case FP_LIST:    return write_list(w, node, level);
    case FP_ARRAY:   return write_array(w, node, !in_list);
    case FP_STRING:  put_string(w, node->str); break;
    case FP_NUMBER:  put_setting_number(w, node->number); break;
    case FP_BOOLEAN: fputs(node->boolean ? "true" : "false", w->f); break;
    case FP_NULL:    fputs("null", w->f); break;
    }
    return 0;
}

int fp_json_write(const char *path, const fp_node *root, const fp_array_source *src, fp_error *err)
{
    /* (messages name path; the commands put their target in for a temporary's
     * name: fp_outfile_name_target) */
    writer w = { .src = src, .err = err, .file = path };
    int rc = 0;
    if (root->kind != FP_MAP && root->kind != FP_LIST && root->kind != FP_ARRAY)
        rc = fail(&w, "a JSON model's root must be a map, a list or an array");
    else if (!(w.f = fopen(path, "w")))
        rc = fp_fail(err, "%s: cannot create: %s", w.file, strerror(errno));
    if (w.f) {
        setvbuf(w.f, NULL, _IOFBF, 1 << 20);
        errno = 0;
        rc = write_node(&w, root, 0, 0);
        if (rc == 0) {
            putc('\n', w.f);
            rc = check_io(&w);
        }
        if (fclose(w.f) != 0 && rc == 0)
            rc = fp_fail(err, "%s: cannot write: %s", w.file, strerror(errno));
    }
    for (size_t i = 0; i < w.n_seen; i++)
        free(w.seen[i].path);
    free(w.seen);
    free(w.path.buf);
    return rc;
}
