/* Buffered input for the vector readers, and the small byte and number helpers
 * they share. */
#include "vecio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vec_src_open(vec_src *s, const char *file, const char *name, fp_error *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!strcmp(file, "-")) {
        s->fd = STDIN_FILENO;
    } else {
        s->fd = open(file, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0)
            return fp_fail(err, "%s: cannot open: %s", name, strerror(errno));
        s->close_fd = 1;
    }
    s->cap = VEC_BUF_BYTES;
    if (!(s->buf = malloc(s->cap))) {
        vec_src_close(s);
        return fp_fail(err, "out of memory");
    }
    return 0;
}

/* One read(2) into the free space after len; 0 at end of input. */
static ssize_t read_more(vec_src *s, const char *name, fp_error *err)
{
    for (;;) {
        ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fp_fail(err, "%s: cannot read: %s", name, strerror(errno));
        if (n == 0)
            s->eof = 1;
        s->len += (size_t)n;
        return n;
    }
}

ssize_t vec_src_fill(vec_src *s, size_t want, const char *name, fp_error *err)
{
    while (s->len - s->pos < want && !s->eof && !s->in_memory) {
        if (s->pos > 0 && s->cap - s->pos < want) { /* slide the unread bytes down */
            memmove(s->buf, s->buf + s->pos, s->len - s->pos);
            s->len -= s->pos;
            s->pos = 0;
        }
        if (read_more(s, name, err) < 0)
            return -1;
    }
    return (ssize_t)(s->len - s->pos);
}

int vec_src_read(vec_src *s, void *dst, size_t n, size_t *got, const char *name, fp_error *err)
{
    unsigned char *out = dst;
    *got = 0;
    while (*got < n) {
        if (s->pos == s->len) {
            if (s->eof || s->in_memory)
                break;
            s->pos = s->len = 0;
            /* Large reads skip the buffer. */
            if (n - *got >= s->cap) {
                ssize_t k = read(s->fd, out + *got, n - *got);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k < 0)
                    return fp_fail(err, "%s: cannot read: %s", name, strerror(errno));
                if (k == 0)
                    s->eof = 1;
                *got += (size_t)k;
                continue;
            }
            if (read_more(s, name, err) < 0)
                return -1;
            continue;
        }
        size_t k = s->len - s->pos < n - *got ? s->len - s->pos : n - *got;
        memcpy(out + *got, s->buf + s->pos, k);
        s->pos += k;
        *got += k;
    }
    return 0;
}

int vec_src_peek(vec_src *s, const char *name, fp_error *err)
{
    if (s->pos == s->len) {
        if (vec_src_fill(s, 1, name, err) < 0)
            return -2;
        if (s->pos == s->len)
            return -1;
    }
    return s->buf[s->pos];
}

ssize_t vec_src_token(vec_src *s, const char *delims, char *tok, size_t cap,
                      const char *name, fp_error *err)
{
    size_t k = 0;
    for (;;) {
        size_t avail = s->len - s->pos;
        while (k < avail && !strchr(delims, s->buf[s->pos + k]) && s->buf[s->pos + k])
            k++;
        if (k < avail || s->eof || s->in_memory || k >= cap)
            break;
        if (vec_src_fill(s, k + 1, name, err) < 0)
            return -1;
    }
    if (k >= cap) {
        memcpy(tok, s->buf + s->pos, cap - 1);
        tok[cap - 1] = 0;
        return -2;
    }
    memcpy(tok, s->buf + s->pos, k);
    tok[k] = 0;
    s->pos += k;
    return (ssize_t)k;
}

int vec_src_slurp(vec_src *s, const char *name, fp_error *err)
{
    if (s->in_memory)
        return 0;
    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
    }
    while (!s->eof) {
        if (s->len == s->cap) {
            unsigned char *grown = s->cap < SIZE_MAX / 2 ? realloc(s->buf, s->cap * 2) : NULL;
            if (!grown)
                return fp_fail(err, "%s: out of memory reading the whole input", name);
            s->buf = grown;
            s->cap *= 2;
        }
        if (read_more(s, name, err) < 0)
            return -1;
    }
    s->in_memory = 1;
    return 0;
}

int vec_src_rewind(vec_src *s, const char *name, fp_error *err)
{
    if (s->in_memory) {
        s->pos = 0;
        return 0;
    }
    if (lseek(s->fd, 0, SEEK_SET) < 0)
        return fp_fail(err, "%s: cannot rewind: %s", name, strerror(errno));
    s->pos = s->len = 0;
    s->eof = 0;
    return 0;
}

void vec_src_close(vec_src *s)
{
    if (s->close_fd && s->fd >= 0)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* ---------------------------------------------------------------- helpers */

int vec_host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

void vec_swap_bytes(void *data, size_t n_elems, size_t elem_size, int complex_pairs)
{
    size_t part = complex_pairs ? elem_size / 2 : elem_size;
    size_t n_parts = complex_pairs ? 2 * n_elems : n_elems;
    unsigned char *p = data;
    if (part < 2)
        return;
    for (size_t i = 0; i < n_parts; i++, p += part)
        for (size_t a = 0, b = part - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

int vec_parse_number(const char *token, int as_float, double *out)
{
    char *end;
    errno = 0;
    if (as_float)
        *out = strtof(token, &end);
    else
        *out = strtod(token, &end);
    /* ERANGE is fine: overflow gives inf, underflow the nearest subnormal or 0. */
    return end != token && *end == 0 ? 0 : -1;
}

fp_dtype vec_stage_dtype(fp_dtype dtype)
{
    switch (dtype) {
    case FP_F32: case FP_F16: case FP_BF16: return FP_F32;
    case FP_C64: return FP_C64;
    case FP_C128: return FP_C128;
    default: return FP_F64;
    }
}

void vec_quote(char *dst, size_t cap, const char *text, size_t len)
{
    if (len > 40)
        snprintf(dst, cap, "%.37s...", text);
    else
        snprintf(dst, cap, "%.*s", (int)len, text);
}

void vec_stage_put(fp_vec_reader *r, fp_dtype stage, size_t k, double re, double im)
{
    switch (stage) {
    case FP_F32:  ((float *)r->scratch)[k] = (float)re; break;
    case FP_C64:  ((float *)r->scratch)[2 * k] = (float)re; ((float *)r->scratch)[2 * k + 1] = (float)im; break;
    case FP_C128: ((double *)r->scratch)[2 * k] = re; ((double *)r->scratch)[2 * k + 1] = im; break;
    default:      ((double *)r->scratch)[k] = re; break;
    }
}

int vec_stage_flush(fp_vec_reader *r, unsigned char **out, fp_dtype dtype, fp_dtype stage,
                    size_t *k, uint64_t *n_read, fp_error *err)
{
    if (*k == 0)
        return 0;
    if (vec_convert_out(r, *out, dtype, r->scratch, stage, *k, err) < 0)
        return -1;
    *out += *k * fp_dtype_size(dtype);
    *n_read += *k;
    r->done += *k;
    *k = 0;
    return 0;
}
