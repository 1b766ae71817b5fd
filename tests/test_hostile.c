/* Hostile inputs (issue #6): every 1 KiB prefix of an HDF5 model, bit flips in
 * its superblock and object headers, shapes the file cannot hold, links and
 * storage that point outside the file, and every file of the HDF5 corpus.
 * Each gives correct output or one error line with exit 1, never a signal,
 * never a hang. The seeds are made by testdata/make_hostile_fixtures.py; the
 * variants are made here, so the tree holds only the seeds. */
#include "test_hostile.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int run_hostile(const char *const *argv, const char *out_file, const char *names)
{
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    run_result r = run_fp(NULL, 0, argv);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    ck_assert_msg(seconds < HOSTILE_SECONDS, "%s %s took %.1f s", argv[0], argv[1], seconds);
    ck_assert_msg(r.status == 0 || r.status == 1, "%s %s: status %d (a signal is 128 + N): %s",
                  argv[0], argv[1], r.status, r.err);
    int status = r.status;
    if (status == 1) {
        assert_error_line(&r, names);
    } else if (out_file) {
        struct stat st;
        ck_assert_msg(stat(out_file, &st) == 0 && st.st_size > 0, "%s %s: exit 0 without output",
                      argv[0], argv[1]);
        ck_assert_msg(r.err_len == 0, "%s %s: exit 0 with stderr: %s", argv[0], argv[1], r.err);
    } else {
        ck_assert_msg(r.out_len > 0, "%s %s: exit 0 without output", argv[0], argv[1]);
    }
    run_free(&r);
    return status;
}

/* flatten -o and modules on one file; returns flatten's exit status. */
static int flatten_and_modules(const char *model, const char *names)
{
    const char *vec = tmpfile_in("hostile-out.npy");
    remove(vec);
    const char *flatten[] = { "flatten", model, "-o", vec, NULL };
    int status = run_hostile(flatten, vec, names);
    const char *modules[] = { "modules", model, NULL };
    run_hostile(modules, NULL, names);
    return status;
}

static char *base_model(size_t *len)
{
    char *data = read_file(testdata("hostile/base.h5"), len);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_gt(*len, 8 * 1024);
    return data;
}

/* The seed itself reads: the variants below start from a good file. */
START_TEST(base_model_reads)
{
    const char *vec = tmpfile_in("base.txt");
    const char *argv[] = { "flatten", testdata("hostile/base.h5"), "--all", "-o", vec, NULL };
    ck_assert_int_eq(run_hostile(argv, vec, NULL), 0);
    char *text = read_file(vec, NULL);
    double *values;
    /* 3 x (16 + 4) + 64 packed + 8 compact; /tied is /layers/0/weight again */
    ck_assert_uint_eq(parse_numbers(text, &values), 3 * 20 + 64 + 8);
    free(values);
    free(text);
}
END_TEST

/* The prefix of base.h5 cut at (_i + 1) KiB: HDF5 sees a truncated file. */
enum { N_TRUNCATIONS = 15 };
START_TEST(truncated_at_each_kib)
{
    size_t len;
    char *data = base_model(&len);
    /* The loop runs over every boundary inside the file: 1..N_TRUNCATIONS KiB. */
    ck_assert_uint_eq(len / 1024, N_TRUNCATIONS);
    const char *path = tmpfile_in("truncated.h5");
    ck_assert_int_eq(write_file(path, data, (size_t)(_i + 1) * 1024), 0);
    ck_assert_int_eq(flatten_and_modules(path, "truncated.h5"), 1);
    free(data);
}
END_TEST

/* Bit flips aimed at the superblock and at object headers (offsets from
 * base.offsets.txt): 8 flips per structure, at deterministic byte and bit
 * positions within its first 64 bytes. Either the damage is harmless (exit 0,
 * output) or one error line. */
enum { FLIPS_PER_TARGET = 8, N_TARGETS = 8 };

static size_t read_offsets(long offsets[N_TARGETS])
{
    char *text = read_file(testdata("hostile/base.offsets.txt"), NULL);
    ck_assert_ptr_nonnull(text);
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line && n < N_TARGETS; line = strtok(NULL, "\n")) {
        const char *space = strrchr(line, ' ');
        ck_assert_ptr_nonnull(space);
        offsets[n++] = atol(space + 1);
    }
    free(text);
    return n;
}

/* base.h5 with variant i's flips; caller frees. */
static char *flipped_variant(int i, size_t *len)
{
    long offsets[N_TARGETS];
    ck_assert_uint_eq(read_offsets(offsets), N_TARGETS);   /* superblock, root group, 6 objects */
    char *data = base_model(len);
    /* A fixed LCG per variant: the same flips every run. */
    uint32_t x = 2463534242u + 7919u * (uint32_t)i;
    for (int k = 0; k < 1 + i % 3; k++) {
        x = x * 1664525u + 1013904223u;
        size_t at = (size_t)offsets[i / FLIPS_PER_TARGET] + (x >> 8) % 64;
        if (at < *len)
            data[at] ^= (char)(1u << ((x >> 4) % 8));
    }
    return data;
}

START_TEST(bit_flipped_headers)
{
    size_t len;
    char *data = flipped_variant(_i, &len);
    const char *path = tmpfile_in("flipped.h5");
    ck_assert_int_eq(write_file(path, data, len), 0);
    flatten_and_modules(path, "flipped.h5");
    free(data);
}
END_TEST

/* Found by the flips above (variant 55): a compact dataset whose float type
 * claims 33554436 bytes per element. libhdf5 1.10.8 accepts the header, and
 * reading the 32 stored bytes as 8 such elements ran past its buffer
 * (SIGSEGV in the parent, where data is read). */
START_TEST(corrupted_compact_type_refused)
{
    size_t len;
    char *data = flipped_variant(55, &len);
    const char *path = tmpfile_in("compact.h5");
    ck_assert_int_eq(write_file(path, data, len), 0);
    run_result r = run_fpv(NULL, "flatten", path, NULL);
    assert_error_line(&r, "compact.h5: /layers/1/compact: declares 268435488 bytes of compact data");
    run_free(&r);
    free(data);
}
END_TEST

/* Chunks libhdf5 1.10.8 would overrun its buffers on (heap overflows in
 * H5Dread and H5Dwrite: flatten printed garbage, rebuild crashed) are refused
 * while the tree is read: a filter pipeline hidden from HDF5 (compressed chunks
 * read as whole ones) and chunks wider than their fixed dimension. */
START_TEST(corrupted_chunks_refused)
{
    static const struct { const char *file, *needle; } models[] = {
        { "hostile/hidden_filter.h5", "/w: stores 1393 bytes in 10 unfiltered chunks of 400" },
        { "hostile/wide_chunks.h5", "/w: declares chunks of 5000 along dimension 0, which holds 1000" },
    };
    const char *vec = tmpfile_in("v.txt"), *out = tmpfile_in("out.h5");
    char text[8000] = "";
    for (int i = 0; i < 1000; i++)
        strcat(text, "1\n");
    ck_assert_int_eq(write_file(vec, text, strlen(text)), 0);
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        run_result r = run_fpv(NULL, "flatten", testdata(models[i].file), NULL);
        assert_error_line(&r, models[i].needle);
        run_free(&r);
        r = run_fpv(NULL, "rebuild", testdata(models[i].file), vec, "-o", out, NULL);
        assert_error_line(&r, models[i].needle);
        ck_assert(!file_exists(out));
        run_free(&r);
    }
}
END_TEST

/* A virtual dataset whose mapping does not fit its source (a 1-D selection
 * of a 2 x 3 dataset) is refused even with --allow-external: reading it,
 * libhdf5 1.10.8 died of SIGFPE. */
START_TEST(misfit_virtual_refused)
{
    run_result r = run_fpv(NULL, "flatten", testdata("hostile/virtual_misfit.h5"),
                           "--allow-external", NULL);
    assert_error_line(&r, "/v: virtual dataset maps a 1-dimensional selection onto "
                          "misfit_source.h5:/w, which it does not fit (2 dimensions)");
    run_free(&r);
}
END_TEST

/* Shapes the file cannot hold are refused before anything is allocated for
 * them: the peak memory stays far below the declared size (4 TiB). */
START_TEST(huge_declared_shapes)
{
    static const struct { const char *file, *needle; } models[] = {
        { "hostile/huge_contiguous.h5", "/w: declares 4398046511104 bytes of contiguous data" },
        { "hostile/huge_chunked.h5", "/w: declares 4398046511104 bytes of chunked data" },
        { "hostile/huge.safetensors", "data_offsets [0, 4398046511104] are out of bounds" },
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        const char *vec = tmpfile_in("huge.npy");
        run_result r = run_fpv(NULL, "flatten", testdata(models[i].file), "-o", vec, NULL);
        assert_error_line(&r, models[i].needle);
        ck_assert_msg(r.max_rss_kb < HOSTILE_MAX_RSS_KB, "%s: peak %ld KiB", models[i].file, r.max_rss_kb);
        ck_assert(!file_exists(vec));
        run_free(&r);
    }
    /* The same dataset as a matrix input, which is read whole: before this
     * check predict allocated and touched 4 TiB until the kernel killed it. */
    char x_path[4200];
    snprintf(x_path, sizeof x_path, "%s:/w", testdata("hostile/huge_contiguous.h5"));
    run_result p = run_fpv(NULL, "predict", testdata("seed.json"), "-x", x_path, NULL);
    assert_error_line(&p, "/w: declares 4398046511104 bytes of contiguous data");
    ck_assert_int_lt(p.max_rss_kb, HOSTILE_MAX_RSS_KB);
    run_free(&p);
    /* A vector file declaring 2^40 elements in 128 bytes. */
    run_result r = run_fpv(NULL, "rebuild", testdata("seed.json"), testdata("hostile/huge.npy"),
                           "-o", tmpfile_in("never.json"), NULL);
    assert_error_line(&r, "declares 1099511627776 elements");
    ck_assert_int_lt(r.max_rss_kb, HOSTILE_MAX_RSS_KB);
    ck_assert(!file_exists(tmpfile_in("never.json")));
    run_free(&r);
}
END_TEST

/* Links and storage that leave the file are refused, naming the path. */
START_TEST(links_pointing_outside)
{
    static const struct { const char *file, *needle; } models[] = {
        { "hostile/extlink.h5", "/w/x: external link to elsewhere.h5:/data refused" },
        { "hostile/softext.h5", "external link to elsewhere.h5:/ refused" },
        { "hostile/external_raw.h5", "/w: raw data stored in external file ../outside.bin refused" },
        { "hostile/virtual.h5", "/v: virtual dataset refused" },
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        ck_assert_int_eq(flatten_and_modules(testdata(models[i].file), models[i].needle), 1);
        /* With --allow-external the targets are missing: still one line or output. */
        const char *vec = tmpfile_in("allowed.npy");
        const char *argv[] = { "flatten", testdata(models[i].file), "--allow-external", "-o", vec, NULL };
        run_hostile(argv, vec, NULL);
    }
    /* the missing raw file, named once (the loader's own "file: path:" was prefixed again) */
    run_result r = run_fpv(NULL, "flatten", testdata("hostile/external_raw.h5"), "--allow-external",
                           NULL);
    assert_error_line(&r, "external_raw.h5: /w: cannot read data");
    ck_assert_msg(!strstr(strstr(r.err, "/w: ") + 4, "/w: "), "%s", r.err);
    run_free(&r);
}
END_TEST

/* Every file of the shared HDF5 corpus, including the ones that crash or hang
 * libhdf5 itself (cve-2018-13869.h5), whatever files it gains later. */
START_TEST(hdf5_corpus_all)
{
    DIR *d = opendir(corpus("hdf5"));
    ck_assert_ptr_nonnull(d);
    int n_files = 0, n_ok = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char name[512];
        snprintf(name, sizeof name, "hdf5/%s", e->d_name);
        n_ok += flatten_and_modules(corpus(name), e->d_name) == 0;
        n_files++;
    }
    closedir(d);
    ck_assert_int_ge(n_files, 9);
    ck_assert_int_ge(n_ok, 2);   /* types_dset.h5 and the user-block file read */
}
END_TEST

void add_hostile_input_tests(Suite *s)
{
    TCase *tc = tcase_create("inputs");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, base_model_reads);
    tcase_add_loop_test(tc, truncated_at_each_kib, 0, N_TRUNCATIONS);
    tcase_add_loop_test(tc, bit_flipped_headers, 0, N_TARGETS * FLIPS_PER_TARGET);
    tcase_add_test(tc, corrupted_compact_type_refused);
    tcase_add_test(tc, huge_declared_shapes);
    tcase_add_test(tc, corrupted_chunks_refused);
    tcase_add_test(tc, misfit_virtual_refused);
    tcase_add_test(tc, links_pointing_outside);
    tcase_add_test(tc, hdf5_corpus_all);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("hostile");
    add_hostile_input_tests(s);
    add_hostile_output_tests(s);
    add_hostile_fuzz_tests(s);
    add_hostile_order_tests(s);
    add_hostile_h5data_tests(s);
    add_hostile_limit_tests(s);
    add_hostile_zip_tests(s);
    add_hostile_link_tests(s);
    add_hostile_sweep_tests(s);
    add_hostile_memory_tests(s);
    add_hostile_keras_list_tests(s);
    return run_suite(s);
}
