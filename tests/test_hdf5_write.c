/* formats/hdf5*.c, writing and patching: round trips of every fixture and of
 * a tree with every kind of setting, what lands in the file (types, creation
 * order, hard links), streaming, errors, and patch-in-place keeping chunks,
 * filters, attributes and byte order. */
#define H5_USE_110_API
#include <hdf5.h>

#include "test_hdf5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fp_node *add(fp_node *parent, const char *key, fp_node *child)
{
    ck_assert_ptr_nonnull(child);
    ck_assert_int_eq(fp_node_append(parent, key, child, NULL), 0);
    return child;
}

static fp_node *array_of(fp_dtype dtype, int rank, const uint64_t *shape, const void *data)
{
    fp_node *arr = fp_node_new_array(dtype, rank, shape, NULL);
    ck_assert_ptr_nonnull(arr);
    arr->data = malloc(fp_array_bytes(arr) + 1);
    memcpy(arr->data, data, fp_array_bytes(arr));
    return arr;
}

static fp_node *numbers(int n, const double *values)
{
    fp_node *list = fp_node_new(FP_LIST);
    for (int i = 0; i < n; i++)
        add(list, NULL, fp_node_new_number(values[i]));
    return list;
}

/* ---- round trips */

static const char *const fixtures[] = {
    "nested", "order", "types", "complex", "shared", "batchnorm", "links",
};

static void assert_same_layout(const fp_node *a, const fp_node *b)
{
    fp_select all = { .all = 1 };
    fp_layout la, lb;
    ck_assert_int_eq(fp_layout_build(a, &all, &la, NULL), 0);
    ck_assert_int_eq(fp_layout_build(b, &all, &lb, NULL), 0);
    ck_assert_uint_eq(la.n_params, lb.n_params);
    ck_assert_int_eq(la.dtype, lb.dtype);
    for (size_t i = 0; i < la.n_params; i++) {
        ck_assert_str_eq(la.params[i].path, lb.params[i].path);
        ck_assert_uint_eq(la.params[i].offset, lb.params[i].offset);
        ck_assert_int_eq(la.params[i].trainable, lb.params[i].trainable);
    }
    fp_layout_free(&la);
    fp_layout_free(&lb);
}

static void assert_tracks_order(const char *path, const char *group_path)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t group = H5Gopen2(file, group_path, H5P_DEFAULT);
    hid_t gcpl = H5Gget_create_plist(group);
    unsigned links = 0, attrs = 0;
    ck_assert_int_ge(H5Pget_link_creation_order(gcpl, &links), 0);
    ck_assert_int_ge(H5Pget_attr_creation_order(gcpl, &attrs), 0);
    ck_assert_uint_eq(links, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    ck_assert_uint_eq(attrs, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    H5Pclose(gcpl);
    H5Gclose(group);
    H5Fclose(file);
}

START_TEST(fixtures_round_trip)
{
    char name[256];
    snprintf(name, sizeof name, "hdf5/%s.h5", fixtures[_i]);
    fp_tree in, out;
    h5t_open(testdata(name), &in);
    const char *path = h5t_write(in.root, "out.h5");
    h5t_open(path, &out);
    h5t_assert_same(in.root, out.root, "");
    assert_same_layout(in.root, out.root);
    assert_tracks_order(path, "/");
    fp_tree_free(&out);
    fp_tree_free(&in);
}
END_TEST

START_TEST(sharing_becomes_hard_links)
{
    fp_tree in, out;
    h5t_open(testdata("hdf5/shared.h5"), &in);
    const char *path = h5t_write(in.root, "shared.h5");
    h5t_open(path, &out);
    ck_assert_ptr_eq(h5t_at(out.root, "/enc/weight"), h5t_at(out.root, "/dec/weight"));
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5O_info_t a, b;
    ck_assert_int_ge(H5Oget_info_by_name2(file, "/enc/weight", &a, H5O_INFO_BASIC, H5P_DEFAULT), 0);
    ck_assert_int_ge(H5Oget_info_by_name2(file, "/dec/weight", &b, H5O_INFO_BASIC, H5P_DEFAULT), 0);
    ck_assert(a.addr == b.addr);
    ck_assert_uint_eq(a.rc, 2);
    H5Fclose(file);
    fp_tree_free(&out);
    fp_tree_free(&in);
}
END_TEST

/* Every kind of node, as the JSON reader would hand them over. */
static fp_node *every_kind(void)
{
    fp_node *root = fp_node_new(FP_MAP);
    root->type = strdup("Chain");
    add(root, "type", fp_node_new_string("Chain"));
    fp_node *layers = add(root, "layers", fp_node_new(FP_LIST));
    fp_node *dense = add(layers, NULL, fp_node_new(FP_MAP));
    dense->type = strdup("Dense");
    add(dense, "type", fp_node_new_string("Dense"));
    uint16_t half[4] = { 0x3c00, 0xc000, 0x0001, 0x7bff };   /* 1, -2, tiny, 65504 */
    uint16_t bf16[2] = { 0x3f80, 0x7f7f };                  /* 1, near the max */
    uint64_t shape22[2] = { 2, 2 }, shape2[1] = { 2 }, shape1[1] = { 1 }, shape0[1] = { 0 };
    fp_node *weight = add(dense, "weight", array_of(FP_F16, 2, shape22, half));
    add(dense, "bias", array_of(FP_BF16, 1, shape2, bf16));
    add(dense, "activation", fp_node_new_string("tanh"));
    fp_node *cplx = add(layers, NULL, fp_node_new(FP_MAP));
    float c64[4] = { 1, -1, 0.5f, 2 };
    double c128[2] = { -3, 4 };
    add(cplx, "weight", array_of(FP_C64, 1, shape2, c64));
    add(cplx, "bias", array_of(FP_C128, 1, shape1, c128));
    add(layers, NULL, fp_node_new_string("just a string"));
    add(layers, NULL, fp_node_new(FP_NULL));
    add(layers, NULL, numbers(3, (double[]){ 1, 2, 3 }));
    fp_node *mixed = add(layers, NULL, fp_node_new(FP_LIST));
    add(mixed, NULL, fp_node_new_string("a"));
    add(mixed, NULL, fp_node_new_number(1));
    add(layers, NULL, fp_node_new(FP_LIST));
    fp_node *nested = add(layers, NULL, fp_node_new(FP_LIST));
    add(nested, NULL, numbers(2, (double[]){ 1, 2 }));
    add(nested, NULL, numbers(1, (double[]){ 3 }));
    add(root, "tied", weight);
    add(root, "floats", numbers(2, (double[]){ 1.0, 2.5 }));
    add(root, "ints", numbers(2, (double[]){ 1, -2 }));
    add(root, "negzero", fp_node_new_number(-0.0));
    add(root, "big", fp_node_new_number(1e300));
    add(root, "flag", fp_node_new_bool(1));
    add(root, "nothing", fp_node_new(FP_NULL));
    float frozen_values[2] = { 7, 8 };
    add(root, "frozen", array_of(FP_F32, 1, shape2, frozen_values))->trainable = 0;
    double pi = 3.14159;
    add(root, "scalar", array_of(FP_F64, 0, NULL, &pi));
    add(root, "empty", array_of(FP_F32, 1, shape0, ""));
    int32_t counts[2] = { -5, 6 };
    fp_node *ilist = add(root, "ilist", fp_node_new(FP_LIST));
    add(ilist, NULL, array_of(FP_I32, 1, shape2, counts));
    ilist->trainable = 0;
    uint8_t bools[2] = { 1, 0 };
    add(root, "mask", array_of(FP_BOOL, 1, shape2, bools));
    return root;
}

static H5T_class_t attribute_class(hid_t file, const char *object, const char *name, size_t *size)
{
    hid_t attr = H5Aopen_by_name(file, object, name, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(attr, 0);
    hid_t type = H5Aget_type(attr);
    H5T_class_t klass = H5Tget_class(type);
    *size = H5Tget_size(type);
    H5Tclose(type);
    H5Aclose(attr);
    return klass;
}

START_TEST(every_kind_round_trips)
{
    fp_node *root = every_kind();
    root->refs = 1;
    const char *path = h5t_write(root, "every.h5");
    fp_tree back;
    h5t_open(path, &back);
    h5t_assert_same(root, back.root, "");
    ck_assert_ptr_eq(h5t_at(back.root, "/tied"), h5t_at(back.root, "/layers/0/weight"));
    fp_node *big = h5t_at(back.root, "/big"), *negzero = h5t_at(back.root, "/negzero");
    ck_assert_double_eq(big->number, 1e300);
    ck_assert(signbit(negzero->number));

    /* What other tools see in the file. */
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t size;
    ck_assert_int_eq(attribute_class(file, "/", "ints", &size), H5T_INTEGER);
    ck_assert_uint_eq(size, 8);
    ck_assert_int_eq(attribute_class(file, "/", "floats", &size), H5T_FLOAT);
    ck_assert_int_eq(attribute_class(file, "/", "flag", &size), H5T_ENUM);
    ck_assert_int_eq(attribute_class(file, "/", "type", &size), H5T_STRING);
    ck_assert_int_eq(attribute_class(file, "/layers/0", "type", &size), H5T_STRING);
    ck_assert_int_eq(attribute_class(file, "/layers", "2", &size), H5T_STRING);
    ck_assert_int_eq(attribute_class(file, "/frozen", "trainable", &size), H5T_INTEGER);
    ck_assert_int_eq(attribute_class(file, "/ilist", "trainable", &size), H5T_INTEGER);
    hid_t dset = H5Dopen2(file, "/layers/0/weight", H5P_DEFAULT), type = H5Dget_type(dset);
    size_t spos, epos, esize, mpos, msize;
    ck_assert_int_eq(H5Tget_class(type), H5T_FLOAT);
    ck_assert_uint_eq(H5Tget_size(type), 2);
    ck_assert_int_ge(H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize), 0);
    ck_assert(spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10);
    H5Tclose(type);
    H5Dclose(dset);
    dset = H5Dopen2(file, "/layers/1/weight", H5P_DEFAULT);
    type = H5Dget_type(dset);
    ck_assert_int_eq(H5Tget_class(type), H5T_COMPOUND);
    char *member = H5Tget_member_name(type, 1);
    ck_assert_str_eq(member, "i");
    H5free_memory(member);
    H5Tclose(type);
    H5Dclose(dset);
    H5Fclose(file);
    assert_tracks_order(path, "/layers/0");
    fp_tree_free(&back);

    /* The same tree gives the same bytes (no timestamps). */
    assert_same_bytes(path, h5t_write(root, "again.h5"));
    fp_node_release(root);
}
END_TEST

/* A layer type or trainable mark held only in the node's fields (as a format
 * without settings would hand it over) is written as an attribute and comes
 * back as a field and a child. */
START_TEST(marks_from_fields)
{
    fp_node *root = fp_node_new(FP_MAP);
    root->refs = 1;
    fp_node *conv = add(root, "conv", fp_node_new(FP_MAP));
    conv->type = strdup("Conv");
    conv->trainable = 0;
    double w = 1;
    add(conv, "w", array_of(FP_F64, 0, NULL, &w));
    fp_tree back;
    h5t_open(h5t_write(root, "marks.h5"), &back);
    fp_node *got = h5t_at(back.root, "/conv");
    ck_assert_str_eq(got->type, "Conv");
    ck_assert_int_eq(got->trainable, 0);
    ck_assert_str_eq(fp_map_get(got, "type")->str, "Conv");
    ck_assert_double_eq(fp_map_get(got, "trainable")->number, 0);
    fp_tree_free(&back);
    fp_node_release(root);
}
END_TEST

/* ---- streaming and errors */

typedef struct stream_log {
    const fp_node *seen[64];
    int n, fail_at;
} stream_log;

static int logging_fill(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    stream_log *log = ctx;
    if (log->n == log->fail_at)
        return fp_fail(err, "source: array %d is unavailable", log->n);
    log->seen[log->n++] = arr;
    return fp_array_read(arr, dst, arr->dtype, err);
}

static int expected_order(const fp_node *node, const char *path, int depth, int first,
                          int trainable, void *ctx)
{
    (void)path; (void)depth; (void)trainable;
    stream_log *want = ctx;
    if (first && node->kind == FP_ARRAY)
        want->seen[want->n++] = node;
    return 0;
}

START_TEST(arrays_stream_once_in_order)
{
    fp_node *root = every_kind();
    root->refs = 1;
    stream_log log = { .fail_at = -1 }, want = { .fail_at = -1 };
    fp_tree_walk(root, expected_order, &want);
    fp_array_source src = { logging_fill, &log };
    fp_error err = { "" };
    ck_assert_int_eq(fp_format_hdf5.write(tmpfile_in("s.h5"), root, &src, &err), 0);
    ck_assert_int_eq(log.n, want.n);   /* the tied weight once */
    for (int i = 0; i < want.n; i++)
        ck_assert_ptr_eq(log.seen[i], want.seen[i]);

    stream_log failing = { .fail_at = 2 };
    src.ctx = &failing;
    ck_assert_int_eq(fp_format_hdf5.write(tmpfile_in("f.h5"), root, &src, &err), -1);
    ck_assert_str_eq(err.msg, "source: array 2 is unavailable");
    fp_node_release(root);
}
END_TEST

START_TEST(unwritable_trees_refused)
{
    fp_error err = { "" };
    const char *path = tmpfile_in("bad.h5");
    fp_node *root = fp_node_new(FP_MAP);
    root->refs = 1;
    fp_node *layer = add(root, "layer", fp_node_new(FP_MAP));
    add(layer, "a/b", fp_node_new_number(1));
    ck_assert_int_eq(fp_format_hdf5.write(path, root, &h5t_tree_source, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.h5: /layer/a/b: this name cannot be an HDF5 member name"), "%s", err.msg);
    fp_node_release(root);

    double one = 1;
    fp_node *arr = array_of(FP_F64, 0, NULL, &one);
    arr->refs = 1;
    ck_assert_int_eq(fp_format_hdf5.write(path, arr, &h5t_tree_source, &err), -1);
    ck_assert_msg(strstr(err.msg, "its root must be a map or a list"), "%s", err.msg);
    fp_node_release(arr);

    fp_node *ok = fp_node_new(FP_MAP);
    ok->refs = 1;
    ck_assert_int_eq(fp_format_hdf5.write("/nonexistent-dir/x.h5", ok, &h5t_tree_source, &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent-dir/x.h5: cannot create"), "%s", err.msg);
    fp_node_release(ok);
}
END_TEST

/* ---- patching a copy in place */

static void assert_chunked_gzip(hid_t file)
{
    hid_t dset = H5Dopen2(file, "/gzip", H5P_DEFAULT), dcpl = H5Dget_create_plist(dset);
    ck_assert_int_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
    hsize_t chunk[2];
    ck_assert_int_eq(H5Pget_chunk(dcpl, 2, chunk), 2);
    ck_assert(chunk[0] == 8 && chunk[1] == 5);
    int deflate = 0, shuffle = 0;
    for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
        unsigned flags, config;
        size_t n_values = 4;
        unsigned values[4];
        char name[64];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_values, values, sizeof name, name, &config);
        deflate |= id == H5Z_FILTER_DEFLATE;
        shuffle |= id == H5Z_FILTER_SHUFFLE;
    }
    ck_assert(deflate && shuffle);
    char *note = NULL;
    hid_t attr = H5Aopen(dset, "note", H5P_DEFAULT), type = H5Aget_type(attr);
    ck_assert_int_ge(H5Aread(attr, type, &note), 0);
    ck_assert_str_eq(note, "compressed");
    H5free_memory(note);
    H5Tclose(type);
    H5Aclose(attr);
    H5Pclose(dcpl);
    H5Dclose(dset);
}

START_TEST(patch_keeps_everything_but_values)
{
    fp_tree tree, back;
    fp_error err = { "" };
    const char *copy = tmpfile_in("patched.h5");
    size_t n_before, n_after;
    char *before = read_file(testdata("hdf5/types.h5"), &n_before);
    h5t_open(testdata("hdf5/types.h5"), &tree);
    ck_assert_int_eq(fp_copy_file(tree.path, copy, &err), 0);
    fp_layout layout;
    fp_select all = { .all = 1 };
    ck_assert_int_eq(fp_layout_build(tree.root, &all, &layout, &err), 0);
    void *patch;
    ck_assert_int_eq(fp_format_hdf5.patch_open(copy, &tree, &patch, &err), 0);
    void **written = calloc(layout.n_params, sizeof *written);
    for (size_t i = 0; i < layout.n_params; i++) {
        const fp_node *arr = layout.params[i].node;
        double *values = malloc(arr->n_elems * sizeof *values + 1);
        ck_assert_int_eq(fp_array_read(arr, values, FP_F64, &err), 0);
        for (uint64_t k = 0; k < arr->n_elems; k++)
            values[k] = 2 * values[k] + 1;
        written[i] = malloc(fp_array_bytes(arr) + 1);
        ck_assert_int_eq(fp_convert(written[i], arr->dtype, values, FP_F64, arr->n_elems, NULL), 0);
        if (fp_format_hdf5.patch_array(patch, arr, written[i], &err) < 0)
            ck_abort_msg("%s", err.msg);
        free(values);
    }
    ck_assert_int_eq(fp_format_hdf5.patch_close(patch, 1, &err), 0);

    h5t_open(copy, &back);
    for (size_t i = 0; i < layout.n_params; i++) {
        const fp_node *arr = h5t_at(back.root, layout.params[i].path);
        void *now = malloc(fp_array_bytes(arr) + 1);
        ck_assert_int_eq(fp_array_read(arr, now, arr->dtype, &err), 0);
        ck_assert_msg(!memcmp(now, written[i], fp_array_bytes(arr)), "%s", layout.params[i].path);
        free(now);
        free(written[i]);
    }
    free(written);
    /* Non-parameters and settings are untouched. */
    h5t_assert_same(h5t_at(tree.root, "/ints32"), h5t_at(back.root, "/ints32"), "/ints32");
    h5t_assert_same(h5t_at(tree.root, "/name"), h5t_at(back.root, "/name"), "/name");
    hid_t file = H5Fopen(copy, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_chunked_gzip(file);
    hid_t dset = H5Dopen2(file, "/be32", H5P_DEFAULT), type = H5Dget_type(dset);
    ck_assert_int_eq(H5Tget_order(type), H5T_ORDER_BE);
    H5Tclose(type);
    H5Dclose(dset);
    H5Fclose(file);
    fp_tree_free(&back);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    /* The input model was never modified. */
    char *after = read_file(testdata("hdf5/types.h5"), &n_after);
    ck_assert_uint_eq(n_before, n_after);
    ck_assert(!memcmp(before, after, n_before));
    free(before);
    free(after);
}
END_TEST

/* patch_piece writes elements [first, first + n) in row-major order, whatever
 * the rank: each dataset is rewritten in random pieces (crossing rows, planes
 * and the whole), then read back whole. Chunked, compressed and big-endian
 * datasets too (rebuild sends those whole, but the pieces must still be right). */
START_TEST(patch_pieces_are_row_major_ranges)
{
    static const struct { const char *name; int rank; hsize_t dims[4]; int chunked, be; } sets[] = {
        { "v", 1, { 7 }, 0, 0 },          { "m", 2, { 5, 6 }, 0, 0 },
        { "c", 3, { 3, 4, 5 }, 0, 0 },    { "h", 4, { 2, 3, 4, 5 }, 0, 0 },
        { "z", 2, { 4, 6 }, 1, 0 },       { "b", 2, { 3, 5 }, 0, 1 },
    };
    enum { SETS = sizeof sets / sizeof sets[0] };
    const char *path = tmpfile_in("pieces.h5"), *copy = tmpfile_in("pieces-copy.h5");
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    for (int s = 0; s < SETS; s++) {
        hid_t space = H5Screate_simple(sets[s].rank, sets[s].dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (sets[s].chunked) {
            hsize_t chunk[2] = { 3, 4 };
            H5Pset_chunk(dcpl, 2, chunk);
            H5Pset_deflate(dcpl, 4);
        }
        hid_t d = H5Dcreate2(file, sets[s].name, sets[s].be ? H5T_IEEE_F32BE : H5T_IEEE_F64LE,
                             space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        double zero[120] = { 0 };
        H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zero);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(space);
    }
    H5Fclose(file);
    fp_tree tree, back;
    fp_error err = { "" };
    h5t_open(path, &tree);
    ck_assert_int_eq(fp_copy_file(tree.path, copy, &err), 0);
    void *patch;
    ck_assert_int_eq(fp_format_hdf5.patch_open(copy, &tree, &patch, &err), 0);
    srand(7);
    double want[SETS][120];
    for (int s = 0; s < SETS; s++) {
        char at[8];
        snprintf(at, sizeof at, "/%s", sets[s].name);
        const fp_node *arr = h5t_at(tree.root, at);
        uint64_t n = arr->n_elems;
        for (uint64_t first = 0, piece = 0; first < n; piece++) {
            uint64_t k = 1 + (uint64_t)rand() % (piece % 3 == 2 ? n : 7);
            k = k < n - first ? k : n - first;
            double values[120];
            for (uint64_t i = 0; i < k; i++)
                want[s][first + i] = values[i] = (double)(1000 * (piece + 1) + first + i);
            char typed[120 * 8];
            fp_convert(typed, arr->dtype, values, FP_F64, k, NULL);
            if (fp_format_hdf5.patch_piece(patch, arr, first, typed, k, &err) < 0)
                ck_abort_msg("%s: %s", at, err.msg);
            first += k;
        }
    }
    const fp_node *v = h5t_at(tree.root, "/v");
    ck_assert_int_eq(fp_format_hdf5.patch_piece(patch, v, 5, want[0], 3, &err), -1);
    ck_assert_msg(strstr(err.msg, "internal error: elements 5 to 8 of 7"), "%s", err.msg);
    ck_assert_int_eq(fp_format_hdf5.patch_close(patch, 1, &err), 0);
    h5t_open(copy, &back);
    for (int s = 0; s < SETS; s++) {
        char at[8];
        snprintf(at, sizeof at, "/%s", sets[s].name);
        const fp_node *arr = h5t_at(back.root, at);
        double got[120];
        ck_assert_int_eq(fp_array_read(arr, got, FP_F64, &err), 0);
        for (uint64_t i = 0; i < arr->n_elems; i++)
            ck_assert_msg(got[i] == want[s][i], "%s[%llu]: %g, not %g", at, (unsigned long long)i,
                          got[i], want[s][i]);
    }
    fp_tree_free(&back);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(patch_refuses_mismatches)
{
    fp_tree tree;
    fp_error err = { "" };
    const char *copy = tmpfile_in("p.h5");
    h5t_open(testdata("hdf5/types.h5"), &tree);
    ck_assert_int_eq(fp_copy_file(tree.path, copy, &err), 0);
    void *patch;
    ck_assert_int_eq(fp_format_hdf5.patch_open(copy, &tree, &patch, &err), 0);
    uint64_t shape[1] = { 3 };
    fp_node *wrong = fp_node_new_array(FP_F32, 1, shape, NULL);
    float values[3] = { 1, 2, 3 };
    wrong->origin = strdup("/be32");
    ck_assert_int_eq(fp_format_hdf5.patch_array(patch, wrong, values, &err), -1);
    ck_assert_msg(strstr(err.msg, "types.h5: /be32: dataset holds 4 elements, expected 3"), "%s", err.msg);
    free(wrong->origin);
    wrong->origin = strdup("/missing");
    ck_assert_int_eq(fp_format_hdf5.patch_array(patch, wrong, values, &err), -1);
    ck_assert_msg(strstr(err.msg, "types.h5: /missing: cannot open dataset"), "%s", err.msg);
    fp_node_release(wrong);
    ck_assert_int_eq(fp_format_hdf5.patch_close(patch, 0, &err), 0);
    ck_assert_int_eq(fp_format_hdf5.patch_open(tmpfile_in("none.h5"), &tree, &patch, &err), -1);
    ck_assert_msg(strstr(err.msg, "types.h5: cannot open its copy") && strstr(err.msg, "unable to open file"),
                  "%s", err.msg);
    fp_tree_free(&tree);
}
END_TEST

void h5t_add_write_tests(Suite *s)
{
    TCase *tc = tcase_create("write");
    tcase_add_loop_test(tc, fixtures_round_trip, 0, (int)(sizeof fixtures / sizeof *fixtures));
    tcase_add_test(tc, sharing_becomes_hard_links);
    tcase_add_test(tc, every_kind_round_trips);
    tcase_add_test(tc, marks_from_fields);
    tcase_add_test(tc, arrays_stream_once_in_order);
    tcase_add_test(tc, unwritable_trees_refused);
    suite_add_tcase(s, tc);
    TCase *patch = tcase_create("patch");
    tcase_add_test(patch, patch_keeps_everything_but_values);
    tcase_add_test(patch, patch_refuses_mismatches);
    tcase_add_test(patch, patch_pieces_are_row_major_ranges);
    suite_add_tcase(s, patch);
}
