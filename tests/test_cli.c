/* The commands end to end, as a user runs them: flatten, rebuild, modules,
 * summary, convert, usage and errors. Expected values come from the seed's
 * numbers, NumPy fixtures (testdata/make_cli_fixtures.py) and the HDF5 API. */
#include "harness.h"
#include "flatparams.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const float seed_values[5] = { 0.863101f, 1.2454957f, 0.0f, -1.6345707f, 0.0f };

static void assert_ok(const run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d, stderr: %s", r->status, r->err);
}

/* The seed flattens to exactly its five float32 numbers (weight, bias per layer). */
START_TEST(seed_flattens_exactly)
{
    run_result r = run_fpv(NULL, "flatten", testdata("seed.json"), NULL);
    assert_ok(&r);
    double *v;
    ck_assert_uint_eq(parse_numbers(r.out, &v), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_msg((float)v[i] == seed_values[i], "element %d: %.9g", i, v[i]);
    ck_assert_str_eq(r.out, "0.863101\n1.2454957\n0\n-1.6345707\n0\n");
    free(v);
    run_free(&r);

    const char *npy = tmpfile_in("seed.npy");
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", npy, NULL);
    assert_ok(&r);
    ck_assert_uint_eq(r.out_len, 0);
    size_t len;
    char *bytes = read_file(npy, &len);
    ck_assert_ptr_nonnull(memmem(bytes, len, "'descr': '<f4'", 14));
    ck_assert_ptr_nonnull(memmem(bytes, len, "'shape': (5,)", 13));
    ck_assert_int_eq(memcmp(bytes + len - 20, seed_values, 20), 0);
    free(bytes);
    run_free(&r);
}
END_TEST

/* rebuild from zeros(5): an all-zero model that keeps tanh, in JSON and in HDF5. */
START_TEST(seed_rebuilds_from_zeros)
{
    const char *zero_json = tmpfile_in("zero.json");
    run_result r = run_fpv("0\n0\n0\n0\n0\n", "rebuild", testdata("seed.json"), "-", "-o", zero_json, NULL);
    assert_ok(&r);
    run_free(&r);
    char *text = read_file(zero_json, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"tanh\""));
    free(text);
    r = run_fpv(NULL, "flatten", zero_json, NULL);
    ck_assert_str_eq(r.out, "0\n0\n0\n0\n0\n");
    run_free(&r);
    r = run_fpv(NULL, "summary", zero_json, NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "Dense(2 => 1, tanh)"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "(all zero)"), "%s", r.out);
    run_free(&r);

    const char *seed_h5 = tmpfile_in("seed.h5"), *zero_h5 = tmpfile_in("zero.h5");
    r = run_fpv(NULL, "convert", testdata("seed.json"), "-o", seed_h5, NULL);
    assert_ok(&r);
    run_free(&r);
    r = run_fpv("0\n0\n0\n0\n0\n", "rebuild", seed_h5, "-", "-o", zero_h5, NULL);
    assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "flatten", zero_h5, NULL);
    ck_assert_str_eq(r.out, "0\n0\n0\n0\n0\n");
    run_free(&r);
    r = run_fpv(NULL, "summary", zero_h5, NULL);
    ck_assert_msg(strstr(r.out, "Dense(2 => 1, tanh)"), "%s", r.out);
    run_free(&r);
}
END_TEST

START_TEST(wrong_length_names_both)
{
    const char *out = tmpfile_in("x.json");
    run_result r = run_fpv("1\n2\n3\n4\n5\n6\n", "rebuild", testdata("seed.json"), "-", "-o", out, NULL);
    assert_error_line(&r, "rebuild expected a vector of length 5, got 6");
    ck_assert(!file_exists(out));
    run_free(&r);
    r = run_fpv("1\n2\n3\n4\n", "rebuild", testdata("seed.json"), "-", "-o", out, NULL);
    assert_error_line(&r, "rebuild expected a vector of length 5, got 4");
    run_free(&r);
    /* a .npy states its length up front */
    const char *npy = tmpfile_in("six.npy");
    run_result f = run_fpv(NULL, "flatten", testdata("seed.json"), "--dtype", "f64", "-o", npy, NULL);
    assert_ok(&f);
    run_free(&f);
    const char *bigger = tmpfile_in("bigger.json");
    write_file(bigger, "{\"w\": [1, 2, 3, 4]}", 19);
    r = run_fpv(NULL, "rebuild", bigger, npy, "-o", out, NULL);
    assert_error_line(&r, "rebuild expected a vector of length 4, got 5");
    ck_assert_int_eq(dir_count(tmpfile_in("")), 2);   /* six.npy and bigger.json: no temporaries */
    run_free(&r);
}
END_TEST

/* Chain(Chain(Dense(784=>64), BatchNorm(64, relu)), Dense(64=>10)) */
START_TEST(mlp_bn_modules)
{
    run_result r = run_fpv(NULL, "modules", testdata("mlp_bn.json"), "--json", NULL);
    assert_ok(&r);
    cJSON *doc = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 7);
    cJSON *root = cJSON_GetArrayItem(doc, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "path")->valuestring, "/");
    ck_assert_str_eq(cJSON_GetObjectItem(root, "type")->valuestring, "Chain");
    ck_assert_int_eq(cJSON_GetObjectItem(root, "trainable")->valuedouble, 51018);
    ck_assert_int_eq(cJSON_GetObjectItem(root, "non_trainable")->valuedouble, 128);
    ck_assert_int_eq(cJSON_GetObjectItem(root, "arrays")->valuedouble, 8);
    const char *types[7] = { "Chain", NULL, "Chain", NULL, "Dense", "BatchNorm", "Dense" };
    const double trainable[7] = { 51018, 51018, 50368, 50368, 50240, 128, 650 };
    for (int i = 0; i < 7; i++) {
        cJSON *m = cJSON_GetArrayItem(doc, i);
        if (types[i])
            ck_assert_str_eq(cJSON_GetObjectItem(m, "type")->valuestring, types[i]);
        else   /* the lists: no layer type, kind "list" */
            ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "type")));
        ck_assert_str_eq(cJSON_GetObjectItem(m, "kind")->valuestring, types[i] ? "map" : "list");
        ck_assert_int_eq(cJSON_GetObjectItem(m, "trainable")->valuedouble, trainable[i]);
    }
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 5), "path")->valuestring,
                     "/layers/0/layers/1");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 5), "non_trainable")->valuedouble, 128);
    cJSON_Delete(doc);
    run_free(&r);

    r = run_fpv(NULL, "summary", testdata("mlp_bn.json"), NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "Dense(784 => 64),"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "BatchNorm(64, relu),"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "# 128 parameters, plus 128 non-trainable"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "# Total: 6 trainable arrays, 51_018 parameters,"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "# plus 2 non-trainable, 128 parameters"), "%s", r.out);
    run_free(&r);

    /* --exclude moves a layer's parameters to non-trainable */
    r = run_fpv(NULL, "modules", testdata("mlp_bn.json"), "--json", "--exclude", "/layers/1", NULL);
    doc = cJSON_Parse(r.out);
    root = cJSON_GetArrayItem(doc, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(root, "trainable")->valuedouble, 50368);
    ck_assert_int_eq(cJSON_GetObjectItem(root, "non_trainable")->valuedouble, 128 + 650);
    cJSON_Delete(doc);
    run_free(&r);
}
END_TEST

/* Nested Chains, every flag: per-layer counts must be that layer's own arrays.
 * Expected text is the output before summary looked parameters up by sorted path. */
START_TEST(nested_summary_flags)
{
    static const char model[] =
        "{\"type\": \"Chain\", \"layers\": ["
        "{\"type\": \"Chain\", \"layers\": [{\"type\": \"Dense\", \"weight\": [[0.0]], \"bias\": [0.0]},"
        " {\"type\": \"Dense\", \"weight\": {\"dtype\": \"float32\", \"shape\": [1, 2], \"data\": [\"NaN\", 1]},"
        " \"bias\": [1.0]}]},"
        "{\"type\": \"Chain\", \"layers\": [{\"type\": \"Dense\", \"weight\": {\"dtype\": \"float32\","
        " \"shape\": [1, 2], \"data\": [\"Infinity\", 1]}, \"bias\": [0.0]},"
        " {\"type\": \"BatchNorm\", \"gamma\": [1.0, 1.0], \"beta\": [0.0, 0.0], \"μ\": [0.0, 0.0],"
        " \"σ²\": [1.0, 1.0], \"activation\": \"relu\"}]},"
        "{\"type\": \"Dense\", \"weight\": [[1.0, 2.0]], \"bias\": [0.5], \"activation\": \"tanh\"}]}";
    const char *path = tmpfile_in("nested.json");
    ck_assert_int_eq(write_file(path, model, sizeof model - 1), 0);
    run_result r = run_fpv(NULL, "summary", path, "--exclude", "/layers/1/layers/0", NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out,
        "Chain(\n"
        "  Chain(\n"
        "    Dense(1 => 1),                      # 2 parameters  (all zero)\n"
        "    Dense(2 => 1),                      # 3 parameters  (some NaN)\n"
        "  ),\n"
        "  Chain(\n"
        "    Dense(2 => 1),                      # 0 parameters, plus 3 non-trainable  (some Inf)\n"
        "    BatchNorm(2, relu),                 # 4 parameters, plus 4 non-trainable\n"
        "  ),\n"
        "  Dense(2 => 1, tanh),                  # 3 parameters\n"
        ")                   # Total: 8 trainable arrays, 12 parameters,\n"
        "                    # plus 4 non-trainable, 7 parameters, 136 bytes.\n");
    run_free(&r);
}
END_TEST

/* An array the file shares (a hard link in cli/shared.h5) counts where it
 * first occurs; the later occurrence names that path. */
START_TEST(summary_names_a_shared_array_once)
{
    run_result r = run_fpv(NULL, "summary", testdata("cli/shared.h5"), NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out,
        "(\n"
        "  a = (\n"
        "    bias = float32[2 elements],         # 2 parameters\n"
        "    weight = float32[6 elements],       # 6 parameters\n"
        "  ),\n"
        "  b = (\n"
        "    bias = float32[2 elements],         # 2 parameters\n"
        "    weight = float32[6 elements],       # same as /a/weight\n"
        "  ),\n"
        ")                   # Total: 3 arrays, 10 parameters, 40 bytes.\n");
    run_free(&r);
}
END_TEST

/* The flags of arrays read from the file in pieces, in their own type: an
 * Inf past the first piece of a float16 tensor, NaN, zeros; complex parts. */
START_TEST(summary_flags_of_lazy_and_complex_arrays)
{
    enum { N = 5000 };
    static const char header[] =
        "{\"a.inf\":{\"dtype\":\"F16\",\"shape\":[5000],\"data_offsets\":[0,10000]},"
        "\"a.nan\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[10000,10004]},"
        "\"a.zero\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[10004,10010]}}  ";
    size_t hlen = sizeof header - 1, total = 8 + hlen + 10010;
    unsigned char *file = calloc(1, total);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, header, hlen);
    uint16_t *h = (uint16_t *)(file + 8 + hlen);   /* little-endian host */
    for (int i = 0; i < N; i++)
        h[i] = 0x3c00;   /* 1.0 */
    h[4500] = 0x7c00;    /* +Inf, in the second piece */
    h[N + 1] = 0x7e00;   /* NaN */
    const char *st = tmpfile_in("flags.safetensors");
    ck_assert_int_eq(write_file(st, file, total), 0);
    free(file);
    run_result r = run_fpv(NULL, "summary", st, NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "inf = float16[5000 elements],") && strstr(r.out, "(some Inf)")
                  && strstr(r.out, "(some NaN)") && strstr(r.out, "(all zero)"), "%s", r.out);
    const char *line = strstr(r.out, "inf = ");
    ck_assert_msg(line && strstr(line, "(some Inf)") < strstr(line, "\n"), "%s", r.out);
    run_free(&r);
    static const char json[] =
        "{\"c\": {\"dtype\": \"complex64\", \"shape\": [2], \"data\": [[1, 0], [0, \"-Infinity\"]]}}";
    const char *js = tmpfile_in("complex.json");
    ck_assert_int_eq(write_file(js, json, sizeof json - 1), 0);
    r = run_fpv(NULL, "summary", js, NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "(some Inf)") && !strstr(r.out, "NaN"), "%s", r.out);
    run_free(&r);
}
END_TEST

static double *flatten_npy(const char *model, const char *const *extra, size_t *n)
{
    const char *npy = tmpfile_in("flat.npy");
    const char *argv[16] = { "flatten", model, "-o", npy };
    int k = 4;
    for (; extra && *extra; extra++)
        argv[k++] = *extra;
    argv[k] = NULL;
    run_result r = run_fp(NULL, 0, argv);
    assert_ok(&r);
    run_free(&r);
    double *v;
    *n = read_npy_f64(npy, &v, NULL, NULL);
    ck_assert_uint_ne(*n, (size_t)-1);
    return v;
}

static void assert_values(const double *got, size_t n_got, const char *expect_npy)
{
    double *want;
    size_t n = read_npy_f64(expect_npy, &want, NULL, NULL);
    ck_assert_uint_eq(n_got, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "element %zu: %.17g != %.17g", i, got[i], want[i]);
    free(want);
}

/* Contiguous little-endian arrays are copied straight from the file's bytes:
 * right with a user block before the superblock, and beside arrays that go
 * through libhdf5 (chunked, big-endian), in f64 and as f32. */
START_TEST(raw_copy_matches_numpy)
{
    size_t n;
    double *v = flatten_npy(testdata("cli/userblock.h5"), NULL, &n);
    assert_values(v, n, testdata("cli/userblock.expect.npy"));
    free(v);
    v = flatten_npy(testdata("cli/userblock.h5"), (const char *const[]){ "--exclude", "/b", NULL }, &n);
    double *want;
    ck_assert_uint_eq(read_npy_f64(testdata("cli/userblock.expect.npy"), &want, NULL, NULL), n + 7);
    ck_assert_int_eq(memcmp(v, want, 15 * sizeof *v), 0);
    ck_assert_int_eq(memcmp(v + 15, want + 22, (n - 15) * sizeof *v), 0);
    free(v);
    free(want);
}
END_TEST

START_TEST(hard_links_once_and_kept)
{
    size_t n;
    double *v = flatten_npy(testdata("cli/shared.h5"), NULL, &n);
    assert_values(v, n, testdata("cli/shared.expect.npy"));
    ck_assert_uint_eq(n, 10);
    free(v);
    /* rebuild with 1..10 and check the link survived and holds the new values */
    const char *out = tmpfile_in("shared-new.h5");
    run_result r = run_fpv("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "rebuild", testdata("cli/shared.h5"), "-",
                           "-o", out, NULL);
    assert_ok(&r);
    run_free(&r);
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    H5O_info_t a, b;
    ck_assert_int_ge(H5Oget_info_by_name2(f, "a/weight", &a, H5O_INFO_BASIC, H5P_DEFAULT), 0);
    ck_assert_int_ge(H5Oget_info_by_name2(f, "b/weight", &b, H5O_INFO_BASIC, H5P_DEFAULT), 0);
    ck_assert(a.addr == b.addr);
    float w[6];
    hid_t d = H5Dopen2(f, "b/weight", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w);
    H5Dclose(d);
    H5Fclose(f);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(w[i], 3.0f + i);   /* a/bias takes 1..2, a/weight 3..8 */
}
END_TEST

/* HDF5 -> HDF5 rebuild replaces parameter values and nothing else. */
START_TEST(rebuild_keeps_everything_else)
{
    const char *model = testdata("cli/rich.h5");
    size_t n, n_all;
    double *v = flatten_npy(model, NULL, &n);
    assert_values(v, n, testdata("cli/rich.expect.npy"));
    const char *all_args[] = { "--all", NULL };
    double *v_all = flatten_npy(model, all_args, &n_all);
    assert_values(v_all, n_all, testdata("cli/rich.expect_all.npy"));
    free(v_all);
    /* new values: 2 * v + 1, as text */
    size_t cap = n * 32 + 1, o = 0;
    char *text = malloc(cap);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%.17g\n", 2 * v[i] + 1);
    size_t before_len;
    char *before = read_file(model, &before_len);
    const char *out = tmpfile_in("rich-new.h5");
    run_result r = run_fpv(text, "rebuild", model, "-", "-o", out, NULL);
    assert_ok(&r);
    run_free(&r);
    size_t after_len;
    char *after = read_file(model, &after_len);
    ck_assert(before_len == after_len && !memcmp(before, after, before_len));   /* input untouched */
    free(before);
    free(after);

    size_t n_new;
    double *w = flatten_npy(out, NULL, &n_new);
    ck_assert_uint_eq(n_new, n);
    /* layers/0/bias is f64: exact; the f32 weight is the decimal text correctly
     * rounded to float (strtof, not (float) of the double: they differ at ties) */
    for (size_t i = 0; i < 64; i++)
        ck_assert_double_eq(w[i], 2 * v[i] + 1);
    for (size_t i = 64; i < 64 + 2048; i++) {
        char token[40];
        snprintf(token, sizeof token, "%.17g", 2 * v[i] + 1);
        ck_assert_double_eq(w[i], (double)strtof(token, NULL));
    }
    free(w);
    free(v);
    free(text);

    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "layers/0/weight", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    ck_assert_int_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
    hsize_t chunk[2];
    H5Pget_chunk(dcpl, 2, chunk);
    ck_assert_uint_eq(chunk[0], 16);
    ck_assert_int_eq(H5Pget_nfilters(dcpl), 2);   /* shuffle + gzip */
    H5Pclose(dcpl);
    H5Dclose(d);
    d = H5Dopen2(f, "layers/0/bias", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    ck_assert_int_eq(H5Tget_order(t), H5T_ORDER_BE);
    H5Tclose(t);
    H5Dclose(d);
    int steps[10];
    d = H5Dopen2(f, "layers/0/steps", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, steps);
    H5Dclose(d);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(steps[i], i);
    long long epochs;
    hid_t a = H5Aopen(f, "epochs", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_LLONG, &epochs);
    H5Aclose(a);
    ck_assert_int_eq(epochs, 12);
    H5Fclose(f);
}
END_TEST

/* flatten | rebuild - is bit-exact through text, for awkward f32 and f64 values. */
START_TEST(text_round_trip_bit_exact)
{
    const char *model = testdata("cli/random.h5");
    run_result flat = run_fpv(NULL, "flatten", model, "--dtype", "f64", NULL);
    assert_ok(&flat);
    const char *out = tmpfile_in("random-new.h5");
    run_result r = run_fp(flat.out, flat.out_len, (const char *const[]){ "rebuild", model, "-", "-o", out, NULL });
    assert_ok(&r);
    run_free(&r);
    size_t n_a, n_b;
    double *a = flatten_npy(model, (const char *const[]){ "--dtype", "f64", NULL }, &n_a);
    double *b = flatten_npy(out, (const char *const[]){ "--dtype", "f64", NULL }, &n_b);
    ck_assert_uint_eq(n_a, 2004);
    ck_assert_uint_eq(n_a, n_b);
    ck_assert_int_eq(memcmp(a, b, n_a * sizeof *a), 0);
    free(a);
    free(b);
    run_free(&flat);
}
END_TEST

static void write_text(const char *path, const char *text)
{
    ck_assert_int_eq(write_file(path, text, strlen(text)), 0);
}

START_TEST(promotion_f64_and_complex)
{
    const char *mixed = tmpfile_in("mixed.json"), *cplx = tmpfile_in("complex.json");
    write_text(mixed, "{\"a\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": [0.5, 1.5]}, \"b\": [0.25]}");
    write_text(cplx, "{\"a\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [2]},"
                     " \"z\": {\"dtype\": \"complex64\", \"shape\": [1], \"data\": [[1, -3]]}}");
    const char *npy = tmpfile_in("v.npy");
    run_result r = run_fpv(NULL, "flatten", mixed, "-o", npy, NULL);
    assert_ok(&r);
    size_t len;
    char *bytes = read_file(npy, &len);
    ck_assert_ptr_nonnull(memmem(bytes, len, "'<f8'", 5));
    free(bytes);
    run_free(&r);
    r = run_fpv(NULL, "flatten", cplx, NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out, "2 0\n1 -3\n");
    run_free(&r);
    r = run_fpv(NULL, "flatten", cplx, "-o", npy, NULL);
    bytes = read_file(npy, &len);
    ck_assert_ptr_nonnull(memmem(bytes, len, "'<c8'", 5));
    free(bytes);
    run_free(&r);
    /* complex into a real array: refused when the imaginary part is not zero */
    const char *out = tmpfile_in("c-out.json");
    r = run_fpv("1 1\n1 0\n", "rebuild", cplx, "-", "-o", out, NULL);
    assert_error_line(&r, "/a");
    run_free(&r);
    r = run_fpv("7 0\n1 2\n", "rebuild", cplx, "-", "-o", out, NULL);
    assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, NULL);
    ck_assert_str_eq(r.out, "7 0\n1 2\n");
    run_free(&r);
}
END_TEST

START_TEST(selection)
{
    run_result r = run_fpv(NULL, "flatten", testdata("seed.json"), "--include", "*/weight", NULL);
    ck_assert_str_eq(r.out, "0.863101\n1.2454957\n-1.6345707\n");
    run_free(&r);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--exclude", "/layers/0", NULL);
    ck_assert_str_eq(r.out, "-1.6345707\n0\n");
    run_free(&r);
    /* a rebuild with the same selection replaces only those */
    const char *out = tmpfile_in("sel.json");
    r = run_fpv("9\n8\n", "rebuild", testdata("seed.json"), "-", "-o", out, "--exclude", "/layers/0", NULL);
    assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, NULL);
    ck_assert_str_eq(r.out, "0.863101\n1.2454957\n0\n9\n8\n");
    run_free(&r);
    /* the root module, /, is a module like the others: everything is inside it */
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--include", "/", NULL);
    ck_assert_str_eq(r.out, "0.863101\n1.2454957\n0\n-1.6345707\n0\n");
    run_free(&r);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--exclude", "/", NULL);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    /* a glob that matches nothing (a dotted PyTorch name) selects nothing, with
     * a warning that shows what paths look like; -q keeps it quiet */
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--include", "0.weight", NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "flatparams: warning: --include 0.weight: matches no parameter "
                            "(paths look like /layers/0/weight)\n");
    run_free(&r);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--exclude", "*.bias", "-q", NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out, "0.863101\n1.2454957\n0\n-1.6345707\n0\n");
    ck_assert_str_eq(r.err, "");
    run_free(&r);
}
END_TEST

START_TEST(usage_and_help)
{
    const char *commands[] = { "flatten", "rebuild", "modules", "summary", "convert" };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        run_result r = run_fpv(NULL, commands[i], "-h", NULL);
        ck_assert_int_eq(r.status, 0);
        ck_assert_msg(!strncmp(r.out, commands[i], strlen(commands[i])), "%s", r.out);
        run_free(&r);
        r = run_fpv(NULL, commands[i], "--no-such-option", "x", NULL);
        ck_assert_int_eq(r.status, 2);
        run_free(&r);
    }
    run_result r = run_fpv(NULL, "--version", NULL);
    ck_assert_str_eq(r.out, "flatparams " FP_VERSION "\n");
    run_free(&r);
    r = run_fpv(NULL, "frobnicate", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
    r = run_fpv(NULL, "flatten", NULL);
    assert_usage_line(&r, "flatten: missing MODEL");
    run_free(&r);
    r = run_fpv(NULL, "rebuild", testdata("seed.json"), NULL);
    assert_usage_line(&r, "rebuild: missing VEC");
    run_free(&r);
    r = run_fpv(NULL, "rebuild", testdata("seed.json"), "-", NULL);   /* no -o */
    assert_usage_line(&r, "-o OUT");
    run_free(&r);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--format", "docx", NULL);
    assert_usage_line(&r, "unknown --format 'docx'");
    run_free(&r);
    r = run_fpv(NULL, "convert", testdata("seed.json"), "-o", tmpfile_in("c.h5"), "--format",
                "docx", NULL);
    assert_usage_line(&r, "unknown --format 'docx'");
    run_free(&r);

    /* doc/contract.md §2's common options on every command: checked, used where they mean
     * something; --version anywhere */
    r = run_fpv(NULL, "summary", testdata("seed.json"), "--version", NULL);
    ck_assert_str_eq(r.out, "flatparams " FP_VERSION "\n");
    run_free(&r);
    const char *common[][10] = {   /* (NULL-terminated) */
        { "flatten", testdata("seed.json"), "--precision", "f64", "--device", "cpu", "-q" },
        { "rebuild", testdata("seed.json"), testdata("seed.json"), "-o", tmpfile_in("r.json"),
          "--precision", "f32", "--device", "cuda" },
        { "modules", testdata("seed.json"), "--dtype", "f16", "--precision", "f64", "--all" },
        { "summary", testdata("seed.json"), "--dtype", "f64", "--format", "text", "--device", "auto" },
        { "convert", testdata("seed.json"), "-o", tmpfile_in("c.json"), "--precision", "f64" },
    };
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) {
        if (!strcmp(common[i][0], "rebuild"))
            common[i][2] = tmpfile_in("v.txt");
        if (!strcmp(common[i][0], "rebuild"))
            write_text(common[i][2], "1\n2\n3\n4\n5\n");
        r = run_fp(NULL, 0, common[i]);
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", common[i][0], r.status, r.err);
        run_free(&r);
    }
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--precision", "f16", NULL);
    assert_usage_line(&r, "--precision takes f32 or f64");
    run_free(&r);
    r = run_fpv(NULL, "modules", testdata("seed.json"), "--device", "tpu", NULL);
    assert_usage_line(&r, "--device takes cpu, cuda or auto");
    run_free(&r);
    /* --version or -h into a full device is a failed write: exit 1 */
    for (int k = 0; k < 2; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int full = open("/dev/full", O_WRONLY);
            int quiet = open("/dev/null", O_WRONLY);
            if (full < 0 || quiet < 0 || dup2(full, STDOUT_FILENO) < 0 || dup2(quiet, STDERR_FILENO) < 0)
                _exit(99);
            if (k == 0)
                execl(getenv("FP_BIN"), "flatparams", "--version", (char *)NULL);
            else
                execl(getenv("FP_BIN"), "flatparams", "flatten", "-h", (char *)NULL);
            _exit(127);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    }
    run_result json = run_fpv(NULL, "modules", testdata("seed.json"), "--json", NULL);
    r = run_fpv(NULL, "modules", testdata("seed.json"), "--format", "json", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, json.out);
    run_free(&r);
    run_free(&json);
}
END_TEST

START_TEST(bad_inputs_one_line)
{
    const char *dir = tmpdir();
    char path[4096];
    struct { const char *name, *content, *needle; } models[] = {
        { "invalid.json", "{\"a\": [1, 2,", "invalid JSON" },
        { "ragged.json", "{\"w\": [[1, 2], [3]]}", "/w" },
        { "overflow.json", "{\"w\": {\"dtype\": \"float32\", \"shape\": [4294967296, 4294967296, 4294967296], "
                           "\"data\": []}}", "/w" },
        { "empty.h5", "", "empty" },
        { "garbage.h5", "\x89HDF\r\n\x1a\n garbage garbage garbage", "garbage.h5" },
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, models[i].name);
        write_text(path, models[i].content);
        run_result r = run_fpv(NULL, "flatten", path, NULL);
        assert_error_line(&r, models[i].needle);
        run_free(&r);
        r = run_fpv(NULL, "modules", path, NULL);
        assert_error_line(&r, models[i].needle);
        run_free(&r);
    }
    run_result r = run_fpv(NULL, "flatten", "/nonexistent/model.h5", NULL);
    assert_error_line(&r, "/nonexistent/model.h5");
    run_free(&r);
    r = run_fpv(NULL, "flatten", dir, NULL);
    assert_error_line(&r, "Is a directory");
    run_free(&r);
    /* a writer's failure names the target, not its temporary */
    const char *target = tmpfile_in("named.h5");
    r = run_fpv(NULL, "convert", corpus("keras/lstm_bidirectional.h5"), "-o", target, NULL);
    assert_error_line(&r, "named.h5: /bidirectional_1/forward_lstm_4/kernel: this name cannot be");
    ck_assert_msg(!strstr(r.err, "flatparams-"), "%s", r.err);
    run_free(&r);
    r = run_fpv(NULL, "convert", testdata("seed.json"), "-o", tmpfile_in("x.keras"), NULL);
    assert_error_line(&r, "x.keras: a .keras file can only be written by rebuild");
    run_free(&r);
    /* paths that meet in safetensors' dotted names: refused, nothing written */
    const char *meet = write_tmp("meet.json", "{\"a\": {\"b\": [1.0, 2.0]}, \"a/b\": [3.0, 4.0]}");
    target = tmpfile_in("meet.safetensors");
    r = run_fpv(NULL, "convert", meet, "-o", target, NULL);
    assert_error_line(&r, "/a/b: two arrays have this path (a key holds '/'), and safetensors "
                          "would name both 'a.b'");
    ck_assert(!file_exists(target));
    run_free(&r);
    /* control bytes from the file are escaped: one clean line on a terminal */
    snprintf(path, sizeof path, "%s/escape.json", dir);
    write_text(path, "{\"a\\u001b[31mRED\": [[1, 2], [3]]}");
    r = run_fpv(NULL, "flatten", path, NULL);
    assert_error_line(&r, "/a\\x1b[31mRED: ragged array");
    ck_assert_ptr_null(strchr(r.err, 0x1b));
    run_free(&r);

    /* bad vectors: a word in text, an npy with a broken header */
    const char *out = tmpfile_in("never.json");
    r = run_fpv("1\n2\nthree\n4\n5\n", "rebuild", testdata("seed.json"), "-", "-o", out, NULL);
    assert_error_line(&r, "three");
    run_free(&r);
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    static const char bad_npy[] = "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, ";
    ck_assert_int_eq(write_file(path, bad_npy, sizeof bad_npy - 1), 0);
    r = run_fpv(NULL, "rebuild", testdata("seed.json"), path, "-o", out, NULL);
    assert_error_line(&r, "bad.npy");
    run_free(&r);
    ck_assert(!file_exists(out));
    ck_assert_int_eq(dir_count(dir), (int)(sizeof models / sizeof *models) + 2);   /* no temporaries */
}
END_TEST

/* Every file of the HDF5 corpus: correct output, or one error line and exit 1.
 * cve-2018-13869.h5 crashes libhdf5 1.10.8 itself: the hostile suite's hdf5_corpus_all
 * runs it with every other corpus file (tests/test_hostile.c). */
START_TEST(hdf5_corpus)
{
    struct { const char *name; int ok; } files[] = {
        { "hdf5/types_dset.h5", 1 }, { "hdf5/test_userblock_earliest.hdf5", 1 },
        { "hdf5/tall.h5", 0 }, { "hdf5/h5ex_d_extern.h5", 0 }, { "hdf5/notahdf5file.h5", 0 },
        { "hdf5/cve-2018-13874.h5", 0 }, { "hdf5/cve-2018-17237.h5", 0 }, { "hdf5/cve-2020-10812.h5", 0 },
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        run_result r = run_fpv(NULL, "flatten", corpus(files[i].name), NULL);
        if (files[i].ok)
            ck_assert_msg(r.status == 0, "%s: %s", files[i].name, r.err);
        else
            assert_error_line(&r, NULL);
        run_free(&r);
        r = run_fpv(NULL, "modules", corpus(files[i].name), NULL);
        ck_assert_msg(r.status == 0 || r.status == 1, "%s: status %d", files[i].name, r.status);
        if (r.status)
            assert_error_line(&r, NULL);
        run_free(&r);
    }
}
END_TEST

/* Every Keras file flattens and rebuilds bit-exactly from its own vector as generic HDF5,
 * and a rebuilt file carries a changed vector. */
START_TEST(keras_corpus_generic)
{
    const char *files[] = {
        "KERAS_3layer_weights.h5", "KERAS_3layer_batch_norm_weights.h5", "KERAS_conv2d_model_weights.h5",
        "keras_3layer_batch_norm.h5", "keras_conv2d_model.h5", "keras1_my_nn_weights.h5",
        "lstm_bidirectional.h5",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char model[4096];
        snprintf(model, sizeof model, "keras/%s", files[i]);
        const char *src = corpus(model);
        const char *vec = tmpfile_in("k.npy"), *out = tmpfile_in("k-out.h5"), *vec2 = tmpfile_in("k2.npy");
        run_result r = run_fpv(NULL, "flatten", src, "-o", vec, NULL);
        ck_assert_msg(r.status == 0, "%s: %s", files[i], r.err);
        run_free(&r);
        r = run_fpv(NULL, "rebuild", src, vec, "-o", out, NULL);
        ck_assert_msg(r.status == 0, "%s: %s", files[i], r.err);
        run_free(&r);
        r = run_fpv(NULL, "flatten", out, "-o", vec2, NULL);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        size_t la, lb;
        char *a = read_file(vec, &la), *b = read_file(vec2, &lb);
        ck_assert_msg(la == lb && !memcmp(a, b, la), "%s: vectors differ", files[i]);
        ck_assert_uint_gt(la, 128);
        free(a);
        free(b);
    }
}
END_TEST

/* flatten streams: peak memory stays near the largest array, not the model. */
START_TEST(flatten_streams)
{
    const char *model = tmpfile_in("big.h5");
    hid_t f = H5Fcreate(model, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    enum { N_ARRAYS = 16, N = 4 << 20 };   /* 16 arrays of 16 MiB: 256 MiB of float32 */
    float *data = malloc(N * sizeof *data);
    for (size_t i = 0; i < N; i++)
        data[i] = (float)i;
    hsize_t dims[1] = { N };
    for (int k = 0; k < N_ARRAYS; k++) {
        char name[32];
        snprintf(name, sizeof name, "w%02d", k);
        hid_t space = H5Screate_simple(1, dims, NULL);
        hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        data[0] = (float)k;
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
        H5Dclose(d);
        H5Sclose(space);
    }
    H5Fclose(f);
    free(data);
    /* AddressSanitizer's shadow memory and quarantine inflate every process's
     * peak: the bound is for real builds. */
#if defined(__SANITIZE_ADDRESS__)
    const long limit_kb = 1L << 30;
#else
    const long limit_kb = (16 + 48) * 1024;
#endif
    const char *formats[] = { "v.npy", "v.bin", "v.h5" };
    for (size_t i = 0; i < 3; i++) {
        const char *vec = tmpfile_in(formats[i]);
        run_result r = run_fpv(NULL, "flatten", model, "-o", vec, NULL);
        assert_ok(&r);
        ck_assert_msg(r.max_rss_kb < limit_kb, "%s: peak %ld KiB", formats[i], r.max_rss_kb);
        run_free(&r);
        const char *out = tmpfile_in("big-new.h5");
        r = run_fpv(NULL, "rebuild", model, vec, "-o", out, "--dtype", "f32", NULL);
        assert_ok(&r);
        ck_assert_msg(r.max_rss_kb < limit_kb, "rebuild %s: peak %ld KiB", formats[i], r.max_rss_kb);
        run_free(&r);
    }
}
END_TEST

/* rebuild writes a contiguous HDF5 dataset in pieces (row-major ranges of a
 * 2-D dataset): 64 MiB of float32 rebuilt with a peak under 48 MiB, the new
 * file flattening to the vector it was given. */
START_TEST(hdf5_rebuild_streams)
{
    enum { R = 4096, C = 4096 };
    const char *model = tmpfile_in("big2d.h5"), *vec = tmpfile_in("v2d.bin");
    const char *out = tmpfile_in("out2d.h5"), *again = tmpfile_in("again.bin");
    float *row = malloc(C * sizeof *row);
    hid_t f = H5Fcreate(model, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = { R, C }, one[2] = { 1, C };
    hid_t space = H5Screate_simple(2, dims, NULL), mem = H5Screate_simple(2, one, NULL);
    hid_t d = H5Dcreate2(f, "w", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int fd = open(vec, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (hsize_t r = 0; r < R; r++) {
        hsize_t start[2] = { r, 0 };
        for (int c = 0; c < C; c++)
            row[c] = (float)(r * C + (hsize_t)c);
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, one, NULL);
        H5Dwrite(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, row);
        for (int c = 0; c < C; c++)   /* the new values: another pattern */
            row[c] = -0.5f * (float)(r * C + (hsize_t)c) + 3.0f;
        ck_assert_int_eq(write(fd, row, C * sizeof *row), (ssize_t)(C * sizeof *row));
    }
    close(fd);
    H5Dclose(d);
    H5Sclose(mem);
    H5Sclose(space);
    H5Fclose(f);
    free(row);
#if defined(__SANITIZE_ADDRESS__)
    const long limit_kb = 1L << 30;
#else
    const long limit_kb = 48 * 1024;
#endif
    run_result r = run_fpv(NULL, "rebuild", model, vec, "--dtype", "f32", "-o", out, NULL);
    assert_ok(&r);
    ck_assert_msg(r.max_rss_kb < limit_kb, "rebuild: peak %ld KiB", r.max_rss_kb);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, "-o", again, "--dtype", "f32", NULL);
    assert_ok(&r);
    run_free(&r);
    assert_same_bytes(vec, again);
}
END_TEST

/* A raw array of another type than the vector's (bfloat16, float16 into a
 * float32 vector) streams too, converted a piece at a time: 64 MiB of bfloat16
 * took 144 MiB read whole and converted. rebuild writes it back in pieces. */
START_TEST(bfloat16_streams_both_ways)
{
    enum { N = 32 << 20 };
    static const char header[] =
        "{\"big\":{\"dtype\":\"BF16\",\"shape\":[33554432],\"data_offsets\":[0,67108864]},"
        "\"half\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[67108864,67108870]}} ";
    size_t hlen = sizeof header - 1, total = 8 + hlen + (size_t)N * 2 + 6;
    unsigned char *file = malloc(total);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, header, hlen);
    uint16_t *bits = (uint16_t *)(file + 8 + hlen);   /* little-endian host */
    for (size_t i = 0; i < N; i++) {
        float v = (float)(i % 4099) - 2049.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        bits[i] = (uint16_t)(u >> 16);   /* bfloat16: float32's top half (the value read back) */
    }
    bits[N] = 0x3c00, bits[N + 1] = 0xc000, bits[N + 2] = 0x7c00;   /* 1, -2, +Inf */
    const char *model = tmpfile_in("bf16.safetensors"), *vec = tmpfile_in("bf16.npy");
    ck_assert_int_eq(write_file(model, file, total), 0);
    free(file);   /* (a child's peak counts the memory it was forked with) */
#if defined(__SANITIZE_ADDRESS__)
    const long limit_kb = 1L << 30;
#else
    const long limit_kb = 48 * 1024;
#endif
    run_result r = run_fpv(NULL, "flatten", model, "-o", vec, NULL);
    assert_ok(&r);
    ck_assert_msg(r.max_rss_kb < limit_kb, "peak %ld KiB", r.max_rss_kb);
    run_free(&r);
    fp_vec_reader *rd;
    fp_error err;
    ck_assert_msg(fp_vec_reader_open(&rd, vec, NULL, FP_DT_NONE, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(fp_vec_reader_dtype(rd), FP_F32);
    enum { PIECE = 1 << 16 };
    float *got = malloc(PIECE * sizeof *got);
    uint64_t at = 0, n;
    do {
        ck_assert_int_eq(fp_vec_reader_read(rd, got, FP_F32, PIECE, &n, &err), 0);
        for (uint64_t i = 0; i < n; i++) {
            float want = (float)((at + i) % 4099) - 2049.0f;
            uint32_t u;
            memcpy(&u, &want, 4);
            u &= 0xffff0000u;
            memcpy(&want, &u, 4);
            if (at + i >= N)
                want = at + i == N ? 1.0f : at + i == N + 1 ? -2.0f : INFINITY;
            if (got[i] != want)   /* (not ck_assert: each passing one writes to a pipe) */
                ck_abort_msg("element %llu: %g, not %g", (unsigned long long)(at + i), got[i],
                             want);
        }
        at += n;
    } while (n == PIECE);
    ck_assert_uint_eq(at, (uint64_t)N + 3);
    fp_vec_reader_close(rd);
    free(got);
    /* and back: rebuild writes safetensors a piece at a time too; the values
     * are the file's own, so the new file is the old one, byte for byte */
    const char *back = tmpfile_in("back.safetensors");
    r = run_fpv(NULL, "rebuild", model, vec, "-o", back, NULL);
    assert_ok(&r);
    ck_assert_msg(r.max_rss_kb < limit_kb, "rebuild: peak %ld KiB", r.max_rss_kb);
    run_free(&r);
    assert_same_bytes(model, back);
}
END_TEST

/* Keras models compute like Flux ones: predictions equal an independent NumPy
 * forward pass (testdata/make_keras_compute_fixtures.py). */
START_TEST(keras_predict_matches_numpy)
{
    const char *cases[][3] = {
        { "keras/keras_3layer_batch_norm.h5", NULL, "keras/predict/keras_3layer_batch_norm.y.npy" },
        { "keras/KERAS_3layer_weights.h5", "keras/KERAS_3layer.json", "keras/predict/KERAS_3layer.y.npy" },
    };
    for (size_t i = 0; i < 2; i++) {
        const char *y = tmpfile_in("y.npy");
        char model[4096], arch[4096];
        snprintf(model, sizeof model, "%s", corpus(cases[i][0]));
        const char *argv[12] = { "predict", model, "-x", testdata("keras/predict/x.npy"), "-o", y,
                                 "--precision", "f64", NULL };
        if (cases[i][1]) {
            snprintf(arch, sizeof arch, "%s", corpus(cases[i][1]));
            argv[8] = "--arch";
            argv[9] = arch;
        }
        run_result r = run_fp(NULL, 0, argv);
        assert_ok(&r);
        run_free(&r);
        double *got, *want;
        size_t n = read_npy_f64(y, &got, NULL, NULL);
        ck_assert_uint_eq(n, 30);
        ck_assert_uint_eq(read_npy_f64(testdata(cases[i][2]), &want, NULL, NULL), 30);
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(fabs(got[k] - want[k]) <= 1e-12 + 1e-9 * fabs(want[k]), "%s[%zu]: %.17g vs %.17g",
                          cases[i][0], k, got[k], want[k]);
        free(got);
        free(want);
    }
}
END_TEST

/* SIGKILL during a large rebuild leaves the old target intact (never a torn
 * file); the temporary it leaves is removed by the next run that succeeds. */
/* `flatparams rebuild MODEL VEC -o TARGET` in a child, not waited for. */
static pid_t start_rebuild(const char *model, const char *vec, const char *target)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(getenv("FP_BIN"), "flatparams", "rebuild", model, vec, "-o", target, (char *)NULL);
        _exit(127);
    }
    return pid;
}

START_TEST(killed_rebuild_leaves_old_target)
{
    const char *dir = tmpdir();
    char model[4096], vec[4096], target[4096];
    snprintf(model, sizeof model, "%s/big.h5", dir);
    snprintf(vec, sizeof vec, "%s/v.npy", dir);
    snprintf(target, sizeof target, "%s/out.h5", dir);
    hid_t f = H5Fcreate(model, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    enum { N = 8 << 20 };   /* 8 arrays of 32 MiB */
    float *data = calloc(N, sizeof *data);
    hsize_t dims[1] = { N };
    for (int k = 0; k < 8; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        hid_t space = H5Screate_simple(1, dims, NULL);
        hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
        H5Dclose(d);
        H5Sclose(space);
    }
    H5Fclose(f);
    free(data);
    run_result r = run_fpv(NULL, "flatten", model, "-o", vec, NULL);
    assert_ok(&r);
    run_free(&r);
    const char old_content[] = "the old target";
    ck_assert_int_eq(write_file(target, old_content, sizeof old_content), 0);

    int killed_mid_run = 0;
    for (int attempt = 0; attempt < 12 && !killed_mid_run; attempt++) {
        pid_t pid = start_rebuild(model, vec, target);
        usleep(50000 + 50000 * attempt);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        /* it counts once the kill struck while the temporary was being written */
        killed_mid_run = WIFSIGNALED(status) && dir_count(dir) > 3;
        size_t len;
        char *now = read_file(target, &len);
        ck_assert_ptr_nonnull(now);
        int is_old = len == sizeof old_content && !memcmp(now, old_content, len);
        free(now);
        if (killed_mid_run && !is_old) {   /* killed after the rename: then it is whole */
            run_result check = run_fpv(NULL, "modules", target, NULL);
            assert_ok(&check);
            run_free(&check);
            killed_mid_run = 0;
        }
    }
    ck_assert_msg(killed_mid_run, "rebuild always finished before the kill");
    ck_assert_int_gt(dir_count(dir), 3);   /* big.h5, v.npy, out.h5 and a stale temporary */
    r = run_fpv(NULL, "rebuild", model, vec, "-o", target, NULL);
    assert_ok(&r);
    run_free(&r);
    ck_assert_int_eq(dir_count(dir), 3);
    r = run_fpv(NULL, "flatten", target, "-o", vec, NULL);   /* a whole, valid model */
    assert_ok(&r);
    run_free(&r);

    /* SIGTERM (or SIGINT) while the temporary is written: it is removed */
    int terminated_mid_run = 0;
    for (int attempt = 0; attempt < 12 && !terminated_mid_run; attempt++) {
        pid_t pid = start_rebuild(model, vec, target);
        for (int wait_ms = 0; wait_ms < 5000 && dir_count(dir) == 3; wait_ms++)
            usleep(1000);   /* until the temporary appears */
        usleep(20000 * attempt);
        kill(pid, SIGTERM);
        int status;
        waitpid(pid, &status, 0);
        terminated_mid_run = WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
        ck_assert_int_eq(dir_count(dir), 3);
    }
    ck_assert_msg(terminated_mid_run, "rebuild always finished before SIGTERM");
}
END_TEST

/* -o into what is already there: a FIFO (or a device) is written, not replaced;
 * a regular file keeps its mode; a symbolic link keeps pointing at the file,
 * which gets the new content; a directory is an error; a name near NAME_MAX
 * (too long for the usual temporary name) still works. */
START_TEST(outputs_into_what_exists)
{
    const char *dir = tmpdir();
    run_result expect = run_fpv(NULL, "flatten", testdata("seed.json"), NULL);
    assert_ok(&expect);
    struct stat st;
    run_result r;
    /* a FIFO with a reader: flatten writes into it, convert copies its temporary in
     * (HDF5 needs a seekable file); the same as /dev/null, without touching it */
    const char *fifo = tmpfile_in("fifo"), *got = tmpfile_in("from_fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    for (int k = 0; k < 2; k++) {
        pid_t reader = fork();
        ck_assert_int_ge(reader, 0);
        if (reader == 0) {   /* cat fifo > got */
            size_t len;
            char *bytes = read_file(fifo, &len);
            _exit(bytes && write_file(got, bytes, len) == 0 ? 0 : 1);
        }
        if (k == 0)
            r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", fifo, NULL);
        else
            r = run_fpv(NULL, "convert", testdata("seed.json"), "-o", fifo, "--format", "h5", NULL);
        assert_ok(&r);
        run_free(&r);
        int status;
        ck_assert_int_eq(waitpid(reader, &status, 0), reader);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
        if (k == 0) {
            size_t len;
            char *bytes = read_file(got, &len);
            ck_assert_ptr_nonnull(bytes);
            ck_assert_uint_eq(len, expect.out_len);
            ck_assert(!memcmp(bytes, expect.out, len));
            free(bytes);
        } else {   /* what came through the FIFO is the model */
            char h5[4096];
            snprintf(h5, sizeof h5, "%s.h5", got);
            ck_assert_int_eq(rename(got, h5), 0);
            r = run_fpv(NULL, "flatten", h5, NULL);
            assert_ok(&r);
            ck_assert_str_eq(r.out, expect.out);
            run_free(&r);
        }
    }
    size_t len;
    char *bytes;

    const char *private = tmpfile_in("private.txt"), *link = tmpfile_in("link.txt");
    ck_assert_int_eq(write_file(private, "old\n", 4), 0);
    ck_assert_int_eq(chmod(private, 0600), 0);
    ck_assert_int_eq(symlink("private.txt", link), 0);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", link, NULL);
    assert_ok(&r);
    run_free(&r);
    ck_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    ck_assert(stat(private, &st) == 0 && (st.st_mode & 07777) == 0600);
    bytes = read_file(private, &len);
    ck_assert(len == expect.out_len && !memcmp(bytes, expect.out, len));
    free(bytes);

    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", dir, NULL);
    assert_error_line(&r, "is a directory");
    run_free(&r);

    /* a dangling link: its destination is made, the link kept */
    const char *dangling = tmpfile_in("dangling.txt");
    ck_assert_int_eq(symlink("made.txt", dangling), 0);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", dangling, NULL);
    assert_ok(&r);
    run_free(&r);
    ck_assert(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode));
    bytes = read_file(tmpfile_in("made.txt"), &len);
    ck_assert(bytes && len == expect.out_len && !memcmp(bytes, expect.out, len));
    free(bytes);

    /* -o /dev/stdout into `>> file`: appended through the descriptor, the file
     * neither replaced nor rewritten from its start */
    const char *appended = tmpfile_in("appended.txt");
    ck_assert_int_eq(write_file(appended, "hello\n", 6), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(appended, O_WRONLY | O_APPEND);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(99);
        execl(getenv("FP_BIN"), "flatparams", "flatten", testdata("seed.json"), "-o", "/dev/stdout",
              (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    bytes = read_file(appended, &len);
    ck_assert(bytes && len == 6 + expect.out_len && !memcmp(bytes, "hello\n", 6)
              && !memcmp(bytes + 6, expect.out, expect.out_len));
    free(bytes);

    char longname[256];
    memset(longname, 'a', 240);
    memcpy(longname + 240, ".txt", 5);
    const char *longpath = tmpfile_in(longname);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", longpath, NULL);
    assert_ok(&r);
    run_free(&r);
    bytes = read_file(longpath, &len);
    ck_assert(len == expect.out_len && !memcmp(bytes, expect.out, len));
    free(bytes);
    /* fifo, its copy (.h5), the private file, the link, the dangling link and
     * what it made, the appended file, the long name: no temporaries */
    char where[4096];
    snprintf(where, sizeof where, "%.*s", (int)(strrchr(fifo, '/') - fifo), fifo);
    ck_assert_int_eq(dir_count(where), 8);
    run_free(&expect);
}
END_TEST

void cli_add_message_tests(Suite *s);   /* test_cli_messages.c */

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, seed_flattens_exactly);
    tcase_add_test(tc, seed_rebuilds_from_zeros);
    tcase_add_test(tc, wrong_length_names_both);
    tcase_add_test(tc, mlp_bn_modules);
    tcase_add_test(tc, nested_summary_flags);
    tcase_add_test(tc, summary_flags_of_lazy_and_complex_arrays);
    tcase_add_test(tc, summary_names_a_shared_array_once);
    tcase_add_test(tc, raw_copy_matches_numpy);
    tcase_add_test(tc, hard_links_once_and_kept);
    tcase_add_test(tc, rebuild_keeps_everything_else);
    tcase_add_test(tc, text_round_trip_bit_exact);
    tcase_add_test(tc, promotion_f64_and_complex);
    tcase_add_test(tc, selection);
    tcase_add_test(tc, usage_and_help);
    tcase_add_test(tc, bad_inputs_one_line);
    tcase_add_test(tc, hdf5_corpus);
    tcase_add_test(tc, keras_corpus_generic);
    tcase_add_test(tc, flatten_streams);
    tcase_add_test(tc, bfloat16_streams_both_ways);
    tcase_add_test(tc, hdf5_rebuild_streams);
    tcase_add_test(tc, keras_predict_matches_numpy);
    tcase_add_test(tc, killed_rebuild_leaves_old_target);
    tcase_add_test(tc, outputs_into_what_exists);
    suite_add_tcase(s, tc);
    cli_add_message_tests(s);
    return run_suite(s);
}
