/* What the compute suite's files share: small models built in C with a fixed
 * seed, random matrices, and a net built from a tree in one call. */
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

TCase *compute_fixtures_tcase(void);
TCase *compute_cli_tcase(void);

#endif
