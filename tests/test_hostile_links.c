/* Output targets that are symbolic links the system cannot resolve: a loop
 * of two links, a link to itself, a path through a looping directory. `-o`
 * replaced the link with a file and exited 0, where cp and np.save fail with
 * ELOOP; every writer (test_hostile_write.c's cases) now gives one line naming
 * the path and the system's reason, and leaves the links as they were. */
#include "test_hostile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void assert_link(const char *link, const char *dest)
{
    char now[4096];
    ssize_t n = readlink(link, now, sizeof now - 1);
    ck_assert_msg(n > 0, "%s is no longer a link", link);
    now[n] = 0;
    ck_assert_str_eq(now, dest);
}

/* Runs the case with its output at target; asserts the one line. */
static void expect_loop_refused(const output_case *c, const char *target)
{
    const char *argv[12];
    size_t k = 0;
    for (; c->argv[k]; k++)
        argv[k] = c->argv[k];
    argv[k++] = target;
    argv[k] = NULL;
    if (c->scratch_file)
        setenv("FLATPARAMS_SCRATCH_FILE", "1", 1);
    run_result r = run_fp(NULL, 0, argv);
    unsetenv("FLATPARAMS_SCRATCH_FILE");
    char want[4200];
    snprintf(want, sizeof want, "flatparams: error: %s: %s\n", target, strerror(ELOOP));
    ck_assert_msg(r.status == 1, "%s -o %s: exit %d: %s", argv[0], target, r.status, r.err);
    ck_assert_str_eq(r.err, want);
    ck_assert_uint_eq(r.out_len, 0);
    run_free(&r);
}

START_TEST(symlink_loops_refused)
{
    output_case cases[MAX_OUTPUT_CASES];
    size_t n = hostile_output_cases(cases);   /* its paths sit in the harness's ring: no tmpfile_in below */
    const char *root = tmpdir();
    for (size_t i = 0; i < n; i++) {
        char dir[4096], a[4200], b[4200], self[4200], through[4200], loop_dir[4200];
        snprintf(dir, sizeof dir, "%s/%zu", root, i);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        snprintf(a, sizeof a, "%s/%s", dir, cases[i].target);
        snprintf(b, sizeof b, "%s/other", dir);
        snprintf(self, sizeof self, "%s/self-%s", dir, cases[i].target);
        snprintf(loop_dir, sizeof loop_dir, "%s/loop", dir);
        snprintf(through, sizeof through, "%s/loop/%s", dir, cases[i].target);
        ck_assert_int_eq(symlink("other", a), 0);
        ck_assert_int_eq(symlink(cases[i].target, b), 0);
        ck_assert_int_eq(symlink(strrchr(self, '/') + 1, self), 0);
        ck_assert_int_eq(symlink("loop", loop_dir), 0);
        expect_loop_refused(&cases[i], a);
        expect_loop_refused(&cases[i], self);
        expect_loop_refused(&cases[i], through);
        assert_link(a, "other");
        assert_link(b, cases[i].target);
        assert_link(self, strrchr(self, '/') + 1);
        assert_link(loop_dir, "loop");
        ck_assert_int_eq(dir_count(dir), 4);   /* no temporary left */
    }
}
END_TEST

void add_hostile_link_tests(Suite *s)
{
    TCase *tc = tcase_create("links");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, symlink_loops_refused);
    suite_add_tcase(s, tc);
}
