/* The data of an HDF5 dataset, read when someone asks for it (the lazy arrays
 * of hdf5_read.c): by libhdf5 in this process where vetting proved its storage
 * safe (h5_vet_dataset), else in the file's reader child, which may crash on
 * a hostile file without taking the process with it. */
#include "hdf5_internal.h"
#include "isolate.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a dataset whole as dtype into dst: 0, or -1 with err naming file and path. */
static int read_whole(hid_t file, const char *name, const char *origin, fp_dtype dtype,
                      uint64_t n_elems, void *dst, fp_error *err)
{
    char why[256];
    hid_t dset, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = -1;
    h5_quiet();
    if ((dset = H5Dopen2(file, origin, H5P_DEFAULT)) < 0
        || (ftype = H5Dget_type(dset)) < 0 || (space = H5Dget_space(dset)) < 0
        || (mtype = h5_type_for(dtype, 0, ftype)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot open dataset: %s", name, origin, why);
    } else if ((uint64_t)H5Sget_simple_extent_npoints(space) != n_elems) {
        fp_fail(err, "%s: %s: dataset changed size since it was opened", name, origin);
    } else if (H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: %s: cannot read data: %s", name, origin, why);
    } else {
        rc = 0;
    }
    if (space >= 0) H5Sclose(space);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

/* Data whose storage vetting proved safe for libhdf5 (h5_vet_dataset). */
int h5_load(const fp_node *node, void *dst, fp_error *err)
{
    const h5_state *state = node->load_ctx;
    return read_whole(state->file, state->name, node->origin, node->dtype, node->n_elems, dst, err);
}

/* What the reader child is asked for: a dataset, whole, as a dtype. */
typedef struct data_request {
    uint64_t n_elems;
    int32_t dtype;
    char origin[];        /* NUL-terminated */
} data_request;

static int serve_data(void *ctx, const void *request, size_t request_len, void *buf, size_t bytes,
                      fp_error *err)
{
    const h5_state *state = ctx;
    const data_request *q = request;
    (void)bytes;
    size_t head = offsetof(data_request, origin);
    if (request_len <= head || q->origin[request_len - head - 1])
        return fp_fail(err, "%s: internal error: a malformed read request", state->name);
    void *own = NULL;
    if (!buf && !(buf = own = malloc(q->n_elems * fp_dtype_size((fp_dtype)q->dtype) + 1)))
        return fp_fail(err, "%s: %s: out of memory", state->name, q->origin);
    int rc = read_whole(state->file, state->name, q->origin, (fp_dtype)q->dtype, q->n_elems, buf, err);
    free(own);
    return rc;
}

int h5_read_isolated(h5_state *state, const char *origin, fp_dtype dtype, uint64_t n_elems,
                     void *dst, fp_error *err)
{
    size_t head = offsetof(data_request, origin), len = head + strlen(origin) + 1;
    data_request *q = calloc(1, len > sizeof *q ? len : sizeof *q);   /* (no uninitialised padding) */
    if (!q)
        return fp_fail(err, "out of memory");
    q->n_elems = n_elems;
    q->dtype = (int32_t)dtype;
    memcpy(q->origin, origin, len - head);
    char what[4096];
    snprintf(what, sizeof what, "%s: %s", state->name, origin);
    int rc = fp_child_read(&state->reader, serve_data, state, h5_file_descriptor(state->file), q,
                           len, dst, (size_t)n_elems * fp_dtype_size(dtype), 0, what, err);
    free(q);
    return rc;
}

/* Data that vetting could not prove safe (filtered chunks, virtual datasets,
 * external storage): libhdf5 reads it in a child process. */
int h5_load_isolated(const fp_node *node, void *dst, fp_error *err)
{
    return h5_read_isolated(node->load_ctx, node->origin, node->dtype, node->n_elems, dst, err);
}
