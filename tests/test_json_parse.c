/* The compact JSON parser (formats/json_parse.c) against cJSON, whose strictness
 * it keeps: on random texts built from JSON's pieces, mutated, and on random
 * bytes, both accept the same texts, end (or fail) at the same byte, and read
 * the same values, keys and strings. The parser is compiled into this test
 * (its functions are hidden inside the library). */
#include "test_json.h"
#include "harness.h"
#include "json_parse.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_number(double a, double b)
{
    return (a == b && signbit(a) == signbit(b)) || (isnan(a) && isnan(b));
}

/* Whether the compact value holds what cJSON's does; a non-empty array of
 * numbers only must be one FP_J_NUMBERS value. */
static int same_value(const cJSON *c, const fp_jvalue *v)
{
    if (cJSON_IsNull(c))
        return v->type == FP_J_NULL;
    if (cJSON_IsTrue(c) || cJSON_IsFalse(c))
        return v->type == (cJSON_IsTrue(c) ? FP_J_TRUE : FP_J_FALSE);
    if (cJSON_IsString(c))
        return v->type == FP_J_STRING && !strcmp(c->valuestring, v->u.string);
    if (cJSON_IsNumber(c))
        return v->type == FP_J_NUMBER && same_number(c->valuedouble, v->u.number);
    size_t n = (size_t)cJSON_GetArraySize(c), i = 0;
    if (cJSON_IsArray(c) && v->type == FP_J_NUMBERS) {
        fp_jnumbers it;
        fp_jnumbers_start(&it, v);
        for (const cJSON *e = c->child; e; e = e->next, i++)
            if (i >= v->n || !cJSON_IsNumber(e) || !same_number(e->valuedouble, fp_jnumbers_next(&it, NULL, NULL)))
                return 0;
        return i == v->n;
    }
    if (v->type != (cJSON_IsArray(c) ? FP_J_ARRAY : FP_J_OBJECT) || n != v->n)
        return 0;
    int only_numbers = n > 0;
    for (const cJSON *e = c->child; e; e = e->next, i++) {
        const fp_jvalue *item = &v->u.items[i];
        if (!same_value(e, item) || (cJSON_IsObject(c) && strcmp(e->string, item->key)))
            return 0;
        only_numbers &= cJSON_IsNumber(e);
    }
    return !(cJSON_IsArray(c) && only_numbers);
}

/* Parses data both ways, as the JSON model reader (with the trailing NUL) and
 * the safetensors reader (without) call cJSON; "" when they agree, else why. */
static const char *compare(const char *data, size_t len, int require_null)
{
    char *for_cjson = malloc(len + 1), *for_ours = malloc(len + 1);
    ck_assert(for_cjson && for_ours);
    memcpy(for_cjson, data, len);
    memcpy(for_ours, data, len);
    for_cjson[len] = for_ours[len] = 0;
    size_t length = require_null ? len + 1 : len, end = 0;
    const char *cjson_end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts(for_cjson, length, &cjson_end, require_null);
    fp_jvalue v;
    int out_of_memory, rc = fp_json_parse(for_ours, length, require_null, &v, &end, &out_of_memory);
    const char *why = "";
    if ((c != NULL) != (rc == 0))
        why = c ? "cJSON accepts, the parser refuses" : "the parser accepts, cJSON refuses";
    else if (out_of_memory)
        why = "out of memory";
    else if ((size_t)(cjson_end - for_cjson) != end)
        why = "they end at different bytes";
    if (rc == 0 && !*why) {
        fp_json_unescape(&v);
        if (!same_value(c, &v))
            why = "different values";
    }
    if (rc == 0)
        fp_json_free(&v);
    cJSON_Delete(c);
    free(for_cjson);
    free(for_ours);
    return why;
}

static void assert_same(const char *data, size_t len)
{
    for (int require_null = 0; require_null < 2; require_null++) {
        const char *why = compare(data, len, require_null);
        ck_assert_msg(!*why, "%s (%s): %.*s", why, require_null ? "with NUL" : "without",
                      (int)(len < 400 ? len : 400), data);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Numbers, strings and escapes at the edges of what cJSON takes. No number
 * longer than 63 characters: cJSON 1.7.15 cut those there, its later
 * releases (and Debian's 1.7.15) read them whole, as the parser does. */
static const char *const atoms[] = {
    "0", "-0", "7", "-12", "1.5", "1e5", "1E+5", "1e-5", "-.5", "01", "1.", "1.e3", "1e", "1e+",
    "-", "--1", "+1", ".5", "1e400", "-1e400", "1e-400", "0.1234567890123456789", "0x1", "1-2",
    "\"a\"", "\"\\n\"", "\"\\u0041\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\udc00\"",
    "\"\\u12G4\"", "\"\\x\"", "\"\\\"\"", "\"\\\\\"", "\"\\/\"", "\"\x01\"", "\"\xff\"", "\"\\u0000x\"",
    "\"\\ud800\\u0041\"", "\"\\ud800\\udc0\"", "\"\\u000\\\"x\"", "\"\\u00\\\\\"",
    "null", "true", "false", "nul", "tru", "NaN", "[]", "{}", "[ ]", "{ }", " ", "\t", "\n", "\x01",
    ",", ":", "[", "]", "{", "}", "\"", "\\",
};

/* A random value: atoms, arrays and objects nested up to 4 deep. */
static void random_value(char *buf, size_t *n, size_t cap, int depth)
{
    unsigned kind = rnd(10);
    if (depth > 4 || kind < 5) {
        const char *atom = atoms[rnd(sizeof atoms / sizeof *atoms)];
        size_t len = strlen(atom);
        if (*n + len < cap) {
            memcpy(buf + *n, atom, len);
            *n += len;
        }
        return;
    }
    int object = kind >= 8;
    if (*n + 1 < cap)
        buf[(*n)++] = object ? '{' : '[';
    for (unsigned i = 0, count = rnd(5); i < count; i++) {
        if (i && *n + 2 < cap) {
            buf[(*n)++] = ',';
            if (!rnd(3))
                buf[(*n)++] = ' ';
        }
        static const char *const keys[] = { "\"key\":", "\"k\\u0041\":", "k:", "\"a\" : " };
        const char *key = keys[rnd(4)];
        if (object && *n + strlen(key) < cap) {
            memcpy(buf + *n, key, strlen(key));
            *n += strlen(key);
        }
        random_value(buf, n, cap, depth + 1);
    }
    if (*n + 1 < cap)
        buf[(*n)++] = object ? '}' : ']';
}

START_TEST(agrees_with_cjson_on_random_texts)
{
    enum { N_TEXTS = 60000 };
    char buf[4096];
    for (int t = 0; t < N_TEXTS; t++) {
        size_t n = 0;
        if (!rnd(4)) {
            memcpy(buf, "\xEF\xBB\xBF", 3);   /* a byte order mark */
            n = 3;
        }
        random_value(buf, &n, sizeof buf - 8, 0);
        for (unsigned m = 0, n_mutations = rnd(3); m < n_mutations && n; m++) {
            size_t at = rnd((unsigned)n);
            switch (rnd(3)) {
            case 0: buf[at] = "[]{},:\"\\ 0-e.x\x00"[rnd(15)]; break;
            case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
            default: n = at; break;
            }
        }
        if (!rnd(3)) {
            memcpy(buf + n, rnd(2) ? "  " : " x", 2);
            n += 2;
        }
        assert_same(buf, n);
    }
}
END_TEST

START_TEST(agrees_with_cjson_on_random_bytes)
{
    static const char alphabet[] = "[]{},:\"\\ \t\n\r0123-+.eEu\x01\xffnultrfasx/bDd8c";
    char buf[48];
    for (int t = 0; t < 60000; t++) {
        size_t n = rnd(sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = rnd(8) ? alphabet[rnd(sizeof alphabet - 1)] : 0;
        assert_same(buf, n);
    }
}
END_TEST

/* cJSON's nesting limit (1000 arrays and objects), on both sides of it. */
START_TEST(agrees_with_cjson_on_deep_nesting)
{
    static char deep[8192];
    for (int depth = 995; depth < 1005; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            n += (size_t)sprintf(deep + n, i % 3 ? "[" : "{\"a\":");
        deep[n++] = '1';
        for (int i = depth - 1; i >= 0; i--)
            deep[n++] = i % 3 ? ']' : '}';
        assert_same(deep, n);
    }
}
END_TEST

/* The files the readers are tested on, whole and cut at every byte. */
START_TEST(agrees_with_cjson_on_the_test_files)
{
    static const char *const files[] = { "seed.json", "mlp_bn.json", "compute/layer_chain_shared.json" };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len;
        char *text = read_file(testdata(files[f]), &len);
        ck_assert_ptr_nonnull(text);
        for (size_t cut = 0; cut <= len; cut += cut < 2000 ? 1 : len / 50 + 1)
            assert_same(text, cut);
        assert_same(text, len);
        free(text);
    }
}
END_TEST

/* A number of 70 digits reads whole, as the cJSON Debian ships reads it. */
START_TEST(long_numbers_read_whole)
{
    fp_tree tree;
    open_doc("{\"w\": [1234567890123456789012345678901234567890123456789012345678901234567890]}", &tree);
    const fp_node *w = at(tree.root, "/w");
    ck_assert(w->kind == FP_ARRAY && w->n_elems == 1);
    ck_assert(((double *)w->data)[0] == 1234567890123456789012345678901234567890123456789012345678901234567890.0);
    fp_tree_free(&tree);
}
END_TEST

TCase *json_parse_tcase(void)
{
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, agrees_with_cjson_on_random_texts);
    tcase_add_test(tc, agrees_with_cjson_on_random_bytes);
    tcase_add_test(tc, agrees_with_cjson_on_deep_nesting);
    tcase_add_test(tc, agrees_with_cjson_on_the_test_files);
    tcase_add_test(tc, long_numbers_read_whole);
    return tc;
}
