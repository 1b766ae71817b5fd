/*
 * Curvature beyond the Hessian's entries, on a built net (fp_compute.h):
 * eigenvectors, seeded estimators (Hutch++ beside Hutchinson's trace, the
 * spectral density by stochastic Lanczos quadrature) and loss landscapes.
 *
 * The estimators draw their probes from a seed and compute their products
 * with fp_hvp_reproducible, so a seed gives the same bytes on any thread
 * count, in f32 and in f64. Every function that can fail returns 0 on
 * success and -1 after filling err; buffers are the caller's unless noted.
 */
#ifndef FP_CURVATURE_H
#define FP_CURVATURE_H

#include "fp_compute.h"

/* The seed of the commands' estimators and random directions without --seed. */
#define FP_SEED_DEFAULT 24301u   /* 0x5EED */

/* fp_hessian_eigs, and when vectors is non-NULL the Ritz vectors too: k x
 * n_params doubles, row i for values[i], each of unit length with its largest
 * component positive (an eigenvector's sign is arbitrary; this fixes one). */
int fp_hessian_eigpairs(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                        size_t k, fp_eig_which which, double *values, double *vectors,
                        size_t *iterations, fp_progress_fn progress, void *ctx, fp_error *err);

/* HV = H V as fp_hvp, but with the directions cut into passes whose size
 * depends on the net and X alone, each pass on one thread (gemm single
 * threaded, the passes side by side): row i of HV has the same bytes for any
 * thread count, which fp_hvp's blocks (shared out by the thread count) do
 * not promise. For seeded estimators. */
int fp_hvp_reproducible(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                        const void *V, size_t k, void *HV, fp_error *err);

/* Hutch++ (Meyer, Musco, Musco & Woodruff 2021) from `products` (at least 3)
 * Hessian-vector products: S, a third of them Rademacher; Q an orthonormal
 * basis of H S; tr(Q^T H Q) from the second third, exactly; and Hutchinson's
 * estimate of the rest, tr((I - QQ^T) H (I - QQ^T)), from the last third
 * (Rademacher G, projected). For a spectrum that decays, the low-rank part
 * holds most of the trace and the error falls as 1/products rather than
 * Hutchinson's 1/sqrt(products). std_error (may be NULL): the standard error
 * of the estimate, which is that of its Hutchinson part (the rest is exact
 * for the Q drawn). */
int fp_hessian_hutchpp(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                       uint64_t products, uint64_t seed, double *estimate, double *std_error,
                       fp_error *err);

/* ---- the spectral density: stochastic Lanczos quadrature (Ubaru, Chen &
 * Saad 2017; PyHessian's density, Ghorbani, Krishnan & Xiao 2019). Each
 * probe, a Rademacher vector scaled to unit length, starts `steps` Lanczos
 * steps with full reorthogonalisation; the eigenvalues of its tridiagonal T
 * are the quadrature's nodes and the squared first components of their
 * eigenvectors its weights: sum_j w_j f(θ_j) estimates v^T f(H) v, whose
 * mean over probes is tr(f(H)) / n. An estimator: its error shrinks with
 * more probes (the weights' noise) and more steps (the nodes' resolution). */
typedef struct fp_slq {
    size_t probes, steps;   /* steps as run: at most n_params */
    double *nodes;          /* probes x steps: each probe's nodes, then (past its count) none */
    double *weights;        /* probes x steps: the nodes' weights, summing to 1 per probe */
    size_t *counts;         /* the nodes of each probe: steps, or fewer where its Krylov
                             * space closed (the quadrature then exact for that probe) */
} fp_slq;

/* The nodes and weights of `probes` probes from seed. The probes run in
 * groups whose Lanczos vectors stay under 1 GiB, each step one
 * fp_hvp_reproducible of the group's directions. progress (may be NULL):
 * steps done of all probes' steps. Free with fp_slq_free. */
int fp_hessian_slq(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                   size_t probes, size_t steps, uint64_t seed, fp_slq *out,
                   fp_progress_fn progress, void *ctx, fp_error *err);
void fp_slq_free(fp_slq *slq);

/* PyHessian's defaults for fp_slq_density. */
#define FP_DENSITY_POINTS 10000
#define FP_DENSITY_MARGIN 0.01           /* the grid reaches this far past the nodes */
#define FP_DENSITY_VARIANCE 1e-5         /* the Gaussian's variance per unit of the grid's width */

/* The density on `points` (>= 2) grid values from the mean of the probes'
 * smallest node minus FP_DENSITY_MARGIN to the mean of their largest plus it
 * (PyHessian's grid): each node a Gaussian of standard deviation sigma, its
 * weight times it, averaged over the probes and normalised so the grid's
 * Riemann sum is 1. sigma <= 0: PyHessian's, sqrt(FP_DENSITY_VARIANCE *
 * max(1, the grid's width)); *sigma_used (may be NULL) the one used. */
void fp_slq_density(const fp_slq *slq, size_t points, double sigma, double *grid,
                    double *density, double *sigma_used);

/* ---- loss landscapes: the loss at θ + a d1 (+ b d2) over a grid. */

/* k random directions (k x n_params doubles) from seed, filter-normalised
 * (Li, Xu, Taylor, Studer & Goldstein 2018): each entry Gaussian, then each
 * filter's part rescaled to the norm of the same part of θ, the parameters
 * the net holds. A Dense weight's filters are its output neurons (a row of
 * an out x in weight, a column of a Keras kernel, in x out); every other
 * array is one filter. layout: the one the net was built with. */
int fp_landscape_random(const fp_net *net, const fp_layout *layout, size_t k, uint64_t seed,
                        double *directions, fp_error *err);

/* losses[i] = L(θ + c_i d1) (k = 1), or losses[i * points + j] =
 * L(θ + c_i d1 + c_j d2) (k = 2), for the coordinates c (points of them);
 * directions k x n_params doubles. The net's parameters are θ again after,
 * bit for bit. progress (may be NULL): losses done of all. */
int fp_landscape_grid(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                      const double *directions, size_t k, const double *coords, size_t points,
                      double *losses, fp_progress_fn progress, void *ctx, fp_error *err);

#endif
