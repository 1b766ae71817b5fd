/* Commands under a small address-space limit (ulimit -v). OpenBLAS's worker
 * threads, started before main, each map a 128 MiB buffer and retry for ever
 * when they cannot; exit() then waits for them, so under about 190 MiB every
 * command, even --version, spun for ever. Now each ends: with its normal
 * output, or, where a matrix product's buffer cannot fit, with one line.
 *
 * In the sanitizer build run_fp_memory cannot limit the address space (ASan's
 * shadow alone exceeds it) and the case is skipped: what it tests is the
 * address-space limit itself. */
#include "test_hostile.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum { LIMIT_SECONDS = 20 };

/* argv under memory_mib (0: no limit), asserted to end within LIMIT_SECONDS
 * and without a signal. */
static run_result run_limited(size_t memory_mib, const char *const *argv)
{
    time_t start = time(NULL);
    run_result r = run_fp_memory(memory_mib, NULL, 0, argv);
    ck_assert_msg(time(NULL) - start < LIMIT_SECONDS, "%s under %zu MiB took %ld s", argv[0],
                  memory_mib, (long)(time(NULL) - start));
    ck_assert_msg(r.status == 0 || r.status == 1, "%s under %zu MiB: status %d: %s", argv[0],
                  memory_mib, r.status, r.err);
    return r;
}

START_TEST(commands_end_under_small_address_space)
{
    if (harness_asan()) {
        fprintf(stderr, "hostile: no address-space limit under AddressSanitizer: case skipped\n");
        return;
    }
    const char *seed = testdata("seed.json"), *x = testdata("hessian/seed_x.npy");
    const char *const version[] = { "--version", NULL };
    const char *const flatten[] = { "flatten", seed, NULL };
    const char *const hessian[] = { "hessian", seed, "-x", x, NULL };
    const char *const *commands[] = { version, flatten, hessian };
    static const size_t limits_mib[] = { 150, 170, 190, 200, 400 };
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
        run_result want = run_limited(0, commands[c]);
        ck_assert_int_eq(want.status, 0);
        for (size_t i = 0; i < sizeof limits_mib / sizeof *limits_mib; i++) {
            run_result r = run_limited(limits_mib[i], commands[c]);
            if (r.status == 1 && c == 2) {
                /* a matrix product's buffer alone is 128 MiB: not under 150 */
                assert_error_line(&r, "out of memory: OpenBLAS needs a 128 MiB buffer, more than "
                                      "the address-space limit");
            } else {
                ck_assert_msg(r.status == 0, "%s under %zu MiB: %s", commands[c][0], limits_mib[i],
                              r.err);
                ck_assert_str_eq(r.out, want.out);
                ck_assert_str_eq(r.err, "");
            }
            if (limits_mib[i] == 150 && c == 2)
                ck_assert_int_eq(r.status, 1);
            if (limits_mib[i] == 400)
                ck_assert_int_eq(r.status, 0);
            run_free(&r);
        }
        run_free(&want);
    }
}
END_TEST

void add_hostile_limit_tests(Suite *s)
{
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, commands_end_under_small_address_space);
    suite_add_tcase(s, tc);
}
