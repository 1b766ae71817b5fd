/* predict and gradient end to end, through the built executable: outputs,
 * the flat and nested gradients of the seed model, and the error contract. */
#include "test_compute.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void assert_ok(const run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
}

/* Reads a nested gradient back and flattens it: the arrays in flat order. */
static void flatten_nested(const char *path, float *values, uint64_t n)
{
    fp_error err;
    fp_tree tree;
    ck_assert_msg(fp_tree_open(path, &tree, &err) == 0, "%s", err.msg);
    fp_layout layout;
    ck_assert_msg(fp_layout_build(tree.root, NULL, &layout, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(layout.n_elems, n);
    for (size_t i = 0; i < layout.n_params; i++) {
        ck_assert_int_eq(layout.params[i].node->dtype, FP_F32);
        ck_assert(fp_array_read(layout.params[i].node, values + layout.params[i].offset, FP_F32,
                                &err) == 0);
    }
    const fp_node *first = fp_map_get(tree.root, "layers")->children[0];
    const fp_node *act = fp_map_get(first, "activation");
    ck_assert_msg(!act || act->kind == FP_NULL, "%s: activation is not null", path);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}

/* Chain(Dense(2=>1, tanh), Dense(1=>1)) and sum(abs2, m(x)): the flat gradient
 * and the nested one hold the same numbers, and they are PyTorch's. */
START_TEST(seed_flat_and_nested_gradients_agree)
{
    const char *x = write_tmp("x.txt", "1 2\n0.5 -1\n");
    run_result flat = run_fpv(NULL, "gradient", testdata("seed.json"), "-x", x, NULL);
    assert_ok(&flat);
    double *values;
    ck_assert_uint_eq(parse_numbers(flat.out, &values), 5);
    /* torch.autograd.grad in float32 on the same model and X */
    const double torch[5] = { -0.958919, 2.0217125, -1.9438065, -4.728457, -1.0650876 };
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq_tol(values[i], torch[i], 2e-6 * fabs(torch[i]));
    const char *outputs[] = { tmpfile_in("g.json"), tmpfile_in("g.h5") };
    for (int k = 0; k < 2; k++) {
        run_result r = run_fpv(NULL, "gradient", testdata("seed.json"), "-x", x, "--nested", "-o",
                               outputs[k], NULL);
        assert_ok(&r);
        float nested[5];
        flatten_nested(outputs[k], nested, 5);
        for (int i = 0; i < 5; i++)   /* the same float32, bit for bit */
            ck_assert_msg(nested[i] == (float)values[i], "%s: element %d: %.9g vs %.9g",
                          outputs[k], i, nested[i], values[i]);
        run_free(&r);
    }
    free(values);
    run_free(&flat);
}
END_TEST

START_TEST(predict_writes_rows_in_any_vector_format)
{
    const char *x = write_tmp("x.txt", "1 2\n0.5 -1\n-3 4\n"), *out = tmpfile_in("y.npy");
    run_result r = run_fpv(NULL, "predict", testdata("seed.json"), "-x", x, "-o", out, NULL);
    assert_ok(&r);
    double *y;
    int rank;
    uint64_t shape[8];
    ck_assert_uint_eq(read_npy_f64(out, &y, &rank, shape), 3);
    ck_assert_int_eq(rank, 2);
    ck_assert_uint_eq(shape[0], 3);
    ck_assert_uint_eq(shape[1], 1);
    ck_assert_double_eq_tol(y[0], -1.6345707 * tanh(0.863101f + 2 * 1.2454957f), 1e-6);
    free(y);
    run_free(&r);
    /* --precision f64 computes in double: more digits than float32 has */
    r = run_fpv(NULL, "predict", testdata("seed.json"), "-x", x, "--precision", "f64", NULL);
    assert_ok(&r);
    double *text_values;
    ck_assert_uint_eq(parse_numbers(r.out, &text_values), 3);
    ck_assert_double_eq_tol(text_values[2], -1.6345707 * tanh(-3 * 0.863101 + 4 * 1.2454957), 1e-6);
    ck_assert_uint_gt(strlen(r.out), 3 * 12);
    free(text_values);
    run_free(&r);
}
END_TEST

START_TEST(fixture_through_the_command)
{
    const char *grad = tmpfile_in("g.npy");
    char model[512], labels[512];
    snprintf(model, sizeof model, "%s", testdata("compute/loss_logitcrossentropy_labels.json"));
    snprintf(labels, sizeof labels, "%s", testdata("compute/y_labels.npy"));
    run_result r = run_fpv(NULL, "gradient", model, "-x", testdata("compute/x.npy"), "-y", labels,
                           "--loss", "logitcrossentropy", "-o", grad, NULL);
    assert_ok(&r);
    double *got, *want;
    size_t n = read_npy_f64(grad, &got, NULL, NULL);
    ck_assert_uint_eq(read_npy_f64(testdata("compute/loss_logitcrossentropy_labels.grad.npy"), &want,
                                   NULL, NULL), n);
    ck_assert_double_lt(t_rel_diff(got, want, n), 1e-10);
    free(got), free(want);
    run_free(&r);
}
END_TEST

START_TEST(bad_inputs_are_one_line_errors)
{
    const char *x3 = write_tmp("x3.txt", "1 2 3\n"), *x = write_tmp("x.txt", "1 2\n3 4\n");
    const char *y = write_tmp("y.txt", "1 2\n3 4\n"), *labels = write_tmp("labels.txt", "0\n7\n");
    const char *conv = write_tmp("conv.json", "{\"type\": \"Chain\", \"layers\": [{\"type\": \"Conv\"}]}");
    const char *mish = write_tmp("mish.json", "{\"type\": \"Dense\", \"weight\": [[1, 2], [3, 4]], "
                                              "\"activation\": \"mish\"}");
    const char *two = write_tmp("two.json", "{\"type\": \"Dense\", \"weight\": [[1, 2], [3, 4]]}");
    struct {
        const char *argv[10];
        const char *needle;
    } cases[] = {
        { { "predict", testdata("seed.json"), "-x", x3 }, "x3.txt: has 3 features per row, the model takes 2" },
        { { "gradient", testdata("seed.json"), "-x", x, "-y", y }, "y.txt: has shape 2 x 2, the model's output for X is 2 x 1" },
        { { "gradient", conv, "-x", x }, "conv.json: /layers/0: unknown layer type 'Conv' (supported: Chain, Dense," },
        { { "predict", mish, "-x", x }, "mish.json: /activation: unknown activation 'mish' (supported: identity," },
        { { "gradient", two, "-x", x, "-y", labels, "--loss", "logitcrossentropy" }, "labels.txt: element 1 is 7, not a class label in 0..1" },
        { { "predict", testdata("seed.json"), "-x", tmpfile_in("missing.npy") }, "missing.npy" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = run_fp(NULL, 0, cases[i].argv);
        assert_error_line(&r, cases[i].needle);
        run_free(&r);
    }
}
END_TEST

/* --device cuda: the GPU's prediction where one is usable, else one error
 * line (no GPU, or built without CUDA); auto always answers, on either. */
START_TEST(device_cuda_answers_or_is_one_line)
{
    const char *x = write_tmp("x.txt", "1 2\n3 4\n");
    const char *cuda[] = { "predict", testdata("seed.json"), "-x", x, "--device", "cuda", NULL };
    const char *cpu[] = { "predict", testdata("seed.json"), "-x", x, "--device", "cpu", NULL };
    const char *auto_[] = { "predict", testdata("seed.json"), "-x", x, "--device", "auto", NULL };
    run_result want = run_fp(NULL, 0, cpu), got = run_fp(NULL, 0, cuda), a = run_fp(NULL, 0, auto_);
    ck_assert_int_eq(want.status, 0);
    ck_assert_int_eq(a.status, 0);
    ck_assert_str_eq(a.out, want.out);   /* f32 predictions, printed shortest: equal */
    if (got.status == 0) {   /* the values themselves: the cuda suite, to rounding */
        double g0, g1, w0, w1;
        ck_assert_int_eq(sscanf(got.out, "%lf %lf", &g0, &g1), 2);
        ck_assert_int_eq(sscanf(want.out, "%lf %lf", &w0, &w1), 2);
        ck_assert_double_eq_tol(g0, w0, 1e-5);
        ck_assert_double_eq_tol(g1, w1, 1e-5);
    } else {
        assert_error_line(&got, "--device cuda: ");
    }
    run_free(&want), run_free(&got), run_free(&a);
}
END_TEST

/* ROWS x 784 numbers of a smooth pattern (mlp_bn.json's input), written to name. */
enum { ROWS = 11, IN = 784 };
static const char *write_x784(const char *name, double (*wave)(double), double per_row,
                              double per_col)
{
    char *text = malloc(ROWS * IN * 12 + 1), *p = text;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < IN; c++)
            p += sprintf(p, "%.4f%c", wave(per_row * r + per_col * c), c + 1 < IN ? ' ' : '\n');
    const char *path = write_tmp(name, text);
    free(text);
    return path;
}

/* argv run as it is, and with knob (a FLATPARAMS_*_ROWS) forcing blocks of 4 rows. */
static void run_whole_and_in_blocks(const char *knob, const char *const *argv,
                                    run_result *whole, run_result *blocks)
{
    *whole = run_fp(NULL, 0, argv);
    setenv(knob, "4", 1);
    *blocks = run_fp(NULL, 0, argv);
    unsetenv(knob);
    assert_ok(whole);
    assert_ok(blocks);
}

/* predict takes a big X a block of rows at a time (FLATPARAMS_PREDICT_ROWS
 * forces small blocks): the same rows come out, to rounding, in order, with a
 * last block shorter than the rest; in train mode BatchNorm needs the whole
 * batch, so there it is one block whatever the setting. */
START_TEST(predict_in_blocks_of_rows)
{
    const char *x = write_x784("x784.txt", sin, 0.37, 0.011);
    const char *model = testdata("mlp_bn.json");
    for (int train = 0; train < 2; train++) {
        const char *argv[] = { "predict", model, "-x", x, "--precision", "f64",
                               train ? "--train-mode" : NULL, NULL };
        run_result whole, blocks;
        run_whole_and_in_blocks("FLATPARAMS_PREDICT_ROWS", argv, &whole, &blocks);
        if (train)   /* one block: the same bytes */
            ck_assert_str_eq(blocks.out, whole.out);
        double *a, *b;
        size_t na = parse_numbers(whole.out, &a), nb = parse_numbers(blocks.out, &b);
        ck_assert_uint_eq(na, nb);
        ck_assert_uint_eq(na % ROWS, 0);
        for (size_t i = 0; i < na; i++)
            ck_assert_msg(fabs(a[i] - b[i]) <= 1e-12 * (1 + fabs(a[i])), "%zu: %.17g vs %.17g", i,
                          a[i], b[i]);
        free(a), free(b);
        run_free(&whole), run_free(&blocks);
    }
}
END_TEST

/* gradient likewise (FLATPARAMS_GRADIENT_ROWS): a sum over rows, or a mean
 * (mse over elements, logitcrossentropy over samples, here with labels),
 * equals its blocks' weighted sum to rounding; the whole suite also passes
 * with blocks of 1 and 3 rows forced. */
START_TEST(gradient_in_blocks_of_rows)
{
    const char *x = write_x784("gx784.txt", cos, 0.29, 0.013);
    char *text = malloc(ROWS * 10 * 12 + 1), *p = text;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 10; c++)
            p += sprintf(p, "%.3f%c", sin(r + 0.5 * c), c + 1 < 10 ? ' ' : '\n');
    const char *y = write_tmp("gy.txt", text);
    const char *labels = write_tmp("labels.txt", "3\n0\n9\n1\n1\n4\n7\n2\n8\n5\n6\n");
    free(text);
    const char *model = testdata("mlp_bn.json");
    const char *cases[][3] = { { NULL, NULL, "sumsq" }, { "-y", NULL, "mse" },
                               { "-y", NULL, "logitcrossentropy" } };
    for (size_t i = 0; i < 3; i++) {
        const char *target = i == 2 ? labels : y;
        const char *argv[] = { "gradient", model, "-x", x, "--precision", "f64", "--loss",
                               cases[i][2], cases[i][0] ? "-y" : NULL, target, NULL };
        run_result whole, blocks;
        run_whole_and_in_blocks("FLATPARAMS_GRADIENT_ROWS", argv, &whole, &blocks);
        double *a, *b;
        size_t na = parse_numbers(whole.out, &a), nb = parse_numbers(blocks.out, &b);
        ck_assert_uint_eq(na, nb);
        ck_assert_uint_gt(na, 50000);
        double scale = 0;
        for (size_t k = 0; k < na; k++)
            scale = fabs(a[k]) > scale ? fabs(a[k]) : scale;
        ck_assert_msg(scale > 0, "%s: the gradient is all zero: the test tests nothing", cases[i][2]);
        for (size_t k = 0; k < na; k++)
            if (fabs(a[k] - b[k]) > 1e-12 * scale)
                ck_abort_msg("%s: %zu: %.17g vs %.17g", cases[i][2], k, a[k], b[k]);
        free(a), free(b);
        run_free(&whole), run_free(&blocks);
    }
}
END_TEST

START_TEST(misuse_is_a_usage_error)
{
    const char *x = write_tmp("x.txt", "1 2\n");
    const char *cases[][10] = {
        { "gradient", testdata("seed.json"), "-x", x, "--loss", "kldivergence" },
        { "gradient", testdata("seed.json"), "-x", x, "--loss", "mse" },
        { "gradient", testdata("seed.json"), "-x", x, "-y", x, "--loss", "sumsq" },
        { "gradient", testdata("seed.json"), "-x", x, "--nested" },
        { "gradient", testdata("seed.json"), "-x", x, "--nested", "-o", tmpfile_in("g.npy") },
        { "predict", testdata("seed.json") },
        { "predict", testdata("seed.json"), "-x", x, "--precision", "f16" },
        { "predict", testdata("seed.json"), "-x", x, "--device", "tpu" },
        { "predict", testdata("seed.json"), "-x", x, "--loss", "mse" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = run_fp(NULL, 0, cases[i]);
        assert_usage_line(&r, cases[i][0]);
        run_free(&r);
    }
    /* a raw .bin X says its element type with --dtype, as a VEC does (doc/contract.md §5) */
    const float raw[2] = { 1, 2 };
    const char *bin = tmpfile_in("x.bin");
    ck_assert_int_eq(write_file(bin, raw, sizeof raw), 0);
    run_result r = run_fpv(NULL, "predict", testdata("seed.json"), "-x", bin, NULL);
    assert_error_line(&r, ".bin needs --dtype");
    run_free(&r);
    r = run_fpv(NULL, "predict", testdata("seed.json"), "-x", bin, "--dtype", "f32", NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
}
END_TEST

TCase *compute_cli_tcase(void)
{
    TCase *tc = tcase_create("commands");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, seed_flat_and_nested_gradients_agree);
    tcase_add_test(tc, predict_writes_rows_in_any_vector_format);
    tcase_add_test(tc, fixture_through_the_command);
    tcase_add_test(tc, bad_inputs_are_one_line_errors);
    tcase_add_test(tc, device_cuda_answers_or_is_one_line);
    tcase_add_test(tc, misuse_is_a_usage_error);
    tcase_add_test(tc, predict_in_blocks_of_rows);
    tcase_add_test(tc, gradient_in_blocks_of_rows);
    return tc;
}
