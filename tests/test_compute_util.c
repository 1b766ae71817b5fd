/* Helpers of the compute suite: fixed-seed models and matrices built in C. */
#include "test_compute.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

void t_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

double t_uniform(double low, double high)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return low + (high - low) * (double)(rng_state >> 11) / 9007199254740992.0;
}

fp_node *t_array(uint64_t d0, uint64_t d1, double low, double high)
{
    fp_error err;
    uint64_t shape[2] = { d0, d1 };
    fp_node *arr = fp_node_new_array(FP_F64, d1 ? 2 : 1, shape, &err);
    ck_assert_msg(arr != NULL, "%s", err.msg);
    double *data = malloc(fp_array_bytes(arr) + 1);
    ck_assert_ptr_nonnull(data);
    for (uint64_t i = 0; i < arr->n_elems; i++)
        data[i] = t_uniform(low, high);
    arr->data = data;
    return arr;
}

void t_put(fp_node *map, const char *key, fp_node *child)
{
    fp_error err;
    ck_assert_ptr_nonnull(child);
    ck_assert_msg(fp_node_append(map, key, child, &err) == 0, "%s", err.msg);
}

fp_node *t_layer(const char *type)
{
    fp_node *map = fp_node_new(FP_MAP);
    ck_assert_ptr_nonnull(map);
    map->type = strdup(type);
    t_put(map, "type", fp_node_new_string(type));
    return map;
}

void t_act(fp_node *map, const char *act)
{
    if (act)
        t_put(map, "activation", fp_node_new_string(act));
}

fp_node *t_dense(uint64_t in, uint64_t out, const char *act)
{
    fp_node *dense = t_layer("Dense");
    t_put(dense, "weight", t_array(out, in, -0.8, 0.8));
    t_put(dense, "bias", t_array(out, 0, -0.3, 0.3));
    t_act(dense, act);
    return dense;
}

fp_node *t_chain(fp_node *first, ...)
{
    fp_node *chain = t_layer("Chain"), *layers = fp_node_new(FP_LIST);
    va_list ap;
    va_start(ap, first);
    for (fp_node *l = first; l; l = va_arg(ap, fp_node *))
        t_put(layers, NULL, l);
    va_end(ap);
    t_put(chain, "layers", layers);
    return chain;
}

fp_matrix t_matrix(uint64_t rows, uint64_t cols, double low, double high)
{
    fp_matrix m = { .rank = 2, .rows = rows, .cols = cols, .dtype = FP_F64 };
    double *data = malloc(rows * cols * sizeof *data + 1);
    ck_assert_ptr_nonnull(data);
    for (uint64_t i = 0; i < rows * cols; i++)
        data[i] = t_uniform(low, high);
    m.data = data;
    return m;
}

fp_net *t_net(const fp_node *root, const fp_select *sel, fp_dtype precision, int train,
              fp_layout *layout)
{
    fp_error err;
    ck_assert_msg(fp_layout_build(root, sel, layout, &err) == 0, "%s", err.msg);
    fp_net_options opts = { .precision = precision, .train_mode = train };
    fp_net *net;
    ck_assert_msg(fp_net_build(&net, root, layout, &opts, &err) == 0, "%s", err.msg);
    return net;
}

const char *t_build_error(const fp_node *root, int train)
{
    static fp_error err;
    fp_layout layout;
    ck_assert_msg(fp_layout_build(root, NULL, &layout, &err) == 0, "%s", err.msg);
    fp_net_options opts = { .train_mode = train, .source = "m.json" };
    fp_net *net = NULL;
    err.msg[0] = 0;
    ck_assert_msg(fp_net_build(&net, root, &layout, &opts, &err) < 0, "built unexpectedly");
    ck_assert_ptr_null(net);
    fp_layout_free(&layout);
    return err.msg;
}

double t_rel_diff(const double *a, const double *b, uint64_t n)
{
    double worst = 0, scale = 0;
    for (uint64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return worst == 0 ? 0 : worst / scale;
}
