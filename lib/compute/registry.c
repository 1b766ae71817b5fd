/*
 * The registry of layer kinds: every kind's description (the first half of
 * layers/<kind>.c, compiled here without `real`), in one table in the order
 * of layers/registry.h, and the sample shapes they all use.
 */
#include "compute_internal.h"

#include <stdio.h>
#include <string.h>

#include "compute/layer_files.h"

#define LAYER_KIND(name) &fp_layer_##name,
const layer_type *const fp_layer_types[] = {
#include "layers/registry.h"
};
#undef LAYER_KIND

const size_t fp_n_layer_types = sizeof fp_layer_types / sizeof *fp_layer_types;

const layer_type *fp_layer_type_named(const char *name, int *kind)
{
    for (size_t i = 0; i < fp_n_layer_types; i++) {
        const layer_type *t = fp_layer_types[i];
        int found = t->name && !strcmp(t->name, name);
        for (const char *const *alias = t->aliases; alias && *alias && !found; alias++)
            found = !strcmp(*alias, name);
        if (found) {
            *kind = (int)i;
            return t;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- shapes */

sample_shape shape_vector(uint64_t n)
{
    sample_shape s = { 1, { n } };
    return s;
}

uint64_t shape_elems(const sample_shape *shape)
{
    uint64_t n = 1;
    for (int i = 0; i < shape->rank; i++)
        n *= shape->dim[i];
    return n;
}

int shape_equal(const sample_shape *a, const sample_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

void shape_text(char *buf, size_t cap, const sample_shape *shape)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < shape->rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", i ? " x " : "",
                                (unsigned long long)shape->dim[i]);
    if (shape->rank == 0)
        snprintf(buf, cap, "scalars");
}
