/* vecio: NumPy-made fixtures, HDF5, JSON, standard input/output, crash safety
 * and bounded memory. Fixtures: testdata/make_vecio_fixtures.py. */
#include "test_vecio.h"

#include <hdf5.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", testdata(name));
    return path;
}

static double *expected_values(const char *name, size_t *n)
{
    char file[256];
    snprintf(file, sizeof file, "vecio/%s.expected.txt", name);
    char *text = read_file(testdata(file), NULL);
    ck_assert_msg(text != NULL, "missing %s: run testdata/make_vecio_fixtures.py", file);
    double *v;
    *n = parse_numbers(text, &v);
    free(text);
    return v;
}

/* A fixture read as dtype (F64 or C128) equals its expected text, bit for bit. */
static void check_fixture(const char *name, const char *file, fp_dtype want_dtype, fp_dtype as)
{
    size_t n_expected;
    double *expected = expected_values(name, &n_expected);
    fp_vec_reader *r;
    fp_error err;
    ck_assert_msg(fp_vec_reader_open(&r, fixture(file), NULL, FP_DT_NONE, &err) == 0, "%s", err.msg);
    ck_assert_msg(fp_vec_reader_dtype(r) == want_dtype, "%s: dtype %s", name,
                  fp_dtype_name(fp_vec_reader_dtype(r)));
    size_t per = fp_dtype_is_complex(as) ? 2 : 1;
    ck_assert_uint_eq(fp_vec_reader_count(r) * per, n_expected);
    fp_vec_reader_close(r);
    void *back;
    ck_assert_uint_eq(vec_read_all(fixture(file), NULL, FP_DT_NONE, as, 3, &back) * per, n_expected);
    ck_assert_msg(!memcmp(back, expected, n_expected * sizeof(double)), "%s: values differ", name);
    free(back);
    free(expected);
}

START_TEST(numpy_fixtures)
{
    check_fixture("v1_f8", "vecio/v1_f8.npy", FP_F64, FP_F64);
    check_fixture("v2_f4", "vecio/v2_f4.npy", FP_F32, FP_F64);
    check_fixture("v3_f8", "vecio/v3_f8.npy", FP_F64, FP_F64);
    check_fixture("be_f8", "vecio/be_f8.npy", FP_F64, FP_F64);
    check_fixture("be_f4", "vecio/be_f4.npy", FP_F32, FP_F64);
    check_fixture("c8", "vecio/c8.npy", FP_C64, FP_C128);

    /* int64 beyond 2^53 stays exact when read as int64 */
    void *back;
    ck_assert_uint_eq(vec_read_all(fixture("vecio/i8.npy"), NULL, FP_DT_NONE, FP_I64, 10, &back), 5);
    int64_t *k = back;
    ck_assert(k[0] == -3 && k[3] == ((int64_t)1 << 40) + 1 && k[4] == ((int64_t)1 << 53) + 1);
    free(back);

    /* fortran_order: refused as a stream, transposed into C order as a matrix */
    vec_read_fails(fixture("vecio/fortran_f8.npy"), NULL, FP_DT_NONE, FP_F64, "fortran_order");
    fp_matrix mat;
    fp_error err;
    ck_assert_msg(fp_matrix_read(fixture("vecio/fortran_f8.npy"), NULL, FP_DT_NONE, FP_F64, &mat, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(mat.rows, 2);
    ck_assert_uint_eq(mat.cols, 3);
    size_t n;
    double *expected = expected_values("fortran_f8", &n);
    ck_assert(!memcmp(mat.data, expected, 6 * sizeof(double)));
    free(expected);
    free(mat.data);
}
END_TEST

START_TEST(h5py_fixtures)
{
    if (!file_exists(fixture("vecio/h5py_mixed.h5")))
        return;   /* made only where h5py was installed */
    check_fixture("h5py_mixed.data", "vecio/h5py_mixed.h5", FP_F64, FP_F64);
    check_fixture("h5py_mixed.g_c", "vecio/h5py_mixed.h5:/g/c", FP_C128, FP_C128);
    check_fixture("h5py_mixed.g_h", "vecio/h5py_mixed.h5:/g/h", FP_F16, FP_F64);
    void *back;
    ck_assert_uint_eq(vec_read_all(fixture("vecio/h5py_mixed.h5:/g/b"), NULL, FP_DT_NONE, FP_F64, 8, &back), 3);
    double *d = back;
    ck_assert(d[0] == 1 && d[1] == 0 && d[2] == 1);
    free(back);
    ck_assert_uint_eq(vec_read_all(fixture("vecio/h5py_mixed.h5:/g/be"), NULL, FP_DT_NONE, FP_F32, 8, &back), 2);
    ck_assert(((float *)back)[0] == 0.1f && ((float *)back)[1] == -3.0f);
    free(back);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(fixture("vecio/h5py_mixed.h5:/g/c"), NULL, FP_DT_NONE, FP_C128, &mat, &err), 0);
    ck_assert(mat.rank == 2 && mat.rows == 2 && mat.cols == 2);
    free(mat.data);
    vec_read_fails(fixture("vecio/h5py_mixed.h5:/g/c"), NULL, FP_DT_NONE, FP_F64,
                   "element 0 has a non-zero imaginary part");
}
END_TEST

/* ---------------------------------------------------------------- HDF5 */

START_TEST(h5_round_trip)
{
    enum { ROWS = 1000, COLS = 333 };
    double *m = malloc(ROWS * COLS * sizeof *m);
    for (int i = 0; i < ROWS * COLS; i++)
        m[i] = i * 0.5 - 7;
    const char *path = tmpfile_in("m.h5");
    uint64_t shape[2] = { ROWS, COLS };
    vec_write(path, NULL, FP_F64, 2, shape, m, 777);   /* pieces that split rows */
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 1001, &back), ROWS * COLS);
    ck_assert(!memcmp(back, m, ROWS * COLS * sizeof *m));
    free(back);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F32, &mat, &err), 0);
    ck_assert(mat.rank == 2 && mat.rows == ROWS && mat.cols == COLS);
    ck_assert_float_eq(((float *)mat.data)[ROWS * COLS - 1], (float)m[ROWS * COLS - 1]);
    free(mat.data);

    /* FILE.h5:/path adds a dataset to the existing file and keeps /data */
    char named[4096];
    snprintf(named, sizeof named, "%s:/grads/layer0", path);
    float v[3] = { 1, 2, 3 };
    uint64_t n3[1] = { 3 };
    vec_write(named, NULL, FP_F32, 1, n3, v, 2);
    ck_assert_uint_eq(vec_read_all(named, NULL, FP_DT_NONE, FP_F32, 8, &back), 3);
    ck_assert(!memcmp(back, v, sizeof v));
    free(back);
    ck_assert_uint_eq(vec_read_all(path, "h5", FP_DT_NONE, FP_F64, 1 << 20, &back), ROWS * COLS);
    free(back);
    vec_write(named, NULL, FP_F32, 1, n3, (float[]){ 4, 5, 6 }, 3);   /* replaced in place */
    ck_assert_uint_eq(vec_read_all(named, NULL, FP_DT_NONE, FP_F32, 8, &back), 3);
    ck_assert(((float *)back)[2] == 6);
    free(back);
    snprintf(named, sizeof named, "%s:/nope", path);
    vec_read_fails(named, NULL, FP_DT_NONE, FP_F64, "no dataset");
    free(m);
}
END_TEST

START_TEST(h5_every_dtype_and_rank3)
{
    double src[5] = { 0, 1, 2, 0.5, 100 };
    unsigned char data[5 * 16], back_same[5 * 16];
    for (int t = FP_F16; t < FP_DT_COUNT; t++) {
        fp_dtype dtype = (fp_dtype)t;
        fp_convert(data, dtype, src, FP_F64, 5, NULL);
        const char *path = tmpfile_in("every.h5");
        uint64_t shape[1] = { 5 };
        vec_write(path, NULL, dtype, 1, shape, data, 2);
        fp_vec_reader *r;
        fp_error err;
        ck_assert_msg(fp_vec_reader_open(&r, path, NULL, FP_DT_NONE, &err) == 0, "%s", err.msg);
        ck_assert_msg(fp_vec_reader_dtype(r) == dtype, "%s", fp_dtype_name(dtype));
        uint64_t got;
        ck_assert_int_eq(fp_vec_reader_read(r, back_same, dtype, 9, &got, &err), 0);
        ck_assert_uint_eq(got, 5);
        ck_assert_msg(!memcmp(back_same, data, 5 * fp_dtype_size(dtype)), "%s", fp_dtype_name(dtype));
        fp_vec_reader_close(r);
    }
    /* a rank-3 dataset streams flat in C order but is not a matrix */
    const char *path = tmpfile_in("cube.h5");
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = { 4, 5, 6 };
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dset = H5Dcreate2(file, "data", H5T_IEEE_F64BE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double cube[120];
    for (int i = 0; i < 120; i++)
        cube[i] = i;
    H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, cube);
    H5Dclose(dset);
    H5Sclose(space);
    H5Fclose(file);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 7, &back), 120);
    ck_assert(!memcmp(back, cube, sizeof cube));
    free(back);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), -1);
    ck_assert_msg(strstr(err.msg, "rank-3"), "%s", err.msg);
}
END_TEST

/* ---------------------------------------------------------------- JSON */

START_TEST(json_files)
{
    const char *path = tmpfile_in("v.json");
    double v[4] = { 0.1, NAN, -INFINITY, -0.0 };
    uint64_t shape[2] = { 4, 0 };
    vec_write(path, NULL, FP_F64, 1, shape, v, 3);
    char *text = read_file(path, NULL);
    ck_assert_str_eq(text, "[0.1, \"NaN\", \"-Infinity\", -0]\n");
    free(text);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 3, &back), 4);
    double *d = back;
    ck_assert(d[0] == 0.1 && isnan(d[1]) && d[2] == -INFINITY && signbit(d[3]));
    free(back);

    float m[6] = { 1, 2, 3, 4, 5, 0.1f };
    shape[0] = 2;
    shape[1] = 3;
    vec_write(path, NULL, FP_F32, 2, shape, m, 4);
    text = read_file(path, NULL);
    ck_assert_str_eq(text, "[[1, 2, 3],\n [4, 5, 0.1]]\n");
    free(text);
    fp_matrix mat;
    fp_error err;
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F32, &mat, &err), 0);
    ck_assert(mat.rank == 2 && mat.rows == 2 && mat.cols == 3 && !memcmp(mat.data, m, sizeof m));
    free(mat.data);

    double c[4] = { 1, 2, -0.5, 0 };
    shape[0] = 2;
    vec_write(path, "json", FP_C128, 1, shape, c, 1);
    text = read_file(path, NULL);
    ck_assert_str_eq(text, "[[1, 2], [-0.5, 0]]\n");
    free(text);
    fp_vec_reader *r;
    ck_assert_int_eq(fp_vec_reader_open(&r, path, NULL, FP_DT_NONE, &err), 0);
    ck_assert_int_eq(fp_vec_reader_dtype(r), FP_C128);
    ck_assert_uint_eq(fp_vec_reader_count(r), 2);
    fp_vec_reader_close(r);
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_C128, 1, &back), 2);
    ck_assert(!memcmp(back, c, sizeof c));
    free(back);

    shape[0] = 2;
    shape[1] = 0;
    vec_write(path, NULL, FP_F64, 2, shape, NULL, 1);
    text = read_file(path, NULL);
    ck_assert_str_eq(text, "[[], []]\n");
    free(text);
    ck_assert_int_eq(fp_matrix_read(path, NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert(mat.rank == 2 && mat.rows == 2 && mat.cols == 0);
    free(mat.data);

    /* what Python's json.dump writes, and booleans */
    const char *py = "[NaN, Infinity, -Infinity, 1e400, true, false, \"inf\"]";
    write_file(path, py, strlen(py));
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_DT_NONE, FP_F64, 100, &back), 7);
    d = back;
    ck_assert(isnan(d[0]) && d[1] == INFINITY && d[2] == -INFINITY && d[3] == INFINITY);
    ck_assert(d[4] == 1 && d[5] == 0 && d[6] == INFINITY);
    free(back);

    static const struct { const char *text, *needle; } bad[] = {
        { "[[1, 2], [3]]", "not a rectangular array" },
        { "[[1, 2], 3]", "not a rectangular array" },
        { "[1, [2]]", "not a rectangular array" },
        { "[1,\n \"abc\"]", "line 2: \"abc\" is not a number" },
        { "[1, null]", "'null' is not a number" },
        { "[1,]", "unexpected ']'" },
        { "[1] 2", "text after the array" },
        { "[1, 2", "unexpected end of input" },
        { "{\"a\": 1}", "expected a (nested) array" },
        { "", "empty input" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text, strlen(bad[i].text));
        vec_read_fails(path, NULL, FP_DT_NONE, FP_F64, bad[i].needle);
    }
}
END_TEST

/* ---------------------------------------------------------------- standard input and output */

/* Makes `data` the process's standard input through a pipe (Check runs each test
 * in its own process, so nothing leaks out). */
static void stdin_from(const void *data, size_t len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_uint_lt(len, 60000);   /* fits in the pipe without a reader */
    ck_assert_int_eq(write(fds[1], data, len), (ssize_t)len);
    close(fds[1]);
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
}

START_TEST(stdin_by_content)
{
    const char *npy = tmpfile_in("v.npy");
    double v[3] = { 0.1, -2, 3e-300 };
    uint64_t shape[1] = { 3 };
    vec_write(npy, NULL, FP_F64, 1, shape, v, 3);
    size_t len;
    char *bytes = read_file(npy, &len);
    stdin_from(bytes, len);
    free(bytes);
    fp_vec_reader *r;
    fp_error err;
    ck_assert_int_eq(fp_vec_reader_open(&r, "-", NULL, FP_DT_NONE, &err), 0);
    ck_assert_int_eq(fp_vec_reader_dtype(r), FP_F64);
    ck_assert_uint_eq(fp_vec_reader_count(r), 3);
    double back[4];
    uint64_t got;
    ck_assert_int_eq(fp_vec_reader_read(r, back, FP_F64, 4, &got, &err), 0);
    ck_assert_uint_eq(got, 3);
    ck_assert(!memcmp(back, v, sizeof v));
    fp_vec_reader_close(r);

    stdin_from("1\nabc\n", 6);
    vec_read_fails("-", NULL, FP_DT_NONE, FP_F64, "<stdin>: line 2: 'abc' is not a number");
    stdin_from("[[1, 2],\n [3, 4]]", 17);
    fp_matrix mat;
    ck_assert_int_eq(fp_matrix_read("-", NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert(mat.rows == 2 && mat.cols == 2 && ((double *)mat.data)[3] == 4);
    free(mat.data);
    stdin_from("0.5 1.5\n2.5 3.5\n", 16);
    ck_assert_int_eq(fp_matrix_read("-", NULL, FP_DT_NONE, FP_F64, &mat, &err), 0);
    ck_assert(mat.rows == 2 && mat.cols == 2 && ((double *)mat.data)[3] == 3.5);
    free(mat.data);
    stdin_from("\x93NUMPY\x01\x00\x40\x00{'descr': '<f8'", 25);
    vec_read_fails("-", NULL, FP_DT_NONE, FP_F64, "<stdin>: truncated npy header");
    vec_read_fails(fixture("vecio/h5py_mixed.h5"), "npy", FP_DT_NONE, FP_F64, "not a .npy file");
}
END_TEST

START_TEST(stdout_full_disk)
{
    int full = open("/dev/full", O_WRONLY);
    if (full < 0)
        return;
    int saved = dup(STDOUT_FILENO);
    dup2(full, STDOUT_FILENO);
    close(full);
    enum { N = 300000 };   /* well over the 1 MiB buffer */
    double *v = calloc(N, sizeof *v);
    fp_vec_writer *w;
    fp_error err;
    uint64_t shape[1] = { N };
    int rc = fp_vec_writer_open(&w, "-", NULL, FP_F64, 1, shape, &err);
    if (rc == 0)
        rc = fp_vec_writer_write(w, v, N, &err);
    if (rc == 0)
        rc = fp_vec_writer_commit(w, &err);
    else
        fp_vec_writer_abort(w);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    free(v);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err.msg, "<stdout>: cannot write: No space left on device");
}
END_TEST

/* ---------------------------------------------------------------- crash safety */

START_TEST(writer_temp_files)
{
    static const char *const names[] = { "a.npy", "a.txt", "a.h5", "a.json", "a.bin" };
    double v[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    uint64_t shape[1] = { 10 };
    for (size_t i = 0; i < 5; i++) {
        const char *dir = tmpdir();
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fp_vec_writer *w;
        fp_error err;
        /* abort: nothing left behind */
        ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F64, 1, shape, &err), 0);
        ck_assert_int_eq(fp_vec_writer_write(w, v, 4, &err), 0);
        ck_assert_int_eq(dir_count(dir), 1);   /* the temporary, beside the target */
        fp_vec_writer_abort(w);
        ck_assert_int_eq(dir_count(dir), 0);
        /* too few elements: refused at commit, nothing left behind */
        ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F64, 1, shape, &err), 0);
        ck_assert_int_eq(fp_vec_writer_write(w, v, 4, &err), 0);
        ck_assert_int_eq(fp_vec_writer_commit(w, &err), -1);
        ck_assert_msg(strstr(err.msg, "expected 10 elements, got 4"), "%s", err.msg);
        ck_assert_int_eq(dir_count(dir), 0);
        /* too many: refused at the write */
        ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F64, 1, shape, &err), 0);
        ck_assert_int_eq(fp_vec_writer_write(w, v, 10, &err), 0);
        ck_assert_int_eq(fp_vec_writer_write(w, v, 1, &err), -1);
        ck_assert_msg(strstr(err.msg, "more elements"), "%s", err.msg);
        /* commit: exactly the target */
        ck_assert_int_eq(fp_vec_writer_commit(w, &err), 0);
        ck_assert_int_eq(dir_count(dir), 1);
        ck_assert(file_exists(path));
    }
}
END_TEST

START_TEST(writer_missing_directory)
{
    uint64_t shape[1] = { 1 };
    static const char *const paths[] = {
        "/nonexistent-fp-dir/sub/out.txt", "/nonexistent-fp-dir/sub/out.h5",
        "/nonexistent-fp-dir/sub/out.npy",
    };
    for (size_t i = 0; i < 3; i++) {
        fp_vec_writer *w = NULL;
        fp_error err;
        ck_assert_int_eq(fp_vec_writer_open(&w, paths[i], NULL, FP_F64, 1, shape, &err), -1);
        ck_assert_ptr_null(w);
        ck_assert_msg(strstr(err.msg, paths[i]) && strstr(err.msg, "No such file or directory"),
                      "%s", err.msg);
    }
    fp_vec_writer *w;
    fp_error err;
    ck_assert_int_eq(fp_vec_writer_open(&w, "-", "h5", FP_F64, 1, shape, &err), -1);
    ck_assert_int_eq(fp_vec_writer_open(&w, tmpfile_in("x.txt"), "docx", FP_F64, 1, shape, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown vector format 'docx'"), "%s", err.msg);
}
END_TEST

/* fp_vec_writer_preallocate: the temporary's space is allocated in the
 * background (beyond its end: its size stays what was written), the file
 * written into it is exact, and abort stops the thread and leaves nothing. */
static int fallocate_works(const char *dir)
{
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0644), ok = 0;
    if (fd >= 0) {
        ok = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
        close(fd);
        unlink(probe);
    }
    return ok;
}

START_TEST(writer_allocates_ahead)
{
    enum { N = 10000000, PIECE = 250000 };   /* 40 MB of float32: three 16 MiB pieces */
    const char *dir = tmpdir();
    char path[4096], temp[4096];
    snprintf(path, sizeof path, "%s/ahead.npy", dir);
    snprintf(temp, sizeof temp, "%s/.ahead.npy.flatparams-%ld.tmp", dir, (long)getpid());
    int measurable = fallocate_works(dir);
    float *piece = malloc(PIECE * sizeof *piece);
    fp_vec_writer *w;
    fp_error err;
    uint64_t shape[2] = { N / 1000, 1000 };
    ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F32, 2, shape, &err), 0);
    fp_vec_writer_preallocate(w);
    struct stat st;
    ck_assert_int_eq(stat(temp, &st), 0);
    if (measurable) {   /* all of it allocated before a byte is written */
        for (int tries = 0; tries < 1000 && (uint64_t)st.st_blocks * 512 < (uint64_t)N * 4; tries++) {
            nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
            ck_assert_int_eq(stat(temp, &st), 0);
        }
        ck_assert_msg((uint64_t)st.st_blocks * 512 >= (uint64_t)N * 4, "%lld bytes allocated",
                      (long long)st.st_blocks * 512);
        ck_assert_int_eq(st.st_size, 0);
    }
    for (uint64_t done = 0; done < N; done += PIECE) {
        for (int i = 0; i < PIECE; i++)
            piece[i] = (float)(done + (uint64_t)i);
        ck_assert_int_eq(fp_vec_writer_write(w, piece, PIECE, &err), 0);
    }
    ck_assert_int_eq(fp_vec_writer_commit(w, &err), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 128 + (off_t)N * 4);   /* the header, the data, no more */
    ck_assert_msg((uint64_t)st.st_blocks * 512 <= (uint64_t)st.st_size + (64 << 10),
                  "%lld bytes allocated for %lld", (long long)st.st_blocks * 512,
                  (long long)st.st_size);
    void *back;
    ck_assert_uint_eq(vec_read_all(path, NULL, FP_F32, FP_F32, PIECE, &back), N);
    for (uint64_t i = 0; i < N; i += 9973)
        ck_assert_msg(((float *)back)[i] == (float)i, "element %llu", (unsigned long long)i);
    ck_assert(((float *)back)[N - 1] == (float)(N - 1));
    free(back);
    /* abort while it allocates: no thread left, no temporary */
    ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F32, 2, shape, &err), 0);
    fp_vec_writer_preallocate(w);
    ck_assert_int_eq(fp_vec_writer_write(w, piece, PIECE, &err), 0);
    fp_vec_writer_abort(w);
    ck_assert_int_eq(dir_count(dir), 1);   /* the committed file alone */
    ck_assert_int_eq(access(temp, F_OK), -1);
    /* text has no size to allocate ahead: nothing happens */
    const char *text = tmpfile_in("ahead.txt");
    uint64_t one[1] = { 3 };
    ck_assert_int_eq(fp_vec_writer_open(&w, text, NULL, FP_F32, 1, one, &err), 0);
    fp_vec_writer_preallocate(w);
    ck_assert_int_eq(fp_vec_writer_write(w, (float[]){ 0, 1, 2 }, 3, &err), 0);
    ck_assert_int_eq(fp_vec_writer_commit(w, &err), 0);
    char *got = read_file(text, NULL);
    ck_assert_str_eq(got, "0\n1\n2\n");
    free(got);
    free(piece);
}
END_TEST

/* ---------------------------------------------------------------- bounded memory */

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(memory_stays_bounded)
{
    enum { N = 4000000, PIECE = 1000 };   /* 32 MB of doubles, never all in memory */
    static const char *const names[] = { "big.txt", "big.npy", "big.h5" };
    double piece[PIECE];
    long start = max_rss_kib();
    for (size_t f = 0; f < 3; f++) {
        const char *path = tmpfile_in(names[f]);
        fp_vec_writer *w;
        fp_error err;
        uint64_t shape[1] = { N };
        ck_assert_int_eq(fp_vec_writer_open(&w, path, NULL, FP_F64, 1, shape, &err), 0);
        for (uint64_t done = 0; done < N; done += PIECE) {
            for (int i = 0; i < PIECE; i++)
                piece[i] = (double)(done + (uint64_t)i) * 1e-3;
            ck_assert_int_eq(fp_vec_writer_write(w, piece, PIECE, &err), 0);
        }
        ck_assert_int_eq(fp_vec_writer_commit(w, &err), 0);
        fp_vec_reader *r;
        ck_assert_int_eq(fp_vec_reader_open(&r, path, NULL, FP_DT_NONE, &err), 0);
        uint64_t total = 0, got;
        do {
            ck_assert_int_eq(fp_vec_reader_read(r, piece, FP_F64, PIECE, &got, &err), 0);
            ck_assert(got == 0 || piece[got - 1] == (double)(total + got - 1) * 1e-3);
            total += got;
        } while (got == PIECE);
        fp_vec_reader_close(r);
        ck_assert_uint_eq(total, N);
    }
    long grown = max_rss_kib() - start;
#ifdef __SANITIZE_ADDRESS__
    long limit = 64 * 1024;   /* AddressSanitizer keeps freed memory in quarantine */
#else
    long limit = 16 * 1024;
#endif
    ck_assert_msg(grown < limit, "memory grew by %ld KiB (the data is 31250 KiB)", grown);
}
END_TEST

TCase *vecio_files_tcase(void)
{
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, numpy_fixtures);
    tcase_add_test(tc, h5py_fixtures);
    tcase_add_test(tc, h5_round_trip);
    tcase_add_test(tc, h5_every_dtype_and_rank3);
    tcase_add_test(tc, json_files);
    tcase_add_test(tc, stdin_by_content);
    tcase_add_test(tc, stdout_full_disk);
    tcase_add_test(tc, writer_temp_files);
    tcase_add_test(tc, writer_missing_directory);
    tcase_add_test(tc, writer_allocates_ahead);
    tcase_add_test(tc, memory_stays_bounded);
    return tc;
}
