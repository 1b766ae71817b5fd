/* Keras CNN files as the compute core needs their trees (formats/keras_*.c),
 * against the models Keras itself saved (testdata/keras/cnn/, made by
 * testdata/make_keras_cnn_fixtures.py): flatten gives model.trainable_weights
 * and its paths; every layer of the architecture is in the tree, in order,
 * weights or not (modules lists them); lists of whole numbers in a layer's
 * config (strides, kernel_size, ZeroPadding's padding) are int64 settings; the
 * root's input_shape. Predict and gradient against Keras and TensorFlow are
 * tests/test_keras_cnn.c. */
#include "test_keras.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- testdata/keras/cnn/cases.txt */

static cnn_file cnn_files[32];
static size_t n_cnn_files;
static cnn_loss cnn_losses[32];
static size_t n_cnn_losses;

const char *kt_cnn_path(const char *file)
{
    char rel[200];
    if (!strcmp(file, "-"))
        return NULL;
    snprintf(rel, sizeof rel, "keras/cnn/%s", file);
    return testdata(rel);
}

void kt_cnn_cases(const cnn_file **files, size_t *n_files, const cnn_loss **losses,
                  size_t *n_losses)
{
    if (!n_cnn_files) {
        FILE *list = fopen(kt_cnn_path("cases.txt"), "r");
        if (!list) {
            fprintf(stderr, "testdata/keras/cnn/cases.txt is missing\n");
            exit(1);
        }
        char line[1024];
        while (fgets(line, sizeof line, list)) {
            cnn_file *f = &cnn_files[n_cnn_files];
            cnn_loss *l = &cnn_losses[n_cnn_losses];
            if (line[0] == '#')
                continue;
            if (n_cnn_files < 32 && sscanf(line, "file %31s %63s %63s", f->name, f->model, f->arch) == 3)
                n_cnn_files++;
            else if (n_cnn_losses < 32 && sscanf(line, "loss %31s %31s %63s %lf %lf", l->name, l->loss,
                                                 l->target, &l->value64, &l->value32) == 5)
                n_cnn_losses++;
            else {
                fprintf(stderr, "testdata/keras/cnn/cases.txt: cannot read: %s", line);
                exit(1);
            }
        }
        fclose(list);
    }
    *files = cnn_files;
    *n_files = n_cnn_files;
    if (losses)
        *losses = cnn_losses;
    if (n_losses)
        *n_losses = n_cnn_losses;
}

const char *kt_cnn_fixture(const char *name, const char *suffix)
{
    char file[200];
    snprintf(file, sizeof file, "%s.%s", name, suffix);
    return kt_cnn_path(file);
}

/* ---- flatten, params and modules against Keras */

START_TEST(cnn_flattens_to_trainable_weights)
{
    const cnn_file *f = &cnn_files[_i];
    const char *arch = kt_cnn_path(f->arch);
    char model[4096], out[4096];
    snprintf(model, sizeof model, "%s", kt_cnn_path(f->model));
    snprintf(out, sizeof out, "%s", tmpfile_in("cnn.npy"));
    run_result r = arch ? run_fpv(NULL, "flatten", model, "--arch", arch, "-o", out, NULL)
                        : run_fpv(NULL, "flatten", model, "-o", out, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    double *got, *want;
    size_t n_got = read_npy_f64(out, &got, NULL, NULL);
    size_t n_want = read_npy_f64(kt_cnn_fixture(f->name, "flat.npy"), &want, NULL, NULL);
    ck_assert_msg(n_want != (size_t)-1 && n_got == n_want, "%s: %zu elements, Keras %zu", f->model,
                  n_got, n_want);
    for (size_t i = 0; i < n_want; i++)
        ck_assert_msg(got[i] == want[i], "%s: element %zu is %.9g, Keras %.9g", f->model, i, got[i],
                      want[i]);
    free(got);
    free(want);

    /* params: Keras' variable paths, in trainable_weights order. */
    r = arch ? run_fpv(NULL, "params", model, "--arch", arch, NULL) : run_fpv(NULL, "params", model, NULL);
    kt_assert_ok(&r);
    size_t len;
    char *paths = read_file(kt_cnn_fixture(f->name, "paths.txt"), &len), *save = NULL;
    ck_assert_ptr_nonnull(paths);
    const char *row = strchr(r.out, '\n');   /* after the header */
    for (char *path = strtok_r(paths, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(row && !strncmp(row + 1, path, strlen(path)) && row[1 + strlen(path)] == ' ',
                      "%s: params does not list %s next:\n%s", f->model, path, r.out);
        row = strchr(row + 1, '\n');
    }
    ck_assert_msg(row && row[1] == '#', "%s: params lists more arrays:\n%s", f->model, r.out);
    free(paths);
    run_free(&r);
}
END_TEST

START_TEST(cnn_modules_list_every_layer_in_order)
{
    const cnn_file *f = &cnn_files[_i];
    const char *arch = kt_cnn_path(f->arch);
    char model[4096];
    snprintf(model, sizeof model, "%s", kt_cnn_path(f->model));
    run_result r = arch ? run_fpv(NULL, "modules", model, "--json", "--arch", arch, NULL)
                        : run_fpv(NULL, "modules", model, "--json", NULL);
    kt_assert_ok(&r);
    cJSON *doc = cJSON_Parse(r.out);
    ck_assert_msg(cJSON_IsArray(doc), "%s: modules --json: %s", f->model, r.out);
    size_t len;
    char *layers = read_file(kt_cnn_fixture(f->name, "layers.txt"), &len), *save = NULL;
    ck_assert_ptr_nonnull(layers);
    int i = 1;   /* 0 is the model */
    for (char *line = strtok_r(layers, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        char name[128], class_name[128], path[130];
        ck_assert_int_eq(sscanf(line, "%127s %127s", name, class_name), 2);
        snprintf(path, sizeof path, "/%s", name);
        const cJSON *entry = cJSON_GetArrayItem(doc, i);
        const char *got_path = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "path"));
        const char *got_type = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "type"));
        ck_assert_msg(got_path && !strcmp(got_path, path) && got_type && !strcmp(got_type, class_name),
                      "%s: module %d is %s (%s), Keras' layer %s (%s)", f->model, i,
                      got_path ? got_path : "none", got_type ? got_type : "untyped", path, class_name);
    }
    ck_assert_msg(i == cJSON_GetArraySize(doc), "%s: %d modules, Keras has %d layers", f->model,
                  cJSON_GetArraySize(doc) - 1, i - 1);
    free(layers);
    cJSON_Delete(doc);
    run_free(&r);
}
END_TEST

/* ---- the settings in the tree */

static fp_node *child(const fp_node *node, const char *key)
{
    fp_node *found = node ? fp_map_get(node, key) : NULL;
    ck_assert_msg(found, "no child %s", key);
    return found;
}

/* node is an int64 array of that shape and those values (row-major). */
static void assert_ints(const fp_node *node, const char *what, int rank, const uint64_t *shape,
                        const int64_t *values)
{
    ck_assert_msg(node->kind == FP_ARRAY && node->dtype == FP_I64 && node->rank == rank,
                  "%s: not an int64 array of rank %d", what, rank);
    for (int d = 0; d < rank; d++)
        ck_assert_msg(node->shape[d] == shape[d], "%s: dimension %d is %llu, expected %llu", what,
                      d, (unsigned long long)node->shape[d], (unsigned long long)shape[d]);
    const int64_t *data = node->data;
    ck_assert_ptr_nonnull(data);
    for (uint64_t i = 0; i < node->n_elems; i++)
        ck_assert_msg(data[i] == values[i], "%s[%llu] is %lld, expected %lld", what,
                      (unsigned long long)i, (long long)data[i], (long long)values[i]);
}

#define INTS(...) ((const int64_t[]){ __VA_ARGS__ })
#define SHAPE(...) ((const uint64_t[]){ __VA_ARGS__ })

static void open_tree(const char *path, const char *arch, fp_tree *tree)
{
    fp_error err = { "" };
    fp_keras_arch = arch;
    int rc = fp_tree_open(path, tree, &err);
    fp_keras_arch = NULL;
    ck_assert_msg(rc == 0, "opening %s: %s", path, err.msg);
}

/* The keys of root's children, space-separated. */
static void keys_of(const fp_node *root, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < root->n_children && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? " " : "", root->keys[i]);
}

START_TEST(cnn_settings_are_int64_arrays)
{
    /* In every form of one model: the zip, model.save("m.h5"), legacy save_weights + --arch. */
    const char *conv2d[][2] = { { "conv2d.keras", NULL }, { "conv2d.h5", NULL },
                                { "conv2d_weights.h5", "conv2d.arch.json" } };
    for (int i = 0; i < 3; i++) {
        fp_tree tree;
        char arch[4096];
        if (conv2d[i][1])
            snprintf(arch, sizeof arch, "%s", kt_cnn_path(conv2d[i][1]));
        open_tree(kt_cnn_path(conv2d[i][0]), conv2d[i][1] ? arch : NULL, &tree);
        const fp_node *root = tree.root, *conv = child(root, "conv_s2"), *grouped = child(root, "conv_g2");
        assert_ints(child(root, "input_shape"), "input_shape", 1, SHAPE(3), INTS(13, 13, 2));
        assert_ints(child(conv, "kernel_size"), "conv_s2/kernel_size", 1, SHAPE(2), INTS(3, 3));
        assert_ints(child(conv, "strides"), "conv_s2/strides", 1, SHAPE(2), INTS(2, 2));
        ck_assert_str_eq(child(conv, "padding")->str, "same");
        ck_assert_str_eq(child(conv, "data_format")->str, "channels_last");
        ck_assert_str_eq(child(conv, "activation")->str, "relu");
        assert_ints(child(grouped, "dilation_rate"), "conv_g2/dilation_rate", 1, SHAPE(2), INTS(2, 2));
        ck_assert_double_eq(child(grouped, "groups")->number, 2);
        ck_assert_str_eq(child(grouped, "padding")->str, "valid");
        const fp_node *avg = child(root, "avg"), *max = child(root, "max");
        ck_assert_str_eq(avg->type, "AveragePooling2D");
        assert_ints(child(avg, "pool_size"), "avg/pool_size", 1, SHAPE(2), INTS(3, 3));
        assert_ints(child(avg, "strides"), "avg/strides", 1, SHAPE(2), INTS(2, 2));
        ck_assert_str_eq(child(avg, "padding")->str, "same");
        assert_ints(child(max, "strides"), "max/strides", 1, SHAPE(2), INTS(1, 1));
        ck_assert_double_eq(child(child(root, "drop"), "rate")->number, 0.5);
        char keys[512];
        keys_of(root, keys, sizeof keys);
        ck_assert_str_eq(keys, "input conv_s2 max conv_g2 avg flat drop head input_shape");
        fp_tree_free(&tree);
    }

    fp_tree tree;
    open_tree(kt_cnn_path("padding.h5"), NULL, &tree);
    assert_ints(child(child(tree.root, "pad2"), "padding"), "pad2/padding", 2, SHAPE(2, 2),
                INTS(1, 0, 2, 1));
    assert_ints(child(child(tree.root, "pad1"), "padding"), "pad1/padding", 1, SHAPE(2), INTS(1, 2));
    assert_ints(child(child(tree.root, "to_image"), "target_shape"), "to_image/target_shape", 1,
                SHAPE(3), INTS(6, 4, 2));
    assert_ints(child(child(tree.root, "to_sequence"), "target_shape"), "to_sequence/target_shape",
                1, SHAPE(2), INTS(-1, 3));
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(2), INTS(6, 8));
    fp_tree_free(&tree);

    /* A Functional model: its InputLayer first, named as the user named it. */
    open_tree(kt_cnn_path("conv1d.h5"), NULL, &tree);
    ck_assert_str_eq(tree.root->type, "Functional");
    ck_assert_str_eq(tree.root->keys[0], "signal");
    ck_assert_str_eq(tree.root->children[0]->type, "InputLayer");
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(2), INTS(11, 3));
    assert_ints(child(child(tree.root, "conv_b"), "dilation_rate"), "conv_b/dilation_rate", 1,
                SHAPE(1), INTS(2));
    ck_assert_int_eq(child(child(tree.root, "conv_b"), "use_bias")->boolean, 0);
    assert_ints(child(child(tree.root, "pool"), "pool_size"), "pool/pool_size", 1, SHAPE(1), INTS(2));
    fp_tree_free(&tree);

    open_tree(kt_cnn_path("activations.keras"), NULL, &tree);
    const fp_node *root = tree.root;
    assert_ints(child(child(root, "prelu_conv"), "shared_axes"), "prelu_conv/shared_axes", 1,
                SHAPE(2), INTS(1, 2));
    ck_assert_int_eq(child(child(root, "prelu_conv"), "alpha")->rank, 3);
    ck_assert_double_eq_tol(child(child(root, "leaky"), "negative_slope")->number, 0.2, 1e-15);
    ck_assert_double_eq_tol(child(child(root, "elu"), "alpha")->number, 0.7, 1e-15);
    ck_assert_str_eq(child(root, "softmax")->type, "Softmax");
    fp_tree_free(&tree);

    /* Keras 3 calls a depthwise kernel "kernel", in the zip as in its variables. */
    open_tree(kt_cnn_path("depthwise.keras"), NULL, &tree);
    const fp_node *dw = child(tree.root, "dw");
    ck_assert_int_eq(child(dw, "kernel")->rank, 4);
    ck_assert_double_eq(child(dw, "depth_multiplier")->number, 2);
    ck_assert_ptr_null(fp_map_get(child(tree.root, "dw_nobias"), "bias"));
    fp_tree_free(&tree);
}
END_TEST

/* Keras 2 files of the corpus: a Sequential's input shape is its first
 * layer's batch_input_shape, a Functional's its InputLayer's. */
START_TEST(keras2_settings_and_input_shape)
{
    fp_tree tree;
    open_tree(corpus("keras/keras_conv2d_model.h5"), NULL, &tree);
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(3), INTS(8, 8, 1));
    const fp_node *conv = child(tree.root, "conv2d_1");
    assert_ints(child(conv, "kernel_size"), "conv2d_1/kernel_size", 1, SHAPE(2), INTS(3, 3));
    assert_ints(child(conv, "strides"), "conv2d_1/strides", 1, SHAPE(2), INTS(1, 1));
    ck_assert_ptr_null(fp_map_get(conv, "batch_input_shape"));   /* a null in it: not a setting */
    fp_tree_free(&tree);

    open_tree(corpus("keras/keras_3layer_batch_norm.h5"), NULL, &tree);
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(1), INTS(16));
    fp_tree_free(&tree);

    /* Keras 3's model.save("m.h5") leaves a Sequential's InputLayer out of
     * layer_names; the architecture puts it first. */
    open_tree(testdata("keras/synthetic_k3.h5"), NULL, &tree);
    char keys[512];
    keys_of(tree.root, keys, sizeof keys);
    ck_assert_str_eq(keys, "input_layer d1 bn frozen out input_shape");
    ck_assert_str_eq(tree.root->children[0]->type, "InputLayer");
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(1), INTS(4));
    fp_tree_free(&tree);

    /* Without an architecture nothing is known of the input. */
    open_tree(corpus("keras/KERAS_3layer_weights.h5"), NULL, &tree);
    ck_assert_ptr_null(fp_map_get(tree.root, "input_shape"));
    fp_tree_free(&tree);
}
END_TEST

/* ---- settings and layers from crafted architectures (--arch) */

/* KERAS_3layer_weights.h5's layers (input_1, fc1_relu, fc2_relu, fc3_relu,
 * output_softmax) as a Model whose layer entries are `layers` (JSON text). */
static const char *arch_with(const char *name, const char *layers, const char *model_extra)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"class_name\": \"Model\", \"config\": {%s\"layers\": [%s]}}",
             model_extra ? model_extra : "", layers);
    return write_tmp(name, text);
}

#define DENSE(n) "{\"class_name\": \"Dense\", \"config\": {\"name\": \"" n "\", \"activation\": \"relu\"}}"

START_TEST(only_lists_of_whole_numbers_become_settings)
{
    const char *arch = arch_with(
        "lists.json",
        "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_input_shape\": [null, 16]}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"fc1_relu\", \"pairs\": [[1, 2], [3, 4], [5, 6]],"
        " \"cube\": [[[1], [2]]], \"whole\": [1.0, -2.0], \"big\": [9007199254740992],"
        " \"ragged\": [[1], [2, 3]], \"uneven\": [[1, 2], 3], \"halves\": [0.5, 1], \"mixed\": [1, \"a\"],"
        " \"nulls\": [null, 3], \"empty\": [], \"empties\": [[], []], \"huge\": [1e300],"
        " \"bools\": [true], \"maps\": [{\"a\": 1}], \"nested_map\": {\"strides\": [1, 1]}}},"
        DENSE("fc2_relu") "," DENSE("fc3_relu") "," DENSE("output_softmax"), NULL);
    fp_tree tree;
    open_tree(corpus("keras/KERAS_3layer_weights.h5"), arch, &tree);
    const fp_node *dense = child(tree.root, "fc1_relu");
    assert_ints(child(dense, "pairs"), "pairs", 2, SHAPE(3, 2), INTS(1, 2, 3, 4, 5, 6));
    assert_ints(child(dense, "cube"), "cube", 3, SHAPE(1, 2, 1), INTS(1, 2));
    assert_ints(child(dense, "whole"), "whole", 1, SHAPE(2), INTS(1, -2));
    assert_ints(child(dense, "big"), "big", 1, SHAPE(1), INTS(9007199254740992LL));
    const char *left_out[] = { "ragged", "uneven", "halves", "mixed", "nulls", "empty", "empties",
                               "huge", "bools", "maps", "nested_map" };
    for (size_t i = 0; i < sizeof left_out / sizeof *left_out; i++)
        ck_assert_msg(!fp_map_get(dense, left_out[i]), "%s became a setting", left_out[i]);
    assert_ints(child(tree.root, "input_shape"), "input_shape", 1, SHAPE(1), INTS(16));
    fp_tree_free(&tree);

    /* The vector is the same: integer settings are never parameters. */
    char *plain = kt_flatten_text(corpus("keras/KERAS_3layer_weights.h5"), NULL);
    run_result r = run_fpv(NULL, "flatten", corpus("keras/KERAS_3layer_weights.h5"), "--arch", arch, NULL);
    kt_assert_ok(&r);
    ck_assert_str_eq(r.out, plain);
    run_free(&r);
    free(plain);
}
END_TEST

START_TEST(layers_without_weights_keep_their_place)
{
    /* flat and tail are in the architecture only: each goes before the listed
     * layer that follows it there, or last. */
    const char *arch = arch_with(
        "places.json",
        "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"head\"}},"
        "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_input_shape\": [null, 16]}},"
        DENSE("fc1_relu") ","
        "{\"class_name\": \"MaxPooling1D\", \"config\": {\"name\": \"flat\", \"pool_size\": [2]}},"
        DENSE("fc2_relu") "," DENSE("fc3_relu") "," DENSE("output_softmax") ","
        "{\"class_name\": \"Activation\", \"config\": {\"name\": \"tail\", \"activation\": \"softmax\"}}", NULL);
    fp_tree tree;
    open_tree(corpus("keras/KERAS_3layer_weights.h5"), arch, &tree);
    char keys[512];
    keys_of(tree.root, keys, sizeof keys);
    ck_assert_str_eq(keys, "head input_1 fc1_relu flat fc2_relu fc3_relu output_softmax tail input_shape");
    ck_assert_str_eq(child(tree.root, "flat")->type, "MaxPooling1D");
    assert_ints(child(child(tree.root, "flat"), "pool_size"), "flat/pool_size", 1, SHAPE(1), INTS(2));
    ck_assert_str_eq(child(child(tree.root, "tail"), "activation")->str, "softmax");
    fp_tree_free(&tree);

    /* Two architecture layers of one name are refused, naming it. */
    arch = arch_with("twice.json",
                     DENSE("fc1_relu") ", {\"class_name\": \"Flatten\", \"config\": {\"name\": \"f\"}},"
                     "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"f\"}}", NULL);
    run_result r = run_fpv(NULL, "modules", corpus("keras/KERAS_3layer_weights.h5"), "--arch", arch, NULL);
    assert_error_line(&r, "KERAS_3layer_weights.h5: /f: two layers of that name");
    run_free(&r);
}
END_TEST

START_TEST(input_shape_only_when_keras_gives_it_whole)
{
    struct {
        const char *name, *layers, *model_extra;
        int64_t dims[3];
        int rank;   /* 0: no input_shape */
    } cases[] = {
        { "k3.json", "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [null, 4, 4]}}",
          NULL, { 4, 4 }, 2 },
        { "fixed_batch.json", "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [32, 16]}}",
          NULL, { 16 }, 1 },
        { "first_layer.json", "{\"class_name\": \"Dense\", \"config\": {\"name\": \"fc1_relu\", \"batch_input_shape\": [null, 16]}}",
          NULL, { 16 }, 1 },
        { "build.json", DENSE("fc1_relu"), "\"build_input_shape\": [null, 2, 8],", { 2, 8 }, 2 },
        { "open.json", "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [null, null, 3]}}",
          NULL, { 0 }, 0 },
        { "zero.json", "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [null, 0]}}",
          NULL, { 0 }, 0 },
        { "batch_only.json", "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [null]}}",
          NULL, { 0 }, 0 },
        { "two_inputs.json",
          "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_1\", \"batch_shape\": [null, 16]}},"
          "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"other\", \"batch_shape\": [null, 16]}}",
          "\"build_input_shape\": [null, 16],", { 0 }, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp_tree tree;
        open_tree(corpus("keras/KERAS_3layer_weights.h5"),
                  arch_with(cases[i].name, cases[i].layers, cases[i].model_extra), &tree);
        const fp_node *shape = fp_map_get(tree.root, "input_shape");
        if (cases[i].rank)
            assert_ints(child(tree.root, "input_shape"), cases[i].name, 1,
                        SHAPE((uint64_t)cases[i].rank), cases[i].dims);
        else
            ck_assert_msg(!shape, "%s: an input_shape", cases[i].name);
        fp_tree_free(&tree);
    }

    /* A layer named input_shape keeps its place; the model's shape is then left out. */
    fp_tree tree;
    open_tree(corpus("keras/KERAS_3layer_weights.h5"),
              arch_with("named.json",
                        "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"input_shape\", \"batch_shape\": [null, 16]}}",
                        NULL), &tree);
    ck_assert_int_eq(child(tree.root, "input_shape")->kind, FP_MAP);
    ck_assert_str_eq(child(tree.root, "input_shape")->type, "InputLayer");
    fp_tree_free(&tree);
}
END_TEST

void kt_add_cnn_tree_tests(Suite *s)
{
    const cnn_file *files;
    size_t n_files;
    kt_cnn_cases(&files, &n_files, NULL, NULL);
    TCase *tc = tcase_create("cnn_tree");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, cnn_flattens_to_trainable_weights, 0, (int)n_files);
    tcase_add_loop_test(tc, cnn_modules_list_every_layer_in_order, 0, (int)n_files);
    tcase_add_test(tc, cnn_settings_are_int64_arrays);
    tcase_add_test(tc, keras2_settings_and_input_shape);
    tcase_add_test(tc, only_lists_of_whole_numbers_become_settings);
    tcase_add_test(tc, layers_without_weights_keep_their_place);
    tcase_add_test(tc, input_shape_only_when_keras_gives_it_whole);
    suite_add_tcase(s, tc);
}
