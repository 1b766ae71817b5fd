/* What the safetensors suite's two files share. */
#ifndef FP_TEST_SAFETENSORS_H
#define FP_TEST_SAFETENSORS_H

#include <check.h>
#include "flatparams.h"

/* testdata/safetensors/NAME */
const char *fixture(const char *name);
/* Opens a model, asserting success and the safetensors format. */
void open_ok(const char *path, fp_tree *tree);
/* The node at a model path like "/layers/0/weight" (asserting it exists). */
fp_node *node_at(const fp_node *root, const char *path);
/* The layout of the trainable parameters, or with all = 1 of all of them. */
fp_layout layout_of(const fp_node *root, int all);
/* The flat vector as doubles (complex as re, im pairs); caller frees. */
double *flatten(const fp_layout *layout);
/* The header length in a file's first 8 bytes. */
uint64_t header_length(const char *bytes);
/* The writing and patching tests (test_safetensors_write.c). */
TCase *safetensors_write_tcase(void);
/* The order recorded in __metadata__ (test_safetensors_order.c). */
TCase *safetensors_order_tcase(void);

#endif
