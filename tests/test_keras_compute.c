/* Gradients and Hessians of Keras models against PyTorch (testdata/keras/grad/,
 * made by testdata/make_keras_grad_fixtures.py: the same networks built in torch
 * from the weights h5py reads, float64). Each case of cases.txt runs `flatparams
 * gradient`, `hessian --rows A:B` for its row blocks (or the full matrix) and
 * `hessian --hvp V`, all with --precision f64, and compares element by element
 * to 1e-8 relative. Also: compute refuses a Keras layer it does not know, naming
 * the layer and its class. */
#include "test_keras.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct grad_case {
    char name[96], model[160], arch[160], x[64], y[96], loss[32], rows[96];
    double loss_value;
} grad_case;

static double worst_relative;   /* reported once at the end: how close, not just "within" */

/* "corpus:NAME" is testdata/corpus/keras/NAME, "testdata:REL" testdata/REL; "-" none. */
static const char *resolve(const char *ref, char *buf, size_t size)
{
    if (!strcmp(ref, "-"))
        return NULL;
    if (!strncmp(ref, "corpus:", 7)) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/%s", ref + 7);
        snprintf(buf, size, "%s", corpus(rel));
    } else {
        ck_assert_msg(!strncmp(ref, "testdata:", 9), "bad model reference %s", ref);
        snprintf(buf, size, "%s", testdata(ref + 9));
    }
    return buf;
}

static const char *grad_file(const char *name, char *buf, size_t size)
{
    char rel[200];
    snprintf(rel, sizeof rel, "keras/grad/%s", name);
    snprintf(buf, size, "%s", testdata(rel));
    return buf;
}

static double *load(const char *path, size_t *count)
{
    double *values;
    size_t n = read_npy_f64(path, &values, NULL, NULL);
    ck_assert_msg(n != (size_t)-1, "cannot read %s", path);
    *count = n;
    return values;
}

/* |got - want| <= 1e-8 |want| + 1e-12 max|want|, element by element. */
static void assert_close(const char *what, const double *got, const double *want, size_t n)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    ck_assert_msg(scale > 0, "%s: an all-zero fixture cannot fail", what);
    for (size_t i = 0; i < n; i++) {
        double diff = fabs(got[i] - want[i]);
        ck_assert_msg(diff <= 1e-8 * fabs(want[i]) + 1e-12 * scale, "%s[%zu]: %.17g, PyTorch %.17g", what, i,
                      got[i], want[i]);
        if (fabs(want[i]) > 1e-6 * scale)
            worst_relative = fmax(worst_relative, diff / fabs(want[i]));
    }
}

/* Runs COMMAND MODEL [--arch A] -x X -y Y --loss L --precision f64 -o OUT EXTRA...
 * (EXTRA: up to two more arguments, NULL-ended) and returns OUT's values. */
static double *run_compute(const grad_case *c, const char *command, const char *extra1, const char *extra2,
                           size_t *count)
{
    char model[4096], arch[4096], x[4096], y[4096];
    const char *out = tmpfile_in("k-out.npy");
    const char *argv[20];
    int argc = 0;
    argv[argc++] = command;
    argv[argc++] = resolve(c->model, model, sizeof model);
    if (resolve(c->arch, arch, sizeof arch)) {
        argv[argc++] = "--arch";
        argv[argc++] = arch;
    }
    const char *tail[] = { "-x", grad_file(c->x, x, sizeof x), "-y", grad_file(c->y, y, sizeof y), "--loss",
                           c->loss, "--precision", "f64", "-o", out };
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        argv[argc++] = tail[i];
    if (extra1)
        argv[argc++] = extra1;
    if (extra2)
        argv[argc++] = extra2;
    argv[argc] = NULL;
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(r.status == 0, "%s %s: exit %d: %s", command, c->name, r.status, r.err);
    run_free(&r);
    return load(out, count);
}

static void check_case(const grad_case *c)
{
    char path[4096], what[256];
    size_t n, n_want;

    double *got = run_compute(c, "gradient", NULL, NULL, &n);
    double *want = load(grad_file(strcat(strcpy(what, c->name), ".grad.npy"), path, sizeof path), &n_want);
    ck_assert_msg(n == n_want, "%s: gradient has %zu values, PyTorch %zu", c->name, n, n_want);
    snprintf(what, sizeof what, "%s gradient", c->name);
    assert_close(what, got, want, n);
    free(got);
    free(want);

    /* H v, with v the model's fixed random vector. */
    char prefix[96], v[4096];
    snprintf(prefix, sizeof prefix, "%.*s.v.npy", (int)strcspn(c->name, "."), c->name);
    got = run_compute(c, "hessian", "--hvp", grad_file(prefix, v, sizeof v), &n_want);
    ck_assert_uint_eq(n_want, n);
    want = load(grad_file(strcat(strcpy(what, c->name), ".hvp.npy"), path, sizeof path), &n_want);
    snprintf(what, sizeof what, "%s H v", c->name);
    assert_close(what, got, want, n);
    free(got);
    free(want);

    if (!strcmp(c->rows, "-"))
        return;
    size_t n_rows;
    double *rows = load(grad_file(strcat(strcpy(what, c->name), ".hess.npy"), path, sizeof path), &n_rows);
    if (!strcmp(c->rows, "all")) {
        ck_assert_uint_eq(n_rows, n * n);
        got = run_compute(c, "hessian", NULL, NULL, &n_want);
        ck_assert_uint_eq(n_want, n * n);
        snprintf(what, sizeof what, "%s Hessian", c->name);
        assert_close(what, got, rows, n * n);
        free(got);
        free(rows);
        return;
    }
    /* The blocks, stacked in the fixture in the order listed. */
    size_t done = 0;
    char list[96], *save = NULL;
    snprintf(list, sizeof list, "%s", c->rows);
    for (char *block = strtok_r(list, ",", &save); block; block = strtok_r(NULL, ",", &save)) {
        unsigned long begin, end;
        ck_assert_int_eq(sscanf(block, "%lu:%lu", &begin, &end), 2);
        got = run_compute(c, "hessian", "--rows", block, &n_want);
        ck_assert_uint_eq(n_want, (end - begin) * n);
        ck_assert_uint_le(done + n_want, n_rows);
        snprintf(what, sizeof what, "%s Hessian rows %s", c->name, block);
        assert_close(what, got, rows + done, n_want);
        done += n_want;
        free(got);
    }
    ck_assert_uint_eq(done, n_rows);
    free(rows);
}

START_TEST(keras_gradients_and_hessians_match_pytorch)
{
    char path[4096];
    FILE *list = fopen(grad_file("cases.txt", path, sizeof path), "r");
    ck_assert_msg(list != NULL, "testdata/keras/grad/cases.txt is missing");
    char line[1024];
    int n_cases = 0, with_arch = 0, full = 0, crossentropy = 0;
    while (fgets(line, sizeof line, list)) {
        if (line[0] == '#')
            continue;
        grad_case c;
        ck_assert_int_eq(sscanf(line, "%95s %159s %159s %63s %95s %31s %95s %lf", c.name, c.model, c.arch, c.x,
                                c.y, c.loss, c.rows, &c.loss_value), 8);
        check_case(&c);
        n_cases++;
        with_arch += strcmp(c.arch, "-") != 0;
        full += !strcmp(c.rows, "all");
        crossentropy += strstr(c.loss, "crossentropy") != NULL;
    }
    fclose(list);
    /* Both corpus models (one with --arch), a full matrix, and a loss besides mse. */
    ck_assert_int_ge(n_cases, 7);
    ck_assert_int_ge(with_arch, 2);
    ck_assert_int_ge(full, 1);
    ck_assert_int_ge(crossentropy, 3);
    fprintf(stderr, "keras vs PyTorch: %d cases, worst relative difference %.3g\n", n_cases, worst_relative);
}
END_TEST

START_TEST(keras_layers_compute_does_not_know_are_refused)
{
    const char *cases[][3] = {
        { "keras/keras_conv2d_model.h5", "gradient", "/conv2d_1: unknown layer type 'Conv2D'" },
        { "keras/lstm_bidirectional.h5", "hessian", "/lstm_1: unknown layer type 'LSTM'" },
    };
    char x[4096];
    grad_file("x16.npy", x, sizeof x);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = run_fpv(NULL, cases[i][1], corpus(cases[i][0]), "-x", x, NULL);
        assert_error_line(&r, cases[i][2]);
        run_free(&r);
        /* It still flattens. */
        r = run_fpv(NULL, "flatten", corpus(cases[i][0]), "-o", tmpfile_in("v.npy"), NULL);
        kt_assert_ok(&r);
        run_free(&r);
    }
}
END_TEST

void kt_add_compute_tests(Suite *s)
{
    TCase *tc = tcase_create("compute");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, keras_gradients_and_hessians_match_pytorch);
    tcase_add_test(tc, keras_layers_compute_does_not_know_are_refused);
    suite_add_tcase(s, tc);
}
