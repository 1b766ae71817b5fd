/* safetensors files (formats/safetensors*.c): the header's JSON, dtypes,
 * shapes and offsets, the nesting of dotted names, and every tensor's bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model(&fp_format_safetensors, data, size);
    return 0;
}
