/* Helpers of the compute and Hessian suites: fixed-seed models and matrices
 * built in C, and the activation and loss cases both check. */
#include "test_compute.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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
        /* fmax drops a NaN: a NaN or infinity on either side is infinitely wrong */
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return INFINITY;
        worst = fmax(worst, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return worst == 0 ? 0 : worst / scale;
}

double t_fd_run(t_fd_error error, const fp_node *root, const fp_select *sel, int train,
                const fp_matrix *x, const fp_matrix *y, fp_loss loss)
{
    fp_layout layout;
    fp_net *net = t_net(root, sel, FP_F64, train, &layout);
    uint64_t n = fp_net_n_params(net);
    ck_assert_uint_gt(n, 0);
    double rel = error(net, n, x, y, loss);
    fp_net_free(net);
    fp_layout_free(&layout);
    return rel;
}

double t_fd_rel(const double *exact, const double *fd, uint64_t n, const char *what)
{
    double scale = 0;
    for (uint64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(exact[i]));
    ck_assert_msg(scale > 0, "%s is all zero: the test tests nothing", what);
    return t_rel_diff(exact, fd, n);
}

const char *const t_activations[] = {
    "identity", "relu", "leakyrelu", "elu", "selu", "gelu", "sigmoid", "tanh", "softplus",
    "swish", "softmax", "logsoftmax", "gelu_tanh",
};
const size_t t_n_activations = sizeof t_activations / sizeof t_activations[0];

const t_loss_case t_loss_cases[] = {
    { FP_LOSS_SUMSQ, NULL, T_Y_NONE },
    { FP_LOSS_MSE, NULL, T_Y_REAL },
    { FP_LOSS_SSE, NULL, T_Y_REAL },
    { FP_LOSS_MAE, NULL, T_Y_REAL },
    { FP_LOSS_HUBER, NULL, T_Y_REAL },
    { FP_LOSS_CROSSENTROPY, "softmax", T_Y_ONEHOT },
    { FP_LOSS_CROSSENTROPY, "softmax", T_Y_LABELS },
    { FP_LOSS_CROSSENTROPY, "sigmoid", T_Y_PROB },
    { FP_LOSS_LOGITCROSSENTROPY, NULL, T_Y_ONEHOT },
    { FP_LOSS_LOGITCROSSENTROPY, NULL, T_Y_LABELS },
    { FP_LOSS_BINARYCROSSENTROPY, "sigmoid", T_Y_PROB },
    { FP_LOSS_LOGITBINARYCROSSENTROPY, NULL, T_Y_PROB },
};
const size_t t_n_loss_cases = sizeof t_loss_cases / sizeof t_loss_cases[0];

fp_matrix t_target(t_target_kind kind, uint64_t rows, uint64_t classes)
{
    if (kind == T_Y_REAL)   /* wide enough for both sides of huber's δ = 1 */
        return t_matrix(rows, classes, -2.5, 2.5);
    if (kind == T_Y_PROB) {
        fp_matrix y = t_matrix(rows, classes, 0, 1);
        ((double *)y.data)[0] = 0;   /* xlogy's zero branches */
        ((double *)y.data)[1] = 1;
        return y;
    }
    fp_matrix y = t_matrix(rows, kind == T_Y_LABELS ? 1 : classes, 0, 0);
    y.rank = kind == T_Y_LABELS ? 1 : 2;
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t label = (r * 7 + 1) % classes;
        if (kind == T_Y_LABELS)
            ((double *)y.data)[r] = (double)label;
        else
            ((double *)y.data)[r * classes + label] = 1;
    }
    return y;
}

fp_node *t_batchnorm(uint64_t n, const char *act, const char *const keys[4])
{
    fp_node *bn = t_layer("BatchNorm");
    t_put(bn, keys[0], t_array(n, 0, 0.5, 1.5));
    t_put(bn, keys[1], t_array(n, 0, -0.3, 0.3));
    t_put(bn, keys[2], t_array(n, 0, -0.2, 0.2));
    t_put(bn, keys[3], t_array(n, 0, 0.5, 1.5));
    t_put(bn, "eps", fp_node_new_number(1e-5));
    t_act(bn, act);
    return bn;
}

fp_node *t_layernorm(uint64_t n, const char *act)
{
    fp_node *ln = t_layer("LayerNorm");
    t_put(ln, "weight", t_array(n, 0, 0.5, 1.5));
    t_put(ln, "bias", t_array(n, 0, -0.3, 0.3));
    t_act(ln, act);
    return ln;
}

void t_fd_activation(const char *act, const char *last_act, uint64_t seed, t_fd_check check)
{
    t_seed(seed);
    fp_matrix x = t_matrix(T_BATCH, 3, -2, 2), y = t_matrix(T_BATCH, 2, -1, 1);
    fp_node *in_dense = t_chain(t_dense(3, 4, act), t_dense(4, 2, NULL), NULL);
    check(in_dense, NULL, 0, &x, &y, FP_LOSS_MSE, act);
    fp_node *as_layer = t_layer("Activation");
    t_act(as_layer, act);
    fp_node *layered = t_chain(t_dense(3, 4, NULL), as_layer, t_dense(4, 2, last_act), NULL);
    check(layered, NULL, 0, &x, &y, FP_LOSS_MSE, act);
    fp_node_release(in_dense);
    fp_node_release(layered);
    free(x.data);
    free(y.data);
}

void t_fd_loss_case(int i, uint64_t seed, t_fd_check check)
{
    const t_loss_case *c = &t_loss_cases[i];
    t_seed(seed);
    fp_matrix x = t_matrix(T_BATCH, 3, -2, 2);
    fp_matrix y = c->target == T_Y_NONE ? (fp_matrix){ 0 } : t_target(c->target, T_BATCH, 4);
    fp_node *model = t_chain(t_dense(3, 5, "tanh"), t_dense(5, 4, c->final), NULL);
    char what[96];
    snprintf(what, sizeof what, "%s (case %d)", fp_loss_name(c->loss), i);
    check(model, NULL, 0, &x, y.data ? &y : NULL, c->loss, what);
    fp_node_release(model);
    free(x.data);
    free(y.data);
}

void t_fd_norm_cases(uint64_t seed, t_fd_check check)
{
    static const char *const keys[4] = { "gamma", "beta", "mean", "var" };
    t_seed(seed);
    fp_matrix x = t_matrix(T_BATCH, 3, -2, 2), y = t_matrix(T_BATCH, 2, -1, 1);
    fp_node *model = t_chain(t_dense(3, 4, NULL), t_batchnorm(4, "tanh", keys),
                             t_dense(4, 2, NULL), NULL);
    fp_select all = { .all = 1 };
    check(model, NULL, 0, &x, &y, FP_LOSS_MSE, "BatchNorm inference");
    check(model, &all, 0, &x, &y, FP_LOSS_MSE, "BatchNorm with mean and var (--all)");
    check(model, NULL, 1, &x, &y, FP_LOSS_MSE, "BatchNorm --train-mode");
    const char *exclude[] = { "/layers/0" };   /* first layer constant: no input tangent */
    fp_select part = { .exclude = exclude, .n_exclude = 1 };
    check(model, &part, 1, &x, &y, FP_LOSS_MSE, "BatchNorm --train-mode, Dense constant");
    fp_node *with_ln = t_chain(t_dense(3, 5, NULL), t_layernorm(5, "gelu"),
                               t_dense(5, 2, "sigmoid"), NULL);
    check(with_ln, NULL, 0, &x, &y, FP_LOSS_MSE, "LayerNorm");
    fp_node *plain = t_chain(t_dense(3, 5, "softplus"), t_layer("LayerNorm"), t_dense(5, 2, NULL),
                             NULL);
    check(plain, NULL, 0, &x, &y, FP_LOSS_MSE, "LayerNorm without scale and shift");
    fp_node_release(model);
    fp_node_release(with_ln);
    fp_node_release(plain);
    free(x.data);
    free(y.data);
}

void t_fd_structure_cases(uint64_t seed, t_fd_check check)
{
    t_seed(seed);
    fp_matrix x = t_matrix(T_BATCH, 4, -2, 2);
    fp_node *first = t_dense(4, 4, "tanh"), *second = t_layer("Dense");
    t_put(second, "weight", fp_map_get(first, "weight"));   /* one array used twice */
    t_put(second, "bias", t_array(4, 0, -0.3, 0.3));
    t_act(second, "tanh");
    fp_node *shared = t_chain(first, second, t_dense(4, 2, NULL), NULL);
    check(shared, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "shared weight");
    fp_node *keras = t_layer("Dense");
    t_put(keras, "kernel", t_array(4, 3, -1, 1));
    t_put(keras, "bias", t_array(3, 0, -0.3, 0.3));
    t_act(keras, "swish");
    fp_node *padded = t_chain(t_layer("Dropout"), t_dense(4, 4, "elu"), t_layer("Flatten"), keras,
                              t_layer("Dropout"), t_dense(3, 2, NULL), t_layer("Activation"), NULL);
    check(padded, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "Keras kernel, Dropout, Flatten");
    const char *exclude[] = { "/layers/1", "/layers/5/bias" };
    fp_select part = { .exclude = exclude, .n_exclude = 2 };
    check(padded, &part, 0, &x, NULL, FP_LOSS_SUMSQ, "with constants");
    fp_node_release(shared);
    fp_node_release(padded);
    free(x.data);
}
