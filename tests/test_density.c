/* The spectral density by stochastic Lanczos quadrature (fp_hessian_slq,
 * fp_slq_density, hessian --density): it recovers a spectrum computed exactly
 * (the full Hessian's eigenvalues by Jacobi), measured by the Wasserstein-1
 * distance; the same bytes for a seed on any thread count, in f32 and f64; the
 * table and the plot; the error lines. */
#include "test_curvature.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/fp_curvature.h"
#include "harness.h"

/* W1 between a measure with CDF F (at the grid points, F rising in steps dx
 * wide) and the uniform measure on the sorted values (n of them): the
 * integral of |F - G| over the grid, which holds all the values. */
static double w1_to_values(const double *grid, const double *cdf, size_t points,
                           const double *values, size_t n)
{
    double dx = grid[1] - grid[0], sum = 0;
    size_t below = 0;
    for (size_t i = 0; i < points; i++) {
        while (below < n && values[below] <= grid[i])
            below++;
        sum += fabs(cdf[i] - (double)below / (double)n) * dx;
    }
    return sum;
}

/* A net whose Hessian is known exactly: a tanh MLP with mse, n = 163. */
typedef struct known {
    fp_node *root;
    fp_layout layout;
    fp_net *net;
    fp_matrix x, y;
    uint64_t n;
    double *eigenvalues;   /* increasing */
} known;

static known known_spectrum(void)
{
    known k;
    t_seed(1818);
    k.root = t_chain(t_dense(6, 16, "tanh"), t_dense(16, 3, NULL), NULL);
    k.net = t_net(k.root, NULL, FP_F64, 0, &k.layout);
    k.x = t_matrix(40, 6, -1.5, 1.5);
    k.y = t_matrix(40, 3, -1, 1);
    k.n = fp_net_n_params(k.net);
    double *H = malloc(k.n * k.n * sizeof *H);
    k.eigenvalues = malloc(k.n * sizeof *k.eigenvalues);
    fp_error err;
    ck_assert_msg(fp_hessian_rows(k.net, &k.x, &k.y, FP_LOSS_MSE, 0, k.n, H, &err) == 0, "%s",
                  err.msg);
    for (uint64_t i = 0; i < k.n; i++)   /* exactly symmetric, as the command writes it */
        for (uint64_t j = 0; j < i; j++)
            H[i * k.n + j] = H[j * k.n + i] = (H[i * k.n + j] + H[j * k.n + i]) / 2;
    t_jacobi_eigenvalues(H, k.n, k.eigenvalues);
    free(H);
    return k;
}

static void known_free(known *k)
{
    free(k->eigenvalues), free(k->x.data), free(k->y.data);
    fp_net_free(k->net);
    fp_layout_free(&k->layout);
    fp_node_release(k->root);
}

/* W1 of the broadened density (its grid's CDF) from the exact spectrum. */
static double density_w1(known *k, size_t probes, size_t steps, uint64_t seed, double *quad_w1)
{
    enum { POINTS = 20000 };
    fp_slq slq;
    fp_error err;
    ck_assert_msg(fp_hessian_slq(k->net, &k->x, &k->y, FP_LOSS_MSE, probes, steps, seed, &slq, NULL,
                                 NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(slq.steps, steps);
    for (size_t p = 0; p < probes; p++) {   /* each probe's weights: a probability */
        double sum = 0;
        for (size_t j = 0; j < slq.counts[p]; j++)
            sum += slq.weights[p * steps + j];
        ck_assert_double_eq_tol(sum, 1, 1e-10);
    }
    double *grid = malloc(POINTS * sizeof *grid), *density = malloc(POINTS * sizeof *density);
    double *cdf = malloc(POINTS * sizeof *cdf), sigma, total = 0;
    fp_slq_density(&slq, POINTS, 0, grid, density, &sigma);
    double width = grid[POINTS - 1] - grid[0];
    ck_assert_double_eq_tol(sigma, sqrt(1e-5 * fmax(1, width)), 1e-15);   /* PyHessian's */
    ck_assert_double_le(grid[0], k->eigenvalues[0]);   /* the grid holds the spectrum */
    ck_assert_double_ge(grid[POINTS - 1], k->eigenvalues[k->n - 1]);
    double dx = grid[1] - grid[0];
    for (size_t i = 0; i < POINTS; i++)
        cdf[i] = (total += density[i] * dx);
    ck_assert_double_eq_tol(total, 1, 1e-12);
    double w1 = w1_to_values(grid, cdf, POINTS, k->eigenvalues, k->n);
    /* the quadrature's own measure, before broadening: its CDF at the grid */
    for (size_t i = 0; i < POINTS; i++) {
        double below = 0;
        for (size_t p = 0; p < probes; p++)
            for (size_t j = 0; j < slq.counts[p]; j++)
                below += slq.nodes[p * steps + j] <= grid[i] ? slq.weights[p * steps + j] : 0;
        cdf[i] = below / (double)probes;
    }
    *quad_w1 = w1_to_values(grid, cdf, POINTS, k->eigenvalues, k->n);
    free(grid), free(density), free(cdf);
    fp_slq_free(&slq);
    return w1;
}

START_TEST(density_recovers_a_known_spectrum)
{
    known k = known_spectrum();
    double spread = k.eigenvalues[k.n - 1] - k.eigenvalues[0], quad_few, quad_many;
    double few = density_w1(&k, 2, 40, 7, &quad_few), many = density_w1(&k, 40, 40, 7, &quad_many);
    fprintf(stderr, "density: n = %llu, spectrum [%.4g, %.4g]; W1 from the exact spectral measure, "
            "40 steps: 2 probes %.4g (quadrature %.4g), 40 probes %.4g (quadrature %.4g)\n",
            (unsigned long long)k.n, k.eigenvalues[0], k.eigenvalues[k.n - 1], few, quad_few, many,
            quad_many);
    ck_assert_double_lt(many, 0.01 * spread);
    ck_assert_double_lt(quad_many, 0.01 * spread);
    ck_assert_double_lt(many, few);   /* more probes, closer */
    known_free(&k);
}
END_TEST

/* ---------------------------------------------------------------- the command */

#define SPIRAL testdata("curvature/spiral.json")
#define SPIRAL_X testdata("curvature/spiral_x.npy")
#define SPIRAL_Y testdata("curvature/spiral_y.npy")

static run_result density(const char *out, const char *precision, const char *extra)
{
    return run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "-y", SPIRAL_Y, "--loss",
                   "logitcrossentropy", "--density", "--probes", "3", "--steps", "20", "--points",
                   "300", "--precision", precision, "-o", out, extra, NULL);
}

START_TEST(the_same_bytes_on_any_thread_count)
{
    static const char *const precisions[] = { "f32", "f64" }, *const threads[] = { "1", "2", "3" };
    for (int p = 0; p < 2; p++) {
        char first[4096];
        for (int t = 0; t < 3; t++) {
            char out[4096];
            snprintf(out, sizeof out, "%s", tmpfile_in(t ? "again.npy" : "first.npy"));
            setenv("OPENBLAS_NUM_THREADS", threads[t], 1);
            run_result r = density(out, precisions[p], NULL);
            unsetenv("OPENBLAS_NUM_THREADS");
            ck_assert_msg(r.status == 0, "%s", r.err);
            ck_assert_str_eq(r.err, "");   /* (no terminal: no progress) */
            run_free(&r);
            if (t == 0)
                snprintf(first, sizeof first, "%s", out);
            else
                assert_same_bytes(first, out);
        }
        double *table;
        int rank;
        uint64_t shape[8];
        ck_assert_uint_eq(read_npy_f64(first, &table, &rank, shape), 600);
        ck_assert(rank == 2 && shape[0] == 300 && shape[1] == 2);
        double area = 0, dx = table[2] - table[0];
        for (int i = 0; i < 300; i++) {
            ck_assert(table[2 * i + 1] >= 0);
            if (i)
                ck_assert_double_gt(table[2 * i], table[2 * i - 2]);
            area += table[2 * i + 1] * dx;
        }
        ck_assert_double_eq_tol(area, 1, p ? 1e-9 : 1e-3);
        free(table);
    }
    /* another seed, another estimate */
    run_result r = density(tmpfile_in("seed.npy"), "f64", "--seed=99");
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    r = density(tmpfile_in("default.npy"), "f64", "--seed=24301");   /* the default, named */
    run_free(&r);
    r = density(tmpfile_in("plain.npy"), "f64", NULL);
    run_free(&r);
    assert_same_bytes(tmpfile_in("default.npy"), tmpfile_in("plain.npy"));
    size_t a_len, b_len;
    char *a = read_file(tmpfile_in("seed.npy"), &a_len), *b = read_file(tmpfile_in("plain.npy"), &b_len);
    ck_assert(a_len == b_len && memcmp(a, b, a_len));
    free(a), free(b);
}
END_TEST

START_TEST(a_plot_for_png_and_svg)
{
    const char *png = tmpfile_in("density.png");
    run_result r = density(png, "f32", "--progress");
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_msg(strstr(r.err, "hessian: density estimated from 3 probes x 20 Lanczos steps, "
                                "Gaussians of sigma 0.00"), "%s", r.err);
    run_free(&r);
    t_image image = t_png_read(png);
    ck_assert_int_eq(image.width, FP_PLOT_WIDTH);
    ck_assert_int_eq(image.height, FP_PLOT_HEIGHT);
    int curve = 0, outside = 0;
    for (int y = 0; y < image.height; y++)
        for (int x = 0; x < image.width; x++) {
            int in = x > FP_PLOT_LEFT && x < FP_PLOT_WIDTH - FP_PLOT_RIGHT && y > FP_PLOT_TOP
                     && y < FP_PLOT_HEIGHT - FP_PLOT_BOTTOM;
            int close = t_colour_close(t_pixel(&image, x, y), FP_PLOT_LINE_RGB, 40);
            curve += close && in;
            outside += close && !in;
        }
    ck_assert_int_gt(curve, 300);
    ck_assert_int_eq(outside, 0);
    t_png_free(&image);
    r = density(tmpfile_in("density.svg"), "f32", NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    size_t len;
    char *svg = read_file(tmpfile_in("density.svg"), &len);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    free(svg);
}
END_TEST

START_TEST(density_errors_are_one_line)
{
    static const struct {
        const char *a, *b, *c, *needle;
    } bad[] = {
        { "--probes", "2", NULL, "--probes goes with --density" },
        { "--density", "--points", "1", "--points needs at least 2 grid points" },
        { "--density", "--sigma", "-1", "--sigma takes a positive number, got '-1'" },
        { "--density", "--seed", "x1", "--seed takes a number from 0 to" },
        { "--density", "--steps", "0", "option '--steps' needs a positive integer" },
        { "--trace", "-o", "t.png", "-o t.png: only --density is drawn as a plot" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_result r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, bad[i].a, bad[i].b,
                               bad[i].c, NULL);
        assert_usage_line(&r, bad[i].needle);
        run_free(&r);
    }
    run_result r = run_fpv(NULL, "hessian", SPIRAL, "-x", SPIRAL_X, "--density", "--exclude", "*",
                           "-q", NULL);
    assert_error_line(&r, "spiral.json: no parameters vary: the Hessian is 0 x 0 and has no spectrum");
    run_free(&r);
}
END_TEST

TCase *density_tcase(void)
{
    TCase *tc = tcase_create("density");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, density_recovers_a_known_spectrum);
    tcase_add_test(tc, the_same_bytes_on_any_thread_count);
    tcase_add_test(tc, a_plot_for_png_and_svg);
    tcase_add_test(tc, density_errors_are_one_line);
    return tc;
}
