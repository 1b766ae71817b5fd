/* flatparams rebuild: the model with its parameters replaced by a vector's
 * values (Flux's Restructure). Same-format HDF5 outputs are a byte copy of the
 * input with only parameter datasets rewritten, so everything that is not a
 * parameter (attributes, integer datasets, filters, chunking) stays as it was. */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

typedef struct rebuild_ctx {
    const char *vec_path;
    fp_vec_reader *reader;
    const fp_layout *layout;
    size_t next_param;          /* parameters are consumed in flat order */
    uint64_t consumed;          /* vector elements read so far */
} rebuild_ctx;

static int length_error(rebuild_ctx *ctx, uint64_t got, fp_error *err)
{
    return fp_fail(err, "%s: rebuild expected a vector of length %llu, got %llu", ctx->vec_path,
                   (unsigned long long)ctx->layout->n_elems, (unsigned long long)got);
}

/* Reads the next n elements of parameter p's slice (all of it, or a piece),
 * converted to the array's own dtype. */
static int read_slice(rebuild_ctx *ctx, const fp_param *p, void *dst, uint64_t n, fp_error *err)
{
    uint64_t got = 0;
    if (fp_vec_reader_read(ctx->reader, dst, p->node->dtype, n, &got, err) < 0)
        return fp_fail_prefix(err, p->path);
    ctx->consumed += got;
    if (got < n)
        return length_error(ctx, ctx->consumed, err);
    return 0;
}

/* After the last parameter the vector must be exhausted; count what is left. */
static int check_exhausted(rebuild_ctx *ctx, fp_error *err)
{
    double scratch[1024];   /* 512 elements of up to 16 bytes */
    uint64_t extra = 0, got;
    do {
        if (fp_vec_reader_read(ctx->reader, scratch, fp_vec_reader_dtype(ctx->reader), 512, &got, err) < 0)
            return -1;
        extra += got;
    } while (got == 512);
    return extra ? length_error(ctx, ctx->consumed + extra, err) : 0;
}

/* fp_array_source for format writers: parameters from the vector, other arrays
 * from the input model. */
static int fill_from_vector(void *vctx, const fp_node *arr, void *dst, fp_error *err)
{
    rebuild_ctx *ctx = vctx;
    const fp_layout *layout = ctx->layout;
    if (ctx->next_param < layout->n_params && layout->params[ctx->next_param].node == arr) {
        const fp_param *p = &layout->params[ctx->next_param++];
        return read_slice(ctx, p, dst, p->n_elems, err);
    }
    if (fp_layout_find(layout, arr))
        return fp_fail(err, "internal error: writer visited parameters out of flat order");
    return fp_array_read(arr, dst, arr->dtype, err);
}

/* An array stored plainly in the file (raw_offset: contiguous, unfiltered;
 * every safetensors tensor) goes to a format that patches pieces PIECE_BYTES
 * at a time, so memory stays small whatever the arrays' sizes; others whole
 * (a compressed chunk written piece by piece would be compressed again and
 * again). */
enum { PIECE_BYTES = 1 << 20 };

static int patch_in_pieces(rebuild_ctx *ctx, const fp_format *fmt, void *patch,
                           const fp_param *p, void *piece, fp_error *err)
{
    uint64_t per = PIECE_BYTES / fp_dtype_size(p->node->dtype);
    for (uint64_t at = 0; at < p->n_elems; at += per) {
        uint64_t k = p->n_elems - at < per ? p->n_elems - at : per;
        if (read_slice(ctx, p, piece, k, err) < 0
            || fmt->patch_piece(patch, p->node, at, piece, k, err) < 0)
            return -1;
    }
    return 0;
}

static int patch_copy(rebuild_ctx *ctx, const fp_tree *tree, const char *tmp_path, fp_error *err)
{
    const fp_format *fmt = tree->format;
    void *patch = NULL;
    if (fp_copy_file(tree->path, tmp_path, err) < 0 || fmt->patch_open(tmp_path, tree, &patch, err) < 0)
        return -1;
    int rc = 0;
    void *buf = NULL;
    size_t cap = 0;
    for (; rc == 0 && ctx->next_param < ctx->layout->n_params; ctx->next_param++) {
        const fp_param *p = &ctx->layout->params[ctx->next_param];
        int pieces = fmt->patch_piece && p->node->raw_offset >= 0;
        size_t need = pieces ? PIECE_BYTES : fp_array_bytes(p->node);
        if (need > cap) {
            free(buf);
            cap = need;
            if (!(buf = malloc(cap ? cap : 1))) {
                rc = fp_fail(err, "%s: %s: out of memory for %zu bytes%s", tree->path, p->path,
                             cap, pieces ? "" : " (this array is written whole)");
                break;
            }
        }
        if (pieces) {
            rc = patch_in_pieces(ctx, fmt, patch, p, buf, err);
            continue;
        }
        rc = read_slice(ctx, p, buf, p->n_elems, err);
        if (rc == 0)
            rc = fmt->patch_array(patch, p->node, buf, err);
    }
    free(buf);
    if (rc == 0)
        rc = check_exhausted(ctx, err);
    fp_error close_err;
    if (fmt->patch_close(patch, rc == 0, &close_err) < 0 && rc == 0) {
        *err = close_err;
        rc = -1;
    }
    return rc;
}

/* A Keras model rebuilt into another format would be a file Keras cannot
 * load (the generic writers know nothing of Keras' layout), so rebuild keeps
 * its format, as it patches it in place; convert makes other formats of the
 * result. -1 with the reason when out_fmt is not the model's own. */
static int check_keras_output(const fp_tree *tree, const fp_format *out_fmt, const char *output,
                              fp_error *err)
{
    int keras = tree->keras == FP_KERAS_H5 || tree->keras == FP_KERAS_ZIP
             || tree->keras == FP_KERAS3_WEIGHTS;
    if (!keras || out_fmt == tree->format)
        return 0;
    int zip = tree->keras == FP_KERAS_ZIP;
    return fp_fail(err, "%s: rebuild writes a Keras model only as %s, which Keras loads: give -o "
                   "NAME%s (and convert that for another format)", output, zip ? ".keras" : "HDF5",
                   zip ? ".keras" : ".h5");
}

static int run(cmd_opts *opts)
{
    const char *model = opts->args[0], *vec_path = opts->args[1];
    if (!opts->output)
        return cmd_usage_error(&cmd_rebuild, "missing -o OUT");
    if (!strcmp(opts->output, "-"))
        return cmd_usage_error(&cmd_rebuild, "-o - is not supported: the output is a model file");
    int usage = cmd_check_vec_format(&cmd_rebuild, "in-format", opts->in_format);
    if (usage)
        return usage;
    fp_error err;
    fp_tree tree;
    if (cmd_open_model(model, &tree, &err) < 0)
        return cmd_error(&err);
    const fp_format *out_fmt = fp_format_for_output(opts->output, opts->format);
    if (!out_fmt && opts->format) {
        fp_tree_free(&tree);
        return cmd_usage_error(&cmd_rebuild, "unknown --format '%s'", opts->format);
    }
    if (!out_fmt)
        out_fmt = tree.format;   /* an unknown extension keeps the input's format */
    if (check_keras_output(&tree, out_fmt, opts->output, &err) < 0) {
        fp_tree_free(&tree);
        return cmd_error(&err);
    }

    fp_layout layout;
    rebuild_ctx ctx = { .vec_path = strcmp(vec_path, "-") ? vec_path : "<stdin>", .layout = &layout };
    fp_outfile out = { .fd = -1 };
    cmd_warn_unmatched(opts, tree.root);
    int rc = fp_layout_build(tree.root, &opts->sel, &layout, &err);
    if (rc == 0)
        rc = fp_vec_reader_open(&ctx.reader, vec_path, opts->in_format, opts->dtype, &err);
    if (rc == 0 && fp_vec_reader_count(ctx.reader) != UINT64_MAX
        && fp_vec_reader_count(ctx.reader) != layout.n_elems)
        rc = length_error(&ctx, fp_vec_reader_count(ctx.reader), &err);
    if (rc == 0)
        rc = fp_outfile_reserve(&out, opts->output, &err);
    if (rc == 0) {
        if (out_fmt == tree.format && out_fmt->patch_open) {
            rc = patch_copy(&ctx, &tree, out.tmp_path, &err);
        } else {
            fp_array_source src = { fill_from_vector, &ctx };
            rc = out_fmt->write(out.tmp_path, tree.root, &src, &err);
            if (rc == 0 && ctx.next_param != layout.n_params)
                rc = fp_fail(&err, "internal error: the writer skipped parameters");
            if (rc == 0)
                rc = check_exhausted(&ctx, &err);
        }
        if (rc == 0)
            rc = fp_outfile_commit(&out, &err);
        else {
            fp_outfile_name_target(&out, &err);
            fp_outfile_abort(&out);
        }
    }
    if (ctx.reader)
        fp_vec_reader_close(ctx.reader);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_rebuild = {
    .name = "rebuild",
    .run = run,
    .min_args = 2, .max_args = 2,
    .options = "output,include,exclude,all,dtype,format,in-format,precision,device,quiet,allow-external,"
               "arch",
    .usage =
        "rebuild MODEL VEC -o OUT [--include GLOB] [--exclude GLOB] [--all] [--dtype T] [--format F]\n"
        "\n"
        "Writes MODEL with its parameters replaced by the values of VEC, in the order\n"
        "flatten writes them (Flux's Restructure). Everything else is kept as it was;\n"
        "each value is converted to its array's own dtype. VEC may be - (standard input:\n"
        "text, or .npy when it starts with the NumPy magic).\n"
        "\n"
        "  -o OUT          the new model file (written to a temporary file, then renamed);\n"
        "                  its format follows the extension (.h5 .hdf5 .json .safetensors;\n"
        "                  .keras from a .keras MODEL), else MODEL's. A Keras MODEL is\n"
        "                  written in its own format only (.keras, or HDF5 for a Keras .h5),\n"
        "                  so that Keras loads the result: convert it for another format\n"
        "  --include/--exclude/--all   the same selection that made the vector\n"
        "  --dtype T       element type of a raw .bin VEC\n"
        "  --format F      force the output model format (hdf5, json, safetensors)\n"
        "  --in-format F   force VEC's format (npy, txt, csv, bin, h5, json; default: by\n"
        "                  content and extension)\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --precision, --device   checked, as on every command; nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
