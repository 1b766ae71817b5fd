/* The order a writer recorded in a safetensors file: __metadata__
 * "flatparams.order".
 *
 * safetensors' writers lay tensors out by dtype, then name, so a PyTorch
 * model's offsets are not its parameters' order. scripts/from_torch.py records
 * that order (named_parameters(), then the buffers) as a JSON list of tensor
 * names under this key, and the reader (safetensors_read.c, apply_listed_order)
 * places the tensors in it instead of the offsets' order: each module's
 * children follow their first listed tensor, so the trainable vector is
 * parameters_to_vector's. Each name must be a tensor of the file, listed once;
 * tensors the list leaves out follow the listed ones, in offset order.
 *
 * The list is scanned, not parsed into a tree: memory is a few words per
 * tensor whatever the list holds, and a hostile list fails at its first bad
 * name. */
#include "safetensors_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_list(fp_error *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_list(fp_error *err, const char *file, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fp_fail(err, "%s: __metadata__ \"" FP_ST_ORDER_KEY "\" %s", file, what);
}

static const char *skip_space(const char *p)
{
    return p + strspn(p, " \t\r\n");
}

static int hex4(const char *p, uint32_t *out)
{
    *out = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return -1;
        *out = *out << 4 | (uint32_t)v;
    }
    return 0;
}

static char *put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xC0 | cp >> 6);
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xE0 | cp >> 12);
        *out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *out++ = (char)(0xF0 | cp >> 18);
        *out++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    }
    return out;
}

enum { NOT_A_STRING = -1, TOO_LONG = -2 };

/* The JSON string at *p (at its opening quote) decoded into out (cap bytes);
 * *p moves past it. NOT_A_STRING when it is none or holds \u0000 (no tensor
 * name can), TOO_LONG when it needs more than cap - 1 bytes. */
static int json_string_at(const char **p, char *out, size_t cap)
{
    static const char escapes[] = "\"\\/bfnrt", meanings[] = "\"\\/\b\f\n\r\t";
    const char *s = *p;
    const char *end = out + cap - 1;
    if (*s++ != '"')
        return NOT_A_STRING;
    for (;;) {
        if (end - out < 4)   /* room for the longest character */
            return TOO_LONG;
        unsigned char c = (unsigned char)*s++;
        if (c == '"')
            break;
        if (c < 0x20)
            return NOT_A_STRING;
        if (c != '\\') {
            *out++ = (char)c;
            continue;
        }
        const char *escape = *s ? strchr(escapes, *s) : NULL;
        if (escape) {
            *out++ = meanings[escape - escapes];
            s++;
            continue;
        }
        uint32_t cp, low;
        if (*s++ != 'u' || hex4(s, &cp) < 0 || cp == 0)
            return NOT_A_STRING;
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {   /* a surrogate pair */
            if (s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &low) < 0 || low < 0xDC00 || low > 0xDFFF)
                return NOT_A_STRING;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            s += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return NOT_A_STRING;
        }
        out = put_utf8(out, cp);
    }
    *out = 0;
    *p = s;
    return 0;
}

typedef struct named { const char *name; size_t index; } named;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Fills order from the list; listed[i] marks names[i] as placed. */
static int read_list(const char *file, const char *list, const named *sorted, size_t n,
                     size_t longest, size_t *order, unsigned char *listed, fp_error *err)
{
    char *name = malloc(longest + 8);
    if (!name)
        return fp_fail(err, "out of memory");
    size_t n_listed = 0;
    const char *p = skip_space(list);
    int rc = *p == '[' ? 0 : fail_list(err, file, "is not a JSON list of tensor names (at byte %zu)",
                                       (size_t)(p - list));
    for (p++; rc == 0; p++) {
        p = skip_space(p);
        if (*p == ']' && n_listed == 0)
            break;
        int got = json_string_at(&p, name, longest + 8);
        named key = { name, 0 }, *found = got == 0 ? bsearch(&key, sorted, n, sizeof *sorted, by_name) : NULL;
        if (got == TOO_LONG)
            rc = fail_list(err, file, "names no tensor of the file at byte %zu (longer than every "
                           "tensor's name)", (size_t)(p - list));
        else if (got < 0)
            rc = fail_list(err, file, "is not a JSON list of tensor names (at byte %zu)",
                           (size_t)(p - list));
        else if (!found)
            rc = fail_list(err, file, "names '%.200s', which is no tensor of the file", name);
        else if (listed[found->index]++)
            rc = fail_list(err, file, "names tensor '%.200s' twice", name);
        else
            order[n_listed++] = found->index;
        p = skip_space(p);
        if (rc == 0 && *p == ']')
            break;
        if (rc == 0 && *p != ',')
            rc = fail_list(err, file, "is not a JSON list of tensor names (at byte %zu)",
                           (size_t)(p - list));
    }
    if (rc == 0 && *skip_space(p + 1))
        rc = fail_list(err, file, "is not a JSON list of tensor names (text after the list at "
                       "byte %zu)", (size_t)(p + 1 - list));
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!listed[i])
            order[n_listed++] = i;
    free(name);
    return rc;
}

int fp_st_listed_order(const char *file, const char *list, const char *const *names, size_t n,
                       size_t *order, fp_error *err)
{
    named *sorted = malloc((n + 1) * sizeof *sorted);
    unsigned char *listed = calloc(n + 1, 1);
    if (!sorted || !listed) {
        free(sorted);
        free(listed);
        return fp_fail(err, "out of memory");
    }
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (named){ names[i], i };
        longest = strlen(names[i]) > longest ? strlen(names[i]) : longest;
    }
    qsort(sorted, n, sizeof *sorted, by_name);
    int rc = read_list(file, list, sorted, n, longest, order, listed, err);
    free(sorted);
    free(listed);
    return rc;
}
