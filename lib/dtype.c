/* Element types and conversion between them. Every conversion goes through one
 * widened value (double, or a pair of doubles for complex) except the hot paths
 * that flatten and rebuild hit on real models, which are direct loops. */
#include "flatparams.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name, *short_name, *alt;
    size_t size;
} dtype_info[FP_DT_COUNT] = {
    [FP_DT_NONE] = { "none", "none", NULL, 0 },
    [FP_F16]  = { "float16", "f16", "half", 2 },
    [FP_BF16] = { "bfloat16", "bf16", NULL, 2 },
    [FP_F32]  = { "float32", "f32", "float", 4 },
    [FP_F64]  = { "float64", "f64", "double", 8 },
    [FP_C64]  = { "complex64", "c64", NULL, 8 },
    [FP_C128] = { "complex128", "c128", NULL, 16 },
    [FP_BOOL] = { "bool", "b1", NULL, 1 },
    [FP_I8]   = { "int8", "i8", NULL, 1 },
    [FP_U8]   = { "uint8", "u8", NULL, 1 },
    [FP_I16]  = { "int16", "i16", NULL, 2 },
    [FP_U16]  = { "uint16", "u16", NULL, 2 },
    [FP_I32]  = { "int32", "i32", NULL, 4 },
    [FP_U32]  = { "uint32", "u32", NULL, 4 },
    [FP_I64]  = { "int64", "i64", NULL, 8 },
    [FP_U64]  = { "uint64", "u64", NULL, 8 },
};

size_t fp_dtype_size(fp_dtype dtype)
{
    return dtype > FP_DT_NONE && dtype < FP_DT_COUNT ? dtype_info[dtype].size : 0;
}

const char *fp_dtype_name(fp_dtype dtype)
{
    return dtype >= FP_DT_NONE && dtype < FP_DT_COUNT ? dtype_info[dtype].name : "none";
}

fp_dtype fp_dtype_parse(const char *name)
{
    if (!name)
        return FP_DT_NONE;
    for (int t = FP_DT_NONE + 1; t < FP_DT_COUNT; t++) {
        if (!strcasecmp(name, dtype_info[t].name) || !strcasecmp(name, dtype_info[t].short_name)
            || (dtype_info[t].alt && !strcasecmp(name, dtype_info[t].alt)))
            return (fp_dtype)t;
    }
    /* safetensors and Keras spellings */
    static const struct { const char *name; fp_dtype dtype; } extra[] = {
        { "F16", FP_F16 }, { "BF16", FP_BF16 }, { "F32", FP_F32 }, { "F64", FP_F64 },
        { "complex", FP_C128 }, { "boolean", FP_BOOL },
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (!strcasecmp(name, extra[i].name))
            return extra[i].dtype;
    return FP_DT_NONE;
}

int fp_dtype_is_complex(fp_dtype d) { return d == FP_C64 || d == FP_C128; }
int fp_dtype_is_float(fp_dtype d) { return d == FP_F16 || d == FP_BF16 || d == FP_F32 || d == FP_F64; }
int fp_dtype_is_param(fp_dtype d) { return fp_dtype_is_float(d) || fp_dtype_is_complex(d); }

fp_dtype fp_dtype_promote(fp_dtype acc, fp_dtype next)
{
    if (!fp_dtype_is_param(next))
        return acc == FP_DT_NONE ? FP_F32 : acc;
    int wide = acc == FP_F64 || acc == FP_C128 || next == FP_F64 || next == FP_C128;
    int cplx = fp_dtype_is_complex(acc) || fp_dtype_is_complex(next);
    if (cplx)
        return wide ? FP_C128 : FP_C64;
    return wide ? FP_F64 : FP_F32;
}

/* IEEE half and bfloat16, exact in both directions where representable. */
float fp_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int shift = 0;
            while (!(mant & 0x400)) { mant <<= 1; shift++; }
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 + 1 - shift) << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, absx = x & 0x7fffffff;
    if (absx >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* result subnormal or zero: let float arithmetic round */
        float a;
        memcpy(&a, &absx, 4);
        return (uint16_t)(sign | (uint16_t)lrintf(a * 16777216.0f)); /* 2^24 */
    }
    uint32_t mant_odd = (absx >> 13) & 1;
    absx += 0xfff + mant_odd; /* round to nearest even */
    return (uint16_t)(sign | ((absx - 0x38000000u) >> 13));
}

float fp_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* Loads element i as (re, im). */
static void load_elem(const void *src, fp_dtype t, size_t i, double *re, double *im)
{
    *im = 0;
    switch (t) {
    case FP_F16:  *re = fp_f16_to_f32(((const uint16_t *)src)[i]); break;
    case FP_BF16: *re = fp_bf16_to_f32(((const uint16_t *)src)[i]); break;
    case FP_F32:  *re = ((const float *)src)[i]; break;
    case FP_F64:  *re = ((const double *)src)[i]; break;
    case FP_C64:  *re = ((const float *)src)[2 * i]; *im = ((const float *)src)[2 * i + 1]; break;
    case FP_C128: *re = ((const double *)src)[2 * i]; *im = ((const double *)src)[2 * i + 1]; break;
    case FP_BOOL: *re = ((const uint8_t *)src)[i] != 0; break;
    case FP_I8:   *re = ((const int8_t *)src)[i]; break;
    case FP_U8:   *re = ((const uint8_t *)src)[i]; break;
    case FP_I16:  *re = ((const int16_t *)src)[i]; break;
    case FP_U16:  *re = ((const uint16_t *)src)[i]; break;
    case FP_I32:  *re = ((const int32_t *)src)[i]; break;
    case FP_U32:  *re = ((const uint32_t *)src)[i]; break;
    case FP_I64:  *re = (double)((const int64_t *)src)[i]; break;
    case FP_U64:  *re = (double)((const uint64_t *)src)[i]; break;
    default:      *re = 0; break;
    }
}

static double clamp(double x, double lo, double hi)
{
    if (isnan(x))
        return 0;
    return x < lo ? lo : x > hi ? hi : x;
}

/* x rounded once, to nearest with ties to even, to a binary format with
 * `mant` stored mantissa bits whose smallest normal exponent is emin (float16:
 * 10, -14; bfloat16: 7, -126). Through float32 a double would round twice:
 * -905.25000689 became -905 in float16 where -905.5 is nearest (as NumPy
 * says). The result is exact in float32, so the float32 conversion after it
 * only repacks the bits (or overflows to infinity, as the format does). */
static double round_once(double x, int mant, int emin)
{
    if (x == 0 || !isfinite(x))
        return x;
    int e;
    frexp(x, &e);   /* |x| in [2^(e-1), 2^e) */
    int ulp = (e - 1 < emin ? emin : e - 1) - mant;
    return ldexp(nearbyint(ldexp(x, -ulp)), ulp);
}

static void store_elem(void *dst, fp_dtype t, size_t i, double re, double im)
{
    switch (t) {
    case FP_F16:  ((uint16_t *)dst)[i] = fp_f32_to_f16((float)round_once(re, 10, -14)); break;
    case FP_BF16: ((uint16_t *)dst)[i] = fp_f32_to_bf16((float)round_once(re, 7, -126)); break;
    case FP_F32:  ((float *)dst)[i] = (float)re; break;
    case FP_F64:  ((double *)dst)[i] = re; break;
    case FP_C64:  ((float *)dst)[2 * i] = (float)re; ((float *)dst)[2 * i + 1] = (float)im; break;
    case FP_C128: ((double *)dst)[2 * i] = re; ((double *)dst)[2 * i + 1] = im; break;
    case FP_BOOL: ((uint8_t *)dst)[i] = re != 0; break;
    case FP_I8:   ((int8_t *)dst)[i] = (int8_t)clamp(re, INT8_MIN, INT8_MAX); break;
    case FP_U8:   ((uint8_t *)dst)[i] = (uint8_t)clamp(re, 0, UINT8_MAX); break;
    case FP_I16:  ((int16_t *)dst)[i] = (int16_t)clamp(re, INT16_MIN, INT16_MAX); break;
    case FP_U16:  ((uint16_t *)dst)[i] = (uint16_t)clamp(re, 0, UINT16_MAX); break;
    case FP_I32:  ((int32_t *)dst)[i] = (int32_t)clamp(re, INT32_MIN, INT32_MAX); break;
    case FP_U32:  ((uint32_t *)dst)[i] = (uint32_t)clamp(re, 0, UINT32_MAX); break;
    case FP_I64:  ((int64_t *)dst)[i] = (int64_t)clamp(re, -9223372036854775808.0, 9223372036854774784.0); break;
    case FP_U64:  ((uint64_t *)dst)[i] = (uint64_t)clamp(re, 0, 18446744073709549568.0); break;
    default: break;
    }
}

int fp_convert(void *dst, fp_dtype dst_dtype, const void *src, fp_dtype src_dtype,
               size_t n, size_t *bad_index)
{
    if (n == 0)
        return 0;
    if (dst_dtype == src_dtype) {
        if (dst != src)
            memmove(dst, src, n * fp_dtype_size(src_dtype));
        return 0;
    }
    if (dst_dtype == FP_F64 && src_dtype == FP_F32) {
        for (size_t i = n; i-- > 0;) /* backwards: safe in place */
            ((double *)dst)[i] = ((const float *)src)[i];
        return 0;
    }
    if (dst_dtype == FP_F32 && src_dtype == FP_F64) {
        for (size_t i = 0; i < n; i++)
            ((float *)dst)[i] = (float)((const double *)src)[i];
        return 0;
    }
    int to_real = fp_dtype_is_complex(src_dtype) && !fp_dtype_is_complex(dst_dtype);
    /* Widening conversions may run in place, so walk backwards when dst grows. */
    int backwards = dst == src && fp_dtype_size(dst_dtype) > fp_dtype_size(src_dtype);
    for (size_t k = 0; k < n; k++) {
        size_t i = backwards ? n - 1 - k : k;
        double re, im;
        load_elem(src, src_dtype, i, &re, &im);
        if (to_real && im != 0) {
            if (bad_index)
                *bad_index = i;
            return -1;
        }
        store_elem(dst, dst_dtype, i, re, im);
    }
    return 0;
}
