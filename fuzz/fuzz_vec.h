/* The vector-file harnesses' shared pass (fuzz_npy.c, fuzz_vectext.c). */
#ifndef FP_FUZZ_VEC_H
#define FP_FUZZ_VEC_H

#include "flatparams.h"

/* Reads path as format through the streaming reader (converted to as, in
 * pieces) and, when matrix is set, through fp_matrix_read as well. */
void fuzz_vector_file(const char *path, const char *format, fp_dtype as, int matrix);

#endif
