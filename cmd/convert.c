/* flatparams convert: the same tree in another model format (JSON <-> HDF5). */
#include "cmd.h"

#include <string.h>

static int fill_from_model(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    (void)ctx;
    return fp_array_read(arr, dst, arr->dtype, err);
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
    .options = "output,format,precision,device,quiet,allow-external",
    .usage =
        "convert MODEL -o OUT [--format F]\n"
        "\n"
        "Writes the same model tree in another format: JSON <-> HDF5 <-> safetensors\n"
        "(which keeps the arrays only). The output format follows OUT's extension\n"
        "(.json, .h5, .hdf5, .safetensors) or --format (json, hdf5, safetensors).\n"
        "It copies the whole tree, so it takes no --include, --exclude, --all or --dtype.\n"
        "\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --precision, --device   checked, as on every command; nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
