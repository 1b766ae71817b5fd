/* What new users tripped on (issue 15, part 4), end to end: usage lines that
 * said the command's name twice, modules --json calling an untyped node "map",
 * and convert growing the flat vector without a word. */
#include "harness.h"
#include "flatparams.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The usage lines, exactly: the command's name once, as the prefix. */
START_TEST(usage_lines_name_the_command_once)
{
    const char *vec = write_tmp("five.txt", "1\n2\n3\n4\n5\n");
    struct { const char *argv[8]; const char *line; } cases[] = {
        { { "rebuild", testdata("seed.json"), vec },
          "flatparams: error: rebuild: missing -o OUT (see 'flatparams rebuild -h')\n" },
        { { "rebuild", testdata("seed.json"), vec, "-o", "-" },
          "flatparams: error: rebuild: -o - is not supported: the output is a model file "
          "(see 'flatparams rebuild -h')\n" },
        { { "convert", testdata("seed.json") },
          "flatparams: error: convert: missing -o OUT (see 'flatparams convert -h')\n" },
        { { "predict", testdata("seed.json") },
          "flatparams: error: predict: missing -x X (one sample per row) "
          "(see 'flatparams predict -h')\n" },
        { { "hessian", testdata("seed.json"), "--diag" },
          "flatparams: error: hessian: missing -x X (one sample per row) "
          "(see 'flatparams hessian -h')\n" },
        { { "flatten", testdata("seed.json"), "--eigs", "3" },
          "flatparams: error: flatten: no option '--eigs' (see 'flatparams flatten -h')\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = run_fp(NULL, 0, cases[i].argv);
        ck_assert_msg(r.status == 2, "%s: exit %d", cases[i].argv[0], r.status);
        ck_assert_str_eq(r.err, cases[i].line);
        run_free(&r);
    }
    /* every command's usage errors: never "<cmd>: <cmd> ..." nor "'flatparams <cmd>' ..." */
    const char *commands[] = { "flatten", "rebuild", "modules", "summary", "convert",
                               "predict", "gradient", "hessian" };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const char *argv_sets[3][6] = {
            { commands[i], "--no-such-option" },
            { commands[i], testdata("seed.json"), vec, "--which", "LM" },
            { commands[i], testdata("seed.json"), vec },
        };
        char twice[64], quoted[64];
        snprintf(twice, sizeof twice, "%s: %s ", commands[i], commands[i]);
        snprintf(quoted, sizeof quoted, "'flatparams %s' ", commands[i]);
        for (int k = 0; k < 3; k++) {
            run_result r = run_fp(NULL, 0, argv_sets[k]);
            ck_assert_msg(!strstr(r.err, twice) && !strstr(r.err, quoted), "%s", r.err);
            run_free(&r);
        }
    }
}
END_TEST

void cli_add_message_tests(Suite *s)
{
    TCase *tc = tcase_create("messages");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, usage_lines_name_the_command_once);
    suite_add_tcase(s, tc);
}
