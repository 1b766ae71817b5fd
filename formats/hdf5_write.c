/* Writing a model tree as HDF5 (doc/contract.md §4): map -> group, list -> group with
 * members "0", "1", ..., array -> dataset, scalar settings -> attributes.
 *
 * Choices a reader of the file should know:
 * - Every group tracks and indexes link and attribute creation order, so the
 *   file keeps the tree's order (doc/contract.md §3); objects carry no timestamps, so the
 *   same tree always gives the same bytes.
 * - Numbers are int64 attributes when the double is an integer of magnitude
 *   below 2^53 (and not -0), else float64; strings are variable-length UTF-8
 *   and booleans h5py's int8 enum {FALSE, TRUE}, as h5py writes them.
 * - A null is an int8 attribute with a null dataspace (h5py.Empty), so a list
 *   keeps its length and indices.
 * - A list whose elements are all strings, all numbers or all booleans (or
 *   that is empty) is one 1-D attribute. Other lists are groups; an element
 *   that is a scalar (or such a uniform list) is an attribute of the list's
 *   group named by its index, which the reader puts back in its place.
 * - f16 is h5py's float16 layout. bf16 is a 2-byte float with 8 exponent and
 *   7 mantissa bits (bias 127): flatparams reads it back as bf16, h5py 3.x
 *   shows it as float32 with the exact values. Complex is h5py's compound {r, i}.
 * - Arrays are streamed: each one is fetched from the source into its own
 *   buffer, written, and freed before the next. Shared nodes are written once,
 *   at their first occurrence depth-first, and hard-linked at the others. */
#include "hdf5_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct writer {
    const char *name;          /* the file, for messages */
    const fp_array_source *src;
    fp_error *err;
    hid_t file, gcpl, dcpl, lcpl, acpl;
    h5_addr_map written;       /* shared node -> path of its first occurrence */
    h5_path path;
    int depth;
} writer;

static int fail_here(writer *w, const char *what, int with_reason)
{
    char why[256] = "";
    if (with_reason)
        h5_reason(why, sizeof why);
    return fp_fail(w->err, "%s: %s: %s%s%s", w->name, h5_path_str(&w->path), what,
                   with_reason ? ": " : "", why);
}

static int is_integral(double x)
{
    return fabs(x) < 9007199254740992.0 && x == (double)(int64_t)x && !(x == 0 && signbit(x));
}

/* Whether a node is stored as an attribute rather than a group or dataset. */
static int is_attribute_value(const fp_node *node)
{
    switch (node->kind) {
    case FP_STRING: case FP_NUMBER: case FP_BOOLEAN: case FP_NULL:
        return 1;
    case FP_LIST:
        if (node->type || !node->trainable)
            return 0;
        for (size_t i = 0; i < node->n_children; i++) {
            fp_kind kind = node->children[i]->kind;
            if (kind != node->children[0]->kind
                || (kind != FP_STRING && kind != FP_NUMBER && kind != FP_BOOLEAN))
                return 0;
        }
        return 1;
    default:
        return 0;
    }
}

/* One attribute: a scalar, or a uniform list of scalars as a 1-D array. */
static int write_attribute(writer *w, hid_t loc, const char *name, const fp_node *value)
{
    const fp_node *const *items = &value;
    size_t n = 1;
    int is_list = value->kind == FP_LIST;
    if (is_list) {
        items = (const fp_node *const *)value->children;
        n = value->n_children;
    }
    fp_kind kind = is_list ? (n ? items[0]->kind : FP_NUMBER) : value->kind;
    int integral = kind == FP_NUMBER;
    for (size_t i = 0; i < n && kind == FP_NUMBER; i++)
        integral &= is_integral(items[i]->number);

    hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t attr = H5I_INVALID_HID;
    void *buf = malloc(n * sizeof(double) + 1);
    if (!buf)
        return fp_fail(w->err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case FP_STRING:  ((const char **)buf)[i] = items[i]->str; break;
        case FP_BOOLEAN: ((int8_t *)buf)[i] = (int8_t)(items[i]->boolean != 0); break;
        case FP_NUMBER:
            if (integral)
                ((int64_t *)buf)[i] = (int64_t)items[i]->number;
            else
                ((double *)buf)[i] = items[i]->number;
            break;
        default: break;
        }
    }
    if (kind == FP_STRING) {
        if ((ftype = H5Tcopy(H5T_C_S1)) >= 0
            && (H5Tset_size(ftype, H5T_VARIABLE) < 0 || H5Tset_cset(ftype, H5T_CSET_UTF8) < 0)) {
            H5Tclose(ftype);
            ftype = H5I_INVALID_HID;
        }
        mtype = ftype >= 0 ? H5Tcopy(ftype) : H5I_INVALID_HID;
    } else if (kind == FP_BOOLEAN) {
        ftype = h5_type_for(FP_BOOL, 1, -1);
        mtype = h5_type_for(FP_BOOL, 0, -1);
    } else if (kind == FP_NUMBER) {
        ftype = H5Tcopy(integral ? H5T_STD_I64LE : H5T_IEEE_F64LE);
        mtype = H5Tcopy(integral ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
    } else {   /* null */
        ftype = H5Tcopy(H5T_STD_I8LE);
        mtype = H5Tcopy(H5T_NATIVE_INT8);
    }
    hsize_t dims[1] = { n };
    space = kind == FP_NULL ? H5Screate(H5S_NULL)
          : is_list ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
    int rc = 0;
    if (ftype < 0 || mtype < 0 || space < 0
        || (attr = H5Acreate2(loc, name, ftype, space, w->acpl, H5P_DEFAULT)) < 0
        || (kind != FP_NULL && n > 0 && H5Awrite(attr, mtype, buf) < 0))
        rc = fail_here(w, "cannot write attribute", 1);
    if (attr >= 0 && H5Aclose(attr) < 0 && rc == 0)
        rc = fail_here(w, "cannot write attribute", 1);
    if (space >= 0) H5Sclose(space);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    free(buf);
    return rc;
}

static int write_marks(writer *w, hid_t loc, const fp_node *node, int is_dataset);

static int write_dataset(writer *w, hid_t parent, const char *name, const fp_node *arr)
{
    hid_t ftype = h5_type_for(arr->dtype, 1, -1), mtype = h5_type_for(arr->dtype, 0, -1);
    hsize_t dims[FP_MAX_RANK];
    for (int i = 0; i < arr->rank; i++)
        dims[i] = arr->shape[i];
    hid_t space = arr->rank ? H5Screate_simple(arr->rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dset = H5I_INVALID_HID;
    size_t bytes = fp_array_bytes(arr);
    void *buf = NULL;
    int rc = 0;
    if (ftype < 0 || mtype < 0 || space < 0
        || (dset = H5Dcreate2(parent, name, ftype, space, w->lcpl, w->dcpl, H5P_DEFAULT)) < 0) {
        rc = fail_here(w, "cannot create dataset", 1);
    } else if (!(buf = malloc(bytes ? bytes : 1))) {
        rc = fp_fail(w->err, "%s: %s: out of memory for %zu bytes", w->name,
                     h5_path_str(&w->path), bytes);
    } else if (w->src->fill(w->src->ctx, arr, buf, w->err) < 0) {
        rc = -1;   /* the source's message names what failed */
    } else if (arr->n_elems && H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rc = fail_here(w, "cannot write dataset", 1);
    }
    free(buf);
    if (rc == 0)
        rc = write_marks(w, dset, arr, 1);
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == 0)
        rc = fail_here(w, "cannot write dataset", 1);
    if (space >= 0) H5Sclose(space);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    return rc;
}

/* A layer type or a trainable: false the tree holds in fields rather than as
 * children (always so for datasets and lists) becomes an attribute. */
static int write_marks(writer *w, hid_t loc, const fp_node *node, int is_dataset)
{
    int as_children = node->kind == FP_MAP;
    if (!is_dataset && node->type && !(as_children && fp_map_get(node, "type"))) {
        fp_node type = { .kind = FP_STRING, .str = node->type };
        if (write_attribute(w, loc, "type", &type) < 0)
            return -1;
    }
    if (!node->trainable && !(as_children && fp_map_get(node, "trainable"))) {
        hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
        int8_t no = 0;
        int rc = 0;
        if (space < 0
            || (attr = H5Acreate2(loc, "trainable", H5T_STD_I8LE, space, w->acpl, H5P_DEFAULT)) < 0
            || H5Awrite(attr, H5T_NATIVE_INT8, &no) < 0)
            rc = fail_here(w, "cannot write attribute trainable", 1);
        if (attr >= 0) H5Aclose(attr);
        if (space >= 0) H5Sclose(space);
        return rc;
    }
    return 0;
}

static int write_object(writer *w, hid_t parent, const char *name, const fp_node *node);

static int write_children(writer *w, hid_t group, const fp_node *node)
{
    if (write_marks(w, group, node, 0) < 0)
        return -1;
    for (size_t i = 0; i < node->n_children; i++) {
        char index[24];
        const char *name = index;
        if (node->kind == FP_MAP)
            name = node->keys[i];
        else
            snprintf(index, sizeof index, "%zu", i);
        size_t saved = w->path.len;
        if (h5_path_push(&w->path, name) < 0)
            return fp_fail(w->err, "out of memory");
        int rc;
        if (!*name || strchr(name, '/') || !strcmp(name, "."))
            rc = fail_here(w, "this name cannot be an HDF5 member name (empty, '.' or with '/')", 0);
        else if (is_attribute_value(node->children[i]))
            rc = write_attribute(w, group, name, node->children[i]);
        else
            rc = write_object(w, group, name, node->children[i]);
        h5_path_pop(&w->path, saved);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int write_object(writer *w, hid_t parent, const char *name, const fp_node *node)
{
    if (node->refs > 1) {
        const char *first = h5_map_get(&w->written, (uintptr_t)node, 0);
        if (first) {
            if (H5Lcreate_hard(w->file, first, parent, name, w->lcpl, H5P_DEFAULT) < 0)
                return fail_here(w, "cannot link shared object", 1);
            return 0;
        }
    }
    int rc;
    if (node->kind == FP_ARRAY) {
        rc = write_dataset(w, parent, name, node);
    } else {
        if (w->depth >= H5_MAX_DEPTH)
            return fail_here(w, "nested too deeply", 0);
        hid_t group = H5Gcreate2(parent, name, w->lcpl, w->gcpl, H5P_DEFAULT);
        if (group < 0)
            return fail_here(w, "cannot create group", 1);
        w->depth++;
        rc = write_children(w, group, node);
        w->depth--;
        if (H5Gclose(group) < 0 && rc == 0)
            rc = fail_here(w, "cannot write group", 1);
    }
    if (rc == 0 && node->refs > 1) {
        char *path = strdup(h5_path_str(&w->path));
        if (!path || h5_map_put(&w->written, (uintptr_t)node, 0, path) < 0) {
            free(path);
            rc = fp_fail(w->err, "out of memory");
        }
    }
    return rc;
}

/* Creation properties shared by every object of the file. */
static int make_plists(writer *w, hid_t fcpl)
{
    const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if ((w->gcpl = H5Pcreate(H5P_GROUP_CREATE)) < 0 || (w->dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0
        || (w->lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || (w->acpl = H5Pcreate(H5P_ATTRIBUTE_CREATE)) < 0)
        return -1;
    hid_t with_order[2] = { fcpl, w->gcpl };
    for (int i = 0; i < 2; i++)
        if (H5Pset_link_creation_order(with_order[i], order) < 0
            || H5Pset_attr_creation_order(with_order[i], order) < 0
            || H5Pset_obj_track_times(with_order[i], 0) < 0)
            return -1;
    if (H5Pset_obj_track_times(w->dcpl, 0) < 0
        || H5Pset_char_encoding(w->lcpl, H5T_CSET_UTF8) < 0
        || H5Pset_char_encoding(w->acpl, H5T_CSET_UTF8) < 0)
        return -1;
    return 0;
}

int h5_write(const char *path, const fp_node *root, const fp_array_source *src, fp_error *err)
{
    h5_quiet();
    if (!root || (root->kind != FP_MAP && root->kind != FP_LIST))
        return fp_fail(err, "%s: /: HDF5 stores a model as a group: its root must be a map or "
                       "a list, not a single value", path);
    writer w = { .name = path, .src = src, .err = err, .file = H5I_INVALID_HID,
                 .gcpl = H5I_INVALID_HID, .dcpl = H5I_INVALID_HID, .lcpl = H5I_INVALID_HID,
                 .acpl = H5I_INVALID_HID };
    char why[256];
    int rc = -1;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t group = H5I_INVALID_HID;
    if (fcpl < 0 || make_plists(&w, fcpl) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: cannot set up HDF5 properties: %s", path, why);
    } else if ((w.file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT)) < 0
               || (group = H5Gopen2(w.file, "/", H5P_DEFAULT)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: cannot create: %s", path, why);
    } else {
        rc = write_children(&w, group, root);
    }
    if (group >= 0 && H5Gclose(group) < 0 && rc == 0)
        rc = fail_here(&w, "cannot write group", 1);
    if (w.file >= 0 && H5Fclose(w.file) < 0 && rc == 0) {
        h5_reason(why, sizeof why);
        rc = fp_fail(err, "%s: cannot finish writing: %s", path, why);
    }
    hid_t plists[] = { fcpl, w.gcpl, w.dcpl, w.lcpl, w.acpl };
    for (size_t i = 0; i < sizeof plists / sizeof *plists; i++)
        if (plists[i] >= 0)
            H5Pclose(plists[i]);
    h5_map_free(&w.written, free);
    free(w.path.buf);
    return rc;
}
