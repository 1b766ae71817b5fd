/* What the Hessian suite's files share, on top of test_compute.h: a reference
 * eigenvalue routine. */
#ifndef FP_TEST_HESSIAN_H
#define FP_TEST_HESSIAN_H

#include "test_compute.h"

/* All eigenvalues of the symmetric n x n matrix A (destroyed), increasing, by cyclic Jacobi. */
void t_jacobi_eigenvalues(double *A, uint64_t n, double *values);

TCase *hessian_fixtures_tcase(void);
TCase *hessian_cli_tcase(void);
TCase *hessian_progress_tcase(void);   /* test_hessian_progress.c */

#endif
