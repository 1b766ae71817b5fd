/* The Hessian against PyTorch (testdata/hessian/, made by
 * testdata/make_hessian_fixtures.py from the cases of testdata/compute/), and
 * the hessian command end to end: the full matrix (exactly symmetric, in
 * several blocks), --rows, --hvp, --diag, --trace, --eigs, --hutchinson, the
 * output formats, and the error lines. */
#include "test_hessian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static double *load_npy(const char *path, uint64_t *count)
{
    double *values;
    size_t n = read_npy_f64(path, &values, NULL, NULL);
    ck_assert_msg(n != (size_t)-1, "cannot read %s", path);
    *count = n;
    return values;
}

static void read_matrix(const char *path, fp_matrix *m)
{
    fp_error err;
    ck_assert_msg(fp_matrix_read(path, NULL, FP_F64, FP_F64, m, &err) == 0, "%s", err.msg);
}

/* ---------------------------------------------------------------- PyTorch */

START_TEST(agrees_with_pytorch)
{
    FILE *list = fopen(testdata("compute/cases.txt"), "r");
    ck_assert_ptr_nonnull(list);
    char line[512];
    int cases = 0;
    while (fgets(line, sizeof line, list)) {
        char name[64], xn[64], yn[64], lossn[64], rel[160];
        int all, train;
        if (line[0] == '#' || sscanf(line, "%63s %63s %63s %63s %d %d", name, xn, yn, lossn, &all,
                                     &train) != 6)
            continue;
        fp_error err;
        fp_tree tree;
        snprintf(rel, sizeof rel, "compute/%s.json", name);
        ck_assert_msg(fp_tree_open(testdata(rel), &tree, &err) == 0, "%s", err.msg);
        fp_select sel = { .all = all };
        fp_layout layout;
        fp_net *net = t_net(tree.root, &sel, FP_F64, train, &layout);
        fp_loss loss;
        ck_assert_int_eq(fp_loss_parse(lossn, &loss), 0);
        fp_matrix x, y = { 0 };
        snprintf(rel, sizeof rel, "compute/%s", xn);
        read_matrix(testdata(rel), &x);
        if (strcmp(yn, "-")) {
            snprintf(rel, sizeof rel, "compute/%s", yn);
            read_matrix(testdata(rel), &y);
        }
        snprintf(rel, sizeof rel, "hessian/%s.hess.npy", name);
        uint64_t count, n = fp_net_n_params(net);
        double *want = load_npy(testdata(rel), &count), *H = malloc(n * n * sizeof *H);
        ck_assert_uint_eq(count, n * n);
        ck_assert_msg(fp_hessian_rows(net, &x, y.data ? &y : NULL, loss, 0, n, H, &err) == 0,
                      "%s: %s", name, err.msg);
        double rel_err = t_rel_diff(H, want, n * n);
        ck_assert_msg(rel_err < 1e-10, "%s: the Hessian differs from PyTorch by %.3g", name, rel_err);
        free(H), free(want), free(x.data), free(y.data);
        fp_net_free(net);
        fp_layout_free(&layout);
        fp_tree_free(&tree);
        cases++;
    }
    fclose(list);
    ck_assert_int_ge(cases, 30);
}
END_TEST

/* The seed model (f32 weights): in f64 to 1e-10, in its own f32 to 1e-5. */
START_TEST(seed_agrees_with_pytorch)
{
    uint64_t count;
    double *want = load_npy(testdata("hessian/seed.hess.npy"), &count), *got;
    ck_assert_uint_eq(count, 25);
    const char *out64 = tmpfile_in("seed64.npy"), *out32 = tmpfile_in("seed32.npy");
    run_result r = run_fpv(NULL, "hessian", testdata("seed.json"), "-x",
                           testdata("hessian/seed_x.npy"), "--precision", "f64", "-o", out64, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    ck_assert_uint_eq(read_npy_f64(out64, &got, NULL, NULL), 25);
    ck_assert_double_lt(t_rel_diff(got, want, 25), 1e-10);
    free(got);
    r = run_fpv(NULL, "hessian", testdata("seed.json"), "-x", testdata("hessian/seed_x.npy"), "-o",
                out32, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    ck_assert_uint_eq(read_npy_f64(out32, &got, NULL, NULL), 25);   /* float32 on disk */
    ck_assert_double_lt(t_rel_diff(got, want, 25), 1e-5);
    free(got);
    /* --eigs against numpy's eigvalsh */
    double *eigs = load_npy(testdata("hessian/seed.eigs.npy"), &count), *top;
    r = run_fpv(NULL, "hessian", testdata("seed.json"), "-x", testdata("hessian/seed_x.npy"),
                "--precision", "f64", "--eigs", "2", "--which", "LA", NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_uint_eq(parse_numbers(r.out, &top), 2);
    ck_assert_double_eq_tol(top[0], eigs[4], 1e-8 * fabs(eigs[4]));
    ck_assert_double_eq_tol(top[1], eigs[3], 1e-8 * fabs(eigs[4]));
    run_free(&r);
    free(top), free(eigs), free(want);
}
END_TEST

TCase *hessian_fixtures_tcase(void)
{
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, agrees_with_pytorch);
    tcase_add_test(tc, seed_agrees_with_pytorch);
    return tc;
}

/* ---------------------------------------------------------------- the command */

#define MODEL testdata("compute/loss_mse.json")
#define X testdata("compute/x.npy")
#define Y testdata("compute/y_real.npy")
enum { N = 4 * 6 + 6 + 6 * 3 + 3 };   /* that model's parameters */

/* Runs `hessian MODEL -x X -y Y --precision f64 ARGS...` and asserts success. */
#define HESS(...)                                                                         \
    do {                                                                                  \
        run_result r_ = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, "--precision", \
                                "f64", __VA_ARGS__, NULL);                                \
        ck_assert_msg(r_.status == 0, "exit %d: %s", r_.status, r_.err);                  \
        run_free(&r_);                                                                    \
    } while (0)

/* The full matrix, written in blocks of 7 rows (so several blocks and a short last one). */
static double *full_matrix(void)
{
    const char *out = tmpfile_in("full.npy");
    setenv("FLATPARAMS_BLOCK_ROWS", "7", 1);
    HESS("-o", out);
    unsetenv("FLATPARAMS_BLOCK_ROWS");
    double *H;
    int rank;
    uint64_t shape[8];
    ck_assert_uint_eq(read_npy_f64(out, &H, &rank, shape), N * N);
    ck_assert_int_eq(rank, 2);
    ck_assert_uint_eq(shape[0], N);
    return H;
}

START_TEST(full_matrix_is_exactly_symmetric_and_right)
{
    double *H = full_matrix(), *want;
    uint64_t count;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++)
            ck_assert_msg(H[i * N + j] == H[j * N + i], "H[%d,%d] != H[%d,%d]", i, j, j, i);
    want = load_npy(testdata("hessian/loss_mse.hess.npy"), &count);
    ck_assert_double_lt(t_rel_diff(H, want, N * N), 1e-10);
    /* the other formats hold the same numbers (with the same blocks: the
     * diagonal blocks' averages depend on where blocks start, to rounding) */
    static const char *const names[] = { "full.txt", "full.h5", "full.json" };
    for (int f = 0; f < 3; f++) {
        fp_matrix m;
        setenv("FLATPARAMS_BLOCK_ROWS", "7", 1);
        if (f == 0)   /* the scratch file of big matrices, its tiles and second
                       * pass 2 blocks (14 rows) wide: the same numbers */
            setenv("FLATPARAMS_SCRATCH_FILE", "2", 1);
        HESS("-o", tmpfile_in(names[f]));
        unsetenv("FLATPARAMS_BLOCK_ROWS");
        unsetenv("FLATPARAMS_SCRATCH_FILE");
        read_matrix(tmpfile_in(names[f]), &m);
        ck_assert_uint_eq(m.rows * m.cols, N * N);
        ck_assert_mem_eq(m.data, H, N * N * sizeof *H);
        free(m.data);
    }
    /* blocks of directions side by side on 1 and 3 threads (parts of other
     * sizes): the same matrix to rounding; twice on 3: the same bytes */
    double *by[3];
    static const char *const threads[] = { "1", "3", "3" };
    for (int t = 0; t < 3; t++) {
        const char *out = tmpfile_in("threads.npy");
        int rank;
        uint64_t shape[8];
        setenv("OPENBLAS_NUM_THREADS", threads[t], 1);
        setenv("FLATPARAMS_BLOCK_ROWS", "7", 1);
        HESS("-o", out);
        unsetenv("FLATPARAMS_BLOCK_ROWS");
        unsetenv("OPENBLAS_NUM_THREADS");
        ck_assert_uint_eq(read_npy_f64(out, &by[t], &rank, shape), N * N);
    }
    ck_assert_double_lt(t_rel_diff(by[0], by[1], N * N), 1e-13);
    ck_assert_mem_eq(by[1], by[2], N * N * sizeof *H);
    ck_assert_double_lt(t_rel_diff(by[0], H, N * N), 1e-13);
    free(by[0]), free(by[1]), free(by[2]);
    free(H), free(want);
}
END_TEST

START_TEST(rows_hvp_diag_trace_eigs_agree_with_the_matrix)
{
    double *H = full_matrix(), *got;
    fp_matrix m;
    HESS("--rows", "10:20", "-o", tmpfile_in("rows.npy"));
    ck_assert_uint_eq(read_npy_f64(tmpfile_in("rows.npy"), &got, NULL, NULL), 10 * N);
    ck_assert_double_lt(t_rel_diff(got, H + 10 * N, 10 * N), 1e-13);   /* as computed, unaveraged */
    free(got);
    HESS("--rows", ":3", "-o", tmpfile_in("head.npy"));
    ck_assert_uint_eq(read_npy_f64(tmpfile_in("head.npy"), &got, NULL, NULL), 3 * N);
    free(got);

    char v_text[N * 32] = "", *p = v_text;   /* --hvp with a text vector */
    double v[N], hv[N] = { 0 };
    t_seed(1800);
    for (int i = 0; i < N; i++)
        p += sprintf(p, "%.17g\n", v[i] = t_uniform(-1, 1));
    write_file(tmpfile_in("v.txt"), v_text, strlen(v_text));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            hv[i] += H[i * N + j] * v[j];
    HESS("--hvp", tmpfile_in("v.txt"), "-o", tmpfile_in("hv.npy"));
    ck_assert_uint_eq(read_npy_f64(tmpfile_in("hv.npy"), &got, NULL, NULL), N);
    ck_assert_double_lt(t_rel_diff(got, hv, N), 1e-12);
    free(got);

    double trace = 0;
    HESS("--diag", "-o", tmpfile_in("diag.txt"));
    read_matrix(tmpfile_in("diag.txt"), &m);
    ck_assert_uint_eq(m.rows, N);
    for (int i = 0; i < N; i++) {
        ck_assert_double_eq(((double *)m.data)[i], H[i * N + i]);
        trace += H[i * N + i];
    }
    free(m.data);
    HESS("--trace", "-o", tmpfile_in("trace.txt"));
    read_matrix(tmpfile_in("trace.txt"), &m);
    ck_assert_double_eq_tol(((double *)m.data)[0], trace, 1e-13 * fabs(trace));
    free(m.data);
    HESS("--hutchinson", "2000", "-o", tmpfile_in("hutch.txt"));
    read_matrix(tmpfile_in("hutch.txt"), &m);
    ck_assert(isfinite(((double *)m.data)[0]));
    free(m.data);

    double ref[N];
    t_jacobi_eigenvalues(H, N, ref);
    double top = fmax(fabs(ref[0]), fabs(ref[N - 1]));
    HESS("--eigs", "4", "-o", tmpfile_in("eigs.txt"));
    read_matrix(tmpfile_in("eigs.txt"), &m);
    for (int i = 0, lo = 0, hi = N - 1; i < 4; i++) {
        double want = fabs(ref[lo]) > fabs(ref[hi]) ? ref[lo++] : ref[hi--];
        ck_assert_double_eq_tol(((double *)m.data)[i], want, 1e-8 * top);
    }
    free(m.data);
    HESS("--eigs", "3", "--which", "SA", "-o", tmpfile_in("sa.txt"));
    read_matrix(tmpfile_in("sa.txt"), &m);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(((double *)m.data)[i], ref[i], 1e-8 * top);
    free(m.data);
    free(H);
}
END_TEST

START_TEST(errors_are_one_line)
{
    static const struct {
        const char *opt, *value, *needle;
        int usage;   /* the option's text is wrong (exit 2), not the model's answer (1) */
    } bad[] = {
        { "--rows", "5:3", "after the end", 1 },
        { "--rows", "0:999", "0:51", 0 },
        { "--rows", "52:", "0:51", 0 },
        { "--rows", "abc", "A:B", 1 },
        { "--rows", "-1:3", "not a row number", 1 },
        { "--eigs", "52", "at most 51", 0 },
        { "--eigs", "0", "positive integer", 1 },
        { "--hutchinson", "0", "positive integer", 1 },
        { "--format", "docx", "unknown --format", 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, bad[i].opt, bad[i].value,
                               NULL);
        if (bad[i].usage)
            assert_usage_line(&r, bad[i].needle);
        else
            assert_error_line(&r, bad[i].needle);
        run_free(&r);
    }
    write_file(tmpfile_in("short.txt"), "1\n2\n3\n", 6);
    run_result r = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, "--hvp",
                           tmpfile_in("short.txt"), NULL);
    assert_error_line(&r, "expected a vector of length 51, got 3");
    run_free(&r);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, "--diag", "--trace", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", Y, "--eigs", "2", "--which", "XX", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
    /* the full matrix's output is opened first: a bad -o fails before the work
     * (naming it, not a bad -x), and a bad -y after it leaves no temporary */
    r = run_fpv(NULL, "hessian", MODEL, "-x", "/nonexistent-fp/x.npy", "-o",
                "/nonexistent-fp/H.npy", NULL);
    assert_error_line(&r, "/nonexistent-fp/H.npy: ");
    run_free(&r);
    const char *dir = tmpdir();
    char out[4096];
    snprintf(out, sizeof out, "%s/H.npy", dir);
    r = run_fpv(NULL, "hessian", MODEL, "-x", X, "-y", tmpfile_in("short.txt"), "-o", out, NULL);
    assert_error_line(&r, "short.txt");
    run_free(&r);
    ck_assert_int_eq(dir_count(dir), 0);
}
END_TEST

/* Nothing selected: the 0 x 0 matrix (torch.autograd.functional.hessian's
 * answer for an empty input), not a crash; the other modes likewise empty. */
START_TEST(no_parameters_empty_results)
{
    const char *out = tmpfile_in("empty.npy");
    HESS("--exclude", "*", "-o", out);
    double *H;
    int rank;
    uint64_t shape[8];
    ck_assert_uint_eq(read_npy_f64(out, &H, &rank, shape), 0);
    ck_assert_int_eq(rank, 2);
    ck_assert(shape[0] == 0 && shape[1] == 0);
    free(H);
    HESS("--exclude", "*", "--diag", "-o", out);
    ck_assert_uint_eq(read_npy_f64(out, &H, &rank, shape), 0);
    ck_assert(rank == 1 && shape[0] == 0);
    free(H);
}
END_TEST

TCase *hessian_cli_tcase(void)
{
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_matrix_is_exactly_symmetric_and_right);
    tcase_add_test(tc, rows_hvp_diag_trace_eigs_agree_with_the_matrix);
    tcase_add_test(tc, errors_are_one_line);
    tcase_add_test(tc, no_parameters_empty_results);
    return tc;
}
