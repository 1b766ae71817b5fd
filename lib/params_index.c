/* The params index: where each array lies in the flat vector (Flux's
 * Restructure offsets, torch's named_parameters), as `params` prints it and
 * `flatten --index` writes it beside the vector. Text is a table aligned to
 * its widest entries; JSON is one object per array, as `modules --json` has. */
#include "flatparams.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void fp_json_print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A path as the table shows it: control bytes as \xNN, so that a name from a
 * hostile file can neither break a row in two nor move the terminal's cursor.
 * Returns the printed width; out NULL measures only. */
static size_t print_path(FILE *out, const char *path)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            if (out)
                fprintf(out, "\\x%02x", *p);
            width += 4;
        } else {
            if (out)
                fputc(*p, out);
            width++;
        }
    }
    return width;
}

/* "64x784"; a rank-0 array is "scalar". Returns the text's length. */
static size_t shape_text(const fp_node *arr, char *buf, size_t cap)
{
    if (arr->rank == 0)
        return (size_t)snprintf(buf, cap, "scalar");
    size_t len = 0;
    buf[0] = 0;
    for (int d = 0; d < arr->rank && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu64, d ? "x" : "", arr->shape[d]);
    return len < cap ? len : cap - 1;
}

static size_t digits(uint64_t x)
{
    size_t n = 1;
    while (x >= 10) {
        x /= 10;
        n++;
    }
    return n;
}

static void write_text(FILE *out, const fp_layout *layout, fp_dtype vector_dtype)
{
    /* a shape holds at most FP_MAX_RANK numbers of 20 digits and their x's */
    char shape[FP_MAX_RANK * 21 + 8];
    size_t path_w = strlen("path"), shape_w = strlen("shape"), dtype_w = strlen("dtype");
    size_t number_w = digits(layout->n_elems) > strlen("offset") ? digits(layout->n_elems)
                                                                  : strlen("offset");
    for (size_t i = 0; i < layout->n_params; i++) {
        const fp_param *p = &layout->params[i];
        size_t w = print_path(NULL, p->path);
        path_w = w > path_w ? w : path_w;
        w = shape_text(p->node, shape, sizeof shape);
        shape_w = w > shape_w ? w : shape_w;
        w = strlen(fp_dtype_name(p->node->dtype));
        dtype_w = w > dtype_w ? w : dtype_w;
    }
    fprintf(out, "%-*s  %*s  %*s  %-*s  %s\n", (int)path_w, "path", (int)number_w, "offset",
            (int)number_w, "length", (int)shape_w, "shape", "dtype");
    for (size_t i = 0; i < layout->n_params; i++) {
        const fp_param *p = &layout->params[i];
        size_t w = print_path(out, p->path);
        shape_text(p->node, shape, sizeof shape);
        fprintf(out, "%*s  %*" PRIu64 "  %*" PRIu64 "  %-*s  %s\n", (int)(path_w - w), "",
                (int)number_w, p->offset, (int)number_w, p->n_elems, (int)shape_w, shape,
                fp_dtype_name(p->node->dtype));
    }
    fprintf(out, "# vector: %" PRIu64 " elements of %s in %zu arrays\n", layout->n_elems,
            fp_dtype_name(vector_dtype), layout->n_params);
}

static void write_json(FILE *out, const fp_layout *layout, fp_dtype vector_dtype)
{
    fprintf(out, "{\n  \"dtype\": \"%s\",\n  \"length\": %" PRIu64 ",\n  \"params\": [",
            fp_dtype_name(vector_dtype), layout->n_elems);
    for (size_t i = 0; i < layout->n_params; i++) {
        const fp_param *p = &layout->params[i];
        fprintf(out, "%s\n    {\"path\": ", i ? "," : "");
        fp_json_print_string(out, p->path);
        fprintf(out, ", \"offset\": %" PRIu64 ", \"length\": %" PRIu64 ", \"shape\": [",
                p->offset, p->n_elems);
        for (int d = 0; d < p->node->rank; d++)
            fprintf(out, "%s%" PRIu64, d ? ", " : "", p->node->shape[d]);
        fprintf(out, "], \"dtype\": \"%s\"}", fp_dtype_name(p->node->dtype));
    }
    fprintf(out, "%s]\n}\n", layout->n_params ? "\n  " : "");
}

void fp_layout_write_index(FILE *out, const fp_layout *layout, fp_dtype vector_dtype, int json)
{
    if (json)
        write_json(out, layout, vector_dtype);
    else
        write_text(out, layout, vector_dtype);
}
