/*
 * Inside the compute core: the net (its layers, buffers and the table of
 * per-precision passes). model.c builds it from a tree (no arithmetic),
 * net.c plans buffers and checks inputs (no arithmetic), and the kernels
 * (activations.c, losses.c, tangent.c, each layer kind's file of layers/,
 * passes.c, tangent_pass.c) are written once over a `real` type and compiled
 * twice, by compute_f32.c and compute_f64.c. layer.h says what a layer kind is.
 */
#ifndef FP_COMPUTE_INTERNAL_H
#define FP_COMPUTE_INTERNAL_H

#include "backend.h"
#include "fp_compute.h"
#include "layer.h"

struct net_ops;
struct net_tangent_ops;

struct fp_net {
    fp_dtype precision;
    int train_mode;
    const fp_backend *backend;
    const struct net_ops *ops;
    const struct net_tangent_ops *tangent_ops;
    /* A device backend's state (its copies of the buffers); freed by its release. */
    void *device;
    layer *layers;
    size_t n_layers;
    uint64_t in_features;  /* 0 when no layer fixes it (the first layer that fixes a width) */
    char *in_why;          /* which array fixes it ("/layers/0/weight is 4 x 2"), for messages */
    uint64_t n_params, n_consts;
    void *params, *grads, *consts;

    /* The workspace, planned for `rows` samples of shape in_shape (in_elems each). */
    uint64_t rows, in_elems;
    sample_shape in_shape;
    layer_plan *plan;
    void *work;
    uint64_t work_elems;
    uint64_t planned_elems;   /* what the plan for `rows` uses of it */
    uint64_t delta_at[2];  /* two rows x (the widest layer) buffers for the backward pass */
    uint64_t target_at;    /* the target, rows x out, in the compute dtype */

    /* Hessian scratch kept between calls (hessian.c), so blocks of rows do not
     * fault in fresh pages each time: per host thread, the tangent workspace
     * and unit directions (and, beyond the first, a workspace for the primal
     * passes); n_workers of them. */
    struct fp_hvp_worker *workers;
    size_t n_workers;
};

/* The passes, one table per precision. Pointers are to the compute dtype. */
typedef struct net_ops {
    /* m(x) into the planned buffers. */
    void (*forward)(fp_net *net, const void *x);
    /* The loss of the last forward; with_grad also leaves dL/dout in delta_at[0]. */
    double (*loss)(fp_net *net, fp_loss loss, int with_grad);
    /* Zeroes the gradient buffer, then accumulates the backward pass into it. */
    void (*backward)(fp_net *net, const void *x);
} net_ops;

extern const net_ops fp_net_ops_f32, fp_net_ops_f64;

/* A block of K directions for the tangent pass, with what is known of them so
 * the pass skips work that is zero or not wanted: V (K x n_params, compute
 * dtype) is zero outside the columns [lo, hi); with unit, row k is exactly
 * e_(lo+k) (rows of H); H V's columns below col_lo are not wanted (the pass may
 * leave them zero). A general block: lo 0, hi n_params, unit 0, col_lo 0. */
typedef struct tangent_dirs {
    const void *V;
    size_t k;
    uint64_t lo, hi, col_lo;
    int unit;
    int diag_only;   /* unit rows whose diagonal entries alone are read back (--diag):
                      * a device backend copies just those */
    int forward_done;   /* the primal forward of this batch is already in the workspace */
} tangent_dirs;

/* The tangent pass (tangent.c, tangent_pass.c): HV (k x n_params) = H V for the
 * directions on the prepared batch; tangents is scratch of fp_tangent_scratch_elems
 * (for k = dirs->k and its unit). */
typedef struct net_tangent_ops {
    void (*hvp)(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dirs, void *HV,
                void *tangents);
    /* A device's pipelined blocks of rows (NULL on the host): rows_start queues
     * H V for the directions and the copy of the rows back to the host, and
     * returns at once; rows_wait waits for the oldest block started and returns
     * its rows, in the backend's memory, valid until the second rows_start
     * after it (NULL when the block failed). At most two blocks are in flight,
     * so the device computes one while the host writes the other. */
    void (*rows_start)(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dirs);
    const void *(*rows_wait)(fp_net *net);
    /* A device's whole matrix (NULL on the host): the upper triangle's rows in
     * blocks of `block` (each in passes of at most `pass` directions), kept in
     * device memory, each block made final there once computed and copied out
     * into the sink while the next computes (fp_hessian_full_on_device); 1,
     * having written nothing, when it does not fit. */
    int (*full_matrix)(fp_net *net, const void *x, fp_loss loss, size_t block, size_t pass,
                       const fp_row_sink *sink, fp_error *err);
} net_tangent_ops;

/* -1 with the reason when a device backend's last passes failed (net.c). */
int fp_net_device_failed(fp_net *net, fp_error *err);

/* Frees the Hessian's per-thread scratch (hessian.c). */
void fp_hvp_workers_free(fp_net *net);

/* Elements of tangent scratch for K directions on the planned batch. */
uint64_t fp_tangent_scratch_elems(const fp_net *net, size_t K, int unit);
/* Of which the tangents of fp_tangent_capacity directions come first (the plan
 * scaled by it), then a neuron pass's products (tangent_pass.c's neuron rows). */
size_t fp_tangent_capacity(const fp_net *net, size_t k, int unit);
uint64_t fp_neuron_scratch_elems(const fp_net *net);
/* Whether a Dense weight's rows of H come from its neurons' tangents: on the
 * host by default, on a device with FLATPARAMS_NEURON_ROWS=1; =0 turns it off. */
int fp_neuron_rows_on(const fp_net *net);

extern const net_tangent_ops fp_net_tangent_ops_f32, fp_net_tangent_ops_f64;

/* symmetrise.c, per precision: fp_hessian_symmetrise and _rows' work. */
void fp_symmetrise_f32(void *matrix, uint64_t n, uint64_t block);
void fp_symmetrise_f64(void *matrix, uint64_t n, uint64_t block);
void fp_symmetrise_rows_f32(void *rows, const void *strip, uint64_t W, uint64_t block, uint64_t n,
                            uint64_t at);
void fp_symmetrise_rows_f64(void *rows, const void *strip, uint64_t W, uint64_t block, uint64_t n,
                            uint64_t at);

/* splitmix64, the fixed-seed generator of Hutchinson's probes and Lanczos' start. */
uint64_t fp_splitmix64(uint64_t *state);

/* X's samples: how many, and their shape (net.c). */
void fp_net_input_shape(const fp_net *net, const fp_matrix *x, uint64_t *rows,
                        sample_shape *sample);

/* Checks X (and Y with with_target), plans the batch, copies Y into the target
 * buffer and returns X in the compute dtype (*owned: a converted copy to free). */
int fp_net_prepare(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                   int with_target, const void **x_data, void **owned, fp_error *err);

#endif
