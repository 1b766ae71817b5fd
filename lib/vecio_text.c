/* Text vectors and matrices (.txt, .csv, standard input/output) and the JSON writer.
 *
 * Writing: one element per line for a vector, one row per line for a matrix;
 * numbers in their shortest round-trip form (fp_format_f32 for f32/f16/bf16/c64,
 * fp_format_f64 for f64/c128); complex elements as "re im" (csv: "re,im").
 *
 * Reading: numbers separated by blanks, commas or semicolons; '#' starts a comment.
 * Each number is parsed for the type it is read as (strtof for float32 and
 * narrower, so a float's shortest text comes back as the same float).
 * Which numbers make one element:
 *  - read as complex: each line holds one number (imaginary part 0) or "re im" pairs;
 *  - a vector (fp_vec_reader) whose first data line holds exactly two numbers and
 *    which has more lines is a complex vector as the writer makes it: each line is
 *    one element (dtype complex128), so its real slices read back too;
 *  - otherwise every number is one element (dtype float64), and fp_matrix_read
 *    takes lines as rows. */
#include "vecio_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- writing numbers */

/* Appends one real number; JSON spells the non-finite ones as strings. */
static int put_real(fp_vec_writer *w, double x, int as_float, int json, fp_error *err)
{
    if (vec_out_reserve(w, 64, err) < 0)
        return -1;
    char *p = (char *)w->buf + w->len;
    if (json && !isfinite(x))
        w->len += (size_t)sprintf(p, "\"%s\"", isnan(x) ? "NaN" : x < 0 ? "-Infinity" : "Infinity");
    else if (as_float)
        w->len += (size_t)fp_format_f32(p, 64, (float)x);
    else
        w->len += (size_t)fp_format_f64(p, 64, x);
    return 0;
}

static int put_text(fp_vec_writer *w, const char *text, fp_error *err)
{
    return vec_out_put(w, text, strlen(text), err);
}

/* Appends element i of data in the writer's dtype. */
static int put_element(fp_vec_writer *w, const void *data, size_t i, int json, fp_error *err)
{
    char text[32];
    char sep[3] = { w->sep, 0, 0 };
    if (json)
        memcpy(sep, ", ", 3);
    switch (w->dtype) {
    case FP_F64:  return put_real(w, ((const double *)data)[i], 0, json, err);
    case FP_F32:  return put_real(w, ((const float *)data)[i], 1, json, err);
    case FP_F16:  return put_real(w, fp_f16_to_f32(((const uint16_t *)data)[i]), 1, json, err);
    case FP_BF16: return put_real(w, fp_bf16_to_f32(((const uint16_t *)data)[i]), 1, json, err);
    case FP_C64: case FP_C128: {
        int is_float = w->dtype == FP_C64;
        double re = is_float ? ((const float *)data)[2 * i] : ((const double *)data)[2 * i];
        double im = is_float ? ((const float *)data)[2 * i + 1] : ((const double *)data)[2 * i + 1];
        return (json ? put_text(w, "[", err) : 0) < 0 || put_real(w, re, is_float, json, err) < 0
            || put_text(w, sep, err) < 0 || put_real(w, im, is_float, json, err) < 0
            || (json ? put_text(w, "]", err) : 0) < 0 ? -1 : 0;
    }
    case FP_BOOL:
        return put_text(w, ((const uint8_t *)data)[i] ? (json ? "true" : "1") : (json ? "false" : "0"), err);
    case FP_U64:
        snprintf(text, sizeof text, "%" PRIu64, ((const uint64_t *)data)[i]);
        return put_text(w, text, err);
    default: { /* the other integers fit int64 */
        int64_t v;
        fp_convert(&v, FP_I64, (const unsigned char *)data + i * fp_dtype_size(w->dtype), w->dtype, 1, NULL);
        snprintf(text, sizeof text, "%" PRId64, v);
        return put_text(w, text, err);
    }
    }
}

static int text_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err)
{
    uint64_t cols = w->rank == 2 ? w->shape[1] : 1;
    char sep[2] = { w->sep, 0 };
    for (uint64_t k = 0; k < n; k++) {
        uint64_t col = (w->done + k) % cols;
        if (put_element(w, data, (size_t)k, 0, err) < 0
            || put_text(w, col + 1 == cols ? "\n" : sep, err) < 0)
            return -1;
    }
    return 0;
}

static int json_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err)
{
    uint64_t cols = w->rank == 2 ? w->shape[1] : 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = w->done + k;
        const char *before = i == 0 ? (w->rank == 2 ? "[[" : "[")
                           : w->rank == 2 && i % cols == 0 ? "],\n [" : ", ";
        if (put_text(w, before, err) < 0 || put_element(w, data, (size_t)k, 1, err) < 0)
            return -1;
    }
    return 0;
}

static int json_finish(fp_vec_writer *w, fp_error *err)
{
    if (w->total > 0)
        return put_text(w, w->rank == 2 ? "]]\n" : "]\n", err);
    if (w->rank == 1 || w->shape[0] == 0)
        return put_text(w, "[]\n", err);
    for (uint64_t row = 0; row < w->shape[0]; row++)   /* rows of nothing */
        if (put_text(w, row == 0 ? "[[]" : ", []", err) < 0)
            return -1;
    return put_text(w, "]\n", err);
}

static int no_begin(fp_vec_writer *w, fp_error *err)
{
    (void)w;
    (void)err;
    return 0;
}

static void no_discard(fp_vec_writer *w) { (void)w; }

const vec_writer_ops vec_text_writer = { no_begin, text_write, no_begin, no_discard };
const vec_writer_ops vec_json_writer = { no_begin, json_write, json_finish, no_discard };

/* ---------------------------------------------------------------- reading */

enum { TOKEN_CAP = 256 };

typedef struct text_state {
    uint64_t line;             /* the line being read, from 1 */
    uint64_t line_numbers;     /* numbers on it so far */
    uint64_t line_elems;       /* elements on it so far */
    uint64_t rows, cols;       /* lines holding elements; elements on the first of them */
    uint64_t first_line;       /* the line number of that first one */
    int all_single;            /* every row held one element: a vector */
    int at_end;
    int paired;                /* a complex vector: one "re im" element per line */
} text_state;

enum { TOK_NUMBER, TOK_EOL, TOK_EOF };

static const char blanks[] = " \t\r\f\v,;";
static const char delims[] = " \t\r\f\v,;\n#";

/* The next number (its text in tok), end of line, or end of input. */
static int next_token(fp_vec_reader *r, char *tok, int *kind, fp_error *err)
{
    for (;;) {
        int c = vec_src_peek(&r->src, r->name, err);
        if (c == -2)
            return -1;
        if (c == -1) {
            *kind = TOK_EOF;
            return 0;
        }
        if (c == '\n') {
            r->src.pos++;
            *kind = TOK_EOL;
            return 0;
        }
        if (c && strchr(blanks, c)) {
            r->src.pos++;
            continue;
        }
        if (c == '#') {
            while ((c = vec_src_peek(&r->src, r->name, err)) >= 0 && c != '\n')
                r->src.pos++;
            if (c == -2)
                return -1;
            continue;
        }
        ssize_t len = vec_src_token(&r->src, delims, tok, TOKEN_CAP, r->name, err);
        if (len == -1)
            return -1;
        if (len == -2)   /* (left unread, it would be read again and again) */
            return fp_fail(err, "%s: line %llu: a number of more than %d characters", r->name,
                           (unsigned long long)((text_state *)r->state)->line, TOKEN_CAP - 1);
        if (len == 0) {   /* a NUL byte: binary data, not text */
            r->src.pos++;
            strcpy(tok, "\\0");
        }
        *kind = TOK_NUMBER;
        return 0;
    }
}

static int not_a_number(fp_vec_reader *r, const text_state *t, const char *tok, fp_error *err)
{
    char quoted[48];
    vec_quote(quoted, sizeof quoted, tok, strlen(tok));
    return fp_fail(err, "%s: line %llu: '%s' is not a number", r->name,
                   (unsigned long long)t->line, quoted);
}

static int end_line(fp_vec_reader *r, text_state *t, int complex_pairs, fp_error *err)
{
    if (complex_pairs && t->line_numbers > 1 && t->line_numbers % 2)
        return fp_fail(err, "%s: line %llu: %llu numbers do not make complex 're im' pairs",
                       r->name, (unsigned long long)t->line, (unsigned long long)t->line_numbers);
    if (t->line_elems > 0) {
        if (t->rows++ == 0) {
            t->cols = t->line_elems;
            t->first_line = t->line;
        } else if (r->for_matrix && t->line_elems != t->cols) {
            return fp_fail(err, "%s: line %llu: %llu elements, but line %llu has %llu (rows must "
                           "be equally long)", r->name, (unsigned long long)t->line,
                           (unsigned long long)t->line_elems, (unsigned long long)t->first_line,
                           (unsigned long long)t->cols);
        }
        t->all_single &= t->line_elems == 1;
    }
    t->line++;
    t->line_numbers = t->line_elems = 0;
    return 0;
}

static int text_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n, uint64_t *n_read,
                     fp_error *err)
{
    text_state *t = r->state;
    fp_dtype stage = vec_stage_dtype(dtype);
    int as_float = stage == FP_F32 || stage == FP_C64;
    int pairs = fp_dtype_is_complex(dtype) || t->paired;
    if (pairs && !fp_dtype_is_complex(stage))   /* real slices of a complex vector */
        stage = as_float ? FP_C64 : FP_C128;
    size_t stage_size = fp_dtype_size(stage);
    size_t chunk = VEC_BUF_BYTES / stage_size, k = 0;
    unsigned char *out = dst;
    char tok[TOKEN_CAP];
    int kind;
    while (!t->at_end && *n_read + k < n) {
        if (next_token(r, tok, &kind, err) < 0)
            return -1;
        if (kind != TOK_NUMBER) {
            if (end_line(r, t, pairs, err) < 0)
                return -1;
            t->at_end = kind == TOK_EOF;
            continue;
        }
        double re, im = 0;
        if (vec_parse_number(tok, as_float, &re) < 0)
            return not_a_number(r, t, tok, err);
        t->line_numbers++;
        if (pairs) {   /* "re im", or a lone "re" on its line */
            if (next_token(r, tok, &kind, err) < 0)
                return -1;
            if (kind == TOK_NUMBER) {
                if (vec_parse_number(tok, as_float, &im) < 0)
                    return not_a_number(r, t, tok, err);
                t->line_numbers++;
            }
        }
        t->line_elems++;
        vec_stage_put(r, stage, k, re, im);
        k++;
        if (pairs && kind != TOK_NUMBER) {   /* the token after a lone "re" ended its line */
            if (end_line(r, t, pairs, err) < 0)
                return -1;
            t->at_end = kind == TOK_EOF;
        }
        if ((k == chunk || t->at_end || *n_read + k == n)
            && vec_stage_flush(r, &out, dtype, stage, &k, n_read, err) < 0)
            return -1;
    }
    return vec_stage_flush(r, &out, dtype, stage, &k, n_read, err);
}

static int text_shape(fp_vec_reader *r, fp_dtype dtype, int *rank, uint64_t *shape, fp_error *err)
{
    (void)dtype;
    (void)err;
    const text_state *t = r->state;
    if (t->all_single || t->rows == 0) {
        *rank = 1;
        shape[0] = t->rows;
    } else {
        *rank = 2;
        shape[0] = t->rows;
        shape[1] = t->cols;
    }
    return 0;
}

static void text_close(fp_vec_reader *r)
{
    free(r->state);
    r->state = NULL;
}

static const vec_reader_ops text_reader = { text_read, text_shape, text_close };

static int is_delim(int c) { return c == '\n' || c == '#' || (c && strchr(blanks, c)); }

/* Peeks (without consuming) whether the first data line holds exactly two numbers
 * and another data line follows: the shape of a complex vector. */
static int looks_paired(fp_vec_reader *r, fp_error *err)
{
    ssize_t avail = vec_src_fill(&r->src, 1 << 16, r->name, err);
    if (avail < 0)
        return -1;
    const unsigned char *p = r->src.buf + r->src.pos, *end = p + avail;
    int tokens = 0, first_line_done = 0;
    while (p < end) {
        if (*p == '#') {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '\n') {
            if (tokens > 0 && !first_line_done) {
                if (tokens != 2)
                    return 0;
                first_line_done = 1;
            }
            p++;
        } else if (is_delim(*p)) {
            p++;
        } else {
            if (first_line_done)
                return 1;   /* a second data line */
            tokens++;
            while (p < end && !is_delim(*p))
                p++;
        }
    }
    /* The window ended: more input means more lines. */
    return first_line_done && !r->src.eof && !r->src.in_memory;
}

int vec_text_open(fp_vec_reader *r, fp_error *err)
{
    text_state *t = calloc(1, sizeof *t);
    if (!t)
        return fp_fail(err, "out of memory");
    t->line = 1;
    t->all_single = 1;
    r->state = t;
    r->count = UINT64_MAX;
    r->ops = &text_reader;
    if (!r->for_matrix && (t->paired = looks_paired(r, err)) < 0)
        return -1;
    r->dtype = t->paired ? FP_C128 : FP_F64;
    return 0;
}
