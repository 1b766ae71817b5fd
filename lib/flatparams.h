/*
 * libflatparams: nested model files <-> one flat parameter vector.
 *
 * Ownership in one sentence per call is given beside each declaration.
 * Every function that can fail returns 0 on success and -1 on failure, after
 * filling an fp_error whose message already names the file or model path
 * ("model.h5: /layers/0/weight: ..."), so callers print it unchanged.
 */
#ifndef FLATPARAMS_H
#define FLATPARAMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FP_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef struct fp_error {
    char msg[1024];
} fp_error;

/* Formats msg into err (if non-NULL) and returns -1, so `return fp_fail(...)`. */
int fp_fail(fp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to an existing message (adds context on the way up). */
int fp_fail_prefix(fp_error *err, const char *prefix);

/* ---------------------------------------------------------------- dtypes */

typedef enum fp_dtype {
    FP_DT_NONE = 0,
    FP_F16, FP_BF16, FP_F32, FP_F64, FP_C64, FP_C128, /* parameters */
    FP_BOOL, FP_I8, FP_U8, FP_I16, FP_U16, FP_I32, FP_U32, FP_I64, FP_U64,
    FP_DT_COUNT
} fp_dtype;

size_t fp_dtype_size(fp_dtype dtype);
/* NumPy's name: "float32", "bfloat16", "complex64", "int64", "bool". */
const char *fp_dtype_name(fp_dtype dtype);
/* Accepts NumPy names and short forms (f32, f64, c64, bf16, i32, ...); FP_DT_NONE if unknown. */
fp_dtype fp_dtype_parse(const char *name);
int fp_dtype_is_param(fp_dtype dtype);   /* floating or complex */
int fp_dtype_is_complex(fp_dtype dtype);
int fp_dtype_is_float(fp_dtype dtype);   /* real floating */
/* The flat vector's type for a set of parameter dtypes: complex if any is complex,
 * else the widest float, at least f32. Fold with FP_DT_NONE as the start value. */
fp_dtype fp_dtype_promote(fp_dtype acc, fp_dtype next);

/* Converts n elements. Real -> complex sets imag = 0. Returns -1 (and the index of
 * the first offender in *bad_index if non-NULL) when complex -> real meets a
 * non-zero imaginary part; everything else always succeeds (floats round,
 * integers saturate like NumPy's astype does not: we clamp). */
int fp_convert(void *dst, fp_dtype dst_dtype, const void *src, fp_dtype src_dtype,
               size_t n, size_t *bad_index);

float fp_f16_to_f32(uint16_t h);
uint16_t fp_f32_to_f16(float f);   /* round to nearest even */
float fp_bf16_to_f32(uint16_t h);
uint16_t fp_f32_to_bf16(float f);  /* round to nearest even */

/* ---------------------------------------------------------------- the tree */

typedef enum fp_kind {
    FP_MAP, FP_LIST, FP_ARRAY, FP_STRING, FP_NUMBER, FP_BOOLEAN, FP_NULL
} fp_kind;

#define FP_MAX_RANK 32

typedef struct fp_node fp_node;

/* How a lazily loaded array fetches its data: fills dst with n_elems elements of
 * the node's own dtype, row-major. ctx belongs to the node (freed by free_ctx). */
typedef int (*fp_load_fn)(const fp_node *node, void *dst, fp_error *err);

struct fp_node {
    fp_kind kind;
    int refs;              /* parents holding this node; > 1 means shared */
    char *type;            /* layer type of a map ("Dense"), or NULL */
    int trainable;         /* 0 when the file marks it trainable: false */

    /* FP_MAP and FP_LIST: ordered children; keys only for maps */
    size_t n_children, cap_children;
    char **keys;
    fp_node **children;

    /* FP_ARRAY */
    fp_dtype dtype;
    int rank;
    uint64_t *shape;       /* rank sizes, held in the node's own allocation */
    uint64_t n_elems;
    void *data;            /* owned, n_elems of dtype; NULL until loaded */
    fp_load_fn load;       /* NULL when data is always present */
    void *load_ctx;
    void (*free_load_ctx)(void *ctx);
    char *origin;          /* where the format found it (HDF5 object path), or NULL */
    int64_t raw_offset;    /* >= 0: the data lies in the tree's file at this byte
                              offset exactly as dtype, little-endian, row-major
                              (contiguous, unfiltered), so flatten can stream it
                              in small pieces without the format's library; -1 else */

    /* scalars */
    char *str;             /* FP_STRING */
    double number;         /* FP_NUMBER */
    int boolean;           /* FP_BOOLEAN */
};

/* Constructors return a node with refs = 0; attaching it to a parent takes a ref.
 * NULL only on out-of-memory. */
fp_node *fp_node_new(fp_kind kind);
fp_node *fp_node_new_string(const char *s);
fp_node *fp_node_new_number(double x);
fp_node *fp_node_new_bool(int b);
/* An array without data (set data or load afterwards). Fails when the element
 * count overflows 2^62 bytes. */
fp_node *fp_node_new_array(fp_dtype dtype, int rank, const uint64_t *shape, fp_error *err);
/* Appends child (taking a reference); key is copied and required for maps. */
int fp_node_append(fp_node *parent, const char *key, fp_node *child, fp_error *err);
/* Drops one reference; frees the node and its subtree when none are left. */
void fp_node_release(fp_node *node);
/* The child of a map by key, or NULL. */
fp_node *fp_map_get(const fp_node *map, const char *key);
/* Bytes of an array's data. */
size_t fp_array_bytes(const fp_node *arr);
/* Copies the array's data (loading it when lazy) into dst as dtype `as`.
 * Never keeps the loaded data: memory stays with the caller's buffer. */
int fp_array_read(const fp_node *arr, void *dst, fp_dtype as, fp_error *err);
/* Makes arr->data present (loading it if lazy); the tree keeps it. */
int fp_array_materialize(fp_node *arr, fp_error *err);

/* Which Keras file a tree was read from. The last two read without error as
 * plain HDF5 or JSON, but their vector is not the model's: commands refuse
 * them (flatten, rebuild, convert, compute) or show them with a warning. */
typedef enum fp_keras_kind {
    FP_KERAS_NONE = 0,       /* not a Keras file */
    FP_KERAS_H5,             /* legacy HDF5: model.save("m.h5"), save_weights with layer_names */
    FP_KERAS_ZIP,            /* a Keras 3 .keras zip */
    FP_KERAS3_WEIGHTS,       /* a Keras 3 save_weights file read with --arch */
    FP_KERAS3_WEIGHTS_RAW,   /* the same without --arch: plain HDF5 groups layers/<class>/vars/N,
                                optimizer state and BatchNorm statistics among the arrays */
    FP_KERAS_ARCH_ONLY,      /* model.to_json(): an architecture without weights, as plain JSON */
} fp_keras_kind;

/* A tree read from a file; owns its root and any open handle of the format. */
typedef struct fp_tree {
    fp_node *root;
    const struct fp_format *format;   /* the format it was read with */
    char *path;                       /* the file it was read from */
    void *state;                      /* the format's open handle, or NULL */
    void (*close_state)(void *state);
    fp_keras_kind keras;              /* set by the reader */
} fp_tree;

void fp_tree_free(fp_tree *tree);

/* ---------------------------------------------------------------- selection and layout */

typedef struct fp_select {
    const char **include;  size_t n_include;   /* globs; empty means all */
    const char **exclude;  size_t n_exclude;
    int all;                                   /* non-trainable parameters too */
} fp_select;

/* Matches a path against a glob: fnmatch without FNM_PATHNAME (so `*` crosses
 * `/`), and a glob matching an ancestor module selects everything below it. */
int fp_glob_match(const char *glob, const char *path);
/* Whether a parameter at path (trainable as the file says) is in the selection;
 * sel NULL selects the trainable ones. */
int fp_select_match(const fp_select *sel, const char *path, int trainable);

/* One parameter array in the flat vector (llm.c's ParameterTensors, as a table). */
typedef struct fp_param {
    fp_node *node;
    char *path;            /* first occurrence */
    uint64_t offset;       /* element offset in the flat vector */
    uint64_t n_elems;
    int trainable;
} fp_param;

typedef struct fp_layout {
    fp_param *params;      /* selected parameters, flat order, shared ones once */
    size_t n_params;
    uint64_t n_elems;      /* length of the flat vector */
    fp_dtype dtype;        /* the vector's promoted type (f32 when empty) */
} fp_layout;

/* Walks the tree depth-first in file order and collects the selected parameters.
 * The layout borrows the nodes: free it before the tree. */
int fp_layout_build(const fp_node *root, const fp_select *sel, fp_layout *out, fp_error *err);
void fp_layout_free(fp_layout *layout);
/* The parameter whose node is `node`, or NULL when it is not selected. */
const fp_param *fp_layout_find(const fp_layout *layout, const fp_node *node);

/* Writes the params index of a layout to out: for each array in flat order its
 * path, offset, length, shape and own dtype, and once the vector's dtype and
 * length. json 0: an aligned text table ending in a "# vector: ..." line;
 * json 1: {"dtype", "length", "params": [{"path", "offset", "length", "shape",
 * "dtype"}, ...]}. The caller checks out for write errors. */
void fp_layout_write_index(FILE *out, const fp_layout *layout, fp_dtype vector_dtype, int json);
/* s as a JSON string literal, quotes included ('"', '\\' and control bytes
 * escaped; other bytes as they are). */
void fp_json_print_string(FILE *out, const char *s);

/* Whether an array is trainable where it stands: parent layer type, key, marks.
 * Used by the layout walk; exposed for modules/summary. */
int fp_is_trainable_key(const char *layer_type, const char *key);

/* Visits every node depth-first pre-order with its path (shared nodes each time
 * they occur; first_time tells the first). Return non-zero from fn to stop. */
typedef int (*fp_visit_fn)(const fp_node *node, const char *path, int depth,
                           int first_time, int inherited_trainable, void *ctx);
int fp_tree_walk(const fp_node *root, fp_visit_fn fn, void *ctx);

/* ---------------------------------------------------------------- formats */

/* Where a writer gets each array's elements (in the array's own dtype): the source
 * file by default, or the new parameter vector during rebuild. Writers call it in
 * depth-first order, once per distinct array, so sources may stream. */
typedef struct fp_array_source {
    int (*fill)(void *ctx, const fp_node *arr, void *dst, fp_error *err);
    void *ctx;
} fp_array_source;

typedef struct fp_format {
    const char *name;                 /* "json", "hdf5", ... */
    const char *const *extensions;    /* NULL-terminated, with the dot */
    /* Non-zero when the first bytes of a file are this format's. */
    int (*probe)(const unsigned char *head, size_t n_head);
    /* Reads path into tree (arrays may stay lazy); tree->path is already set. */
    int (*read)(fp_tree *tree, fp_error *err);
    /* Writes the tree to path (a temporary file the caller renames). */
    int (*write)(const char *path, const fp_node *root, const fp_array_source *src,
                 fp_error *err);
    /* Optional, for rebuild: path is a byte copy of tree->path; replace the
     * values of the given arrays in place, keeping everything else. */
    int (*patch_open)(const char *path, const fp_tree *tree, void **patch, fp_error *err);
    int (*patch_array)(void *patch, const fp_node *arr, const void *data, fp_error *err);
    int (*patch_close)(void *patch, int commit, fp_error *err);
    /* Non-zero when the library behind read may crash or loop on hostile files:
     * fp_tree_open then reads the metadata once in a child process first. */
    int isolate_read;
    /* Optional: removes what a child killed in that read left behind. */
    void (*after_failed_child)(void);
    /* Optional, with patch_open: n values of arr from its element `first` on,
     * so that rebuild streams an array in pieces instead of holding it whole. */
    int (*patch_piece)(void *patch, const fp_node *arr, uint64_t first, const void *data,
                       uint64_t n, fp_error *err);
} fp_format;

extern const fp_format fp_format_json;
extern const fp_format fp_format_hdf5;
extern const fp_format fp_format_safetensors;
extern const fp_format fp_format_keras;   /* Keras 3 .keras zips; legacy Keras .h5 is hdf5 */

/* The format whose probe accepts the file's content; error when none does. */
int fp_format_detect(const char *path, const fp_format **out, fp_error *err);
/* By name ("json", "hdf5"/"h5") or, when name is NULL, by the path's extension. */
const fp_format *fp_format_for_output(const char *path, const char *name);

/* Opens a model file: detects its format and reads the tree. */
int fp_tree_open(const char *path, fp_tree *tree, fp_error *err);

/* Options a model read honours (set before fp_tree_open; process-wide). */
extern int fp_allow_external;
/* A Keras architecture (model.to_json()) for Keras files, or NULL: layer types
 * and settings of a weights-only file, overriding a file's own config. */
extern const char *fp_keras_arch;

/* ---------------------------------------------------------------- files */

/* Crash-safe output: a temporary file beside target, renamed into place on commit,
 * with the mode of the file it replaces. target "-" means standard output (no
 * temporary). A target that is a symbolic link replaces the file it names. One
 * that exists and is not a regular file (a device like /dev/null, a FIFO) is
 * written, not replaced: straight to it (fp_outfile_open), or from a temporary
 * file in $TMPDIR copied into it on commit (fp_outfile_reserve). */
typedef struct fp_outfile {
    char *target;
    char *tmp_path;        /* NULL for stdout and for a special file opened directly */
    int fd;
    int special;           /* target exists and is not a regular file */
    int keep_mode;         /* target exists as a regular file: mode is its mode */
    unsigned mode;
} fp_outfile;

int fp_outfile_open(fp_outfile *out, const char *target, fp_error *err);
/* Creates the temporary name only (for libraries that open files themselves, like HDF5). */
int fp_outfile_reserve(fp_outfile *out, const char *target, fp_error *err);
int fp_outfile_commit(fp_outfile *out, fp_error *err);   /* fsync, rename, free */
/* Whether outputs are fsynced before the rename (FLATPARAMS_FSYNC=1). */
int fp_outfile_want_fsync(void);
void fp_outfile_abort(fp_outfile *out);                  /* unlink temp, free */
/* Names the target where err names the temporary (a library writing to it
 * failed): call before fp_outfile_abort. */
void fp_outfile_name_target(const fp_outfile *out, fp_error *err);
/* Adds a temporary file of one's own (not an fp_outfile's) to those
 * fp_outfile_remove_temporaries removes, and takes it off again; path must stay
 * valid until untracked. */
void fp_temporary_track(char *path);
void fp_temporary_untrack(char *path);
/* Unlinks every temporary not yet committed or aborted: for a signal handler
 * (async-signal-safe), so SIGINT or SIGTERM leaves no temporary behind. */
void fp_outfile_remove_temporaries(void);
/* Copies a file's bytes (the start of a patch-style rebuild). */
int fp_copy_file(const char *src, const char *dst, fp_error *err);

/* ---------------------------------------------------------------- vector and matrix files */

typedef struct fp_vec_writer fp_vec_writer;
typedef struct fp_vec_reader fp_vec_reader;

/* Whether name is a vector format --format and --in-format take (npy, txt, ...). */
int fp_vec_format_known(const char *name);
/* Their names, one per format, comma-separated, for messages ("npy, txt, ..."). */
const char *fp_vec_format_names(void);

/* Opens an output of n_elems (rank 1) or rows x cols (rank 2) elements of dtype.
 * format: "npy", "txt", "csv", "bin", "h5", "json", or NULL to choose by extension
 * (text for "-" and unknown extensions). Writes go to a temporary file. */
int fp_vec_writer_open(fp_vec_writer **w, const char *path, const char *format,
                       fp_dtype dtype, int rank, const uint64_t *shape, fp_error *err);
/* A binary output (npy, bin) to a file has its space allocated by a thread,
 * ahead of the writes, so that they only copy into it: for a caller that
 * computes for a while before its first write; call it before that write.
 * Nothing for standard output, a special file, or a file system without
 * fallocate. The file's size stays what was written; commit and abort stop
 * the thread. */
void fp_vec_writer_preallocate(fp_vec_writer *w);
/* Appends n elements (of the writer's dtype) in row-major order. */
int fp_vec_writer_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err);
/* Checks the count, renames into place, frees w. */
int fp_vec_writer_commit(fp_vec_writer *w, fp_error *err);
void fp_vec_writer_abort(fp_vec_writer *w);

/* Opens an input. bin_dtype is needed for ".bin" (raw) and ignored otherwise. */
int fp_vec_reader_open(fp_vec_reader **r, const char *path, const char *format,
                       fp_dtype bin_dtype, fp_error *err);
fp_dtype fp_vec_reader_dtype(const fp_vec_reader *r);
/* Total element count, or UINT64_MAX when it is only known at the end (text). */
uint64_t fp_vec_reader_count(const fp_vec_reader *r);
/* Reads up to n elements converted to dtype; *n_read < n only at the end. */
int fp_vec_reader_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n,
                       uint64_t *n_read, fp_error *err);
void fp_vec_reader_close(fp_vec_reader *r);

/* A matrix, or a batch of samples of any shape (X and Y of predict, gradient
 * and hessian): rows samples of cols elements each, row-major. */
#define FP_MATRIX_MAX_RANK 5
typedef struct fp_matrix {
    int rank;              /* 1 to FP_MATRIX_MAX_RANK */
    uint64_t rows, cols;   /* rank 1: rows = n, cols = 1; rank > 2: cols = a sample's elements */
    fp_dtype dtype;
    void *data;
    uint64_t shape[FP_MATRIX_MAX_RANK];   /* rank > 2: every dimension, shape[0] = rows */
} fp_matrix;
/* A whole small array (X, Y, V): rank 1 or 2, data converted to dtype, caller frees data. */
int fp_matrix_read(const char *path, const char *format, fp_dtype bin_dtype,
                   fp_dtype dtype, fp_matrix *out, fp_error *err);
/* The same for a batch of samples of any shape (X, Y): rank 1 to FP_MATRIX_MAX_RANK,
 * its shape filled in. */
int fp_batch_read(const char *path, const char *format, fp_dtype bin_dtype, fp_dtype dtype,
                  fp_matrix *out, fp_error *err);

/* Shortest decimal that reads back to the same value ("0.1", "1e-07", "nan", "inf"). */
int fp_format_f64(char *buf, size_t cap, double x);
int fp_format_f32(char *buf, size_t cap, float x);

#endif
