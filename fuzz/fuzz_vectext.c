/* Text vectors and matrices (lib/vecio_text.c, vecio_json.c, fp_matrix_read):
 * numbers, complex pairs, comments, rows, nested JSON lists. The first byte
 * picks the format and the type read as; the rest is the file. */
#include "fuzz_common.h"
#include "fuzz_vec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = { "txt", "csv", "json", "txt" };
static const fp_dtype read_as[] = { FP_F64, FP_F32, FP_C128, FP_C64, FP_F16, FP_BF16, FP_I64, FP_U8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *format = formats[data[0] & 3];
    fp_dtype as = read_as[(data[0] >> 2) & 7];
    fuzz_vector_file(fuzz_file(0, data + 1, size - 1), format, as, (data[0] & 32) != 0);
    return 0;
}
