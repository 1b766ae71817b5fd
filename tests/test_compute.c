/* The compute core: every layer, activation and loss against central finite
 * differences in float64 (relative error below 1e-6), the flat vector's
 * bookkeeping (selection, sharing, precision), and the error messages.
 * PyTorch fixtures are in test_compute_fixtures.c, the commands in
 * test_compute_cli.c. */
#include "test_compute.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { BATCH = T_BATCH };

/* max |gradient - central difference| / max |gradient| over the flat vector. */
static double fd_error(fp_net *net, uint64_t n, const fp_matrix *x, const fp_matrix *y,
                       fp_loss loss)
{
    fp_error err;
    double *grad = malloc(n * sizeof *grad), *fd = malloc(n * sizeof *fd), value;
    ck_assert_msg(fp_gradient(net, x, y, loss, grad, &value, &err) == 0, "%s", err.msg);
    ck_assert(isfinite(value));
    double *params = fp_net_params(net);
    for (uint64_t i = 0; i < n; i++) {
        double saved = params[i], h = 1e-5 * fmax(1, fabs(saved)), plus, minus;
        params[i] = saved + h;
        ck_assert_msg(fp_loss_value(net, x, y, loss, &plus, &err) == 0, "%s", err.msg);
        params[i] = saved - h;
        ck_assert_msg(fp_loss_value(net, x, y, loss, &minus, &err) == 0, "%s", err.msg);
        params[i] = saved;
        fd[i] = (plus - minus) / (2 * h);
    }
    /* the gradient buffer is the same numbers as the copy */
    ck_assert_mem_eq(fp_net_grads(net), grad, n * sizeof *grad);
    double rel = t_fd_rel(grad, fd, n, "the gradient");
    free(grad);
    free(fd);
    return rel;
}

static void assert_fd(const fp_node *root, const fp_select *sel, int train, const fp_matrix *x,
                      const fp_matrix *y, fp_loss loss, const char *what)
{
    double rel = t_fd_run(fd_error, root, sel, train, x, y, loss);
    ck_assert_msg(rel < 1e-6, "%s: relative error %.3g against finite differences", what, rel);
}

/* ---------------------------------------------------------------- activations */

START_TEST(activation_matches_finite_differences)
{
    t_fd_activation(t_activations[_i], NULL, 100 + (uint64_t)_i, assert_fd);
}
END_TEST

/* ---------------------------------------------------------------- losses */

START_TEST(loss_matches_finite_differences)
{
    t_fd_loss_case(_i, 200 + (uint64_t)_i, assert_fd);
}
END_TEST

/* Flux's numbers for a case small enough to check by hand. */
START_TEST(loss_values_follow_flux)
{
    fp_error err;
    fp_node *id = t_layer("Activation");
    fp_layout layout;
    fp_net *net = t_net(id, NULL, FP_F64, 0, &layout);
    double xd[] = { 1.1, 1.9, 3.1 }, yd[] = { 1, 2, 3 }, value;
    fp_matrix x = { 2, 3, 1, FP_F64, xd }, y = { 2, 3, 1, FP_F64, yd };
    ck_assert(fp_loss_value(net, &x, &y, FP_LOSS_MSE, &value, &err) == 0);
    ck_assert_double_eq_tol(value, 0.010000000000000018, 1e-15);   /* Flux.mse docstring */
    ck_assert(fp_loss_value(net, &x, &y, FP_LOSS_MAE, &value, &err) == 0);
    ck_assert_double_eq_tol(value, 0.10000000000000009, 1e-15);    /* Flux.mae docstring */
    double logits[] = { 2, -1, M_PI }, bin[] = { 1, 0, 1 };
    fp_matrix xl = { 2, 3, 1, FP_F64, logits }, yb = { 2, 3, 1, FP_F64, bin };
    ck_assert(fp_loss_value(net, &xl, &yb, FP_LOSS_LOGITBINARYCROSSENTROPY, &value, &err) == 0);
    ck_assert_double_eq_tol(value, 0.160832, 1e-6);                /* its docstring */
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(id);
}
END_TEST

/* ---------------------------------------------------------------- layers */

START_TEST(batchnorm_matches_finite_differences)
{
    static const char *const flux[4] = { "gamma", "beta", "mean", "var" };
    static const char *const greek[4] = { "γ", "β", "μ", "σ²" };
    t_seed(300);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2);
    for (int g = 0; g < 2; g++) {
        fp_node *model = t_chain(t_dense(3, 4, NULL), t_batchnorm(4, "relu", g ? greek : flux),
                                 t_dense(4, 2, NULL), NULL);
        fp_select all = { .all = 1 };
        fp_layout layout;
        fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
        ck_assert_uint_eq(fp_net_n_params(net), 16 + 8 + 10);   /* statistics left out */
        fp_net_free(net);
        fp_layout_free(&layout);
        assert_fd(model, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "BatchNorm inference");
        assert_fd(model, &all, 0, &x, NULL, FP_LOSS_SUMSQ, "BatchNorm, gradient of mean and var");
        assert_fd(model, NULL, 1, &x, NULL, FP_LOSS_SUMSQ, "BatchNorm --train-mode");
        fp_node_release(model);
    }
    free(x.data);
}
END_TEST

START_TEST(layernorm_matches_finite_differences)
{
    t_seed(400);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2), y = t_matrix(BATCH, 2, -1, 1);
    fp_node *ln = t_layernorm(5, "gelu");
    fp_node *model = t_chain(t_dense(3, 5, NULL), ln, t_dense(5, 2, NULL), NULL);
    assert_fd(model, NULL, 0, &x, &y, FP_LOSS_MSE, "LayerNorm");
    fp_node *bare = t_layer("LayerNorm");   /* no affine parameters: keeps any width */
    fp_node *plain = t_chain(t_dense(3, 5, NULL), bare, t_dense(5, 2, NULL), NULL);
    assert_fd(plain, NULL, 0, &x, &y, FP_LOSS_MSE, "LayerNorm without scale and shift");
    fp_node_release(model);
    fp_node_release(plain);
    free(x.data);
    free(y.data);
}
END_TEST

/* Runs predict and the sumsq gradient of a model; caller frees both. */
static void outputs_and_grads(const fp_node *model, const fp_select *sel, const fp_matrix *x,
                              fp_matrix *out, double **grad, uint64_t *n)
{
    fp_error err;
    fp_layout layout;
    fp_net *net = t_net(model, sel, FP_F64, 0, &layout);
    ck_assert_msg(fp_predict(net, x, out, &err) == 0, "%s", err.msg);
    *n = fp_net_n_params(net);
    *grad = malloc(*n * sizeof **grad + 1);
    ck_assert_msg(fp_gradient(net, x, NULL, FP_LOSS_SUMSQ, *grad, NULL, &err) == 0, "%s", err.msg);
    fp_net_free(net);
    fp_layout_free(&layout);
}

START_TEST(dropout_flatten_are_identities)
{
    t_seed(500);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2), out_a, out_b;
    fp_node *d1 = t_dense(3, 4, "tanh"), *d2 = t_dense(4, 2, NULL);
    fp_node *plain = t_chain(d1, d2, NULL);
    fp_node *padded = t_chain(t_layer("Dropout"), d1, t_layer("Flatten"), t_layer("Dropout"), d2,
                              t_layer("Activation"), NULL);
    double *ga, *gb;
    uint64_t na, nb;
    outputs_and_grads(plain, NULL, &x, &out_a, &ga, &na);
    outputs_and_grads(padded, NULL, &x, &out_b, &gb, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(out_a.data, out_b.data, BATCH * 2 * sizeof(double));
    ck_assert_mem_eq(ga, gb, na * sizeof(double));
    assert_fd(padded, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "Dropout/Flatten");
    free(out_a.data), free(out_b.data), free(ga), free(gb), free(x.data);
    fp_node_release(plain);
    fp_node_release(padded);
}
END_TEST

START_TEST(keras_kernel_is_the_transposed_weight)
{
    t_seed(600);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2), out_w, out_k;
    fp_node *dense = t_dense(3, 4, "relu"), *keras = t_layer("Dense");
    const fp_node *w = fp_map_get(dense, "weight");
    fp_node *kernel = t_array(3, 4, 0, 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ((double *)kernel->data)[j * 4 + i] = ((double *)w->data)[i * 3 + j];
    t_put(keras, "kernel", kernel);
    t_put(keras, "bias", fp_map_get(dense, "bias"));
    t_act(keras, "relu");
    double *gw, *gk;
    uint64_t nw, nk;
    outputs_and_grads(dense, NULL, &x, &out_w, &gw, &nw);
    outputs_and_grads(keras, NULL, &x, &out_k, &gk, &nk);
    ck_assert_double_lt(t_rel_diff(out_k.data, out_w.data, BATCH * 4), 1e-15);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq_tol(gk[j * 4 + i], gw[i * 3 + j], 1e-12);
    ck_assert_double_lt(t_rel_diff(gk + 12, gw + 12, 4), 1e-15);
    assert_fd(keras, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "Dense with a Keras kernel");
    free(out_w.data), free(out_k.data), free(gw), free(gk), free(x.data);
    fp_node_release(dense);
    fp_node_release(keras);
}
END_TEST

START_TEST(shared_parameters_get_the_sum_of_their_uses)
{
    t_seed(700);
    fp_matrix x = t_matrix(BATCH, 4, -2, 2), out_s, out_c;
    fp_node *first = t_dense(4, 4, "tanh"), *second = t_layer("Dense");
    fp_node *w = fp_map_get(first, "weight");
    t_put(second, "weight", w);                 /* the same array, twice */
    t_put(second, "bias", t_array(4, 0, -0.3, 0.3));
    t_act(second, "tanh");
    fp_node *last = t_dense(4, 2, NULL);
    fp_node *shared = t_chain(first, second, last, NULL);
    assert_fd(shared, NULL, 0, &x, NULL, FP_LOSS_SUMSQ, "shared weight");
    /* the same model with the weight copied: its two slices add up to the shared one */
    fp_node *copy_w = t_array(4, 4, 0, 0), *second_copy = t_layer("Dense");
    memcpy(copy_w->data, w->data, 16 * sizeof(double));
    t_put(second_copy, "weight", copy_w);
    t_put(second_copy, "bias", fp_map_get(second, "bias"));
    t_act(second_copy, "tanh");
    fp_node *copied = t_chain(first, second_copy, last, NULL);
    double *gs, *gc;
    uint64_t ns, nc;
    outputs_and_grads(shared, NULL, &x, &out_s, &gs, &ns);
    outputs_and_grads(copied, NULL, &x, &out_c, &gc, &nc);
    ck_assert_uint_eq(ns, 16 + 4 + 4 + 10);
    ck_assert_uint_eq(nc, ns + 16);
    for (int i = 0; i < 16; i++)   /* copied order: w1, b1, w2, b2, ... */
        ck_assert_double_eq_tol(gs[i], gc[i] + gc[20 + i], 1e-14);
    free(out_s.data), free(out_c.data), free(gs), free(gc), free(x.data);
    fp_node_release(shared);
    fp_node_release(copied);
}
END_TEST

START_TEST(unselected_parameters_are_constants)
{
    t_seed(800);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2), out_all, out_part;
    fp_node *model = t_chain(t_dense(3, 4, "swish"), t_dense(4, 4, "elu"), t_dense(4, 2, NULL), NULL);
    const char *exclude[] = { "/layers/0", "/layers/2/bias" };
    fp_select part = { .exclude = exclude, .n_exclude = 2 };
    double *g_all, *g_part;
    uint64_t n_all, n_part;
    outputs_and_grads(model, NULL, &x, &out_all, &g_all, &n_all);
    outputs_and_grads(model, &part, &x, &out_part, &g_part, &n_part);
    ck_assert_uint_eq(n_all, 16 + 20 + 10);
    ck_assert_uint_eq(n_part, 20 + 8);
    ck_assert_mem_eq(out_all.data, out_part.data, BATCH * 2 * sizeof(double));
    ck_assert_double_lt(t_rel_diff(g_part, g_all + 16, 28), 1e-15);
    assert_fd(model, &part, 0, &x, NULL, FP_LOSS_SUMSQ, "with excluded layers");
    free(out_all.data), free(out_part.data), free(g_all), free(g_part), free(x.data);
    fp_node_release(model);
}
END_TEST

START_TEST(float32_agrees_with_float64)
{
    t_seed(900);
    fp_error err;
    fp_matrix x = t_matrix(32, 5, -2, 2);
    fp_node *model = t_chain(t_dense(5, 16, "gelu"), t_dense(16, 8, "softplus"),
                             t_dense(8, 3, "logsoftmax"), NULL);
    fp_layout l64, l32;
    fp_net *n64 = t_net(model, NULL, FP_DT_NONE, 0, &l64);   /* the layout is f64 */
    fp_net *n32 = t_net(model, NULL, FP_F32, 0, &l32);
    ck_assert_int_eq(fp_net_precision(n64), FP_F64);
    ck_assert_int_eq(fp_net_precision(n32), FP_F32);
    uint64_t n = fp_net_n_params(n64);
    double *g64 = malloc(n * sizeof *g64), *g32 = malloc(n * sizeof *g32);
    float *g32f = malloc(n * sizeof *g32f);
    ck_assert(fp_gradient(n64, &x, NULL, FP_LOSS_SUMSQ, g64, NULL, &err) == 0);
    ck_assert(fp_gradient(n32, &x, NULL, FP_LOSS_SUMSQ, g32f, NULL, &err) == 0);
    for (uint64_t i = 0; i < n; i++)
        g32[i] = g32f[i];
    ck_assert_double_lt(t_rel_diff(g32, g64, n), 1e-5);
    fp_matrix out;
    ck_assert(fp_predict(n32, &x, &out, &err) == 0);
    ck_assert_int_eq(out.dtype, FP_F32);
    free(out.data), free(g64), free(g32), free(g32f), free(x.data);
    fp_net_free(n64), fp_net_free(n32);
    fp_layout_free(&l64), fp_layout_free(&l32);
    fp_node_release(model);
}
END_TEST

TCase *compute_errors_tcase(void);
TCase *compute_structure_tcase(void);

int main(void)
{
    Suite *s = suite_create("compute");
    TCase *fd = tcase_create("finite_differences");
    tcase_set_timeout(fd, 120);
    tcase_add_loop_test(fd, activation_matches_finite_differences, 0, (int)t_n_activations);
    tcase_add_loop_test(fd, loss_matches_finite_differences, 0, (int)t_n_loss_cases);
    tcase_add_test(fd, loss_values_follow_flux);
    tcase_add_test(fd, batchnorm_matches_finite_differences);
    tcase_add_test(fd, layernorm_matches_finite_differences);
    tcase_add_test(fd, dropout_flatten_are_identities);
    tcase_add_test(fd, keras_kernel_is_the_transposed_weight);
    tcase_add_test(fd, shared_parameters_get_the_sum_of_their_uses);
    tcase_add_test(fd, unselected_parameters_are_constants);
    tcase_add_test(fd, float32_agrees_with_float64);
    suite_add_tcase(s, fd);
    suite_add_tcase(s, compute_structure_tcase());
    suite_add_tcase(s, compute_errors_tcase());
    suite_add_tcase(s, compute_fixtures_tcase());
    suite_add_tcase(s, compute_cli_tcase());
    return run_suite(s);
}
