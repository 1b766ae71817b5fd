/* OpenBLAS's working buffers and the address space.
 *
 * OpenBLAS (0.3.21, pthreads build) gives every thread that runs a matrix
 * product a buffer of its own: each worker thread of its pool maps one as it
 * starts (the pool starts from OpenBLAS's constructor, before main), and each
 * thread that calls gemm takes one from a pool that grows on first need and
 * keeps what it mapped. When the mapping fails, blas_memory_alloc tries again,
 * for ever (memory.c: `do { ... } while (map_address == -1)`). Under an
 * address-space limit (ulimit -v, prlimit --as) without room for them, a worker
 * spun from the start and exit() waited for it in OpenBLAS's destructor, so even
 * `flatparams --version` never ended; a gemm on a thread without a buffer spun
 * the same way. So the pool of threads is sized to the limit before it
 * starts (fp_blas_fit_threads), and the buffers gemm will need are put in
 * OpenBLAS's pool before it needs them, each once a probe has found its room
 * (blas_reserve_buffers): the calling thread's when a net is built (or an
 * error), and one for each Hessian thread side by side (or fewer threads). */
#include "backend.h"
#include "fp_compute.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* OpenBLAS's BUFFER_SIZE on x86-64 (32 << 22): one per thread, as above. */
#define BLAS_BUFFER_BYTES ((size_t)128 << 20)
/* What a new thread maps besides: its stack (RLIMIT_STACK's size, 8 MiB by
 * default, and a guard page) and, from its first malloc, an arena of glibc's
 * (64 MiB; that one may fail harmlessly, but it takes its room first when it
 * does not). */
#define THREAD_EXTRA_BYTES(stack) ((stack) + ((size_t)64 << 20))
/* The room the program itself keeps before any thread beyond the first is
 * started: the calling thread's buffer and this for its own data. */
#define PROGRAM_DATA_BYTES ((size_t)256 << 20)

/* The address-space limit in bytes, 0 when there is none. */
static size_t address_space_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return 0;
    return (size_t)limit.rlim_cur;
}

static size_t thread_stack_bytes(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_STACK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return (size_t)8 << 20;
    return (size_t)limit.rlim_cur + (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether bytes more can be mapped now, as OpenBLAS maps them (counted
 * against an address-space limit, and against the commit limit of a system
 * that does not overcommit). */
static int address_space_has_room(size_t bytes)
{
    void *probe = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED)
        return 0;
    munmap(probe, bytes);
    return 1;
}

/* The process's mapped bytes (/proc/self/statm), or (size_t)-1. Read with
 * plain system calls: this runs before the C library's own initialisation. */
static size_t mapped_bytes(void)
{
    char text[64] = "";
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return (size_t)-1;
    text[n] = 0;
    return (size_t)strtoull(text, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

/* An environment variable's value in envp, or NULL (getenv cannot be trusted
 * before the C library sets its environment up). */
static const char *env_value(char **envp, const char *name)
{
    size_t len = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, name, len) && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* The threads OpenBLAS would start (blas_get_cpu_number): the first positive
 * of OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS, at most the
 * processors this process may run on. */
static long threads_openblas_starts(char **envp)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0 &&
        CPU_COUNT(&allowed) < cpus)
        cpus = CPU_COUNT(&allowed);
    static const char *const names[] = { "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                         "OMP_NUM_THREADS" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *value = env_value(envp, names[i]);
        long wanted = value ? atol(value) : 0;
        if (wanted > 0)
            return wanted < cpus ? wanted : cpus;
    }
    return cpus;
}

void fp_blas_fit_threads(char **argv, char **envp)
{
    size_t limit = address_space_limit();
    long wanted = limit ? threads_openblas_starts(envp) : 1;
    if (wanted <= 1)
        return;
    /* The calling thread's buffer and the program's data first; then, for
     * each thread more, its worker's buffer and a side-by-side Hessian
     * thread's (hessian.c), each with its stack and arena. */
    size_t used = mapped_bytes(), first = BLAS_BUFFER_BYTES + PROGRAM_DATA_BYTES;
    size_t per_thread = 2 * (BLAS_BUFFER_BYTES + THREAD_EXTRA_BYTES(thread_stack_bytes()));
    long fit = 1;
    if (used < limit && limit - used > first)
        fit += (long)((limit - used - first) / per_thread);
    if (fit >= wanted)
        return;
    /* The environment cannot be changed for OpenBLAS's constructor from here
     * (the C library installs the original after this), so the program starts
     * again with it. The value only falls, so this ends. */
    size_t n_env = 0;
    while (envp && envp[n_env])
        n_env++;
    char **env = malloc((n_env + 2) * sizeof *env);
    char setting[64];
    if (!env)
        return;
    size_t n = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(envp[i], "OPENBLAS_NUM_THREADS=", 21))
            env[n++] = envp[i];
    snprintf(setting, sizeof setting, "OPENBLAS_NUM_THREADS=%ld", fit);
    env[n++] = setting;
    env[n] = NULL;
    execve("/proc/self/exe", argv, env);
    free(env);   /* no /proc: OpenBLAS starts as it would have */
}

/* OpenBLAS's own pool (exported by libopenblas, not declared in cblas.h):
 * blas_memory_alloc takes an idle buffer of the pool or maps a new one (the
 * call that retries for ever), blas_memory_free gives it back, mapped. */
void *blas_memory_alloc(int procpos);
void blas_memory_free(void *buffer);

/* Buffers this process put in OpenBLAS's pool beyond its workers' own: as
 * many threads can run gemm at once without OpenBLAS mapping anything. */
static size_t pooled_buffers;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

size_t blas_reserve_buffers(size_t wanted)
{
    enum { MAX_HELD = 256 };
    void *held[MAX_HELD];
    pthread_mutex_lock(&pool_lock);
    wanted = wanted < MAX_HELD ? wanted : MAX_HELD;
    /* Holding every buffer at once makes the pool map a new one for each call
     * beyond those it has; each is mapped only after a probe found its room,
     * with no other thread of ours running gemm meanwhile. */
    size_t n_held = 0;
    while (n_held < wanted && (n_held < pooled_buffers || address_space_has_room(BLAS_BUFFER_BYTES)))
        held[n_held++] = blas_memory_alloc(0);
    for (size_t i = 0; i < n_held; i++)
        blas_memory_free(held[i]);
    if (n_held > pooled_buffers)
        pooled_buffers = n_held;
    pthread_mutex_unlock(&pool_lock);
    return n_held;
}

int blas_reserve_caller_buffer(char *why, size_t why_cap)
{
    if (blas_reserve_buffers(1) == 1)
        return 0;
    size_t limit = address_space_limit();
    if (limit)
        snprintf(why, why_cap, "out of memory: OpenBLAS needs a %zu MiB buffer, more than the "
                 "address-space limit (%zu MiB) leaves", BLAS_BUFFER_BYTES >> 20, limit >> 20);
    else
        snprintf(why, why_cap, "out of memory: OpenBLAS needs a %zu MiB buffer",
                 BLAS_BUFFER_BYTES >> 20);
    return -1;
}
