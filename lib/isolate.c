/* Runs untrusted parsing in a child process with time and memory limits, so a
 * library that crashes or loops on a hostile file (libhdf5 1.10.8 segfaults on
 * some) costs one error line, not the process. */
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int fp_isolated(int (*fn)(void *arg, fp_error *err), void *arg, const char *what,
                int seconds, size_t memory_bytes, fp_error *err)
{
    int pipe_fd[2];
    if (pipe(pipe_fd) < 0)
        return fp_fail(err, "%s: cannot create a pipe: %s", what, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipe_fd[0]);
        close(pipe_fd[1]);
        return fp_fail(err, "%s: cannot fork: %s", what, strerror(errno));
    }
    if (pid == 0) {
        close(pipe_fd[0]);
        /* The child speaks only through the pipe: whatever the library (or a
         * sanitizer, on a library bug) prints would break the one-line error. */
        int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd >= 0) {
            dup2(null_fd, STDERR_FILENO);
            close(null_fd);
        }
        struct rlimit cpu = { (rlim_t)seconds, (rlim_t)seconds + 1 };
        setrlimit(RLIMIT_CPU, &cpu);
#if defined(__SANITIZE_ADDRESS__)
        memory_bytes = 0;   /* AddressSanitizer reserves terabytes of address space */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        memory_bytes = 0;
#endif
#endif
        if (memory_bytes) {
            struct rlimit as = { memory_bytes, memory_bytes };
            setrlimit(RLIMIT_AS, &as);
        }
        fp_error child_err = { "" };
        int rc = fn(arg, &child_err);
        if (rc < 0) {
            size_t n = strlen(child_err.msg);
            ssize_t w = write(pipe_fd[1], child_err.msg, n);
            (void)w;
        }
        _exit(rc < 0 ? 1 : 0);
    }
    close(pipe_fd[1]);
    char msg[sizeof err->msg];
    size_t len = 0;
    time_t deadline = time(NULL) + seconds + 2;
    int timed_out = 0;
    for (;;) {
        struct pollfd p = { pipe_fd[0], POLLIN, 0 };
        int ready = poll(&p, 1, 250);
        if (ready > 0) {
            ssize_t n = read(pipe_fd[0], msg + len, sizeof msg - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            if (len == sizeof msg - 1)
                break;
        } else if (ready < 0 && errno != EINTR) {
            break;
        }
        if (time(NULL) > deadline) {   /* a loop that sleeps or blocks: wall-clock limit */
            kill(pid, SIGKILL);
            timed_out = 1;
            break;
        }
    }
    msg[len] = 0;
    close(pipe_fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return fp_fail(err, "%s: gave up after %d s (the reader loops on the file, or it unpacks "
                            "to far more data than a model holds)", what, seconds);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            return fp_fail(err, "%s: gave up after %d s (the reader loops on the file, or it "
                                "unpacks to far more data than a model holds)", what, seconds);
        return fp_fail(err, "%s: malformed file (the reader crashed with signal %d: %s)", what, sig,
                       strsignal(sig));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (len)
        return fp_fail(err, "%s", msg);
    return fp_fail(err, "%s: malformed file (the reader ran out of memory or failed)", what);
}
