/* Shortest round-trip decimal text for doubles and floats.
 *
 * printf("%.17g") always reads back exactly but prints 0.1 as 0.10000000000000001.
 * We want the fewest digits that strtod/strtof turn back into the same bits, so a
 * text vector is as short as Python's repr and still round-trips bit-exactly.
 *
 * Fast path (|x| from 1e-21 up to 2^126 for doubles, nearly every float): the
 * rounding interval of x -- the reals that strtod rounds to x -- is computed
 * exactly in integers scaled by 10^k, with 192-bit products; the shortest decimal
 * is the multiple of the largest power of ten inside it, the nearest to x when
 * there are two. This is Steele & White's idea without bignums.
 *
 * Slow path (the rest, and the safety net): printf all 17 (f32: 9) significant
 * digits, which glibc rounds correctly, round that digit string to fewer digits
 * (asking printf again when the dropped digits are exactly "5000..."), and keep
 * the shortest candidate that strtod/strtof reads back to x.
 *
 * Output style: like %g but with the shortest digits; plain notation for decimal
 * exponents -4..15, else d.ddde+XX (never longer than %.17g).
 */
#include "flatparams.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DIGITS = 17 };

/* The significant digits of |x| correctly rounded to n_digits, and the decimal
 * exponent of the first one. */
static void printf_digits(double x, int n_digits, char *digits, int *exp10)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", n_digits - 1, x);
    int k = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
    *exp10 = atoi(p + 1);
}

/* Rounds the all-digits string `full` (n_full digits) to n_digits; returns 0 when
 * the dropped tail is exactly half, where only printf can tell the direction. */
static int round_digits(const char *full, int n_full, int full_exp, int n_digits,
                        char *out, int *out_exp)
{
    memcpy(out, full, (size_t)n_digits);
    *out_exp = full_exp;
    if (n_digits == n_full)
        return 1;
    int up;
    char first = full[n_digits];
    if (first != '5') {
        up = first > '5';
    } else {
        int rest_zero = 1;
        for (int i = n_digits + 1; i < n_full; i++)
            rest_zero &= full[i] == '0';
        if (rest_zero)
            return 0;
        up = 1;
    }
    if (up) {
        int i = n_digits - 1;
        while (i >= 0 && out[i] == '9')
            out[i--] = '0';
        if (i >= 0) {
            out[i]++;
        } else { /* 999 -> 1000: one more decade */
            out[0] = '1';
            (*out_exp)++;
        }
    }
    return 1;
}

/* Writes digits d[0..n) with decimal exponent e10 into buf (>= 40 bytes), %g-like. */
static int render(char *buf, int negative, const char *digits, int n, int e10)
{
    while (n > 1 && digits[n - 1] == '0')
        n--;
    char *p = buf;
    if (negative)
        *p++ = '-';
    /* %g's choice with Python's cut at 1e16; at exactly 10^16 the shorter form, so
     * that the text is never longer than %.17g's. */
    int fixed = e10 >= -4 && (e10 < 16 || (e10 == 16 && n + (n > 1) + 4 > 17));
    if (fixed) {
        if (e10 >= 0) {
            for (int i = 0; i <= e10; i++)
                *p++ = i < n ? digits[i] : '0';
            if (n > e10 + 1) {
                *p++ = '.';
                for (int i = e10 + 1; i < n; i++)
                    *p++ = digits[i];
            }
        } else {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -e10 - 1; i++)
                *p++ = '0';
            for (int i = 0; i < n; i++)
                *p++ = digits[i];
        }
    } else {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            for (int i = 1; i < n; i++)
                *p++ = digits[i];
        }
        p += sprintf(p, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
    }
    *p = 0;
    return (int)(p - buf);
}

static int special(char *buf, double x)
{
    if (isnan(x))
        return (int)strlen(strcpy(buf, "nan"));
    if (isinf(x))
        return (int)strlen(strcpy(buf, x < 0 ? "-inf" : "inf"));
    return (int)strlen(strcpy(buf, signbit(x) ? "-0" : "0"));
}

/* Does the p-digit candidate read back to x? (is_float: through strtof) */
static int candidate_ok(double x, int is_float, const char *full, int n_full, int full_exp,
                        int p, char *digits, int *e10)
{
    if (!round_digits(full, n_full, full_exp, p, digits, e10))
        printf_digits(x, p, digits, e10);
    char text[48];
    int k = 0;
    text[k++] = digits[0];
    text[k++] = '.';
    memcpy(text + k, digits + 1, (size_t)(p - 1));
    k += p - 1;
    snprintf(text + k, sizeof text - (size_t)k, "e%d", *e10);
    if (is_float) {
        float back = strtof(text, NULL);
        return back == (float)x;
    }
    return strtod(text, NULL) == x;
}

typedef unsigned __int128 u128;

static u128 pow10_u128(int k)   /* k <= 38 */
{
    static u128 table[39];
    if (!table[0]) {
        u128 p = 1;
        for (int i = 0; i < 39; i++, p *= 10)
            table[i] = p;
    }
    return table[k];
}

/* floor(n * 10^k / 2^shift) for n < 2^64, k <= 38, through a 192-bit product;
 * *exact tells whether the division left no remainder. 0 when it needs > 128 bits. */
static int mul_pow10_shift(uint64_t n, int k, int shift, u128 *q, int *exact)
{
    u128 p = pow10_u128(k);
    u128 lo = (u128)n * (uint64_t)p, hi = (u128)n * (uint64_t)(p >> 64);
    uint64_t limb[4] = { (uint64_t)lo, 0, 0, 0 };
    u128 mid = (lo >> 64) + (uint64_t)hi;
    limb[1] = (uint64_t)mid;
    limb[2] = (uint64_t)((hi >> 64) + (mid >> 64));
    int word = shift / 64, bit = shift % 64;
    if (word > 2) {
        *q = 0;
        *exact = !(limb[0] | limb[1] | limb[2]);
        return 1;
    }
    uint64_t rem = 0;
    for (int i = 0; i < word; i++)
        rem |= limb[i];
    if (bit)
        rem |= limb[word] << (64 - bit);
    uint64_t out[3] = { 0, 0, 0 };
    for (int i = 0; i + word < 3; i++) {
        out[i] = limb[i + word] >> bit;
        if (bit)
            out[i] |= limb[i + word + 1] << (64 - bit);
    }
    if (out[2])
        return 0;
    *q = (u128)out[1] << 64 | out[0];
    *exact = rem == 0;
    return 1;
}

/* n * 10^k * 2^exp2 for the n of the interval ends and of x (scaled by 4). */
static int scaled(uint64_t n, int k, int exp2, u128 *q, int *exact)
{
    if (exp2 > 0) { /* k == 0 here: only x >= 2^53 has exp2 - 2 >= 0 */
        if (exp2 > 127 - 64)
            return 0;
        *q = (u128)n << exp2;
        *exact = 1;
        return 1;
    }
    return mul_pow10_shift(n, k, -exp2, q, exact);
}

/* The shortest digits of x = mant * 2^exp2 (mant < 2^53, x > 0) by exact integer
 * arithmetic; 0 when x is out of the fast path's range. */
static int shortest_exact(uint64_t mant, int exp2, int lower_gap_half, int want_digits,
                          char *digits, int *n_digits, int *e10)
{
    int inclusive = (mant & 1) == 0;   /* round-half-even gives x the ties */
    /* In units of 2^(exp2-2): x = 4m, interval [4m - 2 (or 1), 4m + 2]. */
    uint64_t v = 4 * mant, lo = v - (lower_gap_half ? 1 : 2), hi = v + 2;
    int e = exp2 - 2;
    int k = 0;
    if (e < 0) {
        int d = (int)floor(log10((double)mant) + exp2 * 0.30102999566398120);
        k = want_digits - d;
        if (k < 0)
            k = 0;
        if (k > 38)
            return 0;
    }
    u128 a, b, xf, x2;
    int a_exact, b_exact, x_exact, x2_exact;
    if (!scaled(lo, k, e, &a, &a_exact) || !scaled(hi, k, e, &b, &b_exact)
        || !scaled(v, k, e, &xf, &x_exact) || !scaled(v, k, e + 1, &x2, &x2_exact))
        return 0;
    if (!a_exact || !inclusive)
        a++;
    if (b_exact && !inclusive)
        b--;
    if (a > b)
        return 0;
    /* The largest j such that a multiple of 10^j lies in [a, b] (64-bit
     * division when the numbers allow: it is several times faster). */
    int small = (b >> 64) == 0;
    int j_lo = 0, j_hi = small ? 19 : 38;
    while (j_lo < j_hi) {
        int j = (j_lo + j_hi + 1) / 2;
        u128 p = pow10_u128(j);
        /* the first multiple of p at or above a (a >= 1): ((a - 1) / p + 1) * p */
        int has = p <= b && ((small ? (u128)(((uint64_t)a - 1) / (uint64_t)p) : (a - 1) / p) + 1) * p <= b;
        if (has)
            j_lo = j;
        else
            j_hi = j - 1;
    }
    u128 p = pow10_u128(j_lo);
    u128 below = xf / p * p, above = below + p, pick;
    if (below < a) {
        pick = above;
    } else if (above > b) {
        pick = below;
    } else { /* both inside: the nearer, ties to the even digit */
        u128 mid2 = 2 * below + p;   /* twice the midpoint, compared with 2x */
        if (x2 < mid2)
            pick = below;
        else if (x2 > mid2 || !x2_exact)
            pick = above;
        else
            pick = (below / p) % 2 == 0 ? below : above;
    }
    u128 c = pick / p;
    if (c >> 64)
        return 0;   /* more than 17 digits: cannot be the shortest */
    uint64_t c64 = (uint64_t)c;
    char rev[24];
    int n = 0;
    do {
        rev[n++] = (char)('0' + (int)(c64 % 10));
        c64 /= 10;
    } while (c64);
    if (n > MAX_DIGITS)
        return 0;
    for (int i = 0; i < n; i++)
        digits[i] = rev[n - 1 - i];
    *n_digits = n;
    *e10 = n - 1 + j_lo - k;
    return 1;
}

static int shortest_fast(char *out, double ax, int negative, int is_float)
{
    char digits[MAX_DIGITS + 1];
    int n, e10, ok;
    if (is_float) {
        float f = (float)ax;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        uint32_t field = bits >> 23, frac = bits & 0x7fffff;
        uint64_t mant = field ? frac | 0x800000u : frac;
        int exp2 = field ? (int)field - 150 : -149;
        ok = shortest_exact(mant, exp2, field > 1 && frac == 0, 10, digits, &n, &e10);
    } else {
        uint64_t bits;
        memcpy(&bits, &ax, 8);
        uint64_t field = bits >> 52, frac = bits & 0xfffffffffffffull;
        uint64_t mant = field ? frac | (1ull << 52) : frac;
        int exp2 = field ? (int)field - 1075 : -1074;
        ok = shortest_exact(mant, exp2, field > 1 && frac == 0, 18, digits, &n, &e10);
    }
    return ok ? render(out, negative, digits, n, e10) : -1;
}

static int shortest(char *out, double x, int is_float)
{
    if (!isfinite(x) || x == 0)
        return special(out, x);
    int negative = x < 0;
    double ax = fabs(x);
    int len = shortest_fast(out, ax, negative, is_float);
    if (len >= 0)
        return len;
    int n_full = is_float ? 9 : MAX_DIGITS;
    char full[MAX_DIGITS + 1], digits[MAX_DIGITS + 1], best[MAX_DIGITS + 1];
    int full_exp, e10, best_exp, best_n = n_full;
    printf_digits(ax, n_full, full, &full_exp);
    memcpy(best, full, (size_t)n_full);
    best_exp = full_exp;
    /* Round-trip holds for every p above the shortest one, so search for the
     * boundary; start next to the top where most random values end. Not so at
     * a power of two, whose interval is narrower below: there the nearest p+1
     * digits may fall out below while p digits were inside above, so try every p. */
    int power_of_two = frexp(ax, &e10) == 0.5;
    int lo = 1, hi = n_full; /* hi always round-trips */
    int probe = power_of_two ? 1 : n_full - 1;
    while (lo < hi) {
        if (power_of_two) {
            if (candidate_ok(ax, is_float, full, n_full, full_exp, lo, digits, &e10)) {
                memcpy(best, digits, (size_t)lo);
                best_exp = e10;
                best_n = lo;
                break;
            }
            lo++;
            continue;
        }
        if (candidate_ok(ax, is_float, full, n_full, full_exp, probe, digits, &e10)) {
            hi = probe;
            memcpy(best, digits, (size_t)probe);
            best_exp = e10;
            best_n = probe;
        } else {
            lo = probe + 1;
        }
        /* After a success next to the top, halve; otherwise step down once more. */
        probe = hi == n_full - 1 ? hi - 1 : lo + (hi - lo) / 2;
        if (probe < lo)
            probe = lo;
    }
    return render(out, negative, best, best_n, best_exp);
}

static int copy_out(char *buf, size_t cap, const char *text, int len)
{
    if (cap > 0) {
        size_t n = (size_t)len < cap - 1 ? (size_t)len : cap - 1;
        memcpy(buf, text, n);
        buf[n] = 0;
    }
    return len;
}

int fp_format_f64(char *buf, size_t cap, double x)
{
    char text[48];
    int len = shortest(text, x, 0);
    return copy_out(buf, cap, text, len);
}

int fp_format_f32(char *buf, size_t cap, float x)
{
    char text[48];
    int len = shortest(text, (double)x, 1);
    return copy_out(buf, cap, text, len);
}
