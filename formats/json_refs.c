/* $ref sharing in JSON models: {"$ref": "/layers/0/weight"} is the same node as
 * the one at that path (doc/contract.md §3, shared arrays). The reader cannot look a path
 * up before the whole document is converted, so each $ref first becomes a
 * placeholder node; fp_json_refs_link then puts the target in its place. */
#include "json_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fp_json_ref {
    fp_node *parent;
    size_t index;          /* the placeholder is parent->children[index] */
    fp_node *placeholder;
    char *ref;             /* the path it names */
    char *site;            /* the path where it stands, for messages */
    fp_node *target;
    int state;             /* 0 unresolved, 1 resolving (cycle guard), 2 resolved */
};

/* Placeholders are FP_NULL nodes whose load_ctx holds their index + 1 (a null
 * setting never uses load_ctx, and release ignores it without free_load_ctx). */
static int placeholder_index(const fp_node *node, size_t *index)
{
    if (node->kind != FP_NULL || !node->load_ctx)
        return 0;
    *index = (size_t)(uintptr_t)node->load_ctx - 1;
    return 1;
}

fp_node *fp_json_refs_add(fp_json_refs *refs, const char *ref, const char *site)
{
    if (refs->n == refs->cap) {
        size_t cap = refs->cap ? 2 * refs->cap : 8;
        struct fp_json_ref *items = realloc(refs->items, cap * sizeof *items);
        if (!items)
            return NULL;
        refs->items = items;
        refs->cap = cap;
    }
    struct fp_json_ref *p = &refs->items[refs->n];
    *p = (struct fp_json_ref){ .ref = strdup(ref), .site = strdup(site) };
    if (!p->ref || !p->site || !(p->placeholder = fp_node_new(FP_NULL))) {
        free(p->ref);
        free(p->site);
        return NULL;
    }
    p->placeholder->load_ctx = (void *)(uintptr_t)++refs->n;
    return p->placeholder;
}

void fp_json_refs_placed(fp_json_refs *refs, fp_node *parent)
{
    size_t i;
    if (parent->n_children && placeholder_index(parent->children[parent->n_children - 1], &i)) {
        refs->items[i].parent = parent;
        refs->items[i].index = parent->n_children - 1;
    }
}

void fp_json_refs_free(fp_json_refs *refs)
{
    /* Placeholders belong to the tree until linked (then they are freed there). */
    for (size_t i = 0; i < refs->n; i++) {
        free(refs->items[i].ref);
        free(refs->items[i].site);
    }
    free(refs->items);
    memset(refs, 0, sizeof *refs);
}

/* ---- resolution */

static int fail_at_site(const fp_json_refs *refs, const struct fp_json_ref *p, fp_error *err,
                        const char *what)
{
    return fp_json_fail(err, refs->file, p->site, "$ref \"%s\" %s", p->ref, what);
}

static fp_node *child_named(const fp_node *node, const char *name)
{
    if (node->kind == FP_MAP)
        return fp_map_get(node, name);
    if (node->kind != FP_LIST || !*name || (name[0] == '0' && name[1])
        || strspn(name, "0123456789") != strlen(name))
        return NULL;
    errno = 0;
    unsigned long long index = strtoull(name, NULL, 10);
    return errno == 0 && index < node->n_children ? node->children[index] : NULL;
}

static int resolve(fp_json_refs *refs, fp_node *root, size_t i, int depth, fp_error *err);

/* Looks through a placeholder to the node it stands for. */
static int follow(fp_json_refs *refs, fp_node *root, fp_node **node, int depth, fp_error *err)
{
    size_t j;
    if (!placeholder_index(*node, &j))
        return 0;
    if (resolve(refs, root, j, depth + 1, err) < 0)
        return -1;
    *node = refs->items[j].target;
    return 0;
}

/* Paths are model paths ("/layers/0/weight"; "/" is the root), with RFC 6901's
 * ~0 and ~1 escapes for keys holding '~' or '/'. A $ref through other $refs
 * resolves transitively. */
static int resolve(fp_json_refs *refs, fp_node *root, size_t i, int depth, fp_error *err)
{
    struct fp_json_ref *p = &refs->items[i];
    if (p->state == 2)
        return 0;
    if (p->state == 1)
        return fail_at_site(refs, p, err, "forms a cycle");
    if (depth > FP_JSON_MAX_DEPTH)
        return fail_at_site(refs, p, err, "starts a chain of too many $refs");
    if (p->ref[0] != '/' && p->ref[0])
        return fail_at_site(refs, p, err, "is not a path (it must start with /)");
    p->state = 1;
    fp_node *node = root;
    char *name = malloc(strlen(p->ref) + 1);
    if (!name)
        return fp_fail(err, "%s: out of memory", refs->file);
    int rc = 0;
    for (const char *s = p->ref; rc == 0 && *s && strcmp(s, "/");) {
        size_t n = 0;
        for (s++; *s && *s != '/'; s++)
            name[n++] = s[0] == '~' && (s[1] == '0' || s[1] == '1') ? (*++s == '0' ? '~' : '/') : *s;
        name[n] = 0;
        rc = follow(refs, root, &node, depth, err);
        if (rc == 0 && !(node = child_named(node, name)))
            rc = fail_at_site(refs, p, err, "names no node of this file");
    }
    free(name);
    if (rc < 0 || follow(refs, root, &node, depth, err) < 0)
        return -1;
    p->target = node;
    p->state = 2;
    return 0;
}

/* ---- cycles */

/* Once the placeholders are replaced, a $ref that names a node containing it
 * would make the tree infinite. A depth-first walk that colours the shared
 * nodes (the only ones a cycle can re-enter) finds it, and bounds the depth
 * every later walk of this tree will reach. */
typedef struct graph_check {
    const fp_json_refs *refs;
    fp_error *err;
    fp_json_path path;
    const fp_node **shared;  /* sorted */
    unsigned char *color;    /* 0 unseen, 1 on the walk's stack, 2 done */
    size_t n_shared;
} graph_check;

static int compare_ptrs(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(const fp_node *const *)a, y = (uintptr_t)*(const fp_node *const *)b;
    return x < y ? -1 : x > y;
}

static unsigned char *color_of(graph_check *g, const fp_node *node)
{
    if (node->refs < 2)
        return NULL;
    const fp_node **hit = bsearch(&node, g->shared, g->n_shared, sizeof *g->shared, compare_ptrs);
    return hit ? &g->color[hit - g->shared] : NULL;
}

static int check_graph(graph_check *g, const fp_node *node, int depth)
{
    const char *file = g->refs->file;
    if (depth > FP_JSON_MAX_DEPTH)
        return fp_json_fail(g->err, file, fp_json_path_str(&g->path),
                            "nesting deeper than %d levels (through $ref)", FP_JSON_MAX_DEPTH);
    unsigned char *color = color_of(g, node);
    if (color && *color == 2)
        return 0;
    if (color)
        *color = 1;
    for (size_t i = 0; i < node->n_children; i++) {
        size_t saved = g->path.len;
        int rc = node->kind == FP_MAP ? fp_json_path_push(&g->path, node->keys[i], 0)
                                      : fp_json_path_push_index(&g->path, i);
        if (rc < 0)
            return fp_fail(g->err, "%s: out of memory", file);
        unsigned char *child_color = color_of(g, node->children[i]);
        if (child_color && *child_color == 1) {
            for (size_t k = 0; k < g->refs->n; k++)
                if (g->refs->items[k].parent == node && g->refs->items[k].index == i)
                    return fail_at_site(g->refs, &g->refs->items[k], g->err,
                                        "forms a cycle (it names a node that contains it)");
            return fp_json_fail(g->err, file, fp_json_path_str(&g->path),
                                "$ref forms a cycle (this node contains itself)");
        }
        if (check_graph(g, node->children[i], depth + 1) < 0)
            return -1;
        fp_json_path_pop(&g->path, saved);
    }
    if (color)
        *color = 2;
    return 0;
}

/* On a cycle the placeholders go back in place, so the tree is a tree again
 * and frees cleanly. */
int fp_json_refs_link(fp_json_refs *refs, fp_node *root, fp_error *err)
{
    for (size_t i = 0; i < refs->n; i++)
        if (resolve(refs, root, i, 0, err) < 0)
            return -1;
    graph_check g = { .refs = refs, .err = err, .shared = malloc(refs->n * sizeof *g.shared),
                      .color = calloc(refs->n, 1) };
    int rc = g.shared && g.color ? 0 : fp_fail(err, "%s: out of memory", refs->file);
    for (size_t i = 0; i < refs->n && rc == 0; i++) {
        struct fp_json_ref *p = &refs->items[i];
        p->parent->children[p->index] = p->target;
        p->target->refs++;
        g.shared[g.n_shared++] = p->target;
    }
    if (rc == 0) {
        qsort(g.shared, g.n_shared, sizeof *g.shared, compare_ptrs);
        size_t n_unique = 0;
        for (size_t i = 0; i < g.n_shared; i++)
            if (!n_unique || g.shared[i] != g.shared[n_unique - 1])
                g.shared[n_unique++] = g.shared[i];
        g.n_shared = n_unique;
        rc = check_graph(&g, root, 0);
    }
    for (size_t i = 0; i < refs->n && g.shared && g.color; i++) {
        struct fp_json_ref *p = &refs->items[i];
        if (rc == 0) {
            fp_node_release(p->placeholder);
        } else {
            p->parent->children[p->index] = p->placeholder;
            p->target->refs--;
        }
    }
    free(g.shared);
    free(g.color);
    free(g.path.buf);
    return rc;
}
