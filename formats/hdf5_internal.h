/* Shared by the HDF5 reader (hdf5_read.c), writer (hdf5_write.c) and the
 * format table with in-place patching (hdf5.c). Not part of the public API. */
#ifndef FP_HDF5_INTERNAL_H
#define FP_HDF5_INTERNAL_H

/* The 1.10 API (H5L_info_t / H5O_info_t carry object addresses) on any HDF5. */
#define H5_USE_110_API
#include <hdf5.h>

#include "flatparams.h"
#include "h5_limits.h"

/* The innermost message of HDF5's error stack ("file signature not found"),
 * then clears the stack. Always a valid string. */
void h5_reason(char *buf, size_t cap);

/* Turns off HDF5's printing of its error stack on stderr (we report once). */
void h5_quiet(void);

/* The HDF5 type for a dtype: in_file picks the little-endian file type,
 * otherwise the native memory type. For complex dtypes, like_file (a compound
 * of two floats, or H5I_INVALID_HID) supplies the member names so HDF5 can
 * convert by name ("r"/"i" from h5py, "real"/"imag" from others). Caller
 * closes the result with H5Tclose; H5I_INVALID_HID on failure. */
hid_t h5_type_for(fp_dtype dtype, int in_file, hid_t like_file);

/* The dtype for a dataset's file type; FP_DT_NONE when it is not a numeric
 * array (strings, references, opaque, vlen, other compounds, other enums). */
fp_dtype h5_dtype_of(hid_t file_type);

/* Whether an enum type is h5py's boolean (members FALSE = 0 and TRUE = 1). */
int h5_is_bool_enum(hid_t type);

/* A small map from a pair of 64-bit keys to a pointer: object addresses to
 * nodes (read), nodes to their first path (write). */
typedef struct h5_addr_map {
    struct h5_addr_slot { uint64_t k1, k2; void *value; int used; } *slots;
    size_t n, cap;
} h5_addr_map;

void *h5_map_get(const h5_addr_map *map, uint64_t k1, uint64_t k2);
int h5_map_put(h5_addr_map *map, uint64_t k1, uint64_t k2, void *value);
/* Frees the table; free_value (may be NULL) is applied to each value. */
void h5_map_free(h5_addr_map *map, void (*free_value)(void *));

/* Groups nested deeper than this are refused on read and on write. */
enum { H5_MAX_DEPTH = 512 };

/* The model path being visited ("/layers/0/weight"), grown one name at a time. */
typedef struct h5_path {
    char *buf;
    size_t len, cap;
} h5_path;

int h5_path_push(h5_path *path, const char *name);     /* -1 on out of memory */
void h5_path_pop(h5_path *path, size_t saved_len);
const char *h5_path_str(const h5_path *path);           /* "/" at the root */

/* Attributes larger than this are refused (a hostile file could claim any size). */
#define H5_MAX_ATTRIBUTE_BYTES ((size_t)256 << 20)

/* The value of an attribute (is_attribute) or a dataset as a setting: a string,
 * number (any integer or float, as f64) or h5py boolean, arrays of them as
 * (nested) lists; FP_NULL for a null dataspace, other types, or a dataset over
 * max_bytes. NULL (with err naming file and path) when HDF5 fails or an
 * attribute is over max_bytes. */
fp_node *h5_read_value(hid_t id, int is_attribute, size_t max_bytes, const char *file,
                       const char *path, fp_error *err);
/* Whether a setting means false: 0 or a false boolean (the trainable mark). */
int h5_is_false(const fp_node *value);

/* The open file behind a tree's lazy arrays: an HDF5 read's tree->state
 * (and the Keras formats'), freed with h5_state_close. */
typedef struct h5_state {
    hid_t file;
    char *name;             /* the model file, for messages */
    h5_extents extents;     /* where the datasets read so far keep their data, and
                               the metadata met around them */
    h5_addr_map vetted;     /* objects whose extents are in the list */
    struct fp_reader_child *reader; /* reads what vetting could not prove safe */
} h5_state;

/* Opens file read-only; name is what messages call it (the model's path). */
h5_state *h5_state_open(const char *file, const char *name, fp_error *err);
void h5_state_close(void *state);
/* Fails when the data of a dataset read so far overlaps metadata or other
 * data (see h5_extents_overlap): "FILE: /w: its data (...) overlaps ...". */
int h5_state_check_overlap(h5_state *state, fp_error *err);

/* The dataset at origin (a path in the file) as the generic reader makes it:
 * a lazy array that keeps origin for patching, a string setting, or null.
 * External links and storage are refused unless fp_allow_external, and its
 * storage is vetted (h5_vet_dataset), as in a full read; model_path names it
 * in messages. */
fp_node *h5_read_dataset_at(h5_state *state, const char *origin, const char *model_path,
                            fp_error *err);

/* Paths a file names itself (Keras' layer_names) are followed with
 * h5_vetting_lapl (h5_limits.h). Fails for an HDF5 call on a path reached
 * with such properties: "FILE: WHERE: external link to T refused (use
 * --allow-external)" when that was the cause, else "FILE: WHERE: WHAT: <HDF5's reason>". Returns -1. */
int h5_fail_vetted(fp_error *err, const char *file, const char *where, const char *what,
                   const char *refused);

/* Keras legacy files (keras_h5.c): 1 when the root group has Keras' layer_names,
 * or model_config beside a model_weights group; 0 when not; -1 on HDF5 errors.
 * keras_h5_read builds the tree h5_read returns for them. */
int keras_h5_detect(hid_t root);
fp_node *keras_h5_read(h5_state *state, hid_t root, fp_error *err);
/* Keras 3 weights files (model.save_weights("m.weights.h5"), the
 * model.weights.h5 of a .keras zip; keras3_tree.c): 1 when the root holds the
 * groups layers and vars (hard links), 0 when not, -1 on HDF5 errors. Read as
 * Keras (keras3_read_tree) only with an architecture, --arch; without one as
 * plain HDF5, the tree marked FP_KERAS3_WEIGHTS_RAW. */
int keras3_weights_detect(hid_t root);

/* A lazy array's loaders (hdf5_load.c; node->load_ctx is the h5_state): in
 * this process, for data whose storage vetting proved safe; in the file's
 * reader child, for the rest. */
int h5_load(const fp_node *node, void *dst, fp_error *err);
int h5_load_isolated(const fp_node *node, void *dst, fp_error *err);
/* Reads the dataset at origin whole, as dtype, in the file's reader child
 * (data that vetting could not prove safe for libhdf5): into dst, or with dst
 * NULL only to prove that it reads. 0, or -1 with err naming file and path. */
int h5_read_isolated(h5_state *state, const char *origin, fp_dtype dtype, uint64_t n_elems,
                     void *dst, fp_error *err);

int h5_read(fp_tree *tree, fp_error *err);
int h5_write(const char *path, const fp_node *root, const fp_array_source *src,
             fp_error *err);

#endif
