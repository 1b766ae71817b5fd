/* Hostile .keras zips (testdata/make_keras_zip_fixtures.py): decompression
 * bombs, which wrote what they inflate to (80 MiB here, gigabytes in the
 * wild) into $TMPDIR and succeeded; an entry that inflates past its declared
 * size; and entries named twice, where flatparams read the first and Keras
 * (Python's zipfile) reads the last. Each is one error line, naming the entry,
 * for every command that opens the model, and nothing is left in $TMPDIR. */
#include "test_hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const struct {
    const char *file, *needle;
} zips[] = {
    { "hostile/keras_bomb.keras",
      "keras_bomb.keras: model.weights.h5 inflates 82794 bytes of the zip to 83902152, more "
      "than 100 times: refused as a decompression bomb (store it uncompressed, as Keras does)" },
    { "hostile/keras_config_bomb.keras",
      "keras_config_bomb.keras: config.json inflates 81802 bytes of the zip to 83886737, more "
      "than 100 times: refused as a decompression bomb" },
    { "hostile/keras_lying_size.keras",
      "keras_lying_size.keras: model.weights.h5 inflates past its declared 16072 bytes: refused" },
    { "hostile/keras_dup_weights.keras",
      "keras_dup_weights.keras: the zip holds 2 entries named model.weights.h5 (Keras reads the "
      "last, libzip the first): refused" },
    { "hostile/keras_dup_config.keras",
      "keras_dup_config.keras: the zip holds 2 entries named config.json (Keras reads the last, "
      "libzip the first): refused" },
};

/* $TMPDIR for the commands: a fresh directory of the test's own. */
static const char *private_tmpdir(void)
{
    const char *dir = tmpfile_in("zip-tmp");
    mkdir(dir, 0700);
    setenv("TMPDIR", dir, 1);
    return dir;
}

START_TEST(hostile_zip_refused)
{
    const char *tmp = private_tmpdir();
    const char *model = testdata(zips[_i].file);
    const char *vec = tmpfile_in("v.txt"), *out = tmpfile_in("rebuilt.keras");
    ck_assert_int_eq(write_file(vec, "1\n", 2), 0);
    const char *const commands[][8] = {
        { "flatten", model, NULL },
        { "modules", model, NULL },
        { "summary", model, NULL },
        { "rebuild", model, vec, "-o", out, NULL },
        { "convert", model, "-o", tmpfile_in("c.safetensors"), NULL },
    };
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
        run_result r = run_fp(NULL, 0, commands[c]);
        assert_error_line(&r, zips[_i].needle);
        run_free(&r);
        ck_assert_msg(dir_count(tmp) == 0, "%s %s left files in $TMPDIR", commands[c][0],
                      zips[_i].file);
    }
    ck_assert(!file_exists(out));
}
END_TEST

void add_hostile_zip_tests(Suite *s)
{
    TCase *tc = tcase_create("zip");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, hostile_zip_refused, 0, (int)(sizeof zips / sizeof *zips));
    suite_add_tcase(s, tc);
}
