/* What predict, gradient (and later hessian) share: the model opened, the
 * selection laid out, the net built, X read and checked, and the writing of a
 * result matrix. One place, so the commands agree on every option. */
#ifndef FP_CMD_COMPUTE_H
#define FP_CMD_COMPUTE_H

#include "cmd.h"
#include "compute/fp_curvature.h"

typedef struct compute_session {
    fp_tree tree;
    fp_layout layout;
    fp_net *net;
    fp_matrix x;
    fp_net_options net_opts;
    int have_tree, have_layout;
} compute_session;

/* Checks --precision and --device, opens MODEL, builds the net and reads -x.
 * Returns 0, or the exit status after printing the error (usage errors: 2). */
int compute_open(const cmd *c, cmd_opts *opts, compute_session *s);
void compute_close(compute_session *s);
/* compute_open in its two steps, for a command that acts between them (hessian
 * opens its output while a GPU starts): MODEL opened and the selection laid
 * out; then the net built (the device started) and -x read. Each closes the
 * session when it fails. */
int compute_open_model(const cmd *c, cmd_opts *opts, compute_session *s);
int compute_open_net(const cmd *c, cmd_opts *opts, compute_session *s);
/* The compute dtype, also before the net is built (then as fp_net_build will
 * choose it: --precision, else the flat vector's type). */
fp_dtype compute_precision(const compute_session *s);

/* Reads a matrix file (--hvp's V) in the compute dtype; raw .bin is read as --dtype,
 * else as the compute dtype. Messages name the file. */
int compute_read_matrix(const cmd_opts *opts, const compute_session *s, const char *path,
                        fp_matrix *out, fp_error *err);
/* The same for a batch of samples (-x, -y), of rank up to FP_MATRIX_MAX_RANK. */
int compute_read_batch(const cmd_opts *opts, const compute_session *s, const char *path,
                       fp_matrix *out, fp_error *err);

/* Writes n elements (rank 1) or rows x cols (rank 2) of the compute dtype to path
 * ("-" for standard output) as --dtype, else the compute dtype. */
int compute_write(const cmd_opts *opts, const compute_session *s, const char *path, int rank,
                  uint64_t rows, uint64_t cols, const void *data, fp_error *err);

/* count doubles (rank 1) or rows x cols (rank 2) written as compute_write
 * writes the compute dtype: as --dtype, else the compute dtype. */
int compute_write_doubles(const cmd_opts *opts, const compute_session *s, const char *path,
                          int rank, uint64_t rows, uint64_t cols, const double *values,
                          fp_error *err);

/* --seed (any unsigned 64-bit number; FP_SEED_DEFAULT without it). Returns 0,
 * or the exit status after printing the usage error. */
int compute_parse_seed(const cmd *c, const cmd_opts *opts, uint64_t *seed);

/* The model's file name without its directories, for plot titles. */
const char *compute_model_name(const cmd_opts *opts);

/* The element type of written results: --dtype, else the compute dtype. */
fp_dtype compute_out_dtype(const cmd_opts *opts, const compute_session *s);

/* --loss (and its default: sumsq without -y, mse with) checked against -y.
 * Returns 0, or the exit status after printing the usage error. */
int compute_parse_loss(const cmd *c, const cmd_opts *opts, fp_loss *loss);

/* Seconds on a monotonic clock, for FLATPARAMS_TIME. */
double compute_now(void);

/* Runs work once; with FLATPARAMS_TIME=N (benchmarks), N more times, and prints
 * "compute seconds: first F, median M of N more" on stderr: the first run
 * pays one-time costs (a GPU's kernels load lazily), the median is the steady
 * rate. The result is the same every time. */
int compute_timed(int (*work)(void *ctx, fp_error *err), void *ctx, fp_error *err);

#endif
