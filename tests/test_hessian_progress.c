/* hessian --progress: progress lines where stderr is not a terminal (a log, a
 * pipe: here run_fp's pipe), whole lines at FLATPARAMS_PROGRESS_SECONDS (0:
 * every step, so a job of milliseconds prints some) and one at the end; the
 * result unchanged; nothing with -q, and nothing without --progress. Lanczos
 * has no share and no time left (it stops when it converges: a total of n
 * iterations made it promise 292 s for a 0.4 s job). */
#include "test_hessian.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MODEL testdata("compute/loss_mse.json")
#define X testdata("compute/x.npy")
#define Y testdata("compute/y_real.npy")
enum { N = 4 * 6 + 6 + 6 * 3 + 3 };   /* that model's parameters */

/* hessian MODEL -x X -y Y --precision f64 ARGS... -o out (asserted to succeed) */
static run_result hessian(const char *out, const char *a, const char *b, const char *c,
                          const char *d)
{
    char model[4096], x[4096], y[4096];
    snprintf(model, sizeof model, "%s", MODEL);
    snprintf(x, sizeof x, "%s", X);
    snprintf(y, sizeof y, "%s", Y);
    const char *argv[16] = { "hessian", model, "-x", x, "-y", y, "--precision", "f64", "-o", out };
    int n = 10;
    for (const char *extra[] = { a, b, c, d }, **e = extra; e < extra + 4 && *e; e++)
        argv[n++] = *e;
    run_result r = run_fp(NULL, 0, argv);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    return r;
}

/* Every line of text matches pattern (extended regex); returns the count. */
static int lines_matching(const char *text, const char *pattern, const char *last_pattern)
{
    regex_t re, last;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_int_eq(regcomp(&last, last_pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(!strchr(text, '\r'), "a carriage return in a log: %s", text);
    int n = 0;
    for (const char *line = text; *line; n++) {
        const char *nl = strchr(line, '\n');
        ck_assert_msg(nl, "an unfinished line: %s", line);
        char one[512];
        snprintf(one, sizeof one, "%.*s", (int)(nl - line), line);
        int is_last = nl[1] == 0;
        ck_assert_msg(regexec(is_last ? &last : &re, one, 0, NULL, 0) == 0,
                      "line %d does not match %s: '%s'", n + 1, is_last ? last_pattern : pattern, one);
        line = nl + 1;
    }
    regfree(&re);
    regfree(&last);
    return n;
}

#define RATE "[0-9]+(\\.[0-9])?/s|[0-9.e-]+/s"

START_TEST(progress_lines_in_a_log)
{
    char plain[4096], logged[4096];
    snprintf(plain, sizeof plain, "%s", tmpfile_in("plain.npy"));
    snprintf(logged, sizeof logged, "%s", tmpfile_in("logged.npy"));
    setenv("FLATPARAMS_BLOCK_ROWS", "7", 1);   /* 8 blocks: 7 steps and the last */
    run_result r = hessian(plain, NULL, NULL, NULL, NULL);
    ck_assert_str_eq(r.err, "");   /* no terminal, no --progress: nothing, as before */
    run_free(&r);

    setenv("FLATPARAMS_PROGRESS_SECONDS", "0", 1);
    r = hessian(logged, "--progress", NULL, NULL, NULL);
    int n = lines_matching(r.err,
                           "^hessian: rows [0-9]+/51 \\([0-9]+\\.[0-9]%\\), (" RATE "), [0-9]+ s left$",
                           "^hessian: rows 51/51 \\(100\\.0%\\), (" RATE "), done in [0-9]+\\.[0-9]+ s$");
    ck_assert_int_eq(n, 8);
    ck_assert_msg(!strncmp(r.err, "hessian: rows 7/51 (13.7%), ", 28), "%s", r.err);
    run_free(&r);
    assert_same_bytes(plain, logged);   /* the result is the same */

    /* -q silences it, --progress or not */
    r = hessian(logged, "--progress", "-q", NULL, NULL);
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    /* the default interval (5 s): a job of milliseconds prints its last line only */
    unsetenv("FLATPARAMS_PROGRESS_SECONDS");
    r = hessian(logged, "--progress", NULL, NULL, NULL);
    ck_assert_int_eq(lines_matching(r.err, "^$", "^hessian: rows 51/51 \\(100\\.0%\\), .*, done in "),
                     1);
    run_free(&r);

    /* the scratch file's two passes each count their rows */
    setenv("FLATPARAMS_PROGRESS_SECONDS", "0", 1);
    setenv("FLATPARAMS_SCRATCH_FILE", "2", 1);
    r = hessian(logged, "--progress", NULL, NULL, NULL);
    unsetenv("FLATPARAMS_SCRATCH_FILE");
    ck_assert_msg(strstr(r.err, "hessian: rows 51/51 (100.0%), ")
                  && strstr(r.err, "hessian: symmetrised rows 14/51 (27.5%), "), "%s", r.err);
    lines_matching(r.err, "^hessian: (symmetrised )?rows [0-9]+/51 \\(.*%\\), (" RATE "), "
                          "([0-9]+ s left|done in [0-9.]+ s)$",
                   "^hessian: symmetrised rows 51/51 \\(100\\.0%\\), .*, done in [0-9.]+ s$");
    run_free(&r);
    unsetenv("FLATPARAMS_BLOCK_ROWS");
    unsetenv("FLATPARAMS_PROGRESS_SECONDS");
}
END_TEST

START_TEST(lanczos_progress_promises_no_time)
{
    char plain[4096], logged[4096];
    snprintf(plain, sizeof plain, "%s", tmpfile_in("eigs.txt"));
    snprintf(logged, sizeof logged, "%s", tmpfile_in("eigs-logged.txt"));
    run_result r = hessian(plain, "--eigs", "3", NULL, NULL);
    run_free(&r);
    setenv("FLATPARAMS_PROGRESS_SECONDS", "0", 1);
    r = hessian(logged, "--eigs", "3", "--progress", NULL);
    unsetenv("FLATPARAMS_PROGRESS_SECONDS");
    /* iterations counted, with their rate; no share of a total, no time left */
    int n = lines_matching(r.err, "^hessian: Lanczos iterations [0-9]+, (" RATE ")$",
                           "^hessian: Lanczos iterations [0-9]+, (" RATE "), done in [0-9.]+ s$");
    ck_assert_int_ge(n, 2);
    ck_assert_msg(!strncmp(r.err, "hessian: Lanczos iterations 1, ", 31), "%s", r.err);
    run_free(&r);
    assert_same_bytes(plain, logged);

    /* --diag counts rows as the full matrix does */
    snprintf(logged, sizeof logged, "%s", tmpfile_in("diag.txt"));
    setenv("FLATPARAMS_PROGRESS_SECONDS", "0", 1);
    r = hessian(logged, "--diag", "--progress", NULL, NULL);
    unsetenv("FLATPARAMS_PROGRESS_SECONDS");
    ck_assert_msg(strstr(r.err, "hessian: rows 51/51 (100.0%), "), "%s", r.err);
    run_free(&r);

    /* only commands that show progress take --progress */
    r = run_fpv(NULL, "flatten", MODEL, "--progress", NULL);
    assert_usage_line(&r, "flatten: no option '--progress'");
    run_free(&r);
}
END_TEST

/* What `hessian ARGS` prints on stderr when stderr is a terminal (a pty);
 * stdout goes to /dev/null. Caller frees. */
static char *stderr_on_a_terminal(const char *a, const char *b)
{
    char model[4096], x[4096], y[4096];
    snprintf(model, sizeof model, "%s", MODEL);
    snprintf(x, sizeof x, "%s", X);
    snprintf(y, sizeof y, "%s", Y);
    int master, slave;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(slave, STDERR_FILENO) < 0)
            _exit(99);
        close(master);
        execl(getenv("FP_BIN"), "flatparams", "hessian", model, "-x", x, "-y", y, "--precision",
              "f64", a, b, (char *)NULL);
        _exit(127);
    }
    close(slave);
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    for (;;) {   /* until the child's end closes the terminal (EIO) */
        ssize_t got = read(master, text + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || (len += (size_t)got) == cap - 1)
            break;
    }
    text[len] = 0;
    close(master);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, text);
    return text;
}

/* On a terminal: one line rewritten in place (carriage returns), ended by a
 * newline; Lanczos' line promised a time for n iterations ("292 s left" for a
 * job of 0.4 s) and a share of them: now neither. */
START_TEST(terminal_line_promises_no_lanczos_time)
{
    setenv("FLATPARAMS_BLOCK_ROWS", "7", 1);
    char *text = stderr_on_a_terminal("--eigs", "3");
    ck_assert_msg(!strncmp(text, "\rhessian: Lanczos iterations 1, ", 32), "%s", text);
    ck_assert_msg(!strstr(text, "left") && !strstr(text, "%"), "Lanczos promises: %s", text);
    ck_assert_msg(strstr(text, ", done in ") && text[strlen(text) - 1] == '\n', "%s", text);
    free(text);
    text = stderr_on_a_terminal("--diag", "-q");
    ck_assert_str_eq(text, "");
    free(text);
    text = stderr_on_a_terminal("--rows", "0:");   /* blocks of 7 rows */
    ck_assert_msg(!strncmp(text, "\rhessian: rows 7/51 (13.7%), ", 29) && strstr(text, " s left")
                  && strstr(text, "\rhessian: rows 51/51 (100.0%), ")
                  && text[strlen(text) - 1] == '\n', "%s", text);
    free(text);
    unsetenv("FLATPARAMS_BLOCK_ROWS");
}
END_TEST

TCase *hessian_progress_tcase(void)
{
    TCase *tc = tcase_create("progress");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, progress_lines_in_a_log);
    tcase_add_test(tc, lanczos_progress_promises_no_time);
    tcase_add_test(tc, terminal_line_promises_no_lanczos_time);
    return tc;
}
