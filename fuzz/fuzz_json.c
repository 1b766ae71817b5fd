/* JSON models (formats/json*.c): parse, $ref linking, the tree, every array. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model(&fp_format_json, data, size);
    return 0;
}
