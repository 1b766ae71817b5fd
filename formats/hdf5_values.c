/* Settings stored as HDF5 attributes (and small string datasets): strings,
 * numbers and h5py booleans, scalars or (nested) lists of them, read the way
 * h5py shows them. Used by the reader (hdf5_read.c). */
#include "hdf5_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct value_source {
    hid_t id;
    int is_attribute;
} value_source;

static herr_t source_read(value_source src, hid_t mtype, void *buf)
{
    return src.is_attribute ? H5Aread(src.id, mtype, buf)
                            : H5Dread(src.id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

typedef enum scalar_kind { SCALAR_NONE = -1, SCALAR_STRING, SCALAR_NUMBER, SCALAR_BOOL } scalar_kind;

/* Nests n = prod(dims) scalars row-major into lists of lists; rank 0 gives one scalar. */
static fp_node *nest(scalar_kind kind, void *values, size_t elem_size, const hsize_t *dims,
                     int rank, size_t *next, fp_error *err)
{
    if (rank == 0) {
        char *at = (char *)values + (*next)++ * elem_size;
        fp_node *node = kind == SCALAR_STRING ? fp_node_new_string(*(char **)at)
                      : kind == SCALAR_NUMBER ? fp_node_new_number(*(double *)at)
                                              : fp_node_new_bool(*(int8_t *)at);
        if (!node)
            fp_fail(err, "out of memory");
        return node;
    }
    fp_node *list = fp_node_new(FP_LIST);
    if (!list) {
        fp_fail(err, "out of memory");
        return NULL;
    }
    for (hsize_t i = 0; i < dims[0]; i++) {
        fp_node *child = nest(kind, values, elem_size, dims + 1, rank - 1, next, err);
        if (!child || fp_node_append(list, NULL, child, err) < 0) {
            if (child && !child->refs)
                fp_node_release(child);
            fp_node_release(list);
            return NULL;
        }
    }
    return list;
}

/* Fixed-length strings as h5py shows them: up to the first NUL, and without
 * the padding of space-padded ones. */
static int fixed_strings(hid_t ftype, value_source src, size_t n, char ***out)
{
    size_t size = H5Tget_size(ftype);
    int space_padded = H5Tget_strpad(ftype) == H5T_STR_SPACEPAD;
    char *raw = malloc(n * size + 1), **strings = calloc(n + 1, sizeof *strings);
    int rc = raw && strings && source_read(src, ftype, raw) >= 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *s = raw + i * size;
        size_t len = strnlen(s, size);
        while (space_padded && len && s[len - 1] == ' ')
            len--;
        if (!(strings[i] = strndup(s, len)))
            rc = -1;
    }
    free(raw);
    if (rc < 0) {
        for (size_t i = 0; strings && i < n; i++)
            free(strings[i]);
        free(strings);
        return -1;
    }
    *out = strings;
    return 0;
}

static int variable_strings(hid_t ftype, hid_t space, value_source src, size_t n, char ***out)
{
    hid_t mtype = H5Tcopy(H5T_C_S1);
    char **raw = calloc(n + 1, sizeof *raw), **strings = calloc(n + 1, sizeof *strings);
    int rc = -1;
    if (mtype >= 0 && raw && strings && H5Tset_size(mtype, H5T_VARIABLE) >= 0
        && H5Tset_cset(mtype, H5Tget_cset(ftype)) >= 0 && source_read(src, mtype, raw) >= 0) {
        rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (!(strings[i] = strdup(raw[i] ? raw[i] : "")))
                rc = -1;
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
    }
    if (mtype >= 0)
        H5Tclose(mtype);
    free(raw);
    if (rc < 0) {
        for (size_t i = 0; strings && i < n; i++)
            free(strings[i]);
        free(strings);
        return -1;
    }
    *out = strings;
    return 0;
}

/* A value with its own type and dataspace: strings, numbers (any integer or
 * float, as f64), h5py booleans; arrays of them as (nested) lists. Anything
 * else (compound, reference, opaque, a null dataspace) is FP_NULL. */
fp_node *h5_read_value(hid_t id, int is_attribute, size_t max_bytes, const char *file,
                       const char *path, fp_error *err)
{
    value_source src = { id, is_attribute };
    char why[256] = "";
    hid_t ftype = src.is_attribute ? H5Aget_type(src.id) : H5Dget_type(src.id);
    hid_t space = src.is_attribute ? H5Aget_space(src.id) : H5Dget_space(src.id);
    fp_node *node = NULL;
    hsize_t dims[H5S_MAX_RANK];
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5S_class_t space_class = space >= 0 ? H5Sget_simple_extent_type(space) : H5S_NO_CLASS;
    H5T_class_t type_class = ftype >= 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;
    if (ftype < 0 || rank < 0 || space_class == H5S_NO_CLASS || type_class == H5T_NO_CLASS
        || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot read its type: %s", file, path, why);
        goto done;
    }
    scalar_kind kind = type_class == H5T_STRING ? SCALAR_STRING
                     : type_class == H5T_INTEGER || type_class == H5T_FLOAT ? SCALAR_NUMBER
                     : h5_is_bool_enum(ftype) ? SCALAR_BOOL : SCALAR_NONE;
    size_t n = 1, elem_size = kind == SCALAR_STRING ? sizeof(char *)
                            : kind == SCALAR_NUMBER ? sizeof(double) : 1;
    for (int i = 0; i < rank; i++)   /* clamped: past max_bytes the count is moot */
        n = dims[i] && n > max_bytes / dims[i] ? max_bytes + 1 : n * (size_t)dims[i];
    if (space_class == H5S_NULL || kind == SCALAR_NONE || n * H5Tget_size(ftype) > max_bytes) {
        if (kind != SCALAR_NONE && space_class != H5S_NULL && src.is_attribute) {
            fp_fail(err, "%s: %s: attribute larger than %zu bytes", file, path, max_bytes);
            goto done;
        }
        if (!(node = fp_node_new(FP_NULL)))
            fp_fail(err, "out of memory");
        goto done;
    }
    void *values = NULL;
    int rc = -1;
    if (kind == SCALAR_STRING) {
        int variable = H5Tis_variable_str(ftype);
        char **strings = NULL;
        rc = variable < 0 ? -1 : variable ? variable_strings(ftype, space, src, n, &strings)
                                          : fixed_strings(ftype, src, n, &strings);
        values = strings;
    } else {
        hid_t mtype = kind == SCALAR_NUMBER ? H5Tcopy(H5T_NATIVE_DOUBLE) : h5_type_for(FP_BOOL, 0, -1);
        if (mtype >= 0 && (values = malloc(n * elem_size + 1)))
            rc = source_read(src, mtype, values);
        if (mtype >= 0)
            H5Tclose(mtype);
    }
    if (rc < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot read value: %s", file, path, why);
    } else {
        size_t next = 0;
        node = nest(kind, values, elem_size, dims, rank, &next, err);
    }
    if (kind == SCALAR_STRING)
        for (size_t i = 0; values && i < n; i++)
            free(((char **)values)[i]);
    free(values);
done:
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    return node;
}

int h5_is_false(const fp_node *value)
{
    return (value->kind == FP_NUMBER && value->number == 0)
        || (value->kind == FP_BOOLEAN && !value->boolean);
}
