/* numfmt.c and vecio*.c: shortest number text, text/npy/bin vectors, errors.
 * The HDF5, JSON, fixture and crash-safety cases are in test_vecio_files.c. */
#include "test_vecio.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

uint64_t test_rand64(void)
{
    static uint64_t state = 0x9e3779b97f4a7c15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

void vec_write(const char *path, const char *format, fp_dtype dtype, int rank,
               const uint64_t *shape, const void *data, uint64_t piece)
{
    fp_error err = { "" };
    fp_vec_writer *w;
    ck_assert_msg(fp_vec_writer_open(&w, path, format, dtype, rank, shape, &err) == 0, "%s", err.msg);
    uint64_t n = rank == 2 ? shape[0] * shape[1] : shape[0], size = fp_dtype_size(dtype);
    for (uint64_t done = 0; done < n; done += piece) {
        uint64_t k = n - done < piece ? n - done : piece;
        ck_assert_msg(fp_vec_writer_write(w, (const char *)data + done * size, k, &err) == 0,
                      "%s", err.msg);
    }
    ck_assert_msg(fp_vec_writer_commit(w, &err) == 0, "%s", err.msg);
}

uint64_t vec_read_all(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                      uint64_t piece, void **data)
{
    fp_error err = { "" };
    fp_vec_reader *r;
    ck_assert_msg(fp_vec_reader_open(&r, path, format, bin_dtype, &err) == 0, "%s", err.msg);
    size_t size = fp_dtype_size(dtype), cap = 1024, n = 0;
    char *buf = malloc(cap * size);
    for (;;) {
        while (n + piece > cap)
            buf = realloc(buf, (cap *= 2) * size);
        uint64_t got;
        ck_assert_msg(fp_vec_reader_read(r, buf + n * size, dtype, piece, &got, &err) == 0,
                      "%s", err.msg);
        n += got;
        if (got < piece)
            break;
    }
    fp_vec_reader_close(r);
    *data = buf;
    return n;
}

void vec_read_fails(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                    const char *needle)
{
    fp_error err = { "" };
    fp_vec_reader *r;
    int rc = fp_vec_reader_open(&r, path, format, bin_dtype, &err);
    if (rc == 0) {
        char buf[1 << 12];
        uint64_t got;
        do
            rc = fp_vec_reader_read(r, buf, dtype, sizeof buf / 16, &got, &err);
        while (rc == 0 && got == sizeof buf / 16);
        fp_vec_reader_close(r);
    }
    ck_assert_msg(rc == -1, "%s: expected an error containing '%s'", path, needle);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    ck_assert_msg(!strchr(err.msg, '\n'), "more than one line: %s", err.msg);
}

/* The shortest digit count by brute force: %.{p}g for p = 1, 2, ... */
static int shortest_len64(double x)
{
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

static int significant_digits(const char *s)
{
    int n = 0, started = 0, trailing = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s != '0' || started) {
            started = 1;
            n++;
            trailing = *s == '0' ? trailing + 1 : 0;
        }
    }
    return n - trailing > 0 ? n - trailing : 1;
}

static double random_double(void)
{
    double x;
    do {
        uint64_t bits = test_rand64();
        memcpy(&x, &bits, 8);
    } while (!isfinite(x));
    return x;
}

static float random_float(void)
{
    float x;
    do {
        uint32_t bits = (uint32_t)test_rand64();
        memcpy(&x, &bits, 4);
    } while (!isfinite(x));
    return x;
}

/* ---------------------------------------------------------------- shortest numbers */

START_TEST(format_tricky_values)
{
    static const struct { double x; const char *text; } f64[] = {
        { 0.1, "0.1" }, { 1.0 / 3, "0.3333333333333333" }, { 5e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" }, { -0.0, "-0" }, { 0, "0" },
        { 1e-7, "1e-07" }, { 100, "100" }, { 1e16, "1e+16" },
        { 12345678901234568.0, "12345678901234568" }, { 1.5e16, "1.5e+16" }, { 123456.789, "123456.789" },
        { 2.2250738585072014e-308, "2.2250738585072014e-308" }, { 0.0001, "0.0001" },
        { -1.5, "-1.5" }, { 9007199254740993.0, "9007199254740992" },
        { INFINITY, "inf" }, { -INFINITY, "-inf" }, { NAN, "nan" },
    };
    char buf[64], ref[64];
    for (size_t i = 0; i < sizeof f64 / sizeof f64[0]; i++) {
        int len = fp_format_f64(buf, sizeof buf, f64[i].x);
        ck_assert_str_eq(buf, f64[i].text);
        ck_assert_int_eq(len, (int)strlen(buf));
        snprintf(ref, sizeof ref, "%.17g", f64[i].x);
        ck_assert_uint_le(strlen(buf), strlen(ref));
        if (!isnan(f64[i].x)) {
            double back = strtod(buf, NULL);
            ck_assert(!memcmp(&back, &f64[i].x, 8));
        }
    }
    static const struct { float x; const char *text; } f32[] = {
        { 0.1f, "0.1" }, { 0.863101f, "0.863101" }, { FLT_MIN, "1.1754944e-38" },
        { FLT_MAX, "3.4028235e+38" }, { 1e-45f, "1e-45" }, { -0.0f, "-0" },
        { 16777216.0f, "16777216" }, { 1.0f / 3, "0.33333334" }, { NAN, "nan" },
        { -INFINITY, "-inf" },
    };
    for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++) {
        fp_format_f32(buf, sizeof buf, f32[i].x);
        ck_assert_str_eq(buf, f32[i].text);
        if (!isnan(f32[i].x)) {
            float back = strtof(buf, NULL);
            ck_assert(!memcmp(&back, &f32[i].x, 4));
        }
    }
    /* snprintf's contract on a short buffer: truncated, the full length returned */
    ck_assert_int_eq(fp_format_f64(buf, 4, 0.125), 5);
    ck_assert_str_eq(buf, "0.1");
}
END_TEST

START_TEST(format_random_round_trip)
{
    char buf[64], ref[64];
    for (int i = 0; i < 100000; i++) {
        double x = random_double();
        fp_format_f64(buf, sizeof buf, x);
        double back = strtod(buf, NULL);
        ck_assert_msg(!memcmp(&back, &x, 8), "%s does not read back as %.17g", buf, x);
        snprintf(ref, sizeof ref, "%.17g", x);
        ck_assert_uint_le(strlen(buf), strlen(ref));
        if (i % 20 == 0)   /* the brute-force count is slow: a sample */
            ck_assert_msg(significant_digits(buf) == shortest_len64(x), "%s is not the shortest", buf);

        float f = random_float();
        fp_format_f32(buf, sizeof buf, f);
        float fback = strtof(buf, NULL);
        ck_assert_msg(!memcmp(&fback, &f, 4), "%s does not read back as %.9g", buf, (double)f);
        snprintf(ref, sizeof ref, "%.9g", (double)f);
        ck_assert_uint_le(significant_digits(buf), significant_digits(ref));
    }
    /* every binary exponent, with the mantissas at its edges (where the fast
     * path's integer ranges and the uneven gap below a power of two bite); at a
     * power of two the exact search may beat "%.{p}g nearest" by a digit */
    for (int e = 0; e < 2047; e++) {
        uint64_t mants[6] = { 0, 1, 2, 0xfffffffffffffull, 0xffffffffffffeull,
                              test_rand64() & 0xfffffffffffffull };
        for (int k = 0; k < 6; k++) {
            uint64_t bits = (uint64_t)e << 52 | mants[k];
            double x;
            memcpy(&x, &bits, 8);
            if (x == 0)
                continue;
            fp_format_f64(buf, sizeof buf, x);
            double back = strtod(buf, NULL);
            ck_assert_msg(!memcmp(&back, &x, 8), "%s does not read back as %.17g", buf, x);
            ck_assert_msg(significant_digits(buf) <= shortest_len64(x), "%s is not the shortest", buf);
        }
    }
    for (int e = 0; e < 255; e++) {
        uint32_t mants[5] = { 0, 1, 0x7fffff, 0x7ffffe, (uint32_t)test_rand64() & 0x7fffff };
        for (int k = 0; k < 5; k++) {
            uint32_t bits = (uint32_t)e << 23 | mants[k];
            float f;
            memcpy(&f, &bits, 4);
            if (f == 0)
                continue;
            fp_format_f32(buf, sizeof buf, f);
            float back = strtof(buf, NULL);
            ck_assert_msg(!memcmp(&back, &f, 4), "%s does not read back as %.9g", buf, (double)f);
            snprintf(ref, sizeof ref, "%.9g", (double)f);
            for (int p = 1; p <= 9; p++) {   /* brute-force shortest for floats */
                snprintf(ref, sizeof ref, "%.*g", p, (double)f);
                if (strtof(ref, NULL) == f)
                    break;
            }
            ck_assert_msg(significant_digits(buf) <= significant_digits(ref),
                          "%s is not the shortest (%s)", buf, ref);
        }
    }
    /* values of everyday size, where the exact fast path runs */
    for (int i = 0; i < 100000; i++) {
        double x = (double)(int64_t)test_rand64() / 9.2e18 * pow(10, (int)(test_rand64() % 24) - 12);
        fp_format_f64(buf, sizeof buf, x);
        ck_assert(strtod(buf, NULL) == x);
        if (i % 20 == 0)
            ck_assert_msg(significant_digits(buf) == shortest_len64(x), "%s is not the shortest", buf);
    }
}
END_TEST

/* ---------------------------------------------------------------- text */

START_TEST(text_random_round_trip)
{
    enum { N = 100000 };
    double *x = malloc(N * sizeof *x);
    float *f = malloc(N * sizeof *f);
    for (int i = 0; i < N; i++) {
        x[i] = random_double();
        f[i] = random_float();
    }
    x[1] = -0.0;
    x[2] = INFINITY;
    f[3] = -INFINITY;
    const char *path64 = tmpfile_in("r64.txt"), *path32 = tmpfile_in("r32.txt");
    uint64_t shape[1] = { N };
    vec_write(path64, NULL, FP_F64, 1, shape, x, 777);
    vec_write(path32, NULL, FP_F32, 1, shape, f, 100000);
    void *back;
    ck_assert_uint_eq(vec_read_all(path64, NULL, FP_DT_NONE, FP_F64, 1000, &back), N);
    ck_assert(!memcmp(back, x, N * sizeof *x));
    free(back);
    ck_assert_uint_eq(vec_read_all(path32, NULL, FP_DT_NONE, FP_F32, 4096, &back), N);
    ck_assert(!memcmp(back, f, N * sizeof *f));
    free(back);
    free(x);
    free(f);
}
END_TEST

START_TEST(text_layout_and_specials)
{
    const char *path = tmpfile_in("m.csv");
    double m[6] = { 0.1, 2, -0.0, 1e-7, NAN, -INFINITY };
    uint64_t shape[2] = { 2, 3 };
    vec_write(path, NULL, FP_F64, 2, shape, m, 4);
    char *text = read_file(path, NULL);
    ck_assert_str_eq(text, "0.1,2,-0\n1e-07,nan,-inf\n");
    free(text);

    fp_matrix mat;
    fp_error err;
    ck_assert_msg(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(mat.rank, 2);
    ck_assert_uint_eq(mat.rows, 2);
    ck_assert_uint_eq(mat.cols, 3);
    double *d = mat.data;
    ck_assert(d[0] == 0.1 && d[3] == 1e-7 && isnan(d[4]) && d[5] == -INFINITY && signbit(d[2]));
    free(mat.data);

    /* every spelling a user might type, comments, blank lines, mixed separators */
    const char *txt = tmpfile_in("s.txt");
    const char *in = "# header\nnan\n\ninf ; -inf\nNaN,Infinity\t-Infinity\n  +1.5e3 # trailing\n";
    write_file(txt, in, strlen(in));
    void *back;
    ck_assert_uint_eq(vec_read_all(txt, NULL, FP_DT_NONE, FP_F64, 2, &back), 7);
    d = back;
    ck_assert(isnan(d[0]) && d[1] == INFINITY && d[2] == -INFINITY && isnan(d[3]));
    ck_assert(d[4] == INFINITY && d[5] == -INFINITY && d[6] == 1500);
    free(back);

    /* integers are written as integers */
    int64_t ints[3] = { -7, 0, 9007199254740993 };
    shape[0] = 3;
    const char *ipath = tmpfile_in("i.txt");
    vec_write(ipath, "txt", FP_I64, 1, shape, ints, 3);
    text = read_file(ipath, NULL);
    ck_assert_str_eq(text, "-7\n0\n9007199254740993\n");
    free(text);
}
END_TEST

START_TEST(text_errors)
{
    const char *path = tmpfile_in("bad.txt");
    write_file(path, "1\n2\nabc\n", 8);
    char want[512];
    snprintf(want, sizeof want, "%s: line 3: 'abc' is not a number", path);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, want);
    write_file(path, "1 2\n3\n", 6);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), -1);
    ck_assert_msg(strstr(err.msg, "line 2") && strstr(err.msg, path), "%s", err.msg);
    ck_assert_ptr_null(mat.data);
    write_file(path, "1.5x\n", 5);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F32, "line 1: '1.5x' is not a number");
    write_file(path, "infinite\n", 9);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "'infinite' is not a number");
    vec_read_fails(tmpfile_in("missing.txt"), NULL, FP_DT_NONE, FP_F64, "cannot open");
    vec_read_fails(path, "xyz", FP_DT_NONE, FP_F64, "unknown vector format 'xyz'");
    /* a number longer than the reader takes is refused, not read again forever
     * (the reader used to return its start and never move on); 255 is fine */
    char digits[300];
    memset(digits, '1', sizeof digits);
    for (int json = 0; json < 2; json++) {
        const char *file = tmpfile_in(json ? "long.json" : "long.txt");
        FILE *f = fopen(file, "w");
        fprintf(f, json ? "[2, %.256s]" : "2\n%.256s\n", digits);
        fclose(f);
        vec_read_fails(file, NULL, FP_DT_NONE, FP_F64, "line ");
        vec_read_fails(file, NULL, FP_DT_NONE, FP_F64, ": a number of more than 255 characters");
        f = fopen(file, "w");
        fprintf(f, json ? "[2, %.255s]" : "2\n%.255s\n", digits);
        fclose(f);
        void *back;
        ck_assert_uint_eq(vec_read_all(file, NULL, FP_DT_NONE, FP_F64, 2, &back), 2);
        ck_assert(((double *)back)[1] > 1.1e254 && ((double *)back)[1] < 1.2e254);
        free(back);
    }
}
END_TEST

START_TEST(text_matrix_shapes)
{
    const char *path = tmpfile_in("col.txt");
    write_file(path, "1\n2\n3\n", 6);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F32, &mat, &err), 0);
    ck_assert_int_eq(mat.rank, 1);
    ck_assert_uint_eq(mat.rows, 3);
    ck_assert_uint_eq(mat.cols, 1);
    ck_assert_float_eq(((float *)mat.data)[2], 3.0f);
    free(mat.data);
    write_file(path, "1 2 3\n", 6);   /* one sample of three features */
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert_int_eq(mat.rank, 2);
    ck_assert_uint_eq(mat.rows, 1);
    ck_assert_uint_eq(mat.cols, 3);
    free(mat.data);
    write_file(path, "", 0);
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert_uint_eq(mat.rows * mat.cols, 0);
    free(mat.data);
    /* a complex matrix: "re im" pairs in each row */
    write_file(path, "1 2 3 4\n5 6 7 8\n", 16);
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_C128, &mat, &err), 0);
    ck_assert_uint_eq(mat.rows, 2);
    ck_assert_uint_eq(mat.cols, 2);
    ck_assert(((double *)mat.data)[7] == 8);
    free(mat.data);
}
END_TEST

START_TEST(text_complex)
{
    const char *path = tmpfile_in("c.txt");
    double c[6] = { 1, 2, -0.5, 0, 0.1, -3 };
    uint64_t shape[1] = { 3 };
    vec_write(path, NULL, FP_C128, 1, shape, c, 2);
    char *text = read_file(path, NULL);
    ck_assert_str_eq(text, "1 2\n-0.5 0\n0.1 -3\n");
    free(text);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_C128, 2, &back), 3);
    ck_assert(!memcmp(back, c, sizeof c));
    free(back);
    /* a complex vector's real slice (a real array in a complex model) reads back;
     * a non-zero imaginary part is named by its element index */
    fp_vec_reader *r;
    fp_error err;
    ck_assert_int_eq(fp_vec_reader_open(&r, path, NULL, FP_DT_NONE, &err), 0);
    ck_assert_int_eq(fp_vec_reader_dtype(r), FP_C128);
    double z[2];
    float real_part;
    uint64_t got;
    ck_assert_int_eq(fp_vec_reader_read(r, z, FP_C128, 1, &got, &err), 0);
    ck_assert_int_eq(fp_vec_reader_read(r, &real_part, FP_F32, 1, &got, &err), 0);
    ck_assert_float_eq(real_part, -0.5f);
    ck_assert_int_eq(fp_vec_reader_read(r, z, FP_F64, 1, &got, &err), -1);
    ck_assert_msg(strstr(err.msg, "element 2 has a non-zero imaginary part"), "%s", err.msg);
    fp_vec_reader_close(r);
    /* read as complex, a lone number per line is real */
    write_file(path, "1.5\n2 3\n", 8);
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_C64, 8, &back), 2);
    float *cf = back;
    ck_assert(cf[0] == 1.5f && cf[1] == 0 && cf[2] == 2 && cf[3] == 3);
    free(back);
    write_file(path, "1 2 3\n", 6);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_C128, "line 1: 3 numbers do not make complex");
    /* one line of two numbers is a real vector of two */
    write_file(path, "1 2\n", 4);
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 8, &back), 2);
    free(back);
}
END_TEST

/* ---------------------------------------------------------------- npy and bin */

START_TEST(npy_every_dtype)
{
    double src[7] = { 0, 1, 2, 3.5, 100, 0.25, 7 };   /* exact in every type but ints */
    unsigned char data[7 * 16], back_same[7 * 16];
    for (int t = FP_F16; t < FP_DT_COUNT; t++) {
        fp_dtype dtype = (fp_dtype)t;
        fp_convert(data, dtype, src, FP_F64, 7, NULL);
        const char *path = tmpfile_in("every.npy");
        uint64_t shape[1] = { 7 };
        vec_write(path, NULL, dtype, 1, shape, data, 3);
        fp_vec_reader *r;
        fp_error err;
        ck_assert_int_eq(fp_vec_reader_open(&r, path, NULL, FP_DT_NONE, &err), 0);
        ck_assert_int_eq(fp_vec_reader_dtype(r), dtype == FP_BF16 ? FP_F32 : dtype);
        ck_assert_uint_eq(fp_vec_reader_count(r), 7);
        uint64_t got;
        ck_assert_int_eq(fp_vec_reader_read(r, back_same, dtype, 10, &got, &err), 0);
        ck_assert_uint_eq(got, 7);
        ck_assert_msg(!memcmp(back_same, data, 7 * fp_dtype_size(dtype)), "%s", fp_dtype_name(dtype));
        fp_vec_reader_close(r);
        double as_f64[7];
        void *all;
        ck_assert_uint_eq(vec_read_all(path, "npy", FP_DT_NONE, FP_F64, 7, &all), 7);
        memcpy(as_f64, all, sizeof as_f64);
        free(all);
        for (int i = 0; i < 7; i++) {
            double want = dtype == FP_BOOL ? src[i] != 0
                        : fp_dtype_is_param(dtype) ? src[i] : floor(src[i]);
            ck_assert_msg(as_f64[i] == want, "%s[%d]: %g != %g", fp_dtype_name(dtype), i,
                          as_f64[i], want);
        }
    }
    /* a matrix keeps its shape */
    const char *path = tmpfile_in("m.npy");
    float m[6] = { 1, 2, 3, 4, 5, 6 };
    uint64_t shape[2] = { 3, 2 };
    vec_write(path, NULL, FP_F32, 2, shape, m, 5);
    size_t len;
    char *bytes = read_file(path, &len);
    ck_assert_uint_eq(len, 128 + sizeof m);   /* data aligned to 64 bytes, like NumPy */
    ck_assert(memmem(bytes, len, "'shape': (3, 2)", 15));
    free(bytes);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert_uint_eq(mat.rows, 3);
    ck_assert_uint_eq(mat.cols, 2);
    ck_assert(((double *)mat.data)[3] == 4);
    free(mat.data);
    /* past the first allocation of fp_matrix_read, which grows as data arrives */
    enum { BIG_ROWS = 1200, BIG_COLS = 1000 };
    float *big = malloc(BIG_ROWS * BIG_COLS * sizeof *big);
    for (int i = 0; i < BIG_ROWS * BIG_COLS; i++)
        big[i] = (float)i;
    shape[0] = BIG_ROWS;
    shape[1] = BIG_COLS;
    vec_write(path, NULL, FP_F32, 2, shape, big, 1 << 20);
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F32, &mat, &err), 0);
    ck_assert(mat.rows == BIG_ROWS && mat.cols == BIG_COLS);
    ck_assert(!memcmp(mat.data, big, BIG_ROWS * BIG_COLS * sizeof *big));
    free(mat.data);
    free(big);
}
END_TEST

static void write_npy(const char *path, int version, const char *dict, const void *data, size_t n)
{
    char buf[4096];
    size_t len = strlen(dict), off = version == 1 ? 10 : 12;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)version;
    buf[7] = 0;
    buf[8] = (char)(len & 0xff);
    buf[9] = (char)(len >> 8);
    if (version != 1)
        buf[10] = buf[11] = 0;
    memcpy(buf + off, dict, len);
    memcpy(buf + off + len, data, n);
    write_file(path, buf, off + len + n);
}

START_TEST(npy_malformed)
{
    const char *path = tmpfile_in("bad.npy");
    double d[2] = { 1, 2 };
    write_file(path, "\x93NUMPX\x01\x00\x00\x00", 10);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "not a .npy file");
    write_file(path, "\x93NUMPY\x01\x00\x40\x00{'descr'", 18);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "truncated npy header");
    write_file(path, "\x93NUMPY\x01", 7);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "not a .npy file");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", d, sizeof d);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "truncated");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\n", d, sizeof d);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "truncated");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "too large");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "too large");
    write_npy(path, 1, "{'descr': '<q9', 'fortran_order': False, 'shape': (2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "unsupported npy dtype '<q9'");
    write_npy(path, 1, "{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "unsupported npy dtype");
    write_npy(path, 1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "structured");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "tuple");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "non-negative");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "fortran_order");
    write_npy(path, 1, "{'descr': '<f8', 'shape': (2,), }\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "needs descr, fortran_order and shape");
    write_npy(path, 1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "repeated key");
    write_npy(path, 1, "{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "bad npy header");
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "text after the dict");
    write_npy(path, 4, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n", d, 16);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "unsupported npy format version 4");
    /* a well-formed one for contrast: the minimal dict, no trailing comma */
    write_npy(path, 1, "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,)}\n", d, 16);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 5, &back), 2);
    ck_assert(((double *)back)[1] == 2);
    free(back);
    /* complex data read as real: the offending element is named */
    double c[4] = { 1, 0, 2, 0.5 };
    write_npy(path, 2, "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }\n", c, sizeof c);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, "element 1 has a non-zero imaginary part");
}
END_TEST

START_TEST(bin_files)
{
    const char *path = tmpfile_in("v.bin");
    float f[5] = { 1, -2, 0.5f, 3e38f, -0.0f };
    uint64_t shape[1] = { 5 };
    vec_write(path, NULL, FP_F32, 1, shape, f, 2);
    size_t len;
    free(read_file(path, &len));
    ck_assert_uint_eq(len, sizeof f);
    char want[512];
    snprintf(want, sizeof want, "%s: .bin needs --dtype", path);
    vec_read_fails(path, NULL, FP_DT_NONE, FP_F32, want);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_F32, FP_F32, 3, &back), 5);
    ck_assert(!memcmp(back, f, sizeof f));
    free(back);
    vec_read_fails(path, NULL, FP_F64, FP_F64, "not a multiple of 8 bytes");
    /* raw format by name, whatever the extension */
    const char *raw = tmpfile_in("v.dat");
    vec_write(raw, "bin", FP_F32, 1, shape, f, 5);
    ck_assert_uint_eq(vec_read_all(raw, "bin", FP_F32, FP_F64, 5, &back), 5);
    ck_assert(((double *)back)[3] == (double)3e38f);
    free(back);
    /* bf16 keeps its 2 bytes (only .npy, which has no bfloat16, widens it) */
    const char *brain = tmpfile_in("b.bin");
    uint16_t b16[5] = { 0x3f80, 0xc020, 0x3e20, 0x7f80, 0x8000 };   /* 1 -2.5 0.15625 inf -0 */
    vec_write(brain, NULL, FP_BF16, 1, shape, b16, 5);
    free(read_file(brain, &len));
    ck_assert_uint_eq(len, sizeof b16);
    ck_assert_uint_eq(vec_read_all(brain, NULL, FP_BF16, FP_BF16, 5, &back), 5);
    ck_assert(!memcmp(back, b16, sizeof b16));
    free(back);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vecio");
    TCase *tc = tcase_create("numbers and text");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, format_tricky_values);
    tcase_add_test(tc, format_random_round_trip);
    tcase_add_test(tc, text_random_round_trip);
    tcase_add_test(tc, text_layout_and_specials);
    tcase_add_test(tc, text_errors);
    tcase_add_test(tc, text_matrix_shapes);
    tcase_add_test(tc, text_complex);
    tcase_add_test(tc, npy_every_dtype);
    tcase_add_test(tc, npy_malformed);
    tcase_add_test(tc, bin_files);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, vecio_files_tcase());
    return run_suite(s);
}
