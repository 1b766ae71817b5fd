/* Shared helpers of the vecio suite (test_vecio.c, test_vecio_files.c). */
#ifndef FP_TEST_VECIO_H
#define FP_TEST_VECIO_H

#include "harness.h"
#include "flatparams.h"

/* Writes n elements of dtype in pieces of `piece` elements; asserts success. */
void vec_write(const char *path, const char *format, fp_dtype dtype, int rank,
               const uint64_t *shape, const void *data, uint64_t piece);
/* Reads everything as dtype in reads of `piece` elements into a malloc'd buffer;
 * asserts success and returns the count. */
uint64_t vec_read_all(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                      uint64_t piece, void **data);
/* Opening or reading must fail with a message containing `needle`. */
void vec_read_fails(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                    const char *needle);
/* Deterministic pseudo-random bits. */
uint64_t test_rand64(void);

TCase *vecio_files_tcase(void);

#endif
