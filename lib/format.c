/* The registry of model-file formats: input detected by content, output chosen
 * by name or extension. */
#include "flatparams.h"
#include "isolate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fp_allow_external = 0;
const char *fp_keras_arch = NULL;

static const fp_format *const formats[] = {
    &fp_format_hdf5,   /* hands Keras legacy files to formats/keras_h5.c itself */
    &fp_format_keras,
    &fp_format_safetensors,
    &fp_format_json,
    NULL,
};

int fp_format_detect(const char *path, const fp_format **out, fp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[4096];
    size_t n = fread(head, 1, sizeof head, f);
    int read_error = ferror(f) ? errno : 0;
    fclose(f);
    if (read_error)   /* a directory (EISDIR), an unreadable device */
        return fp_fail(err, "%s: cannot read: %s", path, strerror(read_error));
    for (const fp_format *const *fmt = formats; *fmt; fmt++) {
        if ((*fmt)->probe && (*fmt)->probe(head, n)) {
            *out = *fmt;
            return 0;
        }
    }
    if (n == 0)
        return fp_fail(err, "%s: empty file, not a model", path);
    return fp_fail(err, "%s: not a model file (not HDF5, Keras, safetensors or JSON)", path);
}

static int has_extension(const char *path, const char *ext)
{
    size_t lp = strlen(path), le = strlen(ext);
    return lp >= le && !strcasecmp(path + lp - le, ext);
}

const fp_format *fp_format_for_output(const char *path, const char *name)
{
    for (const fp_format *const *fmt = formats; *fmt; fmt++) {
        if (name) {
            if (!strcasecmp(name, (*fmt)->name))
                return *fmt;
            for (const char *const *e = (*fmt)->extensions; e && *e; e++)
                if (!strcasecmp(name, *e + 1))
                    return *fmt;
        } else if (path) {
            for (const char *const *e = (*fmt)->extensions; e && *e; e++)
                if (has_extension(path, *e))
                    return *fmt;
        }
    }
    return NULL;
}

/* Limits for reading a file's metadata in a child: generous for real models
 * (metadata of a 1 GiB model reads in milliseconds). */
enum { ISOLATE_SECONDS = 20 };
static const size_t isolate_memory = (size_t)4 << 30;

typedef struct trial_read {
    const fp_format *format;
    const char *path;
} trial_read;

static int read_and_discard(void *arg, fp_error *err)
{
    trial_read *t = arg;
    fp_tree tree = { .format = t->format, .path = (char *)t->path };
    int rc = t->format->read(&tree, err);
    tree.path = NULL;
    fp_tree_free(&tree);
    return rc;
}

int fp_tree_open(const char *path, fp_tree *tree, fp_error *err)
{
    memset(tree, 0, sizeof *tree);
    const fp_format *fmt;
    if (fp_format_detect(path, &fmt, err) < 0)
        return -1;
    if (fmt->isolate_read) {
        trial_read trial = { fmt, path };
        if (fp_isolated(read_and_discard, &trial, path, ISOLATE_SECONDS, isolate_memory, err) < 0) {
            if (fmt->after_failed_child)
                fmt->after_failed_child();
            return -1;
        }
    }
    tree->format = fmt;
    if (!(tree->path = strdup(path)))
        return fp_fail(err, "out of memory");
    if (fmt->read(tree, err) < 0) {
        fp_tree_free(tree);
        return -1;
    }
    return 0;
}
