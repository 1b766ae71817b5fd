/* flatparams summary: the tree printed the way Flux shows a model, one line per
 * layer with its parameter count, and the Total line. Array data is read one
 * array at a time, only to flag layers that are all zero or hold NaN/Inf.
 * A module the file shares (JSON $ref, HDF5 hard links) is printed once, where
 * the depth-first walk first meets it; each later occurrence is one line that
 * names that path, so a file that nests sharing prints in its own size. */
#include "cmd.h"

#include <math.h>
#include <stdint.h>
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

/* A node the file holds in more than one place (refs > 1). */
typedef struct shared_node {
    const fp_node *node;
    char *first_path;            /* where the depth-first walk first meets it */
    signed char holds_arrays;    /* -1 until known */
} shared_node;

typedef struct summary_ctx {
    const fp_layout *all;
    shared_node *shared;        /* sorted by node address */
    size_t n_shared, cap_shared;
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
        cmd_fail_reading_array(&ctx->err, ctx->model, p->path);
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

/* ---- shared nodes */

static int note_shared(const fp_node *node, const char *path, int depth, int first_time,
                       int inherited_trainable, void *vctx)
{
    (void)depth; (void)inherited_trainable;
    summary_ctx *ctx = vctx;
    if (!first_time || node->refs < 2)
        return 0;
    if (ctx->n_shared == ctx->cap_shared) {
        size_t cap = ctx->cap_shared ? 2 * ctx->cap_shared : 16;
        shared_node *grown = realloc(ctx->shared, cap * sizeof *grown);
        if (!grown)
            return -1;
        ctx->shared = grown;
        ctx->cap_shared = cap;
    }
    shared_node *s = &ctx->shared[ctx->n_shared];
    *s = (shared_node){ .node = node, .first_path = strdup(path), .holds_arrays = -1 };
    if (!s->first_path)
        return -1;
    ctx->n_shared++;
    return 0;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const shared_node *)a)->node, y = (uintptr_t)((const shared_node *)b)->node;
    return x < y ? -1 : x > y;
}

/* The walk visits a shared node's subtree once, so listing them costs the
 * file's size however deep the sharing nests. */
static int find_shared_nodes(summary_ctx *ctx, const fp_node *root)
{
    if (fp_tree_walk(root, note_shared, ctx) != 0)
        return -1;
    if (ctx->n_shared)
        qsort(ctx->shared, ctx->n_shared, sizeof *ctx->shared, by_address);
    return 0;
}

static shared_node *shared_entry(const summary_ctx *ctx, const fp_node *node)
{
    if (node->refs < 2 || !ctx->n_shared)
        return NULL;
    shared_node key = { .node = node };
    return bsearch(&key, ctx->shared, ctx->n_shared, sizeof *ctx->shared, by_address);
}

/* Where node was first met, when that is not `path`: this occurrence is a
 * reference. NULL for the first occurrence and for unshared nodes. */
static const char *seen_before_at(const summary_ctx *ctx, const fp_node *node, const char *path)
{
    const shared_node *s = shared_entry(ctx, node);
    return s && strcmp(s->first_path, path) ? s->first_path : NULL;
}

/* Containers that hold no array anywhere below (lists of settings, Keras'
 * weight_names) are settings, not modules: summary leaves them out. The
 * answer is kept for shared nodes, so that asking again (at each level, and
 * at each place a node is shared) costs nothing. */
static int holds_arrays(summary_ctx *ctx, const fp_node *n, int depth)
{
    if (n->kind == FP_ARRAY)
        return 1;
    shared_node *s = shared_entry(ctx, n);
    if (s && s->holds_arrays >= 0)
        return s->holds_arrays;
    int found = 0;
    for (size_t i = 0; i < n->n_children && depth < 512 && !found; i++)
        found = holds_arrays(ctx, n->children[i], depth + 1);
    if (s)
        s->holds_arrays = (signed char)found;
    return found;
}

static int is_container(summary_ctx *ctx, const fp_node *n)
{
    return (n->kind == FP_MAP || n->kind == FP_LIST) && holds_arrays(ctx, n, 0);
}

/* A layer is a map none of whose children are containers: printed on one line. */
static int is_leaf_layer(summary_ctx *ctx, const fp_node *node)
{
    if (node->kind != FP_MAP)
        return 0;
    for (size_t i = 0; i < node->n_children; i++)
        if (is_container(ctx, node->children[i]))
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

/* A later occurrence of a shared node: the line it would open with, its
 * contents elided, and the path of its first occurrence (which counts its
 * parameters). */
static void print_reference(summary_ctx *ctx, const fp_node *node, const char *key, int indent,
                            const char *first_path)
{
    char line[2048], what[1536];
    if (node->kind == FP_ARRAY)
        snprintf(what, sizeof what, "%s[%llu elements]", fp_dtype_name(node->dtype),
                 (unsigned long long)node->n_elems);
    else if (is_leaf_layer(ctx, node) && node->type)
        layer_signature(node, what, sizeof what);
    else if (node->type)
        snprintf(what, sizeof what, "%s(...)", node->type);
    else
        snprintf(what, sizeof what, node->kind == FP_LIST ? "[...]" : "(...)");
    int col = snprintf(line, sizeof line, "%*s%s%s%s,", indent, "", key ? key : "", key ? " = " : "", what);
    int pad = 40 - col;
    fprintf(out, "%s%*s# same as %s\n", line, pad > 1 ? pad : 1, "", first_path);
}

static void print_node(summary_ctx *ctx, const fp_node *node, const char *key, const char *path,
                       int indent)
{
    char line[2048], sig[1536], child_path[4096];
    const char *label_sep = key ? " = " : "";
    if (is_leaf_layer(ctx, node) && node->type) {
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
        if (is_container(ctx, node->children[i]))
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
        int container = is_container(ctx, c), param = c->kind == FP_ARRAY && fp_dtype_is_param(c->dtype);
        const char *first_path = container || param ? seen_before_at(ctx, c, child_path) : NULL;
        if (first_path) {
            print_reference(ctx, c, items->kind == FP_MAP ? name : NULL, indent + 2, first_path);
        } else if (container) {
            print_node(ctx, c, items->kind == FP_MAP ? name : NULL, child_path, indent + 2);
        } else if (param) {
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
    if (find_shared_nodes(&ctx, tree.root) < 0) {
        fp_fail(&ctx.err, "%s: out of memory", opts->args[0]);
        ctx.failed = 1;
    }
    int root_printed = !ctx.failed && is_container(&ctx, tree.root);
    if (root_printed)
        print_node(&ctx, tree.root, NULL, "/", 0);
    counts total = count_below(&ctx, "/", 0);
    int pad = root_printed ? 19 : 20;
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
    for (size_t i = 0; i < ctx.n_shared; i++)
        free(ctx.shared[i].first_path);
    free(ctx.shared);
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
        "A module or array the file shares (JSON $ref, HDF5 hard links) is printed in\n"
        "full where it first occurs, depth-first; each later occurrence is one line,\n"
        "\"b = Dense(2 => 1),  # same as /a\" (\"Chain(...)\", \"(...)\" or \"[...]\" for\n"
        "one that holds more), and its parameters count once, at the first.\n"
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
