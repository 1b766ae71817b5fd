/* Internals of the vector and matrix files (vecio*.c): one reader and one writer
 * struct with a small table of operations per format. Not installed. */
#ifndef FP_VECIO_INTERNAL_H
#define FP_VECIO_INTERNAL_H

#include "flatparams.h"

#include <stdint.h>
#include <sys/types.h>

/* Output is buffered in pieces this big, and readers convert through a scratch
 * buffer this big: memory never grows with the number of elements. */
enum { VEC_BUF_BYTES = 1 << 20 };
/* Pieces at least this large are written straight from the caller's memory. */
enum { VEC_DIRECT_BYTES = 64 << 10 };

typedef enum vec_format {
    VF_NONE, VF_NPY, VF_TEXT, VF_CSV, VF_BIN, VF_H5, VF_JSON
} vec_format;

/* ---------------------------------------------------------------- input bytes */

/* A buffered input over a file descriptor, or a whole input held in memory
 * (standard input that must be read twice). */
typedef struct vec_src {
    int fd;
    int close_fd;
    int in_memory;         /* buf holds the whole input; rewind is free */
    unsigned char *buf;
    size_t cap, pos, len;  /* unread bytes are buf[pos..len) */
    int eof;
} vec_src;

int vec_src_open(vec_src *s, const char *file, const char *name, fp_error *err);
/* Makes at least `want` unread bytes available (fewer only at end of input; want
 * at most half the buffer). Returns the number available, or -1. */
ssize_t vec_src_fill(vec_src *s, size_t want, const char *name, fp_error *err);
/* Reads up to n bytes; *got < n only at the end. */
int vec_src_read(vec_src *s, void *dst, size_t n, size_t *got, const char *name, fp_error *err);
/* The next unread byte, -1 at the end of input, -2 on a read error. */
int vec_src_peek(vec_src *s, const char *name, fp_error *err);
/* Copies the bytes from pos up to the next byte in `delims` (or the end) into tok
 * (NUL-terminated) and consumes them. Returns the length, -1 on a read error, or
 * -2 when the token does not fit in cap (then tok holds its start). */
ssize_t vec_src_token(vec_src *s, const char *delims, char *tok, size_t cap,
                      const char *name, fp_error *err);
/* Reads the rest of the input into memory so that it can be rewound. */
int vec_src_slurp(vec_src *s, const char *name, fp_error *err);
int vec_src_rewind(vec_src *s, const char *name, fp_error *err);
void vec_src_close(vec_src *s);

/* ---------------------------------------------------------------- readers */

typedef struct vec_reader_ops {
    /* Up to n elements converted to dtype; *n_read < n only at the end. */
    int (*read)(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n, uint64_t *n_read,
                fp_error *err);
    /* After everything was read as dtype: the shape of the elements (rank 0..). */
    int (*shape)(fp_vec_reader *r, fp_dtype dtype, int *rank, uint64_t *shape, fp_error *err);
    void (*close)(fp_vec_reader *r);
} vec_reader_ops;

struct fp_vec_reader {
    const vec_reader_ops *ops;
    char *name;            /* as errors show it: the path, or "<stdin>" */
    char *file;            /* the file to open ("-" for standard input) */
    char *dataset;         /* HDF5 dataset path */
    vec_format format;
    fp_dtype dtype;        /* the file's element type */
    uint64_t count;        /* elements in the file, UINT64_MAX when unknown */
    uint64_t done;         /* elements delivered so far */
    int rank;              /* the file's shape where the header gives it */
    uint64_t shape[FP_MAX_RANK];
    int fortran_order;     /* npy stored column-major (only fp_matrix_read takes it) */
    int for_matrix;        /* opened by fp_matrix_read: text rows must not be ragged */
    int swap_bytes;        /* big-endian data */
    vec_src src;
    unsigned char *scratch;   /* VEC_BUF_BYTES */
    void *state;           /* the format's own */
};

/* Each format's open fills ops, dtype, count (and shape where known). src is
 * already open for the byte formats; h5 opens r->file itself. */
int vec_npy_open(fp_vec_reader *r, fp_error *err);
int vec_bin_open(fp_vec_reader *r, fp_dtype bin_dtype, fp_error *err);
int vec_text_open(fp_vec_reader *r, fp_error *err);
int vec_json_open(fp_vec_reader *r, fp_error *err);
int vec_h5_open(fp_vec_reader *r, fp_error *err);

/* Converts n elements of the file's dtype in r->scratch into dst, naming the
 * element (counted from the start of the file) that cannot be converted. */
int vec_convert_out(fp_vec_reader *r, void *dst, fp_dtype dtype, const void *src,
                    fp_dtype src_dtype, size_t n, fp_error *err);
/* Text-like readers stage parsed numbers in r->scratch as `stage`: put one
 * element (imag ignored for real stages) at index k. */
void vec_stage_put(fp_vec_reader *r, fp_dtype stage, size_t k, double re, double im);
/* Converts the k staged elements into *out as dtype, advances *out, *n_read and
 * r->done, and resets *k to 0. */
int vec_stage_flush(fp_vec_reader *r, unsigned char **out, fp_dtype dtype, fp_dtype stage,
                    size_t *k, uint64_t *n_read, fp_error *err);
/* The parse of one number token; dtype says whether strtof (f32, f16, bf16, c64) or
 * strtod reads it, so a float's shortest text reads back to the same float. */
int vec_parse_number(const char *token, int as_float, double *out);
/* Staging type for numbers parsed from text for dtype: F32, C64, C128 or F64. */
fp_dtype vec_stage_dtype(fp_dtype dtype);
/* ".../abc" shortened for error messages. */
void vec_quote(char *dst, size_t cap, const char *text, size_t len);

/* ---------------------------------------------------------------- writers */

typedef struct vec_writer_ops {
    int (*begin)(fp_vec_writer *w, fp_error *err);
    int (*write)(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err);
    int (*finish)(fp_vec_writer *w, fp_error *err);   /* all elements are in */
    void (*discard)(fp_vec_writer *w);                /* free the format's state */
} vec_writer_ops;

struct fp_vec_writer {
    const vec_writer_ops *ops;
    char *name;            /* as errors show it: the path, or "<stdout>" */
    char *dataset;         /* HDF5 dataset path */
    vec_format format;
    fp_outfile out;
    fp_dtype dtype;
    int rank;
    uint64_t shape[2];
    uint64_t total, done;
    char sep;              /* text: between numbers of a row */
    unsigned char *buf;    /* output buffer, VEC_BUF_BYTES */
    size_t len;
    unsigned char *scratch;
    void *state;
    struct vec_allocator *ahead;   /* fp_vec_writer_preallocate's thread, or NULL */
};

/* Appends bytes to the output buffer, writing it out when full. */
int vec_out_put(fp_vec_writer *w, const void *bytes, size_t n, fp_error *err);
/* Room for at least `need` more bytes at w->buf + w->len (flushes if needed). */
int vec_out_reserve(fp_vec_writer *w, size_t need, fp_error *err);
int vec_out_flush(fp_vec_writer *w, fp_error *err);

extern const vec_writer_ops vec_npy_writer, vec_bin_writer, vec_text_writer,
    vec_json_writer, vec_h5_writer;

/* ---------------------------------------------------------------- helpers */

int vec_host_little_endian(void);
void vec_swap_bytes(void *data, size_t n_elems, size_t elem_size, int complex_pairs);
/* The npy descr of a dtype ("<f8", "|b1"); bf16 is written as "<f4". */
const char *vec_npy_descr(fp_dtype dtype);

#endif
