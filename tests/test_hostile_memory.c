/* Hostile inputs that asked for memory without bound (issue #15), and what
 * parsing costs per byte of the file:
 *  - a 2 KB JSON whose subtrees are shared through $ref 40 levels deep (each
 *    level two references to the one below), and the same as HDF5 hard links:
 *    summary unrolled it (8.5 GB after a minute); summary, modules and flatten
 *    print it in its own size;
 *  - a Chain that uses a shared Chain twice, 40 levels deep: predict,
 *    gradient and hessian unrolled 2^40 layers; they stop at a stated limit,
 *    and a frozen layer used many times holds its weight once;
 *  - a JSON model of numbers and a safetensors header of 100,000 entries took
 *    about 40 and 23 times their size; peak memory is held to a few times it;
 *  - a document too large for the memory a process may have failed as
 *    "invalid JSON at column ..."; it says out of memory. */
#include "test_hostile.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SHARING_DEPTH = 40 };

/* A growing text (asserting every allocation). */
typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(n, 0);
        if (t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * (t->len + (size_t)n + 64);
        t->buf = realloc(t->buf, t->cap);
        ck_assert_ptr_nonnull(t->buf);
    }
}

/* {"l0": bottom, "l1": {"a": {"$ref": "/l0"}, "b": {"$ref": "/l0"}}, ...,
 * "l40": {...}}: l40 holds 2^40 paths down to l0. */
static const char *shared_json(const char *name, const char *bottom)
{
    text t = { 0 };
    append(&t, "{\"l0\": %s", bottom);
    for (int k = 1; k <= SHARING_DEPTH; k++)
        append(&t, ", \"l%d\": {\"a\": {\"$ref\": \"/l%d\"}, \"b\": {\"$ref\": \"/l%d\"}}", k, k - 1, k - 1);
    append(&t, "}");
    const char *path = write_tmp(name, t.buf);
    free(t.buf);
    return path;
}

static const char dense_bottom[] = "{\"type\": \"Dense\", \"weight\": [[1.0, 2.0]], \"bias\": [0.5]}";

/* Runs a command that must succeed within the hostile time limit. */
static run_result run_ok(const char *const *argv)
{
    time_t start = time(NULL);
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(time(NULL) - start < HOSTILE_SECONDS, "%s %s took %ld s", argv[0], argv[1],
                  (long)(time(NULL) - start));
    ck_assert_msg(r.status == 0, "%s %s: status %d: %s", argv[0], argv[1], r.status, r.err);
    ck_assert_msg(r.err_len == 0, "%s %s: stderr: %s", argv[0], argv[1], r.err);
    return r;
}

/* summary prints a shared module in full once, at its first occurrence
 * depth-first, and each later one as one line naming that path. */
static void assert_shared_summary(const char *model)
{
    text want = { 0 };
    append(&want, "(\n"
                  "  l0 = Dense(2 => 1),                   # 3 parameters\n"
                  "  l1 = (\n"
                  "    a = Dense(2 => 1),                  # same as /l0\n"
                  "    b = Dense(2 => 1),                  # same as /l0\n"
                  "  ),\n");
    for (int k = 2; k <= SHARING_DEPTH; k++)
        append(&want, "  l%d = (\n"
                      "    a = (...),                          # same as /l%d\n"
                      "    b = (...),                          # same as /l%d\n"
                      "  ),\n", k, k - 1, k - 1);
    append(&want, ")                   # Total: 2 arrays, 3 parameters, 24 bytes.\n");
    const char *argv[] = { "summary", model, NULL };
    run_result r = run_ok(argv);
    ck_assert_str_eq(r.out, want.buf);
    run_free(&r);
    free(want.buf);
}

/* modules lists each module once, where flatten's walk first meets it (the
 * later occurrences are the same module); flatten holds its arrays once. */
static void assert_shared_modules_and_flatten(const char *model)
{
    const char *modules[] = { "modules", model, NULL };
    run_result r = run_ok(modules);
    text want = { 0 };
    append(&want, "%-32s %-20s %12s %14s %7s\n", "path", "type", "trainable", "non-trainable", "arrays");
    append(&want, "%-32s %-20s %12d %14d %7d\n", "/", "(map)", 3, 0, 2);
    append(&want, "%-32s %-20s %12d %14d %7d\n", "/l0", "Dense", 3, 0, 2);
    for (int k = 1; k <= SHARING_DEPTH; k++) {
        char path[16];
        snprintf(path, sizeof path, "/l%d", k);
        append(&want, "%-32s %-20s %12d %14d %7d\n", path, "(map)", 0, 0, 0);
    }
    ck_assert_str_eq(r.out, want.buf);
    run_free(&r);
    free(want.buf);
    const char *flatten[] = { "flatten", model, NULL };
    r = run_ok(flatten);
    ck_assert_str_eq(r.out, "1\n2\n0.5\n");
    run_free(&r);
}

START_TEST(shared_json_subtrees_print_once)
{
    const char *model = shared_json("shared40.json", dense_bottom);
    assert_shared_summary(model);
    assert_shared_modules_and_flatten(model);
}
END_TEST

/* The same sharing as HDF5 hard links (convert writes a shared group as one
 * group linked from each place). */
START_TEST(shared_hdf5_groups_print_once)
{
    const char *model = tmpfile_in("shared40.h5");
    const char *convert[] = { "convert", shared_json("shared40-for-h5.json", dense_bottom), "-o", model, NULL };
    run_result r = run_ok(convert);
    run_free(&r);
    assert_shared_summary(model);
    assert_shared_modules_and_flatten(model);
}
END_TEST

/* Shared settings without arrays: summary asked each of the 2^40 paths
 * whether an array lies below. */
START_TEST(shared_subtrees_without_arrays)
{
    const char *model = shared_json("shared40-settings.json", "{\"type\": \"Settings\", \"units\": 3}");
    const char *argv[] = { "summary", model, NULL };
    run_result r = run_ok(argv);
    ck_assert_str_eq(r.out, "                    # Total: 0 arrays, 0 parameters, 0 bytes.\n");
    run_free(&r);
}
END_TEST

/* ---- compute */

/* The root Chain uses c40; each ck uses c(k-1) twice; c0 holds one Dense
 * (2 => 2): 2^40 layers once unrolled. */
static const char *shared_chain(void)
{
    text t = { 0 };
    append(&t, "{\"type\": \"Chain\", \"layers\": [{\"$ref\": \"/c%d\"}], \"c0\": {\"type\": \"Chain\", "
               "\"layers\": [{\"type\": \"Dense\", \"weight\": [[0.5, 0.0], [0.0, 0.5]], \"bias\": [0.0, 0.0]}]}",
           SHARING_DEPTH);
    for (int k = 1; k <= SHARING_DEPTH; k++)
        append(&t, ", \"c%d\": {\"type\": \"Chain\", \"layers\": [{\"$ref\": \"/c%d\"}, {\"$ref\": \"/c%d\"}]}",
               k, k - 1, k - 1);
    append(&t, "}");
    const char *path = write_tmp("chain40.json", t.buf);
    free(t.buf);
    return path;
}

/* The error names where the expansion passes the limit, deep in the first
 * unrolled copies. */
static const char cap_message[] =
    ": the model expands to more than 100000 layers here (a shared layer, Chain or list of "
    "layers counts at each use)";

static void assert_capped(const char *const *argv, const char *path_start)
{
    time_t start = time(NULL);
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(time(NULL) - start < HOSTILE_SECONDS, "%s took %ld s", argv[0], (long)(time(NULL) - start));
    assert_error_line(&r, cap_message);
    ck_assert_msg(strstr(r.err, path_start), "%s: %s", argv[0], r.err);
    run_free(&r);
}

START_TEST(compute_stops_unrolling_shared_chains)
{
    const char *model = shared_chain();
    const char *x = write_tmp("x2.txt", "1 2\n3 4\n");
    const char *y = write_tmp("y2.txt", "0 1\n1 0\n");
    const char *start = ".json: /layers/0/layers/0/layers/0/";
    const char *predict[] = { "predict", model, "-x", x, NULL };
    const char *gradient[] = { "gradient", model, "-x", x, "-y", y, NULL };
    const char *hessian[] = { "hessian", model, "-x", x, "-y", y, NULL };
    assert_capped(predict, start);
    assert_capped(gradient, start);
    assert_capped(hessian, start);
}
END_TEST

/* Lists of lists, shared, with no layer at all: nothing grew, and the walk
 * never ended. */
START_TEST(compute_stops_unrolling_shared_lists)
{
    text t = { 0 };
    append(&t, "{\"type\": \"Chain\", \"layers\": {\"$ref\": \"/l%d\"}, \"l0\": []", SHARING_DEPTH);
    for (int k = 1; k <= SHARING_DEPTH; k++)
        append(&t, ", \"l%d\": [{\"$ref\": \"/l%d\"}, {\"$ref\": \"/l%d\"}]", k, k - 1, k - 1);
    append(&t, "}");
    const char *model = write_tmp("lists40.json", t.buf);
    free(t.buf);
    const char *x = write_tmp("x1.txt", "1\n2\n");
    const char *predict[] = { "predict", model, "-x", x, NULL };
    assert_capped(predict, ".json: /layers/0/0/0/");
}
END_TEST

/* A frozen Dense (128 => 128, the identity) used 2^15 times through shared
 * Chains, under the limit: its weight was copied for each use (2 GiB of
 * constants from a 100 KB file); it is held once. */
START_TEST(compute_holds_shared_constants_once)
{
    enum { DEPTH = 15, WIDTH = 128 };
    text t = { 0 };
    append(&t, "{\"type\": \"Chain\", \"layers\": [{\"$ref\": \"/c%d\"}], \"c0\": {\"type\": \"Chain\", "
               "\"layers\": [{\"type\": \"Dense\", \"weight\": {\"dtype\": \"float32\", \"shape\": [%d, %d], "
               "\"trainable\": false, \"data\": [", DEPTH, WIDTH, WIDTH);
    for (int i = 0; i < WIDTH * WIDTH; i++)
        append(&t, "%s%d", i ? "," : "", i / WIDTH == i % WIDTH);
    append(&t, "]}}]}");
    for (int k = 1; k <= DEPTH; k++)
        append(&t, ", \"c%d\": {\"type\": \"Chain\", \"layers\": [{\"$ref\": \"/c%d\"}, {\"$ref\": \"/c%d\"}]}",
               k, k - 1, k - 1);
    append(&t, "}");
    const char *model = write_tmp("frozen15.json", t.buf);
    t.len = 0;
    for (int row = 0; row < 2; row++)
        for (int j = 0; j < WIDTH; j++)
            append(&t, "%d%s", (row + j) % 5, j + 1 < WIDTH ? " " : "\n");
    const char *x = write_tmp("x128.txt", t.buf);
    free(t.buf);
    const char *argv[] = { "predict", model, "-x", x, NULL };
    run_result r = run_ok(argv);
    double *values;
    ck_assert_uint_eq(parse_numbers(r.out, &values), 2 * WIDTH);
    for (int i = 0; i < 2 * WIDTH; i++)
        ck_assert_msg(values[i] == (i / WIDTH + i % WIDTH) % 5, "output %d is %g", i, values[i]);
    free(values);
    run_free(&r);
}
END_TEST

/* ---- memory per byte of the file */

/* Peak memory is the file's text and the arrays' values, a few times the
 * file, and what the process holds anyway. The sanitizers' own memory (shadow,
 * quarantine) is not the program's: there the values are checked, not this. */
static void assert_peak_within(const run_result *r, const char *what, size_t file_bytes, size_t times)
{
    if (harness_asan())
        return;
    long bound_kb = (long)(times * file_bytes / 1024) + 48 * 1024;
    ck_assert_msg(r->max_rss_kb <= bound_kb, "%s of %zu bytes peaked at %ld KiB, over %ld KiB (%zux + 48 MiB)",
                  what, file_bytes, r->max_rss_kb, bound_kb, times);
}

/* 8 million one-digit numbers in a float32 tensor: 16 MB of text, which cJSON
 * held as 8 million nodes of 64 bytes (and more). */
START_TEST(json_numbers_cost_a_few_bytes_each)
{
    enum { N = 8 << 20 };
    text t = { 0 };
    append(&t, "{\"w\": {\"dtype\": \"float32\", \"shape\": [%d], \"data\": [", N);
    t.buf = realloc(t.buf, t.cap = t.len + 2 * (size_t)N + 16);
    ck_assert_ptr_nonnull(t.buf);
    for (int i = 0; i < N; i++) {
        t.buf[t.len++] = (char)('0' + i % 10);
        t.buf[t.len++] = i + 1 < N ? ',' : ']';
    }
    append(&t, "}}");
    const char *model = tmpfile_in("digits.json");
    ck_assert_int_eq(write_file(model, t.buf, t.len), 0);
    const char *out = tmpfile_in("digits.npy");
    const char *argv[] = { "flatten", model, "-o", out, NULL };
    run_result r = run_ok(argv);
    assert_peak_within(&r, "flatten of a JSON", t.len, 5);
    run_free(&r);
    double *values;
    ck_assert_uint_eq(read_npy_f64(out, &values, NULL, NULL), N);
    ck_assert(values[0] == 0 && values[9] == 9 && values[N - 1] == (N - 1) % 10);
    free(values);
    free(t.buf);
}
END_TEST

/* A safetensors file whose header names 100,000 small tensors (about 9.6 MB
 * of header), each in a module of its own, as PyTorch names them. */
START_TEST(safetensors_header_costs_a_few_times_its_size)
{
    enum { N = 100000, TENSOR_BYTES = 8 };
    text header = { 0 };
    append(&header, "{");
    for (int i = 0; i < N; i++)
        append(&header, "%s\"model.layers.%d.block.%d.weight\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[%d,%d]}", i ? "," : "", i / 10, i % 10, i * TENSOR_BYTES,
               (i + 1) * TENSOR_BYTES);
    append(&header, "}");
    size_t file_len = 8 + header.len + (size_t)N * TENSOR_BYTES;
    unsigned char *file = calloc(1, file_len);
    ck_assert_ptr_nonnull(file);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    memcpy(file + 8, header.buf, header.len);
    unsigned char *data = file + 8 + header.len;   /* little-endian host */
    for (int i = 0; i < 2 * N; i++)
        memcpy(data + 4 * (size_t)i, &(float){ (float)(i % 7) }, sizeof(float));
    const char *model = tmpfile_in("many.safetensors");
    ck_assert_int_eq(write_file(model, file, file_len), 0);
    free(file);
    const char *out = tmpfile_in("many.npy");
    const char *argv[] = { "flatten", model, "-o", out, NULL };
    run_result r = run_ok(argv);
    assert_peak_within(&r, "flatten of a safetensors header", header.len, 12);
    run_free(&r);
    double *values;
    ck_assert_uint_eq(read_npy_f64(out, &values, NULL, NULL), 2 * N);
    /* Offset order is flat order here: element i is i % 7. */
    ck_assert(values[0] == 0 && values[13] == 6 && values[2 * N - 1] == (2 * N - 1) % 7);
    free(values);
    free(header.buf);
}
END_TEST

/* ---- out of memory */

/* A sanitizer's own report ("==123==AddressSanitizer: soft rss limit
 * exhausted") is not the program's output: dropped before the contract's
 * one-line check. */
static void drop_sanitizer_lines(run_result *r)
{
    char *kept = r->err, *line = r->err;
    while (*line) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "==", 2)) {
            memmove(kept, line, len);
            kept += len;
        }
        line += len;
    }
    *kept = 0;
    r->err_len = (size_t)(kept - r->err);
}

/* {"x": [[], [], ...]}: 30 MB of empty arrays, each a value of its own. */
static char *empty_arrays(size_t *len)
{
    enum { N = 10000000 };
    char *doc = malloc(3 * (size_t)N + 16);
    ck_assert_ptr_nonnull(doc);
    size_t n = (size_t)sprintf(doc, "{\"x\": [");
    for (int i = 0; i < N; i++) {
        memcpy(doc + n, i ? ",[]" : "[]", i ? 3 : 2);
        n += i ? 3 : 2;
    }
    n += (size_t)sprintf(doc + n, "]}");
    *len = n;
    return doc;
}

/* Under 256 MiB (one BLAS thread, so that the limit leaves the same room on
 * every machine): the parse runs out, and says so. */
static void assert_out_of_memory(const char *model, const char *needle)
{
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    const char *argv[] = { "flatten", model, NULL };
    run_result r = run_fp_memory(256, NULL, 0, argv);
    unsetenv("OPENBLAS_NUM_THREADS");
    drop_sanitizer_lines(&r);
    assert_error_line(&r, needle);
    run_free(&r);
}

START_TEST(json_out_of_memory_says_so)
{
    size_t len;
    char *doc = empty_arrays(&len);
    const char *model = tmpfile_in("arrays.json");
    ck_assert_int_eq(write_file(model, doc, len), 0);
    free(doc);
    assert_out_of_memory(model, "arrays.json: out of memory parsing the JSON text (30000008 bytes)");
}
END_TEST

START_TEST(safetensors_out_of_memory_says_so)
{
    size_t len;
    char *header = empty_arrays(&len);
    unsigned char *file = malloc(8 + len);
    ck_assert_ptr_nonnull(file);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(file + 8, header, len);
    const char *model = tmpfile_in("arrays.safetensors");
    ck_assert_int_eq(write_file(model, file, 8 + len), 0);
    free(file);
    free(header);
    assert_out_of_memory(model, "arrays.safetensors: out of memory parsing the 30000008-byte header");
}
END_TEST

void add_hostile_memory_tests(Suite *s)
{
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, shared_json_subtrees_print_once);
    tcase_add_test(tc, shared_hdf5_groups_print_once);
    tcase_add_test(tc, shared_subtrees_without_arrays);
    tcase_add_test(tc, compute_stops_unrolling_shared_chains);
    tcase_add_test(tc, compute_stops_unrolling_shared_lists);
    tcase_add_test(tc, compute_holds_shared_constants_once);
    tcase_add_test(tc, json_numbers_cost_a_few_bytes_each);
    tcase_add_test(tc, safetensors_header_costs_a_few_times_its_size);
    tcase_add_test(tc, json_out_of_memory_says_so);
    tcase_add_test(tc, safetensors_out_of_memory_says_so);
    suite_add_tcase(s, tc);
}
