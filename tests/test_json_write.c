/* formats/json_write.c: trees written as JSON read back the same, bit for bit,
 * sharing included; and what cannot be written is refused with its path. */
#include "harness.h"
#include "flatparams.h"
#include "test_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fill_from_tree(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    if (ctx)
        ++*(int *)ctx;
    return fp_array_read(arr, dst, arr->dtype, err);
}

static char *write_tree(const fp_node *root, const char *name, int *n_fills)
{
    fp_array_source src = { fill_from_tree, n_fills };
    fp_error err = { "" };
    const char *path = tmpfile_in(name);
    ck_assert_msg(fp_format_json.write(path, root, &src, &err) == 0, "%s", err.msg);
    size_t len;
    char *text = read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    return text;
}

/* Same structure, kinds, keys, types, marks, values (bit for bit) and sharing. */
typedef struct pairing { const fp_node *a[256], *b[256]; int n; } pairing;

static void assert_same_tree(const fp_node *a, const fp_node *b, pairing *pairs, const char *where)
{
    ck_assert_msg(a->kind == b->kind, "%s: kind %d vs %d", where, a->kind, b->kind);
    ck_assert_msg(a->trainable == b->trainable, "%s: trainable", where);
    ck_assert_msg((a->refs > 1) == (b->refs > 1), "%s: sharing %d vs %d", where, a->refs, b->refs);
    if (a->refs > 1) {
        for (int i = 0; i < pairs->n; i++) {
            if (pairs->a[i] == a) {
                ck_assert_msg(pairs->b[i] == b, "%s: shared with a different node", where);
                return;
            }
        }
        ck_assert_int_lt(pairs->n, 256);
        pairs->a[pairs->n] = a;
        pairs->b[pairs->n++] = b;
    }
    ck_assert_msg(!a->type == !b->type && (!a->type || !strcmp(a->type, b->type)), "%s: type", where);
    switch (a->kind) {
    case FP_MAP:
    case FP_LIST:
        ck_assert_msg(a->n_children == b->n_children, "%s: %zu vs %zu children", where,
                      a->n_children, b->n_children);
        for (size_t i = 0; i < a->n_children; i++) {
            char child[512];
            if (a->kind == FP_MAP) {
                ck_assert_str_eq(a->keys[i], b->keys[i]);
                snprintf(child, sizeof child, "%s/%s", where, a->keys[i]);
            } else {
                snprintf(child, sizeof child, "%s/%zu", where, i);
            }
            assert_same_tree(a->children[i], b->children[i], pairs, child);
        }
        break;
    case FP_ARRAY: {
        ck_assert_msg(a->dtype == b->dtype && a->rank == b->rank, "%s: dtype/rank", where);
        ck_assert_msg(!memcmp(a->shape, b->shape, sizeof a->shape[0] * (size_t)a->rank), "%s: shape", where);
        size_t bytes = fp_array_bytes(a);
        char *x = malloc(bytes + 1), *y = malloc(bytes + 1);
        fp_error err;
        ck_assert_int_eq(fp_array_read(a, x, a->dtype, &err), 0);
        ck_assert_int_eq(fp_array_read(b, y, b->dtype, &err), 0);
        ck_assert_msg(!memcmp(x, y, bytes), "%s: values differ", where);
        free(x);
        free(y);
        break;
    }
    case FP_STRING:  ck_assert_str_eq(a->str, b->str); break;
    case FP_NUMBER:
        ck_assert_msg(!memcmp(&a->number, &b->number, sizeof a->number), "%s: %.17g vs %.17g",
                      where, a->number, b->number);
        break;
    case FP_BOOLEAN: ck_assert_int_eq(a->boolean, b->boolean); break;
    case FP_NULL:    break;
    }
}

/* Writes, reads back, compares; and a second write is byte-identical. */
static void assert_round_trip(const fp_node *root)
{
    char *first = write_tree(root, "first.json", NULL);
    fp_tree back;
    fp_error err = { "" };
    ck_assert_msg(fp_tree_open(tmpfile_in("first.json"), &back, &err) == 0, "%s\n%s", err.msg, first);
    pairing pairs = { .n = 0 };
    assert_same_tree(root, back.root, &pairs, "");
    char *second = write_tree(back.root, "second.json", NULL);
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
    fp_tree_free(&back);
}

START_TEST(seed_writes_its_document)
{
    fp_tree tree;
    fp_error err;
    ck_assert_int_eq(fp_tree_open(testdata("seed.json"), &tree, &err), 0);
    int n_fills = 0;
    char *text = write_tree(tree.root, "seed.json", &n_fills);
    ck_assert_int_eq(n_fills, 4);
    ck_assert_msg(strstr(text, "\n  \"layers\": [\n    {\n      \"type\": \"Dense\",\n      \"weight\": "
                               "{\"dtype\": \"float32\", \"shape\": [1, 2], \"data\": [0.863101, 1.2454957]},"),
                  "%s", text);
    ck_assert(strstr(text, "\"data\": [-1.6345707]}"));
    free(text);
    assert_round_trip(tree.root);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(round_trip_everything)
{
    fp_tree tree;
    open_doc("{\"type\": \"Chain\", \"layers\": ["
             " {\"type\": \"Dense\", \"weight\": {\"dtype\": \"float16\", \"shape\": [2, 3],"
             "  \"data\": [\"NaN\", \"Infinity\", \"-Infinity\", 6e-8, -0.0, 65504]},"
             "  \"bias\": [0.1, -0.0, 5e-324], \"activation\": \"tanh\"},"
             " {\"type\": \"BatchNorm\", \"gamma\": {\"dtype\": \"bfloat16\", \"shape\": [2], \"data\": [3.14, -1e30]},"
             "  \"mean\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": [1e-45, 3.4028235e38]},"
             "  \"var\": {\"dtype\": \"float64\", \"shape\": [2], \"data\": [1, \"NaN\"]}, \"eps\": 1e-5},"
             " {\"$ref\": \"/layers/0\"}],"
             " \"tied\": {\"$ref\": \"/layers/0/weight\"},"
             " \"z\": {\"dtype\": \"complex128\", \"shape\": [1], \"data\": [[0.1, -2.5e-310]]},"
             " \"zz\": {\"dtype\": \"complex64\", \"shape\": [], \"data\": [\"Infinity\", 0.3]},"
             " \"steps\": {\"dtype\": \"int64\", \"shape\": [2], \"data\": [-9007199254740992, 42]},"
             " \"u8\": {\"dtype\": \"uint8\", \"shape\": [2], \"data\": [0, 255]},"
             " \"mask\": {\"dtype\": \"bool\", \"shape\": [2], \"data\": [true, false]},"
             " \"scalar\": {\"dtype\": \"float64\", \"shape\": [], \"data\": 3.5},"
             " \"empty\": {\"dtype\": \"float64\", \"shape\": [0, 3], \"data\": []},"
             " \"frozen\": {\"dtype\": \"float64\", \"shape\": [2], \"data\": [1, 2], \"trainable\": false},"
             " \"frozen_map\": {\"trainable\": false, \"w\": [1.5]},"
             " \"settings\": {\"name\": \"q\\\"uo\\\\te\\n\\u0001\\u00e9/\", \"n\": -0.0, \"big\": 1e308,"
             "  \"inf\": 1e999, \"t\": true, \"f\": false, \"nil\": null, \"obj\": {}},"
             " \"list\": [{\"a\": 1}, \"s\", null, [], [[]], {\"dtype\": \"float64\", \"shape\": [2], \"data\": [1, 2]}],"
             " \"a/b~c\": {\"w\": [[1, 2]]}, \"refesc\": {\"$ref\": \"/a~1b~0c/w\"},"
             " \"matrix\": [[1.5, 2.5], [3.5, 4.5]]}", &tree);
    ck_assert_int_eq(at(tree.root, "/layers/0/weight")->refs, 2);
    ck_assert_int_eq(at(tree.root, "/layers/0")->refs, 2);
    assert_round_trip(tree.root);
    int n_fills = 0;
    char *text = write_tree(tree.root, "all.json", &n_fills);
    ck_assert_int_eq(n_fills, 17);   /* each distinct array once */
    ck_assert(strstr(text, "\"tied\": {\"$ref\": \"/layers/0/weight\"}"));
    ck_assert(strstr(text, "{\"$ref\": \"/layers/0\"}"));
    ck_assert(strstr(text, "\"refesc\": {\"$ref\": \"/a~1b~0c/w\"}"));
    ck_assert(strstr(text, "\"matrix\": [[1.5, 2.5], [3.5, 4.5]]"));
    ck_assert(strstr(text, "\"bias\": [0.1, -0, 5e-324]") || strstr(text, "\"bias\": [0.1, -0.0, 5e-324]"));
    ck_assert(strstr(text, "\"data\": [\"NaN\", \"Infinity\", \"-Infinity\""));
    ck_assert(strstr(text, "\"inf\": 1e999"));
    ck_assert(strstr(text, "\"name\": \"q\\\"uo\\\\te\\n\\u0001\xc3\xa9/\""));
    free(text);
    fp_tree_free(&tree);
}
END_TEST

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static fp_node *add_array(fp_node *root, const char *key, fp_dtype dtype, uint64_t n)
{
    fp_error err;
    fp_node *arr = fp_node_new_array(dtype, 1, &n, &err);
    ck_assert_ptr_nonnull(arr);
    arr->data = malloc(fp_array_bytes(arr));
    ck_assert_int_eq(fp_node_append(root, key, arr, &err), 0);
    return arr;
}

START_TEST(values_round_trip_bit_exactly)
{
    fp_node *root = fp_node_new(FP_MAP);
    uint64_t state = 0x9e3779b97f4a7c15u;
    uint16_t *f16 = add_array(root, "f16", FP_F16, 65536 - 2046)->data;
    size_t n = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if ((h & 0x7c00) != 0x7c00 || !(h & 0x3ff))  /* every pattern but NaNs */
            f16[n++] = (uint16_t)h;
    ck_assert_uint_eq(n, 65536 - 2046);
    uint16_t *bf16 = add_array(root, "bf16", FP_BF16, 5000)->data;
    float *f32 = add_array(root, "f32", FP_F32, 20000)->data;
    double *f64 = add_array(root, "f64", FP_F64, 20000)->data;
    float *c64 = add_array(root, "c64", FP_C64, 1000)->data;
    double *c128 = add_array(root, "c128", FP_C128, 1000)->data;
    for (size_t i = 0; i < 20000; i++) {
        uint64_t bits = next_random(&state);
        uint32_t bits32 = (uint32_t)(bits >> 32);
        if (i % 7 == 0)  /* small and subnormal exponents too */
            bits &= 0x800fffffffffffffu, bits32 &= 0x807fffffu;
        memcpy(&f32[i], &bits32, 4);
        memcpy(&f64[i], &bits, 8);
        if (isnan(f32[i])) f32[i] = (float)i;
        if (!isfinite(f64[i])) f64[i] = -(double)i;    /* all finite: written bare */
        if (i < 5000) bf16[i] = isnan(fp_bf16_to_f32((uint16_t)bits)) ? 0x7f80 : (uint16_t)bits;
        if (i < 2000) c64[i] = f32[i], c128[i] = f64[i];
    }
    assert_round_trip(root);
    char *text = write_tree(root, "bits.json", NULL);
    ck_assert(strstr(text, "\"f64\": [") && strstr(text, "\"f32\": {\"dtype\": \"float32\", \"shape\": [20000], "));
    free(text);
    root->refs = 1;
    fp_node_release(root);
}
END_TEST

START_TEST(tree_marks_become_children)
{
    /* A layer type and trainable mark held outside the children (as HDF5 gives them). */
    fp_node *root = fp_node_new(FP_MAP), *layer = fp_node_new(FP_MAP);
    fp_error err;
    layer->type = strdup("BatchNorm");
    layer->trainable = 0;
    ck_assert_int_eq(fp_node_append(root, "bn", layer, &err), 0);
    add_array(layer, "gamma", FP_F32, 1);
    ((float *)fp_map_get(layer, "gamma")->data)[0] = 1.5f;
    char *text = write_tree(root, "marks.json", NULL);
    ck_assert_msg(strstr(text, "\"bn\": {\n    \"type\": \"BatchNorm\",\n    \"trainable\": false,\n"
                               "    \"gamma\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [1.5]}\n  }"),
                  "%s", text);
    fp_tree back;
    ck_assert_int_eq(fp_tree_open(tmpfile_in("marks.json"), &back, &err), 0);
    ck_assert_str_eq(at(back.root, "/bn")->type, "BatchNorm");
    ck_assert_int_eq(at(back.root, "/bn")->trainable, 0);
    fp_tree_free(&back);
    free(text);
    root->refs = 1;
    fp_node_release(root);
}
END_TEST

static void expect_write_error(const fp_node *root, const char *path, const char *needle)
{
    fp_error err = { "" };
    fp_array_source src = { fill_from_tree, NULL };
    ck_assert_int_eq(fp_format_json.write(path, root, &src, &err), -1);
    ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    ck_assert(!strchr(err.msg, '\n'));
}

START_TEST(write_errors)
{
    fp_error err;
    fp_node *root = fp_node_new(FP_MAP), *list = fp_node_new(FP_LIST);
    ck_assert_int_eq(fp_node_append(root, "list", list, &err), 0);
    memset(add_array(root, "w", FP_F64, 1000)->data, 0, 8000);
    expect_write_error(root, "/dev/full", "/dev/full: cannot write: ");
    expect_write_error(root, "/nonexistent-dir/m.json", "/nonexistent-dir/m.json: cannot create: ");

    ck_assert_int_eq(fp_node_append(list, NULL, fp_node_new_number(1), &err), 0);
    /* The writer names the path it writes; written through an fp_outfile, the
     * message then names the target, not the temporary beside it. */
    char target[512], needle[600];
    snprintf(target, sizeof target, "%s", tmpfile_in("out.json"));
    fp_outfile out;
    ck_assert_int_eq(fp_outfile_reserve(&out, target, &err), 0);
    snprintf(needle, sizeof needle, "%s: /list/0: a list holding numbers cannot be written as JSON",
             out.tmp_path);
    fp_array_source src = { fill_from_tree, NULL };
    ck_assert_int_eq(fp_format_json.write(out.tmp_path, root, &src, &err), -1);
    ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    fp_outfile_name_target(&out, &err);
    snprintf(needle, sizeof needle, "%s: /list/0: a list holding numbers cannot be written as JSON",
             target);
    ck_assert_msg(strstr(err.msg, needle) && !strstr(err.msg, "flatparams-"), "%s", err.msg);
    fp_outfile_abort(&out);
    ck_assert(!file_exists(out.tmp_path ? out.tmp_path : target));

    fp_node *fake = fp_node_new(FP_MAP);
    ck_assert_int_eq(fp_node_append(root, "fake", fake, &err), 0);
    fp_node_append(fake, "dtype", fp_node_new_string("f32"), &err);
    fp_node_append(fake, "shape", fp_node_new(FP_NULL), &err);
    fp_node_append(fake, "data", fp_node_new(FP_NULL), &err);
    fp_node *scalar = fp_node_new_string("x");
    expect_write_error(scalar, tmpfile_in("s.json"), ": /: a JSON model's root must be a map, a list or an array");
    fp_node_release(list->children[0]);
    list->n_children = 0;
    expect_write_error(root, tmpfile_in("f.json"), ": /fake: a map with keys dtype, shape and data cannot be written");
    root->refs = 1;
    fp_node_release(root);
    scalar->refs = 1;
    fp_node_release(scalar);
}
END_TEST

TCase *json_write_tcase(void)
{
    TCase *write = tcase_create("write");
    tcase_set_timeout(write, 60);
    tcase_add_test(write, seed_writes_its_document);
    tcase_add_test(write, round_trip_everything);
    tcase_add_test(write, values_round_trip_bit_exactly);
    tcase_add_test(write, tree_marks_become_children);
    tcase_add_test(write, write_errors);
    return write;
}
