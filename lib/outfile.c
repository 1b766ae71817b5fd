/* Crash-safe outputs: write a temporary file beside the target, fsync, rename.
 * A kill at any moment leaves the old target or the new one, never a torn one. */
#include "flatparams.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary names carry the pid so concurrent runs never collide; a kill leaves
 * a ".NAME.flatparams-PID.tmp" that later runs never read and may delete. A name
 * too long for that (the file system's NAME_MAX) takes a shorter one, and a
 * special file's temporary (copied into it) lives in $TMPDIR, made by mkstemp
 * there (a shared directory: never a name someone else could plant first). */
static char *temp_name(const char *target, int special)
{
    const char *slash = strrchr(target, '/');
    size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0;
    const char *base = target + dir_len;
    const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t cap = strlen(target) + strlen(tmpdir) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return NULL;
    static unsigned serial;   /* the short names: unique within the process */
    if (special)
        snprintf(tmp, cap, "%s/.flatparams-%ld-XXXXXX", tmpdir, (long)getpid());
    else if (strlen(base) + 32 > NAME_MAX)
        snprintf(tmp, cap, "%.*s.flatparams-%ld-%u.tmp", (int)dir_len, target, (long)getpid(),
                 serial++);
    else
        snprintf(tmp, cap, "%.*s.%s.flatparams-%ld.tmp", (int)dir_len, target, base, (long)getpid());
    return tmp;
}

static int copy_bytes(const char *src, const char *dst, int create, fp_error *err);

/* The temporaries being written, for fp_outfile_remove_temporaries (a signal
 * handler's: only reads of this array and unlink, both async-signal-safe). A
 * process writes one or two at a time; one past the last slot goes untracked. */
enum { LIVE_MAX = 32 };
static char *volatile live[LIVE_MAX];

static void live_set(char *from, char *to)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i] == from) {
            live[i] = to;
            return;
        }
}

void fp_temporary_track(char *path)
{
    live_set(NULL, path);
}

void fp_temporary_untrack(char *path)
{
    if (path)
        live_set(path, NULL);
}

void fp_outfile_remove_temporaries(void)
{
    for (int i = 0; i < LIVE_MAX; i++) {
        char *p = live[i];
        if (p)
            unlink(p);
    }
}

/* Rename alone is what makes a kill or a failure leave the old file or the new
 * one. fsync adds durability across power loss at the price of waiting for the
 * disk (a third of flatten's time on a 1 GiB model), so it is opt-in, as in
 * cp and np.save: FLATPARAMS_FSYNC=1. */
int fp_outfile_want_fsync(void)
{
    const char *v = getenv("FLATPARAMS_FSYNC");
    return v && *v && strcmp(v, "0");
}

/* The open descriptor a path names (/dev/stdout, /dev/fd/N, /proc/self/fd/N),
 * or -1: written through that descriptor, not reopened, so a redirection keeps
 * its own offset and mode (>> appends) and the file behind it is not replaced. */
static int descriptor_named(const char *path)
{
    static const struct { const char *prefix; int fd; } named[] = {
        { "/dev/stdout", STDOUT_FILENO }, { "/dev/stderr", STDERR_FILENO },
        { "/dev/fd/", -1 }, { "/proc/self/fd/", -1 },
    };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        size_t n = strlen(named[i].prefix);
        if (strncmp(path, named[i].prefix, n))
            continue;
        if (named[i].fd >= 0)
            return path[n] ? -1 : named[i].fd;
        char *end;
        long fd = strtol(path + n, &end, 10);
        return end != path + n && !*end && fd >= 0 && fd <= INT_MAX ? (int)fd : -1;
    }
    return -1;
}

/* A symbolic link's destination (relative to the link's directory), or NULL. */
static char *link_destination(const char *link)
{
    char dest[PATH_MAX];
    ssize_t n = readlink(link, dest, sizeof dest - 1);
    if (n <= 0)
        return NULL;
    dest[n] = 0;
    const char *slash = strrchr(link, '/');
    char *path = malloc(strlen(link) + (size_t)n + 2);
    if (path && dest[0] != '/' && slash)
        sprintf(path, "%.*s/%s", (int)(slash - link), link, dest);
    else if (path)
        strcpy(path, dest);
    return path;
}

/* The file a symbolic link stands for: the one it resolves to, or where the
 * last link of a dangling chain points (the file to make, the links kept).
 * NULL with errno otherwise: ELOOP for a loop (which cp and open report), as
 * for a chain longer than the system follows. */
static char *link_target(const char *link)
{
    struct stat st;
    if (stat(link, &st) == 0)
        return realpath(link, NULL);
    if (errno != ENOENT)
        return NULL;
    char *path = strdup(link);
    for (int hops = 0; path && lstat(path, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
        char *next = hops < 40 ? link_destination(path) : NULL;   /* Linux's MAXSYMLINKS */
        free(path);
        path = next;
        if (hops >= 40)
            errno = ELOOP;
    }
    return path;
}

/* What target is: a symbolic link stands for the file it names (so that file is
 * replaced or made, the link kept); a descriptor's name or any other file that
 * is not regular is special (written into); a directory is refused, and so is
 * a path the system cannot resolve (a loop of links: ELOOP). */
static int examine(fp_outfile *out, const char *target, fp_error *err)
{
    struct stat st;
    out->target = NULL;
    if (descriptor_named(target) >= 0) {
        out->special = 1;
        return (out->target = strdup(target)) ? 0 : fp_fail(err, "out of memory");
    }
    if (lstat(target, &st) == 0 && S_ISLNK(st.st_mode) && !(out->target = link_target(target)))
        return fp_fail(err, "%s: %s", target, errno == ENOMEM ? "out of memory" : strerror(errno));
    if (!out->target && !(out->target = strdup(target)))
        return fp_fail(err, "out of memory");
    if (stat(out->target, &st) < 0)   /* a new file, or one the system cannot reach */
        return errno == ENOENT ? 0 : fp_fail(err, "%s: %s", target, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fp_fail(err, "%s: is a directory", target);
    out->special = !S_ISREG(st.st_mode);
    out->keep_mode = !out->special;
    out->mode = (unsigned)(st.st_mode & 07777);
    return 0;
}

int fp_outfile_reserve(fp_outfile *out, const char *target, fp_error *err)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (examine(out, target, err) < 0) {
        fp_outfile_abort(out);
        return -1;
    }
    if (!(out->tmp_path = temp_name(out->target, out->special))) {
        fp_outfile_abort(out);
        return fp_fail(err, "out of memory");
    }
    if (out->special) {
        int fd = mkstemp(out->tmp_path);
        if (fd < 0) {
            fp_fail(err, "%s: cannot create a temporary file %s: %s", target, out->tmp_path,
                    strerror(errno));
            free(out->tmp_path);
            out->tmp_path = NULL;
            fp_outfile_abort(out);
            return -1;
        }
        close(fd);
    }
    live_set(NULL, out->tmp_path);
    return 0;
}

/* An existing special file opened for writing: a named descriptor duplicated,
 * anything else opened as it is (no truncation: a device, a FIFO). */
static int open_special(const char *target)
{
    int named = descriptor_named(target);
    return named >= 0 ? fcntl(named, F_DUPFD_CLOEXEC, 0) : open(target, O_WRONLY | O_CLOEXEC);
}

int fp_outfile_open(fp_outfile *out, const char *target, fp_error *err)
{
    if (!strcmp(target, "-")) {
        memset(out, 0, sizeof *out);
        out->target = strdup("-");
        out->fd = STDOUT_FILENO;
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (examine(out, target, err) < 0) {
        fp_outfile_abort(out);
        return -1;
    }
    if (out->special) {   /* written as it is: /dev/null, a FIFO, a terminal */
        out->fd = open_special(out->target);
        if (out->fd < 0) {
            fp_fail(err, "%s: cannot open: %s", target, strerror(errno));
            fp_outfile_abort(out);
            return -1;
        }
        return 0;
    }
    char *keep = out->target;   /* reserve examines it again (the link resolved) */
    int rc = fp_outfile_reserve(out, keep, err);
    free(keep);
    if (rc < 0)
        return -1;
    out->fd = open(out->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out->fd < 0) {
        fp_fail(err, "%s: cannot create: %s", target, strerror(errno));
        live_set(out->tmp_path, NULL);
        free(out->tmp_path);
        out->tmp_path = NULL;
        fp_outfile_abort(out);
        return -1;
    }
    return 0;
}

/* Removes temporaries that killed runs left for the same target: names
 * ".BASE.flatparams-PID.tmp" (or libzip's ".tmp.XXXXXX" beside it) whose PID is
 * no longer running. A live PID (a run in
 * progress, or a recycled number) keeps its file: stale files are at worst left,
 * never a running job's output removed. */
static void remove_stale_temporaries(const char *target)
{
    const char *slash = strrchr(target, '/');
    size_t dir_len = slash ? (size_t)(slash - target) : 0;
    const char *base = slash ? slash + 1 : target;
    char dir[4096], prefix[1024], path[8192];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (dir_len == 0)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)dir_len, target);
    int n_prefix = snprintf(prefix, sizeof prefix, ".%s.flatparams-", base);
    if (n_prefix <= 0 || (size_t)n_prefix >= sizeof prefix)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)n_prefix))
            continue;
        char *end;
        long pid = strtol(e->d_name + n_prefix, &end, 10);
        /* (".tmp.XXXXXX": the temporary libzip writes beside a .keras one) */
        int ours = !strcmp(end, ".tmp") || (!strncmp(end, ".tmp.", 5) && strlen(end) == 11);
        if (end == e->d_name + n_prefix || !ours || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

int fp_outfile_commit(fp_outfile *out, fp_error *err)
{
    int rc = 0;
    if (out->special && !out->tmp_path && out->fd >= 0) {   /* written straight to it */
        if (close(out->fd) < 0)
            rc = fp_fail(err, "%s: cannot write: %s", out->target, strerror(errno));
        out->fd = -1;
    }
    if (out->tmp_path) {
        if (out->fd >= 0) {
            if (fp_outfile_want_fsync() && fsync(out->fd) < 0 && errno != EINVAL)
                rc = fp_fail(err, "%s: cannot write: %s", out->target, strerror(errno));
            if (close(out->fd) < 0 && rc == 0)
                rc = fp_fail(err, "%s: cannot write: %s", out->target, strerror(errno));
            out->fd = -1;
        } else if (fp_outfile_want_fsync()) {   /* written by a library (HDF5) through the name */
            int fd = open(out->tmp_path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
                rc = fp_fail(err, "%s: cannot write: %s", out->target, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        if (rc == 0 && out->special)   /* into the device or FIFO, as cp would */
            rc = copy_bytes(out->tmp_path, out->target, 0, err);
        else if (rc == 0 && out->keep_mode && chmod(out->tmp_path, out->mode) < 0)
            rc = fp_fail(err, "%s: cannot keep its mode: %s", out->target, strerror(errno));
        if (rc == 0 && !out->special && rename(out->tmp_path, out->target) < 0)
            rc = fp_fail(err, "%s: cannot rename into place: %s", out->target, strerror(errno));
        if (rc == 0 && out->special)
            unlink(out->tmp_path);
        else if (rc == 0)
            remove_stale_temporaries(out->target);
        if (rc < 0) {
            fp_outfile_abort(out);
            return rc;
        }
    }
    live_set(out->tmp_path, NULL);
    free(out->tmp_path);
    free(out->target);
    memset(out, 0, sizeof *out);
    out->fd = -1;
    return rc;
}

void fp_outfile_name_target(const fp_outfile *out, fp_error *err)
{
    if (!out->tmp_path || !out->target)
        return;
    char fixed[sizeof err->msg];
    size_t n = 0, tmp_len = strlen(out->tmp_path), target_len = strlen(out->target);
    for (const char *p = err->msg; *p && n + 1 < sizeof fixed;) {
        if (!strncmp(p, out->tmp_path, tmp_len)) {
            size_t k = target_len < sizeof fixed - 1 - n ? target_len : sizeof fixed - 1 - n;
            memcpy(fixed + n, out->target, k);
            n += k;
            p += tmp_len;
        } else {
            fixed[n++] = *p++;
        }
    }
    fixed[n] = 0;
    memcpy(err->msg, fixed, n + 1);
}

void fp_outfile_abort(fp_outfile *out)
{
    if (out->tmp_path || out->special) {
        if (out->fd >= 0)
            close(out->fd);
        if (out->tmp_path)
            unlink(out->tmp_path);
    }
    if (out->tmp_path)
        live_set(out->tmp_path, NULL);
    free(out->tmp_path);
    free(out->target);
    memset(out, 0, sizeof *out);
    out->fd = -1;
}

/* src's bytes into dst: a new file (create), or an existing special file as it
 * is (open_special). */
static int copy_bytes(const char *src, const char *dst, int create, fp_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fp_fail(err, "%s: cannot open: %s", src, strerror(errno));
    int out = create ? open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                     : open_special(dst);
    if (out < 0) {
        close(in);
        return fp_fail(err, "%s: cannot create: %s", dst, strerror(errno));
    }
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    int rc = buf ? 0 : fp_fail(err, "out of memory");
    while (rc == 0) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fp_fail(err, "%s: cannot read: %s", src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = fp_fail(err, "%s: cannot write: %s", dst, strerror(errno));
                break;
            }
            done += w;
        }
    }
    free(buf);
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = fp_fail(err, "%s: cannot write: %s", dst, strerror(errno));
    return rc;
}

int fp_copy_file(const char *src, const char *dst, fp_error *err)
{
    return copy_bytes(src, dst, 1, err);
}
