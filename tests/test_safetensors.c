/* formats/safetensors*.c: files written by the reference package read with the
 * values and order tests/interop/check_safetensors.py computes with it, and
 * hostile headers refused with one line (here); trees written and read back the
 * same, and a rebuild-style patch that keeps the header byte for byte
 * (test_safetensors_write.c). Fixtures: testdata/make_safetensors_fixtures.py. */
#include "harness.h"
#include "flatparams.h"
#include "test_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers */

const char *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "safetensors/%s", name);
    return testdata(path);
}

void open_ok(const char *path, fp_tree *tree)
{
    fp_error err = { "" };
    ck_assert_msg(fp_tree_open(path, tree, &err) == 0, "%s", err.msg);
    ck_assert_ptr_eq(tree->format, &fp_format_safetensors);
}

/* A file from a header and data bytes (8-byte length prepended). */
static const char *make_file(const char *name, const char *header, const void *data, size_t n_data)
{
    return write_safetensors(name, header, data, n_data);
}

fp_node *node_at(const fp_node *root, const char *path)
{
    fp_node *node = (fp_node *)root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *seg = strtok(buf, "/"); seg && node; seg = strtok(NULL, "/")) {
        if (node->kind == FP_LIST)
            node = (size_t)atoi(seg) < node->n_children ? node->children[atoi(seg)] : NULL;
        else
            node = fp_map_get(node, seg);
    }
    ck_assert_msg(node != NULL, "no node at %s", path);
    return node;
}

fp_layout layout_of(const fp_node *root, int all)
{
    fp_select sel = { .all = all };
    fp_layout layout;
    fp_error err;
    ck_assert_msg(fp_layout_build(root, &sel, &layout, &err) == 0, "%s", err.msg);
    return layout;
}

/* The flat vector as doubles (complex as re, im pairs). */
double *flatten(const fp_layout *layout)
{
    size_t width = fp_dtype_is_complex(layout->dtype) ? 2 : 1;
    double *flat = calloc(layout->n_elems * width + 1, sizeof *flat);
    fp_error err;
    for (size_t i = 0; i < layout->n_params; i++)
        ck_assert_msg(fp_array_read(layout->params[i].node, flat + layout->params[i].offset * width,
                                    width == 2 ? FP_C128 : FP_F64, &err) == 0, "%s", err.msg);
    return flat;
}

static void assert_vector_is_npy(const fp_layout *layout, const char *npy)
{
    double *want, *got = flatten(layout);
    size_t n = read_npy_f64(fixture(npy), &want, NULL, NULL);
    ck_assert_uint_eq(n, layout->n_elems);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s[%zu]: %.17g, expected %.17g", npy, i, got[i], want[i]);
    free(got);
    free(want);
}

uint64_t header_length(const char *bytes)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (unsigned char)bytes[i];
    return n;
}

/* ---- reading */

START_TEST(probe_and_extension)
{
    const fp_format *f = &fp_format_safetensors;
    ck_assert(f->probe((const unsigned char *)"\x02\0\0\0\0\0\0\0{}", 10));
    ck_assert(f->probe((const unsigned char *)"\0\0\0\0\0\x01\0\0{", 9));       /* 2^40: refused later */
    ck_assert(!f->probe((const unsigned char *)"{\"abcd\":{\"w\": 1}}", 17));   /* JSON, '{' at 8 */
    ck_assert(!f->probe((const unsigned char *)"\x89HDF\r\n\x1a\n\0", 9));
    ck_assert(!f->probe((const unsigned char *)"\x02\0\0\0\0\0\0\0", 8));
    ck_assert_ptr_eq(fp_format_for_output("model.SafeTensors", NULL), f);
    ck_assert_ptr_eq(fp_format_for_output("x", "safetensors"), f);
    const fp_format *found;
    fp_error err;
    ck_assert_int_eq(fp_format_detect(fixture("mixed.safetensors"), &found, &err), 0);
    ck_assert_ptr_eq(found, f);
    ck_assert_int_eq(fp_format_detect(testdata("seed.json"), &found, &err), 0);
    ck_assert_ptr_eq(found, &fp_format_json);
}
END_TEST

START_TEST(reference_file_flattens_in_offset_order)
{
    fp_tree tree;
    open_ok(fixture("mixed.safetensors"), &tree);
    fp_node *layers = node_at(tree.root, "/layers");
    ck_assert_int_eq(layers->kind, FP_LIST);                 /* 0..11 -> list, in index order */
    ck_assert_uint_eq(layers->n_children, 12);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    fp_node *w3 = node_at(tree.root, "/layers/3/weight");
    ck_assert_int_eq(w3->dtype, FP_F16);
    ck_assert_ptr_null(w3->data);                            /* lazy */
    ck_assert_str_eq(w3->origin, "layers.3.weight");
    ck_assert_int_eq(node_at(tree.root, "/layers/7/bias")->dtype, FP_F64);
    ck_assert_int_eq(node_at(tree.root, "/norm/running_mean")->trainable, 0);
    ck_assert_int_eq(node_at(tree.root, "/norm/weight")->trainable, 1);
    fp_node *steps = node_at(tree.root, "/norm/num_batches_tracked"), *scale = node_at(tree.root, "/scale");
    ck_assert_int_eq(steps->dtype, FP_I64);
    ck_assert_int_eq(steps->rank, 0);
    int64_t n_steps;
    fp_error err;
    ck_assert_int_eq(fp_array_read(steps, &n_steps, FP_I64, &err), 0);
    ck_assert_int_eq(n_steps, 42);
    ck_assert_int_eq(scale->rank, 0);
    ck_assert_uint_eq(scale->n_elems, 1);
    ck_assert_int_eq(node_at(tree.root, "/mask")->dtype, FP_BOOL);
    ck_assert_ptr_null(fp_map_get(tree.root, "__metadata__"));

    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_F64);
    size_t len;
    char *want_paths = read_file(fixture("mixed.expect_paths.txt"), &len), *line = want_paths;
    for (size_t i = 0; i < layout.n_params; i++) {
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        *end = 0;
        ck_assert_str_eq(layout.params[i].path, line);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    ck_assert_str_eq(layout.params[0].path, "/norm/bias");   /* I64 steps lead the file */
    assert_vector_is_npy(&layout, "mixed.expect.npy");
    fp_layout_free(&layout);
    layout = layout_of(tree.root, 1);
    assert_vector_is_npy(&layout, "mixed.expect_all.npy");
    fp_layout_free(&layout);
    free(want_paths);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(bf16_zero_size_and_header_order)
{
    fp_tree tree;
    open_ok(fixture("handmade.safetensors"), &tree);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_F32);
    ck_assert_uint_eq(layout.n_params, 3);
    ck_assert_str_eq(layout.params[0].path, "/b/w");         /* first in the buffer, not the header */
    ck_assert_str_eq(layout.params[1].path, "/a/empty");
    ck_assert_str_eq(layout.params[2].path, "/a/v");
    ck_assert_int_eq(layout.params[0].node->dtype, FP_BF16);
    ck_assert_uint_eq(layout.params[1].n_elems, 0);
    double *got = flatten(&layout), want[] = { 1, -2.5, 0.15625, 3.3895313892515355e38, 0.25, -1, 8 };
    ck_assert_uint_eq(layout.n_elems, 7);
    ck_assert_mem_eq(got, want, sizeof want);
    free(got);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(complex64_is_a_parameter)
{
    fp_tree tree;
    open_ok(fixture("complex.safetensors"), &tree);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_int_eq(layout.dtype, FP_C64);
    double *got = flatten(&layout), want[] = { 1, 2, -0.5, 0, 3, 0 };
    ck_assert_uint_eq(layout.n_elems, 3);
    ck_assert_mem_eq(got, want, sizeof want);
    free(got);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(lists_need_exactly_0_to_n)
{
    float data[4] = { 1, 2, 3, 4 };
    fp_tree tree;
    /* nn.Sequential without parameters in layer 1: keys 0, 2 stay a map. */
    open_ok(make_file("seq.safetensors", "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"2.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", data, 16), &tree);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    ck_assert_str_eq(tree.root->keys[1], "2");
    fp_tree_free(&tree);
    /* Keys 1, 0 (in offset order) -> a list in index order at the root. */
    open_ok(make_file("list.safetensors", "{\"1.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"0.w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", data, 16), &tree);
    ck_assert_int_eq(tree.root->kind, FP_LIST);
    fp_layout layout = layout_of(tree.root, 0);
    ck_assert_str_eq(layout.params[0].path, "/0/w");
    ck_assert_uint_eq(layout.params[0].n_elems, 3);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    /* "01" is not a canonical index. */
    open_ok(make_file("lead.safetensors", "{\"01\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                      data, 4), &tree);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    fp_tree_free(&tree);
    /* No tensors at all: an empty map. */
    open_ok(make_file("empty.safetensors", "{}      ", NULL, 0), &tree);
    ck_assert_int_eq(tree.root->kind, FP_MAP);
    ck_assert_uint_eq(tree.root->n_children, 0);
    fp_tree_free(&tree);
}
END_TEST

static const struct { const char *file, *needle; } bad_files[] = {
    { "huge_header", "header length 1099511627776 exceeds the 100 MB limit" },
    { "header_past_end", "shorter than its header" },
    { "short", "shorter than the 8-byte header length" },
    { "invalid_json", "not valid JSON" },
    { "trailing_text", "not valid JSON" },
    { "not_object", "not a JSON object" },
    { "bad_utf8", "UTF-8" },
    { "overlap", "tensor 'b': data_offsets [4, 12] overlap tensor 'a'" },
    { "hole", "tensor 'b': data_offsets [12, 20] leave a hole" },
    { "not_at_zero", "contiguous" },
    { "out_of_bounds", "tensor 'a': data_offsets [0, 1000] are out of bounds" },
    { "size_mismatch", "tensor 'a.b': data_offsets [0, 12] do not match dtype F32 and shape [2, 2] (16 bytes)" },
    { "shape_overflow", "tensor 'a': array shape's element count overflows" },
    { "end_before_begin", "end before they begin" },
    { "trailing_bytes", "8 trailing bytes" },
    { "unsupported_dtype", "tensor 'a': unsupported dtype F8_E5M2" },
    { "negative_offset", "data_offsets must be [begin, end]" },
    { "fractional_dim", "shape must be a list of integers" },
    { "no_dtype", "needs an object with dtype, shape and data_offsets" },
    { "bad_metadata", "__metadata__ value 'n' is not a string" },
    { "named_twice", "tensor 'a': is named twice" },
    { "prefix_conflict", "tensor 'a.b': lies inside tensor 'a'" },
};

START_TEST(hostile_files_refused_with_one_line)
{
    char name[128];
    snprintf(name, sizeof name, "bad/%s.safetensors", bad_files[_i].file);
    const char *path = fixture(name);
    fp_tree tree = { .path = strdup(path) };
    fp_error err = { "" };
    size_t len;
    char *head = read_file(path, &len);
    /* Files the probe turns away (detection then says "not a model file") go
     * to the format's read directly, as fp_tree_open would send them. */
    int probed = fp_format_safetensors.probe((const unsigned char *)head, len);
    free(head);
    if (!probed) {
        ck_assert_int_eq(fp_format_safetensors.read(&tree, &err), -1);
        fp_tree_free(&tree);
    } else {
        free(tree.path);
        ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    }
    ck_assert_msg(!strncmp(err.msg, path, strlen(path)) && err.msg[strlen(path)] == ':',
                  "%s: message does not start with the file: %s", name, err.msg);
    ck_assert_msg(strstr(err.msg, bad_files[_i].needle), "%s: lacks '%s': %s", name,
                  bad_files[_i].needle, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}
END_TEST

START_TEST(hostile_names_stay_one_line)
{
    float data[2] = { 0 };
    fp_tree tree;
    fp_error err = { "" };
    const char *path = make_file("nl.safetensors", "{\"a\\nb\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],"
                                 "\"data_offsets\":[0,8]}}", data, 8);
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'a?b': unsupported dtype F8_E4M3"), "%s", err.msg);
    /* 600 nested levels: refused before anything recurses that deep. */
    char header[4096] = "{\"";
    for (int i = 0; i < 600; i++)
        strcat(header, i ? ".a" : "a");
    strcat(header, "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
    ck_assert_int_eq(fp_tree_open(make_file("deep.safetensors", header, data, 8), &tree, &err), -1);
    ck_assert_msg(strstr(err.msg, "deeper than 512 levels"), "%s", err.msg);
}
END_TEST

/* The reference (serde) reads shapes and offsets as usize and each entry as a
 * struct: only plain integer tokens, each field once. Other fields it ignores,
 * whatever they hold, and a name given twice is ours to refuse. */
static const struct { const char *header, *needle; } strict_headers[] = {
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0.0,24.0]}}",
      "tensor 'a': data_offsets entry 0, 0, is not written as a plain integer "
      "(no fraction, exponent or leading zero)" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24.0]}}",
      "tensor 'a': data_offsets entry 1, 24, is not written as a plain integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6e0],\"data_offsets\":[0,24]}}",
      "tensor 'a': shape entry 0, 6, is not written as a plain integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3E0],\"data_offsets\":[0,24]}}",
      "tensor 'a': shape entry 1, 3, is not written as a plain integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[-0,24]}}",
      "tensor 'a': data_offsets must be [begin, end], integers from 0 to 2^53" },
    /* The numbers before a tensor's, in other tensors, other fields and names,
     * do not shift which token is whose. */
    { "{\"x\\\"1.5\":{\"dtype\":\"F32\",\"n\":[1.5,{\"m\":2e0}],\"shape\":[3],\"data_offsets\":[0,12]},"
      "\"b\":{\"data_offsets\":[12,24],\"shape\":[3.0],\"dtype\":\"F32\"}}",
      "tensor 'b': shape entry 0, 3, is not written as a plain integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"shape\":[6],\"data_offsets\":[0,24]}}",
      "tensor 'a': has field shape twice" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"shape\":[6],\"data_offsets\":[0,24]}}",
      "tensor 'a': has field shape twice" },
    { "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
      "tensor 'a': has field dtype twice" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24],\"data_offsets\":[0,24]}}",
      "tensor 'a': has field data_offsets twice" },
    { "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
      "\"__metadata__\":{}}", "__metadata__ is given twice" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]}}", "tensor 'a': is named twice" },
    /* What serde refuses as JSON, wherever it stands, and cJSON would take. */
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[06],\"data_offsets\":[0,24]}}",
      "header is not valid JSON (number at byte 29)" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24],\"x\":07}}",
      "header is not valid JSON (number at byte 58)" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24],\"x\":[-1.]}}",
      "header is not valid JSON (number at byte 59)" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24],\"x\":-2e400}}",
      "header is not valid JSON (number at byte 58)" },
};

START_TEST(numbers_and_fields_as_the_reference_reads_them)
{
    float data[6] = { 1, 2, 3, 4, 5, 6 };
    fp_tree tree;
    fp_error err = { "" };
    const char *path = make_file("strict.safetensors", strict_headers[_i].header, data, sizeof data);
    ck_assert_int_eq(fp_tree_open(path, &tree, &err), -1);
    ck_assert_msg(!strncmp(err.msg, path, strlen(path)) && !strncmp(err.msg + strlen(path), ": ", 2),
                  "message does not start with the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, strict_headers[_i].needle), "lacks '%s': %s", strict_headers[_i].needle,
                  err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}
END_TEST

START_TEST(unknown_fields_may_hold_anything)
{
    float data[6] = { 1, 2, 3, 4, 5, 6 };
    fp_tree tree;
    open_ok(make_file("extra.safetensors", "{\"__metadata__\":{\"k\":\"1.5\"},\"a\":{\"x\":[1.5e3,{\"y\":-2.0}],"
                      "\"x\":-0,\"data_offsets\":[0,24],\"dtype\":\"F32\",\"shape\":[2,3]}}", data, sizeof data),
            &tree);
    fp_node *a = node_at(tree.root, "/a");
    ck_assert_int_eq(a->rank, 2);
    ck_assert_uint_eq(a->shape[0], 2);
    ck_assert_uint_eq(a->shape[1], 3);
    fp_layout layout = layout_of(tree.root, 0);
    double *got = flatten(&layout), want[] = { 1, 2, 3, 4, 5, 6 };
    ck_assert_mem_eq(got, want, sizeof want);
    free(got);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
}
END_TEST

START_TEST(truncated_after_open_fails_on_load)
{
    size_t len;
    char *bytes = read_file(fixture("mixed.safetensors"), &len);
    const char *path = tmpfile_in("shrinks.safetensors");
    ck_assert_int_eq(write_file(path, bytes, len), 0);
    fp_tree tree;
    open_ok(path, &tree);
    ck_assert_int_eq(truncate(path, (off_t)(8 + header_length(bytes))), 0);
    fp_node *w = node_at(tree.root, "/layers/0/weight");
    float values[4];
    fp_error err = { "" };
    ck_assert_int_eq(fp_array_read(w, values, FP_F32, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'layers.0.weight': the file ends early"), "%s", err.msg);
    fp_tree_free(&tree);
    free(bytes);
}
END_TEST

/* Random byte changes in the header and length: each open succeeds (and every
 * array then reads) or fails with one line; nothing crashes (run under ASan). */
START_TEST(mutated_headers_fail_cleanly)
{
    size_t len;
    char *original = read_file(fixture("handmade.safetensors"), &len);
    char *bytes = malloc(len);
    const char *path = tmpfile_in("mutant.safetensors");
    uint64_t state = 12345, header_end = 8 + header_length(original);
    int n_opened = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(bytes, original, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)((state >> 33) % header_end);
            bytes[at == 8 ? 9 : at] = "0123456789[]{},.:\"-e \x01\xff"[(state >> 20) % 23];
        }
        ck_assert_int_eq(write_file(path, bytes, len), 0);
        fp_tree tree;
        fp_error err = { "" };
        if (fp_tree_open(path, &tree, &err) < 0) {
            ck_assert_msg(!strchr(err.msg, '\n') && err.msg[0], "round %d: %s", round, err.msg);
            continue;
        }
        n_opened++;
        fp_layout layout = layout_of(tree.root, 1);
        free(flatten(&layout));
        fp_layout_free(&layout);
        fp_tree_free(&tree);
    }
    ck_assert_int_gt(n_opened, 0);
    free(bytes);
    free(original);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *read = tcase_create("read");
    tcase_add_test(read, probe_and_extension);
    tcase_add_test(read, reference_file_flattens_in_offset_order);
    tcase_add_test(read, bf16_zero_size_and_header_order);
    tcase_add_test(read, complex64_is_a_parameter);
    tcase_add_test(read, lists_need_exactly_0_to_n);
    tcase_add_loop_test(read, hostile_files_refused_with_one_line, 0,
                        (int)(sizeof bad_files / sizeof *bad_files));
    tcase_add_test(read, hostile_names_stay_one_line);
    tcase_add_loop_test(read, numbers_and_fields_as_the_reference_reads_them, 0,
                        (int)(sizeof strict_headers / sizeof *strict_headers));
    tcase_add_test(read, unknown_fields_may_hold_anything);
    tcase_add_test(read, truncated_after_open_fails_on_load);
    tcase_add_test(read, mutated_headers_fail_cleanly);
    suite_add_tcase(s, read);
    suite_add_tcase(s, safetensors_write_tcase());
    suite_add_tcase(s, safetensors_order_tcase());
    return run_suite(s);
}
