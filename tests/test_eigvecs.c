/* hessian --eigs K --eigvecs F: each vector satisfies H v = λ v (H v from
 * --hvp) to a tolerance, has unit length, its largest entry positive, and the
 * vectors are orthogonal; --which BE (both) gives both ends, as Jacobi's
 * eigenvalues of the full matrix say. */
#include "test_curvature.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MODEL testdata("compute/loss_mse.json")
#define X testdata("compute/x.npy")
#define Y testdata("compute/y_real.npy")
enum { N = 51 };

#define HESS(...)                                                                         \
    do {                                                                                  \
        run_result r_ = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, "--precision", \
                                "f64", __VA_ARGS__, NULL);                                \
        ck_assert_msg(r_.status == 0, "exit %d: %s", r_.status, r_.err);                  \
        run_free(&r_);                                                                    \
    } while (0)

static double *read_values(const char *path, size_t want)
{
    double *values;
    ck_assert_uint_eq(read_npy_f64(path, &values, NULL, NULL), want);
    return values;
}

/* Checks K vectors (K x N) against their values with --hvp; returns max |λ|. */
static void check_pairs(const double *values, const double *vectors, int k, double scale)
{
    for (int i = 0; i < k; i++) {
        const double *v = vectors + i * N;
        char text[N * 32] = "", *p = text;
        double norm = 0, largest = 0;
        for (int t = 0; t < N; t++) {
            p += sprintf(p, "%.17g\n", v[t]);
            norm += v[t] * v[t];
            largest = fabs(v[t]) > fabs(largest) ? v[t] : largest;
        }
        ck_assert_double_eq_tol(norm, 1, 1e-12);
        ck_assert_double_gt(largest, 0);
        write_file(tmpfile_in("v.txt"), text, strlen(text));
        HESS("--hvp", tmpfile_in("v.txt"), "-o", tmpfile_in("hv.npy"));
        double *hv = read_values(tmpfile_in("hv.npy"), N), residual = 0;
        for (int t = 0; t < N; t++)
            residual = fmax(residual, fabs(hv[t] - values[i] * v[t]));
        ck_assert_msg(residual <= 1e-8 * scale, "vector %d: |H v - λ v| = %.3g (λ = %.6g)", i,
                      residual, values[i]);
        free(hv);
        for (int j = 0; j < i; j++) {   /* orthogonal to the others */
            double dot = 0;
            for (int t = 0; t < N; t++)
                dot += v[t] * vectors[j * N + t];
            ck_assert_double_lt(fabs(dot), 1e-10);
        }
    }
}

START_TEST(eigenvectors_satisfy_h_v_lambda_v)
{
    HESS("-o", tmpfile_in("H.npy"));
    double *H = read_values(tmpfile_in("H.npy"), N * N), exact[N];
    t_jacobi_eigenvalues(H, N, exact);
    double scale = fmax(fabs(exact[0]), fabs(exact[N - 1]));
    static const char *const whiches[] = { "LM", "SA", "BE", "both" };
    for (int w = 0; w < 4; w++) {
        int k = w >= 2 ? 5 : 4;
        char kk[8];
        snprintf(kk, sizeof kk, "%d", k);
        HESS("--eigs", kk, "--which", whiches[w], "--eigvecs", tmpfile_in("vectors.npy"), "-o",
             tmpfile_in("values.npy"));
        double *values = read_values(tmpfile_in("values.npy"), (size_t)k);
        int rank;
        uint64_t shape[8];
        double *vectors;
        ck_assert_uint_eq(read_npy_f64(tmpfile_in("vectors.npy"), &vectors, &rank, shape),
                          (size_t)k * N);
        ck_assert(rank == 2 && shape[0] == (uint64_t)k && shape[1] == N);
        if (w >= 2)   /* both ends: the 2 smallest, the 3 largest, increasing */
            for (int i = 0; i < k; i++)
                ck_assert_double_eq_tol(values[i], i < 2 ? exact[i] : exact[N - k + i],
                                        1e-8 * scale);
        check_pairs(values, vectors, k, scale);
        free(values), free(vectors);
    }
    free(H);
}
END_TEST

START_TEST(eigvecs_errors)
{
    run_result r = run_fpv(NULL, "hessian", MODEL, "-x", X, "--eigvecs", "v.npy", NULL);
    assert_usage_line(&r, "--eigvecs goes with --eigs");
    run_free(&r);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "--eigs", "2", "--eigvecs", "v.png", NULL);
    assert_usage_line(&r, "--eigvecs v.png: eigenvectors are a matrix file, not a plot");
    run_free(&r);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "--eigs", "2", "--which", "XX", NULL);
    assert_usage_line(&r, "--which takes LM, LA, SA or BE (both), got 'XX'");
    run_free(&r);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "--eigs", "2", "--eigvecs",
                "/nonexistent-fp/v.npy", "-o", tmpfile_in("values.txt"), NULL);
    assert_error_line(&r, "/nonexistent-fp/v.npy");
    run_free(&r);
    ck_assert(!file_exists(tmpfile_in("values.txt")));   /* nothing written, not half */
}
END_TEST

TCase *eigvecs_tcase(void)
{
    TCase *tc = tcase_create("eigvecs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, eigenvectors_satisfy_h_v_lambda_v);
    tcase_add_test(tc, eigvecs_errors);
    return tc;
}
