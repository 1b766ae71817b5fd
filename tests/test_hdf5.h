/* Helpers shared by the HDF5 suite's files (test_hdf5.c, test_hdf5_write.c). */
#ifndef FP_TEST_HDF5_H
#define FP_TEST_HDF5_H

#include "flatparams.h"
#include "harness.h"

/* Opens a model file or fails the test with the library's message. */
void h5t_open(const char *path, fp_tree *tree);
/* Asserts that opening fails with one line that names the file and holds needle. */
void h5t_open_fails(const char *path, const char *needle);
/* The node at a model path ("/a/0/b"), or NULL. */
fp_node *h5t_at(fp_node *root, const char *path);
/* Asserts two trees are equal: kinds, types, marks, scalars, array bytes; map
 * members are matched by key (attributes may come before links after a write). */
void h5t_assert_same(const fp_node *a, const fp_node *b, const char *path);
/* An fp_array_source that reads each array from its own tree. */
extern const fp_array_source h5t_tree_source;
/* Writes tree with the HDF5 format to a new file under tmpdir() and returns its path. */
const char *h5t_write(const fp_node *root, const char *name);

void h5t_add_write_tests(Suite *s);

#endif
