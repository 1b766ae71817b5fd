/* Vector and matrix files (doc/contract.md §5): choosing the format, the public reader and
 * writer calls, output buffering, and fp_matrix_read. Each format lives in its own
 * file (vecio_npy.c, vecio_text.c, vecio_json.c, vecio_h5.c) behind the small
 * tables of operations in vecio_internal.h. */
#include "vecio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- choosing the format */

static const struct {
    const char *name;
    vec_format format;
} format_names[] = {
    { "npy", VF_NPY }, { "txt", VF_TEXT }, { "text", VF_TEXT }, { "csv", VF_CSV },
    { "bin", VF_BIN }, { "raw", VF_BIN }, { "h5", VF_H5 }, { "hdf5", VF_H5 },
    { "he5", VF_H5 }, { "json", VF_JSON }, { "tsv", VF_TEXT },
};

static vec_format format_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (!strcasecmp(name, format_names[i].name))
            return format_names[i].format;
    return VF_NONE;
}

int fp_vec_format_known(const char *name)
{
    return format_by_name(name) != VF_NONE;
}

static char format_list[96];

/* Each format's first name in the table, in its order. */
static void list_formats(void)
{
    size_t len = 0;
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
        int first = 1;
        for (size_t j = 0; j < i; j++)
            first &= format_names[j].format != format_names[i].format;
        if (first && len < sizeof format_list)
            len += (size_t)snprintf(format_list + len, sizeof format_list - len, "%s%s",
                                    len ? ", " : "", format_names[i].name);
    }
}

const char *fp_vec_format_names(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, list_formats);
    return format_list;
}

static vec_format format_by_extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? format_by_name(dot + 1) : VF_NONE;
}

static int has_h5_extension(const char *path, size_t len)
{
    static const char *const exts[] = { ".h5", ".hdf5", ".he5" };
    for (size_t i = 0; i < 3; i++) {
        size_t le = strlen(exts[i]);
        if (len >= le && !strncasecmp(path + len - le, exts[i], le))
            return 1;
    }
    return 0;
}

/* "FILE.h5:/path" names a dataset inside an HDF5 file. A reader splits where the
 * part before ":/" is an existing file (so names containing ":/" still work); a
 * writer where that part has an HDF5 extension, or anywhere when told "h5". */
static int split_dataset(const char *path, int for_write, vec_format forced,
                         char **file, char **dataset)
{
    *file = *dataset = NULL;
    struct stat st;
    if (!for_write && stat(path, &st) == 0)
        return 0;
    for (const char *colon = strstr(path, ":/"); colon; colon = strstr(colon + 1, ":/")) {
        size_t len = (size_t)(colon - path);
        if (len == 0)
            continue;
        char *prefix = strndup(path, len);
        int ok = for_write ? forced == VF_H5 || has_h5_extension(path, len)
                           : stat(prefix, &st) == 0 && S_ISREG(st.st_mode);
        if (ok) {
            *file = prefix;
            *dataset = strdup(colon + 1);
            return 1;
        }
        free(prefix);
    }
    return 0;
}

/* ---------------------------------------------------------------- output buffering */

int vec_out_flush(fp_vec_writer *w, fp_error *err)
{
    size_t done = 0;
    while (done < w->len) {
        ssize_t n = write(w->out.fd, w->buf + done, w->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->len = 0;
            return fp_fail(err, "%s: cannot write: %s", w->name, strerror(errno));
        }
        done += (size_t)n;
    }
    w->len = 0;
    return 0;
}

int vec_out_reserve(fp_vec_writer *w, size_t need, fp_error *err)
{
    if (w->len + need > VEC_BUF_BYTES)
        return vec_out_flush(w, err);
    return 0;
}

/* Writes all of [p, p + n) straight to the file. */
static int write_all(fp_vec_writer *w, const unsigned char *p, size_t n, fp_error *err)
{
    while (n > 0) {
        ssize_t k = write(w->out.fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return fp_fail(err, "%s: cannot write: %s", w->name, strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int vec_out_put(fp_vec_writer *w, const void *bytes, size_t n, fp_error *err)
{
    const unsigned char *p = bytes;
    /* Large pieces (flatten's) skip the copy into the buffer. */
    if (n >= VEC_DIRECT_BYTES)
        return vec_out_flush(w, err) < 0 ? -1 : write_all(w, p, n, err);
    while (n > 0) {
        if (w->len == VEC_BUF_BYTES && vec_out_flush(w, err) < 0)
            return -1;
        size_t k = VEC_BUF_BYTES - w->len < n ? VEC_BUF_BYTES - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* ---------------------------------------------------------------- writers */

/* A file system allocates a file's space as it is first written: on tmpfs
 * most of the time of writing a new file (0.8 of the 1.2 s for 1.85 GB on the
 * 2-core VM; the page cache of a disk is alike). A writer that first waits
 * for its data (a GPU starting) lets a thread do that meanwhile. It allocates
 * one piece at a time, from the file's write offset on, so a writer that
 * catches up waits at most for one piece. */
enum { AHEAD_PIECE = 16 << 20 };

struct vec_allocator {
    pthread_t thread;
    int fd;
    uint64_t bytes;
    atomic_int stop;
};

static void *allocate_ahead(void *arg)
{
    struct vec_allocator *a = arg;
    for (uint64_t at = 0; at < a->bytes && !atomic_load(&a->stop); at += AHEAD_PIECE) {
        uint64_t end = a->bytes - at < AHEAD_PIECE ? a->bytes : at + AHEAD_PIECE;
        off_t written = lseek(a->fd, 0, SEEK_CUR);
        uint64_t from = written > 0 && (uint64_t)written > at ? (uint64_t)written : at;
        /* KEEP_SIZE: the size stays what was written; a failure (no fallocate
         * here, no space) ends it, and the writes meet the reason themselves */
        if (from < end && fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(end - from)))
            break;
    }
    return NULL;
}

/* Stops the allocating thread (after its piece) before the file is closed. */
static void stop_allocating(fp_vec_writer *w)
{
    if (!w->ahead)
        return;
    atomic_store(&w->ahead->stop, 1);
    pthread_join(w->ahead->thread, NULL);
    free(w->ahead);
    w->ahead = NULL;
}


static void writer_free(fp_vec_writer *w)
{
    free(w->name);
    free(w->dataset);
    free(w->buf);
    free(w->scratch);
    free(w);
}

int fp_vec_writer_open(fp_vec_writer **out, const char *path, const char *format,
                       fp_dtype dtype, int rank, const uint64_t *shape, fp_error *err)
{
    *out = NULL;
    vec_format forced = VF_NONE;
    if (format && !(forced = format_by_name(format)))
        return fp_fail(err, "%s: unknown vector format '%s' (%s)", path, format,
                       fp_vec_format_names());
    if (fp_dtype_size(dtype) == 0)
        return fp_fail(err, "%s: no element type to write", path);
    if (rank != 1 && rank != 2)
        return fp_fail(err, "%s: can only write a vector or a matrix, not rank %d", path, rank);
    uint64_t total = shape[0];
    if (rank == 2 && shape[1] && shape[0] > UINT64_MAX / 16 / shape[1])
        return fp_fail(err, "%s: shape too large", path);
    if (rank == 2)
        total *= shape[1];

    fp_vec_writer *w = calloc(1, sizeof *w);
    if (!w)
        return fp_fail(err, "out of memory");
    w->out.fd = -1;
    w->dtype = dtype;
    w->rank = rank;
    w->shape[0] = shape[0];
    w->shape[1] = rank == 2 ? shape[1] : 1;
    w->total = total;
    char *file = NULL;
    int split = split_dataset(path, 1, forced, &file, &w->dataset);
    w->format = forced ? forced : split ? VF_H5 : format_by_extension(path);
    if (w->format == VF_NONE)
        w->format = VF_TEXT;
    w->name = strdup(strcmp(path, "-") ? path : "<stdout>");
    w->sep = w->format == VF_CSV ? ',' : ' ';
    if (!w->name || (split && !w->dataset)) {
        free(file);
        writer_free(w);
        return fp_fail(err, "out of memory");
    }
    switch (w->format) {
    case VF_NPY:  w->ops = &vec_npy_writer; break;
    case VF_BIN:  w->ops = &vec_bin_writer; break;
    case VF_H5:   w->ops = &vec_h5_writer; break;
    case VF_JSON: w->ops = &vec_json_writer; break;
    default:      w->ops = &vec_text_writer; break;
    }
    const char *target = file ? file : path;
    int rc;
    if (w->format == VF_H5) {
        if (!strcmp(path, "-"))
            rc = fp_fail(err, "<stdout>: HDF5 cannot be written to standard output");
        else
            rc = fp_outfile_reserve(&w->out, target, err);
    } else {
        rc = fp_outfile_open(&w->out, target, err);
        if (rc == 0 && !(w->buf = malloc(VEC_BUF_BYTES)))
            rc = fp_fail(err, "out of memory");
    }
    free(file);
    if (rc == 0 && !(w->scratch = malloc(VEC_BUF_BYTES)))
        rc = fp_fail(err, "out of memory");
    if (rc == 0 && w->ops->begin(w, err) < 0)
        rc = -1;
    if (rc < 0) {
        fp_vec_writer_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

void fp_vec_writer_preallocate(fp_vec_writer *w)
{
    struct stat st;
    if ((w->format != VF_NPY && w->format != VF_BIN) || w->done || w->ahead
        || !w->out.tmp_path || w->out.special || w->out.fd < 0
        || fstat(w->out.fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;   /* (before the first write: the file is still empty) */
    struct vec_allocator *a = calloc(1, sizeof *a);
    if (!a)
        return;
    /* the header waits in the buffer; .npy keeps bf16 as float32 (raw_write) */
    size_t elem = fp_dtype_size(w->dtype == FP_BF16 && w->format == VF_NPY ? FP_F32 : w->dtype);
    a->fd = w->out.fd;
    a->bytes = (uint64_t)w->len + w->total * elem;
    atomic_init(&a->stop, 0);
    if (pthread_create(&a->thread, NULL, allocate_ahead, a)) {
        free(a);
        return;
    }
    w->ahead = a;
}

int fp_vec_writer_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err)
{
    if (n > w->total - w->done)
        return fp_fail(err, "%s: more elements written than the %llu declared", w->name,
                       (unsigned long long)w->total);
    if (n == 0)
        return 0;
    if (w->ops->write(w, data, n, err) < 0)
        return -1;
    w->done += n;
    return 0;
}

int fp_vec_writer_commit(fp_vec_writer *w, fp_error *err)
{
    stop_allocating(w);
    if (w->done != w->total) {
        fp_fail(err, "%s: expected %llu elements, got %llu", w->name,
                (unsigned long long)w->total, (unsigned long long)w->done);
        fp_vec_writer_abort(w);
        return -1;
    }
    if (w->ops->finish(w, err) < 0 || (w->buf && vec_out_flush(w, err) < 0)) {
        fp_vec_writer_abort(w);
        return -1;
    }
    w->ops->discard(w);
    int rc = fp_outfile_commit(&w->out, err);
    writer_free(w);
    return rc;
}

void fp_vec_writer_abort(fp_vec_writer *w)
{
    if (!w)
        return;
    stop_allocating(w);
    if (w->ops)
        w->ops->discard(w);
    if (w->out.tmp_path || w->out.target)
        fp_outfile_abort(&w->out);
    writer_free(w);
}

/* ---------------------------------------------------------------- readers */

static const unsigned char npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
static const unsigned char hdf5_magic[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };

/* Content wins over the name: NumPy and HDF5 signatures anywhere, and '[' where
 * text was only a guess (standard input, unknown extensions). */
static vec_format sniff(fp_vec_reader *r, vec_format guessed, int guess_is_weak, fp_error *err)
{
    ssize_t n = vec_src_fill(&r->src, 64, r->name, err);
    if (n < 0)
        return VF_NONE;
    const unsigned char *head = r->src.buf + r->src.pos;
    if (n >= 6 && !memcmp(head, npy_magic, 6))
        return VF_NPY;
    if (n >= 8 && !memcmp(head, hdf5_magic, 8))
        return VF_H5;
    if (guess_is_weak) {
        ssize_t i = 0;
        while (i < n && strchr(" \t\r\n", head[i]))
            i++;
        if (i < n && head[i] == '[')
            return VF_JSON;
    }
    return guessed;
}

static int reader_open(fp_vec_reader **out, const char *path, const char *format,
                       fp_dtype bin_dtype, int for_matrix, fp_error *err)
{
    *out = NULL;
    vec_format forced = VF_NONE;
    if (format && !(forced = format_by_name(format)))
        return fp_fail(err, "%s: unknown vector format '%s' (%s)", path, format,
                       fp_vec_format_names());
    fp_vec_reader *r = calloc(1, sizeof *r);
    if (!r)
        return fp_fail(err, "out of memory");
    r->src.fd = -1;
    r->count = UINT64_MAX;
    r->for_matrix = for_matrix;
    int is_stdin = !strcmp(path, "-");
    int split = is_stdin ? 0 : split_dataset(path, 0, forced, &r->file, &r->dataset);
    if (!split)
        r->file = strdup(path);
    r->name = strdup(is_stdin ? "<stdin>" : path);
    r->scratch = malloc(VEC_BUF_BYTES);
    int rc = r->file && r->name && r->scratch ? 0 : fp_fail(err, "out of memory");

    vec_format fmt = forced ? forced : split ? VF_H5 : format_by_extension(path);
    int weak = fmt == VF_NONE || is_stdin;
    if (fmt == VF_NONE)
        fmt = VF_TEXT;
    if (rc == 0 && !split && fmt != VF_H5) {
        rc = vec_src_open(&r->src, r->file, r->name, err);
        /* An explicit format is obeyed, except that standard input is recognised
         * by its content (doc/contract.md §5); names of files are only a first guess. */
        if (rc == 0 && fmt != VF_BIN && (!forced || is_stdin)
            && !(fmt = sniff(r, fmt, weak && !forced, err)))
            rc = -1;
    }
    if (rc == 0 && fmt == VF_H5 && is_stdin)
        rc = fp_fail(err, "<stdin>: HDF5 cannot be read from standard input; name the file");
    r->format = fmt;
    if (rc == 0) {
        switch (fmt) {
        case VF_NPY:  rc = vec_npy_open(r, err); break;
        case VF_BIN:  rc = vec_bin_open(r, bin_dtype, err); break;
        case VF_JSON: rc = vec_json_open(r, err); break;
        case VF_H5:
            vec_src_close(&r->src);
            rc = vec_h5_open(r, err);
            break;
        default:      rc = vec_text_open(r, err); break;
        }
    }
    if (rc < 0) {
        fp_vec_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int fp_vec_reader_open(fp_vec_reader **r, const char *path, const char *format,
                       fp_dtype bin_dtype, fp_error *err)
{
    return reader_open(r, path, format, bin_dtype, 0, err);
}

fp_dtype fp_vec_reader_dtype(const fp_vec_reader *r) { return r->dtype; }
uint64_t fp_vec_reader_count(const fp_vec_reader *r) { return r->count; }

int fp_vec_reader_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n,
                       uint64_t *n_read, fp_error *err)
{
    *n_read = 0;
    if (fp_dtype_size(dtype) == 0)
        return fp_fail(err, "%s: no element type to read as", r->name);
    if (n == 0)
        return 0;
    return r->ops->read(r, dst, dtype, n, n_read, err);
}

void fp_vec_reader_close(fp_vec_reader *r)
{
    if (!r)
        return;
    if (r->ops && r->ops->close)
        r->ops->close(r);
    vec_src_close(&r->src);
    free(r->name);
    free(r->file);
    free(r->dataset);
    free(r->scratch);
    free(r);
}

int vec_convert_out(fp_vec_reader *r, void *dst, fp_dtype dtype, const void *src,
                    fp_dtype src_dtype, size_t n, fp_error *err)
{
    size_t bad = 0;
    if (fp_convert(dst, dtype, src, src_dtype, n, &bad) < 0)
        return fp_fail(err, "%s: element %llu has a non-zero imaginary part, cannot read it as %s%s",
                       r->name, (unsigned long long)(r->done + bad), fp_dtype_name(dtype),
                       r->format == VF_TEXT || r->format == VF_CSV
                           ? " (a line of two numbers is one complex element, 're im')" : "");
    return 0;
}

/* ---------------------------------------------------------------- whole matrices */

/* Column-major rows x cols into row-major, through a copy. */
/* A Fortran-ordered (column-major) array made row-major in place: its axes
 * reversed, element by element, the row-major index an odometer. */
static int to_row_major(void *data, int rank, const uint64_t *shape, size_t size, fp_error *err)
{
    uint64_t n = 1, stride[FP_MAX_RANK], index[FP_MAX_RANK] = { 0 }, from = 0;
    for (int k = 0; k < rank; k++) {   /* column-major: the first axis is contiguous */
        stride[k] = n;
        n *= shape[k];
    }
    size_t bytes = (size_t)n * size;
    unsigned char *copy = malloc(bytes ? bytes : 1);
    if (!copy)
        return fp_fail(err, "out of memory");
    memcpy(copy, data, bytes);
    for (uint64_t i = 0; i < n; i++) {
        memcpy((unsigned char *)data + i * size, copy + from * size, size);
        for (int k = rank - 1; k >= 0; k--) {
            if (++index[k] < shape[k]) {
                from += stride[k];
                break;
            }
            from -= (shape[k] - 1) * stride[k];
            index[k] = 0;
        }
    }
    free(copy);
    return 0;
}

/* fp_matrix_read and fp_batch_read: arrays of rank max_rank at most. */
static int read_array(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                      int max_rank, fp_matrix *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    size_t size = fp_dtype_size(dtype);
    if (size == 0)
        return fp_fail(err, "%s: no element type to read as", path);
    fp_vec_reader *r;
    if (reader_open(&r, path, format, bin_dtype, 1, err) < 0)
        return -1;
    /* Grow as the data arrives: a count from a header on a pipe is unchecked, and
     * must not make us allocate what the input never delivers. */
    enum { FIRST = 1 << 20 };
    int known = r->count != UINT64_MAX;
    uint64_t cap = known && r->count < FIRST ? r->count : FIRST, n = 0;
    unsigned char *data = NULL;
    int rc = 0;
    for (;;) {
        if (cap > (uint64_t)SIZE_MAX / 2 / size) {
            rc = fp_fail(err, "%s: too large to hold in memory", r->name);
            break;
        }
        unsigned char *grown = realloc(data, (size_t)(cap ? cap : 1) * size);
        if (!grown) {
            rc = fp_fail(err, "%s: out of memory for %llu elements", r->name,
                         (unsigned long long)cap);
            break;
        }
        data = grown;
        uint64_t got;
        if ((rc = fp_vec_reader_read(r, data + n * size, dtype, cap - n, &got, err)) < 0)
            break;
        n += got;
        if (n < cap || (known && n == r->count))
            break;
        cap = known && r->count - cap < cap ? r->count : 2 * cap;
    }
    int rank = 0;
    uint64_t shape[FP_MAX_RANK];
    if (rc == 0)
        rc = r->ops->shape(r, dtype, &rank, shape, err);
    if (rc == 0) {
        if (rank > max_rank && max_rank == 2) {
            rc = fp_fail(err, "%s: expected a vector or a matrix, got a rank-%d array", r->name, rank);
        } else if (rank > max_rank) {
            rc = fp_fail(err, "%s: expected an array of rank %d at most, got a rank-%d array",
                         r->name, max_rank, rank);
        } else {
            out->rank = rank >= 2 ? rank : 1;
            out->rows = rank == 0 ? 1 : shape[0];
            out->cols = 1;
            for (int k = 1; k < rank; k++)   /* (their product is n, checked next) */
                out->cols *= shape[k];
            for (int k = 0; k < rank; k++)
                out->shape[k] = shape[k];
            int overflow = 0;
            uint64_t total = 1;
            for (int k = 0; k < rank; k++)
                overflow |= __builtin_mul_overflow(total, shape[k], &total);
            if (overflow || total != n)
                rc = fp_fail(err, "%s: read %llu elements, the shape says %llu", r->name,
                             (unsigned long long)n, (unsigned long long)(out->rows * out->cols));
            else if (r->fortran_order && rank >= 2)
                rc = to_row_major(data, rank, shape, size, err);
        }
    }
    fp_vec_reader_close(r);
    if (rc < 0) {
        free(data);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->dtype = dtype;
    out->data = data;
    return 0;
}

int fp_matrix_read(const char *path, const char *format, fp_dtype bin_dtype,
                   fp_dtype dtype, fp_matrix *out, fp_error *err)
{
    return read_array(path, format, bin_dtype, dtype, 2, out, err);
}

int fp_batch_read(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                  fp_matrix *out, fp_error *err)
{
    return read_array(path, format, bin_dtype, dtype, FP_MATRIX_MAX_RANK, out, err);
}
