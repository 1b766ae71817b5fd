/* Runs untrusted parsing in a child process with time and memory limits, so a
 * library that crashes or loops on a hostile file (libhdf5 1.10.8 segfaults on
 * some) costs one error line, not the process: once per file for its
 * metadata (fp_isolated), and for data that cannot be proven safe to read, a
 * child that serves one read after another (fp_child_read). */
#include "isolate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---- the child's side */

/* The child speaks only through its pipe or socket: whatever the library (or
 * a sanitizer, on a library bug) prints would break the one-line error, and
 * an inherited stdout would keep a reader of ours waiting. */
static void silence(void)
{
    int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
}

/* The address space this process maps now (0 when /proc cannot say). */
static size_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    return (size_t)pages * (size_t)(page > 0 ? page : 4096);
}

/* Lets the child use `seconds` more CPU time and memory_bytes more address
 * space than it has now (0: no memory limit), within its hard limits. */
static void limit_child(int seconds, size_t memory_bytes)
{
    struct rusage used;
    struct rlimit cpu, as;
    if (getrusage(RUSAGE_SELF, &used) == 0 && getrlimit(RLIMIT_CPU, &cpu) == 0) {
        rlim_t want = (rlim_t)(used.ru_utime.tv_sec + used.ru_stime.tv_sec + 1) + (rlim_t)seconds;
        cpu.rlim_cur = cpu.rlim_max != RLIM_INFINITY && want > cpu.rlim_max ? cpu.rlim_max : want;
        setrlimit(RLIMIT_CPU, &cpu);
    }
#ifdef UNDER_ASAN
    memory_bytes = 0;   /* AddressSanitizer reserves terabytes of address space */
#endif
    if (memory_bytes && getrlimit(RLIMIT_AS, &as) == 0) {
        size_t held = mapped_bytes();
        rlim_t want = held > SIZE_MAX - memory_bytes ? RLIM_INFINITY : (rlim_t)(held + memory_bytes);
        as.rlim_cur = as.rlim_max != RLIM_INFINITY && want > as.rlim_max ? as.rlim_max : want;
        setrlimit(RLIMIT_AS, &as);
    }
}

/* ---- the parent's side */

static const char gave_up[] = "%s: gave up after %d s (the reader loops on the file, or it "
                              "unpacks to far more data than a model holds)";

/* Reaps a child that ended (or was killed: timed_out) and says how:
 * 0 when it exited with 0, else -1 with its message (msg) or how it died. */
static int reap(pid_t pid, int timed_out, int seconds, const char *what, const char *msg,
                fp_error *err)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return fp_fail(err, gave_up, what, seconds);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            return fp_fail(err, gave_up, what, seconds);
        return fp_fail(err, "%s: malformed file (the reader crashed with signal %d: %s)", what, sig,
                       strsignal(sig));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !msg[0])
        return 0;
    if (msg[0])
        return fp_fail(err, "%s", msg);
    return fp_fail(err, "%s: malformed file (the reader ran out of memory or failed)", what);
}

/* Reads n bytes from fd into buf by `deadline`: n, or less when the other end
 * closed, or -1 when time ran out (or reading failed). */
static ssize_t read_by(int fd, void *buf, size_t n, time_t deadline)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, 250);
        if (ready > 0) {
            ssize_t k = read(fd, (char *)buf + got, n - got);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return k < 0 ? -1 : (ssize_t)got;
            got += (size_t)k;
        } else if (ready < 0 && errno != EINTR) {
            return -1;
        }
        if (time(NULL) > deadline)   /* a loop that sleeps or blocks: wall-clock limit */
            return -1;
    }
    return (ssize_t)got;
}

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
        silence();
        limit_child(seconds, memory_bytes);
        fp_error child_err = { "" };
        int rc = fn(arg, &child_err);
        if (rc < 0) {
            ssize_t w = write(pipe_fd[1], child_err.msg, strlen(child_err.msg));
            (void)w;
        }
        _exit(rc < 0 ? 1 : 0);
    }
    close(pipe_fd[1]);
    char msg[sizeof err->msg];
    ssize_t len = read_by(pipe_fd[0], msg, sizeof msg - 1, time(NULL) + seconds + 2);
    int timed_out = len < 0;
    if (timed_out)
        kill(pid, SIGKILL);
    msg[len > 0 ? len : 0] = 0;
    close(pipe_fd[0]);
    return reap(pid, timed_out, seconds, what, msg, err);
}

/* ---- a child that serves reads */

/* A read's limits: 20 s and 1 GiB beyond its data (a filter's buffers, a chunk
 * cache), and a second more per 64 MiB. */
enum { READ_SECONDS = 20, READ_BYTES_PER_SECOND = 64 << 20 };
static const size_t read_memory_slack = (size_t)1 << 30;

struct fp_reader_child {
    pid_t pid;
    int fd;                /* our end of a socket pair */
    fp_serve_fn serve;
    void *ctx;
};

/* What the parent sends before each request, and the child answers. */
typedef struct request_header {
    uint64_t request_len, answer_bytes, work_bytes;
} request_header;

typedef struct answer_header {
    uint32_t failed, message_len;
} answer_header;

static int read_all(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static int send_all(int fd, const void *buf, size_t n)
{
    for (size_t sent = 0; sent < n;) {
        ssize_t k = send(fd, (const char *)buf + sent, n - sent, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        sent += (size_t)k;
    }
    return 0;
}

static size_t read_seconds(uint64_t bytes)
{
    return READ_SECONDS + bytes / READ_BYTES_PER_SECOND;
}

/* The child: one request after another until the parent closes its end (or
 * dies: then the kernel ends the child too). */
static void serve_requests(int fd, fp_serve_fn serve, void *ctx)
{
    char *request = NULL, *answer = NULL;
    for (;;) {
        request_header head;
        if (read_all(fd, &head, sizeof head) < 0)
            _exit(0);
        free(request);
        free(answer);
        answer = NULL;
        if (!(request = malloc(head.request_len + 1)) || read_all(fd, request, head.request_len) < 0)
            _exit(1);
        uint64_t memory = head.answer_bytes + head.work_bytes;
        limit_child((int)read_seconds(memory), memory + read_memory_slack);
        fp_error err = { "" };
        int rc = head.answer_bytes && !(answer = malloc(head.answer_bytes))
               ? fp_fail(&err, "out of memory for %llu bytes", (unsigned long long)head.answer_bytes)
               : serve(ctx, request, head.request_len, answer, head.answer_bytes, &err);
        answer_header reply = { rc < 0, rc < 0 ? (uint32_t)strlen(err.msg) : 0 };
        if (send_all(fd, &reply, sizeof reply) < 0
            || send_all(fd, rc < 0 ? err.msg : answer, rc < 0 ? reply.message_len : head.answer_bytes) < 0)
            _exit(1);
    }
}

/* Closes every descriptor but the standard ones, keep and the socket: an
 * inherited descriptor of a file the parent writes would hold that file's
 * lock (libhdf5 locks the files it opens) for as long as the child lives. */
static void close_others(int keep, int sock)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return;
    int *fds = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        int fd = atoi(e->d_name);
        if (fd <= STDERR_FILENO || fd == keep || fd == sock || fd == dirfd(dir))
            continue;
        if (n == cap) {
            int *grown = realloc(fds, (cap = cap ? 2 * cap : 64) * sizeof *fds);
            if (!grown)
                break;
            fds = grown;
        }
        fds[n++] = fd;
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}

static int start_child(fp_reader_child **out, fp_serve_fn serve, void *ctx, int keep_fd,
                       const char *what, fp_error *err)
{
    int pair[2];
    fp_reader_child *child = calloc(1, sizeof *child);
    if (!child)
        return fp_fail(err, "out of memory");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) {
        free(child);
        return fp_fail(err, "%s: cannot create a socket pair: %s", what, strerror(errno));
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pair[0]);
        close(pair[1]);
        free(child);
        return fp_fail(err, "%s: cannot fork: %s", what, strerror(errno));
    }
    if (pid == 0) {
        close(pair[0]);
        /* (another reader's child may hold our socket too: never wait for EOF alone) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        silence();
        close_others(keep_fd, pair[1]);
        serve_requests(pair[1], serve, ctx);
    }
    close(pair[1]);
    *child = (fp_reader_child){ pid, pair[0], serve, ctx };
    *out = child;
    return 0;
}

void fp_child_stop(fp_reader_child *child)
{
    if (!child)
        return;
    close(child->fd);
    kill(child->pid, SIGKILL);
    while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(child);
}

int fp_child_read(fp_reader_child **child, fp_serve_fn serve, void *ctx, int keep_fd,
                  const void *request, size_t request_len, void *dst, size_t bytes,
                  size_t work_bytes, const char *what, fp_error *err)
{
    if (!*child && start_child(child, serve, ctx, keep_fd, what, err) < 0)
        return -1;
    fp_reader_child *c = *child;
    int seconds = (int)read_seconds(bytes + work_bytes);
    time_t deadline = time(NULL) + seconds + 2;
    request_header head = { request_len, dst ? bytes : 0, work_bytes + (dst ? 0 : bytes) };
    answer_header reply = { 0, 0 };
    char msg[sizeof err->msg] = "";
    int ended = send_all(c->fd, &head, sizeof head) < 0 || send_all(c->fd, request, request_len) < 0
             || read_by(c->fd, &reply, sizeof reply, deadline) != (ssize_t)sizeof reply;
    if (!ended && reply.failed) {
        size_t len = reply.message_len < sizeof msg - 1 ? reply.message_len : sizeof msg - 1;
        ended = read_by(c->fd, msg, len, deadline) != (ssize_t)len || len < reply.message_len;
        msg[len] = 0;
        if (!ended)
            return fp_fail(err, "%s", msg);   /* a failed read: the child serves on */
    }
    if (!ended && head.answer_bytes)
        ended = read_by(c->fd, dst, bytes, deadline) != (ssize_t)bytes;
    if (!ended)
        return 0;
    /* crashed, or out of time: this child is done; the next read starts another */
    int timed_out = time(NULL) > deadline;
    kill(c->pid, SIGKILL);
    close(c->fd);
    int rc = reap(c->pid, timed_out, seconds, what, msg, err);
    free(c);
    *child = NULL;
    return rc < 0 ? -1 : fp_fail(err, "%s: the reader ended unexpectedly", what);
}
