/* Hessian-vector products against central finite differences of the gradient
 * (float64, relative error below 1e-6) for every layer, activation and loss;
 * blocks of directions against single ones; rows, diagonal, trace, Hutchinson
 * and Lanczos eigenvalues against dense linear algebra on the full matrix.
 * PyTorch fixtures and the command are in test_hessian_cli.c. */
#include "test_hessian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { BATCH = T_BATCH, DIRS = 3 };

/* max |H v - (g(θ + h v) - g(θ - h v)) / 2h| / max |H v| over DIRS random v. */
static double fd_error(fp_net *net, uint64_t n, const fp_matrix *x, const fp_matrix *y,
                       fp_loss loss)
{
    fp_error err;
    double *V = malloc(DIRS * n * sizeof *V), *HV = malloc(DIRS * n * sizeof *HV);
    double *one = malloc(n * sizeof *one), *fd = malloc(DIRS * n * sizeof *fd);
    double *plus = malloc(n * sizeof *plus), *minus = malloc(n * sizeof *minus);
    for (uint64_t i = 0; i < DIRS * n; i++)
        V[i] = t_uniform(-1, 1);
    ck_assert_msg(fp_hvp(net, x, y, loss, V, DIRS, HV, &err) == 0, "%s", err.msg);
    double *params = fp_net_params(net), h = 1e-5;
    for (int k = 0; k < DIRS; k++) {
        /* a block of directions is the same numbers as one at a time */
        ck_assert_msg(fp_hvp(net, x, y, loss, V + k * n, 1, one, &err) == 0, "%s", err.msg);
        ck_assert_double_le(t_rel_diff(one, HV + k * n, n), 1e-13);
        for (uint64_t i = 0; i < n; i++)
            params[i] += h * V[k * n + i];
        ck_assert_msg(fp_gradient(net, x, y, loss, plus, NULL, &err) == 0, "%s", err.msg);
        for (uint64_t i = 0; i < n; i++)
            params[i] -= 2 * h * V[k * n + i];
        ck_assert_msg(fp_gradient(net, x, y, loss, minus, NULL, &err) == 0, "%s", err.msg);
        for (uint64_t i = 0; i < n; i++) {
            params[i] += h * V[k * n + i];
            fd[k * n + i] = (plus[i] - minus[i]) / (2 * h);
        }
    }
    double rel = t_fd_rel(HV, fd, DIRS * n, "H V");
    free(V), free(HV), free(one), free(fd), free(plus), free(minus);
    return rel;
}

static void assert_fd(const fp_node *root, const fp_select *sel, int train, const fp_matrix *x,
                      const fp_matrix *y, fp_loss loss, const char *what)
{
    double rel = t_fd_run(fd_error, root, sel, train, x, y, loss);
    ck_assert_msg(rel < 1e-6, "%s: H v's relative error %.3g against finite differences of "
                  "the gradient", what, rel);
}

START_TEST(activation_hvp_matches_finite_differences)
{
    t_fd_activation(t_activations[_i], t_activations[_i], 1100 + (uint64_t)_i, assert_fd);
}
END_TEST

START_TEST(loss_hvp_matches_finite_differences)
{
    t_fd_loss_case(_i, 1200 + (uint64_t)_i, assert_fd);
}
END_TEST

START_TEST(norm_layers_hvp_match_finite_differences)
{
    t_fd_norm_cases(1300, assert_fd);
}
END_TEST

START_TEST(structure_hvp_matches_finite_differences)
{
    t_fd_structure_cases(1400, assert_fd);
}
END_TEST

/* ---------------------------------------------------------------- neuron rows */

/* Rows of H through unit directions: a Dense weight's rows come from its
 * neurons' tangents where the layers above allow it (tangent_pass.c). Against
 * the plain passes (FLATPARAMS_NEURON_ROWS=0) and against H V with the unit
 * vectors as general directions: full rows; the upper triangle's rows in blocks
 * of 1, 5 and 7 (a neuron's rows split across blocks); the diagonal. */
static void rows_of(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    uint64_t block, int upper, double *H)
{
    fp_error err;
    uint64_t n = fp_net_n_params(net);
    memset(H, 0, n * n * sizeof *H);
    for (uint64_t at = 0; at < n; at += block) {
        uint64_t stop = n - at < block ? n : at + block, from = upper ? at : 0;
        ck_assert_msg(fp_hessian_rows_from(net, x, y, loss, at, stop, from, H + at * n, &err) == 0,
                      "%s", err.msg);
        for (uint64_t r = at; r < stop; r++)   /* left of the block: not wanted */
            memset(H + r * n, 0, from * sizeof *H);
    }
}

static void assert_neuron_rows(const fp_node *root, const fp_select *sel, int train,
                               const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                               const char *what)
{
    fp_layout layout;
    fp_net *net = t_net(root, sel, FP_F64, train, &layout);
    fp_error err;
    uint64_t n = fp_net_n_params(net);
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b);
    double *I = calloc(n * n, sizeof *I), *da = malloc(n * sizeof *da), *db = malloc(n * sizeof *db);
    for (uint64_t i = 0; i < n; i++)
        I[i * n + i] = 1;
    ck_assert_msg(fp_hvp(net, x, y, loss, I, n, b, &err) == 0, "%s", err.msg);
    rows_of(net, x, y, loss, n, 0, a);
    ck_assert_msg(t_rel_diff(a, b, n * n) <= 1e-12, "%s: rows of H %.3g from H V (unit V)", what,
                  t_rel_diff(a, b, n * n));
    const uint64_t blocks[] = { 1, 5, 7 };
    for (int upper = 0; upper < 2; upper++)
        for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
            rows_of(net, x, y, loss, blocks[i], upper, a);
            setenv("FLATPARAMS_NEURON_ROWS", "0", 1);
            rows_of(net, x, y, loss, blocks[i], upper, b);
            unsetenv("FLATPARAMS_NEURON_ROWS");
            double rel = t_rel_diff(a, b, n * n);
            ck_assert_msg(rel <= 1e-12, "%s: %s rows in blocks of %llu, neuron rows and plain "
                          "passes differ by %.3g", what, upper ? "upper" : "full",
                          (unsigned long long)blocks[i], rel);
        }
    ck_assert(fp_hessian_diag(net, x, y, loss, da, NULL, NULL, &err) == 0);
    setenv("FLATPARAMS_NEURON_ROWS", "0", 1);
    ck_assert(fp_hessian_diag(net, x, y, loss, db, NULL, NULL, &err) == 0);
    unsetenv("FLATPARAMS_NEURON_ROWS");
    ck_assert_msg(t_rel_diff(da, db, n) <= 1e-12, "%s: diagonal", what);
    free(a), free(b), free(I), free(da), free(db);
    fp_net_free(net);
    fp_layout_free(&layout);
}

START_TEST(activation_neuron_rows_match_plain_passes)
{
    t_fd_activation(t_activations[_i], t_activations[_i], 1150 + (uint64_t)_i, assert_neuron_rows);
}
END_TEST

START_TEST(loss_neuron_rows_match_plain_passes)
{
    t_fd_loss_case(_i, 1250 + (uint64_t)_i, assert_neuron_rows);
}
END_TEST

START_TEST(norm_and_structure_neuron_rows_match_plain_passes)
{
    t_fd_norm_cases(1350, assert_neuron_rows);
    t_fd_structure_cases(1450, assert_neuron_rows);
}
END_TEST

/* A Keras layer stored bias first (as Keras files give it), in x out. */
static fp_node *keras_dense(uint64_t in, uint64_t out, const char *act)
{
    fp_node *dense = t_layer("Dense");
    t_put(dense, "bias", t_array(out, 0, -0.3, 0.3));
    t_put(dense, "kernel", t_array(in, out, -0.8, 0.8));
    t_act(dense, act);
    return dense;
}

/* A bigger net: Keras kernels (bias first) around a wide Dense layer whose
 * products for one neuron exceed a pass's M (so they go in chunks), rows in
 * ranges across the slots' ends, each with the columns from 0, from its first
 * row and from inside the range; neuron rows against plain passes. */
START_TEST(neuron_rows_in_chunks_and_keras_kernels)
{
    t_seed(1600);
    fp_matrix x = t_matrix(64, 6, -2, 2), y = t_matrix(64, 3, -1, 1);
    fp_node *model = t_chain(keras_dense(6, 40, "tanh"), t_dense(40, 450, "gelu"),
                             keras_dense(450, 3, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    fp_error err;
    uint64_t n = fp_net_n_params(net);
    ck_assert_uint_eq(n, 40 + 240 + 18000 + 450 + 3 + 1350);
    /* bias 0, kernel 0 (wrapping over 40 outputs), W1, b1, bias 2, kernel 2 */
    const uint64_t ranges[][2] = { { 0, 120 }, { 150, 400 }, { 9000, 9100 }, { 18700, 18800 },
                                   { 20000, 20083 } };
    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
        uint64_t lo = ranges[r][0], hi = ranges[r][1], k = hi - lo;
        const uint64_t froms[] = { 0, lo, lo + 37 };
        for (size_t f = 0; f < 3; f++) {
            double *a = calloc(k * n, sizeof *a), *b = calloc(k * n, sizeof *b);
            ck_assert_msg(fp_hessian_rows_from(net, &x, &y, FP_LOSS_MSE, lo, hi, froms[f], a, &err)
                          == 0, "%s", err.msg);
            setenv("FLATPARAMS_NEURON_ROWS", "0", 1);
            ck_assert(fp_hessian_rows_from(net, &x, &y, FP_LOSS_MSE, lo, hi, froms[f], b, &err) == 0);
            unsetenv("FLATPARAMS_NEURON_ROWS");
            for (uint64_t i = 0; i < k; i++) {   /* the wanted columns */
                memset(a + i * n, 0, froms[f] * sizeof *a);
                memset(b + i * n, 0, froms[f] * sizeof *b);
            }
            double rel = t_rel_diff(a, b, k * n);
            ck_assert_msg(rel <= 1e-12, "rows %llu:%llu from column %llu: neuron rows and plain "
                          "passes differ by %.3g", (unsigned long long)lo, (unsigned long long)hi,
                          (unsigned long long)froms[f], rel);
            free(a), free(b);
        }
    }
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
    free(x.data), free(y.data);
}
END_TEST

/* A three-layer MLP on a batch of 40: the rows of
 * H against finite differences of the gradient (an oracle outside the passes). */
START_TEST(neuron_rows_match_finite_differences)
{
    t_seed(1500);
    fp_matrix x = t_matrix(40, 5, -2, 2), y = t_matrix(40, 3, -1, 1);
    fp_node *model = t_chain(t_dense(5, 7, "tanh"), t_dense(7, 6, "gelu"), t_dense(6, 3, NULL), NULL);
    fp_layout layout;
    fp_net *net = t_net(model, NULL, FP_F64, 0, &layout);
    fp_error err;
    uint64_t n = fp_net_n_params(net);
    double *H = malloc(n * n * sizeof *H), *plus = malloc(n * sizeof *plus);
    double *minus = malloc(n * sizeof *minus), *fd = malloc(n * n * sizeof *fd);
    ck_assert(fp_hessian_rows(net, &x, &y, FP_LOSS_MSE, 0, n, H, &err) == 0);
    double *params = fp_net_params(net), h = 1e-5;
    for (uint64_t i = 0; i < n; i++) {
        double saved = params[i];
        params[i] = saved + h;
        ck_assert(fp_gradient(net, &x, &y, FP_LOSS_MSE, plus, NULL, &err) == 0);
        params[i] = saved - h;
        ck_assert(fp_gradient(net, &x, &y, FP_LOSS_MSE, minus, NULL, &err) == 0);
        params[i] = saved;
        for (uint64_t j = 0; j < n; j++)
            fd[i * n + j] = (plus[j] - minus[j]) / (2 * h);
    }
    double rel = t_fd_rel(H, fd, n * n, "H");
    ck_assert_msg(rel < 1e-6, "rows of H against finite differences: %.3g", rel);
    free(H), free(plus), free(minus), free(fd);
    fp_net_free(net);
    fp_layout_free(&layout);
    fp_node_release(model);
    free(x.data), free(y.data);
}
END_TEST

/* ---------------------------------------------------------------- the whole matrix */

/* The full Hessian of a small tanh net, by fp_hessian_rows. */
static double *full_hessian(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                            uint64_t *n)
{
    fp_error err;
    *n = fp_net_n_params(net);
    double *H = malloc(*n * *n * sizeof *H);
    ck_assert_msg(fp_hessian_rows(net, x, y, loss, 0, *n, H, &err) == 0, "%s", err.msg);
    return H;
}

typedef struct small_case {
    fp_node *model;
    fp_net *net;
    fp_layout layout;
    fp_matrix x, y;
} small_case;

static void small_open(small_case *c, uint64_t seed)
{
    t_seed(seed);
    c->x = t_matrix(8, 3, -2, 2);
    c->y = t_matrix(8, 2, -1, 1);
    c->model = t_chain(t_dense(3, 4, "tanh"), t_dense(4, 2, "sigmoid"), NULL);
    c->net = t_net(c->model, NULL, FP_F64, 0, &c->layout);
}

static void small_close(small_case *c)
{
    fp_net_free(c->net);
    fp_layout_free(&c->layout);
    fp_node_release(c->model);
    free(c->x.data);
    free(c->y.data);
}

/* A sink gathering fp_hessian_row_blocks' blocks into one matrix. */
typedef struct gather {
    double *H;
    uint64_t n;
    int blocks;
} gather;

static void *gather_where(void *ctx, uint64_t at, uint64_t stop)
{
    gather *g = ctx;
    (void)stop;
    return g->H + at * g->n;
}

static int gather_ready(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err)
{
    gather *g = ctx;
    (void)err;
    ck_assert_ptr_eq(rows, gather_where(ctx, at, stop));   /* the host computes in place */
    g->blocks++;
    return 0;
}

/* Blocks of 5 rows from each block's first column on (FP_ROWS_UPPER) equal the
 * full rows there, BatchNorm in both modes, its running statistics selected
 * (zero rows in training mode). */
START_TEST(upper_row_blocks_agree_with_the_full_rows)
{
    static const char *const keys[4] = { "gamma", "beta", "mean", "var" };
    t_seed(1550);
    fp_matrix x = t_matrix(BATCH, 3, -2, 2), y = t_matrix(BATCH, 2, -1, 1);
    fp_node *model = t_chain(t_dense(3, 4, NULL), t_batchnorm(4, "tanh", keys),
                             t_dense(4, 2, NULL), NULL);
    fp_select all = { .all = 1 };
    fp_error err;
    for (int train = 0; train < 2; train++) {
        fp_layout layout;
        ck_assert_msg(fp_layout_build(model, &all, &layout, &err) == 0, "%s", err.msg);
        fp_net_options opts = { .precision = FP_F64, .train_mode = train };
        fp_net *net;
        ck_assert_msg(fp_net_build(&net, model, &layout, &opts, &err) == 0, "%s", err.msg);
        uint64_t n;
        double *H = full_hessian(net, &x, &y, FP_LOSS_MSE, &n);
        double *B = calloc(n * n, sizeof *B);
        gather g = { B, n, 0 };
        fp_row_sink sink = { gather_where, gather_ready, &g };
        ck_assert_msg(fp_hessian_row_blocks(net, &x, &y, FP_LOSS_MSE, 0, n, 5, FP_ROWS_UPPER,
                                            &sink, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(g.blocks, (int)((n + 4) / 5));
        /* the host holds no whole matrix for the caller: 1, nothing done */
        ck_assert_int_eq(fp_hessian_full_on_device(net, &x, &y, FP_LOSS_MSE, 5, &sink, &err), 1);
        ck_assert_int_eq(g.blocks, (int)((n + 4) / 5));
        for (uint64_t r = 0; r < n; r++)
            for (uint64_t c = r / 5 * 5; c < n; c++)
                ck_assert_msg(fabs(B[r * n + c] - H[r * n + c]) <= 1e-13 * (1 + fabs(H[r * n + c])),
                              "train %d: H[%llu,%llu] %.17g in blocks, %.17g in full", train,
                              (unsigned long long)r, (unsigned long long)c, B[r * n + c],
                              H[r * n + c]);
        free(H), free(B);
        fp_net_free(net);
        fp_layout_free(&layout);
    }
    fp_node_release(model);
    free(x.data), free(y.data);
}
END_TEST

START_TEST(rows_diag_trace_agree_with_the_full_matrix)
{
    small_case c;
    small_open(&c, 1500);
    fp_error err;
    uint64_t n;
    double *H = full_hessian(c.net, &c.x, &c.y, FP_LOSS_MSE, &n);
    ck_assert_uint_eq(n, 12 + 4 + 8 + 2);
    double asym = 0, scale = 0;
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++) {
            asym = fmax(asym, fabs(H[i * n + j] - H[j * n + i]));
            scale = fmax(scale, fabs(H[i * n + j]));
        }
    ck_assert_double_lt(asym, 1e-13 * scale);
    double *rows = malloc(5 * n * sizeof *rows), *diag = malloc(n * sizeof *diag);
    /* the same rows in another block: to rounding (a Dense weight's rows come from
     * products whose shapes follow the block) */
    ck_assert(fp_hessian_rows(c.net, &c.x, &c.y, FP_LOSS_MSE, 7, 12, rows, &err) == 0);
    for (uint64_t i = 0; i < 5 * n; i++)
        ck_assert_msg(fabs(rows[i] - H[7 * n + i]) <= 1e-14 * scale, "rows 7-11 [%llu]: %.17g vs %.17g",
                      (unsigned long long)i, rows[i], H[7 * n + i]);
    ck_assert_int_eq(fp_hessian_rows(c.net, &c.x, &c.y, FP_LOSS_MSE, 12, 7, rows, &err), -1);
    ck_assert_int_eq(fp_hessian_rows(c.net, &c.x, &c.y, FP_LOSS_MSE, 0, n + 1, rows, &err), -1);
    ck_assert(fp_hessian_diag(c.net, &c.x, &c.y, FP_LOSS_MSE, diag, NULL, NULL, &err) == 0);
    double trace = 0;
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_msg(fabs(diag[i] - H[i * n + i]) <= 1e-14 * scale, "diagonal %llu: %.17g vs %.17g",
                      (unsigned long long)i, diag[i], H[i * n + i]);
        trace += diag[i];
    }
    /* Hutchinson: unbiased; with many probes, within a few standard errors */
    double estimate, std_error;
    ck_assert(fp_hessian_hutchinson(c.net, &c.x, &c.y, FP_LOSS_MSE, 4000, 7, &estimate,
                                    &std_error, &err) == 0);
    ck_assert_double_gt(std_error, 0);
    ck_assert_msg(fabs(estimate - trace) < 5 * std_error, "%g vs %g ± %g", estimate, trace,
                  std_error);
    free(H), free(rows), free(diag);
    small_close(&c);
}
END_TEST

START_TEST(lanczos_agrees_with_jacobi)
{
    small_case c;
    small_open(&c, 1600);
    fp_error err;
    uint64_t n;
    double *H = full_hessian(c.net, &c.x, &c.y, FP_LOSS_MSE, &n);
    for (uint64_t i = 0; i < n; i++)   /* symmetric exactly, for Jacobi */
        for (uint64_t j = 0; j < i; j++)
            H[i * n + j] = H[j * n + i] = (H[i * n + j] + H[j * n + i]) / 2;
    double *ref = malloc(n * sizeof *ref), values[6];
    t_jacobi_eigenvalues(H, n, ref);   /* increasing */
    double top = fmax(fabs(ref[0]), fabs(ref[n - 1]));
    size_t iterations;
    ck_assert_msg(fp_hessian_eigs(c.net, &c.x, &c.y, FP_LOSS_MSE, 6, FP_EIG_LA, values,
                                  &iterations, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(values[i], ref[n - 1 - i], 1e-8 * top);
    ck_assert(fp_hessian_eigs(c.net, &c.x, &c.y, FP_LOSS_MSE, 4, FP_EIG_SA, values, NULL, NULL,
                              NULL, &err) == 0);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(values[i], ref[i], 1e-8 * top);
    ck_assert(fp_hessian_eigs(c.net, &c.x, &c.y, FP_LOSS_MSE, 5, FP_EIG_LM, values, NULL, NULL,
                              NULL, &err) == 0);
    for (int i = 0, lo = 0, hi = (int)n - 1; i < 5; i++) {   /* merge both ends by |λ| */
        double want = fabs(ref[lo]) > fabs(ref[hi]) ? ref[lo++] : ref[hi--];
        ck_assert_double_eq_tol(values[i], want, 1e-8 * top);
    }
    ck_assert_int_eq(fp_hessian_eigs(c.net, &c.x, &c.y, FP_LOSS_MSE, n + 1, FP_EIG_LM, values,
                                     NULL, NULL, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "eigenvalues"));
    free(H), free(ref);
    small_close(&c);
}
END_TEST

START_TEST(float32_hessian_agrees_with_float64)
{
    t_seed(1700);
    fp_error err;
    fp_matrix x = t_matrix(16, 3, -2, 2);
    fp_node *model = t_chain(t_dense(3, 6, "gelu"), t_dense(6, 3, "logsoftmax"), NULL);
    fp_layout l64, l32;
    fp_net *n64 = t_net(model, NULL, FP_F64, 0, &l64), *n32 = t_net(model, NULL, FP_F32, 0, &l32);
    uint64_t n = fp_net_n_params(n64);
    double *h64 = malloc(n * n * sizeof *h64), *h32 = malloc(n * n * sizeof *h32);
    float *h32f = malloc(n * n * sizeof *h32f);
    ck_assert(fp_hessian_rows(n64, &x, NULL, FP_LOSS_SUMSQ, 0, n, h64, &err) == 0);
    ck_assert(fp_hessian_rows(n32, &x, NULL, FP_LOSS_SUMSQ, 0, n, h32f, &err) == 0);
    for (uint64_t i = 0; i < n * n; i++)
        h32[i] = h32f[i];
    ck_assert_double_lt(t_rel_diff(h32, h64, n * n), 1e-5);
    free(h64), free(h32), free(h32f), free(x.data);
    fp_net_free(n64), fp_net_free(n32);
    fp_layout_free(&l64), fp_layout_free(&l32);
    fp_node_release(model);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hessian");
    TCase *fd = tcase_create("finite_differences");
    tcase_set_timeout(fd, 120);
    tcase_add_loop_test(fd, activation_hvp_matches_finite_differences, 0,
                        (int)t_n_activations);
    tcase_add_loop_test(fd, loss_hvp_matches_finite_differences, 0, (int)t_n_loss_cases);
    tcase_add_test(fd, norm_layers_hvp_match_finite_differences);
    tcase_add_test(fd, structure_hvp_matches_finite_differences);
    tcase_add_loop_test(fd, activation_neuron_rows_match_plain_passes, 0, (int)t_n_activations);
    tcase_add_loop_test(fd, loss_neuron_rows_match_plain_passes, 0, (int)t_n_loss_cases);
    tcase_add_test(fd, norm_and_structure_neuron_rows_match_plain_passes);
    tcase_add_test(fd, neuron_rows_match_finite_differences);
    tcase_add_test(fd, neuron_rows_in_chunks_and_keras_kernels);
    suite_add_tcase(s, fd);
    TCase *whole = tcase_create("whole_matrix");
    tcase_set_timeout(whole, 120);
    tcase_add_test(whole, rows_diag_trace_agree_with_the_full_matrix);
    tcase_add_test(whole, upper_row_blocks_agree_with_the_full_rows);
    tcase_add_test(whole, lanczos_agrees_with_jacobi);
    tcase_add_test(whole, float32_hessian_agrees_with_float64);
    suite_add_tcase(s, whole);
    suite_add_tcase(s, hessian_fixtures_tcase());
    suite_add_tcase(s, hessian_cli_tcase());
    suite_add_tcase(s, hessian_progress_tcase());
    return run_suite(s);
}
