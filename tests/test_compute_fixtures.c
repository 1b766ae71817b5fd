/* The compute core against PyTorch: testdata/compute/ holds small float64
 * models, inputs and targets, and torch.autograd's outputs and gradients, made
 * by testdata/make_compute_fixtures.py (cases.txt lists them). Every layer,
 * activation and loss appears in at least one case; all must agree to 1e-10. */
#include "test_compute.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fixture {
    char name[64], x[64], y[64], loss[64];
    int all, train;
    double loss_value;
} fixture;

static void read_input(const char *name, fp_matrix *m)
{
    fp_error err;
    char rel[128];
    snprintf(rel, sizeof rel, "compute/%s", name);
    ck_assert_msg(fp_matrix_read(testdata(rel), NULL, FP_F64, FP_F64, m, &err) == 0, "%s", err.msg);
}

static double *expected(const fixture *f, const char *what, uint64_t *n)
{
    char rel[160];
    snprintf(rel, sizeof rel, "compute/%s.%s.npy", f->name, what);
    double *values;
    size_t count = read_npy_f64(testdata(rel), &values, NULL, NULL);
    ck_assert_msg(count != (size_t)-1, "%s: cannot read %s", f->name, rel);
    *n = count;
    return values;
}

static void check_case(const fixture *f)
{
    fp_error err;
    char rel[128];
    snprintf(rel, sizeof rel, "compute/%s.json", f->name);
    fp_tree tree;
    ck_assert_msg(fp_tree_open(testdata(rel), &tree, &err) == 0, "%s", err.msg);
    fp_select sel = { .all = f->all };
    fp_layout layout;
    fp_net *net = t_net(tree.root, &sel, FP_F64, f->train, &layout);
    fp_loss loss;
    ck_assert_int_eq(fp_loss_parse(f->loss, &loss), 0);
    fp_matrix x, y = { 0 }, out;
    read_input(f->x, &x);
    if (strcmp(f->y, "-"))
        read_input(f->y, &y);

    uint64_t n_out, n_grad;
    double *want_out = expected(f, "out", &n_out), *want_grad = expected(f, "grad", &n_grad);
    ck_assert_msg(fp_predict(net, &x, &out, &err) == 0, "%s: %s", f->name, err.msg);
    ck_assert_uint_eq(out.rows * out.cols, n_out);
    double rel_out = t_rel_diff(out.data, want_out, n_out);
    ck_assert_msg(rel_out < 1e-10, "%s: output differs from PyTorch by %.3g", f->name, rel_out);

    ck_assert_uint_eq(fp_net_n_params(net), n_grad);
    double value;
    ck_assert_msg(fp_gradient(net, &x, y.data ? &y : NULL, loss, NULL, &value, &err) == 0, "%s: %s",
                  f->name, err.msg);
    double rel_grad = t_rel_diff(fp_net_grads(net), want_grad, n_grad);
    ck_assert_msg(rel_grad < 1e-10, "%s: gradient differs from PyTorch by %.3g", f->name, rel_grad);
    ck_assert_msg(fabs(value - f->loss_value) <= 1e-10 * fabs(f->loss_value),
                  "%s: loss %.17g, PyTorch %.17g", f->name, value, f->loss_value);

    free(want_out), free(want_grad), free(out.data), free(x.data), free(y.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}

START_TEST(agrees_with_pytorch)
{
    FILE *list = fopen(testdata("compute/cases.txt"), "r");
    ck_assert_msg(list != NULL, "testdata/compute/cases.txt is missing");
    char line[512];
    int n_cases = 0;
    const char *must_cover[] = { "act_gelu", "act_logsoftmax", "layer_batchnorm_train",
                                 "layer_layernorm", "layer_chain_shared", "loss_huber",
                                 "loss_crossentropy_labels", "loss_logitbinarycrossentropy" };
    int covered = 0;
    while (fgets(line, sizeof line, list)) {
        if (line[0] == '#')
            continue;
        fixture f;
        ck_assert_int_eq(sscanf(line, "%63s %63s %63s %63s %d %d %lf", f.name, f.x, f.y, f.loss,
                                &f.all, &f.train, &f.loss_value), 7);
        check_case(&f);
        for (size_t i = 0; i < sizeof must_cover / sizeof must_cover[0]; i++)
            covered += !strcmp(f.name, must_cover[i]);
        n_cases++;
    }
    fclose(list);
    ck_assert_int_ge(n_cases, 30);
    ck_assert_int_eq(covered, (int)(sizeof must_cover / sizeof must_cover[0]));
}
END_TEST

TCase *compute_fixtures_tcase(void)
{
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, agrees_with_pytorch);
    return tc;
}
