/* A compact JSON document for the two readers that parse JSON text whole: JSON
 * models (json_read.c) and safetensors headers (safetensors_read.c); not
 * public API. It accepts exactly the texts cJSON 1.7.15 accepts and fails at
 * the byte cJSON names, but holds a run of numbers ([1, 2.5, -3]) as one value
 * that points at its text instead of one node per number, and leaves strings
 * in the text (unescaped in place): a document of numbers costs a few bytes
 * per number on top of its text, where cJSON took about 60. */
#ifndef FP_JSON_PARSE_H
#define FP_JSON_PARSE_H

#include <stddef.h>

#define FP_JSON_PARSE_HIDDEN __attribute__((visibility("hidden")))

typedef enum fp_jtype {
    FP_J_NULL, FP_J_FALSE, FP_J_TRUE, FP_J_NUMBER, FP_J_STRING,
    FP_J_ARRAY,      /* items */
    FP_J_NUMBERS,    /* a non-empty array of numbers only: read with fp_jnumbers */
    FP_J_OBJECT,     /* items, each with its key, in document order */
} fp_jtype;

typedef struct fp_jvalue {
    fp_jtype type;
    size_t n;                    /* ARRAY, OBJECT: items; NUMBERS: numbers */
    const char *key;             /* a member of an object: its name */
    union {
        double number;           /* NUMBER */
        const char *string;      /* STRING: NUL-terminated, in the text */
        struct fp_jvalue *items; /* ARRAY, OBJECT (NULL when empty) */
        const char *numbers;     /* NUMBERS: its '[' in the text */
    } u;
} fp_jvalue;

/* Parses text[0, length) as cJSON_ParseWithLengthOpts(text, length, &end,
 * require_null_terminated) does, into root. text must stay valid, unmoved,
 * while root is used (strings and numbers live in it), and text[length] must
 * be readable (a NUL). On success returns 0 and *end is where cJSON's parse
 * end would point; on failure -1, *end is cJSON's error position, and
 * *out_of_memory tells an allocation failure from invalid JSON. The strings
 * stay escaped, and the text as it was, until fp_json_unescape. */
FP_JSON_PARSE_HIDDEN int fp_json_parse(char *text, size_t length, int require_null_terminated,
                                       fp_jvalue *root, size_t *end, int *out_of_memory);
/* Unescapes every string and key of a parsed document in place in its text
 * (once, before reading them): a caller that scans the text itself does so
 * first. */
FP_JSON_PARSE_HIDDEN void fp_json_unescape(fp_jvalue *root);
/* Frees what root holds (never the text). */
FP_JSON_PARSE_HIDDEN void fp_json_free(fp_jvalue *root);

/* The first member of an object with this key (case-sensitive), or NULL. */
FP_JSON_PARSE_HIDDEN const fp_jvalue *fp_json_member(const fp_jvalue *object, const char *key);
FP_JSON_PARSE_HIDDEN int fp_json_is_array(const fp_jvalue *value);   /* ARRAY or NUMBERS */

/* Reads a NUMBERS value's numbers in order: each as cJSON reads it (strtod),
 * with its token in the text (for callers that care how it was written). */
typedef struct fp_jnumbers {
    const char *at;
    size_t left;
} fp_jnumbers;

FP_JSON_PARSE_HIDDEN void fp_jnumbers_start(fp_jnumbers *it, const fp_jvalue *numbers);
/* The next number (call at most n times); token and token_len may be NULL. */
FP_JSON_PARSE_HIDDEN double fp_jnumbers_next(fp_jnumbers *it, const char **token, size_t *token_len);

#endif
