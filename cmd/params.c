/* flatparams params: where each array lies in the flat vector, in flat order
 * (Flux's Restructure offsets, torch's named_parameters). Metadata only. */
#include "cmd.h"

#include <string.h>

static int run(cmd_opts *opts)
{
    int json = opts->json;
    if (opts->format && !strcmp(opts->format, "json"))
        json = 1;
    else if (opts->format && strcmp(opts->format, "text") && strcmp(opts->format, "txt"))
        return cmd_usage_error(&cmd_params, "--format takes json or text, got '%s'", opts->format);
    fp_error err;
    fp_tree tree;
    if (cmd_open_model(opts->args[0], &tree, &err) < 0)
        return cmd_error(&err);
    cmd_warn_unmatched(opts, tree.root);
    fp_layout layout;
    if (fp_layout_build(tree.root, &opts->sel, &layout, &err) < 0) {
        fp_tree_free(&tree);
        return cmd_error(&err);
    }
    fp_layout_write_index(stdout, &layout, opts->dtype ? opts->dtype : layout.dtype, json);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cmd_errorf("<stdout>: cannot write");
    return EXIT_OK;
}

const cmd cmd_params = {
    .name = "params",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "json,include,exclude,all,dtype,format,precision,device,quiet,allow-external,arch",
    .usage =
        "params MODEL [--json] [--include GLOB] [--exclude GLOB] [--all] [--dtype T]\n"
        "\n"
        "Lists every array of the flat vector that flatten writes with the same options,\n"
        "in its order: path, offset and length (in elements), shape and the array's own\n"
        "dtype; then the vector's length and dtype. A shared array is listed once, where\n"
        "it enters the vector. Reads metadata only, never parameter data.\n"
        "\n"
        "  --json          {\"dtype\", \"length\", \"params\": [{\"path\", \"offset\",\n"
        "                  \"length\", \"shape\", \"dtype\"}, ...]}\n"
        "  --format F      json (as --json) or text (the table)\n"
        "  --include GLOB  only parameters whose path matches (repeatable)\n"
        "  --exclude GLOB  drop parameters whose path matches (repeatable)\n"
        "  --all           non-trainable parameters too (BatchNorm statistics, ...)\n"
        "  --dtype T       the vector's dtype as flatten --dtype T would write it\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --precision, --device   checked, as on every command; nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
