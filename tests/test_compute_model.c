/* The compute core's model handling: which trees make which nets, the nested
 * view of a flat vector, and every error message (file, model path, what is
 * supported). */
#include "test_compute.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_CONTAINS(text, needle) \
    ck_assert_msg(strstr((text), (needle)) != NULL, "'%s' lacks '%s'", (text), (needle))

START_TEST(chains_nest_and_may_be_maps_or_lists)
{
    t_seed(1);
    fp_error err;
    fp_node *d1 = t_dense(2, 3, "tanh"), *d2 = t_dense(3, 1, NULL);
    /* Flux's Chain(enc = ..., dec = ...): layers as a map */
    fp_node *named = t_layer("Chain"), *layers = fp_node_new(FP_MAP);
    t_put(layers, "enc", t_chain(d1, NULL));
    t_put(layers, "dec", d2);
    t_put(named, "layers", layers);
    fp_node *list = fp_node_new(FP_LIST);   /* a bare list of layers */
    t_put(list, NULL, d1);
    t_put(list, NULL, d2);
    fp_matrix x = t_matrix(4, 2, -1, 1), a, b;
    fp_layout la, lb;
    fp_net *na = t_net(named, NULL, FP_F64, 0, &la), *nb = t_net(list, NULL, FP_F64, 0, &lb);
    ck_assert_uint_eq(fp_net_in_features(na), 2);
    ck_assert_uint_eq(fp_net_out_features(na, 2), 1);
    ck_assert(fp_predict(na, &x, &a, &err) == 0);
    ck_assert(fp_predict(nb, &x, &b, &err) == 0);
    ck_assert_uint_eq(a.rows, 4);
    ck_assert_uint_eq(a.cols, 1);
    ck_assert_mem_eq(a.data, b.data, 4 * sizeof(double));
    free(a.data), free(b.data), free(x.data);
    fp_net_free(na), fp_net_free(nb);
    fp_layout_free(&la), fp_layout_free(&lb);
    fp_node_release(named);
    fp_node_release(list);
}
END_TEST

/* The tree the Keras readers make: Sequential's children are the layers by name,
 * beside scalar settings; kernels are in x out; BatchNormalization's moving
 * statistics and epsilon. */
START_TEST(keras_sequential_trees)
{
    t_seed(5);
    fp_error err;
    fp_node *root = t_layer("Sequential"), *input = t_layer("InputLayer");
    fp_node *dense = t_layer("Dense"), *bn = t_layer("BatchNormalization"), *out = t_layer("Dense");
    t_put(root, "name", fp_node_new_string("sequential"));
    t_put(dense, "kernel", t_array(3, 4, -1, 1));
    t_put(dense, "bias", t_array(4, 0, -1, 1));
    t_put(dense, "activation", fp_node_new_string("relu"));
    t_put(dense, "use_bias", fp_node_new_bool(1));
    t_put(bn, "gamma", t_array(4, 0, 0.5, 1.5));
    t_put(bn, "beta", t_array(4, 0, -1, 1));
    t_put(bn, "moving_mean", t_array(4, 0, -1, 1));
    t_put(bn, "moving_variance", t_array(4, 0, 0.5, 1.5));
    t_put(bn, "epsilon", fp_node_new_number(0.001));
    t_put(out, "kernel", t_array(4, 2, -1, 1));
    t_put(out, "bias", t_array(2, 0, -1, 1));
    t_put(out, "activation", fp_node_new_string("linear"));
    t_put(root, "input_1", input);
    t_put(root, "dense", dense);
    t_put(root, "batch_normalization", bn);
    t_put(root, "dense_1", out);
    fp_layout layout;
    fp_net *net = t_net(root, NULL, FP_F64, 0, &layout);
    ck_assert_uint_eq(fp_net_n_params(net), 12 + 4 + 8 + 10);   /* moving statistics left out */
    ck_assert_uint_eq(fp_net_in_features(net), 3);
    ck_assert_uint_eq(fp_net_out_features(net, 3), 2);
    /* one sample by hand: relu(x K + b), normalised, then x K + b */
    double xd[3] = { 0.3, -0.7, 1.1 }, h[4], want[2];
    const double *k1 = fp_map_get(dense, "kernel")->data, *b1 = fp_map_get(dense, "bias")->data;
    const double *g = fp_map_get(bn, "gamma")->data, *be = fp_map_get(bn, "beta")->data;
    const double *mu = fp_map_get(bn, "moving_mean")->data, *var = fp_map_get(bn, "moving_variance")->data;
    const double *k2 = fp_map_get(out, "kernel")->data, *b2 = fp_map_get(out, "bias")->data;
    for (int j = 0; j < 4; j++) {
        double z = b1[j];
        for (int i = 0; i < 3; i++)
            z += xd[i] * k1[i * 4 + j];
        z = z > 0 ? z : 0;
        h[j] = g[j] * (z - mu[j]) / sqrt(var[j] + 0.001) + be[j];
    }
    for (int j = 0; j < 2; j++) {
        want[j] = b2[j];
        for (int i = 0; i < 4; i++)
            want[j] += h[i] * k2[i * 2 + j];
    }
    fp_matrix x = { 1, 3, 1, FP_F64, xd }, y;
    ck_assert_msg(fp_predict(net, &x, &y, &err) == 0, "%s", err.msg);
    ck_assert_double_lt(t_rel_diff(y.data, want, 2), 1e-14);
    free(y.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(root);
}
END_TEST

START_TEST(vectors_are_one_sample_or_a_batch_of_scalars)
{
    t_seed(2);
    fp_error err;
    fp_node *wide = t_chain(t_dense(3, 2, NULL), NULL), *narrow = t_chain(t_dense(1, 2, NULL), NULL);
    fp_matrix v = t_matrix(3, 1, -1, 1), out;
    v.rank = 1;
    fp_layout lw, ln;
    fp_net *nw = t_net(wide, NULL, FP_F64, 0, &lw), *nn = t_net(narrow, NULL, FP_F64, 0, &ln);
    ck_assert(fp_predict(nw, &v, &out, &err) == 0);   /* one sample of 3 features */
    ck_assert_uint_eq(out.rows, 1);
    ck_assert_uint_eq(out.cols, 2);
    free(out.data);
    ck_assert(fp_predict(nn, &v, &out, &err) == 0);   /* three samples of 1 feature */
    ck_assert_uint_eq(out.rows, 3);
    free(out.data), free(v.data);
    fp_net_free(nw), fp_net_free(nn);
    fp_layout_free(&lw), fp_layout_free(&ln);
    fp_node_release(wide);
    fp_node_release(narrow);
}
END_TEST

START_TEST(a_model_of_identities_returns_its_input)
{
    fp_error err;
    fp_node *model = t_chain(t_layer("Dropout"), t_layer("Flatten"), NULL);
    fp_matrix x = t_matrix(3, 2, -1, 1), out;
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_DT_NONE, 0, &layout);
    ck_assert_uint_eq(fp_net_n_params(net), 0);
    ck_assert_uint_eq(fp_net_in_features(net), 0);
    ck_assert_int_eq(fp_net_precision(net), FP_F32);   /* an empty layout is float32 */
    ck_assert(fp_predict(net, &x, &out, &err) == 0);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)out.data)[i], (float)((double *)x.data)[i]);
    double value;
    ck_assert(fp_gradient(net, &x, NULL, FP_LOSS_SUMSQ, NULL, &value, &err) == 0);
    ck_assert_double_gt(value, 0);
    free(out.data), free(x.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

START_TEST(nested_tree_mirrors_the_model)
{
    t_seed(3);
    fp_error err;
    fp_node *d1 = t_dense(2, 2, "tanh"), *d2 = t_layer("Dense"), *bn = t_layer("BatchNorm");
    t_put(d2, "weight", fp_map_get(d1, "weight"));   /* shared */
    t_put(bn, "mean", t_array(2, 0, 0, 0.1));
    t_put(bn, "var", t_array(2, 0, 0.9, 1));
    fp_node *model = t_chain(d1, d2, bn, NULL);
    fp_layout layout;
    ck_assert(fp_layout_build(model, NULL, &layout, &err) == 0);
    ck_assert_uint_eq(layout.n_elems, 6);
    double flat[6] = { 1, 2, 3, 4, 5, 6 };
    fp_node *tree = fp_nested_tree(model, &layout, flat, FP_F64, FP_F32, &err);
    ck_assert_msg(tree != NULL, "%s", err.msg);
    ck_assert_int_eq(tree->kind, FP_MAP);
    ck_assert_int_eq(fp_map_get(tree, "type")->kind, FP_NULL);
    const fp_node *list = fp_map_get(tree, "layers");
    ck_assert_uint_eq(list->n_children, 3);
    const fp_node *w0 = fp_map_get(list->children[0], "weight");
    const fp_node *w1 = fp_map_get(list->children[1], "weight");
    ck_assert_ptr_eq(w0, w1);                        /* shared stays shared */
    ck_assert_int_eq(w0->refs, 2);
    ck_assert_int_eq(w0->dtype, FP_F32);
    ck_assert_int_eq(w0->rank, 2);
    ck_assert_float_eq(((float *)w0->data)[3], 4);
    ck_assert_float_eq(((float *)fp_map_get(list->children[0], "bias")->data)[1], 6);
    ck_assert_int_eq(fp_map_get(list->children[0], "activation")->kind, FP_NULL);
    ck_assert_int_eq(fp_map_get(list->children[2], "mean")->kind, FP_NULL);   /* not selected */
    fp_node_release(tree);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

START_TEST(loss_names)
{
    fp_loss loss;
    for (int i = 0; i < FP_LOSS_COUNT; i++) {
        ck_assert_int_eq(fp_loss_parse(fp_loss_name((fp_loss)i), &loss), 0);
        ck_assert_int_eq(loss, i);
        ck_assert_ptr_nonnull(strstr(fp_loss_names(), fp_loss_name((fp_loss)i)));
    }
    ck_assert_int_eq(fp_loss_parse("huber_loss", &loss), 0);
    ck_assert_int_eq(loss, FP_LOSS_HUBER);
    ck_assert_int_eq(fp_loss_parse("kldivergence", &loss), -1);
    ck_assert(!fp_loss_needs_target(FP_LOSS_SUMSQ));
    ck_assert(fp_loss_needs_target(FP_LOSS_MSE));
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(unknown_layers_and_activations_list_what_is_supported)
{
    fp_node *conv = t_chain(t_dense(2, 2, NULL), t_layer("Conv"), NULL);
    const char *msg = t_build_error(conv, 0);
    ASSERT_CONTAINS(msg, "m.json: /layers/1: unknown layer type 'Conv'");
    ASSERT_CONTAINS(msg, "supported: Chain, Dense, BatchNorm, LayerNorm, Dropout, Flatten, Activation");
    fp_node_release(conv);
    fp_node *bad_act = t_chain(t_dense(2, 2, "mish"), NULL);
    msg = t_build_error(bad_act, 0);
    ASSERT_CONTAINS(msg, "m.json: /layers/0/activation: unknown activation 'mish'");
    ASSERT_CONTAINS(msg, "identity, relu, leakyrelu, elu, selu, gelu, sigmoid, tanh, softplus, "
                         "swish, softmax, logsoftmax");
    fp_node_release(bad_act);
    fp_node *untyped = fp_node_new(FP_MAP);
    t_put(untyped, "weight", t_array(2, 2, 0, 1));
    msg = t_build_error(untyped, 0);
    ASSERT_CONTAINS(msg, "m.json: /: has no layer type");
    fp_node_release(untyped);
    fp_node *scalar = t_chain(fp_node_new_number(3), NULL);
    ASSERT_CONTAINS(t_build_error(scalar, 0), "/layers/0: expected a layer, found a number");
    fp_node_release(scalar);
}
END_TEST

/* A field one typo from a missing one it reads is refused, naming both; other
 * fields (Keras' units, dtype, ...) and distant names are ignored. */
START_TEST(typos_in_layer_fields_are_refused)
{
    static const struct { const char *key, *meant; } typos[] = {
        { "activaton", "activation" }, { "activtaion", "activation" }, { "activations", "activation" },
        { "wieght", "weight" }, { "kernal", "kernel" }, { "bais", "bias" },
    };
    for (size_t i = 0; i < sizeof typos / sizeof typos[0]; i++) {
        fp_node *d = t_layer("Dense");
        int is_weight = !strcmp(typos[i].meant, "weight") || !strcmp(typos[i].meant, "kernel");
        t_put(d, is_weight ? typos[i].key : "weight", t_array(3, 2, 0, 1));
        if (!is_weight)
            t_put(d, typos[i].key, fp_node_new_string("tanh"));
        char want[256];
        snprintf(want, sizeof want, "m.json: /: Dense has no field '%s' (did you mean '%s'?)",
                 typos[i].key, typos[i].meant);
        ASSERT_CONTAINS(t_build_error(d, 0), want);
        fp_node_release(d);
    }
    fp_node *bn = t_layer("BatchNorm");   /* reported before the missing statistics */
    t_put(bn, "gamma", t_array(3, 0, 0, 1));
    t_put(bn, "runing_mean", t_array(3, 0, 0, 1));
    ASSERT_CONTAINS(t_build_error(bn, 0), "BatchNorm has no field 'runing_mean' (did you mean "
                                          "'running_mean'?)");
    fp_node_release(bn);
    /* not typos: settings Keras keeps, a second spelling beside the field, short
     * and distant names */
    fp_node *fine = t_layer("Dense");
    t_put(fine, "kernel", t_array(2, 3, 0, 1));
    t_put(fine, "units", fp_node_new_number(3));
    t_put(fine, "use_bias", fp_node_new_bool(0));
    t_put(fine, "dtype", fp_node_new_string("float32"));
    t_put(fine, "weigth", fp_node_new_string("a note"));   /* kernel is there */
    t_put(fine, "act", fp_node_new_string("tanh"));
    t_put(fine, "activ", fp_node_new_string("tanh"));
    fp_layout layout;
    fp_net *net = t_net(fine, NULL, FP_F64, 0, &layout);
    ck_assert_ptr_nonnull(net);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(fine);
}
END_TEST

START_TEST(shapes_are_checked_layer_to_layer)
{
    fp_node *mismatch = t_chain(t_dense(2, 3, NULL), t_dense(4, 1, NULL), NULL);
    ASSERT_CONTAINS(t_build_error(mismatch, 0),
                    "m.json: /layers/1: takes 4 inputs (weight is 1 x 4), but the layers "
                    "before it give 3");
    fp_node_release(mismatch);
    fp_node *bias = t_layer("Dense");
    t_put(bias, "weight", t_array(3, 2, 0, 1));
    t_put(bias, "bias", t_array(2, 0, 0, 1));
    ASSERT_CONTAINS(t_build_error(bias, 0), "/bias: has 2 elements, expected 3");
    fp_node_release(bias);
    fp_node *vector_weight = t_layer("Dense");
    t_put(vector_weight, "weight", t_array(3, 0, 0, 1));
    ASSERT_CONTAINS(t_build_error(vector_weight, 0), "/weight: expected a matrix, found an array of rank 1");
    fp_node_release(vector_weight);
    fp_node *no_weight = t_layer("Dense");
    ASSERT_CONTAINS(t_build_error(no_weight, 0), "Dense has no weight");
    fp_node_release(no_weight);
    fp_node *ln = t_chain(t_dense(2, 3, NULL), t_layer("LayerNorm"), NULL);
    t_put(ln->children[1]->children[1], "gamma", t_array(4, 0, 0, 1));
    ASSERT_CONTAINS(t_build_error(ln, 0), "/layers/1: takes 4 inputs (normalises 4 features)");
    fp_node_release(ln);
}
END_TEST

START_TEST(batchnorm_needs_statistics_for_inference)
{
    fp_node *bn = t_layer("BatchNorm");
    t_put(bn, "gamma", t_array(3, 0, 0, 1));
    ASSERT_CONTAINS(t_build_error(bn, 0), "needs its running mean and var (or use --train-mode)");
    fp_layout layout;
    fp_net *net = t_net(bn, NULL, FP_F64, 1, &layout);   /* train mode does not */
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(bn);
}
END_TEST

START_TEST(complex_parameters_are_refused)
{
    fp_error err;
    uint64_t shape[2] = { 1, 2 };
    fp_node *dense = t_layer("Dense"), *w = fp_node_new_array(FP_C64, 2, shape, &err);
    w->data = calloc(2, 8);
    t_put(dense, "weight", w);
    ASSERT_CONTAINS(t_build_error(dense, 0), "/weight: complex parameters are not supported");
    fp_node_release(dense);
}
END_TEST

START_TEST(inputs_and_targets_are_checked)
{
    t_seed(4);
    fp_error err;
    fp_node *model = t_chain(t_dense(2, 3, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    fp_matrix x3 = t_matrix(4, 3, 0, 1), x = t_matrix(4, 2, 0, 1), y = t_matrix(4, 2, 0, 1);
    ck_assert(fp_net_check_input(net, &x3, &err) < 0);
    ASSERT_CONTAINS(err.msg, "has 3 features per row, the model takes 2 (/layers/0: weight is 3 x 2)");
    ck_assert(fp_gradient(net, &x3, NULL, FP_LOSS_SUMSQ, NULL, NULL, &err) < 0);
    ASSERT_CONTAINS(err.msg, "X: has 3 features");
    ck_assert(fp_net_check_target(net, &x, &y, FP_LOSS_MSE, &err) < 0);
    ASSERT_CONTAINS(err.msg, "has shape 4 x 2, the model's output for X is 4 x 3");
    ck_assert(fp_gradient(net, &x, &y, FP_LOSS_MSE, NULL, NULL, &err) < 0);
    ASSERT_CONTAINS(err.msg, "Y: has shape 4 x 2");
    ck_assert(fp_net_check_target(net, &x, NULL, FP_LOSS_MAE, &err) < 0);
    ASSERT_CONTAINS(err.msg, "the loss mae needs a target Y");
    ck_assert(fp_net_check_target(net, &x, &y, FP_LOSS_SUMSQ, &err) < 0);
    ASSERT_CONTAINS(err.msg, "the loss sumsq takes no target");
    /* labels: 0-based integers below the number of classes */
    double labels[4] = { 0, 2, 1, 3 };
    fp_matrix lab = { 1, 4, 1, FP_F64, labels };
    ck_assert(fp_net_check_target(net, &x, &lab, FP_LOSS_LOGITCROSSENTROPY, &err) < 0);
    ASSERT_CONTAINS(err.msg, "element 3 is 3, not a class label in 0..2 (labels are 0-based)");
    labels[3] = 1.5;
    ck_assert(fp_net_check_target(net, &x, &lab, FP_LOSS_CROSSENTROPY, &err) < 0);
    ASSERT_CONTAINS(err.msg, "element 3 is 1.5");
    labels[3] = 2;
    ck_assert_msg(fp_net_check_target(net, &x, &lab, FP_LOSS_CROSSENTROPY, &err) == 0, "%s", err.msg);
    ck_assert(fp_net_check_target(net, &x, &lab, FP_LOSS_MSE, &err) < 0);   /* labels only for CE */
    ASSERT_CONTAINS(err.msg, "has 4 elements");
    free(x3.data), free(x.data), free(y.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

/* cuda builds where a GPU is usable, else says why; auto always builds. */
START_TEST(cuda_needs_a_gpu)
{
    fp_error err;
    fp_node *model = t_chain(t_dense(2, 3, NULL), NULL);
    fp_layout layout;
    ck_assert(fp_layout_build(model, NULL, &layout, &err) == 0);
    fp_net_options opts = { .device = "cuda" };
    fp_net *net;
    if (fp_net_build(&net, model, &layout, &opts, &err) == 0)
        fp_net_free(net);
    else
        ck_assert_msg(strncmp(err.msg, "--device cuda: ", 15) == 0 && strlen(err.msg) > 20, "%s",
                      err.msg);
    opts.device = "auto";
    ck_assert(fp_net_build(&net, model, &layout, &opts, &err) == 0);
    fp_net_free(net);
    opts.device = "tpu";
    ck_assert(fp_net_build(&net, model, &layout, &opts, &err) < 0);
    ck_assert_str_eq(err.msg, "--device tpu: unknown device 'tpu' (cpu, cuda, auto)");
    opts.device = "cpu";
    ck_assert(fp_net_build(&net, model, &layout, &opts, &err) == 0);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

TCase *compute_structure_tcase(void)
{
    TCase *tc = tcase_create("structure");
    tcase_add_test(tc, chains_nest_and_may_be_maps_or_lists);
    tcase_add_test(tc, keras_sequential_trees);
    tcase_add_test(tc, vectors_are_one_sample_or_a_batch_of_scalars);
    tcase_add_test(tc, a_model_of_identities_returns_its_input);
    tcase_add_test(tc, nested_tree_mirrors_the_model);
    tcase_add_test(tc, loss_names);
    return tc;
}

TCase *compute_errors_tcase(void)
{
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, unknown_layers_and_activations_list_what_is_supported);
    tcase_add_test(tc, typos_in_layer_fields_are_refused);
    tcase_add_test(tc, shapes_are_checked_layer_to_layer);
    tcase_add_test(tc, batchnorm_needs_statistics_for_inference);
    tcase_add_test(tc, complex_parameters_are_refused);
    tcase_add_test(tc, inputs_and_targets_are_checked);
    tcase_add_test(tc, cuda_needs_a_gpu);
    return tc;
}
