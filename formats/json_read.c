/* Reading JSON models: json_parse.c parses the whole document (a run of numbers
 * stays text until it is read straight into its array's buffer), this file maps
 * it onto the fp_node tree (the mapping is in json.c; arrays are json_arrays.c)
 * and resolves $ref sharing once the whole tree exists. Arrays are
 * materialized: the file is read whole anyway. */
#include "json_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef fp_json_reader reader;

int fp_json_reader_fail(fp_json_reader *r, const char *fmt, ...)
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
    return fp_json_path_push(&r->path, key, 0) < 0 ? fp_json_reader_fail(r, "out of memory") : 0;
}

static int push_index(reader *r, size_t index)
{
    return fp_json_path_push_index(&r->path, index) < 0 ? fp_json_reader_fail(r, "out of memory") : 0;
}

const char *fp_json_kind_name(const fp_jvalue *item)
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
    return fp_json_reader_fail(r, "nesting deeper than %d levels", FP_JSON_MAX_DEPTH);
}

static int convert(reader *r, const fp_jvalue *item, fp_node **out);

static int append_child(reader *r, fp_node *parent, const char *key, const fp_jvalue *item)
{
    fp_node *child = NULL;
    size_t saved = r->path.len;
    int rc = (key ? push_key(r, key) : push_index(r, parent->n_children)) < 0 ? -1
           : convert(r, item, &child);
    if (rc == 0 && fp_node_append(parent, key, child, r->err) < 0)
        rc = fp_json_reader_fail(r, "out of memory");
    if (rc == 0)
        fp_json_refs_placed(&r->refs, parent);
    if (rc < 0 && child && child->refs == 0)
        fp_node_release(child);
    fp_json_path_pop(&r->path, saved);
    return rc;
}

static int convert_array(reader *r, const fp_jvalue *item, fp_node **out)
{
    if (fp_json_convert_numeric(r, item, out) < 0)
        return -1;
    if (*out)   /* nothing but numbers: an array */
        return 0;
    /* Beside objects, strings, booleans or nulls, numbers and arrays are
     * elements of a list (Keras configs hold [null, 16] and ["dense", 0, 0]). */
    if (!(*out = fp_node_new(FP_LIST)))
        return fp_json_reader_fail(r, "out of memory");
    for (size_t i = 0; i < item->n; i++)
        if (append_child(r, *out, NULL, &item->u.items[i]) < 0)
            return -1;
    return 0;
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
        return fp_json_reader_fail(r, "out of memory");
    for (size_t i = 0; i < n; i++)
        keys[i] = item->u.items[i].key;
    qsort(keys, n, sizeof *keys, compare_keys);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (!strcmp(keys[i - 1], keys[i]))
            rc = push_key(r, keys[i]) < 0 ? -1 : fp_json_reader_fail(r, "duplicate key");
    free(keys);
    return rc;
}

static int convert_ref(reader *r, const fp_jvalue *item, const fp_jvalue *ref, fp_node **out)
{
    if (item->n != 1)
        return fp_json_reader_fail(r, "an object with \"$ref\" may hold no other key");
    if (ref->type != FP_J_STRING)
        return fp_json_reader_fail(r, "$ref is %s, expected a path string", fp_json_kind_name(ref));
    if (r->path.len == 0)
        return fp_json_reader_fail(r, "the root cannot be a $ref");
    if (!(*out = fp_json_refs_add(&r->refs, ref->u.string, r->path.buf)))
        return fp_json_reader_fail(r, "out of memory");
    return 0;
}

static int convert_map(reader *r, const fp_jvalue *item, fp_node **out)
{
    if (check_unique_keys(r, item) < 0)
        return -1;
    fp_node *node = *out = fp_node_new(FP_MAP);
    if (!node)
        return fp_json_reader_fail(r, "out of memory");
    for (size_t i = 0; i < item->n; i++)
        if (append_child(r, node, item->u.items[i].key, &item->u.items[i]) < 0)
            return -1;
    /* The layer type and the trainable mark stay ordinary children as well, so
     * writing the tree back reproduces the document. */
    const fp_node *type = fp_map_get(node, "type"), *trainable = fp_map_get(node, "trainable");
    if (type && type->kind == FP_STRING && !(node->type = strdup(type->str)))
        return fp_json_reader_fail(r, "out of memory");
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
            return check_unique_keys(r, item) < 0 ? -1 : fp_json_convert_tensor(r, item, out);
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
    return *out ? 0 : fp_json_reader_fail(r, "out of memory");
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
