/* What the json suite's two files share. */
#ifndef FP_TEST_JSON_H
#define FP_TEST_JSON_H

#include <check.h>
#include "flatparams.h"

/* Writes json to a fresh temporary file and reads it as a model (asserting success). */
void open_doc(const char *json, fp_tree *tree);
/* The node at a model path like "/layers/0/weight" (asserting it exists). */
fp_node *at(const fp_node *root, const char *path);
/* The writing tests (test_json_write.c). */
TCase *json_write_tcase(void);
/* The parser against cJSON (test_json_parse.c). */
TCase *json_parse_tcase(void);

#endif
