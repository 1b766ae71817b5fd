/* Hostile output targets (issue #6): a full file system and a read-only
 * directory. Writing flatten, rebuild, convert and hessian outputs there is one
 * error line and exit 1, the old target stays as it was, and no temporary file
 * is left beside it.
 *
 * A full file system is a small tmpfs filled to the last byte, mounted in a
 * private mount namespace of the test process (root, or an unprivileged user
 * namespace), so nothing outside the test sees it; where neither is allowed
 * that case says so and is skipped. A file-size limit (RLIMIT_FSIZE, with
 * SIGXFSZ ignored so write fails with EFBIG instead of killing the process)
 * needs no privilege and always runs: the same error paths, part-way through
 * an output. A read-only directory is a read-only tmpfs remount (EROFS) where
 * mounts are allowed, and a chmod 0555 directory (EACCES) when not root. */
#include "test_hostile.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char old_content[] = "the old target\n";

/* The vectors rebuild needs, written outside the directory under test. */
static const char *vector_of(const char *model, const char *name)
{
    const char *vec = tmpfile_in(name);
    if (!file_exists(vec)) {
        run_result r = run_fpv(NULL, "flatten", model, "-o", vec, NULL);
        ck_assert_msg(r.status == 0, "%s", r.err);
        run_free(&r);
    }
    return vec;
}

size_t hostile_output_cases(output_case *cases)
{
    const char *seed = testdata("seed.json"), *rich = testdata("cli/rich.h5");
    const char *seed_vec = vector_of(seed, "seed.npy"), *rich_vec = vector_of(rich, "rich.npy");
    const output_case all[] = {
        { "flat.npy", { "flatten", testdata("mlp_bn.json"), "-o", NULL }, 0 },
        { "flat.txt", { "flatten", testdata("mlp_bn.json"), "-o", NULL }, 0 },
        { "rebuilt.json", { "rebuild", seed, seed_vec, "-o", NULL }, 0 },
        { "rebuilt.h5", { "rebuild", rich, rich_vec, "-o", NULL }, 0 },
        { "converted.safetensors", { "convert", rich, "-o", NULL }, 0 },
        /* HDF5 written by libhdf5 itself: its failed file must not crash it at exit */
        { "converted.h5", { "convert", seed, "-o", NULL }, 0 },
        { "flat.h5", { "flatten", testdata("mlp_bn.json"), "-o", NULL }, 0 },
        { "hess.npy", { "hessian", seed, "-x", testdata("hessian/seed_x.npy"), "-o", NULL }, 0 },
        /* through the unlinked scratch file beside the target, as a matrix too
         * large for memory goes: its errors name the target (or its directory) */
        { "hess2.npy", { "hessian", seed, "-x", testdata("hessian/seed_x.npy"), "-o", NULL }, 1 },
    };
    _Static_assert(sizeof all / sizeof *all <= MAX_OUTPUT_CASES, "MAX_OUTPUT_CASES");
    memcpy(cases, all, sizeof all);
    return sizeof all / sizeof *all;
}

static const char *in_dir(const char *dir, const char *name)
{
    static char ring[8][4096];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static void write_old_targets(const char *dir, const output_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(write_file(in_dir(dir, cases[i].target), old_content, sizeof old_content - 1), 0);
}

/* run_fp with RLIMIT_FSIZE lowered to fsize (when non-zero) for the child
 * alone: the limit and the ignored SIGXFSZ pass through fork and exec, and
 * are lifted again before Check writes its own results. */
static run_result run_limited(const char *const *argv, rlim_t fsize)
{
    struct rlimit saved, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    if (fsize) {
        limit.rlim_cur = fsize;
        signal(SIGXFSZ, SIG_IGN);
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    }
    run_result r = run_fp(NULL, 0, argv);
    if (fsize) {
        setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, SIG_DFL);
    }
    return r;
}

/* Runs every case into dir and checks the contract; dir holds extra_files
 * besides the old targets, and must hold nothing more afterwards. */
static void expect_refused(const char *dir, const output_case *cases, size_t n, int extra_files,
                           rlim_t fsize, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        const char *argv[12];
        size_t k = 0;
        for (; cases[i].argv[k]; k++)
            argv[k] = cases[i].argv[k];
        argv[k++] = in_dir(dir, cases[i].target);
        argv[k] = NULL;
        if (cases[i].scratch_file)
            setenv("FLATPARAMS_SCRATCH_FILE", "1", 1);
        run_result r = run_limited(argv, fsize);
        unsetenv("FLATPARAMS_SCRATCH_FILE");
        ck_assert_msg(r.status == 1, "%s %s (%s): exit %d: %s", argv[0], cases[i].target, why,
                      r.status, r.err);
        assert_error_line(&r, NULL);
        ck_assert_msg(strstr(r.err, dir), "%s %s: does not name the directory: %s", argv[0],
                      cases[i].target, r.err);
        ck_assert_msg(strstr(r.err, why), "%s %s: expected '%s' in: %s", argv[0], cases[i].target,
                      why, r.err);
        run_free(&r);
        size_t len;
        char *now = read_file(in_dir(dir, cases[i].target), &len);
        ck_assert_ptr_nonnull(now);
        ck_assert_msg(len == sizeof old_content - 1 && !memcmp(now, old_content, len),
                      "%s: the old target changed", cases[i].target);
        free(now);
        ck_assert_int_eq(dir_count(dir), (int)n + extra_files);   /* no temporary left */
    }
}

/* ---- mounts */

static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A mount namespace of this test process alone (its children inherit it):
 * 0 when mounts are possible, as root or in a new user namespace. */
static int private_mounts(void)
{
    if (unshare(CLONE_NEWNS) < 0) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        char map[64];
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (write_proc("/proc/self/setgroups", "deny") < 0 || write_proc("/proc/self/uid_map", map) < 0)
            return -1;
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (write_proc("/proc/self/gid_map", map) < 0)
            return -1;
    }
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static const char *small_tmpfs(void)
{
    const char *dir = tmpfile_in("mnt");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    if (private_mounts() < 0 || mount("fptest", dir, "tmpfs", 0, "size=256k") < 0) {
        fprintf(stderr, "hostile: cannot mount a tmpfs here (%s): case skipped\n", strerror(errno));
        return NULL;
    }
    return dir;
}

/* Writes a filler file until the file system refuses more. */
static void fill_up(const char *dir)
{
    int fd = open(in_dir(dir, "filler"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    static char block[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = write(fd, block, sizeof block)) > 0)
        total += (size_t)n;
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_uint_gt(total, 0);
    close(fd);
}

START_TEST(disk_full_tmpfs)
{
    output_case cases[MAX_OUTPUT_CASES];
    size_t n = hostile_output_cases(cases);
    const char *dir = small_tmpfs();
    if (!dir)
        return;
    write_old_targets(dir, cases, n);
    fill_up(dir);
    expect_refused(dir, cases, n, 1, 0, "No space left on device");
    ck_assert_int_eq(umount(dir), 0);
}
END_TEST

START_TEST(file_size_limit)
{
    output_case cases[MAX_OUTPUT_CASES];
    size_t n = hostile_output_cases(cases);
    const char *dir = tmpfile_in("limited");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    write_old_targets(dir, cases, n);
    /* Every output above is larger than this, so each fails part-way. */
    expect_refused(dir, cases, n, 0, 160, "File too large");
}
END_TEST

START_TEST(read_only_mount)
{
    output_case cases[MAX_OUTPUT_CASES];
    size_t n = hostile_output_cases(cases);
    const char *dir = small_tmpfs();
    if (!dir)
        return;
    write_old_targets(dir, cases, n);
    ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
    expect_refused(dir, cases, n, 0, 0, "Read-only file system");
    ck_assert_int_eq(umount(dir), 0);
}
END_TEST

/* Root ignores permissions: there the read-only mount above is the test. */
START_TEST(read_only_directory)
{
    if (geteuid() == 0) {
        fprintf(stderr, "hostile: running as root, chmod 0555 does not bind: case skipped\n");
        return;
    }
    output_case cases[MAX_OUTPUT_CASES];
    size_t n = hostile_output_cases(cases);
    const char *dir = tmpfile_in("readonly");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    write_old_targets(dir, cases, n);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    expect_refused(dir, cases, n, 0, 0, "Permission denied");
    chmod(dir, 0755);
}
END_TEST

void add_hostile_output_tests(Suite *s)
{
    TCase *tc = tcase_create("outputs");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, disk_full_tmpfs);
    tcase_add_test(tc, file_size_limit);
    tcase_add_test(tc, read_only_mount);
    tcase_add_test(tc, read_only_directory);
    suite_add_tcase(s, tc);
}
