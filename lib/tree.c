/* The in-memory model tree: maps, lists, arrays and scalar settings. Arrays may
 * be lazy (data fetched from the file on demand), which is what lets flatten
 * stream and modules never touch parameter data. */
#include "flatparams.h"

#include <stdlib.h>
#include <string.h>

/* A node with room for `extra` bytes after it (an array's shape): one
 * allocation, and no room for a rank's worth of sizes in every node (trees
 * of many small arrays hold millions of nodes). */
static fp_node *node_with_room(fp_kind kind, size_t extra)
{
    fp_node *node = calloc(1, sizeof *node + extra);
    if (node) {
        node->kind = kind;
        node->trainable = 1;
        node->raw_offset = -1;
    }
    return node;
}

fp_node *fp_node_new(fp_kind kind)
{
    return node_with_room(kind, 0);
}

fp_node *fp_node_new_string(const char *s)
{
    fp_node *node = fp_node_new(FP_STRING);
    if (node && !(node->str = strdup(s))) {
        free(node);
        return NULL;
    }
    return node;
}

fp_node *fp_node_new_number(double x)
{
    fp_node *node = fp_node_new(FP_NUMBER);
    if (node)
        node->number = x;
    return node;
}

fp_node *fp_node_new_bool(int b)
{
    fp_node *node = fp_node_new(FP_BOOLEAN);
    if (node)
        node->boolean = b != 0;
    return node;
}

fp_node *fp_node_new_array(fp_dtype dtype, int rank, const uint64_t *shape, fp_error *err)
{
    if (rank < 0 || rank > FP_MAX_RANK) {
        fp_fail(err, "array rank %d is beyond the supported %d", rank, FP_MAX_RANK);
        return NULL;
    }
    uint64_t n = 1, limit = ((uint64_t)1 << 62) / (fp_dtype_size(dtype) ? fp_dtype_size(dtype) : 1);
    for (int i = 0; i < rank; i++) {
        if (shape[i] != 0 && n > limit / shape[i]) {
            fp_fail(err, "array shape's element count overflows");
            return NULL;
        }
        n *= shape[i];
    }
    fp_node *node = node_with_room(FP_ARRAY, (size_t)rank * sizeof *shape);
    if (!node) {
        fp_fail(err, "out of memory");
        return NULL;
    }
    node->dtype = dtype;
    node->rank = rank;
    node->shape = (uint64_t *)(node + 1);
    if (rank)
        memcpy(node->shape, shape, (size_t)rank * sizeof *shape);
    node->n_elems = n;
    return node;
}

int fp_node_append(fp_node *parent, const char *key, fp_node *child, fp_error *err)
{
    if (parent->n_children == parent->cap_children) {
        size_t cap = parent->cap_children ? 2 * parent->cap_children : 4;
        fp_node **children = realloc(parent->children, cap * sizeof *children);
        if (!children)
            return fp_fail(err, "out of memory");
        parent->children = children;
        if (parent->kind == FP_MAP) {
            char **keys = realloc(parent->keys, cap * sizeof *keys);
            if (!keys)
                return fp_fail(err, "out of memory");
            parent->keys = keys;
        }
        parent->cap_children = cap;
    }
    if (parent->kind == FP_MAP) {
        char *copy = strdup(key ? key : "");
        if (!copy)
            return fp_fail(err, "out of memory");
        parent->keys[parent->n_children] = copy;
    }
    parent->children[parent->n_children++] = child;
    child->refs++;
    return 0;
}

void fp_node_release(fp_node *node)
{
    if (!node || --node->refs > 0)
        return;
    for (size_t i = 0; i < node->n_children; i++) {
        fp_node_release(node->children[i]);
        if (node->keys)
            free(node->keys[i]);
    }
    free(node->children);
    free(node->keys);
    free(node->type);
    free(node->data);
    free(node->origin);
    free(node->str);
    if (node->free_load_ctx)
        node->free_load_ctx(node->load_ctx);
    free(node);
}

fp_node *fp_map_get(const fp_node *map, const char *key)
{
    if (!map || map->kind != FP_MAP)
        return NULL;
    for (size_t i = 0; i < map->n_children; i++)
        if (!strcmp(map->keys[i], key))
            return map->children[i];
    return NULL;
}

size_t fp_array_bytes(const fp_node *arr)
{
    return (size_t)arr->n_elems * fp_dtype_size(arr->dtype);
}

int fp_array_read(const fp_node *arr, void *dst, fp_dtype as, fp_error *err)
{
    size_t bad;
    if (arr->data || arr->n_elems == 0) {
        if (fp_convert(dst, as, arr->data, arr->dtype, arr->n_elems, &bad) < 0)
            return fp_fail(err, "element %zu has a non-zero imaginary part", bad);
        return 0;
    }
    if (!arr->load)
        return fp_fail(err, "array has no data");
    if (as == arr->dtype)
        return arr->load(arr, dst, err);
    /* Load into dst when the target is at least as wide (convert in place),
     * else through a scratch buffer. */
    void *tmp = dst;
    if (fp_dtype_size(as) < fp_dtype_size(arr->dtype) && !(tmp = malloc(fp_array_bytes(arr))))
        return fp_fail(err, "out of memory for %zu bytes", fp_array_bytes(arr));
    int rc = arr->load(arr, tmp, err);
    if (rc == 0 && fp_convert(dst, as, tmp, arr->dtype, arr->n_elems, &bad) < 0)
        rc = fp_fail(err, "element %zu has a non-zero imaginary part", bad);
    if (tmp != dst)
        free(tmp);
    return rc;
}

int fp_array_materialize(fp_node *arr, fp_error *err)
{
    if (arr->data || arr->n_elems == 0)
        return 0;
    void *data = malloc(fp_array_bytes(arr) ? fp_array_bytes(arr) : 1);
    if (!data)
        return fp_fail(err, "out of memory for %zu bytes", fp_array_bytes(arr));
    if (fp_array_read(arr, data, arr->dtype, err) < 0) {
        free(data);
        return -1;
    }
    arr->data = data;
    return 0;
}

void fp_tree_free(fp_tree *tree)
{
    if (!tree)
        return;
    fp_node_release(tree->root);
    if (tree->close_state)
        tree->close_state(tree->state);
    free(tree->path);
    memset(tree, 0, sizeof *tree);
}
