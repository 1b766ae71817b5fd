/* Keras CNN files computed against Keras and TensorFlow themselves
 * (testdata/keras/cnn/, made by testdata/make_keras_cnn_fixtures.py): for every
 * file of every model (.keras, model.save("m.h5"), save_weights with --arch)
 *
 *   predict             equals Keras' model.predict(X) within float32 rounding,
 *   predict --precision f64   the same model built by Keras in float64, to 1e-10,
 *   gradient (f64)      TensorFlow's GradientTape gradient of each loss, to 1e-9,
 *   gradient (f32)      the float32 model's GradientTape gradient, within float32 rounding,
 *   hessian --hvp V     H v by GradientTape over GradientTape (f64), to 1e-8,
 *
 * X in Keras' layout (channels last). Part of the keras suite once the
 * convolution, pooling, padding, reshape and activation layers are in the
 * compute core (tests/meson.build, kt_add_cnn_compute_tests in test_keras.c). */
#include "test_keras.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How close, not just "within": the largest difference / max|value| of a
 * test, printed at its end (each test runs in a process of its own). */
static double worst_f64, worst_f32;

static double *load(const char *path, size_t *count)
{
    double *values;
    size_t n = read_npy_f64(path, &values, NULL, NULL);
    ck_assert_msg(n != (size_t)-1, "cannot read %s", path);
    *count = n;
    return values;
}

/* |got - want| <= of_scale max|want| + of_value |want|, element by element;
 * *worst: the largest |got - want| / max|want| seen. */
static void assert_close(const char *what, const double *got, size_t n_got, const double *want,
                         size_t n_want, double of_scale, double of_value, double *worst)
{
    ck_assert_msg(n_got == n_want, "%s: %zu values, Keras %zu", what, n_got, n_want);
    double scale = 0;
    for (size_t i = 0; i < n_want; i++)
        scale = fmax(scale, fabs(want[i]));
    ck_assert_msg(scale > 0, "%s: an all-zero fixture cannot fail", what);
    for (size_t i = 0; i < n_want; i++) {
        double diff = fabs(got[i] - want[i]);
        ck_assert_msg(diff <= of_scale * scale + of_value * fabs(want[i]),
                      "%s[%zu]: %.17g, Keras %.17g (max |Keras| %.3g)", what, i, got[i], want[i], scale);
        *worst = fmax(*worst, diff / scale);
    }
}

/* Runs COMMAND on the file with X (and, when loss is set, its target) and
 * up to three more arguments; returns -o's values. */
static double *run_on(const cnn_file *f, const char *command, const cnn_loss *loss,
                      const char *precision, const char *extra1, const char *extra2, size_t *count)
{
    char model[4096], arch[4096], x[4096], y[4096];
    const char *out = tmpfile_in("cnn-out.npy");
    const char *argv[24];
    int argc = 0;
    snprintf(model, sizeof model, "%s", kt_cnn_path(f->model));
    snprintf(x, sizeof x, "%s", kt_cnn_fixture(f->name, "x.npy"));
    argv[argc++] = command;
    argv[argc++] = model;
    if (strcmp(f->arch, "-")) {
        snprintf(arch, sizeof arch, "%s", kt_cnn_path(f->arch));
        argv[argc++] = "--arch";
        argv[argc++] = arch;
    }
    argv[argc++] = "-x";
    argv[argc++] = x;
    if (loss) {
        snprintf(y, sizeof y, "%s", kt_cnn_path(loss->target));
        argv[argc++] = "-y";
        argv[argc++] = y;
        argv[argc++] = "--loss";
        argv[argc++] = loss->loss;
    }
    argv[argc++] = "--precision";
    argv[argc++] = precision;
    argv[argc++] = "-o";
    argv[argc++] = out;
    if (extra1)
        argv[argc++] = extra1;
    if (extra2)
        argv[argc++] = extra2;
    argv[argc] = NULL;
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(r.status == 0, "%s %s (%s): exit %d: %s", command, f->model, precision, r.status, r.err);
    run_free(&r);
    return load(out, count);
}

START_TEST(cnn_predict_equals_keras)
{
    const cnn_file *files;
    size_t n_files;
    kt_cnn_cases(&files, &n_files, NULL, NULL);
    const cnn_file *f = &files[_i];
    char what[256];
    size_t n, n_want;

    double *got = run_on(f, "predict", NULL, "f32", NULL, NULL, &n);
    double *want = load(kt_cnn_fixture(f->name, "predict.npy"), &n_want);
    snprintf(what, sizeof what, "%s predict", f->model);
    assert_close(what, got, n, want, n_want, 2e-6, 0, &worst_f32);
    free(got);
    free(want);

    got = run_on(f, "predict", NULL, "f64", NULL, NULL, &n);
    want = load(kt_cnn_fixture(f->name, "predict64.npy"), &n_want);
    snprintf(what, sizeof what, "%s predict --precision f64", f->model);
    assert_close(what, got, n, want, n_want, 1e-12, 1e-10, &worst_f64);
    free(got);
    free(want);
    fprintf(stderr, "%s predict vs Keras: worst %.3g (f64), %.3g (f32)\n", f->model, worst_f64,
            worst_f32);
}
END_TEST

START_TEST(cnn_gradient_and_hvp_equal_tensorflow)
{
    const cnn_file *files;
    const cnn_loss *losses;
    size_t n_files, n_losses;
    kt_cnn_cases(&files, &n_files, &losses, &n_losses);
    const cnn_file *f = &files[_i];
    char what[256], suffix[96], v[4096];
    int n_checked = 0;
    snprintf(v, sizeof v, "%s", kt_cnn_fixture(f->name, "v.npy"));
    for (size_t k = 0; k < n_losses; k++) {
        const cnn_loss *loss = &losses[k];
        if (strcmp(loss->name, f->name))
            continue;
        size_t n, n_want;
        double *got = run_on(f, "gradient", loss, "f64", NULL, NULL, &n);
        snprintf(suffix, sizeof suffix, "%s.grad.npy", loss->loss);
        double *want = load(kt_cnn_fixture(f->name, suffix), &n_want);
        snprintf(what, sizeof what, "%s %s gradient", f->model, loss->loss);
        assert_close(what, got, n, want, n_want, 1e-10, 1e-9, &worst_f64);
        free(got);
        free(want);

        got = run_on(f, "gradient", loss, "f32", NULL, NULL, &n);
        snprintf(suffix, sizeof suffix, "%s.grad32.npy", loss->loss);
        want = load(kt_cnn_fixture(f->name, suffix), &n_want);
        snprintf(what, sizeof what, "%s %s gradient (f32)", f->model, loss->loss);
        assert_close(what, got, n, want, n_want, 1e-5, 0, &worst_f32);
        free(got);
        free(want);

        got = run_on(f, "hessian", loss, "f64", "--hvp", v, &n);
        snprintf(suffix, sizeof suffix, "%s.hvp.npy", loss->loss);
        want = load(kt_cnn_fixture(f->name, suffix), &n_want);
        snprintf(what, sizeof what, "%s %s H v", f->model, loss->loss);
        assert_close(what, got, n, want, n_want, 1e-9, 1e-8, &worst_f64);
        free(got);
        free(want);
        n_checked++;
    }
    ck_assert_msg(n_checked == 2, "%s: %d losses in cases.txt, expected 2", f->model, n_checked);
    fprintf(stderr, "%s gradient and H v vs TensorFlow: worst %.3g (f64), %.3g (f32)\n", f->model,
            worst_f64, worst_f32);
}
END_TEST

void kt_add_cnn_compute_tests(Suite *s)
{
    const cnn_file *files;
    size_t n_files;
    kt_cnn_cases(&files, &n_files, NULL, NULL);
    TCase *tc = tcase_create("cnn_compute");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, cnn_predict_equals_keras, 0, (int)n_files);
    tcase_add_loop_test(tc, cnn_gradient_and_hvp_equal_tensorflow, 0, (int)n_files);
    suite_add_tcase(s, tc);
}
