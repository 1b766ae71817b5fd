/* Which arrays are parameters, in which order: the walk that defines the flat
 * vector (Optimisers.jl's destructure). Depth-first, children in file order,
 * shared arrays once at their first occurrence. */
#include "flatparams.h"
#include "vocabulary.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Layer types whose statistics are state, not parameters (Flux's BatchNorm
 * μ/σ², Keras' moving_mean/moving_variance, PyTorch's running_mean/var). */
int fp_is_trainable_key(const char *layer_type, const char *key)
{
    static const char *const norm_types[] = {
        "BatchNorm", "BatchNormalization", "BatchNorm1d", "BatchNorm2d", "InstanceNorm", NULL
    };
    static const char *const *const stat_keys[] = { fp_running_mean_keys, fp_running_var_keys };
    if (!layer_type || !key)
        return 1;
    int is_norm = 0;
    for (const char *const *t = norm_types; *t; t++)
        is_norm |= !strcmp(layer_type, *t);
    if (!is_norm)
        return 1;
    for (size_t i = 0; i < sizeof stat_keys / sizeof *stat_keys; i++)
        for (const char *const *k = stat_keys[i]; *k; k++)
            if (!strcmp(key, *k))
                return 0;
    return 1;
}

int fp_glob_match(const char *glob, const char *path)
{
    if (fnmatch(glob, path, 0) == 0)
        return 1;
    if (!strcmp(glob, "/"))   /* the root module: everything */
        return 1;
    /* A glob naming a module selects everything inside it. */
    size_t len = strlen(path);
    char *prefix = malloc(len + 1);
    if (!prefix)
        return 0;
    int hit = 0;
    for (size_t i = len; i-- > 1 && !hit;) {
        if (path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = 0;
        hit = fnmatch(glob, prefix, 0) == 0;
    }
    free(prefix);
    return hit;
}

/* ---- the walk */

typedef struct seen_set {
    const fp_node **nodes;
    size_t n, cap;
} seen_set;

/* Open addressing keyed by pointer: trees have up to millions of nodes. */
static int seen_insert(seen_set *set, const fp_node *node)
{
    if (2 * (set->n + 1) > set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 64;
        const fp_node **nodes = calloc(cap, sizeof *nodes);
        if (!nodes)
            return -1;
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->nodes[i])
                continue;
            size_t h = ((uintptr_t)set->nodes[i] >> 4) & (cap - 1);
            while (nodes[h])
                h = (h + 1) & (cap - 1);
            nodes[h] = set->nodes[i];
        }
        free(set->nodes);
        set->nodes = nodes;
        set->cap = cap;
    }
    size_t h = ((uintptr_t)node >> 4) & (set->cap - 1);
    while (set->nodes[h]) {
        if (set->nodes[h] == node)
            return 0;
        h = (h + 1) & (set->cap - 1);
    }
    set->nodes[h] = node;
    set->n++;
    return 1;
}

typedef struct walk_state {
    fp_visit_fn fn;
    void *ctx;
    seen_set seen;
    char *path;
    size_t path_len, path_cap;
} walk_state;

static int path_push(walk_state *w, const char *name)
{
    size_t len = strlen(name);
    if (w->path_len + len + 2 > w->path_cap) {
        size_t cap = 2 * (w->path_len + len + 2);
        char *p = realloc(w->path, cap);
        if (!p)
            return -1;
        w->path = p;
        w->path_cap = cap;
    }
    w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, name, len + 1);
    w->path_len += len;
    return 0;
}

static int walk(walk_state *w, const fp_node *node, int depth, int trainable)
{
    int first = 1;
    if (node->refs > 1) {
        int ins = seen_insert(&w->seen, node);
        if (ins < 0)
            return -1;
        first = ins;
    }
    trainable = trainable && node->trainable;
    int stop = w->fn(node, w->path_len ? w->path : "/", depth, first, trainable, w->ctx);
    if (stop || !first || (node->kind != FP_MAP && node->kind != FP_LIST))
        return stop;
    for (size_t i = 0; i < node->n_children; i++) {
        char index[24];
        const char *name = node->kind == FP_MAP ? node->keys[i] : index;
        if (node->kind == FP_LIST)
            snprintf(index, sizeof index, "%zu", i);
        size_t saved = w->path_len;
        if (path_push(w, name) < 0)
            return -1;
        int child_trainable = trainable
            && (node->kind != FP_MAP || fp_is_trainable_key(node->type, name));
        stop = walk(w, node->children[i], depth + 1, child_trainable);
        w->path_len = saved;
        w->path[saved] = 0;
        if (stop)
            return stop;
    }
    return 0;
}

int fp_tree_walk(const fp_node *root, fp_visit_fn fn, void *ctx)
{
    walk_state w = { .fn = fn, .ctx = ctx };
    int rc = root ? walk(&w, root, 0, 1) : 0;
    free(w.seen.nodes);
    free(w.path);
    return rc;
}

/* ---- the layout */

typedef struct layout_ctx {
    const fp_select *sel;
    fp_layout *layout;
    size_t cap;
    int oom;
} layout_ctx;

int fp_select_match(const fp_select *sel, const char *path, int trainable)
{
    if (!sel)
        return trainable;
    if (!trainable && !sel->all)
        return 0;
    if (sel->n_include) {
        int hit = 0;
        for (size_t i = 0; i < sel->n_include && !hit; i++)
            hit = fp_glob_match(sel->include[i], path);
        if (!hit)
            return 0;
    }
    for (size_t i = 0; i < sel->n_exclude; i++)
        if (fp_glob_match(sel->exclude[i], path))
            return 0;
    return 1;
}

static int collect(const fp_node *node, const char *path, int depth, int first,
                   int trainable, void *vctx)
{
    (void)depth;
    layout_ctx *ctx = vctx;
    if (!first || node->kind != FP_ARRAY || !fp_dtype_is_param(node->dtype)
        || !fp_select_match(ctx->sel, path, trainable))
        return 0;
    fp_layout *layout = ctx->layout;
    if (layout->n_params == ctx->cap) {
        size_t cap = ctx->cap ? 2 * ctx->cap : 16;
        fp_param *params = realloc(layout->params, cap * sizeof *params);
        if (!params)
            return ctx->oom = 1;
        layout->params = params;
        ctx->cap = cap;
    }
    fp_param *p = &layout->params[layout->n_params];
    if (!(p->path = strdup(path)))
        return ctx->oom = 1;
    p->node = (fp_node *)node;
    p->offset = layout->n_elems;
    p->n_elems = node->n_elems;
    p->trainable = trainable;
    layout->n_params++;
    layout->n_elems += node->n_elems;
    layout->dtype = fp_dtype_promote(layout->dtype, node->dtype);
    return 0;
}

int fp_layout_build(const fp_node *root, const fp_select *sel, fp_layout *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    layout_ctx ctx = { .sel = sel, .layout = out };
    int rc = fp_tree_walk(root, collect, &ctx);
    if (rc < 0 || ctx.oom) {
        fp_layout_free(out);
        return fp_fail(err, "out of memory while listing parameters");
    }
    if (out->dtype == FP_DT_NONE)
        out->dtype = FP_F32;
    return 0;
}

void fp_layout_free(fp_layout *layout)
{
    for (size_t i = 0; i < layout->n_params; i++)
        free(layout->params[i].path);
    free(layout->params);
    memset(layout, 0, sizeof *layout);
}

const fp_param *fp_layout_find(const fp_layout *layout, const fp_node *node)
{
    for (size_t i = 0; i < layout->n_params; i++)
        if (layout->params[i].node == node)
            return &layout->params[i];
    return NULL;
}
