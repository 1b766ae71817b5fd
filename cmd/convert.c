/* flatparams convert: the same tree in another model format (JSON <-> HDF5). */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

static int fill_from_model(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    (void)ctx;
    return fp_array_read(arr, dst, arr->dtype, err);
}

/* ---- what the conversion did to the flat vector */

static int by_path(const void *a, const void *b)
{
    return strcmp((*(const fp_param *const *)a)->path, (*(const fp_param *const *)b)->path);
}

/* Every parameter of a layout (built with --all), sorted by path for lookups. */
static const fp_param **sorted_by_path(const fp_layout *all)
{
    const fp_param **sorted = malloc((all->n_params + 1) * sizeof *sorted);
    for (size_t i = 0; sorted && i < all->n_params; i++)
        sorted[i] = &all->params[i];
    if (sorted)
        qsort(sorted, all->n_params, sizeof *sorted, by_path);
    return sorted;
}

static const fp_param *find_path(const fp_param **sorted, size_t n, const char *path)
{
    fp_param key = { .path = (char *)path };
    const fp_param *want = &key, **found = bsearch(&want, sorted, n, sizeof *sorted, by_path);
    return found ? *found : NULL;
}

/* The values of the parameters trainable in `from` that are there, under the
 * same path, and not trainable in `to` (sorted, n_to of them); *first: the
 * first one's path. */
static uint64_t values_leaving(const fp_layout *from, const fp_param **to, size_t n_to,
                               const char **first)
{
    uint64_t values = 0;
    *first = NULL;
    for (size_t i = 0; i < from->n_params; i++) {
        const fp_param *p = &from->params[i], *there = find_path(to, n_to, p->path);
        if (!p->trainable || !there || there->trainable)
            continue;
        values += p->n_elems;
        if (!*first)
            *first = p->path;
    }
    return values;
}

static uint64_t trainable_values(const fp_layout *all)
{
    uint64_t values = 0;
    for (size_t i = 0; i < all->n_params; i++)
        values += all->params[i].trainable ? all->params[i].n_elems : 0;
    return values;
}

/* safetensors keeps arrays only, without layer types or trainable marks, so
 * what the model keeps out of its vector (BatchNorm statistics, trainable:
 * false) is trainable in the file written, and its running_mean and
 * running_var are not (PyTorch's statistics). The written header is read back
 * and a warning line says how many values changed sides. The other formats
 * keep types and marks: their vector is the model's. */
static void warn_if_vector_changes(const char *model, const fp_tree *tree, const char *written,
                                   const char *output)
{
    fp_tree back;
    fp_layout before = { 0 }, after = { 0 };
    fp_select every = { .all = 1 };
    fp_error err;
    if (fp_tree_open(written, &back, &err) < 0)
        return;   /* (not ours to report: the file is written) */
    const fp_param **before_sorted = NULL, **after_sorted = NULL;
    if (fp_layout_build(tree->root, &every, &before, &err) == 0
        && fp_layout_build(back.root, &every, &after, &err) == 0
        && (before_sorted = sorted_by_path(&before)) && (after_sorted = sorted_by_path(&after))) {
        const char *first_in, *first_out;
        uint64_t came_in = values_leaving(&after, before_sorted, before.n_params, &first_in);
        uint64_t went_out = values_leaving(&before, after_sorted, after.n_params, &first_out);
        if (came_in || went_out)
            fprintf(stderr, "flatparams: warning: %s: its flat vector has %llu values where %s's has "
                    "%llu", output, (unsigned long long)trainable_values(&after), model,
                    (unsigned long long)trainable_values(&before));
        if (came_in)
            fprintf(stderr, ": %llu values kept out of the model's (BatchNorm statistics or "
                    "trainable: false; the first: %s) are trainable here, as safetensors keeps no "
                    "layer types or trainable marks", (unsigned long long)came_in, first_in);
        if (went_out)
            fprintf(stderr, "%s %llu of its values (the first: %s) are not trainable here, as "
                    "safetensors takes running_mean and running_var for PyTorch's BatchNorm "
                    "statistics", came_in ? ";" : ":", (unsigned long long)went_out, first_out);
        if (came_in || went_out)
            fputc('\n', stderr);
    }
    free(before_sorted);
    free(after_sorted);
    fp_layout_free(&before);
    fp_layout_free(&after);
    fp_tree_free(&back);
}

static int run(cmd_opts *opts)
{
    if (!opts->output)
        return cmd_usage_error(&cmd_convert, "missing -o OUT");
    const fp_format *out_fmt = fp_format_for_output(opts->output, opts->format);
    if (!out_fmt && opts->format)
        return cmd_usage_error(&cmd_convert, "unknown --format '%s' (json, hdf5)", opts->format);
    if (!out_fmt)
        return cmd_usage_error(&cmd_convert, "cannot tell the output format of '%s': use an "
                               "extension (.h5, .hdf5, .json) or --format", opts->output);
    if (!out_fmt->write)
        return cmd_usage_error(&cmd_convert, "format %s cannot be written", out_fmt->name);
    fp_error err;
    fp_tree tree;
    if (cmd_open_model(opts->args[0], &tree, &err) < 0)
        return cmd_error(&err);
    fp_outfile out;
    fp_array_source src = { fill_from_model, NULL };
    int rc = fp_outfile_reserve(&out, opts->output, &err);
    if (rc == 0) {
        rc = out_fmt->write(out.tmp_path, tree.root, &src, &err);
        if (rc == 0 && !opts->quiet && out_fmt == &fp_format_safetensors)
            warn_if_vector_changes(opts->args[0], &tree, out.tmp_path, opts->output);
        if (rc == 0)
            rc = fp_outfile_commit(&out, &err);
        else {
            fp_outfile_name_target(&out, &err);
            fp_outfile_abort(&out);
        }
    }
    fp_tree_free(&tree);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_convert = {
    .name = "convert",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,format,precision,device,quiet,allow-external,arch",
    .usage =
        "convert MODEL -o OUT [--format F]\n"
        "\n"
        "Writes the same model tree in another format: JSON <-> HDF5 <-> safetensors\n"
        "(which keeps the arrays only). The output format follows OUT's extension\n"
        "(.json, .h5, .hdf5, .safetensors) or --format (json, hdf5, safetensors).\n"
        "It copies the whole tree, so it takes no --include, --exclude, --all or --dtype.\n"
        "safetensors has no layer types or trainable marks: when that changes which\n"
        "values are trainable (BatchNorm statistics join the vector), a warning says\n"
        "how many.\n"
        "\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --precision, --device   checked, as on every command; nothing is computed here\n"
        "  -q, --quiet     no warnings\n",
};
