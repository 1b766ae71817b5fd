/* The layer registry and the shapes that flow through it: every kind by each
 * of its names, X of rank 3 to 5 (a batch of samples of any shape) through
 * Flatten, the error that names the layer a sample does not fit, and reading
 * such an X (fp_batch_read, and the commands end to end). */
#include "test_compute.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A little-endian float64 .npy of the given shape (C order, or Fortran). */
static const char *write_npy(const char *name, int rank, const uint64_t *shape, const double *data,
                             int fortran)
{
    char dict[256], dims[128] = "";
    size_t len = 0, n = 1;
    for (int i = 0; i < rank; i++) {
        len += (size_t)snprintf(dims + len, sizeof dims - len, "%llu,%s",
                                (unsigned long long)shape[i], i + 1 < rank ? " " : "");
        n *= shape[i];
    }
    int dict_len = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': %s, 'shape': (%s), }",
                            fortran ? "True" : "False", dims);
    size_t header = 10 + (size_t)dict_len + 1, padded = (header + 63) / 64 * 64;
    size_t bytes = padded + n * sizeof(double);
    unsigned char *file = malloc(bytes);
    ck_assert_ptr_nonnull(file);
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    file[8] = (unsigned char)((padded - 10) & 0xff);
    file[9] = (unsigned char)((padded - 10) >> 8);
    memset(file + 10, ' ', padded - 10);
    memcpy(file + 10, dict, (size_t)dict_len);
    file[padded - 1] = '\n';
    memcpy(file + padded, data, n * sizeof(double));
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, file, bytes), 0);
    free(file);
    return path;
}

/* rows x (d1 x d2 ...) of X as an fp_matrix of that rank. */
static fp_matrix batch_of(int rank, const uint64_t *shape, double *data)
{
    fp_matrix m = { .rank = rank, .rows = shape[0], .cols = 1, .dtype = FP_F64, .data = data };
    for (int i = 0; i < rank; i++) {
        m.shape[i] = shape[i];
        m.cols *= i ? shape[i] : 1;
    }
    return m;
}

/* Every kind builds by each of its names, and an unknown one lists them all,
 * Flux's first, in the registry's order. */
START_TEST(every_kind_builds_by_each_of_its_names)
{
    static const char *const names[] = {
        "Dense", "Linear", "BatchNorm", "BatchNormalization", "BatchNorm1d", "LayerNorm",
        "LayerNormalization", "Dropout", "AlphaDropout", "InputLayer", "Flatten", "Activation",
    };
    static const char *const bn_keys[4] = { "weight", "bias", "running_mean", "running_var" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        fp_node *layer = !strcmp(names[i], "Dense") || !strcmp(names[i], "Linear")
                             ? t_dense(3, 3, NULL)
                         : strstr(names[i], "BatchNorm") ? t_batchnorm(3, NULL, bn_keys)
                         : strstr(names[i], "LayerNorm") ? t_layernorm(3, NULL)
                                                         : t_layer(names[i]);
        free(layer->type);   /* (the helpers' Dense, BatchNorm, LayerNorm: by this name) */
        layer->type = strdup(names[i]);
        fp_node *model = t_chain(layer, t_dense(3, 2, NULL), NULL);
        fp_layout layout;
        fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
        double xd[6] = { 1, 2, 3, 4, 5, 6 };
        fp_matrix x = { .rank = 2, .rows = 2, .cols = 3, .dtype = FP_F64, .data = xd }, y;
        fp_error err;
        ck_assert_msg(fp_predict(net, &x, &y, &err) == 0, "%s: %s", names[i], err.msg);
        ck_assert_uint_eq(y.rows, 2);
        ck_assert_uint_eq(y.cols, 2);
        free(y.data);
        fp_net_free(net);
        fp_layout_free(&layout);
        fp_node_release(model);
    }
    fp_node *model = t_chain(t_layer("Conv"), NULL);
    ck_assert_str_eq(t_build_error(model, 0),
                     "m.json: /layers/0: unknown layer type 'Conv' (supported: Chain, Dense, "
                     "BatchNorm, LayerNorm, Dropout, Flatten, Activation, Sequential, Linear, "
                     "BatchNormalization, BatchNorm1d, LayerNormalization, AlphaDropout, "
                     "InputLayer, Functional, Model)");
    fp_node_release(model);
}
END_TEST

/* X of rank 3 through Flatten is the same X flattened, to the last bit:
 * predictions, the gradient and the rows of the Hessian. */
START_TEST(a_rank3_x_through_flatten_is_the_flattened_x)
{
    t_seed(31);
    fp_node *model = t_chain(t_layer("Flatten"), t_dense(6, 4, "tanh"), t_dense(4, 2, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    uint64_t n = fp_net_n_params(net), shape3[3] = { 5, 2, 3 };
    fp_matrix flat = t_matrix(5, 6, -1, 1), y = t_matrix(5, 2, -1, 1);
    fp_matrix cube = batch_of(3, shape3, flat.data);
    fp_error err;
    fp_matrix out_flat, out_cube;
    ck_assert_msg(fp_predict(net, &flat, &out_flat, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_predict(net, &cube, &out_cube, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(out_cube.rank, 2);
    ck_assert(out_cube.rows == 5 && out_cube.cols == 2);
    ck_assert(!memcmp(out_flat.data, out_cube.data, 10 * sizeof(double)));
    double *g_flat = malloc(n * sizeof *g_flat), *g_cube = malloc(n * sizeof *g_cube);
    double *h_flat = malloc(n * n * sizeof *h_flat), *h_cube = malloc(n * n * sizeof *h_cube);
    ck_assert(fp_gradient(net, &flat, &y, FP_LOSS_MSE, g_flat, NULL, &err) == 0);
    ck_assert_msg(fp_gradient(net, &cube, &y, FP_LOSS_MSE, g_cube, NULL, &err) == 0, "%s", err.msg);
    ck_assert(!memcmp(g_flat, g_cube, n * sizeof *g_flat));
    ck_assert(fp_hessian_rows(net, &flat, &y, FP_LOSS_MSE, 0, n, h_flat, &err) == 0);
    ck_assert_msg(fp_hessian_rows(net, &cube, &y, FP_LOSS_MSE, 0, n, h_cube, &err) == 0, "%s",
                  err.msg);
    ck_assert(!memcmp(h_flat, h_cube, n * n * sizeof *h_flat));
    double norm = 0;
    for (uint64_t i = 0; i < n * n; i++)
        norm += fabs(h_cube[i]);
    ck_assert(norm > 0);
    free(g_flat), free(g_cube), free(h_flat), free(h_cube);
    free(out_flat.data), free(out_cube.data), free(flat.data), free(y.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

/* A sample that does not fit a layer: the layer's path and what it takes. */
START_TEST(a_sample_that_does_not_fit_names_the_layer)
{
    fp_node *model = t_chain(t_layer("Dropout"), t_dense(6, 2, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    double data[30] = { 0 };
    uint64_t shape[3] = { 5, 2, 3 };
    fp_matrix cube = batch_of(3, shape, data), out;
    fp_error err;
    ck_assert(fp_net_check_input(net, &cube, &err) < 0);
    ck_assert_str_eq(err.msg, "does not fit the model: /layers/1: Dense takes vectors of 6, not "
                              "samples of 2 x 3 (a Flatten before it makes vectors of them)");
    ck_assert(fp_predict(net, &cube, &out, &err) < 0);
    ck_assert_str_eq(err.msg, "X: does not fit the model: /layers/1: Dense takes vectors of 6, "
                              "not samples of 2 x 3 (a Flatten before it makes vectors of them)");
    uint64_t wrong[3] = { 5, 3, 3 };
    cube = batch_of(3, wrong, data);   /* 9 elements a sample, flattened */
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
    model = t_chain(t_layer("Flatten"), t_dense(6, 2, NULL), NULL);
    net = t_net(model, NULL, FP_F64, 0, &layout);
    ck_assert(fp_net_check_input(net, &cube, &err) < 0);
    ck_assert_str_eq(err.msg, "does not fit the model: /layers/1: Dense takes vectors of 6, not "
                              "samples of 9");
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

/* Elementwise layers keep a sample's shape: the output of an Activation of
 * X of rank 4 is of rank 4. */
START_TEST(activations_keep_the_sample_shape)
{
    fp_node *act = t_layer("Activation");
    t_act(act, "tanh");
    fp_node *model = t_chain(act, NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    double data[2 * 3 * 2 * 2];
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        data[i] = 0.1 * (double)i - 1;
    uint64_t shape[4] = { 2, 3, 2, 2 };
    fp_matrix x = batch_of(4, shape, data), out;
    fp_error err;
    ck_assert_msg(fp_predict(net, &x, &out, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(out.rank, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(out.shape[i], shape[i]);
    ck_assert(out.rows == 2 && out.cols == 12);
    for (size_t i = 0; i < 24; i++)
        ck_assert_double_eq_tol(((double *)out.data)[i], tanh(data[i]), 1e-15);
    free(out.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
}
END_TEST

/* fp_batch_read takes rank 5 (with its shape), and a Fortran-ordered array
 * back in C order; rank 6 is refused, and fp_matrix_read still takes only
 * vectors and matrices. */
START_TEST(batch_read_takes_ranks_up_to_5)
{
    double data[2 * 3 * 2 * 1 * 2], fortran[24];
    uint64_t shape[6] = { 2, 3, 2, 1, 2, 1 };
    for (size_t i = 0; i < 24; i++)
        data[i] = (double)i;
    /* the same array in column-major order: element (a, b, c, d, e) at a + 2 (b + 3 (c + 2 (d + e))) */
    for (uint64_t a = 0; a < 2; a++)
        for (uint64_t b = 0; b < 3; b++)
            for (uint64_t c = 0; c < 2; c++)
                for (uint64_t e = 0; e < 2; e++)
                    fortran[a + 2 * (b + 3 * (c + 2 * e))] = data[((a * 3 + b) * 2 + c) * 2 + e];
    fp_matrix m;
    fp_error err;
    const char *path = write_npy("five.npy", 5, shape, data, 0);
    ck_assert_msg(fp_batch_read(path, NULL, FP_DT_NONE, FP_F64, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.rank, 5);
    ck_assert(m.rows == 2 && m.cols == 12);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(m.shape[i], shape[i]);
    ck_assert(!memcmp(m.data, data, sizeof data));
    free(m.data);
    path = write_npy("five_f.npy", 5, shape, fortran, 1);
    ck_assert_msg(fp_batch_read(path, NULL, FP_DT_NONE, FP_F64, &m, &err) == 0, "%s", err.msg);
    ck_assert(!memcmp(m.data, data, sizeof data));
    free(m.data);
    ck_assert(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &m, &err) < 0);
    ck_assert_msg(strstr(err.msg, "expected a vector or a matrix, got a rank-5 array"), "%s", err.msg);
    path = write_npy("six.npy", 6, shape, data, 0);
    ck_assert(fp_batch_read(path, NULL, FP_DT_NONE, FP_F64, &m, &err) < 0);
    ck_assert_msg(strstr(err.msg, "six.npy: expected an array of rank 5 at most, got a rank-6 array"),
                  "%s", err.msg);
}
END_TEST

/* The commands read X of rank 3: predict through Flatten writes what it
 * writes for X flattened; a model whose output keeps rank 3 is refused by
 * predict in one line (its writers take vectors and matrices). */
START_TEST(commands_take_x_of_rank_3)
{
    double data[4 * 2 * 3];
    for (size_t i = 0; i < 24; i++)
        data[i] = sin((double)i);
    uint64_t cube[3] = { 4, 2, 3 }, flat[2] = { 4, 6 };
    const char *x3 = write_npy("x3.npy", 3, cube, data, 0);
    const char *x2 = write_npy("x2.npy", 2, flat, data, 0);
    const char *model = write_tmp("flat.json",
        "{\"type\": \"Chain\", \"layers\": [{\"type\": \"Flatten\"}, {\"type\": \"Dense\", "
        "\"weight\": [[1, 2, 3, 4, 5, 6], [0.5, 0, -1, 0, 1, 0]], \"bias\": [0.1, 0.2], "
        "\"activation\": \"tanh\"}]}");
    const char *act = write_tmp("act.json", "{\"type\": \"Activation\", \"activation\": \"relu\"}");
    const char *out3 = tmpfile_in("p3.npy"), *out2 = tmpfile_in("p2.npy");
    run_result r = run_fpv(NULL, "predict", model, "-x", x3, "-o", out3, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    r = run_fpv(NULL, "predict", model, "-x", x2, "-o", out2, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    assert_same_bytes(out3, out2);
    r = run_fpv(NULL, "predict", act, "-x", x3, NULL);
    assert_error_line(&r, "x3.npy: the model's output for X has rank 3; predict writes only a "
                          "vector or a matrix (end the model with a Flatten)");
    run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("registry_and_shapes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_kind_builds_by_each_of_its_names);
    tcase_add_test(tc, a_rank3_x_through_flatten_is_the_flattened_x);
    tcase_add_test(tc, a_sample_that_does_not_fit_names_the_layer);
    tcase_add_test(tc, activations_keep_the_sample_shape);
    tcase_add_test(tc, batch_read_takes_ranks_up_to_5);
    tcase_add_test(tc, commands_take_x_of_rank_3);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
