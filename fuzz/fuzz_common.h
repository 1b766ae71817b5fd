/* What the libFuzzer harnesses share: the input as a file (the parsers take
 * paths) and a pass over a model tree that loads every array, the way
 * `flatparams flatten --all` would. Not part of the library. */
#ifndef FP_FUZZ_COMMON_H
#define FP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "flatparams.h"

/* The input's bytes as a file: a memfd (no disk traffic, no cleanup) reused
 * for every input of the process. slot picks one of two such files, for
 * harnesses that need a second one. Returns its path ("/proc/self/fd/N");
 * aborts when the file cannot be made, which is the harness's bug. */
const char *fuzz_file(int slot, const uint8_t *data, size_t size);

/* Walks the tree, lays out every parameter (trainable or not) and reads each
 * one as float64 and as its own dtype, then frees nothing: the caller owns tree.
 * Errors from the loads are expected (hostile input) and ignored. */
void fuzz_consume_tree(const fp_tree *tree);

/* Reads data as a model of format fmt and consumes it as above. */
void fuzz_model(const fp_format *fmt, const uint8_t *data, size_t size);

#endif
