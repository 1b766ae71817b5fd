/* What the Hessian suite's files share, on top of test_compute.h: the loss
 * cases, targets, a BatchNorm layer, and a reference eigenvalue routine. */
#ifndef FP_TEST_HESSIAN_H
#define FP_TEST_HESSIAN_H

#include "test_compute.h"

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
/* All eigenvalues of the symmetric n x n matrix A (destroyed), increasing, by cyclic Jacobi. */
void t_jacobi_eigenvalues(double *A, uint64_t n, double *values);

TCase *hessian_fixtures_tcase(void);
TCase *hessian_cli_tcase(void);

#endif
