/* Shared helpers for the Check suites: run the flatparams binary, make temporary
 * directories, read files back. Paths come from the environment that meson sets:
 * FP_BIN (the executable), FP_TESTDATA (testdata/), FP_CORPUS (testdata/corpus: files written by other projects). */
#ifndef FP_TEST_HARNESS_H
#define FP_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

typedef struct run_result {
    int status;        /* exit status, or 128 + signal when killed by one */
    char *out;         /* captured stdout (NUL-terminated), caller frees via run_free */
    size_t out_len;
    char *err;         /* captured stderr */
    size_t err_len;
    long max_rss_kb;   /* the child's peak resident memory */
} run_result;

/* Runs FP_BIN with argv (NULL-terminated, without argv[0]); stdin_data may be NULL.
 * Times out after 60 s (status 128 + SIGKILL). */
run_result run_fp(const char *stdin_data, size_t stdin_len, const char *const *argv);
/* run_fp with the child held to memory_mib MiB (0: no limit): an address-space
 * limit, or AddressSanitizer's allocation limits in a sanitizer build, so a
 * blow-up fails the test (an allocation fails, or the child is killed) instead
 * of the machine. run_fp uses FP_TEST_MEMORY_MIB (harness_memory_mib) when set. */
run_result run_fp_memory(size_t memory_mib, const char *stdin_data, size_t stdin_len,
                         const char *const *argv);
size_t harness_memory_mib(void);
/* 1 in an AddressSanitizer build, where run_fp_memory limits allocations
 * rather than the address space (which ASan's shadow alone exceeds). */
int harness_asan(void);
/* Convenience: run_fpv(NULL, "flatten", path, NULL). */
run_result run_fpv(const char *stdin_data, ...);
void run_free(run_result *r);

/* Asserts the error contract: exit 1, exactly one line on stderr starting with
 * "flatparams: error: " and containing `needle` (if non-NULL), nothing on stdout. */
void assert_error_line(const run_result *r, const char *needle);
/* The same for wrong usage: exit 2, one "flatparams: error: COMMAND: ..." line. */
void assert_usage_line(const run_result *r, const char *needle);

const char *testdata(const char *name);   /* FP_TESTDATA/name, static buffer ring */
const char *corpus(const char *name);     /* FP_CORPUS/name */
/* A fresh empty directory, removed at exit (with its files). */
const char *tmpdir(void);
const char *tmpfile_in(const char *name); /* tmpdir()/name */

/* Whole file into a malloc'd buffer (NUL-terminated); NULL if missing. */
char *read_file(const char *path, size_t *len);
int write_file(const char *path, const void *data, size_t len);
/* The two files hold the same bytes (asserted). */
void assert_same_bytes(const char *a, const char *b);
/* text into tmpfile_in(name) (asserted); its path. */
const char *write_tmp(const char *name, const char *text);
int file_exists(const char *path);
/* A safetensors file from a header and data bytes (the 8-byte length
 * prepended) as tmpfile_in(name); its path. */
const char *write_safetensors(const char *name, const char *header, const void *data, size_t n_data);
/* Number of entries in a directory other than . and .. */
int dir_count(const char *path);

/* Parses whitespace-separated numbers; returns count, fills *values (malloc'd). */
size_t parse_numbers(const char *text, double **values);

/* Reads a .npy file written by a fixture script (float32/float64/int64, little-endian)
 * as doubles; returns element count or (size_t)-1. shape/rank optional. */
size_t read_npy_f64(const char *path, double **values, int *rank, uint64_t shape[8]);

/* Runs a suite and returns the process exit status (0 when all passed). */
int run_suite(Suite *s);

#endif
