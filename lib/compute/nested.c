/*
 * A flat vector seen as a tree shaped like the model: the other view of the
 * same numbers (Flux's Restructure, and what Zygote returns for a gradient).
 * Selected parameter arrays become arrays holding their slice; everything
 * else becomes null. Shared arrays and modules stay shared.
 */
#include "fp_compute.h"

#include <stdlib.h>
#include <string.h>

typedef struct mirror_ctx {
    const fp_layout *layout;
    const void *flat;
    fp_dtype flat_dtype, out_dtype;
    const fp_node **from;  /* shared originals and their mirrors */
    fp_node **to;
    size_t n_seen, cap_seen;
    fp_error *err;
} mirror_ctx;

static fp_node *mirror(mirror_ctx *m, const fp_node *node);

static fp_node *mirror_array(mirror_ctx *m, const fp_node *node)
{
    const fp_param *param = fp_layout_find(m->layout, node);
    if (!param)
        return fp_node_new(FP_NULL);
    fp_node *arr = fp_node_new_array(m->out_dtype, node->rank, node->shape, m->err);
    if (!arr)
        return NULL;
    size_t bytes = fp_array_bytes(arr);
    if (!(arr->data = malloc(bytes ? bytes : 1))) {
        fp_node_release(arr);
        fp_fail(m->err, "out of memory");
        return NULL;
    }
    const char *slice = (const char *)m->flat + param->offset * fp_dtype_size(m->flat_dtype);
    fp_convert(arr->data, m->out_dtype, slice, m->flat_dtype, param->n_elems, NULL);
    return arr;
}

static fp_node *mirror_children(mirror_ctx *m, const fp_node *node)
{
    fp_node *copy = fp_node_new(node->kind);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < node->n_children; i++) {
        fp_node *child = mirror(m, node->children[i]);
        if (!child || fp_node_append(copy, node->kind == FP_MAP ? node->keys[i] : NULL, child,
                                     m->err) < 0) {
            if (child && !child->refs)
                fp_node_release(child);
            fp_node_release(copy);
            return NULL;
        }
    }
    return copy;
}

static fp_node *mirror(mirror_ctx *m, const fp_node *node)
{
    int shared = node->refs > 1 && node->kind != FP_NULL;
    for (size_t i = 0; shared && i < m->n_seen; i++)
        if (m->from[i] == node)
            return m->to[i];
    fp_node *copy;
    if (node->kind == FP_MAP || node->kind == FP_LIST)
        copy = mirror_children(m, node);
    else if (node->kind == FP_ARRAY)
        copy = mirror_array(m, node);
    else
        copy = fp_node_new(FP_NULL);
    if (!copy) {
        if (!m->err->msg[0])
            fp_fail(m->err, "out of memory");
        return NULL;
    }
    if (shared && copy->kind != FP_NULL) {
        if (m->n_seen == m->cap_seen) {
            size_t cap = m->cap_seen ? 2 * m->cap_seen : 16;
            const fp_node **from = realloc(m->from, cap * sizeof *from);
            if (from)
                m->from = from;
            fp_node **to = from ? realloc(m->to, cap * sizeof *to) : NULL;
            if (!to) {
                fp_node_release(copy);
                fp_fail(m->err, "out of memory");
                return NULL;
            }
            m->to = to;
            m->cap_seen = cap;
        }
        m->from[m->n_seen] = node;
        m->to[m->n_seen++] = copy;
    }
    return copy;
}

fp_node *fp_nested_tree(const fp_node *root, const fp_layout *layout, const void *flat,
                        fp_dtype flat_dtype, fp_dtype out_dtype, fp_error *err)
{
    mirror_ctx m = { .layout = layout, .flat = flat, .flat_dtype = flat_dtype,
                     .out_dtype = out_dtype, .err = err };
    err->msg[0] = 0;
    fp_node *copy = mirror(&m, root);
    free(m.from);
    free(m.to);
    return copy;
}
