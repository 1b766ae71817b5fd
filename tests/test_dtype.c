/* dtype.c: names, promotion and conversion, against values computed by hand. */
#include "harness.h"
#include "flatparams.h"

#include <math.h>
#include <string.h>

START_TEST(names_round_trip)
{
    for (int t = FP_DT_NONE + 1; t < FP_DT_COUNT; t++)
        ck_assert_int_eq(fp_dtype_parse(fp_dtype_name((fp_dtype)t)), t);
    ck_assert_int_eq(fp_dtype_parse("f32"), FP_F32);
    ck_assert_int_eq(fp_dtype_parse("bf16"), FP_BF16);
    ck_assert_int_eq(fp_dtype_parse("F16"), FP_F16);
    ck_assert_int_eq(fp_dtype_parse("quux"), FP_DT_NONE);
    ck_assert_uint_eq(fp_dtype_size(FP_C128), 16);
}
END_TEST

START_TEST(promotion)
{
    ck_assert_int_eq(fp_dtype_promote(FP_DT_NONE, FP_F16), FP_F32);
    ck_assert_int_eq(fp_dtype_promote(FP_F32, FP_F64), FP_F64);
    ck_assert_int_eq(fp_dtype_promote(FP_F32, FP_C64), FP_C64);
    ck_assert_int_eq(fp_dtype_promote(FP_F64, FP_C64), FP_C128);
    ck_assert_int_eq(fp_dtype_promote(FP_C64, FP_BF16), FP_C64);
    ck_assert_int_eq(fp_dtype_promote(FP_DT_NONE, FP_I32), FP_F32);
    ck_assert(fp_dtype_is_param(FP_BF16));
    ck_assert(!fp_dtype_is_param(FP_I64));
    ck_assert(!fp_dtype_is_param(FP_BOOL));
}
END_TEST

START_TEST(half_precision_exact)
{
    /* Every one of the 65536 f16 and bf16 bit patterns survives f16 -> f32 -> f16. */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp_f16_to_f32((uint16_t)h);
        if (isnan(f))
            ck_assert(isnan(fp_f16_to_f32(fp_f32_to_f16(f))));
        else
            ck_assert_uint_eq(fp_f32_to_f16(f), h);
        float b = fp_bf16_to_f32((uint16_t)h);
        if (!isnan(b))
            ck_assert_uint_eq(fp_f32_to_bf16(b), h);
    }
    ck_assert_float_eq(fp_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(fp_f16_to_f32(0x0001), 5.9604644775390625e-08f);
    ck_assert_float_eq(fp_f16_to_f32(0x7bff), 65504.0f);
    ck_assert_uint_eq(fp_f32_to_f16(65520.0f), 0x7c00);    /* overflow to inf */
    ck_assert_uint_eq(fp_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    ck_assert_uint_eq(fp_f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    ck_assert_uint_eq(fp_f32_to_bf16(3.14159265f), 0x4049);
}
END_TEST

START_TEST(convert_values)
{
    double d[4] = { 1.5, -2.25, 1e300, 0.1 };
    float f[4];
    ck_assert_int_eq(fp_convert(f, FP_F32, d, FP_F64, 4, NULL), 0);
    ck_assert_float_eq(f[0], 1.5f);
    ck_assert(isinf(f[2]));
    ck_assert_float_eq(f[3], 0.1f);
    int64_t k[2];
    double big[2] = { 1e30, -3.7 };
    fp_convert(k, FP_I64, big, FP_F64, 2, NULL);
    ck_assert_int_eq(k[1], -3);
    ck_assert(k[0] > 0);

    double c[4] = { 1, 0, 2, 0.5 };   /* complex128: 1+0i, 2+0.5i */
    double r[2];
    size_t bad = 99;
    ck_assert_int_eq(fp_convert(r, FP_F64, c, FP_C128, 2, &bad), -1);
    ck_assert_uint_eq(bad, 1);
    ck_assert_int_eq(fp_convert(r, FP_F64, c, FP_C128, 1, NULL), 0);
    ck_assert_double_eq(r[0], 1.0);

    /* widening in place, as fp_array_read does */
    double buf[3];
    float src[3] = { 0.5f, 0.25f, -8.0f };
    memcpy(buf, src, sizeof src);
    fp_convert(buf, FP_F64, buf, FP_F32, 3, NULL);
    ck_assert_double_eq(buf[0], 0.5);
    ck_assert_double_eq(buf[2], -8.0);
    float cbuf[6] = { 1.0f, 2.0f, 3.0f };
    fp_convert(cbuf, FP_C64, cbuf, FP_F32, 3, NULL);
    ck_assert_float_eq(cbuf[4], 3.0f);
    ck_assert_float_eq(cbuf[5], 0.0f);
    ck_assert_float_eq(cbuf[2], 2.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("dtype");
    tcase_add_test(tc, names_round_trip);
    tcase_add_test(tc, promotion);
    tcase_add_test(tc, half_precision_exact);
    tcase_add_test(tc, convert_values);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
