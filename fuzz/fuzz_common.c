#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *fuzz_file(int slot, const uint8_t *data, size_t size)
{
    static int fds[2] = { -1, -1 };
    static char paths[2][64];
    if (fds[slot] < 0) {
        if ((fds[slot] = memfd_create("fuzz-input", 0)) < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    /* Readers open the path themselves, so the bytes must be in the file. */
    if (ftruncate(fds[slot], 0) < 0
        || (size && pwrite(fds[slot], data, size, 0) != (ssize_t)size)) {
        perror("memfd write");
        abort();
    }
    return paths[slot];
}

static int count_node(const fp_node *node, const char *path, int depth, int first_time,
                      int inherited_trainable, void *ctx)
{
    (void)path; (void)depth; (void)first_time; (void)inherited_trainable;
    /* Touch what the walk reports so a bad node pointer shows up here. */
    *(size_t *)ctx += node->kind == FP_ARRAY ? (size_t)node->n_elems : 1;
    return 0;
}

void fuzz_consume_tree(const fp_tree *tree)
{
    size_t visited = 0;
    fp_tree_walk(tree->root, count_node, &visited);
    fp_select all = { .all = 1 };
    fp_layout layout;
    fp_error err;
    if (fp_layout_build(tree->root, &all, &layout, &err) < 0)
        return;
    for (size_t i = 0; i < layout.n_params; i++) {
        const fp_node *arr = layout.params[i].node;
        size_t n = (size_t)arr->n_elems;
        if (arr->n_elems > SIZE_MAX / 16)
            continue;
        /* Lengths come from the file; only read what the input can carry
         * (a declared size the file cannot hold must have been refused). */
        double *as_f64 = malloc(n ? n * 16 : 1);
        void *own = malloc(fp_array_bytes(arr) ? fp_array_bytes(arr) : 1);
        if (as_f64 && own) {
            fp_array_read(arr, as_f64, fp_dtype_is_complex(arr->dtype) ? FP_C128 : FP_F64, &err);
            fp_array_read(arr, own, arr->dtype, &err);
        }
        free(as_f64);
        free(own);
    }
    fp_layout_free(&layout);
}

void fuzz_model(const fp_format *fmt, const uint8_t *data, size_t size)
{
    fp_tree tree = { .format = fmt };
    fp_error err;
    if (!(tree.path = strdup(fuzz_file(0, data, size))))
        return;
    if (fmt->read(&tree, &err) == 0)
        fuzz_consume_tree(&tree);
    fp_tree_free(&tree);
}
