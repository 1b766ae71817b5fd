/* Shared helpers for the Check suites (see harness.h). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = 2 * (*len + n + 1);
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_ASAN 1
#endif
#endif

/* In the child, before exec: hold it to memory_mib. An address-space limit
 * where it works; under AddressSanitizer, whose shadow memory alone takes
 * terabytes of address space, its own limits: an allocation past memory_mib
 * fails (the program sees NULL, as it would under the address-space limit),
 * and a process whose resident memory passes twice that is killed. */
static void limit_memory(size_t memory_mib)
{
#ifdef HARNESS_ASAN
    const char *old = getenv("ASAN_OPTIONS");
    char options[1024];
    snprintf(options, sizeof options,
             "%s%sallocator_may_return_null=1:max_allocation_size_mb=%zu:"
             "soft_rss_limit_mb=%zu:hard_rss_limit_mb=%zu",
             old ? old : "", old && *old ? ":" : "", memory_mib, memory_mib, 2 * memory_mib);
    setenv("ASAN_OPTIONS", options, 1);
#else
    struct rlimit limit = { (rlim_t)memory_mib << 20, (rlim_t)memory_mib << 20 };
    setrlimit(RLIMIT_AS, &limit);
#endif
}

int harness_asan(void)
{
#ifdef HARNESS_ASAN
    return 1;
#else
    return 0;
#endif
}

size_t harness_memory_mib(void)
{
    const char *v = getenv("FP_TEST_MEMORY_MIB");
    return v && *v ? (size_t)strtoull(v, NULL, 10) : 0;
}

run_result run_fp(const char *stdin_data, size_t stdin_len, const char *const *argv)
{
    return run_fp_memory(harness_memory_mib(), stdin_data, stdin_len, argv);
}

run_result run_fp_memory(size_t memory_mib, const char *stdin_data, size_t stdin_len,
                         const char *const *argv)
{
    run_result r = { 0 };
    int in_pipe[2], out_pipe[2], err_pipe[2];
    ck_assert_int_eq(pipe(in_pipe), 0);
    ck_assert_int_eq(pipe(out_pipe), 0);
    ck_assert_int_eq(pipe(err_pipe), 0);
    size_t argc = 0;
    while (argv[argc])
        argc++;
    const char **full = calloc(argc + 2, sizeof *full);
    full[0] = env_or("FP_BIN", "flatparams");
    memcpy(full + 1, argv, argc * sizeof *argv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(in_pipe[1]); close(out_pipe[0]); close(err_pipe[0]);
        if (memory_mib)
            limit_memory(memory_mib);
        execv(full[0], (char *const *)full);
        _exit(127);
    }
    free(full);
    close(in_pipe[0]); close(out_pipe[1]); close(err_pipe[1]);
    signal(SIGPIPE, SIG_IGN);
    size_t in_done = 0, out_cap = 0, err_cap = 0;
    if (!stdin_data || stdin_len == 0) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    } else {
        fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }
    append(&r.out, &r.out_len, &out_cap, "", 0);
    append(&r.err, &r.err_len, &err_cap, "", 0);
    time_t start = time(NULL);
    int open_fds = 2, killed = 0;
    while (open_fds > 0) {
        struct pollfd fds[3] = {
            { out_pipe[0], POLLIN, 0 }, { err_pipe[0], POLLIN, 0 }, { in_pipe[1], POLLOUT, 0 },
        };
        poll(fds, in_pipe[1] >= 0 ? 3 : 2, 1000);
        char buf[65536];
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[k].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[k].fd);
                if (k == 0) out_pipe[0] = -1; else err_pipe[0] = -1;
                open_fds--;
            } else if (k == 0) {
                append(&r.out, &r.out_len, &out_cap, buf, (size_t)n);
            } else {
                append(&r.err, &r.err_len, &err_cap, buf, (size_t)n);
            }
        }
        if (in_pipe[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(in_pipe[1], stdin_data + in_done, stdin_len - in_done);
            if (n > 0)
                in_done += (size_t)n;
            if (n < 0 && errno != EAGAIN)
                in_done = stdin_len;
            if (in_done == stdin_len) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
        if (!killed && time(NULL) - start > 60) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    if (in_pipe[1] >= 0)
        close(in_pipe[1]);
    int status;
    struct rusage usage;
    wait4(pid, &status, 0, &usage);
    r.max_rss_kb = usage.ru_maxrss;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

run_result run_fpv(const char *stdin_data, ...)
{
    const char *argv[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, stdin_data);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 63)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_fp(stdin_data, stdin_data ? strlen(stdin_data) : 0, argv);
}

void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static void assert_one_line(const run_result *r, int status, const char *needle)
{
    ck_assert_msg(r->status == status, "expected exit %d, got %d (stderr: %s)", status, r->status,
                  r->err);
    ck_assert_msg(!strncmp(r->err, "flatparams: error: ", 19), "stderr is not an error line: %s", r->err);
    const char *nl = strchr(r->err, '\n');
    ck_assert_msg(nl && nl[1] == 0, "expected exactly one line on stderr, got: %s", r->err);
    if (needle)
        ck_assert_msg(strstr(r->err, needle), "stderr lacks '%s': %s", needle, r->err);
    ck_assert_msg(r->out_len == 0, "expected no stdout, got: %.200s", r->out);
}

void assert_error_line(const run_result *r, const char *needle)
{
    assert_one_line(r, 1, needle);
}

void assert_usage_line(const run_result *r, const char *needle)
{
    assert_one_line(r, 2, needle);
}

static const char *ring_path(const char *dir, const char *name)
{
    static char ring[16][4096];
    static int next;
    char *p = ring[next++ % 16];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

const char *testdata(const char *name) { return ring_path(env_or("FP_TESTDATA", "testdata"), name); }
const char *corpus(const char *name) { return ring_path(env_or("FP_CORPUS", "testdata/corpus"), name); }

static char tmp_root[256];

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static pid_t tmp_owner;

static void cleanup_tmp(void)
{
    if (tmp_root[0] && getpid() == tmp_owner)
        remove_tree(tmp_root);
}

const char *tmpdir(void)
{
    /* One directory per process (Check forks a process per test), fresh each call. */
    static int counter;
    if (!tmp_root[0] || tmp_owner != getpid()) {
        snprintf(tmp_root, sizeof tmp_root, "%s/fptest-XXXXXX", env_or("TMPDIR", "/tmp"));
        ck_assert_ptr_nonnull(mkdtemp(tmp_root));
        tmp_owner = getpid();
        atexit(cleanup_tmp);
    }
    static char dirs[8][300];   /* a ring, so earlier results stay valid */
    char *dir = dirs[counter % 8];
    snprintf(dir, sizeof dirs[0], "%s/%d", tmp_root, counter++);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    return dir;
}

const char *tmpfile_in(const char *name)
{
    static char current[300];
    static pid_t owner;
    if (!current[0] || owner != getpid()) {
        snprintf(current, sizeof current, "%s", tmpdir());
        owner = getpid();
    }
    return ring_path(current, name);
}

void assert_same_bytes(const char *a, const char *b)
{
    size_t len_a = 0, len_b = 0;
    char *x = read_file(a, &len_a), *y = read_file(b, &len_b);
    ck_assert_msg(x && y, "cannot read %s or %s", a, b);
    ck_assert_msg(len_a == len_b && !memcmp(x, y, len_a), "%s and %s differ", a, b);
    free(x);
    free(y);
}

const char *write_tmp(const char *name, const char *text)
{
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, text, strlen(text)), 0);
    return path;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

const char *write_safetensors(const char *name, const char *header, const void *data, size_t n_data)
{
    size_t n_header = strlen(header), len = 8 + n_header + n_data;
    unsigned char *bytes = malloc(len);
    ck_assert_ptr_nonnull(bytes);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)n_header >> (8 * i));
    memcpy(bytes + 8, header, n_header);
    if (n_data)
        memcpy(bytes + 8 + n_header, data, n_data);
    const char *path = tmpfile_in(name);
    ck_assert_int_eq(write_file(path, bytes, len), 0);
    free(bytes);
    return path;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int dir_count(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

size_t parse_numbers(const char *text, double **values)
{
    size_t n = 0, cap = 16;
    double *v = malloc(cap * sizeof *v);
    const char *p = text;
    for (;;) {
        while (*p && strchr(" \t\r\n,[]", *p))
            p++;
        if (!*p)
            break;
        char *end;
        double x = strtod(p, &end);
        if (end == p)
            break;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = x;
        p = end;
    }
    *values = v;
    return n;
}

size_t read_npy_f64(const char *path, double **values, int *rank, uint64_t shape[8])
{
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf || len < 10 || memcmp(buf, "\x93NUMPY", 6)) {
        free(buf);
        return (size_t)-1;
    }
    size_t hlen, hoff;
    if (buf[6] == 1) {
        hlen = (unsigned char)buf[8] | (unsigned char)buf[9] << 8;
        hoff = 10;
    } else {
        hlen = (unsigned char)buf[8] | (unsigned char)buf[9] << 8 | (size_t)(unsigned char)buf[10] << 16
             | (size_t)(unsigned char)buf[11] << 24;
        hoff = 12;
    }
    char *header = strndup(buf + hoff, hlen);
    const char *descr = strstr(header, "'descr': '");
    const char *sh = strstr(header, "'shape': (");
    if (!descr || !sh) {
        free(header); free(buf);
        return (size_t)-1;
    }
    descr += 10;
    sh += 10;
    int r = 0;
    uint64_t dims[8], n = 1;
    while (*sh && *sh != ')') {
        char *end;
        unsigned long long d = strtoull(sh, &end, 10);
        if (end == sh) { sh++; continue; }
        dims[r++] = d;
        n *= d;
        sh = end;
    }
    const char *data = buf + hoff + hlen;
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (uint64_t i = 0; i < n; i++) {
        if (!strncmp(descr, "<f4", 3)) { float f; memcpy(&f, data + 4 * i, 4); v[i] = f; }
        else if (!strncmp(descr, "<f8", 3)) { memcpy(&v[i], data + 8 * i, 8); }
        else if (!strncmp(descr, "<i8", 3)) { int64_t k; memcpy(&k, data + 8 * i, 8); v[i] = (double)k; }
        else if (!strncmp(descr, "<i4", 3)) { int32_t k; memcpy(&k, data + 4 * i, 4); v[i] = k; }
        else { free(v); free(header); free(buf); return (size_t)-1; }
    }
    if (rank) *rank = r;
    if (shape) memcpy(shape, dims, (size_t)r * sizeof *dims);
    free(header);
    free(buf);
    *values = v;
    return (size_t)n;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
