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

/* A double narrowed to float16 or bfloat16 rounds once, to the nearest value
 * (ties to even), as an exhaustive search over the 65,536 codes says; through
 * float32 it rounded twice (-905.25000689 gave -905, not -905.5). */
static double decode(uint16_t code, int brain)
{
    return brain ? (double)fp_bf16_to_f32(code) : (double)fp_f16_to_f32(code);
}

static uint16_t nearest_code(double x, int brain)
{
    uint16_t best = 0;
    double best_gap = INFINITY;
    for (uint32_t c = 0; c < 65536; c++) {
        double v = decode((uint16_t)c, brain);
        if (isnan(v) || !signbit(v) != !signbit(x))   /* (the sign stays: -0 for -tiny) */
            continue;
        if (isinf(v))   /* IEEE: overflow as if the next exponent existed */
            v = copysign(brain ? 0x1p128 : 0x1p16, v);
        double gap = fabs(v - x);   /* exact where x is within twice the range */
        if (gap < best_gap || (gap == best_gap && !(c & 1) && (best & 1))) {
            best = (uint16_t)c;
            best_gap = gap;
        }
    }
    return best;
}

START_TEST(narrowing_rounds_once)
{
    double xs[64] = { -905.25000689, 0.1, 1.0 / 3, 65504.0, 1e-5, -2.5e-6, 3.0e-8 };
    size_t n = 7;
    uint32_t seed = 12345;
    for (int brain = 0; brain < 2; brain++)
        for (int k = 0; k < 16; k++) {   /* halfway between two codes, nudged either way */
            seed = seed * 1664525u + 1013904223u;
            uint16_t c = (uint16_t)((seed >> 8) % (brain ? 0x7f00 : 0x7bff));
            double mid = (decode(c, brain) + decode((uint16_t)(c + 1), brain)) / 2;
            if (n + 2 <= 64) {
                xs[n++] = mid * (1 + 1e-12);
                xs[n++] = k % 2 ? mid : -mid * (1 - 1e-12);
            }
        }
    for (int brain = 0; brain < 2; brain++) {
        uint16_t got[64];
        fp_convert(got, brain ? FP_BF16 : FP_F16, xs, FP_F64, n, NULL);
        for (size_t i = 0; i < n; i++) {   /* (far past float16's range: infinity) */
            uint16_t want = !brain && fabs(xs[i]) >= 0x1p17 ? (xs[i] > 0 ? 0x7c00 : 0xfc00)
                                                             : nearest_code(xs[i], brain);
            ck_assert_msg(got[i] == want, "%s(%.17g): 0x%04x, nearest is 0x%04x",
                          brain ? "bfloat16" : "float16", xs[i], got[i], want);
        }
    }
    uint16_t h;
    double x = -905.25000689;
    fp_convert(&h, FP_F16, &x, FP_F64, 1, NULL);
    ck_assert(fp_f16_to_f32(h) == -905.5f);
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
    tcase_add_test(tc, narrowing_rounds_once);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
