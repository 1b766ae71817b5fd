/* Keras files (formats/keras_*.c, keras3_tree.c): every Keras file of the
 * corpus and the synthetic fixtures flatten to the vector and paths that
 * testdata/make_keras_fixtures.py computed with h5py the way Keras loads them;
 * the tree's types, settings and trainable marks; --arch; and the failure
 * paths. Rebuild is in test_keras_rebuild.c, gradients and Hessians against
 * PyTorch in test_keras_compute.c. */
#define H5_USE_110_API
#include <hdf5.h>
#include <zip.h>

#include "test_keras.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const keras_file keras_files[] = {
    { "KERAS_3layer_weights.h5", 1 },
    { "KERAS_3layer_batch_norm_weights.h5", 1 },
    { "KERAS_conv2d_model_weights.h5", 1 },
    { "keras_3layer_batch_norm.h5", 1 },
    { "keras_conv2d_model.h5", 1 },
    { "keras1_my_nn_weights.h5", 1 },
    { "lstm_bidirectional.h5", 1 },
    { "qkeras-v3_3layer.keras", 1 },
    { "synthetic.h5", 0 },
    { "synthetic_k3.h5", 0 },
    { "synthetic3.keras", 0 },
};
const int n_keras_files = sizeof keras_files / sizeof keras_files[0];

char *keras_path(const keras_file *f)
{
    char name[512];
    snprintf(name, sizeof name, "keras/%s", f->name);
    return strdup(f->in_corpus ? corpus(name) : testdata(name));
}

char *keras_fixture(const keras_file *f, const char *suffix)
{
    char name[512];
    snprintf(name, sizeof name, "keras/%s.%s", f->name, suffix);
    return strdup(testdata(name));
}

void kt_assert_ok(const run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d, stderr: %s", r->status, r->err);
}

char *kt_flatten_text(const char *model, const char *extra)
{
    run_result r = extra ? run_fpv(NULL, "flatten", model, extra, NULL)
                         : run_fpv(NULL, "flatten", model, NULL);
    kt_assert_ok(&r);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}

static void open_tree(const char *path, fp_tree *tree)
{
    fp_error err = { "" };
    if (fp_tree_open(path, tree, &err) < 0)
        ck_abort_msg("opening %s: %s", path, err.msg);
}

static fp_node *at(fp_node *node, const char *key)
{
    fp_node *child = node ? fp_map_get(node, key) : NULL;
    ck_assert_msg(child, "no child %s", key);
    return child;
}

/* ---- flatten and paths against the fixtures */

START_TEST(flattens_like_keras)
{
    const keras_file *f = &keras_files[_i];
    char *model = keras_path(f), *flat = keras_fixture(f, "flat.npy"), *paths = keras_fixture(f, "paths.txt");
    char out[4096];
    snprintf(out, sizeof out, "%s", tmpfile_in("v.npy"));
    run_result r = run_fpv(NULL, "flatten", model, "-o", out, NULL);
    kt_assert_ok(&r);
    run_free(&r);

    double *got, *want;
    size_t n_got = read_npy_f64(out, &got, NULL, NULL), n_want = read_npy_f64(flat, &want, NULL, NULL);
    ck_assert_msg(n_want != (size_t)-1 && n_got == n_want, "%s: %zu elements, expected %zu", f->name, n_got, n_want);
    for (size_t i = 0; i < n_want; i++)
        ck_assert_msg(got[i] == want[i], "%s: element %zu is %.9g, expected %.9g", f->name, i, got[i], want[i]);
    size_t len;
    char *npy = read_file(out, &len);
    ck_assert_msg(npy && memmem(npy, len < 128 ? len : 128, "'<f4'", 5),
                  "%s: the vector is not float32 like the weights", f->name);
    free(npy);
    free(got);
    free(want);

    /* Paths: the layout's, in flat order. */
    fp_tree tree;
    fp_layout layout;
    fp_error err = { "" };
    open_tree(model, &tree);
    ck_assert_int_eq(fp_layout_build(tree.root, NULL, &layout, &err), 0);
    char *text = read_file(paths, &len), *save = NULL;
    ck_assert_ptr_nonnull(text);
    size_t i = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        ck_assert_msg(i < layout.n_params, "%s: only %zu parameters", f->name, layout.n_params);
        ck_assert_msg(!strcmp(layout.params[i].path, line), "%s: parameter %zu is %s, expected %s",
                      f->name, i, layout.params[i].path, line);
    }
    ck_assert_msg(i == layout.n_params, "%s: %zu parameters, expected %zu", f->name, layout.n_params, i);
    free(text);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    free(model);
    free(flat);
    free(paths);
}
END_TEST

/* ---- modules: types and trainable counts */

static cJSON *modules_json(const char *model, const char *arch)
{
    run_result r = arch ? run_fpv(NULL, "modules", model, "--json", "--arch", arch, NULL)
                        : run_fpv(NULL, "modules", model, "--json", NULL);
    kt_assert_ok(&r);
    cJSON *doc = cJSON_Parse(r.out);
    ck_assert_msg(cJSON_IsArray(doc), "modules --json is not a JSON array: %s", r.out);
    run_free(&r);
    return doc;
}

static const cJSON *module(const cJSON *doc, const char *path)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, doc) {
        const cJSON *p = cJSON_GetObjectItem(m, "path");
        if (cJSON_IsString(p) && !strcmp(p->valuestring, path))
            return m;
    }
    ck_abort_msg("no module %s", path);
    return NULL;
}

static void assert_module(const cJSON *doc, const char *path, const char *type, double trainable,
                          double non_trainable)
{
    const cJSON *m = module(doc, path);
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(m, "type"));
    if (type)
        ck_assert_msg(got && !strcmp(got, type), "%s: type %s, expected %s", path, got ? got : "null", type);
    ck_assert_msg(cJSON_GetNumberValue(cJSON_GetObjectItem(m, "trainable")) == trainable
                  && cJSON_GetNumberValue(cJSON_GetObjectItem(m, "non_trainable")) == non_trainable,
                  "%s: counts differ from %g/%g", path, trainable, non_trainable);
}

START_TEST(arch_gives_weights_file_its_layer_types)
{
    cJSON *plain = modules_json(corpus("keras/KERAS_3layer_weights.h5"), NULL);
    assert_module(plain, "/", "Keras", 4389, 0);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(module(plain, "/fc1_relu"), "type"));
    ck_assert_msg(!type || strcmp(type, "Dense"), "without --arch nothing is inferred");
    cJSON_Delete(plain);

    cJSON *doc = modules_json(corpus("keras/KERAS_3layer_weights.h5"), corpus("keras/KERAS_3layer.json"));
    assert_module(doc, "/", "Model", 4389, 0);
    assert_module(doc, "/input_1", "InputLayer", 0, 0);
    assert_module(doc, "/fc1_relu", "Dense", 1088, 0);
    assert_module(doc, "/fc2_relu", "Dense", 2080, 0);
    assert_module(doc, "/fc3_relu", "Dense", 1056, 0);
    assert_module(doc, "/output_softmax", "Dense", 165, 0);
    cJSON_Delete(doc);

    /* The settings come from the architecture too. */
    run_result r = run_fpv(NULL, "summary", corpus("keras/KERAS_3layer_weights.h5"), "--arch",
                           corpus("keras/KERAS_3layer.json"), NULL);
    kt_assert_ok(&r);
    ck_assert_msg(strstr(r.out, "output_softmax = Dense(32 => 5, softmax)"), "summary: %s", r.out);
    run_free(&r);
}
END_TEST

/* A Keras 3 save_weights file (layers/<class>/vars/N) with its architecture
 * (--arch, to_json()) reads as the .keras zip holding the same two files does:
 * the same vector, types and non-trainable statistics; rebuild writes only the
 * trainable values. Without --arch it is a plain HDF5 file. */
START_TEST(keras3_weights_file_with_arch)
{
    const char *weights = testdata("keras/synthetic3.weights.h5");
    const char *arch = testdata("keras/synthetic3.arch.json");
    char *want = kt_flatten_text(testdata("keras/synthetic3.keras"), NULL);
    run_result r = run_fpv(NULL, "flatten", weights, "--arch", arch, NULL);
    kt_assert_ok(&r);
    ck_assert_str_eq(r.out, want);
    run_free(&r);
    cJSON *doc = modules_json(weights, arch);
    assert_module(doc, "/", "Sequential", 33, 6);
    assert_module(doc, "/bn", "BatchNormalization", 6, 6);
    assert_module(doc, "/d1", "Dense", 15, 0);
    cJSON_Delete(doc);
    doc = modules_json(weights, NULL);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(module(doc, "/"), "type"));
    ck_assert_msg(!type || strcmp(type, "Sequential"), "without --arch it is plain HDF5");
    cJSON_Delete(doc);

    /* rebuild: 33 new values in, the same 33 out, the statistics untouched */
    const char *vec = tmpfile_in("twos.txt"), *out = tmpfile_in("new.weights.h5");
    char twos[33 * 2 + 1] = "";
    for (int i = 0; i < 33; i++)
        strcat(twos, "2\n");
    ck_assert_int_eq(write_file(vec, twos, strlen(twos)), 0);
    r = run_fpv(NULL, "rebuild", weights, vec, "--arch", arch, "-o", out, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, "--arch", arch, NULL);
    kt_assert_ok(&r);
    ck_assert_str_eq(r.out, twos);
    run_free(&r);
    run_result before = run_fpv(NULL, "flatten", weights, "--arch", arch, "--all", "--include",
                                "/bn/moving_*", NULL),
               after = run_fpv(NULL, "flatten", out, "--arch", arch, "--all", "--include",
                               "/bn/moving_*", NULL);
    kt_assert_ok(&after);
    ck_assert_uint_eq(after.out_len, before.out_len);
    ck_assert_str_eq(after.out, before.out);
    ck_assert_str_ne(after.out, "");
    run_free(&before);
    run_free(&after);
    free(want);
}
END_TEST

START_TEST(batch_norm_statistics_are_not_trainable)
{
    /* With the architecture (full save) and without (weights only): the same counts. */
    const char *files[2] = { "keras/keras_3layer_batch_norm.h5", "keras/KERAS_3layer_batch_norm_weights.h5" };
    for (int i = 0; i < 2; i++) {
        cJSON *doc = modules_json(corpus(files[i]), NULL);
        assert_module(doc, "/", i ? "Keras" : "Model", 4655, 266);
        assert_module(doc, "/bn1", i ? NULL : "BatchNormalization", 128, 128);
        assert_module(doc, "/bn4", i ? NULL : "BatchNormalization", 10, 10);
        assert_module(doc, "/fc1_relu", i ? NULL : "Dense", 1088, 0);
        cJSON_Delete(doc);
    }
    char *all = kt_flatten_text(corpus("keras/keras_3layer_batch_norm.h5"), "--all");
    double *v;
    ck_assert_uint_eq(parse_numbers(all, &v), 4655 + 266);
    free(v);
    free(all);
}
END_TEST

START_TEST(tree_has_types_settings_and_origins)
{
    fp_tree tree;
    open_tree(testdata("keras/synthetic.h5"), &tree);
    ck_assert_str_eq(tree.format->name, "hdf5");   /* rebuild patches it like any HDF5 file */
    ck_assert_str_eq(tree.root->type, "Functional");
    ck_assert_uint_eq(tree.root->n_children, 5);
    ck_assert_str_eq(tree.root->keys[0], "in");
    fp_node *input = at(tree.root, "in");   /* no weights: only its setting */
    ck_assert_uint_eq(input->n_children, 1);
    ck_assert_str_eq(at(input, "dtype")->str, "float32");
    fp_node *frozen = at(tree.root, "frozen");
    ck_assert_int_eq(frozen->trainable, 0);
    ck_assert_str_eq(at(frozen, "activation")->str, "relu");
    fp_node *bn = at(tree.root, "bn");
    ck_assert_str_eq(bn->type, "BatchNormalization");
    ck_assert_str_eq(bn->keys[0], "gamma");
    ck_assert_double_eq(at(bn, "epsilon")->number, 0.001);
    ck_assert_int_eq(at(bn, "center")->boolean, 1);
    ck_assert_int_eq(at(bn, "moving_mean")->trainable, 0);
    ck_assert_str_eq(at(bn, "beta")->origin, "/model_weights/bn/bn/beta:0");
    fp_node *inner = at(at(tree.root, "nest"), "inner/kernel");
    ck_assert_str_eq(inner->origin, "/model_weights/nest/nest/inner/kernel:0");
    ck_assert_int_eq(inner->rank, 2);
    ck_assert_str_eq(at(at(tree.root, "dënse"), "activation")->str, "softmax");
    fp_tree_free(&tree);

    open_tree(testdata("keras/synthetic3.keras"), &tree);
    ck_assert_str_eq(tree.format->name, "keras");
    ck_assert_str_eq(tree.root->type, "Sequential");
    ck_assert_str_eq(at(at(tree.root, "d1"), "kernel")->origin, "/layers/dense/vars/0");
    ck_assert_str_eq(at(at(tree.root, "d2"), "kernel")->origin, "/layers/dense_1/vars/0");
    ck_assert_ptr_null(fp_map_get(at(tree.root, "d2"), "bias"));
    ck_assert_str_eq(at(at(tree.root, "bn"), "moving_variance")->origin, "/layers/batch_normalization/vars/3");
    ck_assert_str_eq(at(at(tree.root, "c"), "1")->origin, "/layers/custom/vars/1");
    ck_assert_ptr_null(fp_map_get(tree.root, "optimizer"));
    fp_tree_free(&tree);

    /* Keras 3 with the layer name on vars: QKeras layers keep index keys. */
    open_tree(corpus("keras/qkeras-v3_3layer.keras"), &tree);
    ck_assert_str_eq(at(at(tree.root, "fc2"), "0")->origin, "/layers/q_dense_1/vars/0");
    ck_assert_str_eq(at(tree.root, "fc2")->type, "QDense");
    fp_tree_free(&tree);
}
END_TEST

/* ---- failures */

/* A copy of synthetic.h5 under tmpdir(), changed by edit through the HDF5 API. */
static const char *edited_copy(const char *name, void (*edit)(hid_t file))
{
    size_t len;
    char *bytes = read_file(testdata("keras/synthetic.h5"), &len);
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, bytes, len), 0);
    free(bytes);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(file, 0);
    edit(file);
    H5Fclose(file);
    return path;
}

static void drop_beta(hid_t file)
{
    ck_assert_int_ge(H5Ldelete(file, "model_weights/bn/bn/beta:0", H5P_DEFAULT), 0);
}

static void beta_external(hid_t file)
{
    drop_beta(file);
    ck_assert_int_ge(H5Lcreate_external("other.h5", "/beta", file, "model_weights/bn/bn/beta:0",
                                        H5P_DEFAULT, H5P_DEFAULT), 0);
}

static void drop_weight_names(hid_t file)
{
    ck_assert_int_ge(H5Adelete_by_name(file, "model_weights/dënse", "weight_names", H5P_DEFAULT), 0);
}

static void numbers_as_layer_names(hid_t file)
{
    hid_t group = H5Gopen2(file, "model_weights", H5P_DEFAULT);
    ck_assert_int_ge(H5Adelete(group, "layer_names1"), 0);
    hsize_t dims[1] = { 2 };
    int values[2] = { 1, 2 };
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t attr = H5Acreate2(group, "layer_names1", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_INT, values);
    H5Aclose(attr);
    H5Sclose(space);
    H5Gclose(group);
}

static void bad_model_config(hid_t file)
{
    ck_assert_int_ge(H5Adelete(file, "model_config"), 0);
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
    H5Tset_size(type, 9);
    hid_t attr = H5Acreate2(file, "model_config", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, "{\"class\":");
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
}

START_TEST(broken_keras_files_fail_with_one_line)
{
    struct { const char *name; void (*edit)(hid_t); const char *needle; } cases[] = {
        { "missing.h5", drop_beta, "/bn/beta: no dataset /model_weights/bn/bn/beta:0 in the file" },
        { "external.h5", beta_external, "external link to other.h5:/beta refused" },
        { "no_names.h5", drop_weight_names, "/model_weights/dënse: no attribute weight_names" },
        { "numbers.h5", numbers_as_layer_names, "/model_weights/layer_names1: not a list of names" },
        { "config.h5", bad_model_config, "/model_config is not valid JSON" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = edited_copy(cases[i].name, cases[i].edit);
        run_result r = run_fpv(NULL, "flatten", path, NULL);
        assert_error_line(&r, cases[i].needle);
        ck_assert_msg(strstr(r.err, path), "the message names the file: %s", r.err);
        run_free(&r);
    }
}
END_TEST

START_TEST(bad_arch_fails_with_one_line)
{
    const char *model = corpus("keras/KERAS_3layer_weights.h5");
    char missing[4096], bad[4096];
    snprintf(missing, sizeof missing, "%s", tmpfile_in("missing.json"));
    snprintf(bad, sizeof bad, "%s", tmpfile_in("bad.json"));
    ck_assert_int_eq(write_file(bad, "[1, 2", 5), 0);
    run_result r = run_fpv(NULL, "modules", model, "--arch", missing, NULL);
    assert_error_line(&r, missing);
    run_free(&r);
    r = run_fpv(NULL, "flatten", model, "--arch", bad, NULL);
    assert_error_line(&r, "not valid JSON");
    ck_assert_msg(strstr(r.err, bad), "names the architecture file: %s", r.err);
    run_free(&r);
    ck_assert_int_eq(write_file(bad, "[1, 2]", 6), 0);
    r = run_fpv(NULL, "summary", model, "--arch", bad, NULL);
    assert_error_line(&r, "not a Keras model architecture");
    run_free(&r);
    r = run_fpv(NULL, "convert", model, "--arch", bad, "-o", tmpfile_in("x.json"), NULL);
    assert_error_line(&r, "not a Keras model architecture");
    run_free(&r);
}
END_TEST

static const char *zip_with(const char *name, const char *entry, const char *content)
{
    const char *path = tmpfile_in(name);
    int code;
    zip_t *zip = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    ck_assert_ptr_nonnull(zip);
    zip_source_t *src = zip_source_buffer(zip, content, strlen(content), 0);
    ck_assert_int_ge(zip_file_add(zip, entry, src, 0), 0);
    ck_assert_int_eq(zip_close(zip), 0);
    return path;
}

START_TEST(broken_keras_zips_fail_with_one_line)
{
    const char *no_config = zip_with("no_config.keras", "model.weights.h5", "not hdf5");
    run_result r = run_fpv(NULL, "flatten", no_config, NULL);
    assert_error_line(&r, "no config.json in the zip");
    run_free(&r);
    /* zips that are other things say so: torch.save's .pt, NumPy's .npz */
    r = run_fpv(NULL, "flatten", zip_with("m.pt", "archive/data.pkl", "pickle"), NULL);
    assert_error_line(&r, "a PyTorch torch.save checkpoint");
    run_free(&r);
    r = run_fpv(NULL, "flatten", zip_with("w.npz", "a.npy", "npy"), NULL);
    assert_error_line(&r, "a NumPy .npz archive");
    run_free(&r);
    const char *no_weights = zip_with("no_weights.keras", "config.json", "{\"class_name\": \"Sequential\"}");
    r = run_fpv(NULL, "modules", no_weights, NULL);
    assert_error_line(&r, "no model.weights.h5 in the zip");
    run_free(&r);

    size_t len;
    char *bytes = read_file(testdata("keras/synthetic3.keras"), &len);
    const char *cut = tmpfile_in("cut.keras");
    ck_assert_int_eq(write_file(cut, bytes, 200), 0);
    free(bytes);
    r = run_fpv(NULL, "flatten", cut, NULL);
    assert_error_line(&r, "cannot open as a zip archive");
    run_free(&r);

    r = run_fpv(NULL, "convert", testdata("keras/synthetic.h5"), "-o", tmpfile_in("x.keras"), NULL);
    assert_error_line(&r, "only be written by rebuild from a .keras model");
    run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keras");
    TCase *tc = tcase_create("read");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, flattens_like_keras, 0, n_keras_files);
    tcase_add_test(tc, arch_gives_weights_file_its_layer_types);
    tcase_add_test(tc, keras3_weights_file_with_arch);
    tcase_add_test(tc, batch_norm_statistics_are_not_trainable);
    tcase_add_test(tc, tree_has_types_settings_and_origins);
    tcase_add_test(tc, broken_keras_files_fail_with_one_line);
    tcase_add_test(tc, bad_arch_fails_with_one_line);
    tcase_add_test(tc, broken_keras_zips_fail_with_one_line);
    suite_add_tcase(s, tc);
    kt_add_rebuild_tests(s);
    kt_add_compute_tests(s);
    kt_add_mixup_tests(s);
    kt_add_cnn_tree_tests(s);
    return run_suite(s);
}
