/* What the safetensors files share: safetensors.c (the format entry, writing,
 * patching) and safetensors_read.c (reading). The mapping is in safetensors.c. */
#ifndef FP_SAFETENSORS_INTERNAL_H
#define FP_SAFETENSORS_INTERNAL_H

#include "flatparams.h"

#include <stdint.h>

/* The reference's limit on the header's length, in bytes (written files too). */
#define FP_ST_MAX_HEADER 100000000ull

/* tree->state of a tree read from safetensors: the open file. */
typedef struct fp_st_file {
    int fd;
    char *path;
    uint64_t data_start;         /* 8 + header length */
} fp_st_file;

/* An array's load_ctx: where its bytes start in the data buffer. */
typedef struct fp_st_ref {
    const fp_st_file *file;
    uint64_t begin;
} fp_st_ref;

/* "F32" <-> FP_F32 for the dtypes flatparams holds; FP_DT_NONE / NULL otherwise. */
fp_dtype fp_st_dtype_parse(const char *name);
const char *fp_st_dtype_name(fp_dtype dtype);
/* Little-endian file data <-> host order, in place (a no-op on little-endian hosts). */
void fp_st_swap_le(void *data, fp_dtype dtype, uint64_t n_elems);
/* pread until n bytes or the end of the file: bytes read, or -1 (errno set). */
int64_t fp_st_pread(int fd, void *buf, size_t n, uint64_t offset);
int fp_st_pwrite(int fd, const void *buf, size_t n, uint64_t offset);

/* __metadata__'s key for the order a writer recorded (scripts/from_torch.py):
 * a JSON list of tensor names. */
#define FP_ST_ORDER_KEY "flatparams.order"
/* The order to place n tensors in, given their names in offset order and the
 * list's text: order[0..n) gets indices into names, the listed ones first in
 * the list's order, the rest after in offset order. -1 with err naming file
 * when the list is no JSON list of strings, names no tensor or one twice
 * (safetensors_order.c). */
int fp_st_listed_order(const char *file, const char *list, const char *const *names, size_t n,
                       size_t *order, fp_error *err);
/* Whether s[0..n) is UTF-8, as the reference reads it (no overlong forms,
 * surrogates or code points past U+10FFFF; safetensors_read.c). */
int fp_st_is_utf8(const unsigned char *s, size_t n);

/* The format's read and its arrays' load function (safetensors_read.c). */
int fp_st_read(fp_tree *tree, fp_error *err);
int fp_st_load(const fp_node *node, void *dst, fp_error *err);

#endif
