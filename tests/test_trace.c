/* Hutch++ beside Hutchinson (fp_hessian_hutchpp, hessian --hutchpp): over
 * seeds, on a Hessian whose spectrum decays, Hutch++'s error is far below
 * Hutchinson's from as many products; the command prints the standard error
 * and gives the same bytes on any thread count. */
#include "test_curvature.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/fp_curvature.h"
#include "harness.h"

enum { FEATURES = 40, SAMPLES = 64, PRODUCTS = 30, SEEDS = 20 };

START_TEST(hutchpp_beats_hutchinson_on_a_decaying_spectrum)
{
    /* a linear model with mse: H is 2/B [X 1]^T [X 1], and X's columns fall
     * off as 0.75^i, so its eigenvalues decay geometrically */
    t_seed(2021);
    fp_node *root = t_chain(t_dense(FEATURES, 1, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(root, NULL, FP_F64, 0, &layout);
    fp_matrix x = t_matrix(SAMPLES, FEATURES, -1, 1), y = t_matrix(SAMPLES, 1, -1, 1);
    for (int r = 0; r < SAMPLES; r++)
        for (int c = 0; c < FEATURES; c++)
            ((double *)x.data)[r * FEATURES + c] *= pow(0.75, c);
    uint64_t n = fp_net_n_params(net);
    double *diag = malloc(n * sizeof *diag), trace = 0;
    fp_error err;
    ck_assert(fp_hessian_diag(net, &x, &y, FP_LOSS_MSE, diag, NULL, NULL, &err) == 0);
    for (uint64_t i = 0; i < n; i++)
        trace += diag[i];
    double sq_hutchinson = 0, sq_hutchpp = 0, se_hutchinson = 0, se_hutchpp = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        double a, b, se_a, se_b;
        ck_assert_msg(fp_hessian_hutchinson(net, &x, &y, FP_LOSS_MSE, PRODUCTS, seed, &a, &se_a,
                                            &err) == 0, "%s", err.msg);
        ck_assert_msg(fp_hessian_hutchpp(net, &x, &y, FP_LOSS_MSE, PRODUCTS, seed, &b, &se_b,
                                         &err) == 0, "%s", err.msg);
        sq_hutchinson += (a - trace) * (a - trace);
        sq_hutchpp += (b - trace) * (b - trace);
        se_hutchinson += se_a;
        se_hutchpp += se_b;
    }
    double rms_hutchinson = sqrt(sq_hutchinson / SEEDS), rms_hutchpp = sqrt(sq_hutchpp / SEEDS);
    fprintf(stderr, "trace: n = %llu, trace %.6g; %d products, %d seeds: RMS error Hutchinson "
            "%.3g (mean standard error %.3g), Hutch++ %.3g (%.3g)\n", (unsigned long long)n, trace,
            PRODUCTS, SEEDS, rms_hutchinson, se_hutchinson / SEEDS, rms_hutchpp, se_hutchpp / SEEDS);
    ck_assert_double_lt(rms_hutchpp, 0.1 * rms_hutchinson);
    /* the standard errors say as much: each within a factor 3 of the RMS error */
    ck_assert_double_lt(se_hutchinson / SEEDS, 3 * rms_hutchinson);
    ck_assert_double_gt(se_hutchinson / SEEDS, rms_hutchinson / 3);
    ck_assert_double_lt(se_hutchpp / SEEDS, 3 * rms_hutchpp);
    ck_assert_double_gt(se_hutchpp / SEEDS, rms_hutchpp / 3);
    /* at least 3 products; with as many as n, Q spans everything: exact */
    double exact, se;
    ck_assert_int_eq(fp_hessian_hutchpp(net, &x, &y, FP_LOSS_MSE, 2, 1, &exact, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "Hutch++ needs at least 3 products, got 2");
    ck_assert(fp_hessian_hutchpp(net, &x, &y, FP_LOSS_MSE, 3 * n, 1, &exact, &se, &err) == 0);
    ck_assert_double_eq_tol(exact, trace, 1e-10 * fabs(trace));
    free(diag), free(x.data), free(y.data);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(root);
}
END_TEST

#define SPIRAL testdata("curvature/spiral.json")
#define SPIRAL_X testdata("curvature/spiral_x.npy")
#define SPIRAL_Y testdata("curvature/spiral_y.npy")

START_TEST(the_command_prints_the_standard_error)
{
    static const char *const modes[] = { "--hutchpp", "--hutchinson" };
    for (int m = 0; m < 2; m++) {
        char *first = NULL;
        for (int t = 0; t < 2; t++) {
            setenv("OPENBLAS_NUM_THREADS", t ? "3" : "1", 1);
            run_result r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "-y", SPIRAL_Y,
                                   "--loss", "logitcrossentropy", "--precision", "f64", modes[m],
                                   "30", "--seed", "5", "--progress", NULL);
            unsetenv("OPENBLAS_NUM_THREADS");
            ck_assert_msg(r.status == 0, "%s", r.err);
            double estimate, error;
            char tail[64];
            ck_assert_msg(sscanf(r.err, "hessian: trace estimate %lf ± %lf (standard error, %63[^)])",
                                 &estimate, &error, tail) == 3, "%s", r.err);
            ck_assert_str_eq(tail, m ? "30 probes" : "Hutch++, 30 products");
            ck_assert_double_eq_tol(strtod(r.out, NULL), estimate, 1e-9 * fabs(estimate));
            ck_assert_double_gt(error, 0);
            if (t == 0)
                first = strdup(r.out);
            else
                ck_assert_str_eq(r.out, first);   /* 1 and 3 threads: the same digits */
            run_free(&r);
        }
        free(first);
    }
    run_result r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "--hutchpp", "2", NULL);
    assert_usage_line(&r, "--hutchpp needs at least 3 products, got 2");
    run_free(&r);
    r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "--trace", "--seed", "1", NULL);
    assert_usage_line(&r, "--seed goes with --hutchinson, --hutchpp or --density");
    run_free(&r);
    r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "--hutchpp", "9", "--hutchinson", "9", NULL);
    assert_usage_line(&r, "exclude each other");
    run_free(&r);
}
END_TEST

TCase *trace_tcase(void)
{
    TCase *tc = tcase_create("trace");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hutchpp_beats_hutchinson_on_a_decaying_spectrum);
    tcase_add_test(tc, the_command_prints_the_standard_error);
    return tc;
}
