/* The order a writer records in __metadata__ "flatparams.order" (a JSON list of
 * tensor names; scripts/from_torch.py's save_safetensors writes PyTorch's
 * named_parameters() order there): tensors are placed in it, so the flat
 * vector is parameters_to_vector's; a malformed list is refused with one line.
 * Fixtures: testdata/make_torch_order_fixtures.py (torch and from_torch.py). */
#include "harness.h"
#include "flatparams.h"
#include "test_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Three F32 scalars-as-vectors a = [1], b = [2], c = [3], in that offset order,
 * with order (a JSON string's content, escaped) as __metadata__'s list; NULL
 * for no metadata. */
static const char *abc_file(const char *name, const char *order)
{
    static const float data[3] = { 1, 2, 3 };
    char header[1024];
    snprintf(header, sizeof header,
             "{%s%s%s\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
             order ? "\"__metadata__\":{\"flatparams.order\":\"" : "", order ? order : "",
             order ? "\"}," : "");
    return write_safetensors(name, header, data, sizeof data);
}

/* The paths of the flat vector, space-separated (a static buffer). */
static const char *flat_paths(const char *path, int all)
{
    static char text[4096];
    fp_tree tree;
    open_ok(path, &tree);
    fp_layout layout = layout_of(tree.root, all);
    size_t len = 0;
    text[0] = 0;
    for (size_t i = 0; i < layout.n_params; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? " " : "",
                                layout.params[i].path);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    return text;
}

static void assert_flat_equals_npy(const char *path, int all, const char *npy)
{
    fp_tree tree;
    open_ok(path, &tree);
    fp_layout layout = layout_of(tree.root, all);
    double *got = flatten(&layout), *want;
    size_t n = read_npy_f64(fixture(npy), &want, NULL, NULL);
    ck_assert_uint_eq(n, layout.n_elems);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s[%zu]: %.9g, parameters_to_vector has %.9g", npy, i,
                      got[i], want[i]);
    free(got);
    free(want);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}

/* save_safetensors' file flattens to parameters_to_vector exactly, its paths in
 * named_parameters() order; --all adds each BatchNorm's statistics after its
 * weight and bias (state_dict()'s order). The same model by plain save_file
 * keeps the offsets' order, which is not torch's. */
START_TEST(torch_order_is_parameters_to_vector)
{
    const char *ordered = fixture("torch_order.safetensors");
    assert_flat_equals_npy(ordered, 0, "torch_order.expect.npy");
    assert_flat_equals_npy(ordered, 1, "torch_order.expect_all.npy");
    char *want = read_file(fixture("torch_order.expect_paths.txt"), NULL);
    ck_assert_ptr_nonnull(want);
    for (char *p = want; *p; p++)
        *p = *p == '\n' ? ' ' : *p;
    want[strlen(want) - 1] = 0;
    ck_assert_str_eq(flat_paths(ordered, 0), want);
    free(want);
    ck_assert_str_eq(flat_paths(fixture("torch_plain.safetensors"), 0),
                     "/1/bias /1/weight /0/bias /0/weight /10/bias /10/weight /11/bias /11/weight "
                     "/3/bias /3/weight /5/bias /5/weight /6/bias /6/weight /7/bias /7/weight "
                     "/9/bias /9/weight");
}
END_TEST

/* The list decides; tensors it leaves out follow in offset order; an empty
 * list changes nothing. JSON escapes in the list name the tensors they spell. */
START_TEST(listed_order_and_the_rest)
{
    ck_assert_str_eq(flat_paths(abc_file("none.safetensors", NULL), 0), "/a /b /c");
    ck_assert_str_eq(flat_paths(abc_file("cba.safetensors", "[\\\"c\\\", \\\"b\\\", \\\"a\\\"]"), 0),
                     "/c /b /a");
    ck_assert_str_eq(flat_paths(abc_file("c.safetensors", " [ \\\"c\\\" ] "), 0), "/c /a /b");
    ck_assert_str_eq(flat_paths(abc_file("empty.safetensors", "[]"), 0), "/a /b /c");
    /* other metadata beside it is left alone */
    static const float two[2] = { 5, 6 };
    const char *escaped = write_safetensors("escaped.safetensors",
        "{\"__metadata__\":{\"format\":\"pt\",\"flatparams.order\":"
        "\"[\\\"q\\\\\\\"\\\\u00e9\\\", \\\"\\\\ud83d\\\\ude00\\\"]\"},"
        "\"\xf0\x9f\x98\x80\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"q\\\"\xc3\xa9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two, sizeof two);
    ck_assert_str_eq(flat_paths(escaped, 0), "/q\"\xc3\xa9 /\xf0\x9f\x98\x80");
}
END_TEST

/* A map keyed 0..n-1 becomes a list only when the order lists its keys so:
 * torch modules registered as "1", "0" keep that order. */
START_TEST(lists_only_in_index_order)
{
    static const float data[2] = { 1, 2 };
    const char *tensors = "\"1.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"0.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    char header[512];
    snprintf(header, sizeof header, "{%s", tensors);
    fp_tree tree;
    open_ok(write_safetensors("plain.safetensors", header, data, sizeof data), &tree);
    ck_assert_int_eq(tree.root->kind, FP_LIST);   /* as before: a list in index order */
    fp_tree_free(&tree);
    ck_assert_str_eq(flat_paths(tmpfile_in("plain.safetensors"), 0), "/0/w /1/w");

    snprintf(header, sizeof header,
             "{\"__metadata__\":{\"flatparams.order\":\"[\\\"1.w\\\",\\\"0.w\\\"]\"},%s", tensors);
    const char *kept = write_safetensors("kept.safetensors", header, data, sizeof data);
    open_ok(kept, &tree);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    fp_tree_free(&tree);
    ck_assert_str_eq(flat_paths(kept, 0), "/1/w /0/w");

    snprintf(header, sizeof header,
             "{\"__metadata__\":{\"flatparams.order\":\"[\\\"0.w\\\",\\\"1.w\\\"]\"},%s", tensors);
    open_ok(write_safetensors("indexed.safetensors", header, data, sizeof data), &tree);
    ck_assert_int_eq(tree.root->kind, FP_LIST);
    fp_tree_free(&tree);
}
END_TEST

/* Malformed orders: one line each, naming the file and what is wrong. */
static const struct { const char *order, *message; } bad_orders[] = {
    { "[", "is not a JSON list of tensor names (at byte 1)" },
    { "{}", "is not a JSON list of tensor names (at byte 0)" },
    { "\\\"a\\\"", "is not a JSON list of tensor names (at byte 0)" },
    { "[1]", "is not a JSON list of tensor names (at byte 1)" },
    { "[\\\"a\\\",]", "is not a JSON list of tensor names (at byte 5)" },
    { "[\\\"a\\\" \\\"b\\\"]", "is not a JSON list of tensor names (at byte 5)" },
    { "[\\\"a\\\"] x", "is not a JSON list of tensor names (text after the list at byte 5)" },
    { "[\\\"a\\\"][]", "is not a JSON list of tensor names (text after the list at byte 5)" },
    { "[\\\"\\\\u0000\\\"]", "is not a JSON list of tensor names (at byte 1)" },
    { "[\\\"\\\\ud800\\\"]", "is not a JSON list of tensor names (at byte 1)" },
    { "[\\\"\\\\x\\\"]", "is not a JSON list of tensor names (at byte 1)" },
    { "[\\\"zz\\\"]", "names 'zz', which is no tensor of the file" },
    { "[\\\"A\\\"]", "names 'A', which is no tensor of the file" },
    { "[\\\"b\\\", \\\"a\\\", \\\"b\\\"]", "names tensor 'b' twice" },
    { "[\\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\"]",
      "names no tensor of the file at byte 1 (longer than every tensor's name)" },
};

START_TEST(malformed_orders_refused)
{
    const char *path = abc_file("bad.safetensors", bad_orders[_i].order);
    fp_tree tree;
    fp_error err = { "" };
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    char want[1024];
    snprintf(want, sizeof want, "%s: __metadata__ \"flatparams.order\" %s", path, bad_orders[_i].message);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(order_given_twice_refused)
{
    static const float one = 1;
    const char *path = write_safetensors("twice.safetensors",
        "{\"__metadata__\":{\"flatparams.order\":\"[]\",\"flatparams.order\":\"[]\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &one, sizeof one);
    run_result r = run_fpv(NULL, "flatten", path, NULL);
    assert_error_line(&r, "twice.safetensors: __metadata__ has \"flatparams.order\" twice");
    run_free(&r);
    r = run_fpv(NULL, "flatten", abc_file("cli.safetensors", "[\\\"c\\\",\\\"c\\\"]"), NULL);
    assert_error_line(&r, "cli.safetensors: __metadata__ \"flatparams.order\" names tensor 'c' twice");
    run_free(&r);
}
END_TEST

/* rebuild patches a byte copy (the order stays in its header); convert writes
 * the tensors in flat order, so the copy needs no list. */
START_TEST(rebuild_and_convert_keep_the_order)
{
    const char *ordered = fixture("torch_order.safetensors");
    const char *rebuilt = tmpfile_in("rebuilt.safetensors"), *converted = tmpfile_in("c.safetensors");
    run_result r = run_fpv(NULL, "flatten", ordered, NULL);
    ck_assert_int_eq(r.status, 0);
    run_result back = run_fpv(r.out, "rebuild", ordered, "-", "-o", rebuilt, NULL);
    ck_assert_msg(back.status == 0, "%s", back.err);
    run_free(&back);
    run_free(&r);
    assert_same_bytes(ordered, rebuilt);
    r = run_fpv(NULL, "convert", ordered, "-o", converted, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    assert_flat_equals_npy(converted, 0, "torch_order.expect.npy");
}
END_TEST

TCase *safetensors_order_tcase(void)
{
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, torch_order_is_parameters_to_vector);
    tcase_add_test(tc, listed_order_and_the_rest);
    tcase_add_test(tc, lists_only_in_index_order);
    tcase_add_loop_test(tc, malformed_orders_refused, 0, (int)(sizeof bad_orders / sizeof *bad_orders));
    tcase_add_test(tc, order_given_twice_refused);
    tcase_add_test(tc, rebuild_and_convert_keep_the_order);
    return tc;
}
