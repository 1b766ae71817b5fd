/* `params` and `flatten --index` (suite 'cli'): where each array lies in the
 * flat vector. Expected layouts come from the fixtures' own scripts
 * (testdata/make_hdf5_fixtures.py writes NAME.layout.txt from the arrays it
 * wrote; make_keras_fixtures.py and make_safetensors_fixtures.py the paths),
 * from mlp_bn.json's known shapes, and every listing is checked to tile the
 * vector flatten writes with the same options: offsets + lengths cover
 * exactly [0, n), in order. */
#include "harness.h"
#include "flatparams.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void assert_ok(const run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d, stderr: %s", r->status, r->err);
}

static double number(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(item), "no number '%s'", key);
    return item->valuedouble;
}

static const char *string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsString(item), "no string '%s'", key);
    return item->valuestring;
}

/* The length of the vector flatten writes for model and the extra options (as
 * text to standard output: one line per element). */
static double flatten_length(const char *model, const char *opt1, const char *opt2)
{
    run_result r = run_fpv(NULL, "flatten", model, opt1, opt2, NULL);
    assert_ok(&r);
    double n = 0;
    for (const char *p = r.out; *p; p++)
        n += *p == '\n';
    run_free(&r);
    return n;
}

/* `params MODEL --json [opt1 [opt2]]`, checked: the params tile [0, length) in
 * order, the length is flatten's, and each length is its shape's product. */
static cJSON *params_json(const char *model, const char *opt1, const char *opt2)
{
    run_result r = run_fpv(NULL, "params", model, "--json", opt1, opt2, NULL);
    assert_ok(&r);
    cJSON *doc = cJSON_Parse(r.out);
    ck_assert_msg(doc != NULL, "not JSON: %s", r.out);
    run_free(&r);
    double at = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "params")) {
        ck_assert_msg(number(p, "offset") == at, "%s starts at %.0f, not %.0f",
                      string(p, "path"), number(p, "offset"), at);
        double elements = 1;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "shape"))
            elements *= d->valuedouble;
        ck_assert_msg(number(p, "length") == elements, "%s: length %.0f, shape has %.0f",
                      string(p, "path"), number(p, "length"), elements);
        at += number(p, "length");
    }
    ck_assert_msg(number(doc, "length") == at, "length %.0f, the params end at %.0f",
                  number(doc, "length"), at);
    ck_assert_msg(flatten_length(model, opt1, opt2) == at, "flatten's vector is not %.0f long", at);
    return doc;
}

static const cJSON *param(const cJSON *doc, int i)
{
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "params"), i);
    ck_assert_msg(p != NULL, "no param %d", i);
    return p;
}

static int n_params(const cJSON *doc)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "params"));
}

static void assert_shape(const cJSON *p, const char *want)
{
    char text[128] = "";
    size_t len = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "shape"))
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%.0f", len ? "x" : "", d->valuedouble);
    ck_assert_msg(!strcmp(text, want), "%s: shape %s, want %s", string(p, "path"), text, want);
}

/* The seed as a table: exact bytes. */
START_TEST(seed_table)
{
    run_result r = run_fpv(NULL, "params", testdata("seed.json"), NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out,
        "path              offset  length  shape  dtype\n"
        "/layers/0/weight       0       2  1x2    float32\n"
        "/layers/0/bias         2       1  1      float32\n"
        "/layers/1/weight       3       1  1x1    float32\n"
        "/layers/1/bias         4       1  1      float32\n"
        "# vector: 5 elements of float32 in 4 arrays\n");
    ck_assert_uint_eq(r.err_len, 0);
    run_free(&r);
    r = run_fpv(NULL, "params", testdata("seed.json"), "--format", "json", NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out,
        "{\n"
        "  \"dtype\": \"float32\",\n"
        "  \"length\": 5,\n"
        "  \"params\": [\n"
        "    {\"path\": \"/layers/0/weight\", \"offset\": 0, \"length\": 2, \"shape\": [1, 2], \"dtype\": \"float32\"},\n"
        "    {\"path\": \"/layers/0/bias\", \"offset\": 2, \"length\": 1, \"shape\": [1], \"dtype\": \"float32\"},\n"
        "    {\"path\": \"/layers/1/weight\", \"offset\": 3, \"length\": 1, \"shape\": [1, 1], \"dtype\": \"float32\"},\n"
        "    {\"path\": \"/layers/1/bias\", \"offset\": 4, \"length\": 1, \"shape\": [1], \"dtype\": \"float32\"}\n"
        "  ]\n"
        "}\n");
    run_free(&r);
    /* nothing selected: an empty list, not an error */
    r = run_fpv(NULL, "params", testdata("seed.json"), "--json", "--exclude", "*", NULL);
    assert_ok(&r);
    ck_assert_str_eq(r.out, "{\n  \"dtype\": \"float32\",\n  \"length\": 0,\n  \"params\": []\n}\n");
    run_free(&r);
}
END_TEST

/* mlp_bn.json: Chain(Chain(Dense(784 => 64), BatchNorm(64, relu)), Dense(64 => 10)). */
START_TEST(mlp_bn_layout)
{
    const char *model = testdata("mlp_bn.json");
    cJSON *doc = params_json(model, NULL, NULL);
    static const char *const paths[] = {
        "/layers/0/layers/0/weight", "/layers/0/layers/0/bias", "/layers/0/layers/1/gamma",
        "/layers/0/layers/1/beta", "/layers/1/weight", "/layers/1/bias",
    };
    static const char *const shapes[] = { "64x784", "64", "64", "64", "10x64", "10" };
    static const double offsets[] = { 0, 50176, 50240, 50304, 50368, 51008 };
    ck_assert_int_eq(n_params(doc), 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(string(param(doc, i), "path"), paths[i]);
        ck_assert_str_eq(string(param(doc, i), "dtype"), "float32");
        ck_assert_double_eq(number(param(doc, i), "offset"), offsets[i]);
        assert_shape(param(doc, i), shapes[i]);
    }
    ck_assert_double_eq(number(doc, "length"), 51018);
    ck_assert_str_eq(string(doc, "dtype"), "float32");
    cJSON_Delete(doc);

    /* --all: the BatchNorm statistics enter after gamma and beta; --dtype is the
     * vector's, each array keeps its own */
    doc = params_json(model, "--all", "--dtype=float64");
    ck_assert_int_eq(n_params(doc), 8);
    ck_assert_str_eq(string(param(doc, 4), "path"), "/layers/0/layers/1/mean");
    ck_assert_double_eq(number(param(doc, 4), "offset"), 50368);
    ck_assert_str_eq(string(param(doc, 5), "path"), "/layers/0/layers/1/var");
    ck_assert_str_eq(string(param(doc, 6), "path"), "/layers/1/weight");
    ck_assert_double_eq(number(param(doc, 6), "offset"), 50496);
    ck_assert_double_eq(number(doc, "length"), 51146);
    ck_assert_str_eq(string(doc, "dtype"), "float64");
    ck_assert_str_eq(string(param(doc, 6), "dtype"), "float32");
    cJSON_Delete(doc);

    /* a selection lists what it selects, at the offsets flatten gives them */
    doc = params_json(model, "--include", "*/bias");
    ck_assert_int_eq(n_params(doc), 2);
    ck_assert_str_eq(string(param(doc, 1), "path"), "/layers/1/bias");
    ck_assert_double_eq(number(param(doc, 1), "offset"), 64);
    cJSON_Delete(doc);
}
END_TEST

/* Each HDF5 fixture against the layout its script wrote ("dtype D", then "PATH
 * OFFSET N_ELEMS TRAINABLE" per parameter with --all): shared.h5's hard-linked
 * weight and group and links.h5's soft link enter once, where they first occur. */
START_TEST(hdf5_layouts)
{
    static const char *const names[] = {
        "nested", "order", "types", "complex", "shared", "batchnorm", "links",
    };
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char h5[64], txt[64];
        snprintf(h5, sizeof h5, "hdf5/%s.h5", names[k]);
        snprintf(txt, sizeof txt, "hdf5/%s.layout.txt", names[k]);
        char *expect = read_file(testdata(txt), NULL);
        ck_assert_ptr_nonnull(expect);
        cJSON *doc = params_json(testdata(h5), "--all", NULL);
        char *line = strtok(expect, "\n");
        char dtype[32];
        ck_assert_int_eq(sscanf(line, "dtype %31s", dtype), 1);
        ck_assert_str_eq(string(doc, "dtype"), dtype);
        int i = 0;
        for (line = strtok(NULL, "\n"); line; line = strtok(NULL, "\n"), i++) {
            char path[256];
            double offset, length;
            int trainable;
            ck_assert_int_eq(sscanf(line, "%255s %lf %lf %d", path, &offset, &length, &trainable), 4);
            ck_assert_msg(i < n_params(doc), "%s: %s is not listed", h5, path);
            ck_assert_str_eq(string(param(doc, i), "path"), path);
            ck_assert_double_eq(number(param(doc, i), "offset"), offset);
            ck_assert_double_eq(number(param(doc, i), "length"), length);
        }
        ck_assert_msg(i == n_params(doc), "%s: %d params listed, %d expected", h5, n_params(doc), i);
        cJSON_Delete(doc);
        free(expect);
    }
    /* shared.h5: /enc/weight is hard-linked as /dec/weight and /dec/block as
     * /enc/block: each is listed once, under the path where it enters */
    cJSON *doc = params_json(testdata("hdf5/shared.h5"), NULL, NULL);
    ck_assert_int_eq(n_params(doc), 3);
    ck_assert_str_eq(string(param(doc, 2), "path"), "/dec/weight");
    assert_shape(param(doc, 2), "2x2");
    cJSON_Delete(doc);
}
END_TEST

/* A Keras model and a safetensors file, against their fixtures' path lists;
 * shapes and dtypes as their scripts wrote them. */
START_TEST(keras_and_safetensors_layouts)
{
    static const struct { const char *model, *paths; } files[] = {
        { "corpus/keras/keras_3layer_batch_norm.h5", "keras/keras_3layer_batch_norm.h5.paths.txt" },
        { "corpus/keras/qkeras-v3_3layer.keras", "keras/qkeras-v3_3layer.keras.paths.txt" },
        { "safetensors/mixed.safetensors", "safetensors/mixed.expect_paths.txt" },
    };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char *expect = read_file(testdata(files[k].paths), NULL);
        ck_assert_ptr_nonnull(expect);
        cJSON *doc = params_json(testdata(files[k].model), NULL, NULL);
        int i = 0;
        for (char *line = strtok(expect, "\n"); line; line = strtok(NULL, "\n"), i++)
            ck_assert_str_eq(string(param(doc, i), "path"), line);
        ck_assert_int_eq(n_params(doc), i);
        cJSON_Delete(doc);
        free(expect);
    }
    cJSON *doc = params_json(testdata("corpus/keras/keras_3layer_batch_norm.h5"), NULL, NULL);
    assert_shape(param(doc, 0), "16x64");   /* fc1_relu/kernel: Keras' in x out */
    ck_assert_double_eq(number(doc, "length"), 4655);
    cJSON_Delete(doc);
    doc = params_json(testdata("safetensors/mixed.safetensors"), NULL, NULL);
    for (int i = 0; i < n_params(doc); i++) {
        const cJSON *p = param(doc, i);
        const char *path = string(p, "path"), *dtype = string(p, "dtype");
        if (!strcmp(path, "/layers/3/weight"))
            ck_assert_str_eq(dtype, "float16");
        else if (!strcmp(path, "/layers/7/bias") || !strcmp(path, "/embed/weight"))
            ck_assert_str_eq(dtype, "float64");
        else
            ck_assert_str_eq(dtype, "float32");
        if (!strcmp(path, "/embed/weight"))
            assert_shape(p, "3x2");
        if (!strcmp(path, "/scale"))
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "shape")), 0);
    }
    ck_assert_str_eq(string(doc, "dtype"), "float64");
    cJSON_Delete(doc);
    run_result r = run_fpv(NULL, "params", testdata("safetensors/mixed.safetensors"), "--include",
                           "/scale", NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "\n/scale       0       1  scalar  float32\n"), "%s", r.out);
    run_free(&r);
}
END_TEST

/* flatten --index: the vector as without it, and beside it exactly what params
 * prints (JSON for .json, else the table). */
START_TEST(flatten_index)
{
    const char *model = testdata("mlp_bn.json");
    const char *plain = tmpfile_in("plain.npy"), *vec = tmpfile_in("v.npy");
    const char *json = tmpfile_in("index.json"), *text = tmpfile_in("index.txt");
    run_result r = run_fpv(NULL, "flatten", model, "--all", "-o", plain, NULL);
    assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "flatten", model, "--all", "-o", vec, "--index", json, NULL);
    assert_ok(&r);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    run_free(&r);
    assert_same_bytes(plain, vec);
    r = run_fpv(NULL, "params", model, "--all", "--json", NULL);
    char *written = read_file(json, NULL);
    ck_assert_str_eq(written, r.out);
    free(written);
    run_free(&r);

    r = run_fpv(NULL, "flatten", model, "--index", text, NULL);   /* the vector to stdout */
    assert_ok(&r);
    run_result p = run_fpv(NULL, "params", model, NULL);
    written = read_file(text, NULL);
    ck_assert_str_eq(written, p.out);
    free(written);
    run_result f = run_fpv(NULL, "flatten", model, NULL);
    ck_assert_str_eq(r.out, f.out);
    run_free(&f);
    run_free(&p);
    run_free(&r);

    /* the index to standard output, the vector to a file */
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", vec, "--index", "-", NULL);
    assert_ok(&r);
    ck_assert_msg(!strncmp(r.out, "path              offset", 24), "%s", r.out);
    run_free(&r);
}
END_TEST

/* Both files or neither: a failure on either side leaves the old targets. */
START_TEST(flatten_index_all_or_nothing)
{
    const char *vec = tmpfile_in("keep.npy"), *index = tmpfile_in("keep.json");
    write_tmp("keep.npy", "old vector\n");
    write_tmp("keep.json", "old index\n");
    /* the vector cannot be written: the index stays as it was */
    run_result r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", tmpfile_in("no/such/dir.npy"),
                           "--index", index, NULL);
    assert_error_line(&r, "no/such/dir.npy");
    run_free(&r);
    char *text = read_file(index, NULL);
    ck_assert_str_eq(text, "old index\n");
    free(text);
    /* the index cannot be written: no vector */
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", vec, "--index",
                tmpfile_in("no/such/dir.json"), NULL);
    assert_error_line(&r, "no/such/dir.json");
    run_free(&r);
    text = read_file(vec, NULL);
    ck_assert_str_eq(text, "old vector\n");
    free(text);
    /* the model is bad: neither */
    const char *bad = write_tmp("bad.json", "{\"w\": [1, 2,");
    r = run_fpv(NULL, "flatten", bad, "-o", vec, "--index", index, NULL);
    assert_error_line(&r, "bad.json");
    run_free(&r);
    text = read_file(vec, NULL);
    ck_assert_str_eq(text, "old vector\n");
    free(text);
    text = read_file(index, NULL);
    ck_assert_str_eq(text, "old index\n");
    free(text);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", vec);
    *strrchr(dir, '/') = 0;
    ck_assert_int_eq(dir_count(dir), 3);   /* no temporary left: keep.npy, keep.json, bad.json */
}
END_TEST

/* Wrong usage, bad input and hostile names: one line, or one row per array. */
START_TEST(usage_and_errors)
{
    run_result r = run_fpv(NULL, "params", NULL);
    assert_usage_line(&r, "params: missing MODEL");
    run_free(&r);
    r = run_fpv(NULL, "params", testdata("seed.json"), "--format", "npy", NULL);
    assert_usage_line(&r, "--format takes json or text, got 'npy'");
    run_free(&r);
    r = run_fpv(NULL, "params", testdata("seed.json"), "-o", "x", NULL);
    assert_usage_line(&r, "params: no option '-o' (see 'flatparams params -h')");
    run_free(&r);
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "--index", "-", NULL);
    assert_usage_line(&r, "flatten: --index -: the vector is written there");
    run_free(&r);
    const char *same = tmpfile_in("same.txt");
    r = run_fpv(NULL, "flatten", testdata("seed.json"), "-o", same, "--index", same, NULL);
    assert_usage_line(&r, "the vector is written there");
    run_free(&r);
    ck_assert(!file_exists(same));
    r = run_fpv(NULL, "params", testdata("no-such-model.json"), NULL);
    assert_error_line(&r, "no-such-model.json: ");
    run_free(&r);
    r = run_fpv(NULL, "params", testdata("seed.json"), "--include", "0.weight", NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.err, "flatparams: warning: --include 0.weight: matches no parameter"),
                  "%s", r.err);
    run_free(&r);
    r = run_fpv(NULL, "params", "-h", NULL);
    assert_ok(&r);
    ck_assert_msg(!strncmp(r.out, "params MODEL [--json]", 21), "%s", r.out);
    run_free(&r);
    r = run_fpv(NULL, "-h", NULL);
    ck_assert_msg(strstr(r.out, "\n  params MODEL [--json]"), "%s", r.out);
    run_free(&r);

    /* control bytes in a name: escaped, so each array stays one row (text) and
     * the document stays JSON */
    const char *odd = write_tmp("odd.json", "{\"a\\nb\\u001b[2J\": [1.0, 2.0], \"\\\"q\\\\\": [3.0]}");
    r = run_fpv(NULL, "params", odd, NULL);
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "\n/a\\x0ab\\x1b[2J       0       2  2      float64\n"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "\n/\"q\\                 2       1  1      float64\n"), "%s", r.out);
    run_free(&r);
    r = run_fpv(NULL, "params", odd, "--json", NULL);
    cJSON *doc = cJSON_Parse(r.out);
    ck_assert_msg(doc != NULL, "%s", r.out);
    ck_assert_str_eq(string(param(doc, 0), "path"), "/a\nb\x1b[2J");
    ck_assert_str_eq(string(param(doc, 1), "path"), "/\"q\\");
    cJSON_Delete(doc);
    run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, seed_table);
    tcase_add_test(tc, mlp_bn_layout);
    tcase_add_test(tc, hdf5_layouts);
    tcase_add_test(tc, keras_and_safetensors_layouts);
    tcase_add_test(tc, flatten_index);
    tcase_add_test(tc, flatten_index_all_or_nothing);
    tcase_add_test(tc, usage_and_errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
