/* formats/hdf5*.c, reading: the fixtures of testdata/make_hdf5_fixtures.py
 * against the layouts and flat vectors numpy computed, the tree's settings,
 * links and sharing, and the corpus of real and hostile files
 * (testdata/corpus). Writing and patching are in test_hdf5_write.c. */
#define H5_USE_110_API
#include <hdf5.h>

#include "test_hdf5.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers shared with test_hdf5_write.c */

void h5t_open(const char *path, fp_tree *tree)
{
    fp_error err = { "" };
    if (fp_tree_open(path, tree, &err) < 0)
        ck_abort_msg("opening %s: %s", path, err.msg);
}

void h5t_open_fails(const char *path, const char *needle)
{
    fp_tree tree;
    fp_error err = { "" };
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "message does not start with the file: %s", err.msg);
    ck_assert_msg(!needle || strstr(err.msg, needle), "expected '%s' in: %s", needle, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
}

fp_node *h5t_at(fp_node *node, const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save, *name = strtok_r(buf, "/", &save); name && node; name = strtok_r(NULL, "/", &save)) {
        if (node->kind == FP_MAP) {
            node = fp_map_get(node, name);
        } else if (node->kind == FP_LIST) {
            size_t i = (size_t)strtoul(name, NULL, 10);
            node = i < node->n_children ? node->children[i] : NULL;
        } else {
            node = NULL;
        }
    }
    return node;
}

static void *read_own(const fp_node *arr)
{
    void *buf = malloc(fp_array_bytes(arr) + 1);
    fp_error err = { "" };
    ck_assert_ptr_nonnull(buf);
    if (fp_array_read(arr, buf, arr->dtype, &err) < 0)
        ck_abort_msg("reading %s: %s", arr->origin ? arr->origin : "?", err.msg);
    return buf;
}

void h5t_assert_same(const fp_node *a, const fp_node *b, const char *path)
{
    ck_assert_msg(b, "%s: missing", path);
    ck_assert_msg(a->kind == b->kind, "%s: kind %d vs %d", path, a->kind, b->kind);
    ck_assert_msg((!a->type && !b->type) || (a->type && b->type && !strcmp(a->type, b->type)),
                  "%s: type %s vs %s", path, a->type ? a->type : "-", b->type ? b->type : "-");
    ck_assert_msg(a->trainable == b->trainable, "%s: trainable differs", path);
    ck_assert_msg(a->n_children == b->n_children, "%s: %zu vs %zu children", path,
                  a->n_children, b->n_children);
    char child_path[1024];
    for (size_t i = 0; i < a->n_children; i++) {
        if (a->kind == FP_MAP) {
            snprintf(child_path, sizeof child_path, "%s/%s", path, a->keys[i]);
            h5t_assert_same(a->children[i], fp_map_get(b, a->keys[i]), child_path);
        } else {
            snprintf(child_path, sizeof child_path, "%s/%zu", path, i);
            h5t_assert_same(a->children[i], b->children[i], child_path);
        }
    }
    switch (a->kind) {
    case FP_ARRAY: {
        ck_assert_msg(a->dtype == b->dtype, "%s: dtype %s vs %s", path,
                      fp_dtype_name(a->dtype), fp_dtype_name(b->dtype));
        ck_assert_int_eq(a->rank, b->rank);
        ck_assert_uint_eq(a->n_elems, b->n_elems);
        for (int i = 0; i < a->rank; i++)
            ck_assert_uint_eq(a->shape[i], b->shape[i]);
        void *x = read_own(a), *y = read_own(b);
        ck_assert_msg(!memcmp(x, y, fp_array_bytes(a)), "%s: values differ", path);
        free(x);
        free(y);
        break;
    }
    case FP_STRING: ck_assert_str_eq(a->str, b->str); break;
    case FP_NUMBER: ck_assert_msg(a->number == b->number, "%s: %g vs %g", path, a->number, b->number); break;
    case FP_BOOLEAN: ck_assert_int_eq(a->boolean, b->boolean); break;
    default: break;
    }
}

static int fill_from_tree(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    (void)ctx;
    return fp_array_read(arr, dst, arr->dtype, err);
}

const fp_array_source h5t_tree_source = { fill_from_tree, NULL };

const char *h5t_write(const fp_node *root, const char *name)
{
    const char *path = tmpfile_in(name);
    fp_error err = { "" };
    if (fp_format_hdf5.write(path, root, &h5t_tree_source, &err) < 0)
        ck_abort_msg("writing %s: %s", path, err.msg);
    return path;
}

/* ---- fixtures against numpy */

/* The layout with --all and the flat vector, as NAME.layout.txt and NAME.flat.npy say. */
static void check_fixture_file(const char *model, const char *name)
{
    char file[256];
    fp_tree tree;
    fp_error err = { "" };
    h5t_open(model, &tree);
    fp_select all = { .all = 1 };
    fp_layout layout, trainable;
    ck_assert_int_eq(fp_layout_build(tree.root, &all, &layout, &err), 0);
    ck_assert_int_eq(fp_layout_build(tree.root, NULL, &trainable, &err), 0);

    snprintf(file, sizeof file, "hdf5/%s.layout.txt", name);
    char *text = read_file(testdata(file), NULL), *save;
    ck_assert_ptr_nonnull(text);
    char *line = strtok_r(text, "\n", &save);
    ck_assert_str_eq(line + strlen("dtype "), fp_dtype_name(layout.dtype));
    size_t i = 0, n_trainable = 0;
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        char path[512];
        unsigned long long offset, n;
        int is_trainable;
        ck_assert_int_eq(sscanf(line, "%511s %llu %llu %d", path, &offset, &n, &is_trainable), 4);
        ck_assert_uint_lt(i, layout.n_params);
        ck_assert_str_eq(layout.params[i].path, path);
        ck_assert_uint_eq(layout.params[i].offset, offset);
        ck_assert_uint_eq(layout.params[i].n_elems, n);
        ck_assert_int_eq(layout.params[i].trainable, is_trainable);
        if (is_trainable) {
            ck_assert_uint_lt(n_trainable, trainable.n_params);
            ck_assert_str_eq(trainable.params[n_trainable++].path, path);
        }
    }
    ck_assert_uint_eq(i, layout.n_params);
    ck_assert_uint_eq(n_trainable, trainable.n_params);
    free(text);

    /* Values: each array read as f64 (or c128) must equal numpy's. */
    snprintf(file, sizeof file, "hdf5/%s.flat.npy", name);
    double *expected;
    size_t n_expected = read_npy_f64(testdata(file), &expected, NULL, NULL);
    int is_complex = fp_dtype_is_complex(layout.dtype);
    ck_assert_uint_eq(n_expected, layout.n_elems * (is_complex ? 2 : 1));
    double *flat = malloc((n_expected + 1) * sizeof *flat);
    for (i = 0; i < layout.n_params; i++) {
        const fp_param *p = &layout.params[i];
        double *at = flat + p->offset * (is_complex ? 2 : 1);
        if (fp_array_read(p->node, at, is_complex ? FP_C128 : FP_F64, &err) < 0)
            ck_abort_msg("%s", err.msg);
    }
    for (i = 0; i < n_expected; i++)
        ck_assert_msg(flat[i] == expected[i], "%s: element %zu: %.17g vs %.17g", name, i,
                      flat[i], expected[i]);
    free(flat);
    free(expected);
    fp_layout_free(&layout);
    fp_layout_free(&trainable);
    fp_tree_free(&tree);
}

static void check_fixture(const char *name)
{
    char file[256];
    snprintf(file, sizeof file, "hdf5/%s.h5", name);
    check_fixture_file(testdata(file), name);
}

static const char *const fixtures[] = {
    "nested", "order", "types", "complex", "shared", "batchnorm", "links",
};

START_TEST(fixture_layouts_and_values)
{
    check_fixture(fixtures[_i]);
}
END_TEST

START_TEST(nested_lists_and_types)
{
    fp_tree tree;
    h5t_open(testdata("hdf5/nested.h5"), &tree);
    ck_assert_str_eq(tree.root->type, "Chain");
    ck_assert_str_eq(tree.root->keys[0], "type");   /* attributes before links */
    fp_node *layers = h5t_at(tree.root, "/layers");
    ck_assert_int_eq(layers->kind, FP_LIST);
    ck_assert_uint_eq(layers->n_children, 12);
    for (size_t i = 0; i < 12; i++) {
        fp_node *layer = layers->children[i];
        ck_assert_str_eq(layer->type, "Dense");
        ck_assert_str_eq(layer->keys[1], "bias");
        char origin[64];
        snprintf(origin, sizeof origin, "/layers/%zu/weight", i);
        ck_assert_str_eq(fp_map_get(layer, "weight")->origin, origin);
    }
    fp_node *blocks = h5t_at(tree.root, "/blocks");
    ck_assert_int_eq(blocks->kind, FP_MAP);
    ck_assert_str_eq(blocks->keys[0], "a10");
    fp_tree_free(&tree);
}
END_TEST

/* Tracked creation order wins over names that look like list indices: /stack
 * (2, 1, 0, created in that order) is a map in that order, /seq (0, 1) a list. */
START_TEST(creation_order_over_indices)
{
    fp_tree tree;
    h5t_open(testdata("hdf5/order.h5"), &tree);
    fp_node *stack = h5t_at(tree.root, "/stack"), *seq = h5t_at(tree.root, "/seq");
    ck_assert_int_eq(stack->kind, FP_MAP);
    ck_assert_uint_eq(stack->n_children, 3);
    ck_assert_str_eq(stack->keys[0], "2");
    ck_assert_str_eq(stack->keys[2], "0");
    ck_assert_int_eq(seq->kind, FP_LIST);
    ck_assert_uint_eq(seq->n_children, 2);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(types_and_laziness)
{
    fp_tree tree;
    fp_error err = { "" };
    h5t_open(testdata("hdf5/types.h5"), &tree);
    static const struct { const char *path; fp_dtype dtype; int rank; } want[] = {
        { "/be32", FP_F32, 2 }, { "/be64", FP_F64, 1 }, { "/bytes", FP_U8, 1 },
        { "/empty", FP_F32, 2 }, { "/gzip", FP_F32, 2 }, { "/half", FP_F16, 1 },
        { "/ints32", FP_I32, 2 }, { "/ints64", FP_I64, 1 }, { "/mask", FP_BOOL, 1 },
        { "/scalar", FP_F64, 0 }, { "/brain", FP_BF16, 1 }, { "/half_be", FP_F16, 1 },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        fp_node *arr = h5t_at(tree.root, want[i].path);
        ck_assert_msg(arr && arr->kind == FP_ARRAY, "%s", want[i].path);
        ck_assert_msg(arr->dtype == want[i].dtype, "%s: %s", want[i].path, fp_dtype_name(arr->dtype));
        ck_assert_int_eq(arr->rank, want[i].rank);
        /* Metadata only: nothing was read, and reading keeps nothing. */
        ck_assert_ptr_null(arr->data);
        ck_assert_ptr_nonnull(arr->load);
    }
    ck_assert_uint_eq(h5t_at(tree.root, "/empty")->n_elems, 0);
    ck_assert_uint_eq(h5t_at(tree.root, "/scalar")->n_elems, 1);
    int64_t ints[6];
    ck_assert_int_eq(fp_array_read(h5t_at(tree.root, "/ints32"), ints, FP_I64, &err), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(ints[i], i);
    uint8_t mask[3];
    ck_assert_int_eq(fp_array_read(h5t_at(tree.root, "/mask"), mask, FP_BOOL, &err), 0);
    ck_assert(mask[0] == 1 && mask[1] == 0 && mask[2] == 1);
    ck_assert_ptr_null(h5t_at(tree.root, "/mask")->data);
    fp_node *name = h5t_at(tree.root, "/name");
    ck_assert_int_eq(name->kind, FP_STRING);
    ck_assert_str_eq(name->str, "a setting");
    fp_node *strings = h5t_at(tree.root, "/fixed_strings");
    ck_assert_int_eq(strings->kind, FP_LIST);
    ck_assert_str_eq(strings->children[1]->str, "cde");
    static const char *const nulls[] = { "/nothing", "/rec", "/ref", "/color", "/vlen_ints" };
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        ck_assert_msg(h5t_at(tree.root, nulls[i])->kind == FP_NULL, "%s", nulls[i]);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(settings_from_attributes)
{
    fp_tree tree;
    h5t_open(testdata("hdf5/batchnorm.h5"), &tree);
    fp_node *bn = h5t_at(tree.root, "/bn");
    ck_assert_str_eq(bn->type, "BatchNorm");
    static const char *const order[] = {
        "act", "affine", "eps", "label", "momentum", "names", "padded", "type", "unicode",
        "weight_names", "beta", "gamma", "mean", "var",
    };
    ck_assert_uint_eq(bn->n_children, sizeof order / sizeof *order);
    for (size_t i = 0; i < bn->n_children; i++)
        ck_assert_str_eq(bn->keys[i], order[i]);
    ck_assert_str_eq(fp_map_get(bn, "act")->str, "relu");
    ck_assert_str_eq(fp_map_get(bn, "padded")->str, "pad");
    ck_assert_str_eq(fp_map_get(bn, "label")->str, "vlen text");
    ck_assert_str_eq(fp_map_get(bn, "unicode")->str, "μσ²");
    ck_assert_int_eq(fp_map_get(bn, "affine")->kind, FP_BOOLEAN);
    ck_assert_int_eq(fp_map_get(bn, "affine")->boolean, 1);
    ck_assert_double_eq(fp_map_get(bn, "eps")->number, 1e-5);
    ck_assert_double_eq(fp_map_get(bn, "momentum")->number, 3);
    fp_node *names = fp_map_get(bn, "names"), *empty = fp_map_get(bn, "weight_names");
    ck_assert_int_eq(names->kind, FP_LIST);
    ck_assert_uint_eq(names->n_children, 2);
    ck_assert_str_eq(names->children[1]->str, "beta");
    ck_assert_int_eq(empty->kind, FP_LIST);
    ck_assert_uint_eq(empty->n_children, 0);
    fp_node *grid = h5t_at(tree.root, "/dense/grid");
    ck_assert_int_eq(grid->kind, FP_LIST);
    ck_assert_uint_eq(grid->n_children, 2);
    ck_assert_int_eq(grid->children[1]->kind, FP_LIST);
    ck_assert_double_eq(grid->children[1]->children[0]->number, 3);
    ck_assert_int_eq(h5t_at(tree.root, "/dense/none")->kind, FP_NULL);
    ck_assert_int_eq(h5t_at(tree.root, "/dense/frozen")->trainable, 0);
    ck_assert_int_eq(h5t_at(tree.root, "/dense/w")->trainable, 1);
    ck_assert_int_eq(h5t_at(tree.root, "/off")->trainable, 0);
    ck_assert_int_eq(h5t_at(tree.root, "/off/trainable")->kind, FP_BOOLEAN);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(hard_and_soft_links_share)
{
    fp_tree tree;
    h5t_open(testdata("hdf5/shared.h5"), &tree);
    fp_node *enc = h5t_at(tree.root, "/enc/weight"), *dec = h5t_at(tree.root, "/dec/weight");
    ck_assert_ptr_eq(enc, dec);
    ck_assert_int_eq(enc->refs, 2);
    fp_tree_free(&tree);

    h5t_open(testdata("hdf5/links.h5"), &tree);
    ck_assert_ptr_eq(h5t_at(tree.root, "/a/w"), h5t_at(tree.root, "/b/alias"));
    ck_assert_int_eq(h5t_at(tree.root, "/b/gone")->kind, FP_NULL);
    ck_assert_ptr_null(h5t_at(tree.root, "/b/kind"));
    fp_tree_free(&tree);

    h5t_open(testdata("hdf5/shared.h5"), &tree);
    fp_node *block = h5t_at(tree.root, "/enc/block");
    ck_assert_int_eq(block->kind, FP_MAP);
    ck_assert_ptr_eq(block, h5t_at(tree.root, "/dec/block"));
    fp_tree_free(&tree);
}
END_TEST

START_TEST(refused_links)
{
    h5t_open_fails(testdata("hdf5/extlink.h5"), ": /x: external link to missing.h5:/y refused (use --allow-external)");
    h5t_open_fails(testdata("hdf5/extlink_ok.h5"), ": /w: external link to links.h5:/a/w refused");
    h5t_open_fails(testdata("hdf5/cycle.h5"), ": /g/loop: link makes a cycle");
    h5t_open_fails(testdata("hdf5/softcycle.h5"), ": /g/up: link makes a cycle");
    fp_allow_external = 1;
    h5t_open_fails(testdata("hdf5/extlink.h5"), ": /x: dangling external link");
    /* Allowed, an external link is followed (HDF5 looks beside the parent file). */
    fp_tree tree, target;
    h5t_open(testdata("hdf5/extlink_ok.h5"), &tree);
    h5t_open(testdata("hdf5/links.h5"), &target);
    h5t_assert_same(h5t_at(target.root, "/a/w"), h5t_at(tree.root, "/w"), "/w");
    /* its bytes are in links.h5, not at that offset of extlink_ok.h5: flatten
     * must not take the raw path there */
    ck_assert_int_eq(h5t_at(tree.root, "/w")->raw_offset, -1);
    run_result flat = run_fpv(NULL, "flatten", testdata("hdf5/extlink_ok.h5"), "--allow-external",
                              NULL),
               want = run_fpv(NULL, "flatten", testdata("hdf5/links.h5"), NULL);
    ck_assert_msg(flat.status == 0, "%s", flat.err);
    ck_assert_str_eq(flat.out, want.out);
    run_free(&flat);
    run_free(&want);
    /* ... but never written through when patching. */
    fp_error err = { "" };
    const char *copy = tmpfile_in("extlink_ok.h5");
    void *patch;
    float values[3] = { 0 };
    ck_assert_int_eq(fp_copy_file(tree.path, copy, &err), 0);
    ck_assert_int_eq(fp_format_hdf5.patch_open(copy, &tree, &patch, &err), 0);
    ck_assert_int_eq(fp_format_hdf5.patch_array(patch, h5t_at(tree.root, "/w"), values, &err), -1);
    ck_assert_msg(strstr(err.msg, "extlink_ok.h5: /w: "), "%s", err.msg);
    ck_assert_int_eq(fp_format_hdf5.patch_close(patch, 0, &err), 0);
    fp_tree_free(&target);
    fp_tree_free(&tree);
    fp_allow_external = 0;
}
END_TEST

/* ---- the corpus */

START_TEST(corpus_types_and_userblock)
{
    fp_tree tree;
    fp_error err = { "" };
    h5t_open(corpus("hdf5/types_dset.h5"), &tree);
    ck_assert_uint_eq(tree.root->n_children, 20);
    for (size_t i = 0; i < tree.root->n_children; i++) {
        const char *name = tree.root->keys[i];
        fp_node *arr = tree.root->children[i];
        ck_assert_int_eq(arr->kind, FP_ARRAY);
        /* "H5T_IEEE_F32BE", "H5T_STD_U16LE": class letter, then bits. */
        int is_float = !strncmp(name, "H5T_IEEE_", 9);
        const char *klass = name + (is_float ? 9 : 8);
        int is_unsigned = arr->dtype == FP_U8 || arr->dtype == FP_U16 || arr->dtype == FP_U32
                       || arr->dtype == FP_U64;
        ck_assert_uint_eq(fp_dtype_size(arr->dtype), (size_t)atoi(klass + 1) / 8);
        ck_assert_int_eq(fp_dtype_is_float(arr->dtype), is_float);
        ck_assert_int_eq(is_unsigned, *klass == 'U');
        double values[10];
        ck_assert_int_eq(fp_array_read(arr, values, FP_F64, &err), 0);
        for (int k = 0; k < 10; k++)
            ck_assert_double_eq(values[k], k);
    }
    fp_tree_free(&tree);
    h5t_open(corpus("hdf5/test_userblock_earliest.hdf5"), &tree);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    ck_assert_uint_eq(tree.root->n_children, 0);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(corpus_external)
{
    h5t_open_fails(corpus("hdf5/tall.h5"), ": /g1/g1.2/extlink: external link to somefile:somepath refused");
    h5t_open_fails(corpus("hdf5/h5ex_d_extern.h5"), ": /DS1: raw data stored in external file");
    fp_allow_external = 1;
    h5t_open_fails(corpus("hdf5/tall.h5"), ": /g1/g1.2/extlink: dangling external link");
    /* Allowed, the metadata loads; the data file is not shipped, so reading fails. */
    fp_tree tree;
    fp_error err = { "" };
    h5t_open(corpus("hdf5/h5ex_d_extern.h5"), &tree);
    fp_node *ds = h5t_at(tree.root, "/DS1");
    void *buf = malloc(fp_array_bytes(ds));
    ck_assert_int_eq(fp_array_read(ds, buf, ds->dtype, &err), -1);
    ck_assert_msg(strstr(err.msg, "h5ex_d_extern.h5: /DS1: cannot read data"), "%s", err.msg);
    free(buf);
    fp_tree_free(&tree);
    fp_allow_external = 0;
}
END_TEST

START_TEST(corpus_hostile)
{
    h5t_open_fails(corpus("hdf5/notahdf5file.h5"), "not a model file");
    h5t_open_fails(corpus("hdf5/cve-2018-13874.h5"), "cannot open as HDF5: truncated file");
    h5t_open_fails(corpus("hdf5/cve-2020-10812.h5"), "addr overflow");
    /* libhdf5 itself may segfault on this one (it depends on what malloc left
     * in memory); fp_tree_open reads it in a child process first. */
    h5t_open_fails(corpus("hdf5/cve-2018-13869.h5"), NULL);
    /* Chunk dimension 0: 1.10.8 refuses it when the dataset is opened, so the
     * tree fails with one message (with other libraries, the read would). */
    fp_tree tree;
    fp_error err = { "" };
    const char *path = corpus("hdf5/cve-2018-17237.h5");
    if (fp_tree_open(path, &tree, &err) == 0) {
        fp_layout layout;
        ck_assert_int_eq(fp_layout_build(tree.root, NULL, &layout, &err), 0);
        int failed = 0;
        for (size_t i = 0; i < layout.n_params; i++) {
            void *buf = malloc(fp_array_bytes(layout.params[i].node) + 1);
            failed |= fp_array_read(layout.params[i].node, buf, FP_F64, &err) < 0;
            free(buf);
        }
        ck_assert(failed);
        fp_layout_free(&layout);
        fp_tree_free(&tree);
    } else {
        ck_assert_msg(strstr(err.msg, "/Dataset1: cannot open dataset: chunk dimension"), "%s", err.msg);
    }
}
END_TEST

START_TEST(corpus_cli_errors)
{
    run_result r = run_fpv(NULL, "flatten", corpus("hdf5/tall.h5"), NULL);
    assert_error_line(&r, "external link to somefile:somepath refused");
    run_free(&r);
    r = run_fpv(NULL, "modules", corpus("hdf5/cve-2018-13869.h5"), NULL);
    assert_error_line(&r, "cve-2018-13869.h5");
    run_free(&r);
}
END_TEST

static int read_every_array(const fp_node *node, const char *path, int depth, int first,
                            int trainable, void *count)
{
    (void)depth; (void)trainable;
    if (!first || node->kind != FP_ARRAY)
        return 0;
    free(read_own(node));
    (void)path;
    ++*(int *)count;
    return 0;
}

START_TEST(corpus_keras_loads)
{
    DIR *dir = opendir(corpus("keras"));
    ck_assert_ptr_nonnull(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 3, ".h5"))
            continue;
        char name[300];
        snprintf(name, sizeof name, "keras/%s", e->d_name);
        fp_tree tree;
        fp_error err = { "" };
        /* Read as generic HDF5, whatever format the registry would pick. */
        tree = (fp_tree){ .format = &fp_format_hdf5, .path = strdup(corpus(name)) };
        if (fp_format_hdf5.read(&tree, &err) < 0)
            ck_abort_msg("%s", err.msg);
        int arrays = 0;
        fp_tree_walk(tree.root, read_every_array, &arrays);
        ck_assert_msg(arrays > 0, "%s: no arrays", name);
        fp_tree_free(&tree);
        files++;
    }
    closedir(dir);
    ck_assert_int_ge(files, 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hdf5");
    TCase *read = tcase_create("read");
    tcase_add_loop_test(read, fixture_layouts_and_values, 0, (int)(sizeof fixtures / sizeof *fixtures));
    tcase_add_test(read, nested_lists_and_types);
    tcase_add_test(read, creation_order_over_indices);
    tcase_add_test(read, types_and_laziness);
    tcase_add_test(read, settings_from_attributes);
    tcase_add_test(read, hard_and_soft_links_share);
    tcase_add_test(read, refused_links);
    suite_add_tcase(s, read);
    TCase *corpus_case = tcase_create("corpus");
    tcase_set_timeout(corpus_case, 60);
    tcase_add_test(corpus_case, corpus_types_and_userblock);
    tcase_add_test(corpus_case, corpus_external);
    tcase_add_test(corpus_case, corpus_hostile);
    tcase_add_test(corpus_case, corpus_cli_errors);
    tcase_add_test(corpus_case, corpus_keras_loads);
    suite_add_tcase(s, corpus_case);
    h5t_add_write_tests(s);
    return run_suite(s);
}
