/* NumPy .npy files (format versions 1.0, 2.0, 3.0) and raw .bin: a header (or
 * none) and then the elements as bytes. The header is parsed strictly because it
 * comes from outside: a bad one is one error line, never a huge allocation. */
#include "vecio_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { NPY_MAX_HEADER = 1 << 20 };

/* ---------------------------------------------------------------- dtypes */

static const struct {
    char kind;
    int size;
    fp_dtype dtype;
} npy_types[] = {
    { 'f', 2, FP_F16 }, { 'f', 4, FP_F32 }, { 'f', 8, FP_F64 },
    { 'c', 8, FP_C64 }, { 'c', 16, FP_C128 }, { 'b', 1, FP_BOOL },
    { 'i', 1, FP_I8 }, { 'i', 2, FP_I16 }, { 'i', 4, FP_I32 }, { 'i', 8, FP_I64 },
    { 'u', 1, FP_U8 }, { 'u', 2, FP_U16 }, { 'u', 4, FP_U32 }, { 'u', 8, FP_U64 },
};

const char *vec_npy_descr(fp_dtype dtype)
{
    static char descr[FP_DT_COUNT][8];
    if (dtype == FP_BF16)   /* NumPy has no bfloat16: the values, exactly, as float32 */
        dtype = FP_F32;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == dtype) {
            snprintf(descr[dtype], sizeof descr[dtype], "%c%c%d",
                     npy_types[i].size == 1 ? '|' : '<', npy_types[i].kind, npy_types[i].size);
            return descr[dtype];
        }
    return NULL;
}

/* ---------------------------------------------------------------- header parsing */

typedef struct header_parser {
    const char *p, *end;
} header_parser;

static void skip_space(header_parser *h)
{
    while (h->p < h->end && isspace((unsigned char)*h->p))
        h->p++;
}

static int accept(header_parser *h, char c)
{
    skip_space(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A Python string literal in ' or " without escapes. */
static int parse_string(header_parser *h, char *out, size_t cap)
{
    skip_space(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return -1;
    char quote = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != quote) {
        if (*h->p == '\\' || n + 1 >= cap)
            return -1;
        out[n++] = *h->p++;
    }
    if (h->p >= h->end)
        return -1;
    h->p++;
    out[n] = 0;
    return 0;
}

static int parse_word(header_parser *h, const char *word)
{
    skip_space(h);
    size_t n = strlen(word);
    if ((size_t)(h->end - h->p) >= n && !strncmp(h->p, word, n)) {
        h->p += n;
        return 1;
    }
    return 0;
}

static int parse_descr(fp_vec_reader *r, const char *descr, fp_error *err)
{
    char order = descr[0], kind = order ? descr[1] : 0;
    char *end = NULL;
    errno = 0;
    /* Only past two characters: a shorter descr ends before descr + 2. */
    long size = kind ? strtol(descr + 2, &end, 10) : 0;
    if (order && strchr("<>|=", order) && kind && isdigit((unsigned char)descr[2]) && *end == 0
        && !errno) {
        for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
            if (npy_types[i].kind != kind || npy_types[i].size != size)
                continue;
            if (order == '|' && size > 1)
                break;   /* multi-byte data needs a byte order */
            r->dtype = npy_types[i].dtype;
            r->swap_bytes = size > 1 && (order == '>') == vec_host_little_endian();
            return 0;
        }
    }
    if (!strcmp(descr, "|V2") || !strcmp(descr, "<V2"))
        return fp_fail(err, "%s: unsupported npy dtype '%s' (bfloat16 from ml_dtypes? "
                       "save it as float32)", r->name, descr);
    return fp_fail(err, "%s: unsupported npy dtype '%s'", r->name, descr);
}

/* {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } in any key order. */
static int parse_header(fp_vec_reader *r, const char *text, size_t len, fp_error *err)
{
    header_parser h = { text, text + len };
    int have_descr = 0, have_order = 0, have_shape = 0;
    char key[32], descr[32];
    if (!accept(&h, '{'))
        return fp_fail(err, "%s: bad npy header: expected a dict", r->name);
    while (!accept(&h, '}')) {
        if (parse_string(&h, key, sizeof key) < 0 || !accept(&h, ':'))
            return fp_fail(err, "%s: bad npy header: expected 'key': value", r->name);
        if (!strcmp(key, "descr") && !have_descr) {
            if (parse_string(&h, descr, sizeof descr) < 0)
                return fp_fail(err, "%s: unsupported npy dtype (structured or too long)", r->name);
            if (parse_descr(r, descr, err) < 0)
                return -1;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (parse_word(&h, "True"))
                r->fortran_order = 1;
            else if (!parse_word(&h, "False"))
                return fp_fail(err, "%s: bad npy header: fortran_order must be True or False",
                               r->name);
            have_order = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!accept(&h, '('))
                return fp_fail(err, "%s: bad npy header: shape must be a tuple", r->name);
            r->rank = 0;
            while (!accept(&h, ')')) {
                skip_space(&h);
                if (h.p >= h.end || !isdigit((unsigned char)*h.p))
                    return fp_fail(err, "%s: bad npy header: shape must hold non-negative integers",
                                   r->name);
                if (r->rank == FP_MAX_RANK)
                    return fp_fail(err, "%s: npy shape has more than %d dimensions", r->name,
                                   FP_MAX_RANK);
                uint64_t dim = 0;
                for (; h.p < h.end && isdigit((unsigned char)*h.p); h.p++) {
                    if (dim > (UINT64_MAX - 9) / 10)
                        return fp_fail(err, "%s: npy shape is too large", r->name);
                    dim = dim * 10 + (uint64_t)(*h.p - '0');
                }
                if (h.p < h.end && *h.p == 'L')   /* Python 2 longs */
                    h.p++;
                r->shape[r->rank++] = dim;
                if (!accept(&h, ',')) {
                    /* (3) is an int, not a tuple: one dimension needs its comma */
                    if (r->rank == 1 || !accept(&h, ')'))
                        return fp_fail(err, "%s: bad npy header: shape must be a tuple", r->name);
                    break;
                }
            }
            have_shape = 1;
        } else {
            return fp_fail(err, "%s: bad npy header: unexpected or repeated key '%s'", r->name, key);
        }
        if (!accept(&h, ',')) {
            if (!accept(&h, '}'))
                return fp_fail(err, "%s: bad npy header: expected ',' or '}'", r->name);
            break;
        }
    }
    skip_space(&h);
    if (h.p != h.end)
        return fp_fail(err, "%s: bad npy header: text after the dict", r->name);
    if (!have_descr || !have_order || !have_shape)
        return fp_fail(err, "%s: bad npy header: needs descr, fortran_order and shape", r->name);
    return 0;
}

/* ---------------------------------------------------------------- raw element reads */

static int raw_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n, uint64_t *n_read,
                    fp_error *err)
{
    size_t in_size = fp_dtype_size(r->dtype), out_size = fp_dtype_size(dtype);
    size_t per_chunk = VEC_BUF_BYTES / in_size;
    unsigned char *out = dst;
    if (r->count != UINT64_MAX && n > r->count - r->done)
        n = r->count - r->done;
    while (*n_read < n) {
        size_t want = n - *n_read < per_chunk ? (size_t)(n - *n_read) : per_chunk, got;
        if (vec_src_read(&r->src, r->scratch, want * in_size, &got, r->name, err) < 0)
            return -1;
        size_t elems = got / in_size;
        if (r->swap_bytes)
            vec_swap_bytes(r->scratch, elems, in_size, fp_dtype_is_complex(r->dtype));
        if (vec_convert_out(r, out, dtype, r->scratch, r->dtype, elems, err) < 0)
            return -1;
        out += elems * out_size;
        *n_read += elems;
        r->done += elems;
        if (got < want * in_size) {
            if (r->count != UINT64_MAX)
                return fp_fail(err, "%s: truncated: the header declares %llu elements, the data "
                               "ends after %llu", r->name, (unsigned long long)r->count,
                               (unsigned long long)r->done);
            if (got % in_size)
                return fp_fail(err, "%s: size is not a multiple of %zu bytes (%s)", r->name,
                               in_size, fp_dtype_name(r->dtype));
            break;
        }
    }
    return 0;
}

static int array_shape(fp_vec_reader *r, fp_dtype dtype, int *rank, uint64_t *shape, fp_error *err)
{
    (void)dtype;
    (void)err;
    if (r->format == VF_BIN) {   /* a pipe's length is known only now */
        r->rank = 1;
        r->shape[0] = r->done;
    }
    *rank = r->rank;
    memcpy(shape, r->shape, (size_t)r->rank * sizeof *shape);
    return 0;
}

static const vec_reader_ops raw_reader = { raw_read, array_shape, NULL };

/* Bytes left in a regular file after the current position, or -1 when unknown. */
static int64_t bytes_left(fp_vec_reader *r, uint64_t consumed)
{
    struct stat st;
    if (fstat(r->src.fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    return (uint64_t)st.st_size >= consumed ? (int64_t)((uint64_t)st.st_size - consumed) : 0;
}

int vec_npy_open(fp_vec_reader *r, fp_error *err)
{
    ssize_t avail = vec_src_fill(&r->src, 12, r->name, err);
    if (avail < 0)
        return -1;
    const unsigned char *head = r->src.buf + r->src.pos;
    if (avail < 10 || memcmp(head, "\x93NUMPY", 6))
        return fp_fail(err, "%s: not a .npy file (no \\x93NUMPY magic)", r->name);
    int major = head[6];
    size_t len_bytes = major == 1 ? 2 : 4;
    if (major < 1 || major > 3)
        return fp_fail(err, "%s: unsupported npy format version %d.%d", r->name, major, head[7]);
    if ((size_t)avail < 8 + len_bytes)
        return fp_fail(err, "%s: truncated npy header", r->name);
    uint64_t header_len = 0;
    for (size_t i = 0; i < len_bytes; i++)
        header_len |= (uint64_t)head[8 + i] << (8 * i);
    if (header_len > NPY_MAX_HEADER)
        return fp_fail(err, "%s: npy header of %llu bytes is too large", r->name,
                       (unsigned long long)header_len);
    r->src.pos += 8 + len_bytes;
    char *text = malloc((size_t)header_len + 1);
    if (!text)
        return fp_fail(err, "out of memory");
    size_t got;
    int rc = vec_src_read(&r->src, text, (size_t)header_len, &got, r->name, err);
    if (rc == 0 && got < header_len)
        rc = fp_fail(err, "%s: truncated npy header", r->name);
    if (rc == 0)
        rc = parse_header(r, text, (size_t)header_len, err);
    free(text);
    if (rc < 0)
        return -1;

    uint64_t count = 1;
    for (int i = 0; i < r->rank; i++) {
        if (r->shape[i] && count > (UINT64_MAX >> 8) / r->shape[i])
            return fp_fail(err, "%s: npy shape is too large (element count overflows)", r->name);
        count *= r->shape[i];
    }
    uint64_t bytes = count * fp_dtype_size(r->dtype);
    if (count > ((uint64_t)1 << 62) / fp_dtype_size(r->dtype))
        return fp_fail(err, "%s: npy shape is too large", r->name);
    int64_t left = bytes_left(r, 8 + len_bytes + header_len);
    if (left >= 0 && (uint64_t)left < bytes)
        return fp_fail(err, "%s: truncated: the header declares %llu elements (%llu bytes), "
                       "the file holds %lld bytes of data", r->name, (unsigned long long)count,
                       (unsigned long long)bytes, (long long)left);
    if (r->fortran_order && r->rank >= 2 && !r->for_matrix)
        return fp_fail(err, "%s: fortran_order arrays cannot be streamed; save with "
                       "np.save(f, np.ascontiguousarray(a))", r->name);
    r->count = count;
    r->ops = &raw_reader;
    return 0;
}

int vec_bin_open(fp_vec_reader *r, fp_dtype bin_dtype, fp_error *err)
{
    if (bin_dtype == FP_DT_NONE)
        return fp_fail(err, "%s: .bin needs --dtype", r->name);
    r->dtype = bin_dtype;
    r->swap_bytes = !vec_host_little_endian();
    size_t size = fp_dtype_size(bin_dtype);
    int64_t left = bytes_left(r, 0);
    if (left >= 0) {
        if ((uint64_t)left % size)
            return fp_fail(err, "%s: size %lld is not a multiple of %zu bytes (%s)", r->name,
                           (long long)left, size, fp_dtype_name(bin_dtype));
        r->count = (uint64_t)left / size;
        r->rank = 1;
        r->shape[0] = r->count;
    }
    r->ops = &raw_reader;
    return 0;
}

/* ---------------------------------------------------------------- writers */

/* Little-endian bytes of the file's type into the buffer (bf16 becomes float32
 * in .npy, which has no bfloat16; .bin keeps its 2 bytes, as --dtype bf16 reads). */
static int raw_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err)
{
    fp_dtype out_dtype = w->dtype == FP_BF16 && w->format == VF_NPY ? FP_F32 : w->dtype;
    size_t in_size = fp_dtype_size(w->dtype), out_size = fp_dtype_size(out_dtype);
    int copy_through = out_dtype == w->dtype && vec_host_little_endian();
    const unsigned char *in = data;
    if (copy_through)   /* the caller's bytes are already the file's */
        return vec_out_put(w, data, (size_t)n * out_size, err);
    size_t per_chunk = VEC_BUF_BYTES / out_size;
    while (n > 0) {
        size_t k = n < per_chunk ? (size_t)n : per_chunk;
        const void *bytes = in;
        if (!copy_through) {
            fp_convert(w->scratch, out_dtype, in, w->dtype, k, NULL);
            if (!vec_host_little_endian())
                vec_swap_bytes(w->scratch, k, out_size, fp_dtype_is_complex(out_dtype));
            bytes = w->scratch;
        }
        if (vec_out_put(w, bytes, k * out_size, err) < 0)
            return -1;
        in += k * in_size;
        n -= k;
    }
    return 0;
}

static int npy_begin(fp_vec_writer *w, fp_error *err)
{
    char dict[256];
    int n;
    if (w->rank == 1)
        n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }",
                     vec_npy_descr(w->dtype), (unsigned long long)w->shape[0]);
    else
        n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }",
                     vec_npy_descr(w->dtype), (unsigned long long)w->shape[0],
                     (unsigned long long)w->shape[1]);
    /* Version 1.0: magic, version, u16 length, dict padded with spaces and ended by
     * a newline so that the data starts at a multiple of 64 bytes, as NumPy does. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    unsigned char header[320];
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    size_t dict_len = padded - 10;
    header[8] = (unsigned char)(dict_len & 0xff);
    header[9] = (unsigned char)(dict_len >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', padded - total);
    header[padded - 1] = '\n';
    return vec_out_put(w, header, padded, err);
}

static int nothing(fp_vec_writer *w, fp_error *err)
{
    (void)w;
    (void)err;
    return 0;
}

static void discard_nothing(fp_vec_writer *w) { (void)w; }

const vec_writer_ops vec_npy_writer = { npy_begin, raw_write, nothing, discard_nothing };
const vec_writer_ops vec_bin_writer = { nothing, raw_write, nothing, discard_nothing };
