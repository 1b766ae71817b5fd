/* JSON vectors and matrices: a (nested, rectangular) array of numbers.
 *
 * A first pass checks the syntax and the shape and counts the numbers, a second
 * one delivers them, so a file is never held whole; standard input is, since it
 * cannot be read twice. Numbers may also be the strings "NaN", "Infinity" and
 * "-Infinity" (what we write) or Python's bare NaN/Infinity; true/false are 1/0.
 * Complex elements are [re, im] pairs, as in the model JSON: in a vector
 * (fp_vec_reader) an array whose innermost length is 2 is complex128, one element
 * per pair, so the real slices of a complex vector read back too; fp_matrix_read
 * pairs them only when reading as a complex type. Any other array has one
 * element per number (float64). */
#include "vecio_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { TOKEN_CAP = 256 };

typedef struct json_state {
    uint64_t line;
    uint64_t n_numbers;
    int pairable;          /* innermost dimension 2: [re, im] when read as complex */
} json_state;

static const char json_delims[] = " \t\r\n,[]{}:\"";

/* The next structural byte ('[', ']', ',', ...) or, for a value, 'v' with its
 * text in tok ('s' for a string's contents). 0 at the end of input. */
static int next_json(fp_vec_reader *r, json_state *j, char *tok, int *kind, fp_error *err)
{
    for (;;) {
        int c = vec_src_peek(&r->src, r->name, err);
        if (c == -2)
            return -1;
        if (c == -1) {
            *kind = 0;
            return 0;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            j->line += c == '\n';
            r->src.pos++;
            continue;
        }
        if (c == '"') {
            r->src.pos++;
            ssize_t len = vec_src_token(&r->src, "\"\\\n", tok, TOKEN_CAP, r->name, err);
            if (len == -1)
                return -1;
            if (len == -2 || vec_src_peek(&r->src, r->name, err) != '"')
                return fp_fail(err, "%s: line %llu: unsupported or unterminated string", r->name,
                               (unsigned long long)j->line);
            r->src.pos++;
            *kind = 's';
            return 0;
        }
        if (strchr("[]{},:", c)) {
            r->src.pos++;
            *kind = c;
            return 0;
        }
        ssize_t len = vec_src_token(&r->src, json_delims, tok, TOKEN_CAP, r->name, err);
        if (len == -1)
            return -1;
        if (len == -2)
            return fp_fail(err, "%s: line %llu: a number of more than %d characters", r->name,
                           (unsigned long long)j->line, TOKEN_CAP - 1);
        if (len == 0) {   /* a NUL byte */
            r->src.pos++;
            strcpy(tok, "\\0");
        }
        *kind = 'v';
        return 0;
    }
}

/* The value of a number token or string. */
static int json_value(fp_vec_reader *r, const json_state *j, const char *tok, int kind,
                      int as_float, double *out, fp_error *err)
{
    if (kind == 's') {
        static const struct { const char *name; double value; } names[] = {
            { "NaN", 0 }, { "Infinity", 1 }, { "-Infinity", -1 }, { "inf", 1 }, { "-inf", -1 },
            { "nan", 0 }, { "+Infinity", 1 },
        };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcasecmp(tok, names[i].name)) {
                *out = names[i].value == 0 ? (double)NAN : names[i].value * (double)INFINITY;
                return 0;
            }
    } else if (!strcmp(tok, "true") || !strcmp(tok, "false")) {
        *out = tok[0] == 't';
        return 0;
    } else if (vec_parse_number(tok, as_float, out) == 0) {
        return 0;
    }
    char quoted[48];
    vec_quote(quoted, sizeof quoted, tok, strlen(tok));
    return fp_fail(err, "%s: line %llu: %s%s%s is not a number", r->name, (unsigned long long)j->line,
                   kind == 's' ? "\"" : "'", quoted, kind == 's' ? "\"" : "'");
}

/* The first pass: syntax, rectangular shape, number count. */
static int prescan(fp_vec_reader *r, json_state *j, fp_error *err)
{
    uint64_t counts[FP_MAX_RANK + 1];
    int depth = 0, rank = -1, deepest_array = -1, have_dim[FP_MAX_RANK] = { 0 };
    int expect_value = 1, done = 0;   /* after '[' or ',': a value (or ']' after '[') */
    char tok[TOKEN_CAP];
    int kind = 0, prev = 0;
    double ignored;
    for (;;) {
        if (next_json(r, j, tok, &kind, err) < 0)
            return -1;
        if (kind == 0)
            break;
        if (done)
            return fp_fail(err, "%s: line %llu: text after the array", r->name,
                           (unsigned long long)j->line);
        if (kind == '[' || kind == 'v' || kind == 's') {
            if (!expect_value)
                return fp_fail(err, "%s: line %llu: expected ',' or ']'", r->name,
                               (unsigned long long)j->line);
            if (depth > 0)
                counts[depth - 1]++;
            if (kind == '[') {
                if (depth == FP_MAX_RANK || (rank >= 0 && depth >= rank))
                    return fp_fail(err, "%s: line %llu: arrays nested unevenly (not a "
                                   "rectangular array)", r->name, (unsigned long long)j->line);
                counts[depth++] = 0;
                if (depth - 1 > deepest_array)
                    deepest_array = depth - 1;
            } else {
                if (json_value(r, j, tok, kind, 0, &ignored, err) < 0)
                    return -1;
                if (rank < 0 && deepest_array >= depth)
                    return fp_fail(err, "%s: line %llu: arrays nested unevenly (not a "
                                   "rectangular array)", r->name, (unsigned long long)j->line);
                if (rank < 0)
                    rank = depth;
                else if (depth != rank)
                    return fp_fail(err, "%s: line %llu: a number where an array belongs (not a "
                                   "rectangular array)", r->name, (unsigned long long)j->line);
                j->n_numbers++;
                expect_value = 0;
                done = depth == 0;
            }
        } else if (kind == ']') {
            if (depth == 0 || (expect_value && prev != '['))
                return fp_fail(err, "%s: line %llu: unexpected ']'", r->name,
                               (unsigned long long)j->line);
            depth--;
            if (!have_dim[depth]) {
                r->shape[depth] = counts[depth];
                have_dim[depth] = 1;
            } else if (r->shape[depth] != counts[depth]) {
                return fp_fail(err, "%s: line %llu: an array of %llu where %llu were expected "
                               "(not a rectangular array)", r->name, (unsigned long long)j->line,
                               (unsigned long long)counts[depth],
                               (unsigned long long)r->shape[depth]);
            }
            expect_value = 0;
            done = depth == 0;
        } else if (kind == ',' && !expect_value && depth > 0) {
            expect_value = 1;
        } else {
            return fp_fail(err, "%s: line %llu: expected a (nested) array of numbers", r->name,
                           (unsigned long long)j->line);
        }
        prev = kind;
    }
    if (!done)
        return fp_fail(err, "%s: %s", r->name, depth > 0 ? "unexpected end of input inside an array"
                                                        : "empty input, expected a JSON array");
    r->rank = rank >= 0 ? rank : deepest_array + 1;
    j->pairable = r->rank >= 2 && r->shape[r->rank - 1] == 2;
    return 0;
}

static int json_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n, uint64_t *n_read,
                     fp_error *err)
{
    json_state *j = r->state;
    fp_dtype stage = vec_stage_dtype(dtype);
    int as_float = stage == FP_F32 || stage == FP_C64;
    int pairs = j->pairable && (fp_dtype_is_complex(dtype) || !r->for_matrix);
    if (pairs && !fp_dtype_is_complex(stage))   /* real slices of a complex vector */
        stage = as_float ? FP_C64 : FP_C128;
    size_t stage_size = fp_dtype_size(stage);
    size_t chunk = VEC_BUF_BYTES / stage_size, k = 0;
    unsigned char *out = dst;
    char tok[TOKEN_CAP];
    int kind = -1;
    double part[2] = { 0, 0 };
    int n_parts = 0;
    while (*n_read + k < n) {
        if (next_json(r, j, tok, &kind, err) < 0)
            return -1;
        if (kind == 0)
            break;
        if (kind != 'v' && kind != 's')
            continue;
        if (json_value(r, j, tok, kind, as_float, &part[n_parts++], err) < 0)
            return -1;
        if (pairs && n_parts < 2)
            continue;
        double re = part[0], im = pairs ? part[1] : 0;
        n_parts = 0;
        vec_stage_put(r, stage, k, re, im);
        if (++k == chunk && vec_stage_flush(r, &out, dtype, stage, &k, n_read, err) < 0)
            return -1;
    }
    return vec_stage_flush(r, &out, dtype, stage, &k, n_read, err);
}

static int json_shape(fp_vec_reader *r, fp_dtype dtype, int *rank, uint64_t *shape, fp_error *err)
{
    (void)err;
    const json_state *j = r->state;
    *rank = r->rank - (fp_dtype_is_complex(dtype) && j->pairable);
    memcpy(shape, r->shape, (size_t)*rank * sizeof *shape);
    return 0;
}

static void json_close(fp_vec_reader *r)
{
    free(r->state);
    r->state = NULL;
}

static const vec_reader_ops json_reader = { json_read, json_shape, json_close };

int vec_json_open(fp_vec_reader *r, fp_error *err)
{
    json_state *j = calloc(1, sizeof *j);
    if (!j)
        return fp_fail(err, "out of memory");
    r->state = j;
    r->ops = &json_reader;
    r->dtype = FP_F64;
    struct stat st;
    if (fstat(r->src.fd, &st) < 0 || !S_ISREG(st.st_mode))
        if (vec_src_slurp(&r->src, r->name, err) < 0)   /* a pipe: read it once, keep it */
            return -1;
    j->line = 1;
    if (prescan(r, j, err) < 0 || vec_src_rewind(&r->src, r->name, err) < 0)
        return -1;
    j->line = 1;
    if (r->for_matrix) {   /* pairs or not depends on the type it is read as */
        r->count = j->pairable ? UINT64_MAX : j->n_numbers;
    } else {
        r->count = j->pairable ? j->n_numbers / 2 : j->n_numbers;
        r->dtype = j->pairable ? FP_C128 : FP_F64;
    }
    return 0;
}
