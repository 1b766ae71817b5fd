/* formats/json*.c: the JSON model format read into trees (here) and written
 * back (test_json_write.c), with values checked against the numbers in the
 * documents and in the fixtures made by testdata/make_json_fixtures.py. */
#include "harness.h"
#include "flatparams.h"
#include "test_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers */

static const char *write_doc(const char *json)
{
    static int counter;
    char name[64];
    snprintf(name, sizeof name, "doc%d.json", counter++);
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, json, strlen(json)), 0);
    return path;
}

void open_doc(const char *json, fp_tree *tree)
{
    fp_error err = { "" };
    const char *path = write_doc(json);
    ck_assert_msg(fp_tree_open(path, tree, &err) == 0, "%s: %s", json, err.msg);
}

/* The read fails with one line "FILE: <needle...>". */
static void expect_error(const char *json, const char *needle)
{
    fp_tree tree;
    fp_error err = { "" };
    const char *path = write_doc(json);
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    ck_assert_msg(!strncmp(err.msg, path, strlen(path)) && err.msg[strlen(path)] == ':',
                  "message does not start with the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
}

fp_node *at(const fp_node *root, const char *path)
{
    fp_node *node = (fp_node *)root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *seg = strtok(buf, "/"); seg && node; seg = strtok(NULL, "/"))
        node = node->kind == FP_LIST ? (size_t)atoi(seg) < node->n_children ? node->children[atoi(seg)] : NULL
                                     : fp_map_get(node, seg);
    ck_assert_msg(node != NULL, "no node at %s", path);
    return node;
}

static fp_layout layout_of(const fp_node *root, int all)
{
    fp_select sel = { .all = all };
    fp_layout layout;
    fp_error err;
    ck_assert_msg(fp_layout_build(root, &sel, &layout, &err) == 0, "%s", err.msg);
    return layout;
}

/* The flat vector as doubles (complex as re, im pairs). */
static double *flatten(const fp_layout *layout)
{
    size_t width = fp_dtype_is_complex(layout->dtype) ? 2 : 1;
    double *flat = calloc(layout->n_elems * width + 1, sizeof *flat);
    fp_dtype as = width == 2 ? FP_C128 : FP_F64;
    fp_error err;
    for (size_t i = 0; i < layout->n_params; i++)
        ck_assert_msg(fp_array_read(layout->params[i].node, flat + layout->params[i].offset * width,
                                    as, &err) == 0, "%s", err.msg);
    return flat;
}

static int count_modules(const fp_node *node, const char *path, int depth, int first,
                         int trainable, void *ctx)
{
    (void)path, (void)depth, (void)trainable;
    if (first && (node->kind == FP_MAP || node->kind == FP_LIST))
        ++*(int *)ctx;
    return 0;
}

/* ---- reading */

START_TEST(probe)
{
    const fp_format *f = &fp_format_json;
    ck_assert(f->probe((const unsigned char *)"{}", 2));
    ck_assert(f->probe((const unsigned char *)"\xEF\xBB\xBF \n\t[1]", 9));
    ck_assert(!f->probe((const unsigned char *)"  \"str\"", 7));
    ck_assert(!f->probe((const unsigned char *)"\x89HDF\r\n", 6));
    ck_assert(!f->probe((const unsigned char *)"   ", 3));
    ck_assert(!f->probe((const unsigned char *)"", 0));
    ck_assert_ptr_eq(fp_format_for_output("m.JSON", NULL), f);
}
END_TEST

START_TEST(seed_flattens_to_its_float32_values)
{
    fp_tree tree;
    fp_error err;
    ck_assert_msg(fp_tree_open(testdata("seed.json"), &tree, &err) == 0, "%s", err.msg);
    ck_assert_ptr_eq(tree.format, &fp_format_json);
    ck_assert_str_eq(tree.root->type, "Chain");
    ck_assert_str_eq(at(tree.root, "/layers/0")->type, "Dense");
    ck_assert_str_eq(at(tree.root, "/layers/0/activation")->str, "tanh");
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_F32);
    ck_assert_uint_eq(layout.n_params, 4);
    ck_assert_uint_eq(layout.n_elems, 5);
    ck_assert_str_eq(layout.params[2].path, "/layers/1/weight");
    float flat[5], want[5] = { (float)0.863101, (float)1.2454957, 0, (float)-1.6345707, 0 };
    for (size_t i = 0; i < layout.n_params; i++)
        ck_assert_int_eq(fp_array_read(layout.params[i].node, flat + layout.params[i].offset, FP_F32, &err), 0);
    ck_assert_mem_eq(flat, want, sizeof want);
    const fp_node *w = at(tree.root, "/layers/0/weight");
    ck_assert(w->data && !w->load && w->rank == 2 && w->shape[0] == 1 && w->shape[1] == 2);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(mlp_bn_counts)
{
    fp_tree tree;
    fp_error err;
    ck_assert_msg(fp_tree_open(testdata("mlp_bn.json"), &tree, &err) == 0, "%s", err.msg);
    int modules = 0;
    fp_tree_walk(tree.root, count_modules, &modules);
    ck_assert_int_eq(modules, 7);
    fp_layout trainable = layout_of(tree.root, 0), all = layout_of(tree.root, 1);
    ck_assert_uint_eq(trainable.n_elems, 51018);
    ck_assert_uint_eq(trainable.n_params, 6);
    ck_assert_uint_eq(all.n_elems, 51018 + 128);
    ck_assert_uint_eq(all.n_params, 8);
    ck_assert_str_eq(all.params[4].path, "/layers/0/layers/1/mean");
    ck_assert_int_eq(all.params[4].trainable, 0);
    ck_assert_int_eq(trainable.dtype, FP_F32);
    ck_assert_str_eq(at(tree.root, "/layers/0/layers/1")->type, "BatchNorm");
    ck_assert_double_eq(at(tree.root, "/layers/0/layers/1/eps")->number, 1e-5);
    double *flat = flatten(&trainable);
    ck_assert_double_eq(flat[0], (float)0.004);  /* first numbers of the file's data */
    ck_assert_double_eq(flat[1], (float)-0.005);
    free(flat);
    fp_layout_free(&trainable);
    fp_layout_free(&all);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(settings_and_marks)
{
    fp_tree tree;
    open_doc("{\"type\": \"Dense\", \"trainable\": false, \"name\": \"d\\u00e9\", \"n\": 3,"
             " \"flag\": true, \"nothing\": null, \"w\": [1, 2]}", &tree);
    const fp_node *root = tree.root;
    ck_assert_str_eq(root->type, "Dense");
    ck_assert_int_eq(root->trainable, 0);
    ck_assert_uint_eq(root->n_children, 7);   /* type and trainable stay children */
    ck_assert_str_eq(root->keys[2], "name");
    ck_assert_str_eq(at(root, "/name")->str, "d\xc3\xa9");
    ck_assert_double_eq(at(root, "/n")->number, 3);
    ck_assert_int_eq(at(root, "/flag")->boolean, 1);
    ck_assert_int_eq(at(root, "/nothing")->kind, FP_NULL);
    fp_layout none = layout_of(root, 0), all = layout_of(root, 1);
    ck_assert_uint_eq(none.n_elems, 0);
    ck_assert_uint_eq(all.n_elems, 2);
    fp_layout_free(&none);
    fp_layout_free(&all);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(bare_arrays_and_lists)
{
    fp_tree tree;
    open_doc("{\"v\": [1, 2.5, -3e-3], \"m\": [[1, 2], [3, 4], [5, 6]], \"e\": [], \"ee\": [[], []],"
             " \"objs\": [{\"a\": 1}, {\"b\": \"x\"}], \"strs\": [\"a\", null, true],"
             " \"layers\": [{\"type\": \"Dense\"}, [0.5, 2]]}", &tree);
    const fp_node *v = at(tree.root, "/v"), *m = at(tree.root, "/m");
    ck_assert(v->kind == FP_ARRAY && v->dtype == FP_F64 && v->rank == 1 && v->shape[0] == 3);
    ck_assert_double_eq(((double *)v->data)[2], -3e-3);
    ck_assert(m->rank == 2 && m->shape[0] == 3 && m->shape[1] == 2);
    ck_assert_double_eq(((double *)m->data)[3], 4);
    /* Empty arrays are lists: [] holds no number to make it an array. */
    ck_assert(at(tree.root, "/e")->kind == FP_LIST && at(tree.root, "/e")->n_children == 0);
    ck_assert(at(tree.root, "/ee")->kind == FP_LIST && at(tree.root, "/ee/1")->kind == FP_LIST);
    ck_assert(at(tree.root, "/objs")->kind == FP_LIST && at(tree.root, "/objs/1")->kind == FP_MAP);
    ck_assert_int_eq(at(tree.root, "/strs/1")->kind, FP_NULL);
    /* Beside an object, a numeric array is a list element. */
    ck_assert_int_eq(at(tree.root, "/layers")->kind, FP_LIST);
    ck_assert(at(tree.root, "/layers/1")->kind == FP_ARRAY && at(tree.root, "/layers/1")->n_elems == 2);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_F64);
    ck_assert_uint_eq(layout.n_elems, 11);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

/* Keras configs: numbers beside strings or nulls are list elements, at any depth. */
START_TEST(mixed_arrays_are_lists)
{
    fp_tree tree;
    open_doc("{\"shape\": [null, 16], \"inputs\": [[\"input_1\", 0, 0]], \"act\": [\"relu\", 0.5]}", &tree);
    ck_assert_int_eq(at(tree.root, "/shape")->kind, FP_LIST);
    ck_assert_int_eq(at(tree.root, "/shape/0")->kind, FP_NULL);
    ck_assert(at(tree.root, "/shape/1")->kind == FP_NUMBER && at(tree.root, "/shape/1")->number == 16);
    ck_assert_int_eq(at(tree.root, "/inputs/0")->kind, FP_LIST);
    ck_assert_str_eq(at(tree.root, "/inputs/0/0")->str, "input_1");
    ck_assert_int_eq(at(tree.root, "/inputs/0/2")->kind, FP_NUMBER);
    ck_assert_double_eq(at(tree.root, "/act/1")->number, 0.5);
    fp_layout layout = layout_of(tree.root, 1);
    ck_assert_uint_eq(layout.n_elems, 0);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(tensor_objects)
{
    fp_tree tree;
    open_doc("{\"nested\": {\"dtype\": \"float64\", \"shape\": [2, 2], \"data\": [[1, 2], [3, 4]]},"
             " \"scalar\": {\"dtype\": \"f32\", \"shape\": [], \"data\": 2.5},"
             " \"steps\": {\"dtype\": \"int64\", \"shape\": [3], \"data\": [1, -2, 9007199254740992]},"
             " \"mask\": {\"dtype\": \"bool\", \"shape\": [3], \"data\": [true, false, 1]},"
             " \"half\": {\"dtype\": \"float16\", \"shape\": [5], \"data\": [\"NaN\", \"Infinity\", \"-Infinity\", 65504, 1e-7]},"
             " \"empty\": {\"dtype\": \"float32\", \"shape\": [0, 3], \"data\": []},"
             " \"frozen\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [7], \"trainable\": false}}", &tree);
    const fp_node *nested = at(tree.root, "/nested"), *steps = at(tree.root, "/steps");
    ck_assert_double_eq(((double *)nested->data)[3], 4);
    ck_assert(at(tree.root, "/scalar")->rank == 0 && *(float *)at(tree.root, "/scalar")->data == 2.5f);
    ck_assert_int_eq(((int64_t *)steps->data)[1], -2);
    ck_assert_int_eq(((int64_t *)steps->data)[2], 9007199254740992LL);
    ck_assert_mem_eq(at(tree.root, "/mask")->data, "\1\0\1", 3);
    const uint16_t *half = at(tree.root, "/half")->data;
    ck_assert(isnan(fp_f16_to_f32(half[0])));
    ck_assert_uint_eq(half[1], 0x7c00);
    ck_assert_uint_eq(half[2], 0xfc00);
    ck_assert_uint_eq(half[3], 0x7bff);
    ck_assert_uint_eq(half[4], fp_f32_to_f16(1e-7f));
    ck_assert_uint_eq(at(tree.root, "/empty")->n_elems, 0);
    ck_assert_int_eq(at(tree.root, "/frozen")->trainable, 0);
    fp_layout layout = layout_of(tree.root, 0);   /* int64 and bool are not parameters */
    ck_assert_uint_eq(layout.n_params, 4);
    ck_assert_uint_eq(layout.n_elems, 4 + 1 + 5 + 0);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

/* As np.array(data, dtype) in NumPy 2: a fraction is truncated toward zero,
 * a value that then does not fit the dtype is refused (NumPy's OverflowError),
 * never clamped; bool takes any number. */
START_TEST(integers_must_fit_their_dtype)
{
    fp_tree tree;
    open_doc("{\"i8\": {\"dtype\": \"int8\", \"shape\": [6], \"data\": [-128, 127, 2.5, -2.5, 127.9, -128.9]},"
             " \"u8\": {\"dtype\": \"uint8\", \"shape\": [3], \"data\": [0, 255, -0.5]},"
             " \"i32\": {\"dtype\": \"int32\", \"shape\": [2], \"data\": [-2147483648, 2147483647]},"
             " \"u64\": {\"dtype\": \"uint64\", \"shape\": [1], \"data\": [9007199254740992]},"
             " \"i64\": {\"dtype\": \"int64\", \"shape\": [2], \"data\": [-9223372036854775808, 9223372036854775807]},"
             " \"mask\": {\"dtype\": \"bool\", \"shape\": [2], \"data\": [2, -0.5]}}", &tree);
    ck_assert_mem_eq(at(tree.root, "/i8")->data, "\x80\x7f\x02\xfe\x7f\x80", 6);
    ck_assert_mem_eq(at(tree.root, "/u8")->data, "\x00\xff\x00", 3);
    ck_assert_int_eq(((int32_t *)at(tree.root, "/i32")->data)[0], INT32_MIN);
    ck_assert_int_eq(((int32_t *)at(tree.root, "/i32")->data)[1], INT32_MAX);
    ck_assert_uint_eq(((uint64_t *)at(tree.root, "/u64")->data)[0], 9007199254740992ull);
    /* int64's extremes, as flatparams writes them: through doubles, the largest
     * reads as 2^63 and lands on the largest int64 a double holds. */
    ck_assert_int_eq(((int64_t *)at(tree.root, "/i64")->data)[0], INT64_MIN);
    ck_assert_int_eq(((int64_t *)at(tree.root, "/i64")->data)[1], INT64_MAX - 1023);
    ck_assert_mem_eq(at(tree.root, "/mask")->data, "\1\1", 2);
    fp_tree_free(&tree);

    static const struct { const char *tensor, *needle; } refused[] = {
        { "\"int8\", \"shape\": [2], \"data\": [1000, 2]", "data element 0, 1000, does not fit int8 (-128 to 127)" },
        { "\"int8\", \"shape\": [2], \"data\": [1, 128.5]", "data element 1, 128.5, does not fit int8 (-128 to 127)" },
        { "\"int8\", \"shape\": [1], \"data\": [-129]", "data element 0, -129, does not fit int8" },
        { "\"uint8\", \"shape\": [2, 2], \"data\": [[1, 2], [-1, 3]]", "data element 2, -1, does not fit uint8 (0 to 255)" },
        { "\"int16\", \"shape\": [1], \"data\": [32768]", "data element 0, 32768, does not fit int16 (-32768 to 32767)" },
        { "\"uint16\", \"shape\": [1], \"data\": [65536]", "data element 0, 65536, does not fit uint16 (0 to 65535)" },
        { "\"int32\", \"shape\": [1], \"data\": [\"NaN\"]", "data element 0, nan, does not fit int32" },
        { "\"uint32\", \"shape\": [1], \"data\": [4294967296]", "data element 0, 4294967296, does not fit uint32" },
        { "\"int64\", \"shape\": [1], \"data\": [1e20]",
          "data element 0, 1e+20, does not fit int64 (-9223372036854775808 to 9223372036854775807)" },
        { "\"uint64\", \"shape\": [1], \"data\": [\"-Infinity\"]",
          "data element 0, -inf, does not fit uint64 (0 to 18446744073709551615)" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char json[256], needle[256];
        snprintf(json, sizeof json, "{\"m\": {\"v\": {\"dtype\": %s}}}", refused[i].tensor);
        snprintf(needle, sizeof needle, ": /m/v: %s", refused[i].needle);
        expect_error(json, needle);
    }
}
END_TEST

START_TEST(complex_and_promotion)
{
    fp_tree tree;
    open_doc("{\"z\": {\"dtype\": \"complex64\", \"shape\": [2], \"data\": [[1, 2], [3, -4]]},"
             " \"zz\": {\"dtype\": \"c64\", \"shape\": [1, 2], \"data\": [[[0.5, 0], [\"NaN\", 1]]]}}", &tree);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_C64);
    ck_assert_mem_eq(at(tree.root, "/z")->data, ((float[]){ 1, 2, 3, -4 }), 16);
    double *flat = flatten(&layout);
    ck_assert(flat[4] == 0.5 && flat[5] == 0 && isnan(flat[6]) && flat[7] == 1);
    free(flat);
    fp_layout_free(&layout);
    fp_tree_free(&tree);

    open_doc("{\"a\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [0.1]}, \"b\": [0.1]}", &tree);
    layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_F64);
    flat = flatten(&layout);
    ck_assert(flat[0] == (double)0.1f && flat[1] == 0.1);
    free(flat);
    fp_layout_free(&layout);
    fp_tree_free(&tree);

    open_doc("{\"a\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [1]}, \"b\": [2],"
             " \"z\": {\"dtype\": \"complex64\", \"shape\": [], \"data\": [3, 4]}}", &tree);
    layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_C128);
    flat = flatten(&layout);
    ck_assert_mem_eq(flat, ((double[]){ 1, 0, 2, 0, 3, 4 }), 6 * sizeof(double));
    free(flat);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(refs_share_nodes)
{
    fp_tree tree;
    open_doc("{\"layers\": [{\"weight\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": [1, 2]}},"
             " {\"weight\": {\"$ref\": \"/layers/0/weight\"}, \"bias\": [5]}],"
             " \"c\": {\"$ref\": \"/b\"}, \"b\": {\"$ref\": \"/a~1b~0\"}, \"a/b~\": {\"w\": [7]}}", &tree);
    const fp_node *w = at(tree.root, "/layers/0/weight");
    ck_assert_ptr_eq(at(tree.root, "/layers/1/weight"), w);
    ck_assert_int_eq(w->refs, 2);
    const fp_node *module = fp_map_get(tree.root, "a/b~");
    ck_assert_ptr_eq(fp_map_get(tree.root, "b"), module);   /* through ~1 and ~0 */
    ck_assert_ptr_eq(fp_map_get(tree.root, "c"), module);   /* transitively */
    ck_assert_int_eq(module->refs, 3);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_uint_eq(layout.n_params, 3);                /* weight once, bias, the module's w once */
    ck_assert_uint_eq(layout.n_elems, 4);
    ck_assert_str_eq(layout.params[0].path, "/layers/0/weight");
    ck_assert_str_eq(layout.params[2].path, "/c/w");      /* first occurrence in file order */
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(errors_name_the_path)
{
    char deep[4000], deep_maps[8000];
    int n = 0;
    n += sprintf(deep + n, "{\"a\": ");
    for (int i = 0; i < 600; i++)
        deep[n++] = '[';
    for (int i = 0; i < 600; i++)
        deep[n++] = ']';
    sprintf(deep + n, "}");
    n = 0;
    for (int i = 0; i < 600; i++)
        n += sprintf(deep_maps + n, "{\"k\": ");
    n += sprintf(deep_maps + n, "1");
    for (int i = 0; i < 600; i++)
        deep_maps[n++] = '}';
    deep_maps[n] = 0;
    char rank33[200] = "{\"w\": ";
    for (int i = 0; i < 33; i++) strcat(rank33, "[");
    strcat(rank33, "1");
    for (int i = 0; i < 33; i++) strcat(rank33, "]");
    strcat(rank33, "}");

    static const struct { const char *json, *needle; } cases[] = {
        { "{\"layers\": [{\"weight\": [[1, 2], [3, 4, 5]]}]}",
          ": /layers/0/weight: ragged array: row 1 has 3 elements, expected 2" },
        { "{\"w\": [[[1, 2], [3, 4]], [[5, 6], [7]]]}", ": /w: ragged array: row 1/1 has 1 element, expected 2" },
        { "{\"w\": [[1, 2], 3]}", ": /w: ragged array: row 1 is a number, expected 2 elements" },
        { "{\"w\": [1, [2]]}", ": /w: ragged array: element 1 is an array, expected a number" },
        { "{\n  \"a\": [1, 2,,]\n}", ": invalid JSON at line 2, column 14" },
        { "{} x", ": invalid JSON at line 1, column 4" },
        { "{\"a\": 1", ": invalid JSON at line 1, column 8" },
        { "{\"m\": {\"w\": {\"dtype\": \"float33\", \"shape\": [1], \"data\": [1]}}}",
          ": /m/w: unknown dtype \"float33\"" },
        { "{\"a\": {\"$ref\": \"/layers/9\"}, \"layers\": []}", ": /a: $ref \"/layers/9\" names no node of this file" },
        { "{\"a\": {\"$ref\": \"layers\"}}", ": /a: $ref \"layers\" is not a path" },
        { "{\"a\": {\"$ref\": \"/b\"}, \"b\": {\"$ref\": \"/a\"}}", ": /a: $ref \"/b\" forms a cycle" },
        { "{\"a\": {\"x\": {\"$ref\": \"/a\"}}}", ": /a/x: $ref \"/a\" forms a cycle" },
        { "{\"$ref\": \"/a\"}", ": /: the root cannot be a $ref" },
        { "{\"a\": {\"$ref\": \"/b\", \"c\": 1}, \"b\": 1}", ": /a: an object with \"$ref\" may hold no other key" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [2, 2], \"data\": [1, 2, 3]}}",
          ": /w: tensor data has 3 elements but its shape holds 4" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data\": []}}",
          ": /w: array shape's element count overflows" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [-1], \"data\": []}}",
          ": /w: tensor shape entry 0 is not a non-negative integer" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [1.5], \"data\": []}}",
          ": /w: tensor shape entry 0 is not a non-negative integer" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": [1, \"x\"]}}",
          ": /w: data element 1 is a string, expected a number" },
        { "{\"z\": {\"dtype\": \"complex64\", \"shape\": [2], \"data\": [[1, 2, 3], [4, 5]]}}",
          ": /z: data element 0 is not an [re, im] pair" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [1], \"name\": \"x\"}}",
          ": /w: tensor object has an unexpected key \"name\"" },
        { "{\"w\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [1], \"trainable\": \"no\"}}",
          ": /w: tensor trainable is a string, expected true or false" },
        { "{\"a\": {\"b\": 1, \"c\": 2, \"b\": 3}}", ": /a/b: duplicate key" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].json, cases[i].needle);
    expect_error(deep, ": /a/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/");
    expect_error(deep, "/0/0/0/.../0/0/0/");
    expect_error(deep, "/0/0/0/0: nesting deeper than 512 levels");
    expect_error(deep_maps, ": /k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/");
    expect_error(deep_maps, "/k/k/.../k/k/");
    expect_error(deep_maps, "/k/k: nesting deeper than 512 levels");
    expect_error(rank33, ": /w: array rank 33 is beyond the supported 32");
    fp_tree tree;
    fp_error err;
    const char *path = tmpfile_in("nul.json");
    ck_assert_int_eq(write_file(path, "{\"a\":\0}", 7), 0);
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    ck_assert(strstr(err.msg, ": invalid JSON at line 1, column 6"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *read = tcase_create("read");
    tcase_add_test(read, probe);
    tcase_add_test(read, seed_flattens_to_its_float32_values);
    tcase_add_test(read, mlp_bn_counts);
    tcase_add_test(read, settings_and_marks);
    tcase_add_test(read, bare_arrays_and_lists);
    tcase_add_test(read, mixed_arrays_are_lists);
    tcase_add_test(read, tensor_objects);
    tcase_add_test(read, integers_must_fit_their_dtype);
    tcase_add_test(read, complex_and_promotion);
    tcase_add_test(read, refs_share_nodes);
    tcase_add_test(read, errors_name_the_path);
    suite_add_tcase(s, read);
    suite_add_tcase(s, json_write_tcase());
    suite_add_tcase(s, json_parse_tcase());
    return run_suite(s);
}
