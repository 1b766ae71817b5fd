/* flatparams summary: the tree printed the way Flux shows a model, one line per
 * layer with its parameter count, and the Total line. Array data is read one
 * array at a time, only to flag layers that are all zero or hold NaN/Inf. */
#include "cmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Output is composed in memory and printed only when every array could be read,
 * so a failure prints one error line and no half summary. */
static FILE *out;

typedef struct counts {
    uint64_t n_train, n_frozen;      /* elements */
    uint64_t a_train, a_frozen;      /* arrays */
    uint64_t bytes;
    int all_zero, some_nan, some_inf;
} counts;

typedef struct summary_ctx {
    const fp_layout *all;
    const fp_param **by_path;   /* every parameter, sorted by path (see params_below) */
    const fp_param **below;     /* room for all of them: one module's, in flat order */
    const fp_select *sel;
    const char *model;
    fp_error err;
    int failed;
} summary_ctx;

/* Julia's digit grouping: 51018 -> "51_018". */
static const char *grouped(uint64_t n, char *buf)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = '_';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* The flags: the array read in its own type (its data where the tree holds it),
 * then converted to double a piece at a time, so the memory is the array's own
 * size (a float16 array's, not 8 bytes an element). */
static void scan_values(summary_ctx *ctx, const fp_param *p, counts *c)
{
    const fp_node *arr = p->node;
    int complex_ = fp_dtype_is_complex(arr->dtype);
    size_t elem = fp_dtype_size(arr->dtype);
    void *own = arr->data ? NULL : malloc(fp_array_bytes(arr) ? fp_array_bytes(arr) : 1);
    if (!arr->data && (!own || fp_array_read(arr, own, arr->dtype, &ctx->err) < 0)) {
        if (!own)
            fp_fail(&ctx->err, "out of memory for the array's %zu bytes", fp_array_bytes(arr));
        char where[4096];
        snprintf(where, sizeof where, "%s: %s", ctx->model, p->path);
        fp_fail_prefix(&ctx->err, where);
        ctx->failed = 1;
        free(own);
        return;
    }
    const char *data = arr->data ? arr->data : own;
    enum { PIECE = 4096 };
    double v[2 * PIECE];
    for (uint64_t at = 0; at < p->n_elems; at += PIECE) {
        size_t k = p->n_elems - at < PIECE ? (size_t)(p->n_elems - at) : PIECE;
        fp_convert(v, complex_ ? FP_C128 : FP_F64, data + at * elem, arr->dtype, k, NULL);
        for (size_t i = 0; i < k * (complex_ ? 2 : 1); i++) {
            c->all_zero &= v[i] == 0;
            c->some_nan |= isnan(v[i]);
            c->some_inf |= isinf(v[i]);
        }
    }
    free(own);
}

/* strcmp order, then flat order where two parameters share a path. */
static int path_order(const void *a, const void *b)
{
    const fp_param *pa = *(const fp_param *const *)a, *pb = *(const fp_param *const *)b;
    int c = strcmp(pa->path, pb->path);
    return c ? c : (pa > pb) - (pa < pb);
}

/* Both point into the layout's array, so the address is the flat position. */
static int flat_order(const void *a, const void *b)
{
    const fp_param *pa = *(const fp_param *const *)a, *pb = *(const fp_param *const *)b;
    return (pa > pb) - (pa < pb);
}

/* Where `key` would go in by_path: the first path not below it. */
static size_t first_not_below(const summary_ctx *ctx, const char *key)
{
    size_t lo = 0, hi = ctx->all->n_params;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ctx->by_path[mid]->path, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Fills ctx->below with the parameters whose path is `path` or starts with
 * "path/", in flat order, and returns how many. In sorted order each of those
 * two sets is one run, found by binary search: scanning every parameter for
 * every layer made summary quadratic (27 s for a Chain of 40k layers). A key
 * may hold '/', so "/a/c" can belong to "/a" without following its arrays in
 * flat order; matching paths, not tree positions, keeps that as it was. */
static size_t params_below(summary_ctx *ctx, const char *path)
{
    size_t n_params = ctx->all->n_params, n_below = 0, len = strlen(path);
    char dir[4098];   /* paths here come from print_node's 4096-byte buffers */
    snprintf(dir, sizeof dir, "%s/", path);
    for (size_t i = first_not_below(ctx, path); i < n_params && !strcmp(ctx->by_path[i]->path, path); i++)
        ctx->below[n_below++] = ctx->by_path[i];
    for (size_t i = first_not_below(ctx, dir); i < n_params && !strncmp(ctx->by_path[i]->path, dir, len + 1); i++)
        ctx->below[n_below++] = ctx->by_path[i];
    qsort(ctx->below, n_below, sizeof *ctx->below, flat_order);
    return n_below;
}

static counts count_below(summary_ctx *ctx, const char *path, int with_values)
{
    counts c = { .all_zero = 1 };
    int whole_model = !strcmp(path, "/");
    size_t n_below = whole_model ? ctx->all->n_params : params_below(ctx, path);
    for (size_t i = 0; i < n_below; i++) {
        const fp_param *p = whole_model ? &ctx->all->params[i] : ctx->below[i];
        if (fp_select_match(ctx->sel, p->path, p->trainable)) {
            c.n_train += p->n_elems;
            c.a_train++;
        } else {
            c.n_frozen += p->n_elems;
            c.a_frozen++;
        }
        c.bytes += fp_array_bytes(p->node);
        if (with_values && !ctx->failed)
            scan_values(ctx, p, &c);
    }
    if (c.a_train + c.a_frozen == 0)
        c.all_zero = 0;
    return c;
}

/* Containers that hold no array anywhere below (lists of settings, Keras'
 * weight_names) are settings, not modules: summary leaves them out. */
static int holds_arrays(const fp_node *n, int depth)
{
    if (n->kind == FP_ARRAY)
        return 1;
    for (size_t i = 0; i < n->n_children && depth < 512; i++)
        if (holds_arrays(n->children[i], depth + 1))
            return 1;
    return 0;
}

static int is_container(const fp_node *n)
{
    return (n->kind == FP_MAP || n->kind == FP_LIST) && holds_arrays(n, 0);
}

/* A layer is a map none of whose children are containers: printed on one line. */
static int is_leaf_layer(const fp_node *node)
{
    if (node->kind != FP_MAP)
        return 0;
    for (size_t i = 0; i < node->n_children; i++)
        if (is_container(node->children[i]))
            return 0;
    return 1;
}

static const char *string_child(const fp_node *node, const char *key)
{
    const fp_node *c = fp_map_get(node, key);
    return c && c->kind == FP_STRING ? c->str : NULL;
}

/* "Dense(2 => 1, tanh)", "BatchNorm(64, relu)", else "Type(weight = f32[3, 4], ...)". */
static void layer_signature(const fp_node *node, char *buf, size_t cap)
{
    const char *type = node->type ? node->type : "";
    const char *act = string_child(node, "activation");
    int show_act = act && strcmp(act, "identity") && strcmp(act, "linear");
    const fp_node *w = fp_map_get(node, "weight"), *k = fp_map_get(node, "kernel");
    const fp_node *g = fp_map_get(node, "gamma");
    if (!g)
        g = fp_map_get(node, "beta");
    if (w && w->kind == FP_ARRAY && w->rank == 2) {
        snprintf(buf, cap, "%s(%llu => %llu%s%s)", type, (unsigned long long)w->shape[1],
                 (unsigned long long)w->shape[0], show_act ? ", " : "", show_act ? act : "");
    } else if (k && k->kind == FP_ARRAY && k->rank == 2) {
        snprintf(buf, cap, "%s(%llu => %llu%s%s)", type, (unsigned long long)k->shape[0],
                 (unsigned long long)k->shape[1], show_act ? ", " : "", show_act ? act : "");
    } else if (g && g->kind == FP_ARRAY && g->rank == 1) {
        snprintf(buf, cap, "%s(%llu%s%s)", type, (unsigned long long)g->shape[0],
                 show_act ? ", " : "", show_act ? act : "");
    } else {
        size_t o = (size_t)snprintf(buf, cap, "%s(", type);
        const char *sep = "";
        for (size_t i = 0; i < node->n_children && o < cap; i++) {
            const fp_node *c = node->children[i];
            if (c->kind != FP_ARRAY)
                continue;
            o += (size_t)snprintf(buf + o, cap - o, "%s%s = %s[", sep, node->keys[i],
                                  fp_dtype_name(c->dtype));
            for (int d = 0; d < c->rank && o < cap; d++)
                o += (size_t)snprintf(buf + o, cap - o, "%s%llu", d ? ", " : "",
                                      (unsigned long long)c->shape[d]);
            if (o < cap)
                o += (size_t)snprintf(buf + o, cap - o, "]");
            sep = ", ";
        }
        if (o < cap)
            snprintf(buf + o, cap - o, ")");
    }
}

static void print_comment(const char *text, int col, const counts *c)
{
    char a[40], b[40];
    int pad = 40 - col;
    fprintf(out, "%s%*s# %s parameters", text, pad > 1 ? pad : 1, "", grouped(c->n_train, a));
    if (c->n_frozen)
        fprintf(out, ", plus %s non-trainable", grouped(c->n_frozen, b));
    if (c->all_zero)
        fprintf(out, "  (all zero)");
    if (c->some_nan)
        fprintf(out, "  (some NaN)");
    if (c->some_inf)
        fprintf(out, "  (some Inf)");
    fputc('\n', out);
}

static void print_node(summary_ctx *ctx, const fp_node *node, const char *key, const char *path,
                       int indent)
{
    char line[2048], sig[1536], child_path[4096];
    const char *label_sep = key ? " = " : "";
    if (is_leaf_layer(node) && node->type) {
        layer_signature(node, sig, sizeof sig);
        int col = snprintf(line, sizeof line, "%*s%s%s%s,", indent, "", key ? key : "", label_sep, sig);
        counts c = count_below(ctx, path, 1);
        if (c.a_train + c.a_frozen)
            print_comment(line, col, &c);
        else
            fprintf(out, "%s\n", line);
        return;
    }
    /* A map holding one list (Chain's layers) shows the list's items directly. */
    const fp_node *items = node;
    const char *items_path = path;
    size_t n_containers = 0, list_index = 0;
    for (size_t i = 0; i < node->n_children; i++)
        if (is_container(node->children[i]))
            n_containers++, list_index = i;
    if (node->kind == FP_MAP && n_containers == 1 && node->children[list_index]->kind == FP_LIST) {
        items = node->children[list_index];
        snprintf(child_path, sizeof child_path, "%s/%s", strcmp(path, "/") ? path : "",
                 node->keys[list_index]);
        items_path = strdup(child_path);
    }
    const char *open = node->type ? node->type : node->kind == FP_LIST ? "[" : "(";
    fprintf(out, "%*s%s%s%s%s\n", indent, "", key ? key : "", label_sep, open, node->type ? "(" : "");
    for (size_t i = 0; i < items->n_children; i++) {
        const fp_node *c = items->children[i];
        char index[24];
        const char *name = items->kind == FP_MAP ? items->keys[i] : index;
        snprintf(index, sizeof index, "%zu", i);
        snprintf(child_path, sizeof child_path, "%s/%s", strcmp(items_path, "/") ? items_path : "", name);
        if (is_container(c)) {
            print_node(ctx, c, items->kind == FP_MAP ? name : NULL, child_path, indent + 2);
        } else if (c->kind == FP_ARRAY && fp_dtype_is_param(c->dtype)) {
            counts k = count_below(ctx, child_path, 1);
            int col = snprintf(line, sizeof line, "%*s%s%s%s[%llu elements],", indent + 2, "",
                               items->kind == FP_MAP ? name : "", items->kind == FP_MAP ? " = " : "",
                               fp_dtype_name(c->dtype), (unsigned long long)c->n_elems);
            print_comment(line, col, &k);
        }
    }
    const char *close = node->type ? ")" : node->kind == FP_LIST ? "]" : ")";
    if (indent)
        fprintf(out, "%*s%s,\n", indent, "", close);
    else
        fputs(close, out);   /* the Total comment follows on this line, as in Flux */
    if (items_path != path)
        free((char *)items_path);
}

static int run(cmd_opts *opts)
{
    fp_tree tree;
    fp_layout all;
    if (opts->format && strcmp(opts->format, "text") && strcmp(opts->format, "txt"))
        return cmd_usage_error(&cmd_summary, "--format takes text, got '%s'", opts->format);
    if (cmd_open_all_params(opts->args[0], &tree, &all))
        return EXIT_BAD_INPUT;
    cmd_warn_unmatched(opts, tree.root);
    summary_ctx ctx = { .all = &all, .sel = &opts->sel, .model = opts->args[0] };
    size_t n_slots = all.n_params ? all.n_params : 1;
    ctx.by_path = malloc(n_slots * sizeof *ctx.by_path);
    ctx.below = malloc(n_slots * sizeof *ctx.below);
    char *text = NULL;
    size_t text_len = 0;
    if (!ctx.by_path || !ctx.below || !(out = open_memstream(&text, &text_len))) {
        free(ctx.by_path);
        free(ctx.below);
        fp_layout_free(&all);
        fp_tree_free(&tree);
        return cmd_errorf("out of memory");
    }
    for (size_t i = 0; i < all.n_params; i++)
        ctx.by_path[i] = &all.params[i];
    qsort(ctx.by_path, all.n_params, sizeof *ctx.by_path, path_order);
    if (is_container(tree.root))
        print_node(&ctx, tree.root, NULL, "/", 0);
    counts total = count_below(&ctx, "/", 0);
    int pad = is_container(tree.root) ? 19 : 20;
    char a[40], b[40];
    if (total.a_frozen == 0)
        fprintf(out, "%*s# Total: %llu arrays, %s parameters, %llu bytes.\n", pad, "",
               (unsigned long long)total.a_train, grouped(total.n_train, a),
               (unsigned long long)total.bytes);
    else
        fprintf(out, "%*s# Total: %llu trainable arrays, %s parameters,\n%*s# plus %llu non-trainable, "
               "%s parameters, %llu bytes.\n", pad, "", (unsigned long long)total.a_train,
               grouped(total.n_train, a), 20, "", (unsigned long long)total.a_frozen,
               grouped(total.n_frozen, b), (unsigned long long)total.bytes);
    fclose(out);
    free(ctx.by_path);
    free(ctx.below);
    fp_layout_free(&all);
    fp_tree_free(&tree);
    if (!ctx.failed)
        fwrite(text, 1, text_len, stdout);
    free(text);
    if (ctx.failed)
        return cmd_error(&ctx.err);
    return fflush(stdout) == 0 ? EXIT_OK : cmd_errorf("<stdout>: cannot write");
}

const cmd cmd_summary = {
    .name = "summary",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "include,exclude,all,dtype,format,precision,device,quiet,allow-external,arch",
    .usage =
        "summary MODEL [--include GLOB] [--exclude GLOB]\n"
        "\n"
        "Prints the model tree the way Flux shows a model: one line per layer with its\n"
        "parameter count (\"# 3 parameters\", \"plus K non-trainable\"), flags for layers\n"
        "that are (all zero), hold (some NaN) or (some Inf), and the Total line.\n"
        "\n"
        "  --include/--exclude GLOB   parameters deselected count as non-trainable\n"
        "  --all           non-trainable parameters count as trainable\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --format F      text (the only one)\n"
        "  --dtype, --precision, --device   checked, as on every command; no vector is\n"
        "                  written and nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
