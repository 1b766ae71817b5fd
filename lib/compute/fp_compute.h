/*
 * The compute core of libflatparams: predictions and exact gradients of a loss
 * with respect to the flat parameter vector.
 *
 * A net is built from a model tree and its layout (the selection that makes the
 * flat vector). Like llm.c's ParameterTensors, the selected parameters live in
 * ONE contiguous buffer in flat order (the very vector `flatten` writes) and each
 * layer holds views into it; the gradient is a second buffer with the same
 * offsets, so the flat gradient and the nested gradient are the same memory.
 * Parameters outside the selection are constants of the computation.
 *
 * Data is row-major, one sample per row (batch x features), like PyTorch. A
 * Flux Dense `weight` is out x in, so a layer computes y = x W^T + b.
 *
 * Every function that can fail returns 0 on success and -1 after filling err.
 */
#ifndef FP_COMPUTE_H
#define FP_COMPUTE_H

#include "flatparams.h"

/* Flux.Losses' definitions; "mean" is over all elements unless noted. */
typedef enum fp_loss {
    FP_LOSS_SUMSQ,          /* sum(abs2, m(x)): needs no target */
    FP_LOSS_MSE,            /* mean((ŷ - y)^2) */
    FP_LOSS_SSE,            /* sum((ŷ - y)^2) (Flux's mse with agg = sum) */
    FP_LOSS_MAE,            /* mean(|ŷ - y|) */
    FP_LOSS_HUBER,          /* mean of Huber with δ = 1 */
    FP_LOSS_CROSSENTROPY,   /* sum(-y .* log(ŷ .+ eps)) / batch, eps = eps(precision) */
    FP_LOSS_LOGITCROSSENTROPY,      /* sum(-y .* logsoftmax(ŷ)) / batch */
    FP_LOSS_BINARYCROSSENTROPY,     /* mean(-y log(ŷ+eps) - (1-y) log(1-ŷ+eps)) */
    FP_LOSS_LOGITBINARYCROSSENTROPY, /* mean((1-y) ŷ - logσ(ŷ)) */
    FP_LOSS_COUNT
} fp_loss;

/* By Flux's name ("mse", "logitcrossentropy", also "huber_loss"); -1 when unknown. */
int fp_loss_parse(const char *name, fp_loss *out);
const char *fp_loss_name(fp_loss loss);
/* The names fp_loss_parse accepts, comma-separated, for messages. */
const char *fp_loss_names(void);
/* Whether the loss compares with a target Y (all but sumsq). */
int fp_loss_needs_target(fp_loss loss);

typedef struct fp_net fp_net;

/* 1 when the device ("cpu", "cuda", "auto") can run nets here; else 0 and the
 * reason in err (cuda: not built, no GPU, no driver). auto is always usable. */
int fp_device_usable(const char *device, fp_error *err);

/* For a program's .preinit_array (argv and envp as it receives them), before
 * any library's constructor runs. OpenBLAS starts its worker threads from its
 * constructor, each mapping a 128 MiB buffer and retrying for ever when the
 * address space has no room (then exit() waits for ever). Under an
 * address-space limit (ulimit -v) too small for the threads OpenBLAS would
 * start, this re-executes the program with OPENBLAS_NUM_THREADS lowered to
 * what fits; without a limit, or when they fit, it returns at once. */
void fp_blas_fit_threads(char **argv, char **envp);

typedef struct fp_net_options {
    fp_dtype precision;     /* FP_F32 or FP_F64; FP_DT_NONE: the layout's dtype */
    int train_mode;         /* BatchNorm uses (and differentiates through) batch statistics */
    const char *device;     /* "cpu" (NULL), "cuda", or "auto" (cuda when usable, else cpu) */
    const char *source;     /* the model's file name, prefixed to messages; may be NULL */
} fp_net_options;

/* Builds a net from a model tree: a Chain (nested Chains flatten), a bare list of
 * layers, or a single layer map. The net copies every parameter it needs (it
 * keeps no pointer into the tree or the layout afterwards). Errors name the model
 * path and list what is supported. Free with fp_net_free. */
int fp_net_build(fp_net **net, const fp_node *root, const fp_layout *layout,
                 const fp_net_options *opts, fp_error *err);
void fp_net_free(fp_net *net);

/* The compute dtype (FP_F32 or FP_F64). */
fp_dtype fp_net_precision(const fp_net *net);
/* Length of the flat vector (the layout's n_elems). */
uint64_t fp_net_n_params(const fp_net *net);
/* Features per input row, or 0 when the model accepts any width (no layer fixes it). */
uint64_t fp_net_in_features(const fp_net *net);
/* Output features for inputs of in_features columns. */
uint64_t fp_net_out_features(const fp_net *net, uint64_t in_features);

/* The flat parameter vector and the flat gradient, n_params elements of the
 * compute dtype each, owned by the net. Writing to the parameters changes the
 * model the next call computes with (finite differences, Hessian-vector products).
 * The gradient holds the last fp_gradient's result. */
void *fp_net_params(fp_net *net);
const void *fp_net_grads(const fp_net *net);

/* Checks X (rank 1: one sample, or a column when the model takes one feature;
 * rank 2: batch x features) against the model. Messages start with "X" so the
 * caller can prefix the file name. */
int fp_net_check_input(const fp_net *net, const fp_matrix *x, fp_error *err);
/* Checks Y against the model's output for X and the loss. Class targets for
 * (logit)crossentropy are one-hot rows or a vector of integer labels, 0-based. */
int fp_net_check_target(const fp_net *net, const fp_matrix *x, const fp_matrix *y,
                        fp_loss loss, fp_error *err);

/* m(X): fills out (rows x out_features, compute dtype; out->data malloc'd, the
 * caller frees it). x may be f32 or f64; it is converted when it differs. */
int fp_predict(fp_net *net, const fp_matrix *x, fp_matrix *out, fp_error *err);

/* The loss of m(X) against Y (NULL for sumsq), without gradients. */
int fp_loss_value(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                  double *value, fp_error *err);

/* The gradient of the loss with respect to the flat vector. It is left in the
 * net's gradient buffer (fp_net_grads) and, when grad_out is non-NULL, copied
 * there (n_params elements of the compute dtype). Shared parameters get the sum
 * over every use. value (may be NULL) receives the loss. */
int fp_gradient(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                void *grad_out, double *value, fp_error *err);

/* ---- Hessians: exact second derivatives of the loss with respect to the flat
 * vector, by the tangent (forward-over-reverse) pass. X, Y and loss as for
 * fp_gradient. Buffers are the caller's; nothing is kept between calls but
 * scratch. On the host a call with more than one direction runs passes side
 * by side, one per OpenBLAS thread, and sets OpenBLAS to one thread until it
 * returns: that setting is the process's, so do not run two such calls (or
 * other BLAS work that needs its threads) at once from different threads. */

/* Scratch each Hessian call may use for one block of directions. */
#define FP_HESSIAN_BLOCK_BYTES ((size_t)64 << 20)

/* HV = H V for k directions: V and HV are k x n_params, row-major, compute dtype.
 * Large k runs in blocks whose scratch stays near FP_HESSIAN_BLOCK_BYTES. */
int fp_hvp(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss, const void *V,
           size_t k, void *HV, fp_error *err);
/* How many directions (rows of H) one call takes well: one pass's worth for
 * each host thread (the passes run side by side), a pass keeping its scratch
 * (tangent activations, the directions and their products) under max_bytes and
 * its activations near the cache's size; where a Dense weight's rows come from
 * its neurons' tangents (one tangent per `in` rows), that many times more rows
 * for the same activations, the rows themselves still under max_bytes; at
 * least 1. */
size_t fp_hessian_block(fp_net *net, const fp_matrix *x, size_t max_bytes);
/* Rows [row_begin, row_end) of H, (row_end - row_begin) x n_params into out
 * (compute dtype): H e_i, which is row i as H is symmetric (to rounding). */
int fp_hessian_rows(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    uint64_t row_begin, uint64_t row_end, void *out, fp_error *err);

/* The same rows, where only columns >= col_begin are wanted: the pass skips the
 * layers whose H V columns all lie below (those entries are left zero). With
 * col_begin = row_begin this is the upper triangle's rows, the rest of which
 * symmetry gives; it costs about a third of the full rows for layered nets. */
int fp_hessian_rows_from(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                         uint64_t row_begin, uint64_t row_end, uint64_t col_begin, void *out,
                         fp_error *err);

/* Where fp_hessian_row_blocks puts a block of rows, and what follows it. */
typedef struct fp_row_sink {
    /* The buffer for rows [at, stop): (stop - at) x n_params, compute dtype. */
    void *(*where)(void *ctx, uint64_t at, uint64_t stop);
    /* Called when they are computed (to write them, show progress); < 0 stops
     * the loop, with err set. rows is where()'s buffer, or a GPU's own memory
     * holding them (its blocks are pipelined: it computes the next block
     * meanwhile), valid until ready returns. */
    int (*ready)(void *ctx, uint64_t at, uint64_t stop, void *rows, fp_error *err);
    void *ctx;
} fp_row_sink;

/* With FP_ROWS_UPPER, a block's columns left of its first row are not wanted
 * (fp_hessian_rows_from with col_begin = the block's first row). */
enum { FP_ROWS_UPPER = 1 };

/* Rows [row_begin, row_end) of H in blocks of `block` rows into the sink: the
 * batch is checked and its forward pass run once for all blocks (which is what
 * makes this cheaper than a loop over fp_hessian_rows_from). */
int fp_hessian_row_blocks(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                          uint64_t row_begin, uint64_t row_end, size_t block, int flags,
                          const fp_row_sink *sink, fp_error *err);

/* The whole matrix, exactly symmetric, into the sink in order, in pieces of
 * at most `block` rows (32 MiB, or a block), where the backend can hold all of
 * it: a GPU with room for the n x n matrix computes the upper triangle's rows
 * in blocks of `block` (fp_hessian_rows_from, col_begin = the block's first
 * row) into its memory and makes each block's rows final there as soon as it
 * is computed: H[i,j] is S[i,j] right of row i's block, S[j,i] left of it,
 * their average inside (as `flatparams hessian` does on the host, through
 * memory or a scratch file). The sink gets the rows in the GPU's page-locked
 * memory while the next piece copies and the next block computes. Returns 1,
 * having done nothing, where that is not possible (the host, or a matrix
 * bigger than half the GPU's free memory). */
int fp_hessian_full_on_device(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                              size_t block, const fp_row_sink *sink, fp_error *err);

/* The whole matrix made exactly symmetric from the upper triangle's rows S of
 * fp_hessian_row_blocks with FP_ROWS_UPPER in blocks of `block` rows (each
 * block's rows from its own first column on): H[i,j] is S[i,j] right of row
 * i's block, S[j,i] left of it, the average of the two inside it. dtype is
 * the compute dtype (FP_F32 or FP_F64). In memory: S (n x n) becomes H. */
void fp_hessian_symmetrise(void *S, uint64_t n, size_t block, fp_dtype dtype);
/* A piece at a time, for S kept in a file: rows (W x n, S's rows [at, at + W))
 * become H's, given the strip (at + W) x W whose row c holds S[c, at .. at + W). */
void fp_hessian_symmetrise_rows(void *rows, const void *strip, size_t W, size_t block,
                                uint64_t n, uint64_t at, fp_dtype dtype);

/* Called after each block: done of total rows, or done iterations with total 0
 * where the count is not known in advance (Lanczos runs until it converges). */
typedef void (*fp_progress_fn)(void *ctx, uint64_t done, uint64_t total);
/* The diagonal (n_params doubles): e_i^T H e_i, by blocks of rows; the same
 * passes as the full matrix (no exact shortcut), less the writing. */
int fp_hessian_diag(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    double *diag, fp_progress_fn progress, void *ctx, fp_error *err);
/* Hutchinson's estimate of the trace: the mean of z^T H z over `probes`
 * Rademacher vectors from `seed`; std_error (may be NULL) its standard error. */
int fp_hessian_hutchinson(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                          uint64_t probes, uint64_t seed, double *estimate, double *std_error,
                          fp_error *err);

typedef enum fp_eig_which { FP_EIG_LM, FP_EIG_LA, FP_EIG_SA, FP_EIG_BE } fp_eig_which;
/* k eigenvalues of H by Lanczos with full reorthogonalisation (in double):
 * largest magnitude (LM, sorted by decreasing |λ|), largest algebraic (LA,
 * decreasing), smallest (SA, increasing), or both ends (BE, SciPy's eigsh:
 * the k/2 smallest and the k - k/2 largest, increasing). Runs until the wanted Ritz values'
 * residual bounds fall below 1e-11 |λ_max| (f32: 1e-5), or the space is all of
 * R^n. k > n_params is an error. *iterations (may be NULL): HVPs used. */
int fp_hessian_eigs(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                    size_t k, fp_eig_which which, double *values, size_t *iterations,
                    fp_progress_fn progress, void *ctx, fp_error *err);

/* The flat vector `flat` (layout order, flat_dtype) as a new tree shaped like the
 * model: maps and lists keep their keys, each selected parameter array becomes an
 * array of out_dtype holding its slice, everything else is null; shared arrays
 * and modules stay shared. The caller releases it (fp_node_release). NULL on error. */
fp_node *fp_nested_tree(const fp_node *root, const fp_layout *layout, const void *flat,
                        fp_dtype flat_dtype, fp_dtype out_dtype, fp_error *err);

#endif
