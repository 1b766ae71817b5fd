/* Progress lines on stderr for the long computations (hessian). On a terminal
 * one line, rewritten in place at every step; with --progress on any other
 * stderr (a log file, a pipe under a batch system) a whole line at most every
 * FLATPARAMS_PROGRESS_SECONDS (5 by default) and always one at the end, so a
 * log shows that the job lives without filling up with carriage returns. */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PROGRESS_OFF, PROGRESS_TERMINAL, PROGRESS_LINES };
#define DEFAULT_SECONDS 5.0

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cmd_progress_init(cmd_progress *p, const cmd_opts *opts, const char *command)
{
    memset(p, 0, sizeof *p);
    p->command = command;
    p->what = "";
    if (opts->quiet)
        return;
    if (isatty(STDERR_FILENO)) {
        p->mode = PROGRESS_TERMINAL;
    } else if (opts->progress) {
        const char *env = getenv("FLATPARAMS_PROGRESS_SECONDS");   /* tests: 0, every step */
        char *end;
        double every = env ? strtod(env, &end) : DEFAULT_SECONDS;
        p->every = env && (end == env || *end || !(every >= 0)) ? DEFAULT_SECONDS : every;
        p->mode = PROGRESS_LINES;
    }
}

int cmd_progress_on(const cmd_progress *p)
{
    return p->mode != PROGRESS_OFF;
}

void cmd_progress_begin(cmd_progress *p, const char *what)
{
    p->what = what;
    p->start = p->last_line = seconds_now();
    p->done = p->total = 0;
    p->unfinished = 0;
}

/* "hessian: rows 40/100 (40.0%), 12.5/s, 5 s left" while it runs, "..., done
 * in 8.0 s" at the end. The rate is measured over the steps done; the time
 * left is shown only where the total is known (not for Lanczos, which stops
 * when it converges) and a step has been measured. */
static void print_line(cmd_progress *p, double now, int final)
{
    char line[512];
    size_t n = 0;
    double elapsed = now - p->start;
    n += (size_t)snprintf(line + n, sizeof line - n, "%s: %s %llu", p->command, p->what,
                          (unsigned long long)p->done);
    if (p->total)
        n += (size_t)snprintf(line + n, sizeof line - n, "/%llu (%.1f%%)",
                              (unsigned long long)p->total,
                              100.0 * (double)p->done / (double)p->total);
    if (p->done && elapsed > 0) {
        double rate = (double)p->done / elapsed;
        n += (size_t)snprintf(line + n, sizeof line - n, rate >= 100 ? ", %.0f/s"
                              : rate >= 0.1 ? ", %.1f/s" : ", %.2g/s", rate);
        if (!final && p->total && p->done < p->total)
            n += (size_t)snprintf(line + n, sizeof line - n, ", %.0f s left",
                                  (double)(p->total - p->done) / rate);
    }
    if (final && n < sizeof line)
        snprintf(line + n, sizeof line - n, ", done in %.2f s", elapsed);
    if (p->mode == PROGRESS_TERMINAL)
        fprintf(stderr, "\r%s   %s", line, final ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    p->last_line = now;
}

void cmd_progress_show(void *ctx, uint64_t done, uint64_t total)
{
    cmd_progress *p = ctx;
    if (p->mode == PROGRESS_OFF)
        return;
    double now = seconds_now();
    int final = total && done >= total;
    p->done = done;
    p->total = total;
    p->unfinished = !final;
    if (final || p->mode == PROGRESS_TERMINAL || now - p->last_line >= p->every)
        print_line(p, now, final);
}

void cmd_progress_end(cmd_progress *p, int finished)
{
    if (p->mode != PROGRESS_OFF && p->unfinished) {
        if (finished)
            print_line(p, seconds_now(), 1);
        else if (p->mode == PROGRESS_TERMINAL)
            fputc('\n', stderr);   /* the error line goes below, not after it */
    }
    p->unfinished = 0;
}
