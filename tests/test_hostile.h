/* The hostile suite (tests/test_hostile*.c): hostile inputs and hostile output
 * targets, through the built executable. */
#ifndef FP_TEST_HOSTILE_H
#define FP_TEST_HOSTILE_H

#include "harness.h"

/* Each command on a hostile file must end within this many seconds (the HDF5
 * metadata child alone may take 20). */
enum { HOSTILE_SECONDS = 40 };

/* Peak memory of a command that refuses a declared 4 TiB: far below it, with
 * room for what the process holds anyway (BLAS, the sanitizer runtime). */
enum { HOSTILE_MAX_RSS_KB = 1 << 20 };

/* Runs FP_BIN with argv and asserts the contract for any input: exit 0 (with
 * output on stdout or in out_file when non-NULL), or exit 1 with exactly one
 * line "flatparams: error: ..." naming `names` (if non-NULL); never a signal,
 * never past HOSTILE_SECONDS. Returns the exit status. */
int run_hostile(const char *const *argv, const char *out_file, const char *names);

/* One output per writer: the target's file name inside the directory, and
 * the command (the target's path is appended). */
typedef struct output_case {
    const char *target;
    const char *argv[10];
    int scratch_file;   /* FLATPARAMS_SCRATCH_FILE: hessian's big-matrix path */
} output_case;
enum { MAX_OUTPUT_CASES = 16 };
/* Every writer's case (test_hostile_write.c) into cases, which holds
 * MAX_OUTPUT_CASES; their count. */
size_t hostile_output_cases(output_case *cases);

void add_hostile_input_tests(Suite *s);
void add_hostile_output_tests(Suite *s);
void add_hostile_fuzz_tests(Suite *s);
void add_hostile_order_tests(Suite *s);
void add_hostile_h5data_tests(Suite *s);
void add_hostile_limit_tests(Suite *s);
void add_hostile_zip_tests(Suite *s);
void add_hostile_link_tests(Suite *s);
void add_hostile_sweep_tests(Suite *s);
void add_hostile_memory_tests(Suite *s);
void add_hostile_keras_list_tests(Suite *s);

#endif
