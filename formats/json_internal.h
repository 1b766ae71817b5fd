/* Pieces the JSON format's files share (formats/json*.c); not public API. */
#ifndef FP_JSON_INTERNAL_H
#define FP_JSON_INTERNAL_H

#include "flatparams.h"
#include "json_parse.h"

#include <stddef.h>

#define FP_JSON_HIDDEN __attribute__((visibility("hidden")))

/* Deeper JSON nesting is refused on read, and deeper trees (through $ref) too,
 * so every recursive walk over a JSON-born tree has a bounded stack. */
#define FP_JSON_MAX_DEPTH 512

/* A model path being built during a walk: "/layers/0/weight". */
typedef struct fp_json_path {
    char *buf;
    size_t len, cap;
} fp_json_path;

/* Appends "/name"; with escape set, '~' and '/' become "~0" and "~1" (RFC 6901),
 * the form $ref paths use. Pop back by restoring the length saved before. */
FP_JSON_HIDDEN int fp_json_path_push(fp_json_path *path, const char *name, int escape);
FP_JSON_HIDDEN int fp_json_path_push_index(fp_json_path *path, size_t index);
FP_JSON_HIDDEN void fp_json_path_pop(fp_json_path *path, size_t len);
/* The path so far, "/" for the root. */
FP_JSON_HIDDEN const char *fp_json_path_str(const fp_json_path *path);

/* fp_fail with the contract's context: "FILE: /model/path: what". Very long
 * paths are shortened in the middle so the message keeps its "what". */
FP_JSON_HIDDEN int fp_json_fail(fp_error *err, const char *file, const char *path,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* $ref sharing (json_refs.c). While converting, each {"$ref": P} becomes a
 * placeholder node from fp_json_refs_add (NULL when out of memory); after
 * appending any child call fp_json_refs_placed, which notes where a placeholder
 * went; once the tree is whole, fp_json_refs_link puts the node at P in each
 * placeholder's place (transitively; unknown paths and cycles are errors). */
typedef struct fp_json_refs {
    const char *file;      /* for messages */
    struct fp_json_ref *items;
    size_t n, cap;
} fp_json_refs;

FP_JSON_HIDDEN fp_node *fp_json_refs_add(fp_json_refs *refs, const char *ref, const char *site);
FP_JSON_HIDDEN void fp_json_refs_placed(fp_json_refs *refs, fp_node *parent);
FP_JSON_HIDDEN int fp_json_refs_link(fp_json_refs *refs, fp_node *root, fp_error *err);
FP_JSON_HIDDEN void fp_json_refs_free(fp_json_refs *refs);

/* Reading a model (json_read.c, json_arrays.c): the file, where the walk is
 * (for messages) and the $refs met so far. */
typedef struct fp_json_reader {
    const char *file;
    fp_error *err;
    fp_json_path path;
    fp_json_refs refs;
} fp_json_reader;

/* fp_json_fail at the reader's path. */
FP_JSON_HIDDEN int fp_json_reader_fail(fp_json_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* What a value is, for messages: "a string", "an array", ... */
FP_JSON_HIDDEN const char *fp_json_kind_name(const fp_jvalue *value);
/* json_arrays.c: a tensor object (its keys checked unique) into *out. */
FP_JSON_HIDDEN int fp_json_convert_tensor(fp_json_reader *r, const fp_jvalue *item, fp_node **out);
/* A bare array that nests numbers only, rectangular: a float64 array in *out.
 * *out stays NULL (returning 0) when it holds anything else, or no number: a
 * list. On failure *out may hold the node made (the caller releases it). */
FP_JSON_HIDDEN int fp_json_convert_numeric(fp_json_reader *r, const fp_jvalue *item, fp_node **out);

FP_JSON_HIDDEN int fp_json_read(fp_tree *tree, fp_error *err);
FP_JSON_HIDDEN int fp_json_write(const char *path, const fp_node *root,
                                 const fp_array_source *src, fp_error *err);

#endif
