/* formats/safetensors.c, writing: trees written as safetensors read back with
 * the same paths, dtypes and bytes; what the format cannot hold is refused with
 * its path; and patching (what rebuild does) keeps the header byte for byte. */
#include "harness.h"
#include "flatparams.h"
#include "test_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fill_from_tree(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    if (ctx)
        ++*(int *)ctx;
    return fp_array_read(arr, dst, arr->dtype, err);
}

static const char *write_tree(const fp_node *root, const char *name, int *n_fills)
{
    fp_array_source src = { fill_from_tree, n_fills };
    fp_error err = { "" };
    const char *path = tmpfile_in(name);
    ck_assert_msg(fp_format_safetensors.write(path, root, &src, &err) == 0, "%s", err.msg);
    return path;
}

/* Every array at the same path with the same dtype, shape and bytes. */
typedef struct array_list { char *paths[256]; const fp_node *nodes[256]; int n; } array_list;

static int list_arrays(const fp_node *node, const char *path, int depth, int first,
                       int trainable, void *ctx)
{
    (void)depth, (void)trainable;
    array_list *list = ctx;
    if (first && node->kind == FP_ARRAY && list->n < 256) {
        list->paths[list->n] = strdup(path);
        list->nodes[list->n++] = node;
    }
    return 0;
}

static void assert_same_arrays(const fp_node *a, const fp_node *b)
{
    array_list la = { .n = 0 }, lb = { .n = 0 };
    fp_tree_walk(a, list_arrays, &la);
    fp_tree_walk(b, list_arrays, &lb);
    ck_assert_int_eq(la.n, lb.n);
    fp_error err;
    for (int i = 0; i < la.n; i++) {
        const fp_node *x = la.nodes[i], *y = lb.nodes[i];
        ck_assert_str_eq(la.paths[i], lb.paths[i]);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_int_eq(x->rank, y->rank);
        ck_assert_mem_eq(x->shape, y->shape, (size_t)x->rank * sizeof *x->shape);
        ck_assert_int_eq(x->trainable, y->trainable);
        size_t bytes = fp_array_bytes(x);
        char *dx = malloc(bytes + 1), *dy = malloc(bytes + 1);
        ck_assert_int_eq(fp_array_read(x, dx, x->dtype, &err), 0);
        ck_assert_int_eq(fp_array_read(y, dy, y->dtype, &err), 0);
        ck_assert_mem_eq(dx, dy, bytes);
        free(dx), free(dy), free(la.paths[i]), free(lb.paths[i]);
    }
}

/* A tree in memory: {"a": <array of dtype with values 1..n>, ...}. */
static fp_node *array_of(fp_dtype dtype, uint64_t n)
{
    fp_error err;
    fp_node *arr = fp_node_new_array(dtype, 1, &n, &err);
    double *values = malloc((n + 1) * 2 * sizeof *values);
    for (uint64_t i = 0; i < 2 * n; i++)
        values[i] = (double)(i + 1);
    arr->data = malloc(fp_array_bytes(arr) + 1);
    fp_convert(arr->data, dtype, values, fp_dtype_is_complex(dtype) ? FP_C128 : FP_F64, n, NULL);
    free(values);
    return arr;
}

static void expect_write_error(const fp_node *root, const char *needle1, const char *needle2)
{
    fp_error err = { "" };
    fp_array_source src = { fill_from_tree, NULL };
    ck_assert_int_eq(fp_format_safetensors.write(tmpfile_in("refused.safetensors"), root, &src, &err), -1);
    ck_assert_msg(strstr(err.msg, needle1) && strstr(err.msg, needle2), "unexpected: %s", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

START_TEST(round_trip_keeps_paths_dtypes_values)
{
    fp_tree tree, back, again;
    open_ok(fixture("mixed.safetensors"), &tree);
    int n_fills = 0;
    const char *path = write_tree(tree.root, "round.safetensors", &n_fills);
    ck_assert_int_eq(n_fills, 32);                            /* every array once, depth-first */
    open_ok(path, &back);
    assert_same_arrays(tree.root, back.root);
    fp_layout a = layout_of(tree.root, 1), b = layout_of(back.root, 1);
    ck_assert_uint_eq(a.n_elems, b.n_elems);
    for (size_t i = 0; i < a.n_params; i++)
        ck_assert_str_eq(a.params[i].path, b.params[i].path);
    fp_layout_free(&a);
    fp_layout_free(&b);
    /* The header: aligned data, names in depth-first order; writing the copy
     * again gives the same bytes. */
    size_t len, len2;
    char *bytes = read_file(path, &len);
    ck_assert_uint_eq((8 + header_length(bytes)) % 8, 0);
    const char *start = "{\"norm.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                        "\"norm.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},";
    ck_assert_msg(!strncmp(bytes + 8, start, strlen(start)), "%.160s", bytes + 8);
    open_ok(write_tree(back.root, "again.safetensors", NULL), &again);
    char *bytes2 = read_file(tmpfile_in("again.safetensors"), &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(bytes, bytes2, len);
    free(bytes);
    free(bytes2);
    fp_tree_free(&again);
    fp_tree_free(&back);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(json_model_keeps_arrays_drops_settings)
{
    fp_tree tree, back;
    fp_error err;
    ck_assert_msg(fp_tree_open(testdata("seed.json"), &tree, &err) == 0, "%s", err.msg);
    open_ok(write_tree(tree.root, "seed.safetensors", NULL), &back);
    assert_same_arrays(tree.root, back.root);                  /* same paths, float32 values */
    ck_assert_int_eq(node_at(back.root, "/layers")->kind, FP_LIST);
    ck_assert_ptr_null(fp_map_get(node_at(back.root, "/layers/0"), "activation"));
    ck_assert_ptr_null(back.root->type);
    fp_tree_free(&back);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(shared_array_written_once)
{
    fp_error err;
    fp_node *root = fp_node_new(FP_MAP), *shared = array_of(FP_F32, 3);
    fp_node_append(root, "embed", shared, &err);
    fp_node_append(root, "empty", array_of(FP_F64, 0), &err);
    fp_node_append(root, "head", shared, &err);
    int n_fills = 0;
    fp_tree back;
    open_ok(write_tree(root, "tied.safetensors", &n_fills), &back);
    ck_assert_int_eq(n_fills, 2);                              /* zero-size arrays are filled too */
    ck_assert_uint_eq(back.root->n_children, 2);
    ck_assert_ptr_null(fp_map_get(back.root, "head"));
    float values[3];
    ck_assert_int_eq(fp_array_read(node_at(back.root, "/embed"), values, FP_F32, &err), 0);
    ck_assert(values[0] == 1 && values[1] == 2 && values[2] == 3);
    ck_assert_uint_eq(node_at(back.root, "/empty")->n_elems, 0);
    fp_tree_free(&back);
    root->refs = 1;
    fp_node_release(root);
}
END_TEST

START_TEST(unwritable_trees_refused_with_path)
{
    fp_error err;
    fp_node *root = fp_node_new(FP_MAP), *layer = fp_node_new(FP_MAP);
    fp_node_append(root, "layer", layer, &err);
    fp_node_append(layer, "w", array_of(FP_C128, 2), &err);
    expect_write_error(root, "/layer/w: ", "complex128");
    root->refs = 1;
    fp_node_release(root);

    root = fp_node_new(FP_MAP);
    fp_node_append(root, "v1.2", array_of(FP_F32, 1), &err);
    expect_write_error(root, "/v1.2: ", "'.'");
    root->refs = 1;
    fp_node_release(root);

    fp_node *lone = array_of(FP_F32, 2);
    expect_write_error(lone, "lone array", "named tensors");
    lone->refs = 1;
    fp_node_release(lone);

    /* complex64 is the one complex dtype the format has. */
    root = fp_node_new(FP_MAP);
    fp_node_append(root, "z", array_of(FP_C64, 2), &err);
    fp_tree back;
    open_ok(write_tree(root, "c64.safetensors", NULL), &back);
    assert_same_arrays(root, back.root);
    fp_tree_free(&back);
    root->refs = 1;
    fp_node_release(root);
}
END_TEST

/* Names that would not read back as written (issue 15): where a '/' inside
 * a key makes two paths meet, the same name twice (the reference package
 * then finds an invalid offset, flatparams a tensor named twice) or a name
 * inside another's (flatparams: a tensor inside a tensor); a key that is not
 * UTF-8 (both refuse the header); a top-level __metadata__ (the format's
 * own). convert wrote each and exited 0. */
START_TEST(names_that_would_not_read_back_refused)
{
    fp_error err;
    fp_node *root = fp_node_new(FP_MAP), *a = fp_node_new(FP_MAP);
    fp_node_append(root, "a", a, &err);
    fp_node_append(a, "b", array_of(FP_F32, 2), &err);
    fp_node_append(root, "a/b", array_of(FP_F32, 2), &err);
    expect_write_error(root, "/a/b: two arrays have this path (a key holds '/'), and safetensors "
                             "would name both 'a.b'", "");
    root->refs = 1;
    fp_node_release(root);

    root = fp_node_new(FP_MAP);
    fp_node *x = fp_node_new(FP_MAP);
    fp_node_append(root, "x", x, &err);
    fp_node_append(x, "a", array_of(FP_F32, 1), &err);
    fp_node_append(x, "a-z", array_of(FP_F32, 1), &err);   /* sorts between x.a and x.a.b.c */
    fp_node_append(x, "a/b/c", array_of(FP_F32, 1), &err);
    expect_write_error(root, "/x/a and /x/a/b/c: safetensors would name them 'x.a' and "
                             "'x.a.b.c', which read back as an array inside an array (a key "
                             "holds '/')", "");
    root->refs = 1;
    fp_node_release(root);

    root = fp_node_new(FP_MAP);
    fp_node_append(root, "w\xff\xfe", array_of(FP_F32, 1), &err);
    expect_write_error(root, "/w\\xff\\xfe: a key is not UTF-8, which safetensors names must be", "");
    root->refs = 1;
    fp_node_release(root);

    root = fp_node_new(FP_MAP);
    fp_node_append(root, "__metadata__", array_of(FP_F32, 1), &err);
    expect_write_error(root, "/__metadata__: safetensors keeps this name for the file's metadata", "");
    root->refs = 1;
    fp_node_release(root);

    /* a '/' in a key where no paths meet, and UTF-8 keys, write and read back */
    root = fp_node_new(FP_MAP);
    fp_node_append(root, "inner/kernel", array_of(FP_F32, 2), &err);
    fp_node_append(root, "d\xc3\xabnse", array_of(FP_F32, 2), &err);
    fp_tree back;
    open_ok(write_tree(root, "slash.safetensors", NULL), &back);
    ck_assert_uint_eq(node_at(back.root, "/inner/kernel")->n_elems, 2);
    ck_assert_uint_eq(node_at(back.root, "/d\xc3\xabnse")->n_elems, 2);
    fp_tree_free(&back);
    root->refs = 1;
    fp_node_release(root);
}
END_TEST

/* ---- patching: what rebuild does for a safetensors output */

START_TEST(patch_keeps_header_and_other_bytes)
{
    fp_tree tree, back;
    open_ok(fixture("mixed.safetensors"), &tree);
    fp_layout layout = layout_of(tree.root, 0);
    const char *path = tmpfile_in("patched.safetensors");
    fp_error err = { "" };
    void *patch = NULL;
    ck_assert_int_eq(fp_copy_file(tree.path, path, &err), 0);
    ck_assert_msg(fp_format_safetensors.patch_open(path, &tree, &patch, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < layout.n_params; i++) {
        const fp_param *p = &layout.params[i];
        double values[8];
        char converted[64];
        for (uint64_t k = 0; k < p->n_elems; k++)
            values[k] = (double)(p->offset + k) + 0.5;
        fp_convert(converted, p->node->dtype, values, FP_F64, p->n_elems, NULL);
        ck_assert_msg(fp_format_safetensors.patch_array(patch, p->node, converted, &err) == 0, "%s", err.msg);
    }
    ck_assert_int_eq(fp_format_safetensors.patch_close(patch, 1, &err), 0);

    size_t len_old, len_new;
    char *old_bytes = read_file(tree.path, &len_old), *new_bytes = read_file(path, &len_new);
    ck_assert_uint_eq(len_old, len_new);
    ck_assert_mem_eq(old_bytes, new_bytes, 8 + header_length(old_bytes));   /* header, metadata */
    open_ok(path, &back);
    fp_layout patched = layout_of(back.root, 0);
    double *got = flatten(&patched);
    for (uint64_t k = 0; k < patched.n_elems; k++)
        ck_assert_msg(got[k] == (double)k + 0.5, "element %llu: %g", (unsigned long long)k, got[k]);
    free(got);
    /* Non-selected arrays (running stats, integers, bool) keep their bytes. */
    const char *kept[] = { "/norm/running_mean", "/norm/running_var", "/norm/num_batches_tracked", "/mask" };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        fp_node *x = node_at(tree.root, kept[i]), *y = node_at(back.root, kept[i]);
        char dx[64], dy[64];
        ck_assert_int_eq(fp_array_read(x, dx, x->dtype, &err), 0);
        ck_assert_int_eq(fp_array_read(y, dy, y->dtype, &err), 0);
        ck_assert_mem_eq(dx, dy, fp_array_bytes(x));
    }
    fp_layout_free(&patched);
    fp_layout_free(&layout);
    free(old_bytes);
    free(new_bytes);
    fp_tree_free(&back);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(patch_refuses_foreign_arrays)
{
    fp_tree tree;
    open_ok(fixture("handmade.safetensors"), &tree);
    const char *path = tmpfile_in("foreign.safetensors");
    fp_error err = { "" };
    void *patch = NULL;
    ck_assert_int_eq(fp_copy_file(tree.path, path, &err), 0);
    ck_assert_int_eq(fp_format_safetensors.patch_open(path, &tree, &patch, &err), 0);
    fp_node *other = array_of(FP_F32, 2);
    ck_assert_int_eq(fp_format_safetensors.patch_array(patch, other, other->data, &err), -1);
    ck_assert_msg(strstr(err.msg, "not read from safetensors"), "%s", err.msg);
    ck_assert_int_eq(fp_format_safetensors.patch_close(patch, 0, &err), 0);
    other->refs = 1;
    fp_node_release(other);
    fp_tree_free(&tree);
}
END_TEST

TCase *safetensors_write_tcase(void)
{
    TCase *write = tcase_create("write");
    tcase_add_test(write, round_trip_keeps_paths_dtypes_values);
    tcase_add_test(write, json_model_keeps_arrays_drops_settings);
    tcase_add_test(write, shared_array_written_once);
    tcase_add_test(write, unwritable_trees_refused_with_path);
    tcase_add_test(write, names_that_would_not_read_back_refused);
    tcase_add_test(write, patch_keeps_header_and_other_bytes);
    tcase_add_test(write, patch_refuses_foreign_arrays);
    return write;
}
