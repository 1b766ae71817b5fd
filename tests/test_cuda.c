/* The CUDA backend against the CPU backend, for every layer, activation and
 * loss (the models of the finite-difference suites), in float64 and float32:
 * predictions, the loss, the gradient, H V for random directions, rows of H
 * (unit directions, made on the device), the upper triangle's rows, and
 * blocks of rows pipelined (computed while the previous block is copied). The
 * two backends run the same passes (passes.c, tangent_pass.c) over different
 * kernels, so they agree to rounding: 1e-10 relative in f64, 1e-4 in f32.
 * Rows of H run both ways a Dense weight's rows can come (see compare).
 * Without a usable GPU (or a build without CUDA) the suite exits 77: skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test_compute.h"

enum { DIRS = 4 };

static double *to_f64(const void *data, fp_dtype dtype, uint64_t count)
{
    double *out = malloc((count ? count : 1) * sizeof *out);
    fp_convert(out, FP_F64, data, dtype, count, NULL);
    return out;
}

static fp_net *build(const fp_node *root, const fp_layout *layout, fp_dtype precision, int train,
                     const char *device)
{
    fp_error err;
    fp_net_options opts = { .precision = precision, .train_mode = train, .device = device };
    fp_net *net;
    ck_assert_msg(fp_net_build(&net, root, layout, &opts, &err) == 0, "%s", err.msg);
    return net;
}

static void close_enough(const void *gpu, const void *cpu, fp_dtype dtype, uint64_t count,
                         double tol, const char *what, const char *part)
{
    double *g = to_f64(gpu, dtype, count), *c = to_f64(cpu, dtype, count);
    double rel = t_rel_diff(g, c, count);
    ck_assert_msg(rel <= tol, "%s, %s (%s): GPU and CPU differ by %.3g relative", what, part,
                  fp_dtype_name(dtype), rel);
    free(g), free(c);
}

/* A sink gathering blocks of rows into one matrix, counting the blocks a GPU
 * delivered in its own (pinned) memory, which is its pipelined path. */
typedef struct gather {
    char *H;
    uint64_t n;
    size_t elem;
    int blocks, own_memory;
} gather;

static void *gather_where(void *ctx, uint64_t at, uint64_t stop)
{
    gather *g = ctx;
    (void)stop;
    return g->H + at * g->n * g->elem;
}

static int gather_ready(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err)
{
    gather *g = ctx;
    (void)err;
    g->blocks++;
    if (rows != gather_where(ctx, at, stop)) {
        g->own_memory++;
        memcpy(gather_where(ctx, at, stop), rows, (stop - at) * g->n * g->elem);
    }
    return 0;
}

static void compare_one(const fp_node *root, const fp_select *sel, int train, const fp_matrix *x,
                        const fp_matrix *y, fp_loss loss, const char *what, fp_dtype precision)
{
    fp_error err;
    fp_layout layout;
    ck_assert_msg(fp_layout_build(root, sel, &layout, &err) == 0, "%s", err.msg);
    fp_net *cpu = build(root, &layout, precision, train, "cpu");
    fp_net *gpu = build(root, &layout, precision, train, "cuda");
    double tol = precision == FP_F64 ? 1e-10 : 1e-4;
    uint64_t n = fp_net_n_params(cpu);
    size_t elem = fp_dtype_size(precision);

    fp_matrix pc, pg;
    ck_assert_msg(fp_predict(cpu, x, &pc, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_predict(gpu, x, &pg, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(pg.rows * pg.cols, pc.rows * pc.cols);
    close_enough(pg.data, pc.data, precision, pc.rows * pc.cols, tol, what, "predict");
    free(pc.data), free(pg.data);

    void *gc = malloc(n * elem + 1), *gg = malloc(n * elem + 1);
    double vc, vg;
    ck_assert_msg(fp_gradient(cpu, x, y, loss, gc, &vc, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_gradient(gpu, x, y, loss, gg, &vg, &err) == 0, "%s", err.msg);
    ck_assert_msg(fabs(vg - vc) <= tol * fmax(1, fabs(vc)), "%s: loss %.17g (GPU) vs %.17g", what,
                  vg, vc);
    close_enough(gg, gc, precision, n, tol, what, "gradient");

    double *V64 = malloc(DIRS * n * sizeof *V64);
    for (uint64_t i = 0; i < DIRS * n; i++)
        V64[i] = t_uniform(-1, 1);
    void *V = malloc(DIRS * n * elem), *hc = malloc(n * n * elem + 1), *hg = malloc(n * n * elem + 1);
    fp_convert(V, precision, V64, FP_F64, DIRS * n, NULL);
    ck_assert_msg(fp_hvp(cpu, x, y, loss, V, DIRS, hc, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_hvp(gpu, x, y, loss, V, DIRS, hg, &err) == 0, "%s", err.msg);
    close_enough(hg, hc, precision, DIRS * n, tol, what, "H V");

    ck_assert_msg(fp_hessian_rows(cpu, x, y, loss, 0, n, hc, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_hessian_rows(gpu, x, y, loss, 0, n, hg, &err) == 0, "%s", err.msg);
    close_enough(hg, hc, precision, n * n, tol, what, "rows of H");
    /* the upper triangle's rows from the middle: columns >= begin as the CPU's */
    uint64_t begin = n / 2;
    ck_assert(fp_hessian_rows_from(cpu, x, y, loss, begin, n, begin, hc, &err) == 0);
    ck_assert(fp_hessian_rows_from(gpu, x, y, loss, begin, n, begin, hg, &err) == 0);
    for (uint64_t r = 0; r < n - begin; r++)
        close_enough((char *)hg + (r * n + begin) * elem, (char *)hc + (r * n + begin) * elem,
                     precision, n - begin, tol, what, "upper rows");
    /* blocks of 5 upper-triangle rows through fp_hessian_row_blocks: the GPU's
     * pipelined path (two blocks in flight), columns >= each block's first row */
    gather gg_ = { hg, n, elem, 0, 0 };
    fp_row_sink sink = { gather_where, gather_ready, &gg_ };
    ck_assert_msg(fp_hessian_row_blocks(gpu, x, y, loss, 0, n, 5, FP_ROWS_UPPER, &sink, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(gg_.blocks, (int)((n + 4) / 5));
    ck_assert_int_eq(gg_.own_memory, gg_.blocks);
    ck_assert(fp_hessian_rows(cpu, x, y, loss, 0, n, hc, &err) == 0);
    for (uint64_t r = 0; r < n; r++)   /* left of each block: not computed, not compared */
        for (uint64_t c = 0; c < r / 5 * 5; c++) {
            memset((char *)hg + (r * n + c) * elem, 0, elem);
            memset((char *)hc + (r * n + c) * elem, 0, elem);
        }
    /* as a whole, relative to its largest entry: some rows are zero but for
     * rounding (a bias before a BatchNorm in training mode) */
    close_enough(hg, hc, precision, n * n, tol, what, "pipelined blocks of rows");
    /* the whole matrix symmetrised on the GPU (blocks of 5): exactly symmetric,
     * and the CPU's full rows to rounding */
    gather whole = { hg, n, elem, 0, 0 };
    sink.ctx = &whole;
    ck_assert_msg(fp_hessian_full_on_device(gpu, x, y, loss, 5, &sink, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(whole.blocks, (int)((n + 4) / 5));
    for (uint64_t r = 0; r < n; r++)
        for (uint64_t c = 0; c < r; c++)
            ck_assert_msg(!memcmp((char *)hg + (r * n + c) * elem, (char *)hg + (c * n + r) * elem,
                                  elem), "%s: the GPU's matrix is not symmetric at %llu,%llu",
                          what, (unsigned long long)r, (unsigned long long)c);
    ck_assert(fp_hessian_rows(cpu, x, y, loss, 0, n, hc, &err) == 0);
    close_enough(hg, hc, precision, n * n, tol, what, "whole matrix on the GPU");
    /* copied out in pieces of 2 rows (each block's 5 in 2 + 2 + 1): the same bytes */
    gather pieces = { hc, n, elem, 0, 0 };
    sink.ctx = &pieces;
    setenv("FLATPARAMS_COPY_ROWS", "2", 1);
    ck_assert_msg(fp_hessian_full_on_device(gpu, x, y, loss, 5, &sink, &err) == 0, "%s", err.msg);
    unsetenv("FLATPARAMS_COPY_ROWS");
    ck_assert_int_eq(pieces.blocks, (int)(n / 5 * 3 + (n % 5 + 1) / 2));
    ck_assert_msg(!memcmp(hc, hg, n * n * elem), "%s: pieces of 2 rows differ from blocks", what);
    ck_assert_int_eq(fp_hessian_full_on_device(cpu, x, y, loss, 5, &sink, &err), 1);
    free(V64), free(V), free(hc), free(hg), free(gc), free(gg);
    fp_net_free(cpu), fp_net_free(gpu);
    fp_layout_free(&layout);
}

/* Both backends with a Dense weight's rows from its neurons' tangents
 * (FLATPARAMS_NEURON_ROWS=1, the host's default) and from plain passes (0, the
 * GPU's default until measured): f64 both ways, f32 the first. */
static void compare(const fp_node *root, const fp_select *sel, int train, const fp_matrix *x,
                    const fp_matrix *y, fp_loss loss, const char *what)
{
    setenv("FLATPARAMS_NEURON_ROWS", "1", 1);
    compare_one(root, sel, train, x, y, loss, what, FP_F64);
    compare_one(root, sel, train, x, y, loss, what, FP_F32);
    setenv("FLATPARAMS_NEURON_ROWS", "0", 1);
    compare_one(root, sel, train, x, y, loss, what, FP_F64);
    unsetenv("FLATPARAMS_NEURON_ROWS");
}

START_TEST(activations_agree)
{
    t_fd_activation(t_activations[_i], t_activations[_i], 2100 + (uint64_t)_i, compare);
}
END_TEST

START_TEST(losses_agree)
{
    t_fd_loss_case(_i, 2200 + (uint64_t)_i, compare);
}
END_TEST

START_TEST(norm_layers_agree)
{
    t_fd_norm_cases(2300, compare);
}
END_TEST

START_TEST(structures_agree)
{
    t_fd_structure_cases(2400, compare);
}
END_TEST

/* A bigger batch than T_BATCH, so every kernel's grid has several blocks. */
START_TEST(a_wide_batch_agrees)
{
    t_seed(2500);
    fp_matrix x = t_matrix(700, 12, -2, 2), y = t_matrix(700, 5, -1, 1);
    fp_node *model = t_chain(t_dense(12, 40, "tanh"), t_dense(40, 30, "gelu"), t_dense(30, 5, NULL),
                             NULL);
    compare(model, NULL, 0, &x, &y, FP_LOSS_MSE, "MLP 12-40-30-5, batch 700");
    fp_node_release(model);
    free(x.data), free(y.data);
}
END_TEST

/* A GPU with little free memory (the CPU emulation's, FLATPARAMS_CUDA_EMULATE_MIB;
 * a real GPU's cannot be set, so the test runs only on the emulation): the
 * passes shrink to fit it instead of failing, and the whole matrix, too big for
 * it, is left to the host (1, no error). */
START_TEST(a_small_gpu_takes_small_passes)
{
    setenv("FLATPARAMS_CUDA_EMULATE_MIB", "2", 1);   /* before the backend opens */
    t_seed(2600);
    fp_matrix x = t_matrix(64, 12, -2, 2), y = t_matrix(64, 5, -1, 1);
    fp_node *model = t_chain(t_dense(12, 40, "tanh"), t_dense(40, 30, "gelu"), t_dense(30, 5, NULL),
                             NULL);
    fp_layout layout;
    fp_error err;
    ck_assert(fp_layout_build(model, NULL, &layout, &err) == 0);
    fp_net *cpu = build(model, &layout, FP_F64, 0, "cpu"), *gpu = build(model, &layout, FP_F64, 0, "cuda");
    uint64_t n = fp_net_n_params(cpu);
    /* a pass's scratch: a quarter of the 2 MiB, not the 4 GiB a big GPU gets */
    ck_assert_uint_lt(fp_hessian_block(gpu, &x, FP_HESSIAN_BLOCK_BYTES), n);
    double *hc = malloc(n * n * sizeof *hc), *hg = malloc(n * n * sizeof *hg);
    ck_assert_msg(fp_hessian_rows(cpu, &x, &y, FP_LOSS_MSE, 0, n, hc, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_hessian_rows(gpu, &x, &y, FP_LOSS_MSE, 0, n, hg, &err) == 0, "%s", err.msg);
    close_enough(hg, hc, FP_F64, n * n, 1e-10, "2 MiB GPU", "rows of H");
    gather whole = { (char *)hg, n, sizeof *hg, 0, 0 };
    fp_row_sink sink = { gather_where, gather_ready, &whole };
    ck_assert_int_eq(fp_hessian_full_on_device(gpu, &x, &y, FP_LOSS_MSE, 64, &sink, &err), 1);
    ck_assert_int_eq(whole.blocks, 0);
    ck_assert_msg(fp_hessian_rows(gpu, &x, &y, FP_LOSS_MSE, 0, 3, hg, &err) == 0, "%s", err.msg);
    free(hc), free(hg);
    fp_net_free(cpu), fp_net_free(gpu);
    fp_layout_free(&layout);
    fp_node_release(model);
    free(x.data), free(y.data);
}
END_TEST

/* The command end to end: `hessian --device cuda` opens its output before the
 * GPU starts and allocates it meanwhile; the file is the same, byte for byte,
 * as without that, and agrees with the CPU's. A bad -x found after the output
 * was opened leaves nothing behind. */
START_TEST(the_command_writes_the_same_matrix)
{
    const char *model = write_tmp("m.json",
        "{\"type\": \"Chain\", \"layers\": ["
        "{\"type\": \"Dense\", \"weight\": [[0.3, -0.2, 0.5], [0.1, 0.4, -0.6], [-0.3, 0.2, 0.7],"
        " [0.9, -0.1, 0.2]], \"bias\": [0.1, -0.2, 0.3, 0.0], \"activation\": \"tanh\"},"
        "{\"type\": \"Dense\", \"weight\": [[0.5, -0.4, 0.3, 0.2], [-0.1, 0.6, 0.2, -0.3]],"
        " \"bias\": [0.05, -0.05]}]}");
    const char *x = write_tmp("x.txt", "1 2 3\n-1 0.5 2\n0.3 -0.7 1\n2 1 -1\n0 0 1\n");
    const char *y = write_tmp("y.txt", "0.5 -1\n1 0\n-0.5 0.5\n0 1\n1 1\n");
    const char *dir = tmpdir();
    char out[3][4096];
    static const char *const names[] = { "ahead.npy", "plain.npy", "cpu.npy" };
    for (int i = 0; i < 3; i++) {
        snprintf(out[i], sizeof out[i], "%s/%s", dir, names[i]);
        const char *argv[] = { "hessian", model, "-x", x, "-y", y, "--device", i < 2 ? "cuda" : "cpu",
                               "-o", out[i], NULL };
        if (i == 1)
            setenv("FLATPARAMS_NO_PREALLOCATE", "1", 1);
        run_result r = run_fp(NULL, 0, argv);
        unsetenv("FLATPARAMS_NO_PREALLOCATE");
        ck_assert_msg(r.status == 0, "%s: %s", names[i], r.err);
        run_free(&r);
    }
    size_t len[3];
    char *bytes[3];
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(bytes[i] = read_file(out[i], &len[i]));
    ck_assert_uint_eq(len[0], 128 + 26 * 26 * 8);   /* n = 26, float64 */
    ck_assert_uint_eq(len[1], len[0]);
    ck_assert(!memcmp(bytes[0], bytes[1], len[0]));
    ck_assert_uint_eq(len[2], len[0]);
    const double *g = (const double *)(bytes[0] + 128), *c = (const double *)(bytes[2] + 128);
    for (int i = 0; i < 26 * 26; i++)
        ck_assert_msg(fabs(g[i] - c[i]) <= 1e-10 * (1 + fabs(c[i])), "entry %d: %g vs %g", i,
                      g[i], c[i]);
    for (int i = 0; i < 3; i++)
        free(bytes[i]);
    ck_assert_int_eq(dir_count(dir), 3);
    /* -x is read after the output is opened: its error leaves no temporary */
    char missing[4096], target[4096];
    snprintf(missing, sizeof missing, "%s/missing.npy", dir);
    snprintf(target, sizeof target, "%s/H.npy", dir);
    const char *bad[] = { "hessian", model, "-x", missing, "--device", "cuda", "-o", target, NULL };
    run_result r = run_fp(NULL, 0, bad);
    assert_error_line(&r, missing);
    run_free(&r);
    ck_assert_int_eq(dir_count(dir), 3);
}
END_TEST

/* 1 when the CUDA backend is built and a GPU is usable (else prints why).
 * Asked in a child: CUDA does not survive fork, and Check forks every test. */
static int gpu_usable(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        fp_error err;
        if (fp_device_usable("cuda", &err))
            _exit(0);
        printf("cuda: skipped: %s\n", err.msg);
        _exit(1);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}

int main(void)
{
    if (!gpu_usable())
        return 77;
    Suite *s = suite_create("cuda");
    TCase *tc = tcase_create("gpu_vs_cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, activations_agree, 0, (int)t_n_activations);
    tcase_add_loop_test(tc, losses_agree, 0, (int)t_n_loss_cases);
    tcase_add_test(tc, norm_layers_agree);
    tcase_add_test(tc, structures_agree);
    tcase_add_test(tc, a_wide_batch_agrees);
    tcase_add_test(tc, the_command_writes_the_same_matrix);
    const char *emulated = getenv("FLATPARAMS_CUDA_EMULATE");
    if (emulated && !strcmp(emulated, "1"))
        tcase_add_test(tc, a_small_gpu_takes_small_passes);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
