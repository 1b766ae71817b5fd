/* JSON, the native model format (doc/contract.md §4). The mapping, in both directions:
 *
 *   object                               -> map (keys in document order)
 *   {"dtype": D, "shape": S, "data": X}  -> array of dtype D (plus optional
 *                                           "trainable": false); X row-major,
 *                                           flat or nested; complex elements
 *                                           are [re, im] pairs
 *   bare array whose leaves are numbers  -> float64 array shaped by the nesting
 *   {"$ref": "/layers/0/weight"}         -> the same node as at that path
 *   any other array                      -> list (so [] is an empty list)
 *   string, number, true/false, null     -> scalar settings
 *
 * JSON has no NaN or infinities, so inside tensor "data" they are the strings
 * "NaN", "Infinity" and "-Infinity". Reading is json_read.c, writing json_write.c;
 * this file holds the format entry and the helpers both use. */
#include "json_internal.h"
#include "keras_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int probe(const unsigned char *head, size_t n_head)
{
    size_t i = 0;
    if (n_head >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF)
        i = 3;
    while (i < n_head && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    return i < n_head && (head[i] == '{' || head[i] == '[');
}

/* A Keras architecture (model.to_json()) reads as any JSON does; marked, so
 * that commands say what it is instead of flattening it to nothing. */
static int read_model(fp_tree *tree, fp_error *err)
{
    if (fp_json_read(tree, err) < 0)
        return -1;
    if (keras_tree_is_architecture(tree->root))
        tree->keras = FP_KERAS_ARCH_ONLY;
    return 0;
}

static const char *const extensions[] = { ".json", NULL };

/* No patch functions: a JSON rebuild rewrites the whole document. */
const fp_format fp_format_json = {
    .name = "json",
    .extensions = extensions,
    .probe = probe,
    .read = read_model,
    .write = fp_json_write,
};

/* ---- paths */

static int path_reserve(fp_json_path *path, size_t extra)
{
    if (path->len + extra + 1 <= path->cap)
        return 0;
    size_t cap = 2 * (path->len + extra + 1);
    char *buf = realloc(path->buf, cap);
    if (!buf)
        return -1;
    path->buf = buf;
    path->cap = cap;
    return 0;
}

int fp_json_path_push(fp_json_path *path, const char *name, int escape)
{
    size_t len = strlen(name);
    if (path_reserve(path, 1 + 2 * len) < 0)
        return -1;
    char *out = path->buf + path->len;
    *out++ = '/';
    for (const char *s = name; *s; s++) {
        if (escape && (*s == '~' || *s == '/')) {
            *out++ = '~';
            *out++ = *s == '~' ? '0' : '1';
        } else {
            *out++ = *s;
        }
    }
    *out = 0;
    path->len = (size_t)(out - path->buf);
    return 0;
}

int fp_json_path_push_index(fp_json_path *path, size_t index)
{
    char name[24];
    snprintf(name, sizeof name, "%zu", index);
    return fp_json_path_push(path, name, 0);
}

void fp_json_path_pop(fp_json_path *path, size_t len)
{
    path->len = len;
    if (path->buf)
        path->buf[len] = 0;
}

const char *fp_json_path_str(const fp_json_path *path)
{
    return path->len ? path->buf : "/";
}

/* ---- errors */

int fp_json_fail(fp_error *err, const char *file, const char *path, const char *fmt, ...)
{
    if (!err)
        return -1;
    char what[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Cut whole segments: "/a/0/0/.../0/0". */
    enum { KEEP = 120 };
    size_t len = strlen(path);
    if (len <= 2 * KEEP + 5)
        return fp_fail(err, "%s: %s: %s", file, path, what);
    size_t head = KEEP, tail = len - KEEP;
    while (head > 1 && path[head] != '/')
        head--;
    while (tail < len && path[tail] != '/')
        tail++;
    return fp_fail(err, "%s: %.*s/...%s: %s", file, (int)head, path, path + tail, what);
}
