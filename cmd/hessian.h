/* What hessian.c (the matrix, its rows, H v) shares with hessian_spectral.c
 * (eigenvalues and eigenvectors, the diagonal, the trace and its estimators,
 * the spectral density). */
#ifndef FP_CMD_HESSIAN_H
#define FP_CMD_HESSIAN_H

#include "compute.h"

typedef struct job {
    const cmd_opts *opts;
    compute_session *s;
    const fp_matrix *y;
    fp_loss loss;
    cmd_progress prog;
    double *diag;   /* --diag, --trace: the diagonal's buffer */
    fp_vec_writer *full;   /* the full matrix's output, opened before the net (run) */
} job;

/* The usage checks of the spectral modes' options (--which, --eigvecs, --seed,
 * --probes, --steps, --sigma, --points, --hutchpp): 0, or the exit status
 * after printing the usage error. */
int hessian_check_spectral(const cmd_opts *o);
/* --eigs, --diag, --trace, --hutchinson, --hutchpp or --density, written. */
int hessian_write_spectral(job *j, fp_error *err);

#endif
