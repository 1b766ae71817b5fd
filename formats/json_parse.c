/* The compact JSON parser (json_parse.h). Its control flow is cJSON 1.7.15's
 * (parse_value, parse_array, parse_object, parse_string, parse_number) step
 * for step, so that what it accepts, and the byte where it fails, stay what
 * the readers had with cJSON: the json and safetensors suites and the fuzz
 * corpora hold both, and the json suite compares the two on random texts.
 * Where it differs is what it keeps: runs of numbers stay text (FP_J_NUMBERS),
 * strings stay in the text and are unescaped there once the caller is done
 * with the text as written, and an allocation failure is told apart from
 * invalid JSON. */
#include "json_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's limit on nested arrays and objects. */
#define NESTING_LIMIT 1000

typedef struct parser {
    const unsigned char *content;
    size_t length, offset, depth;
    int out_of_memory;
} parser;

static int can_access(const parser *p, size_t index)
{
    return p->offset + index < p->length;
}

/* Bytes up to 32 are whitespace to cJSON (control characters and NUL too). */
static void skip_whitespace(parser *p)
{
    if (!can_access(p, 0))
        return;
    while (can_access(p, 0) && p->content[p->offset] <= 32)
        p->offset++;
    if (p->offset == p->length)
        p->offset--;
}

/* ---- numbers */

static int is_number_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static size_t digits_at(const unsigned char *s, size_t i, size_t run)
{
    size_t n = 0;
    while (i + n < run && s[i + n] >= '0' && s[i + n] <= '9')
        n++;
    return n;
}

/* How much of s strtod consumes once cJSON has copied the leading run of
 * number characters (at most avail of them): sign, digits with an optional
 * point, an exponent only when digits follow it; 0 when it consumes nothing.
 * These characters hold no hex, inf or nan for strtod to find, and the
 * program never sets a locale, so the point is '.'. cJSON 1.7.15 as Debian
 * ships it copies the whole run (the upstream fix for CVE-2023-26819; the
 * original cut it at 63 characters), and so does this. */
static size_t number_extent(const unsigned char *s, size_t avail)
{
    size_t run = 0;
    while (run < avail && is_number_char(s[run]))
        run++;
    size_t i = 0;
    if (i < run && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t whole = digits_at(s, i, run), fraction = 0;
    i += whole;
    if (i < run && s[i] == '.') {
        fraction = digits_at(s, i + 1, run);
        if (whole || fraction)
            i += 1 + fraction;
    }
    if (whole + fraction == 0)
        return 0;
    if (i < run && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < run && (s[j] == '+' || s[j] == '-'))
            j++;
        size_t exponent = digits_at(s, j, run);
        if (exponent)
            i = j + exponent;
    }
    return i;
}

/* strtod of the token alone, as cJSON calls it on its copy. A long token
 * cannot be hex ("0x" is two characters), the only form strtod would read
 * past the token's end, so strtod reads it in place. */
static double number_value(const unsigned char *token, size_t len)
{
    char copy[64];
    if (len >= sizeof copy)
        return strtod((const char *)token, NULL);
    memcpy(copy, token, len);
    copy[len] = 0;
    return strtod(copy, NULL);
}

static int is_number_start(const parser *p)
{
    if (!can_access(p, 0))
        return 0;
    unsigned char c = p->content[p->offset];
    return c == '-' || (c >= '0' && c <= '9');
}

/* A number at the offset; its value only when `value` is non-NULL. */
static int parse_number(parser *p, fp_jvalue *value)
{
    const unsigned char *at = p->content + p->offset;
    size_t len = number_extent(at, p->length - p->offset);
    if (len == 0)
        return 0;
    if (value) {
        value->type = FP_J_NUMBER;
        value->u.number = number_value(at, len);
    }
    p->offset += len;
    return 1;
}

void fp_jnumbers_start(fp_jnumbers *it, const fp_jvalue *numbers)
{
    it->at = numbers->u.numbers + 1;   /* past the '[' */
    it->left = numbers->n;
}

double fp_jnumbers_next(fp_jnumbers *it, const char **token, size_t *token_len)
{
    /* The parser checked the text: whitespace, a number, whitespace, then a
     * ',' before the next one. The text ends in a NUL, which stops each scan. */
    const unsigned char *s = (const unsigned char *)it->at;
    while (*s <= 32)
        s++;
    size_t len = number_extent(s, SIZE_MAX);
    double value = number_value(s, len);
    if (token)
        *token = (const char *)s;
    if (token_len)
        *token_len = len;
    s += len;
    if (--it->left) {
        while (*s != ',')
            s++;
        s++;
    }
    it->at = (const char *)s;
    return value;
}

/* ---- strings */

static unsigned hex4(const unsigned char *s)
{
    unsigned h = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        unsigned digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                       : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 16;
        if (digit == 16)
            return 0;   /* cJSON reads a bad digit as the code 0, and goes on */
        h = h << 4 | digit;
    }
    return h;
}

/* A \uXXXX escape (two for a surrogate pair) at `at`, before the string's
 * closing quote at `end`: its length, 0 when cJSON refuses it; out (when
 * non-NULL) gets its UTF-8 bytes, *out_len how many. */
static size_t utf16_escape(const unsigned char *at, const unsigned char *end, unsigned char *out,
                           size_t *out_len)
{
    if (end - at < 6)
        return 0;
    unsigned long code = hex4(at + 2);
    size_t len = 6;
    if (code >= 0xDC00 && code <= 0xDFFF)
        return 0;
    if (code >= 0xD800 && code <= 0xDBFF) {
        const unsigned char *second = at + 6;
        if (end - second < 6 || second[0] != '\\' || second[1] != 'u')
            return 0;
        unsigned low = hex4(second + 2);
        if (low < 0xDC00 || low > 0xDFFF)
            return 0;
        code = 0x10000 + (((code & 0x3FF) << 10) | (low & 0x3FF));
        len = 12;
    }
    if (out) {
        size_t n = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
        static const unsigned char first_mark[5] = { 0, 0, 0xC0, 0xE0, 0xF0 };
        for (size_t i = n - 1; i > 0; i--) {
            out[i] = (unsigned char)((code | 0x80) & 0xBF);
            code >>= 6;
        }
        out[0] = (unsigned char)(n > 1 ? (code | first_mark[n]) & 0xFF : code & 0x7F);
        *out_len = n;
    }
    return len;
}

/* A string at the offset: checks it and leaves it escaped (fp_json_unescape
 * rewrites it once the document is whole, so that error positions still
 * count the text's own lines). *start is its first character. */
static int parse_string(parser *p, const char **start)
{
    const unsigned char *content = p->content;
    const unsigned char *first = content + p->offset + 1, *end = first;
    const unsigned char *fail_at = first;
    if (p->offset >= p->length || content[p->offset] != '"')
        goto fail;
    while ((size_t)(end - content) < p->length && *end != '"') {
        if (*end == '\\') {
            if ((size_t)(end + 1 - content) >= p->length)
                goto fail;
            end++;
        }
        end++;
    }
    if ((size_t)(end - content) >= p->length || *end != '"')
        goto fail;
    for (const unsigned char *s = first; s < end;) {
        if (*s != '\\') {
            s++;
            continue;
        }
        size_t len = 2;
        if (s[1] == 'u')
            len = utf16_escape(s, end, NULL, NULL);
        else if (!strchr("bfnrt\"\\/", s[1]) || !s[1])
            len = 0;
        if (len == 0) {
            fail_at = s;
            goto fail;
        }
        s += len;
    }
    *start = (const char *)first;
    p->offset = (size_t)(end - content) + 1;
    return 1;
fail:
    p->offset = (size_t)(fail_at - content);
    return 0;
}

/* Where a string's closing quote is, as parse_string's first scan finds it:
 * a backslash always takes the next character with it. */
static const unsigned char *closing_quote(const unsigned char *first)
{
    const unsigned char *end = first;
    while (*end != '"')
        end += *end == '\\' ? 2 : 1;
    return end;
}

/* Rewrites a string checked by parse_string in place, as cJSON's copy loop
 * does (which steps over escapes its own way: a \u takes six characters,
 * whatever they hold, so a last escape may reach past the closing quote),
 * ending it with a NUL where the closing quote was or earlier. */
static void unescape(char *string)
{
    unsigned char *in = (unsigned char *)string, *out = in;
    const unsigned char *end = closing_quote(in);
    static const char escaped[] = "bfnrt\"\\/", meant[] = "\b\f\n\r\t\"\\/";
    while (in < end) {
        if (*in != '\\') {
            *out++ = *in++;
        } else if (in[1] == 'u') {
            size_t n = 0;
            in += utf16_escape(in, end, out, &n);
            out += n;
        } else {
            *out++ = (unsigned char)meant[strchr(escaped, in[1]) - escaped];
            in += 2;
        }
    }
    *out = 0;
}

void fp_json_unescape(fp_jvalue *value)
{
    if (value->key)
        unescape((char *)value->key);
    if (value->type == FP_J_STRING)
        unescape((char *)value->u.string);
    if (value->type == FP_J_ARRAY || value->type == FP_J_OBJECT)
        for (size_t i = 0; i < value->n; i++)
            fp_json_unescape(&value->u.items[i]);
}

/* ---- arrays and objects */

static void free_items(fp_jvalue *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fp_json_free(&items[i]);
    free(items);
}

void fp_json_free(fp_jvalue *root)
{
    if (root && (root->type == FP_J_ARRAY || root->type == FP_J_OBJECT))
        free_items(root->u.items, root->n);
    if (root)
        root->n = 0, root->type = FP_J_NULL;
}

typedef struct item_list {
    fp_jvalue *items;
    size_t n, cap;
} item_list;

static int push_item(parser *p, item_list *list, const fp_jvalue *item)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 4;
        fp_jvalue *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            p->out_of_memory = 1;
            return 0;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = *item;
    return 1;
}

/* Done growing: the list as the value's items, without the spare room. */
static void take_items(fp_jvalue *value, fp_jtype type, item_list *list)
{
    if (list->n && list->n < list->cap) {
        fp_jvalue *fitted = realloc(list->items, list->n * sizeof *fitted);
        if (fitted)
            list->items = fitted;
    }
    *value = (fp_jvalue){ .type = type, .n = list->n, .u.items = list->n ? list->items : NULL };
    if (!list->n)
        free(list->items);
}

/* The numbers an array began with, once something else follows them: they
 * become items of their own. */
static int unpack_numbers(parser *p, const unsigned char *open, size_t n, item_list *list)
{
    fp_jvalue run = { .type = FP_J_NUMBERS, .n = n, .u.numbers = (const char *)open };
    fp_jnumbers it;
    fp_jnumbers_start(&it, &run);
    for (size_t i = 0; i < n; i++) {
        fp_jvalue number = { .type = FP_J_NUMBER, .u.number = fp_jnumbers_next(&it, NULL, NULL) };
        if (!push_item(p, list, &number))
            return 0;
    }
    return 1;
}

static int parse_value(parser *p, fp_jvalue *value);

static int parse_array(parser *p, fp_jvalue *value)
{
    if (p->depth >= NESTING_LIMIT)
        return 0;
    p->depth++;
    const unsigned char *open = p->content + p->offset;
    item_list list = { 0 };
    size_t n_numbers = 0;
    int only_numbers = 1;
    p->offset++;
    skip_whitespace(p);
    if (can_access(p, 0) && p->content[p->offset] == ']')
        goto success;
    if (!can_access(p, 0)) {
        p->offset--;
        goto fail;
    }
    p->offset--;
    do {
        p->offset++;
        skip_whitespace(p);
        if (only_numbers && is_number_start(p)) {
            if (!parse_number(p, NULL))
                goto fail;
            n_numbers++;
        } else {
            fp_jvalue item = { 0 };
            if (only_numbers && !unpack_numbers(p, open, n_numbers, &list))
                goto fail;
            only_numbers = 0;
            if (!parse_value(p, &item))
                goto fail;
            if (!push_item(p, &list, &item)) {
                fp_json_free(&item);
                goto fail;
            }
        }
        skip_whitespace(p);
    } while (can_access(p, 0) && p->content[p->offset] == ',');
    if (!can_access(p, 0) || p->content[p->offset] != ']')
        goto fail;
success:
    p->depth--;
    if (only_numbers && n_numbers)
        *value = (fp_jvalue){ .type = FP_J_NUMBERS, .n = n_numbers, .u.numbers = (const char *)open };
    else
        take_items(value, FP_J_ARRAY, &list);
    p->offset++;
    return 1;
fail:
    free_items(list.items, list.n);
    return 0;
}

static int parse_object(parser *p, fp_jvalue *value)
{
    if (p->depth >= NESTING_LIMIT)
        return 0;
    p->depth++;
    item_list list = { 0 };
    p->offset++;   /* parse_value saw the '{' */
    skip_whitespace(p);
    if (can_access(p, 0) && p->content[p->offset] == '}')
        goto success;
    if (!can_access(p, 0)) {
        p->offset--;
        goto fail;
    }
    p->offset--;
    do {
        const char *key;
        fp_jvalue member = { 0 };
        p->offset++;
        skip_whitespace(p);
        if (!parse_string(p, &key))
            goto fail;
        skip_whitespace(p);
        if (!can_access(p, 0) || p->content[p->offset] != ':')
            goto fail;
        p->offset++;
        skip_whitespace(p);
        if (!parse_value(p, &member))
            goto fail;
        member.key = key;
        if (!push_item(p, &list, &member)) {
            fp_json_free(&member);
            goto fail;
        }
        skip_whitespace(p);
    } while (can_access(p, 0) && p->content[p->offset] == ',');
    if (!can_access(p, 0) || p->content[p->offset] != '}')
        goto fail;
success:
    p->depth--;
    take_items(value, FP_J_OBJECT, &list);
    p->offset++;
    return 1;
fail:
    free_items(list.items, list.n);
    return 0;
}

static int literal_at(const parser *p, const char *word)
{
    size_t len = strlen(word);
    return p->offset + len <= p->length && !memcmp(p->content + p->offset, word, len);
}

static int parse_value(parser *p, fp_jvalue *value)
{
    static const struct { const char *word; fp_jtype type; } literals[] = {
        { "null", FP_J_NULL }, { "false", FP_J_FALSE }, { "true", FP_J_TRUE },
    };
    *value = (fp_jvalue){ .type = FP_J_NULL };
    for (size_t i = 0; i < sizeof literals / sizeof *literals; i++)
        if (literal_at(p, literals[i].word)) {
            value->type = literals[i].type;
            p->offset += strlen(literals[i].word);
            return 1;
        }
    if (!can_access(p, 0))
        return 0;
    switch (p->content[p->offset]) {
    case '"':
        value->type = FP_J_STRING;
        return parse_string(p, &value->u.string);
    case '[':
        return parse_array(p, value);
    case '{':
        return parse_object(p, value);
    default:
        return is_number_start(p) && parse_number(p, value);
    }
}

int fp_json_parse(char *text, size_t length, int require_null_terminated, fp_jvalue *root,
                  size_t *end, int *out_of_memory)
{
    parser p = { .content = (const unsigned char *)text, .length = length };
    *root = (fp_jvalue){ .type = FP_J_NULL };
    *out_of_memory = 0;
    if (length == 0)
        goto fail;
    if (can_access(&p, 4) && !memcmp(text, "\xEF\xBB\xBF", 3))   /* a UTF-8 byte order mark */
        p.offset = 3;
    skip_whitespace(&p);
    if (!parse_value(&p, root))
        goto fail;
    if (require_null_terminated) {
        skip_whitespace(&p);
        if (p.offset >= length || text[p.offset] != 0) {
            fp_json_free(root);
            goto fail;
        }
    }
    *end = p.offset;
    return 0;
fail:
    *end = p.offset < length ? p.offset : length > 0 ? length - 1 : 0;
    *out_of_memory = p.out_of_memory;
    return -1;
}

const fp_jvalue *fp_json_member(const fp_jvalue *object, const char *key)
{
    if (!object || object->type != FP_J_OBJECT)
        return NULL;
    for (size_t i = 0; i < object->n; i++)
        if (!strcmp(object->u.items[i].key, key))
            return &object->u.items[i];
    return NULL;
}

int fp_json_is_array(const fp_jvalue *value)
{
    return value && (value->type == FP_J_ARRAY || value->type == FP_J_NUMBERS);
}
