/* .npy vectors and matrices (lib/vecio_npy.c): the header dict, descr,
 * fortran_order, shape, byte order, and the data it declares. The first byte
 * picks the type read as; the rest is the file. */
#include "fuzz_common.h"
#include "fuzz_vec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fp_dtype read_as[] = { FP_F64, FP_F32, FP_C128, FP_C64, FP_F16, FP_BF16, FP_I64, FP_U8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fp_dtype as = read_as[data[0] & 7];
    fuzz_vector_file(fuzz_file(0, data + 1, size - 1), "npy", as, (data[0] & 8) != 0);
    return 0;
}
