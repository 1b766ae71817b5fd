#include "h5_limits.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Deflate's best ratio is 1032:1; HDF5's other built-in filters do no better
 * on a model's data. */
enum { H5_MAX_CHUNK_RATIO = 1032 };

static const char *layout_name(H5D_layout_t layout)
{
    return layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : "contiguous";
}

/* A chunked dataset's chunks as HDF5 1.10.8 can read them without overrunning
 * its buffers (a corrupted file crashed it): no chunk wider than a fixed
 * dimension, and, without filters, every stored chunk exactly a chunk's bytes
 * (a filter pipeline the file hides leaves compressed chunks that HDF5 then
 * copies as if whole). 1 with why filled, 0, -1 when HDF5 fails. */
static int check_chunks(hid_t dset, hid_t dcpl, hid_t space, int rank, const hsize_t *dims,
                        const hsize_t *maxdims, int crank, const hsize_t *cdims, size_t elem_size,
                        char *why, size_t cap)
{
    if (crank != rank) {
        snprintf(why, cap, "has %d chunk dimensions for %d dimensions", crank, rank);
        return 1;
    }
    uint64_t chunk_bytes = elem_size;
    for (int i = 0; i < rank; i++) {
        if (cdims[i] == 0 || (maxdims[i] != H5S_UNLIMITED && cdims[i] > maxdims[i])) {
            snprintf(why, cap, "declares chunks of %llu along dimension %d, which holds %llu",
                     (unsigned long long)cdims[i], i, (unsigned long long)maxdims[i]);
            return 1;
        }
        chunk_bytes = chunk_bytes > UINT64_MAX / cdims[i] ? UINT64_MAX : chunk_bytes * cdims[i];
    }
    if (H5Pget_nfilters(dcpl) != 0)
        return 0;   /* filtered chunks: HDF5 sizes the buffer from the filters' output */
    hsize_t n_chunks = 0;
    if (H5Dget_num_chunks(dset, space, &n_chunks) < 0)   /* (1.10.8 refuses H5S_ALL) */
        return -1;
    /* all chunks together first (HDF5 sums them in one pass) */
    hsize_t stored = H5Dget_storage_size(dset);
    if (n_chunks && chunk_bytes <= UINT64_MAX / n_chunks && stored != n_chunks * chunk_bytes) {
        snprintf(why, cap, "stores %llu bytes in %llu unfiltered chunks of %llu",
                 (unsigned long long)stored, (unsigned long long)n_chunks,
                 (unsigned long long)chunk_bytes);
        return 1;
    }
    /* then each, where that is cheap: by index (each lookup walks the index from
     * its start) for the few chunks a model's array has, by coordinates where
     * the written chunks fill most of the grid; a sparse grid of many chunks
     * keeps the sum's check alone */
    hsize_t grid = 1, at[H5S_MAX_RANK] = { 0 };
    for (int i = 0; i < rank; i++) {
        hsize_t along = (dims[i] + cdims[i] - 1) / cdims[i];
        grid = along && grid > ((hsize_t)-1) / along ? (hsize_t)-1 : grid * along;
    }
    int by_index = n_chunks <= 1024;
    if (!by_index && grid / 4 > n_chunks)
        return 0;
    hsize_t count = by_index ? n_chunks : grid;
    for (hsize_t k = 0; k < count; k++) {
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0, offset[H5S_MAX_RANK];
        unsigned mask = 0;
        if (by_index) {
            if (H5Dget_chunk_info(dset, space, k, offset, &mask, &addr, &size) < 0)
                return -1;
        } else {
            for (int i = 0; i < rank; i++)
                offset[i] = at[i] * cdims[i];
            if (H5Dget_chunk_info_by_coord(dset, offset, &mask, &addr, &size) < 0)
                return -1;
            for (int i = rank - 1; i >= 0 && ++at[i] * cdims[i] >= dims[i]; i--)
                at[i] = 0;   /* the next chunk of the grid, row-major */
        }
        if (addr != HADDR_UNDEF && size != chunk_bytes) {
            snprintf(why, cap, "stores a chunk of %llu bytes where unfiltered chunks hold %llu",
                     (unsigned long long)size, (unsigned long long)chunk_bytes);
            return 1;
        }
    }
    return 0;
}

/* check_chunks with the dataset's shapes. */
static int chunks_are_hostile(hid_t dset, hid_t dcpl, size_t elem_size, char *why, size_t cap)
{
    hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK], cdims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(dset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    int crank = H5Pget_chunk(dcpl, H5S_MAX_RANK, cdims);
    int rc = rank < 0 || crank < 0 || H5Sget_simple_extent_dims(space, dims, maxdims) < 0 ? -1 : 0;
    if (rc == 0 && rank > 0)
        rc = check_chunks(dset, dcpl, space, rank, dims, maxdims, crank, cdims, elem_size, why, cap);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

typedef struct system_reason {
    char *buf;
    size_t cap;
    int found;
} system_reason;

static herr_t find_system_reason(unsigned n, const H5E_error2_t *e, void *vctx)
{
    (void)n;
    system_reason *ctx = vctx;
    const char *said = e->desc ? strstr(e->desc, "error message = '") : NULL;
    if (said && !ctx->found) {
        said += strlen("error message = '");
        snprintf(ctx->buf, ctx->cap, "%.*s", (int)strcspn(said, "'"), said);
        ctx->found = 1;
    }
    return 0;
}

int h5_stack_system_reason(hid_t stack, char *buf, size_t cap)
{
    system_reason ctx = { buf, cap, 0 };
    H5Ewalk2(stack, H5E_WALK_DOWNWARD, find_system_reason, &ctx);
    return ctx.found;
}

int h5_system_reason(char *buf, size_t cap)
{
    hid_t stack = H5Eget_current_stack();   /* a copy; the live stack is cleared */
    if (stack < 0)
        return 0;
    int found = h5_stack_system_reason(stack, buf, cap);
    H5Eclose_stack(stack);
    return found;
}

int h5_size_is_hostile(hid_t dset, uint64_t n_elems, char *why, size_t cap)
{
    hid_t file = H5Iget_file_id(dset), dcpl = H5Dget_create_plist(dset), type = H5Dget_type(dset);
    hsize_t file_size = 0;
    /* The file's element size, not the converted one: a corrupted type can
     * claim megabytes per element, and HDF5 1.10 then reads past compact data. */
    size_t elem_size = type >= 0 ? H5Tget_size(type) : 0;
    int rc = file < 0 || dcpl < 0 || !elem_size || H5Fget_filesize(file, &file_size) < 0 ? -1 : 0;
    H5D_layout_t layout = rc == 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    uint64_t bytes = n_elems > UINT64_MAX / (elem_size ? elem_size : 1) ? UINT64_MAX : n_elems * elem_size;
    /* Contiguous and compact data lie in the file byte for byte; chunks may be
     * compressed, or absent and read as the fill value, which no real model
     * relies on for more than the file could hold compressed. */
    uint64_t limit = layout == H5D_CHUNKED && file_size <= UINT64_MAX / H5_MAX_CHUNK_RATIO
                   ? (uint64_t)file_size * H5_MAX_CHUNK_RATIO : (uint64_t)file_size;
    hsize_t stored = layout == H5D_COMPACT ? H5Dget_storage_size(dset) : 0;
    if (rc == 0 && (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT || layout == H5D_CHUNKED)
        && bytes > limit) {
        snprintf(why, cap, "declares %llu bytes of %s data, more than the file's %llu bytes "
                 "can hold", (unsigned long long)bytes, layout_name(layout),
                 (unsigned long long)file_size);
        rc = 1;
    } else if (rc == 0 && layout == H5D_COMPACT && stored != bytes) {
        snprintf(why, cap, "declares %llu bytes of compact data, its header holds %llu",
                 (unsigned long long)bytes, (unsigned long long)stored);
        rc = 1;
    } else if (rc == 0 && layout == H5D_CHUNKED) {
        rc = chunks_are_hostile(dset, dcpl, elem_size, why, cap);
    }
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (file >= 0) H5Fclose(file);
    return rc;
}
