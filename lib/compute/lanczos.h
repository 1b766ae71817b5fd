/* What lanczos.c shares with density.c's quadrature: the tridiagonal
 * eigenproblem and the reorthogonalisation. */
#ifndef FP_COMPUTE_LANCZOS_H
#define FP_COMPUTE_LANCZOS_H

#include "compute_internal.h"
#include "fp_curvature.h"

/* Implicit QL on the symmetric tridiagonal T (diagonal d[0..m), off-diagonal
 * e[0..m-1), e[i] between i and i+1): d becomes the eigenvalues (unsorted), e
 * is destroyed, and Z (rows x m) the rows first_row .. first_row + rows - 1 of
 * the matrix whose columns are the eigenvectors, in d's order (rows 1,
 * first_row m - 1: the last components, for residual bounds; first_row 0: the
 * first, for quadrature weights; rows m: all of them). -1 when it does not
 * converge. */
int fp_tridiagonal_eigs(double *d, double *e, double *Z, size_t first_row, size_t rows, size_t m);

/* w -= Q_j (Q_j^T w) for the j rows of Q (n each), twice (classical
 * Gram-Schmidt, so ghosts cannot creep in); returns |w|. */
double fp_lanczos_orthogonalise(double *w, const double *Q, size_t j, size_t n);

#endif
