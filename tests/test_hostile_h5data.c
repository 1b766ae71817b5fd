/* Hostile HDF5 data (issue #15): metadata that libhdf5 accepts while the data
 * it points to is outside the file, over the file's metadata, a virtual
 * dataset that maps itself or a corrupted source, external storage that is a
 * FIFO; vector files that follow links out of their file; and the HDF Group's
 * CVE reproducers that crashed or exhausted the commands that read data.
 * Every command that reads the data refuses with one line, the same line, or
 * reads it in a child that may crash: never a signal, a hang, or an output
 * file. The fixtures are made by testdata/make_hostile_fixtures.py. */
#include "test_hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* One error line holding needle, naming the model (argv[1]) at most once (a
 * message prefixed with its place twice would name it twice), nothing written
 * to out (when not NULL). */
static void assert_refused(const char *const *argv, const char *needle, const char *out)
{
    if (out)
        remove(out);
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(r.status == 1, "%s %s: status %d (a signal is 128 + N): %s", argv[0], argv[1],
                  r.status, r.err);
    assert_error_line(&r, needle);
    const char *named = strstr(r.err, argv[1]);
    ck_assert_msg(!named || !strstr(named + 1, argv[1]), "%s %s: names the model twice: %s",
                  argv[0], argv[1], r.err);
    if (out)
        ck_assert_msg(!file_exists(out), "%s %s: left %s", argv[0], argv[1], out);
    run_free(&r);
}

/* The vector rebuild takes for a model of n float32s: n ones, as text. */
static const char *ones(size_t n)
{
    char name[32], *text = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 2 * i, "1\n", 2);
    text[2 * n] = 0;
    snprintf(name, sizeof name, "ones%zu.txt", n);
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, text, 2 * n), 0);
    free(text);
    return path;
}

/* /w's contiguous data at byte 2^40: flatten said "the file ends early",
 * summary passed on libhdf5's "addr overflow", and rebuild into HDF5 wrote a
 * copy that could not be read back and exited 0. All refuse it while the
 * tree is read, with the same line. */
START_TEST(data_outside_the_file)
{
    const char *model = testdata("hostile/data_outside.h5"), *out = tmpfile_in("out.h5");
    const char *needle = "data_outside.h5: /w: stores its data at bytes 1099511627776 to "
                         "1099511627840, past the end of the file (6208 bytes)";
    const char *flatten[] = { "flatten", model, NULL };
    const char *summary[] = { "summary", model, NULL };
    const char *convert[] = { "convert", model, "-o", out, NULL };
    const char *rebuild[] = { "rebuild", model, ones(16), "-o", out, NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(summary, needle, NULL);
    assert_refused(convert, needle, out);
    assert_refused(rebuild, needle, out);
}
END_TEST

/* /w's data at the root group's object header: flatten read the header as
 * floats, and rebuild wrote the new values over it (the copy no longer
 * opened). */
START_TEST(data_over_metadata)
{
    const char *model = testdata("hostile/data_over_header.h5"), *out = tmpfile_in("out.h5");
    const char *needle = "data_over_header.h5: /w: its data (bytes 96 to 160) overlaps the object "
                         "header of /";
    const char *flatten[] = { "flatten", model, NULL };
    const char *rebuild[] = { "rebuild", model, ones(16), "-o", out, NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(rebuild, needle, out);
}
END_TEST

/* A float type whose bits lie past its 4 bytes (bit offset 34816): libhdf5
 * read it, but rebuild's conversion into that type wrote past its buffers
 * (a segfault). Refused while the tree is read. */
START_TEST(number_bits_outside_their_bytes)
{
    const char *model = testdata("hostile/bit_offset.h5"), *out = tmpfile_in("out.h5");
    const char *needle = "bit_offset.h5: /w: declares a number type whose bits lie outside its 4 "
                         "bytes";
    const char *flatten[] = { "flatten", model, NULL };
    const char *rebuild[] = { "rebuild", model, ones(4), "-o", out, NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(rebuild, needle, out);
}
END_TEST

/* A virtual dataset that maps itself: libhdf5 1.10.8 recursed until the stack
 * ran out, in flatten, convert, summary and as a vector file. */
START_TEST(virtual_dataset_mapping_itself)
{
    const char *model = testdata("hostile/virtual_self.h5"), *out = tmpfile_in("out.json");
    char vector[4200];
    snprintf(vector, sizeof vector, "%s:/v", model);
    const char *needle = "/v: virtual dataset maps .:v, itself a virtual dataset";
    const char *flatten[] = { "flatten", model, "--allow-external", NULL };
    const char *convert[] = { "convert", model, "-o", out, "--allow-external", NULL };
    const char *summary[] = { "summary", model, "--allow-external", NULL };
    const char *rebuild[] = { "rebuild", testdata("seed.json"), vector, "-o", out,
                              "--allow-external", NULL };
    const char *predict[] = { "predict", testdata("seed.json"), "-x", vector, "--allow-external",
                              NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(convert, needle, out);
    assert_refused(summary, needle, NULL);
    assert_refused(rebuild, needle, out);
    assert_refused(predict, needle, NULL);
}
END_TEST

/* A virtual dataset whose source (a CVE reproducer's fletcher32 dataset with a
 * corrupted type) makes libhdf5 run past its buffers while reading: nothing
 * the metadata says gives it away, so its data is read only in a child, which
 * dies instead of the command (a signal in release, AddressSanitizer's exit
 * in the sanitizer build). */
START_TEST(virtual_dataset_read_in_a_child)
{
    const char *model = testdata("hostile/virtual_crash.h5"), *out = tmpfile_in("out.json");
    const char *needle = "virtual_crash.h5: /v: malformed file (the reader ";
    const char *vector_needle = "virtual_crash.h5:/v: malformed file (the reader ";
    char vector[4200], params[400] = "{\"w\":{\"dtype\":\"float32\",\"shape\":[42],\"data\":[0";
    snprintf(vector, sizeof vector, "%s:/v", model);
    for (int i = 1; i < 42; i++)
        strcat(params, ",0");
    strcat(params, "]}}");
    const char *flatten[] = { "flatten", model, "--allow-external", NULL };
    const char *convert[] = { "convert", model, "-o", out, "--allow-external", NULL };
    const char *summary[] = { "summary", model, "--allow-external", NULL };
    const char *rebuild[] = { "rebuild", write_tmp("p42.json", params), vector, "-o", out,
                              "--allow-external", NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(convert, needle, out);
    assert_refused(summary, needle, NULL);
    assert_refused(rebuild, vector_needle, out);
}
END_TEST

/* A deflated chunk whose stream inflates to 8 bytes of the 4 MB the chunk
 * holds: libhdf5 1.10.8 copied the 4 MB from those 8 (a segfault). Nothing
 * short of inflating every chunk tells such data apart, so filtered data is
 * read in the file's reader child: flatten, summary, convert, a matrix
 * input, and rebuild (whose writes read back chunks they cover in part)
 * fail with one line. */
START_TEST(filtered_data_read_in_a_child)
{
    const char *model = testdata("hostile/short_chunk.h5"), *out = tmpfile_in("out.h5");
    const char *needle = "short_chunk.h5: /w: malformed file (the reader ";
    char matrix[4200];
    snprintf(matrix, sizeof matrix, "%s:/w", model);
    const char *flatten[] = { "flatten", model, NULL };
    const char *summary[] = { "summary", model, NULL };
    const char *convert[] = { "convert", model, "-o", out, NULL };
    const char *rebuild[] = { "rebuild", model, ones(1000000), "-o", out, NULL };
    const char *predict[] = { "predict", testdata("seed.json"), "-x", matrix, NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(summary, needle, NULL);
    assert_refused(convert, needle, out);
    assert_refused(rebuild, needle, out);
    assert_refused(predict, "short_chunk.h5:/w: malformed file (the reader ", NULL);
}
END_TEST

/* External storage in a FIFO (HDF5_EXTFILE_PREFIX points libhdf5 at the
 * directory the FIFO is made in): reading it blocked forever, in the model
 * and the vector reader. Refused at once, well within 10 s. */
START_TEST(external_storage_in_a_fifo)
{
    const char *fifo = tmpfile_in("fifo.bin"), *out = tmpfile_in("out.json");
    const char *model = testdata("hostile/fifo_external.h5");
    char vector[4200], dir[4200];
    snprintf(vector, sizeof vector, "%s:/w", model);
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(fifo, '/') - fifo), fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    setenv("HDF5_EXTFILE_PREFIX", dir, 1);
    const char *flatten[] = { "flatten", model, "--allow-external", NULL };
    const char *rebuild[] = { "rebuild", testdata("seed.json"), vector, "-o", out,
                              "--allow-external", NULL };
    const char *const *commands[] = { flatten, rebuild };
    for (size_t i = 0; i < 2; i++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        assert_refused(commands[i], "/w: raw data stored in external file fifo.bin, which is not "
                                    "a regular file", i ? out : NULL);
        clock_gettime(CLOCK_MONOTONIC, &end);
        ck_assert_msg(end.tv_sec - start.tv_sec < 10, "%s took %ld s", commands[i][0],
                      (long)(end.tv_sec - start.tv_sec));
    }
    unsetenv("HDF5_EXTFILE_PREFIX");
    remove(fifo);
}
END_TEST

/* Vector files are vetted as model files are: an external link, external
 * storage or a virtual dataset only with --allow-external (an external link
 * was followed without it). */
START_TEST(vector_files_stay_in_their_file)
{
    const char *seed = testdata("seed.json"), *out = tmpfile_in("out.json");
    char raw[4200], virtual[4200];
    snprintf(raw, sizeof raw, "%s:/w", testdata("hostile/external_raw.h5"));
    snprintf(virtual, sizeof virtual, "%s:/v", testdata("hostile/virtual.h5"));
    const char *linked[] = { "rebuild", seed, testdata("hostile/vector_extlink.h5"), "-o", out, NULL };
    const char *stored[] = { "rebuild", seed, raw, "-o", out, NULL };
    const char *mapped[] = { "predict", seed, "-x", virtual, NULL };
    assert_refused(linked, "vector_extlink.h5: /data: external link to vector_target.h5:/data "
                           "refused (use --allow-external)", out);
    assert_refused(stored, "external_raw.h5:/w: raw data stored in external file ../outside.bin "
                           "refused (use --allow-external)", out);
    assert_refused(mapped, "virtual.h5:/v: virtual dataset refused (use --allow-external)", NULL);
    /* allowed, the link is followed: the target's 0..4 */
    run_result r = run_fpv(NULL, "rebuild", seed, testdata("hostile/vector_extlink.h5"), "-o", out,
                           "--allow-external", NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, NULL);
    ck_assert_str_eq(r.out, "0\n1\n2\n3\n4\n");
    run_free(&r);
}
END_TEST

/* Writing a vector into an existing HDF5 file (FILE.h5:/path): libhdf5
 * crashed opening a hostile one (a copy of CVE-2018-13867's reproducer), and
 * an external link on the path took the write into the file it names. Both
 * refused with one line; the files stay as they were. */
START_TEST(vector_written_into_a_hostile_file)
{
    const char *seed = testdata("seed.json");
    const char *copy = tmpfile_in("cve.h5"), *through = tmpfile_in("write_through.h5");
    const char *linked = tmpfile_in("vector_target.h5");
    char target[4200];
    size_t len;
    char *bytes = read_file(corpus("hdf5/cve-2018-13867.h5"), &len);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_int_eq(write_file(copy, bytes, len), 0);
    free(bytes);
    snprintf(target, sizeof target, "%s:/x", copy);
    const char *hostile[] = { "flatten", seed, "-o", target, NULL };
    assert_refused(hostile, "cve.h5:/x: malformed file (the reader ", NULL);
    assert_same_bytes(copy, corpus("hdf5/cve-2018-13867.h5"));

    const char *fixtures[][2] = { { "hostile/write_through.h5", through },
                                  { "hostile/vector_target.h5", linked } };
    for (size_t i = 0; i < 2; i++) {
        bytes = read_file(testdata(fixtures[i][0]), &len);
        ck_assert_ptr_nonnull(bytes);
        ck_assert_int_eq(write_file(fixtures[i][1], bytes, len), 0);
        free(bytes);
    }
    snprintf(target, sizeof target, "%s:/grp/x", through);
    const char *out_of_file[] = { "flatten", seed, "-o", target, NULL };
    assert_refused(out_of_file, "write_through.h5:/grp/x: external link to vector_target.h5:/ "
                                "refused (use --allow-external)", NULL);
    assert_same_bytes(linked, testdata("hostile/vector_target.h5"));
}
END_TEST

/* The HDF Group's reproducers for CVE-2018-11202 (a scalar stored in chunks:
 * convert grew to 24 GB reading it), CVE-2024-32614 (a fletcher32 dataset
 * whose float type claims 65525 bytes: libhdf5 ran past its buffers reading
 * the data in flatten, summary and convert) and CVE-2018-13867 (libhdf5
 * crashed opening it as a vector file, which was opened outside the child). */
START_TEST(cve_reproducers)
{
    const char *scalar = corpus("hdf5/cve-2018-11202.h5"), *wide = corpus("hdf5/cve-2024-32614.h5");
    const char *vector = corpus("hdf5/cve-2018-13867.h5"), *seed = testdata("seed.json");
    const char *outputs[] = { tmpfile_in("c.json"), tmpfile_in("c.safetensors"), tmpfile_in("c.h5") };
    for (size_t i = 0; i < 3; i++) {
        const char *convert[] = { "convert", scalar, "-o", outputs[i], NULL };
        run_result r = run_fp(NULL, 0, convert);
        assert_error_line(&r, "cve-2018-11202.h5: /Compressed_Data: is a scalar stored in chunks");
        ck_assert_msg(r.max_rss_kb < 256 << 10, "convert: peak %ld KiB", r.max_rss_kb);
        ck_assert(!file_exists(outputs[i]));
        run_free(&r);
    }
    const char *needle = "cve-2024-32614.h5: /Fletcher_float_data_be: declares elements of 65525 "
                         "bytes, wider than any number";
    const char *flatten[] = { "flatten", wide, NULL };
    const char *summary[] = { "summary", wide, NULL };
    const char *convert[] = { "convert", wide, "-o", outputs[0], NULL };
    assert_refused(flatten, needle, NULL);
    assert_refused(summary, needle, NULL);
    assert_refused(convert, needle, outputs[0]);
    const char *rebuild[] = { "rebuild", seed, vector, "-o", outputs[0], NULL };
    const char *predict[] = { "predict", seed, "-x", vector, NULL };
    assert_refused(rebuild, "cve-2018-13867.h5: malformed file (the reader ", outputs[0]);
    assert_refused(predict, "cve-2018-13867.h5: malformed file (the reader ", NULL);
}
END_TEST

void add_hostile_h5data_tests(Suite *s)
{
    TCase *tc = tcase_create("h5data");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, data_outside_the_file);
    tcase_add_test(tc, data_over_metadata);
    tcase_add_test(tc, number_bits_outside_their_bytes);
    tcase_add_test(tc, virtual_dataset_mapping_itself);
    tcase_add_test(tc, virtual_dataset_read_in_a_child);
    tcase_add_test(tc, filtered_data_read_in_a_child);
    tcase_add_test(tc, external_storage_in_a_fifo);
    tcase_add_test(tc, vector_files_stay_in_their_file);
    tcase_add_test(tc, vector_written_into_a_hostile_file);
    tcase_add_test(tc, cve_reproducers);
    suite_add_tcase(s, tc);
}
