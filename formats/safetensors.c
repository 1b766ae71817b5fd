/* safetensors (doc/contract.md §4), Hugging Face's tensor file: an 8-byte little-endian
 * header length N, N bytes of JSON {"NAME": {"dtype", "shape", "data_offsets":
 * [begin, end]}, "__metadata__": {str: str}}, then the data buffer. The mapping:
 *
 *   "layers.0.weight"  -> /layers/0/weight (a map per dotted component; a map
 *                         whose keys are exactly 0..n-1 becomes a list)
 *   F16 BF16 F32 F64 C64 -> parameters; BOOL U8 I8 I16 U16 I32 U32 I64 U64 are
 *                         kept as non-parameters; other dtypes (F8_*, F4, F6_*)
 *                         are refused, naming the tensor
 *   running_mean, running_var -> not trainable (PyTorch's BatchNorm buffers,
 *                         which model.parameters() leaves out)
 *   __metadata__       -> not in the tree; a rebuild patches a byte copy, so
 *                         the header (metadata included) stays byte-identical
 *
 * File order, which fixes the flat vector's order, is the order of the data
 * offsets: that is the order the tensors were written in, while the header's
 * key order is arbitrary (the reference writer lays tensors out by dtype, then
 * name). Reading checks what the reference checks: header at most 100 MB of
 * UTF-8 JSON, and the tensors' byte ranges, sorted, tiling the buffer exactly.
 * Arrays stay lazy: each load is one pread on the file the tree keeps open.
 *
 * Writing stores arrays only: settings, layer types and trainable marks have no
 * place in the format and are dropped. Names join the path's keys with '.';
 * refused, naming the path, is what would not read back as written: a key
 * containing '.' (two levels), a key that is not UTF-8 (the header is JSON),
 * a top-level __metadata__ (the format's own), and two names where a '/'
 * inside a key made paths meet: the same name twice, or a name inside
 * another's ("a" and "a.b": "a" cannot be an array and a group). A shared
 * array is written once, at its first path (safetensors has no aliasing; this
 * is what safetensors.torch.save_model does with tied weights). complex128 is
 * refused: the format's only complex dtype is C64. */
#include "safetensors_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct { const char *name; fp_dtype dtype; } dtypes[] = {
    { "F16", FP_F16 }, { "BF16", FP_BF16 }, { "F32", FP_F32 }, { "F64", FP_F64 },
    { "C64", FP_C64 }, { "BOOL", FP_BOOL }, { "U8", FP_U8 }, { "I8", FP_I8 },
    { "I16", FP_I16 }, { "U16", FP_U16 }, { "I32", FP_I32 }, { "U32", FP_U32 },
    { "I64", FP_I64 }, { "U64", FP_U64 },
};

fp_dtype fp_st_dtype_parse(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(name, dtypes[i].name))
            return dtypes[i].dtype;
    return FP_DT_NONE;
}

const char *fp_st_dtype_name(fp_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].name;
    return NULL;
}

/* The data is little-endian; a big-endian host swaps each element (each half
 * of a complex one) on the way in and out. */
void fp_st_swap_le(void *data, fp_dtype dtype, uint64_t n_elems)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    int halves = fp_dtype_is_complex(dtype) ? 2 : 1;
    size_t width = fp_dtype_size(dtype) / halves;
    unsigned char *p = data;
    for (uint64_t i = 0; i < n_elems * halves; i++, p += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
#else
    (void)data, (void)dtype, (void)n_elems;
#endif
}

/* ---- file I/O */

int64_t fp_st_pread(int fd, void *buf, size_t n, uint64_t offset)
{
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (char *)buf + done, n - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (int64_t)done;
}

int fp_st_pwrite(int fd, const void *buf, size_t n, uint64_t offset)
{
    for (size_t done = 0; done < n;) {
        ssize_t put = pwrite(fd, (const char *)buf + done, n - done, (off_t)(offset + done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return -1;
        done += (size_t)put;
    }
    return 0;
}

/* ---- writing */

typedef struct write_list {
    const fp_node **arrays;      /* depth-first, each distinct array once */
    char **names;
    size_t n, cap;
    fp_error *err;
} write_list;

static int collect(const fp_node *node, const char *path, int depth, int first,
                   int trainable, void *ctx)
{
    (void)trainable;
    write_list *list = ctx;
    if (!first || node->kind != FP_ARRAY)
        return 0;
    if (depth == 0) {
        fp_fail(list->err, "/: the model is a lone array; safetensors stores named tensors");
        return 1;
    }
    if (!fp_st_dtype_name(node->dtype)) {
        fp_fail(list->err, "%s: safetensors has no %s arrays%s", path, fp_dtype_name(node->dtype),
                node->dtype == FP_C128 ? " (its only complex dtype is C64)" : "");
        return 1;
    }
    if (strchr(path, '.')) {
        fp_fail(list->err, "%s: a key contains '.', which safetensors names use between levels "
                "(it would read back as another path)", path);
        return 1;
    }
    if (!fp_st_is_utf8((const unsigned char *)path, strlen(path))) {
        char shown[512];
        size_t n = 0;
        for (const unsigned char *c = (const unsigned char *)path; *c && n + 5 < sizeof shown; c++)
            n += (size_t)snprintf(shown + n, sizeof shown - n, *c < 0x80 ? "%c" : "\\x%02x", *c);
        fp_fail(list->err, "%s: a key is not UTF-8, which safetensors names must be", shown);
        return 1;
    }
    if (!strcmp(path, "/__metadata__")) {
        fp_fail(list->err, "%s: safetensors keeps this name for the file's metadata", path);
        return 1;
    }
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 32;
        const fp_node **arrays = realloc(list->arrays, cap * sizeof *arrays);
        char **names = arrays ? realloc(list->names, cap * sizeof *names) : NULL;
        if (arrays)
            list->arrays = arrays;
        if (!names) {
            fp_fail(list->err, "out of memory");
            return 1;
        }
        list->names = names;
        list->cap = cap;
    }
    /* "/layers/0/weight" -> "layers.0.weight"; a '/' inside a key becomes a '.'
     * too, which reads back as the same path string. */
    char *name = strdup(path + 1);
    if (!name) {
        fp_fail(list->err, "out of memory");
        return 1;
    }
    for (char *c = name; *c; c++)
        if (*c == '/')
            *c = '.';
    list->arrays[list->n] = node;
    list->names[list->n++] = name;
    return 0;
}

/* "/" and the name with '.' back to '/': the path it came from; NULL when out of memory. */
static char *name_path(const char *name)
{
    char *path = malloc(strlen(name) + 2);
    if (!path)
        return NULL;
    path[0] = '/';
    strcpy(path + 1, name);
    for (char *c = path; *c; c++)
        if (*c == '.')
            *c = '/';
    return path;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Where a '/' inside a key made two paths meet (see the top): the path behind
 * a name is "/" and the name with each '.' back to '/'. */
static int check_names_distinct(const write_list *list, fp_error *err)
{
    if (list->n == 0)
        return 0;
    char **sorted = malloc(list->n * sizeof *sorted);
    if (!sorted)
        return fp_fail(err, "out of memory");
    memcpy(sorted, list->names, list->n * sizeof *sorted);
    qsort(sorted, list->n, sizeof *sorted, compare_names);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->n; i++) {
        if (i > 0 && !strcmp(sorted[i], sorted[i - 1])) {
            char *path = name_path(sorted[i]);
            rc = fp_fail(err, "%s: two arrays have this path (a key holds '/'), and safetensors "
                         "would name both '%s'", path ? path : sorted[i], sorted[i]);
            free(path);
        }
        for (char *dot = strchr(sorted[i], '.'); rc == 0 && dot; dot = strchr(dot + 1, '.')) {
            /* the name up to this level: an array too? */
            char *outer_name = strndup(sorted[i], (size_t)(dot - sorted[i])), **outer = NULL;
            if (!outer_name)
                rc = fp_fail(err, "out of memory");
            else
                outer = bsearch(&outer_name, sorted, list->n, sizeof *sorted, compare_names);
            free(outer_name);
            if (outer) {
                char *inner_path = name_path(sorted[i]), *outer_path = name_path(*outer);
                rc = fp_fail(err, "%s and %s: safetensors would name them '%s' and '%s', which "
                             "read back as an array inside an array (a key holds '/')",
                             outer_path ? outer_path : *outer, inner_path ? inner_path : sorted[i],
                             *outer, sorted[i]);
                free(inner_path);
                free(outer_path);
            }
        }
    }
    free(sorted);
    return rc;
}

typedef struct text { char *buf; size_t len, cap; int oom; } text;

static void put(text *t, const char *s, size_t n)
{
    if (!t->oom && t->len + n + 1 > t->cap) {
        size_t cap = 2 * (t->len + n + 1);
        char *buf = realloc(t->buf, cap);
        if (buf) {
            t->buf = buf;
            t->cap = cap;
        }
        t->oom = !buf;
    }
    if (t->oom)
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void put_str(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void put_json_string(text *t, const char *s)
{
    put(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            put(t, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put_str(t, esc);
        } else {
            put(t, (const char *)p, 1);
        }
    }
    put(t, "\"", 1);
}

/* The header, padded with spaces so the data starts 8-byte aligned. */
static void put_header(text *t, const write_list *list)
{
    char num[64];
    uint64_t offset = 0;
    put_str(t, "{");
    for (size_t i = 0; i < list->n; i++) {
        const fp_node *arr = list->arrays[i];
        put_str(t, i ? "," : "");
        put_json_string(t, list->names[i]);
        put_str(t, ":{\"dtype\":\"");
        put_str(t, fp_st_dtype_name(arr->dtype));
        put_str(t, "\",\"shape\":[");
        for (int d = 0; d < arr->rank; d++) {
            snprintf(num, sizeof num, "%s%" PRIu64, d ? "," : "", arr->shape[d]);
            put_str(t, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset,
                 offset + fp_array_bytes(arr));
        put_str(t, num);
        offset += fp_array_bytes(arr);
    }
    put_str(t, "}");
    while (!t->oom && t->len % 8)
        put_str(t, " ");
}

static int write_tree(const char *path, const fp_node *root, const fp_array_source *src, fp_error *err)
{
    write_list list = { .err = err };
    text header = { 0 };
    void *data = NULL;
    int fd = -1, rc = -1;
    size_t max_bytes = 1;
    int walked = fp_tree_walk(root, collect, &list);   /* 1: collect refused an array */
    if (walked < 0)
        fp_fail(err, "out of memory");
    else if (walked == 0 && check_names_distinct(&list, err) == 0) {
        put_header(&header, &list);
        for (size_t i = 0; i < list.n; i++)
            if (fp_array_bytes(list.arrays[i]) > max_bytes)
                max_bytes = fp_array_bytes(list.arrays[i]);
        unsigned char len_bytes[8];
        for (int i = 0; i < 8; i++)
            len_bytes[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
        if (header.oom)
            fp_fail(err, "out of memory");
        else if (!(data = malloc(max_bytes)))
            fp_fail(err, "%s: out of memory for the largest array's %zu bytes", path, max_bytes);
        else if (header.len > FP_ST_MAX_HEADER)
            fp_fail(err, "%zu tensors need a %zu-byte header, beyond the format's 100 MB limit",
                    list.n, header.len);
        else if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
            fp_fail(err, "%s: cannot create: %s", path, strerror(errno));
        else if (fp_st_pwrite(fd, len_bytes, 8, 0) < 0 || fp_st_pwrite(fd, header.buf, header.len, 8) < 0)
            fp_fail(err, "%s: cannot write: %s", path, strerror(errno));
        else
            rc = 0;
    }
    /* One array in memory at a time, streamed from the source in depth-first order. */
    uint64_t offset = 8 + header.len;
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        const fp_node *arr = list.arrays[i];
        size_t bytes = fp_array_bytes(arr);
        rc = src ? src->fill(src->ctx, arr, data, err) : fp_array_read(arr, data, arr->dtype, err);
        fp_st_swap_le(data, arr->dtype, arr->n_elems);
        if (rc == 0 && fp_st_pwrite(fd, data, bytes, offset) < 0)
            rc = fp_fail(err, "%s: cannot write: %s", path, strerror(errno));
        offset += bytes;
    }
    if (fd >= 0 && rc == 0 && fsync(fd) < 0 && errno != EINVAL)
        rc = fp_fail(err, "%s: cannot write: %s", path, strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = fp_fail(err, "%s: cannot write: %s", path, strerror(errno));
    for (size_t i = 0; i < list.n; i++)
        free(list.names[i]);
    free(list.names);
    free(list.arrays);
    free(header.buf);
    free(data);
    return rc;
}

/* ---- patching (rebuild): new values written over a byte copy at known offsets */

typedef struct st_patch {
    int fd;
    char *path;
    uint64_t data_start;
} st_patch;

static int patch_open(const char *path, const fp_tree *tree, void **out, fp_error *err)
{
    const fp_st_file *file = tree->state;
    st_patch *patch = calloc(1, sizeof *patch);
    if (!patch || !(patch->path = strdup(path))) {
        free(patch);
        return fp_fail(err, "out of memory");
    }
    patch->data_start = file->data_start;
    if ((patch->fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        fp_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
        free(patch->path);
        free(patch);
        return -1;
    }
    *out = patch;
    return 0;
}

static int patch_piece(void *vpatch, const fp_node *arr, uint64_t first, const void *data,
                       uint64_t n, fp_error *err)
{
    st_patch *patch = vpatch;
    if (arr->kind != FP_ARRAY || arr->load != fp_st_load)
        return fp_fail(err, "internal error: patching an array that was not read from safetensors");
    if (first > arr->n_elems || n > arr->n_elems - first)
        return fp_fail(err, "%s: tensor '%s': internal error: elements %llu to %llu of %llu",
                       patch->path, arr->origin, (unsigned long long)first,
                       (unsigned long long)(first + n), (unsigned long long)arr->n_elems);
    const fp_st_ref *ref = arr->load_ctx;
    size_t elem = fp_dtype_size(arr->dtype), bytes = (size_t)n * elem;
    void *le = (void *)data;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (!(le = malloc(bytes ? bytes : 1)))
        return fp_fail(err, "out of memory");
    memcpy(le, data, bytes);
    fp_st_swap_le(le, arr->dtype, n);
#endif
    int rc = fp_st_pwrite(patch->fd, le, bytes, patch->data_start + ref->begin + first * elem);
    if (le != data)
        free(le);
    if (rc < 0)
        return fp_fail(err, "%s: tensor '%s': cannot write: %s", patch->path, arr->origin, strerror(errno));
    return 0;
}

static int patch_array(void *vpatch, const fp_node *arr, const void *data, fp_error *err)
{
    return patch_piece(vpatch, arr, 0, data, arr->n_elems, err);
}

static int patch_close(void *vpatch, int commit, fp_error *err)
{
    st_patch *patch = vpatch;
    if (!patch)
        return 0;
    int rc = 0;
    if (commit && fp_outfile_want_fsync() && fsync(patch->fd) < 0 && errno != EINVAL)
        rc = fp_fail(err, "%s: cannot write: %s", patch->path, strerror(errno));
    if (close(patch->fd) < 0 && commit && rc == 0)
        rc = fp_fail(err, "%s: cannot write: %s", patch->path, strerror(errno));
    free(patch->path);
    free(patch);
    return rc;
}

/* An 8-byte length whose top byte is 0 (JSON text has no NUL bytes), then '{'. */
static int probe(const unsigned char *head, size_t n_head)
{
    return n_head >= 9 && head[7] == 0 && head[8] == '{';
}

static const char *const extensions[] = { ".safetensors", NULL };

const fp_format fp_format_safetensors = {
    .name = "safetensors",
    .extensions = extensions,
    .probe = probe,
    .read = fp_st_read,
    .write = write_tree,
    .patch_open = patch_open,
    .patch_array = patch_array,
    .patch_close = patch_close,
    .patch_piece = patch_piece,
};
