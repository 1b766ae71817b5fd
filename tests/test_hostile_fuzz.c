/* Replays of what the libFuzzer harnesses (fuzz/) found, through the normal
 * build: each input in testdata/fuzz-regressions/ goes through the command
 * that reaches the same parser, and must give its one error line (or output). */
#include "test_hostile.h"

#include <stdio.h>
#include <string.h>

typedef struct replay {
    const char *file;        /* in testdata/fuzz-regressions/ */
    const char *command;     /* "model": flatten FILE; "vector": rebuild seed.json FILE */
    const char *needle;      /* in the error line; NULL when the input is valid */
} replay;

static const replay replays[] = {
    /* fuzz_npy: a one-character descr ('>'); the parser went on reading the
     * descr from past its end (two characters in), which held whatever the
     * stack held. Reported as a 10 s timeout under load, not reproducible;
     * the read was the bug. */
    { "npy-descr-one-char.npy", "vector", "unsupported npy dtype '>'" },
    /* fuzz_safetensors: a bad __metadata__ after a tensor entry returned
     * before the entry count was stored, so the tensor's node leaked
     * (LeakSanitizer fails this replay in the sanitizer build). */
    { "safetensors-metadata-after-tensor.safetensors", "model",
      "__metadata__ value 'shape' is not a string" },
};

START_TEST(fuzz_replay)
{
    const replay *c = &replays[_i];
    char path[4096];
    snprintf(path, sizeof path, "%s", testdata("fuzz-regressions"));
    snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", c->file);
    ck_assert_msg(file_exists(path), "%s is missing", path);
    const char *out = tmpfile_in("replay.out");
    const char *model_argv[] = { "flatten", path, "-o", out, NULL };
    const char *vector_argv[] = { "rebuild", testdata("seed.json"), path, "-o", out, NULL };
    int status = run_hostile(!strcmp(c->command, "model") ? model_argv : vector_argv, out, c->needle);
    ck_assert_int_eq(status, c->needle ? 1 : 0);
}
END_TEST

void add_hostile_fuzz_tests(Suite *s)
{
    TCase *tc = tcase_create("fuzz-regressions");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, fuzz_replay, 0, (int)(sizeof replays / sizeof *replays));
    suite_add_tcase(s, tc);
}
