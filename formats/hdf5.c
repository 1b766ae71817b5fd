/* The HDF5 model format: detection, the open file behind lazy arrays (shared
 * with the Keras readers), the dtype <-> HDF5 type mapping shared by the
 * reader and the writer, and in-place patching for rebuild (a byte copy of the
 * input whose datasets get new values, so attributes, chunking, filters and
 * everything we do not model survive untouched).
 *
 * Reading is in hdf5_read.c, writing in hdf5_write.c; what a dataset may
 * declare and where its data may lie is vetted in lib/h5_limits.c. */
#include "hdf5_internal.h"
#include "isolate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- detection */

/* The superblock may follow a user block of 512, 1024, 2048, ... bytes. */
static int probe(const unsigned char *head, size_t n_head)
{
    static const unsigned char signature[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    static const size_t offsets[] = { 0, 512, 1024, 2048 };
    for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++)
        if (offsets[i] + sizeof signature <= n_head
            && !memcmp(head + offsets[i], signature, sizeof signature))
            return 1;
    return 0;
}

/* ---- HDF5's error stack */

typedef struct reason_ctx {
    char *buf;
    size_t cap;
    int found;
} reason_ctx;

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *vctx)
{
    reason_ctx *ctx = vctx;
    (void)n;
    if (ctx->found)
        return 0;
    const char *desc = e->desc && *e->desc ? e->desc : NULL;
    char minor[256] = "";
    if (!desc && H5Eget_msg(e->min_num, NULL, minor, sizeof minor) > 0)
        desc = minor;
    if (desc) {
        snprintf(ctx->buf, ctx->cap, "%s", desc);
        ctx->found = 1;
    }
    return 0;
}

void h5_reason(char *buf, size_t cap)
{
    snprintf(buf, cap, "HDF5 error");
    hid_t stack = H5Eget_current_stack();   /* a copy; the live stack is cleared */
    if (stack < 0)
        return;
    reason_ctx ctx = { buf, cap, 0 };
    H5Ewalk2(stack, H5E_WALK_UPWARD, take_innermost, &ctx);
    /* the file driver's "file write failed: time = ..., buf = 0x..., error
     * message = 'File too large', ...": what failed, and the system's reason */
    char said[200], reason[256];
    const char *colon = strchr(buf, ':');
    if (colon && h5_stack_system_reason(stack, said, sizeof said)) {
        snprintf(reason, sizeof reason, "%.*s: %s", (int)(colon - buf), buf, said);
        snprintf(buf, cap, "%s", reason);
    }
    H5Eclose_stack(stack);
}

void h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* libhdf5's exit-time cleanup closes what is still open; after a write that
 * failed (a full disk, a file-size limit) the output's H5Fclose has failed too,
 * and closing it again at exit crashed libhdf5 1.10.8 (SIGSEGV in
 * H5F__close_cb, after the error line). Every file is closed explicitly; the
 * process's end frees the rest. H5dont_atexit must come before the library
 * starts, hence at load. */
__attribute__((constructor)) static void h5_no_exit_cleanup(void)
{
    H5dont_atexit();
}

/* ---- the open file of a read */

/* What a lazy array needs to find its data (h5_state) is shared by all nodes of
 * a tree and owned by the tree (tree->state), so nodes carry no free_load_ctx. */
void h5_state_close(void *vstate)
{
    h5_state *state = vstate;
    if (!state)
        return;
    fp_child_stop(state->reader);
    if (state->file >= 0)
        H5Fclose(state->file);
    h5_extents_free(&state->extents);
    h5_map_free(&state->vetted, NULL);
    free(state->name);
    free(state);
}

h5_state *h5_state_open(const char *file, const char *name, fp_error *err)
{
    h5_quiet();
    h5_state *state = calloc(1, sizeof *state);
    if (!state || !(state->name = strdup(name))) {
        free(state);
        fp_fail(err, "out of memory");
        return NULL;
    }
    /* Default access properties: another part of the process (a vector file
     * in the same HDF5 file) may open it too, and HDF5 wants them to agree. */
    char why[256];
    if ((state->file = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: cannot open as HDF5: %s", name, why);
        h5_state_close(state);
        return NULL;
    }
    if (h5_extents_add_superblock(&state->extents, state->file) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: cannot read the superblock: %s", name, why);
        h5_state_close(state);
        return NULL;
    }
    return state;
}

int h5_state_check_overlap(h5_state *state, fp_error *err)
{
    char why[2048];
    if (h5_extents_overlap(&state->extents, why, sizeof why))
        return fp_fail(err, "%s: %s", state->name, why);
    return 0;
}

int h5_fail_vetted(fp_error *err, const char *file, const char *where, const char *what,
                   const char *refused)
{
    if (refused[0])
        return fp_fail(err, "%s: %s: external link to %s refused (use --allow-external)", file,
                       where, refused);
    char why[256];
    h5_reason(why, sizeof why);
    return fp_fail(err, "%s: %s: %s: %s", file, where, what, why);
}

/* ---- types */

/* HDF5 1.10 has no half-precision type: narrow a float32 to 16 bits the way
 * h5py builds its float16 (sign, exponent, mantissa fields, then bias). */
static hid_t half_type(hid_t base, size_t exp_bits, size_t man_bits, size_t bias)
{
    hid_t t = H5Tcopy(base);
    if (t < 0)
        return H5I_INVALID_HID;
    if (H5Tset_fields(t, 15, man_bits, exp_bits, 0, man_bits) < 0 || H5Tset_size(t, 2) < 0
        || H5Tset_ebias(t, bias) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static hid_t complex_type(hid_t part, size_t part_size, hid_t like_file)
{
    char *names[2] = { NULL, NULL };
    if (like_file >= 0 && H5Tget_class(like_file) == H5T_COMPOUND && H5Tget_nmembers(like_file) == 2) {
        names[0] = H5Tget_member_name(like_file, 0);
        names[1] = H5Tget_member_name(like_file, 1);
    }
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * part_size);
    if (t >= 0 && (H5Tinsert(t, names[0] ? names[0] : "r", 0, part) < 0
                   || H5Tinsert(t, names[1] ? names[1] : "i", part_size, part) < 0)) {
        H5Tclose(t);
        t = H5I_INVALID_HID;
    }
    H5free_memory(names[0]);
    H5free_memory(names[1]);
    return t;
}

/* h5py's bool: an int8 enum with FALSE = 0 and TRUE = 1. */
static hid_t bool_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    if (t >= 0 && (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0)) {
        H5Tclose(t);
        t = H5I_INVALID_HID;
    }
    return t;
}

hid_t h5_type_for(fp_dtype dtype, int in_file, hid_t like_file)
{
    hid_t f32 = in_file ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT;
    hid_t f64 = in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE;
    hid_t plain;
    switch (dtype) {
    case FP_F16:  return half_type(f32, 5, 10, 15);
    case FP_BF16: return half_type(f32, 8, 7, 127);
    case FP_C64:  return complex_type(f32, 4, like_file);
    case FP_C128: return complex_type(f64, 8, like_file);
    case FP_BOOL: return bool_type();
    case FP_F32:  plain = f32; break;
    case FP_F64:  plain = f64; break;
    case FP_I8:   plain = in_file ? H5T_STD_I8LE : H5T_NATIVE_INT8; break;
    case FP_U8:   plain = in_file ? H5T_STD_U8LE : H5T_NATIVE_UINT8; break;
    case FP_I16:  plain = in_file ? H5T_STD_I16LE : H5T_NATIVE_INT16; break;
    case FP_U16:  plain = in_file ? H5T_STD_U16LE : H5T_NATIVE_UINT16; break;
    case FP_I32:  plain = in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32; break;
    case FP_U32:  plain = in_file ? H5T_STD_U32LE : H5T_NATIVE_UINT32; break;
    case FP_I64:  plain = in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64; break;
    case FP_U64:  plain = in_file ? H5T_STD_U64LE : H5T_NATIVE_UINT64; break;
    default:      return H5I_INVALID_HID;
    }
    return H5Tcopy(plain);
}

int h5_is_bool_enum(hid_t type)
{
    if (H5Tget_class(type) != H5T_ENUM || H5Tget_nmembers(type) != 2)
        return 0;
    int seen_false = 0, seen_true = 0;
    for (unsigned i = 0; i < 2; i++) {
        char *name = H5Tget_member_name(type, i);
        if (name) {
            seen_false |= !strcmp(name, "FALSE");
            seen_true |= !strcmp(name, "TRUE");
        }
        H5free_memory(name);
    }
    return seen_false && seen_true;
}

static fp_dtype float_dtype(hid_t type)
{
    size_t size = H5Tget_size(type), spos, epos, esize, mpos, msize;
    if (size == 2 && H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0) {
        if (esize == 5 && msize == 10)
            return FP_F16;
        if (esize == 8 && msize == 7)
            return FP_BF16;
    }
    return size == 4 ? FP_F32 : FP_F64;   /* other widths: HDF5 converts to f64 */
}

static fp_dtype int_dtype(hid_t type)
{
    static const fp_dtype by_size[2][4] = {
        { FP_U8, FP_U16, FP_U32, FP_U64 }, { FP_I8, FP_I16, FP_I32, FP_I64 },
    };
    size_t size = H5Tget_size(type);
    int is_signed = H5Tget_sign(type) == H5T_SGN_2;
    int slot = size <= 1 ? 0 : size <= 2 ? 1 : size <= 4 ? 2 : 3;
    return by_size[is_signed][slot];
}

fp_dtype h5_dtype_of(hid_t type)
{
    switch (H5Tget_class(type)) {
    case H5T_FLOAT:
        return float_dtype(type);
    case H5T_INTEGER:
        return int_dtype(type);
    case H5T_ENUM:
        return h5_is_bool_enum(type) ? FP_BOOL : FP_DT_NONE;
    case H5T_COMPOUND: {
        /* Complex numbers: h5py's {r, i}; any two float members in that order. */
        if (H5Tget_nmembers(type) != 2)
            return FP_DT_NONE;
        size_t widest = 0;
        for (unsigned i = 0; i < 2; i++) {
            hid_t member = H5Tget_member_type(type, i);
            if (member < 0)
                return FP_DT_NONE;
            int is_float = H5Tget_class(member) == H5T_FLOAT;
            size_t size = H5Tget_size(member);
            H5Tclose(member);
            if (!is_float)
                return FP_DT_NONE;
            widest = size > widest ? size : widest;
        }
        return widest <= 4 ? FP_C64 : FP_C128;
    }
    default:
        return FP_DT_NONE;
    }
}

/* ---- model paths */

int h5_path_push(h5_path *path, const char *name)
{
    size_t len = strlen(name);
    if (path->len + len + 2 > path->cap) {
        size_t cap = 2 * (path->len + len + 2);
        char *buf = realloc(path->buf, cap);
        if (!buf)
            return -1;
        path->buf = buf;
        path->cap = cap;
    }
    path->buf[path->len++] = '/';
    memcpy(path->buf + path->len, name, len + 1);
    path->len += len;
    return 0;
}

void h5_path_pop(h5_path *path, size_t saved_len)
{
    path->len = saved_len;
    if (path->buf)
        path->buf[saved_len] = 0;
}

const char *h5_path_str(const h5_path *path)
{
    return path->len ? path->buf : "/";
}

/* ---- the address map */

static size_t slot_of(uint64_t k1, uint64_t k2, size_t cap)
{
    uint64_t h = k1 * 0x9e3779b97f4a7c15u ^ (k2 + 0x632be59bd9b4e019u) * 0xc2b2ae3d27d4eb4fu;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

void *h5_map_get(const h5_addr_map *map, uint64_t k1, uint64_t k2)
{
    if (!map->cap)
        return NULL;
    for (size_t i = slot_of(k1, k2, map->cap); map->slots[i].used; i = (i + 1) & (map->cap - 1))
        if (map->slots[i].k1 == k1 && map->slots[i].k2 == k2)
            return map->slots[i].value;
    return NULL;
}

int h5_map_put(h5_addr_map *map, uint64_t k1, uint64_t k2, void *value)
{
    if (2 * (map->n + 1) > map->cap) {
        size_t cap = map->cap ? 2 * map->cap : 64;
        struct h5_addr_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < map->cap; i++) {
            if (!map->slots[i].used)
                continue;
            size_t j = slot_of(map->slots[i].k1, map->slots[i].k2, cap);
            while (slots[j].used)
                j = (j + 1) & (cap - 1);
            slots[j] = map->slots[i];
        }
        free(map->slots);
        map->slots = slots;
        map->cap = cap;
    }
    size_t i = slot_of(k1, k2, map->cap);
    while (map->slots[i].used && !(map->slots[i].k1 == k1 && map->slots[i].k2 == k2))
        i = (i + 1) & (map->cap - 1);
    if (!map->slots[i].used)
        map->n++;
    map->slots[i] = (struct h5_addr_slot){ k1, k2, value, 1 };
    return 0;
}

void h5_map_free(h5_addr_map *map, void (*free_value)(void *))
{
    for (size_t i = 0; free_value && i < map->cap; i++)
        if (map->slots[i].used)
            free_value(map->slots[i].value);
    free(map->slots);
    memset(map, 0, sizeof *map);
}

/* ---- patching a copy in place (rebuild) */

typedef struct h5_patch {
    hid_t file;
    unsigned long fileno;   /* to refuse datasets that live in another file */
    char *name;             /* the model's name for messages, not the copy's */
    h5_state *source;       /* the model read (tree->state): the copy's original */
} h5_patch;

static int patch_open(const char *path, const fp_tree *tree, void **out, fp_error *err)
{
    h5_quiet();
    *out = NULL;
    /* (a .h5 model refused this when it was read; a .keras one comes here) */
    if (h5_state_check_overlap(tree->state, err) < 0)
        return -1;
    h5_patch *patch = calloc(1, sizeof *patch);
    if (!patch || !(patch->name = strdup(tree->path))) {
        free(patch);
        return fp_fail(err, "out of memory");
    }
    char why[256];
    H5O_info_t info;
    patch->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (patch->file < 0 || H5Oget_info2(patch->file, &info, H5O_INFO_BASIC) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: cannot open its copy %s for writing: %s", patch->name, path, why);
        if (patch->file >= 0)
            H5Fclose(patch->file);
        free(patch->name);
        free(patch);
        return -1;
    }
    patch->fileno = info.fileno;
    patch->source = tree->state;
    *out = patch;
    return 0;
}

/* Selects in space (rank dims) the elements [a, b) in row-major order: a union
 * of at most 2 * rank hyperslabs, which HDF5 walks in row-major order too.
 * start[0..depth) is the fixed prefix of the coordinates. */
static herr_t select_range(hid_t space, int rank, const hsize_t *dims, hsize_t *start, int depth,
                           hsize_t a, hsize_t b, int *first)
{
    hsize_t inner = 1, count[H5S_MAX_RANK] = { 0 };
    for (int d = depth + 1; d < rank; d++)
        inner *= dims[d];
    hsize_t r0 = a / inner, r1 = b / inner;
    if (depth + 1 < rank && r0 == r1) {   /* inside one slice */
        start[depth] = r0;
        return select_range(space, rank, dims, start, depth + 1, a - r0 * inner, b - r0 * inner,
                            first);
    }
    if (depth + 1 < rank && a % inner) {   /* the head: the rest of slice r0 */
        start[depth] = r0;
        if (select_range(space, rank, dims, start, depth + 1, a % inner, inner, first) < 0)
            return -1;
        r0++;
    }
    if (r1 > r0) {   /* whole slices r0 .. r1 - 1 */
        for (int d = 0; d < rank; d++)
            count[d] = d < depth ? 1 : d == depth ? r1 - r0 : dims[d];
        start[depth] = r0;
        for (int d = depth + 1; d < rank; d++)
            start[d] = 0;
        if (H5Sselect_hyperslab(space, *first ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL,
                                count, NULL) < 0)
            return -1;
        *first = 0;
    }
    if (depth + 1 < rank && b % inner) {   /* the tail: the start of slice r1 */
        start[depth] = r1;
        return select_range(space, rank, dims, start, depth + 1, 0, b % inner, first);
    }
    return 0;
}

/* The copy holds the model's bytes, vetted when the model was read: vetted
 * again where the data is written. Only data in the copy itself is written,
 * and writing a filtered dataset reads back the chunks it covers in part, so
 * a child proves first that libhdf5 reads them all. 0, or -1 with err set. */
static int vet_for_writing(const h5_patch *patch, hid_t dset, const fp_node *arr, uint64_t first,
                           fp_error *err)
{
    char why[2048];
    H5O_info_t info;
    h5_storage storage;
    int vetted = H5Oget_info2(dset, &info, H5O_INFO_BASIC) < 0 ? -1
               : h5_vet_dataset(dset, arr->n_elems, &storage, NULL, why, sizeof why);
    if (vetted < 0) {
        h5_reason(why, sizeof why);
        return fp_fail(err, "%s: %s: cannot inspect dataset: %s", patch->name, arr->origin, why);
    }
    if (info.fileno != patch->fileno || storage.external)
        return fp_fail(err, "%s: %s: refusing to write %s", patch->name, arr->origin,
                       storage.external ? storage.place : "a dataset that lives in another file");
    if (vetted)
        return fp_fail(err, "%s: %s: %s", patch->name, arr->origin, why);
    if (storage.unchecked)
        return fp_fail(err, "%s: %s: refusing to write it in place: it has too many chunks to "
                       "check where each lies", patch->name, arr->origin);
    if (storage.isolated && first == 0)
        return h5_read_isolated(patch->source, arr->origin, arr->dtype, arr->n_elems, NULL, err);
    return 0;
}

static int patch_piece(void *vpatch, const fp_node *arr, uint64_t first, const void *data,
                       uint64_t n, fp_error *err)
{
    h5_patch *patch = vpatch;
    const char *where = arr->origin ? arr->origin : "?";
    if (first > arr->n_elems || n > arr->n_elems - first)
        return fp_fail(err, "%s: %s: internal error: elements %llu to %llu of %llu", patch->name,
                       where, (unsigned long long)first, (unsigned long long)(first + n),
                       (unsigned long long)arr->n_elems);
    char why[256] = "";
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS), dset = H5I_INVALID_HID;
    hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = -1;
    /* An external link must never open its target for writing. */
    if (dapl < 0 || H5Pset_elink_acc_flags(dapl, H5F_ACC_RDONLY) < 0 || !arr->origin
        || (dset = H5Dopen2(patch->file, arr->origin, dapl)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot open dataset: %s", patch->name, where, why);
        goto done;
    }
    if ((ftype = H5Dget_type(dset)) < 0 || (space = H5Dget_space(dset)) < 0
        || (mtype = h5_type_for(arr->dtype, 0, ftype)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot inspect dataset: %s", patch->name, where, why);
        goto done;
    }
    hssize_t n_points = H5Sget_simple_extent_npoints(space);
    if (n_points < 0 || (uint64_t)n_points != arr->n_elems) {
        fp_fail(err, "%s: %s: dataset holds %lld elements, expected %llu", patch->name, where,
                (long long)n_points, (unsigned long long)arr->n_elems);
        goto done;
    }
    if (vet_for_writing(patch, dset, arr, first, err) < 0)
        goto done;
    hid_t fspace = H5S_ALL, mspace = H5S_ALL;
    if (n < arr->n_elems) {   /* a piece: its elements of the file, n in a row in memory */
        int rank = H5Sget_simple_extent_ndims(space), at_first = 1;
        hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = { 0 }, count = n;
        if (rank < 1 || H5Sget_simple_extent_dims(space, dims, NULL) < 0
            || select_range(space, rank, dims, start, 0, first, first + n, &at_first) < 0
            || (mspace = H5Screate_simple(1, &count, NULL)) < 0) {
            h5_reason(why, sizeof why);
            fp_fail(err, "%s: %s: cannot select elements %llu to %llu: %s", patch->name, where,
                    (unsigned long long)first, (unsigned long long)(first + n), why);
            mspace = H5S_ALL;
            goto done;
        }
        fspace = space;
    }
    herr_t wrote = n_points > 0 && n > 0 ? H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, data) : 0;
    if (mspace != H5S_ALL)
        H5Sclose(mspace);
    if (wrote < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot write dataset: %s", patch->name, where, why);
        goto done;
    }
    rc = 0;
done:
    if (space >= 0) H5Sclose(space);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    /* (closing writes out what HDF5 kept back: a contiguous dataset's sieve buffer) */
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == 0) {
        h5_reason(why, sizeof why);
        rc = fp_fail(err, "%s: %s: cannot write dataset: %s", patch->name, where, why);
    }
    if (dapl >= 0) H5Pclose(dapl);
    return rc;
}

static int patch_array(void *vpatch, const fp_node *arr, const void *data, fp_error *err)
{
    return patch_piece(vpatch, arr, 0, data, arr->n_elems, err);
}

/* The caller discards the copy when commit is 0; closing is still checked so a
 * failed flush never passes for a written file. */
static int patch_close(void *vpatch, int commit, fp_error *err)
{
    h5_patch *patch = vpatch;
    if (!patch)
        return 0;
    int rc = 0;
    if (H5Fclose(patch->file) < 0 && commit) {
        char why[256];
        h5_reason(why, sizeof why);
        rc = fp_fail(err, "%s: cannot finish writing: %s", patch->name, why);
    }
    free(patch->name);
    free(patch);
    return rc;
}

static const char *const extensions[] = { ".h5", ".hdf5", NULL };

const fp_format fp_format_hdf5 = {
    .name = "hdf5",
    .extensions = extensions,
    .probe = probe,
    .read = h5_read,
    .write = h5_write,
    .patch_open = patch_open,
    .patch_array = patch_array,
    .patch_piece = patch_piece,
    .patch_close = patch_close,
    .isolate_read = 1,   /* libhdf5 1.10 crashes on some hostile files */
};
