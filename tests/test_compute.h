/* What the compute and Hessian suites' files share: small models built in C
 * with a fixed seed, random matrices, a net built from a tree in one call, and
 * the activation and loss cases both suites check against finite differences. */
#ifndef FP_TEST_COMPUTE_H
#define FP_TEST_COMPUTE_H

#include <check.h>

#include "compute/fp_compute.h"
#include "flatparams.h"

/* Uniform in [low, high), from a fixed-seed generator (t_seed restarts it). */
double t_uniform(double low, double high);
void t_seed(uint64_t seed);

/* A float64 array of rank 1 (d1 == 0) or 2, uniform in [low, high). */
fp_node *t_array(uint64_t d0, uint64_t d1, double low, double high);
/* A layer map with its type (as the format readers make it: node->type and a
 * "type" child); t_put appends a child, t_act an "activation" string if non-NULL. */
fp_node *t_layer(const char *type);
void t_put(fp_node *map, const char *key, fp_node *child);
void t_act(fp_node *map, const char *act);
fp_node *t_dense(uint64_t in, uint64_t out, const char *act);
/* Chain of the NULL-terminated layers. */
fp_node *t_chain(fp_node *first, ...);

/* rows x cols float64 matrix, uniform in [low, high); caller frees data. */
fp_matrix t_matrix(uint64_t rows, uint64_t cols, double low, double high);

/* Layout (with sel, NULL for trainable) and net in the given precision. */
fp_net *t_net(const fp_node *root, const fp_select *sel, fp_dtype precision, int train,
              fp_layout *layout);
/* fp_net_build's failure message for root (asserting that it fails). */
const char *t_build_error(const fp_node *root, int train);

/* Compares two vectors: max |a - b| / max |b| (0 when both are all zero). */
double t_rel_diff(const double *a, const double *b, uint64_t n);

/* Rows of the finite-difference tests' inputs. */
enum { T_BATCH = 6 };

/* Every activation, by name. */
extern const char *const t_activations[];
extern const size_t t_n_activations;

typedef enum { T_Y_NONE, T_Y_REAL, T_Y_ONEHOT, T_Y_LABELS, T_Y_PROB } t_target_kind;
typedef struct t_loss_case {
    fp_loss loss;
    const char *final;      /* the last layer's activation */
    t_target_kind target;
} t_loss_case;
extern const t_loss_case t_loss_cases[];
extern const size_t t_n_loss_cases;

/* rows x classes targets of the kind (labels: a vector of rows); caller frees data. */
fp_matrix t_target(t_target_kind kind, uint64_t rows, uint64_t classes);
/* A BatchNorm of n features with the four arrays under keys (scale, shift, mean, var). */
fp_node *t_batchnorm(uint64_t n, const char *act, const char *const keys[4]);
/* A LayerNorm of n features with a weight and a bias. */
fp_node *t_layernorm(uint64_t n, const char *act);

/* A suite's relative error against finite differences, on the float64 net of
 * n > 0 parameters. */
typedef double (*t_fd_error)(fp_net *net, uint64_t n, const fp_matrix *x, const fp_matrix *y,
                             fp_loss loss);
/* error on the float64 net of root (sel, train), built and freed around it. */
double t_fd_run(t_fd_error error, const fp_node *root, const fp_select *sel, int train,
                const fp_matrix *x, const fp_matrix *y, fp_loss loss);
/* t_rel_diff(exact, fd, n), asserting that exact (called what) is not all zero. */
double t_fd_rel(const double *exact, const double *fd, uint64_t n, const char *what);

/* A suite's finite-difference assertion on the model root. */
typedef void (*t_fd_check)(const fp_node *root, const fp_select *sel, int train,
                           const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                           const char *what);
/* Checks the activation in a Dense layer and as a layer of its own (the layer
 * after it with the activation last_act), on T_BATCH rows drawn after t_seed(seed). */
void t_fd_activation(const char *act, const char *last_act, uint64_t seed, t_fd_check check);
/* Checks t_loss_cases[i] on a two-layer model, on T_BATCH rows drawn after t_seed(seed). */
void t_fd_loss_case(int i, uint64_t seed, t_fd_check check);
/* Checks BatchNorm (inference, with its running statistics, training mode,
 * after a constant layer) and LayerNorm (with and without scale and shift). */
void t_fd_norm_cases(uint64_t seed, t_fd_check check);
/* Checks a weight used twice, a Keras kernel between Dropout/Flatten/Activation
 * layers, and the same with constants. */
void t_fd_structure_cases(uint64_t seed, t_fd_check check);

TCase *compute_fixtures_tcase(void);
TCase *compute_cli_tcase(void);

#endif
