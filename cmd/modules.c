/* flatparams modules: every non-leaf node (Flux.modules), depth-first pre-order,
 * with its parameter counts. Metadata only: never reads array data. */
#include "cmd.h"

#include <string.h>

typedef struct modules_ctx {
    const fp_layout *all;       /* every parameter, selected or not */
    const fp_select *sel;
    int json;
    size_t n_printed;
} modules_ctx;

static int has_prefix(const char *path, const char *prefix)
{
    if (!strcmp(prefix, "/"))
        return 1;
    size_t n = strlen(prefix);
    return !strncmp(path, prefix, n) && path[n] == '/';
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* Parameters under a module are a contiguous run of the depth-first layout, so
 * one forward scan per module finds them; `first` tracks where the run starts. */
static size_t scan_from;

static int visit(const fp_node *node, const char *path, int depth, int first, int trainable,
                 void *vctx)
{
    (void)depth; (void)trainable;
    modules_ctx *ctx = vctx;
    if (!first)
        return 0;
    if (node->kind == FP_ARRAY) {
        if (scan_from < ctx->all->n_params && ctx->all->params[scan_from].node == node)
            scan_from++;
        return 0;
    }
    if (node->kind != FP_MAP && node->kind != FP_LIST)
        return 0;
    uint64_t n_train = 0, n_frozen = 0, a_train = 0, a_frozen = 0;
    for (size_t i = scan_from; i < ctx->all->n_params && has_prefix(ctx->all->params[i].path, path); i++) {
        const fp_param *p = &ctx->all->params[i];
        if (fp_select_match(ctx->sel, p->path, p->trainable)) {
            n_train += p->n_elems;
            a_train++;
        } else {
            n_frozen += p->n_elems;
            a_frozen++;
        }
    }
    /* A node without a layer type (every safetensors node, lists, untyped maps)
     * says so: null in JSON, its kind in parentheses in the table; never its
     * kind where a type goes, which a check on layer types would take for one. */
    const char *kind = node->kind == FP_LIST ? "list" : "map";
    if (ctx->json) {
        printf("%s\n  {\"path\": ", ctx->n_printed ? "," : "[");
        json_string(path);
        printf(", \"type\": ");
        if (node->type)
            json_string(node->type);
        else
            fputs("null", stdout);
        printf(", \"kind\": \"%s\", \"trainable\": %llu, \"non_trainable\": %llu, "
               "\"arrays\": %llu, \"trainable_arrays\": %llu, \"non_trainable_arrays\": %llu}",
               kind, (unsigned long long)n_train,
               (unsigned long long)n_frozen, (unsigned long long)(a_train + a_frozen),
               (unsigned long long)a_train, (unsigned long long)a_frozen);
    } else {
        char untyped[8];
        snprintf(untyped, sizeof untyped, "(%s)", kind);
        printf("%-32s %-20s %12llu %14llu %7llu\n", path, node->type ? node->type : untyped,
               (unsigned long long)n_train,
               (unsigned long long)n_frozen, (unsigned long long)(a_train + a_frozen));
    }
    ctx->n_printed++;
    return 0;
}

static int run(cmd_opts *opts)
{
    fp_tree tree;
    fp_layout all;
    int json = opts->json;
    if (opts->format && !strcmp(opts->format, "json"))
        json = 1;
    else if (opts->format && strcmp(opts->format, "text") && strcmp(opts->format, "txt"))
        return cmd_usage_error(&cmd_modules, "--format takes json or text, got '%s'", opts->format);
    if (cmd_open_all_params(opts->args[0], &tree, &all))
        return EXIT_BAD_INPUT;
    cmd_warn_unmatched(opts, tree.root);
    modules_ctx ctx = { .all = &all, .sel = &opts->sel, .json = json };
    if (!json)
        printf("%-32s %-20s %12s %14s %7s\n", "path", "type", "trainable", "non-trainable", "arrays");
    scan_from = 0;
    fp_tree_walk(tree.root, visit, &ctx);
    if (json)
        printf(ctx.n_printed ? "\n]\n" : "[]\n");
    fp_layout_free(&all);
    fp_tree_free(&tree);
    if (fflush(stdout) != 0)
        return cmd_errorf("<stdout>: cannot write");
    return EXIT_OK;
}

const cmd cmd_modules = {
    .name = "modules",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "json,include,exclude,all,dtype,format,precision,device,quiet,allow-external,arch",
    .usage =
        "modules MODEL [--json] [--include GLOB] [--exclude GLOB]\n"
        "\n"
        "Lists every module (every map and list of the model tree, like Flux.modules),\n"
        "depth-first, with the number of trainable and non-trainable parameter elements\n"
        "and parameter arrays below it. Reads metadata only, never parameter data.\n"
        "A module without a layer type (a list, any safetensors module) shows its kind\n"
        "in parentheses, (list) or (map), where the type goes.\n"
        "\n"
        "  --json          one JSON object per module: path, type (the layer type, or null\n"
        "                  when the file gives none), kind (map or list), trainable,\n"
        "                  non_trainable, arrays, trainable_arrays, non_trainable_arrays\n"
        "  --format F      json (as --json) or text (the table)\n"
        "  --include/--exclude GLOB   parameters deselected count as non-trainable\n"
        "  --all           non-trainable parameters count as trainable\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --dtype, --precision, --device   checked, as on every command; no vector is\n"
        "                  written and nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
