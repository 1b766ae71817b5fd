/* Loss landscapes (fp_landscape_random, fp_landscape_grid, flatparams
 * landscape): each value is the loss of the model rebuilt at that point
 * (rebuild, then predict and the mse computed here); random directions are
 * filter-normalised as Li et al. (checked filter by filter); eigen directions
 * are --eigvecs' vectors; θ is restored bit for bit; the plots; the errors. */
#include "test_curvature.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/fp_curvature.h"
#include "harness.h"

#define MODEL testdata("compute/loss_mse.json")
#define X testdata("compute/x.npy")
#define Y testdata("compute/y_real.npy")
enum { N = 51 };

static void write_vector(const char *path, const double *v, size_t n)
{
    char *text = malloc(n * 32 + 1), *p = text;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%.17g\n", v[i]);
    write_file(path, text, (size_t)(p - text));
    free(text);
}

static double *run_values(const char *const *argv, size_t want, int *rank, uint64_t *shape)
{
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(r.status == 0, "%s: %s", argv[0], r.err);
    run_free(&r);
    double *values;
    const char *out = NULL;
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], "-o"))
            out = argv[i + 1];
    ck_assert_uint_eq(read_npy_f64(out, &values, rank, shape), want);
    return values;
}

START_TEST(values_are_the_loss_of_the_rebuilt_model)
{
    double theta[N], d[2][N];
    const char *flat_argv[] = { "flatten", MODEL, "-o", tmpfile_in("theta.npy"), NULL };
    double *got = run_values(flat_argv, N, NULL, NULL);
    memcpy(theta, got, sizeof theta);
    free(got);
    t_seed(2018);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++)
            d[k][i] = t_uniform(-0.5, 0.5);
    write_vector(tmpfile_in("d1.txt"), d[0], N);
    write_vector(tmpfile_in("d2.npy.txt"), d[1], N);
    char dirs[8300];
    snprintf(dirs, sizeof dirs, "%s,%s", tmpfile_in("d1.txt"), tmpfile_in("d2.npy.txt"));
    const char *argv[] = { "landscape", MODEL, "-x", X, "-y", Y, "--directions", dirs, "--points",
                           "3", "--range", "-0.5:0.5", "--precision", "f64", "-o",
                           tmpfile_in("grid.npy"), NULL };
    int rank;
    uint64_t shape[8];
    double *table = run_values(argv, 27, &rank, shape);
    ck_assert(rank == 2 && shape[0] == 9 && shape[1] == 3);
    double *y;
    ck_assert_uint_eq(read_npy_f64(Y, &y, NULL, NULL), 15);   /* 5 samples x 3 outputs */
    for (int row = 0; row < 9; row++) {
        double a = table[row * 3], b = table[row * 3 + 1], point[N];
        ck_assert_double_eq(a, -0.5 + 0.5 * (row / 3));   /* a the outer loop */
        ck_assert_double_eq(b, -0.5 + 0.5 * (row % 3));
        for (int i = 0; i < N; i++)
            point[i] = theta[i] + a * d[0][i] + b * d[1][i];
        write_vector(tmpfile_in("point.txt"), point, N);
        run_result r = run_fpv(NULL, "rebuild", MODEL, tmpfile_in("point.txt"), "-o",
                               tmpfile_in("moved.json"), NULL);
        ck_assert_msg(r.status == 0, "%s", r.err);
        run_free(&r);
        const char *predict[] = { "predict", tmpfile_in("moved.json"), "-x", X, "-o",
                                  tmpfile_in("out.npy"), NULL };
        double *out = run_values(predict, 15, NULL, NULL), mse = 0;
        for (int i = 0; i < 15; i++)
            mse += (out[i] - y[i]) * (out[i] - y[i]) / 15;
        ck_assert_msg(fabs(table[row * 3 + 2] - mse) <= 1e-12 * mse, "(%g, %g): %.17g, rebuilt %.17g",
                      a, b, table[row * 3 + 2], mse);
        free(out);
    }
    free(table), free(y);
}
END_TEST

/* A Flux Dense (weight out x in), a Keras Dense (kernel in x out), a BatchNorm. */
START_TEST(random_directions_are_filter_normalised)
{
    t_seed(2019);
    fp_node *keras = t_layer("Dense");
    t_put(keras, "kernel", t_array(4, 3, -1, 1));
    t_put(keras, "bias", t_array(3, 0, -0.2, 0.2));
    static const char *const keys[4] = { "gamma", "beta", "mean", "var" };
    fp_node *root = t_chain(t_dense(5, 4, "tanh"), keras, t_batchnorm(3, NULL, keys), NULL);
    fp_layout layout;
    fp_net *net = t_net(root, NULL, FP_F64, 0, &layout);
    uint64_t n = fp_net_n_params(net);
    double *dirs = malloc(2 * n * sizeof *dirs), *again = malloc(2 * n * sizeof *again);
    const double *theta = fp_net_params(net);
    fp_error err;
    ck_assert_msg(fp_landscape_random(net, &layout, 2, 7, dirs, &err) == 0, "%s", err.msg);
    int filters = 0;
    for (int k = 0; k < 2; k++) {
        const double *v = dirs + k * n;
        for (size_t a = 0; a < layout.n_params; a++) {
            const fp_param *p = &layout.params[a];
            const char *key = strrchr(p->path, '/') + 1;
            uint64_t rows = p->node->rank == 2 ? p->node->shape[0] : 1;
            uint64_t cols = p->node->rank == 2 ? p->node->shape[1] : p->n_elems;
            int by_row = !strcmp(key, "weight"), by_column = !strcmp(key, "kernel");
            uint64_t count = by_row ? rows : by_column ? cols : 1;
            for (uint64_t f = 0; f < count; f++) {
                double have = 0, want = 0;
                for (uint64_t i = 0; i < p->n_elems; i++) {
                    int in = by_row ? i / cols == f : by_column ? i % cols == f : 1;
                    have += in ? v[p->offset + i] * v[p->offset + i] : 0;
                    want += in ? theta[p->offset + i] * theta[p->offset + i] : 0;
                }
                ck_assert_msg(fabs(sqrt(have) - sqrt(want)) <= 1e-12 * sqrt(want),
                              "%s filter %llu: norm %.17g, θ's %.17g", p->path,
                              (unsigned long long)f, sqrt(have), sqrt(want));
                filters++;
            }
        }
        /* not θ itself, nor the other direction */
        double dot = 0, self = 0, other = 0;
        for (uint64_t i = 0; i < n; i++) {
            dot += v[i] * dirs[(1 - k) * n + i];
            self += v[i] * v[i];
            other += theta[i] * v[i];
        }
        ck_assert_double_lt(fabs(dot) / self, 0.9);
        ck_assert_double_lt(fabs(other) / self, 0.9);
    }
    ck_assert_int_eq(filters, 2 * (4 + 1 + 3 + 1 + 1 + 1));   /* rows, bias, columns, bias, γ, β */
    ck_assert(fp_landscape_random(net, &layout, 2, 7, again, &err) == 0);
    ck_assert_mem_eq(again, dirs, 2 * n * sizeof *dirs);   /* a seed: the same directions */
    ck_assert(fp_landscape_random(net, &layout, 2, 8, again, &err) == 0);
    ck_assert(memcmp(again, dirs, 2 * n * sizeof *dirs));
    /* the grid puts θ back, bit for bit */
    double *before = malloc(n * sizeof *before), coords[3] = { -1, 0, 1 }, losses[9];
    memcpy(before, theta, n * sizeof *before);
    fp_matrix x = t_matrix(8, 5, -1, 1);
    ck_assert(fp_landscape_grid(net, &x, NULL, FP_LOSS_SUMSQ, dirs, 2, coords, 3, losses, NULL,
                                NULL, &err) == 0);
    ck_assert_mem_eq(fp_net_params(net), before, n * sizeof *before);
    double at_theta;
    ck_assert(fp_loss_value(net, &x, NULL, FP_LOSS_SUMSQ, &at_theta, &err) == 0);
    ck_assert_double_eq(losses[4], at_theta);   /* (0, 0) is θ */
    free(x.data), free(before), free(dirs), free(again);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(root);
}
END_TEST

START_TEST(eigen_directions_are_the_eigenvectors)
{
    const char *eigs[] = { "hessian", MODEL, "-x", X, "-y", Y, "--precision", "f64", "--eigs", "1",
                           "--eigvecs", tmpfile_in("v.npy"), "-o", tmpfile_in("l.npy"), NULL };
    free(run_values(eigs, 1, NULL, NULL));
    const char *given[] = { "landscape", MODEL, "-x", X, "-y", Y, "--precision", "f64",
                            "--directions", tmpfile_in("v.npy"), "--points", "5", "-o",
                            tmpfile_in("given.npy"), NULL };
    const char *eigen[] = { "landscape", MODEL, "-x", X, "-y", Y, "--precision", "f64",
                            "--directions", "eigen", "--dims", "1", "--points", "5", "-o",
                            tmpfile_in("eigen.npy"), NULL };
    free(run_values(given, 10, NULL, NULL));
    free(run_values(eigen, 10, NULL, NULL));
    assert_same_bytes(tmpfile_in("given.npy"), tmpfile_in("eigen.npy"));
}
END_TEST

START_TEST(plots_and_thread_counts)
{
    const char *png = tmpfile_in("landscape.png");
    run_result r = run_fpv(NULL, "landscape", MODEL, "-x", X, "-y", Y, "--points", "15", "-o", png,
                           NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    t_image image = t_png_read(png);
    ck_assert(image.width == FP_PLOT_WIDTH && image.height == FP_PLOT_HEIGHT);
    int levels_seen = 0;
    for (size_t k = 0; k < 12; k++) {
        unsigned colour = fp_plot_level_rgb(k, 12);
        int seen = 0;
        for (int y = FP_PLOT_TOP + 2; y < FP_PLOT_HEIGHT - FP_PLOT_BOTTOM - 2 && !seen; y++)
            for (int x = FP_PLOT_LEFT + 2; x < FP_PLOT_WIDTH - FP_PLOT_RIGHT_BAR - 2 && !seen; x++)
                seen = t_colour_close(t_pixel(&image, x, y), colour, 12);
        levels_seen += seen;
    }
    ck_assert_int_ge(levels_seen, 8);
    ck_assert_int_gt(t_colour_near(&image, t_contour_frame_x(0.5), t_frame_y(0.5), 1, 0, 40), 0);
    t_png_free(&image);
    r = run_fpv(NULL, "landscape", MODEL, "-x", X, "-y", Y, "--dims", "1", "-o", png, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    image = t_png_read(png);
    int curve = 0;
    for (int y = 0; y < image.height; y++)
        for (int x = 0; x < image.width; x++)
            curve += t_colour_close(t_pixel(&image, x, y), FP_PLOT_LINE_RGB, 40);
    ck_assert_int_gt(curve, 300);
    t_png_free(&image);
    /* the random directions, and so the table, the same on 1 and 3 threads */
    static const char *const threads[] = { "1", "3" }, *const outs[] = { "t1.npy", "t3.npy" };
    for (int t = 0; t < 2; t++) {
        setenv("OPENBLAS_NUM_THREADS", threads[t], 1);
        r = run_fpv(NULL, "landscape", MODEL, "-x", X, "-y", Y, "--seed", "3", "-o",
                    tmpfile_in(outs[t]), NULL);
        unsetenv("OPENBLAS_NUM_THREADS");
        ck_assert_msg(r.status == 0, "%s", r.err);
        run_free(&r);
    }
    assert_same_bytes(tmpfile_in(outs[0]), tmpfile_in(outs[1]));
}
END_TEST

START_TEST(landscape_errors_are_one_line)
{
    static const struct {
        const char *a, *b, *needle;
    } usage[] = {
        { "--dims", "3", "--dims takes 1 or 2, got 3" },
        { "--range", "1:0", "--range takes A:B with A < B, got '1:0'" },
        { "--range", "0:x", "--range takes A:B with A < B, got '0:x'" },
        { "--directions", "a,b,c", "--directions takes random, eigen, or one or two vector files" },
        { "--points", "1", "--points needs at least 2 grid points, got 1" },
        { "--directions", "eigen --seed", NULL },
    };
    for (size_t i = 0; i + 1 < sizeof usage / sizeof *usage; i++) {
        run_result r = run_fpv(NULL, "landscape", MODEL, "-x", X, "-y", Y, usage[i].a, usage[i].b,
                               NULL);
        assert_usage_line(&r, usage[i].needle);
        run_free(&r);
    }
    run_result r = run_fpv(NULL, "landscape", MODEL, "-x", X, "--directions", "eigen", "--seed",
                           "4", NULL);
    assert_usage_line(&r, "--seed goes with --directions random");
    run_free(&r);
    write_file(tmpfile_in("short.txt"), "1\n2\n3\n", 6);
    r = run_fpv(NULL, "landscape", MODEL, "-x", X, "--directions", tmpfile_in("short.txt"), "--dims",
                "2", NULL);
    assert_usage_line(&r, "--dims 2, but --directions names 1 file");
    run_free(&r);
    r = run_fpv(NULL, "landscape", MODEL, "-x", X, "-y", Y, "--directions", tmpfile_in("short.txt"),
                NULL);
    assert_error_line(&r, "short.txt: expected a direction of length 51, got 3");
    run_free(&r);
    r = run_fpv(NULL, "landscape", MODEL, NULL);
    assert_usage_line(&r, "missing -x X");
    run_free(&r);
    r = run_fpv(NULL, "landscape", MODEL, "-x", X, "--exclude", "*", NULL);
    assert_error_line(&r, "no parameters vary: a landscape needs at least one");
    run_free(&r);
}
END_TEST

TCase *landscape_tcase(void)
{
    TCase *tc = tcase_create("landscape");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, values_are_the_loss_of_the_rebuilt_model);
    tcase_add_test(tc, random_directions_are_filter_normalised);
    tcase_add_test(tc, eigen_directions_are_the_eigenvectors);
    tcase_add_test(tc, plots_and_thread_counts);
    tcase_add_test(tc, landscape_errors_are_one_line);
    return tc;
}
