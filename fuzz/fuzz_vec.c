#include "fuzz_vec.h"

#include <stdlib.h>

void fuzz_vector_file(const char *path, const char *format, fp_dtype as, int matrix)
{
    fp_error err;
    fp_vec_reader *r;
    if (fp_vec_reader_open(&r, path, format, FP_F32, &err) == 0) {
        /* An odd piece size, so element boundaries fall inside the buffers. */
        enum { PIECE = 37 };
        unsigned char dst[PIECE * 16];
        uint64_t got = PIECE;
        (void)fp_vec_reader_dtype(r);
        (void)fp_vec_reader_count(r);
        while (got == PIECE && fp_vec_reader_read(r, dst, as, PIECE, &got, &err) == 0)
            ;
        fp_vec_reader_close(r);
    }
    if (matrix) {
        fp_matrix m = { 0 };
        if (fp_matrix_read(path, format, FP_F32, as, &m, &err) == 0) {
            /* The whole array must be there: touch its last element. */
            size_t size = fp_dtype_size(as), n = (size_t)(m.rows * m.cols);
            if (n)
                ((volatile unsigned char *)m.data)[n * size - 1];
            free(m.data);
        }
    }
}
