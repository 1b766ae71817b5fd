#include "h5_limits.h"

#include <stdio.h>

/* Deflate's best ratio is 1032:1; HDF5's other built-in filters do no better
 * on a model's data. */
enum { H5_MAX_CHUNK_RATIO = 1032 };

static const char *layout_name(H5D_layout_t layout)
{
    return layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : "contiguous";
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
    }
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (file >= 0) H5Fclose(file);
    return rc;
}
