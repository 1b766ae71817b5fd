/* rebuild of Keras files: from the file's own vector every attribute and every
 * dataset is unchanged; from 2*v exactly the trainable weights double and
 * nothing else moves (checked through the HDF5 API, object by object). A
 * .keras output keeps its entries, in order, byte for byte except the weights,
 * and leaves no temporary file behind. */
#define H5_USE_110_API
#include <hdf5.h>
#include <zip.h>

#include "test_keras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct compare_ctx {
    hid_t a, b;                 /* the input and the rebuilt file */
    char **doubled;             /* dataset paths whose values must have doubled */
    size_t n_doubled, n_seen_doubled, n_objects;
    const char *what;           /* for messages */
} compare_ctx;

/* An attribute's value as comparable bytes: variable-length strings by content. */
static char *attribute_bytes(hid_t attr, size_t *len)
{
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    ck_assert_int_ge(n, 0);
    char *buf;
    if (H5Tis_variable_str(type) > 0) {
        char **strings = calloc((size_t)n + 1, sizeof *strings);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(type));
        ck_assert_int_ge(H5Aread(attr, mtype, strings), 0);
        size_t total = 1;
        for (hssize_t i = 0; i < n; i++)
            total += strlen(strings[i]) + 1;
        buf = calloc(total, 1);
        *len = 0;
        for (hssize_t i = 0; i < n; i++) {
            memcpy(buf + *len, strings[i], strlen(strings[i]) + 1);
            *len += strlen(strings[i]) + 1;
        }
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, strings);
        H5Tclose(mtype);
        free(strings);
    } else {
        *len = H5Tget_size(type) * (size_t)n;
        buf = calloc(*len + 1, 1);
        ck_assert_int_ge(H5Aread(attr, type, buf), 0);
    }
    H5Sclose(space);
    H5Tclose(type);
    return buf;
}

static void compare_attributes(compare_ctx *c, const char *name, hsize_t n_attrs)
{
    for (hsize_t i = 0; i < n_attrs; i++) {
        hid_t aa = H5Aopen_by_idx(c->a, name, H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
        char attr_name[512];
        ck_assert_int_ge(H5Aget_name(aa, sizeof attr_name, attr_name), 0);
        hid_t ab = H5Aopen_by_name(c->b, name, attr_name, H5P_DEFAULT, H5P_DEFAULT);
        ck_assert_msg(ab >= 0, "%s: %s: attribute %s is gone", c->what, name, attr_name);
        hid_t ta = H5Aget_type(aa), tb = H5Aget_type(ab);
        ck_assert_msg(H5Tequal(ta, tb) > 0, "%s: %s: attribute %s changed type", c->what, name, attr_name);
        size_t la, lb;
        char *va = attribute_bytes(aa, &la), *vb = attribute_bytes(ab, &lb);
        ck_assert_msg(la == lb && !memcmp(va, vb, la), "%s: %s: attribute %s changed", c->what, name, attr_name);
        free(va);
        free(vb);
        H5Tclose(ta);
        H5Tclose(tb);
        H5Aclose(aa);
        H5Aclose(ab);
    }
}

static int is_doubled(compare_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_doubled; i++)
        if (!strcmp(c->doubled[i] + 1, name))   /* origins start with '/' */
            return 1;
    return 0;
}

static void compare_dataset(compare_ctx *c, const char *name)
{
    hid_t da = H5Dopen2(c->a, name, H5P_DEFAULT), db = H5Dopen2(c->b, name, H5P_DEFAULT);
    ck_assert_msg(db >= 0, "%s: dataset %s is gone", c->what, name);
    hid_t ta = H5Dget_type(da), tb = H5Dget_type(db), space = H5Dget_space(da), space_b = H5Dget_space(db);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    ck_assert_msg(H5Tequal(ta, tb) > 0 && n == H5Sget_simple_extent_npoints(space_b),
                  "%s: dataset %s changed type or size", c->what, name);
    if (is_doubled(c, name)) {
        c->n_seen_doubled++;
        double *x = calloc((size_t)n + 1, sizeof *x), *y = calloc((size_t)n + 1, sizeof *y);
        ck_assert_int_ge(H5Dread(da, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x), 0);
        ck_assert_int_ge(H5Dread(db, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y), 0);
        for (hssize_t i = 0; i < n; i++)
            ck_assert_msg(y[i] == 2 * x[i], "%s: %s[%lld] is %g, expected 2 * %g", c->what, name,
                          (long long)i, y[i], x[i]);
        free(x);
        free(y);
    } else {
        size_t bytes = H5Tget_size(ta) * (size_t)n;
        char *x = calloc(bytes + 1, 1), *y = calloc(bytes + 1, 1);
        ck_assert_int_ge(H5Dread(da, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, x), 0);
        ck_assert_int_ge(H5Dread(db, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, y), 0);
        ck_assert_msg(!memcmp(x, y, bytes), "%s: dataset %s changed", c->what, name);
        free(x);
        free(y);
    }
    H5Sclose(space);
    H5Sclose(space_b);
    H5Tclose(ta);
    H5Tclose(tb);
    H5Dclose(da);
    H5Dclose(db);
}

static herr_t compare_object(hid_t root, const char *name, const H5O_info_t *info, void *vctx)
{
    compare_ctx *c = vctx;
    (void)root;
    H5O_info_t other;
    ck_assert_msg(H5Oget_info_by_name2(c->b, name, &other, H5O_INFO_ALL, H5P_DEFAULT) >= 0,
                  "%s: object %s is gone", c->what, name);
    ck_assert_msg(other.type == info->type && other.num_attrs == info->num_attrs,
                  "%s: object %s changed kind or attribute count", c->what, name);
    compare_attributes(c, name, info->num_attrs);
    if (info->type == H5O_TYPE_DATASET)
        compare_dataset(c, name);
    c->n_objects++;
    return 0;
}

static herr_t count_object(hid_t root, const char *name, const H5O_info_t *info, void *vcount)
{
    (void)root; (void)name; (void)info;
    ++*(size_t *)vcount;
    return 0;
}

/* Everything in input equals rebuilt, except the doubled datasets (2x). */
static void compare_h5(const char *input, const char *rebuilt, char **doubled, size_t n_doubled)
{
    compare_ctx c = { .doubled = doubled, .n_doubled = n_doubled, .what = rebuilt };
    c.a = H5Fopen(input, H5F_ACC_RDONLY, H5P_DEFAULT);
    c.b = H5Fopen(rebuilt, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(c.a >= 0 && c.b >= 0, "cannot open %s or %s", input, rebuilt);
    ck_assert_int_ge(H5Ovisit(c.a, H5_INDEX_NAME, H5_ITER_INC, compare_object, &c), 0);
    size_t n_other = 0;
    ck_assert_int_ge(H5Ovisit(c.b, H5_INDEX_NAME, H5_ITER_INC, count_object, &n_other), 0);
    ck_assert_msg(n_other == c.n_objects, "%s: %zu objects, the input has %zu", rebuilt, n_other, c.n_objects);
    ck_assert_msg(c.n_seen_doubled == n_doubled, "%s: %zu of %zu trainable datasets found", rebuilt,
                  c.n_seen_doubled, n_doubled);
    H5Fclose(c.a);
    H5Fclose(c.b);
}

/* The dataset paths of the trainable weights (what flatten puts in the vector). */
static char **trainable_origins(const char *model, size_t *n)
{
    fp_tree tree;
    fp_layout layout;
    fp_error err = { "" };
    ck_assert_msg(fp_tree_open(model, &tree, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(fp_layout_build(tree.root, NULL, &layout, &err), 0);
    char **origins = calloc(layout.n_params + 1, sizeof *origins);
    for (size_t i = 0; i < layout.n_params; i++)
        origins[i] = strdup(layout.params[i].node->origin);
    *n = layout.n_params;
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    return origins;
}

/* ---- zips */

static char *entry_bytes(zip_t *zip, zip_uint64_t index, size_t *len)
{
    zip_stat_t st;
    ck_assert_int_eq(zip_stat_index(zip, index, 0, &st), 0);
    char *buf = malloc(st.size + 1);
    zip_file_t *f = zip_fopen_index(zip, index, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(zip_fread(f, buf, st.size), (zip_int64_t)st.size);
    zip_fclose(f);
    *len = st.size;
    return buf;
}

/* Same entries in the same order with the same compression, the same bytes
 * except model.weights.h5; both weights files are extracted for compare_h5. */
static void compare_zips(const char *input, const char *rebuilt, const char *weights_in,
                         const char *weights_out)
{
    int code;
    zip_t *a = zip_open(input, ZIP_RDONLY, &code), *b = zip_open(rebuilt, ZIP_RDONLY, &code);
    ck_assert_msg(a && b, "cannot open %s or %s as zip", input, rebuilt);
    zip_int64_t n = zip_get_num_entries(a, 0);
    ck_assert_int_eq(zip_get_num_entries(b, 0), n);
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t sa, sb;
        ck_assert_int_eq(zip_stat_index(a, (zip_uint64_t)i, 0, &sa), 0);
        ck_assert_int_eq(zip_stat_index(b, (zip_uint64_t)i, 0, &sb), 0);
        ck_assert_str_eq(sa.name, sb.name);
        ck_assert_int_eq(sa.comp_method, sb.comp_method);
        size_t la, lb;
        char *va = entry_bytes(a, (zip_uint64_t)i, &la), *vb = entry_bytes(b, (zip_uint64_t)i, &lb);
        if (!strcmp(sa.name, "model.weights.h5")) {
            ck_assert_int_eq(write_file(weights_in, va, la), 0);
            ck_assert_int_eq(write_file(weights_out, vb, lb), 0);
        } else {
            ck_assert_msg(la == lb && !memcmp(va, vb, la), "%s: entry %s changed", rebuilt, sa.name);
        }
        free(va);
        free(vb);
    }
    zip_discard(a);
    zip_discard(b);
}

/* ---- the tests */

static const char *private_tmpdir(void)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmpdir());
    setenv("TMPDIR", dir, 1);   /* flatparams extracts .keras weights there */
    return dir;
}

START_TEST(rebuild_keeps_everything_but_the_weights)
{
    const keras_file *f = &keras_files[_i];
    const char *tmp = private_tmpdir();
    char *model = keras_path(f), work[4096], vec[4096], doubled_vec[4096], same[4096], twice[4096];
    const char *ext = strrchr(f->name, '.');
    snprintf(work, sizeof work, "%s", tmpdir());
    snprintf(vec, sizeof vec, "%s/v.npy", work);
    snprintf(doubled_vec, sizeof doubled_vec, "%s/v2.txt", work);
    snprintf(same, sizeof same, "%s/same%s", work, ext);
    snprintf(twice, sizeof twice, "%s/twice%s", work, ext);

    run_result r = run_fpv(NULL, "flatten", model, "-o", vec, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    double *v;
    size_t n = read_npy_f64(vec, &v, NULL, NULL);
    ck_assert_uint_ne(n, (size_t)-1);
    FILE *out = fopen(doubled_vec, "w");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%.17g\n", 2 * v[i]);
    fclose(out);

    r = run_fpv(NULL, "rebuild", model, vec, "-o", same, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    r = run_fpv(NULL, "rebuild", model, doubled_vec, "-o", twice, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    ck_assert_int_eq(dir_count(work), 4);   /* no temporary file left beside the outputs */
    ck_assert_int_eq(dir_count(tmp), 0);    /* nor in $TMPDIR */

    /* The vectors read back; --all too (the statistics did not move). */
    char *all_in = kt_flatten_text(model, "--all"), *all_same = kt_flatten_text(same, "--all");
    ck_assert_str_eq(all_in, all_same);
    char *text = kt_flatten_text(twice, NULL);
    double *w;
    ck_assert_uint_eq(parse_numbers(text, &w), n);
    for (size_t i = 0; i < n; i++)   /* text holds the shortest float32 forms */
        ck_assert_msg((float)w[i] == (float)(2 * v[i]), "%s: element %zu is %g, expected %g", f->name, i,
                      w[i], 2 * v[i]);

    size_t n_doubled;
    char **origins = trainable_origins(model, &n_doubled);
    if (!strcmp(ext, ".keras")) {
        char weights_in[4096], weights_out[4096];
        snprintf(weights_in, sizeof weights_in, "%s/in.h5", work);
        snprintf(weights_out, sizeof weights_out, "%s/out.h5", work);
        compare_zips(model, same, weights_in, weights_out);
        compare_h5(weights_in, weights_out, NULL, 0);
        compare_zips(model, twice, weights_in, weights_out);
        compare_h5(weights_in, weights_out, origins, n_doubled);
    } else {
        compare_h5(model, same, NULL, 0);
        compare_h5(model, twice, origins, n_doubled);
    }
    for (size_t i = 0; i < n_doubled; i++)
        free(origins[i]);
    free(origins);
    free(all_in);
    free(all_same);
    free(text);
    free(v);
    free(w);
    free(model);
}
END_TEST

START_TEST(failed_keras_rebuild_leaves_nothing)
{
    const char *tmp = private_tmpdir();
    char work[4096], out[4096];
    snprintf(work, sizeof work, "%s", tmpdir());
    snprintf(out, sizeof out, "%s/out.keras", work);
    run_result r = run_fpv("1\n2\n3\n", "rebuild", testdata("keras/synthetic3.keras"), "-", "-o", out, NULL);
    assert_error_line(&r, "rebuild expected a vector of length 33, got 3");
    run_free(&r);
    ck_assert_int_eq(dir_count(work), 0);
    ck_assert_int_eq(dir_count(tmp), 0);

    /* .keras -> .h5 would be a file Keras cannot load: refused (test_keras_mixups.c),
     * nothing left behind */
    snprintf(out, sizeof out, "%s/out.h5", work);
    char *vector = kt_flatten_text(testdata("keras/synthetic3.keras"), NULL);
    r = run_fpv(vector, "rebuild", testdata("keras/synthetic3.keras"), "-", "-o", out, NULL);
    assert_error_line(&r, "rebuild writes a Keras model only as .keras");
    run_free(&r);
    ck_assert_int_eq(dir_count(work), 0);
    ck_assert_int_eq(dir_count(tmp), 0);
    free(vector);
}
END_TEST

void kt_add_rebuild_tests(Suite *s)
{
    TCase *tc = tcase_create("rebuild");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, rebuild_keeps_everything_but_the_weights, 0, n_keras_files);
    tcase_add_test(tc, failed_keras_rebuild_leaves_nothing);
    suite_add_tcase(s, tc);
}
