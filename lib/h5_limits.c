/* What an HDF5 dataset may declare and where its data may lie, checked before
 * anything is allocated, read or written for it (h5_vet_dataset); the extents
 * of a file's data and metadata, which must not overlap; data stored outside
 * the file is vetted in h5_external.c. */
#include "h5_limits.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deflate's best ratio is 1032:1; HDF5's other built-in filters do no better
 * on a model's data. */
enum { H5_MAX_CHUNK_RATIO = 1032 };

/* Chunks are looked up one at a time by index up to this many (each lookup
 * walks the index from its start), by coordinates beyond (when the written
 * chunks fill most of the grid). */
enum { MAX_CHUNKS_BY_INDEX = 1024 };

/* The widest number HDF5 describes is a long double (16 bytes); a complex
 * number is two of them. */
enum { WIDEST_NUMBER = 16, WIDEST_COMPLEX = 32 };

static const char *layout_name(H5D_layout_t layout)
{
    return layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : "contiguous";
}

static unsigned long long ull(uint64_t x)
{
    return (unsigned long long)x;
}

/* The file a dataset lives in: its size, and the user block before HDF5's
 * address 0 (object and, in 1.10.8, chunk addresses count from its end;
 * H5Dget_offset and the file size count from the file's start). */
typedef struct file_bounds {
    uint64_t size, base;
} file_bounds;

static int get_file_bounds(hid_t obj, file_bounds *bounds)
{
    hid_t file = H5Iget_file_id(obj);
    hid_t fcpl = file >= 0 ? H5Fget_create_plist(file) : H5I_INVALID_HID;
    hsize_t size = 0, userblock = 0;
    int rc = fcpl < 0 || H5Fget_filesize(file, &size) < 0 || H5Pget_userblock(fcpl, &userblock) < 0
           ? -1 : 0;
    bounds->size = size;
    bounds->base = userblock;
    if (fcpl >= 0) H5Pclose(fcpl);
    if (file >= 0) H5Fclose(file);
    return rc;
}

/* Whether [begin, begin + size) lies inside the file. */
static int inside(uint64_t begin, uint64_t size, const file_bounds *bounds)
{
    return begin <= bounds->size && size <= bounds->size - begin;
}

/* ---- where data lies, and what lies around it */

int h5_extents_owner(h5_extents *extents, const char *owner)
{
    if (extents->n_owners == extents->cap_owners) {
        size_t cap = extents->cap_owners ? 2 * extents->cap_owners : 16;
        char **owners = realloc(extents->owners, cap * sizeof *owners);
        if (!owners)
            return -1;
        extents->owners = owners;
        extents->cap_owners = cap;
    }
    if (!(extents->owners[extents->n_owners] = strdup(owner)))
        return -1;
    extents->n_owners++;
    return 0;
}

static int add_extent(h5_extents *extents, uint64_t begin, uint64_t end, int kind)
{
    if (begin >= end)
        return 0;
    if (!extents->n_owners && h5_extents_owner(extents, "/") < 0)
        return -1;
    if (extents->n == extents->cap) {
        size_t cap = extents->cap ? 2 * extents->cap : 64;
        h5_extent *items = realloc(extents->items, cap * sizeof *items);
        if (!items)
            return -1;
        extents->items = items;
        extents->cap = cap;
    }
    extents->items[extents->n++] = (h5_extent){ begin, end, extents->n_owners - 1, kind };
    return 0;
}

int h5_extents_add(h5_extents *extents, uint64_t begin, uint64_t end, int is_data)
{
    return add_extent(extents, begin, end, is_data ? H5_EXTENT_DATA : H5_EXTENT_HEADER);
}

int h5_extents_add_superblock(h5_extents *extents, hid_t file)
{
    H5F_info2_t info;
    file_bounds bounds = { 0, 0 };
    if (H5Fget_info2(file, &info) < 0 || get_file_bounds(file, &bounds) < 0)
        return -1;
    extents->base = bounds.base;
    return add_extent(extents, bounds.base, bounds.base + info.super.super_size,
                      H5_EXTENT_SUPERBLOCK);
}

int h5_extents_add_header(h5_extents *extents, hid_t obj)
{
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC | H5O_INFO_HDR) < 0)
        return -1;
    /* A header continued elsewhere: only the start of its first block is known
     * (every header's prefix takes at least 16 bytes there). */
    uint64_t size = info.hdr.nchunks == 1 ? info.hdr.space.total : 16;
    uint64_t begin = extents->base + info.addr;
    return add_extent(extents, begin, begin + size, H5_EXTENT_HEADER);
}

static int by_begin(const void *a, const void *b)
{
    const h5_extent *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->kind > y->kind) - (x->kind < y->kind);
}

static void describe(const h5_extents *extents, const h5_extent *e, char *buf, size_t cap)
{
    const char *owner = extents->owners[e->owner];
    if (e->kind == H5_EXTENT_SUPERBLOCK)
        snprintf(buf, cap, "the superblock");
    else
        snprintf(buf, cap, "the %s of %s", e->kind == H5_EXTENT_DATA ? "data" : "object header",
                 owner);
}

/* data overlaps other */
static int report(const h5_extents *extents, const h5_extent *data, const h5_extent *other,
                  char *why, size_t cap)
{
    char what[1024];
    describe(extents, other, what, sizeof what);
    snprintf(why, cap, "%s: its data (bytes %llu to %llu) overlaps %s",
             extents->owners[data->owner], ull(data->begin), ull(data->end), what);
    return 1;
}

int h5_extents_overlap(h5_extents *extents, char *why, size_t cap)
{
    if (extents->n > 1)
        qsort(extents->items, extents->n, sizeof *extents->items, by_begin);
    /* Sweeping by start: the extent reaching furthest so far, and the data
     * extent reaching furthest; any overlapping pair meets one of them. */
    const h5_extent *reach = NULL, *data_reach = NULL;
    for (size_t i = 0; i < extents->n; i++) {
        const h5_extent *e = &extents->items[i];
        if (data_reach && e->begin < data_reach->end)
            return report(extents, data_reach, e, why, cap);
        if (reach && e->kind == H5_EXTENT_DATA && e->begin < reach->end)
            return report(extents, e, reach, why, cap);
        if (!reach || e->end > reach->end)
            reach = e;
        if (e->kind == H5_EXTENT_DATA && (!data_reach || e->end > data_reach->end))
            data_reach = e;
    }
    return 0;
}

void h5_extents_free(h5_extents *extents)
{
    for (size_t i = 0; i < extents->n_owners; i++)
        free(extents->owners[i]);
    free(extents->owners);
    free(extents->items);
    memset(extents, 0, sizeof *extents);
}

/* ---- the data inside the file */

/* Contiguous data lies inside the file, as many bytes as its shape and type
 * take: libhdf5 1.10.8 trusts the layout's address and size (it sizes its
 * sieve buffer by the size; writing at an address past the end, rebuild lost
 * the values and left a copy that did not read back). 1 with why filled, 0,
 * -1 when HDF5 fails. */
static int check_contiguous(hid_t dset, uint64_t bytes, const file_bounds *bounds,
                            h5_extents *extents, char *why, size_t cap)
{
    haddr_t addr = H5Dget_offset(dset);   /* from the file's start */
    if (addr == HADDR_UNDEF) {
        H5Eclear2(H5E_DEFAULT);
        return 0;   /* never written: reads as the fill value */
    }
    hsize_t stored = H5Dget_storage_size(dset);
    if (stored != bytes) {
        snprintf(why, cap, "stores %llu bytes of contiguous data where its shape and type take "
                 "%llu", ull(stored), ull(bytes));
        return 1;
    }
    if (!inside(addr, bytes, bounds)) {
        snprintf(why, cap, "stores its data at bytes %llu to %llu, past the end of the file "
                 "(%llu bytes)", ull(addr), ull(addr + bytes), ull(bounds->size));
        return 1;
    }
    return extents && add_extent(extents, addr, addr + bytes, H5_EXTENT_DATA) < 0 ? -1 : 0;
}

/* Each chunk HDF5 would read: inside the file, and, unfiltered, exactly a
 * chunk's bytes (a filter pipeline the file hides leaves compressed chunks
 * that HDF5 then copies as if whole). Looked up by index (each lookup walks
 * the index from its start) for the few chunks a model's array has, by
 * coordinates where the written chunks fill most of the grid; a sparse grid
 * of many chunks stays unchecked. 1 with why filled, 0, -1 when HDF5 fails. */
static int check_each_chunk(hid_t dset, hid_t space, int rank, const hsize_t *dims,
                            const hsize_t *cdims, hsize_t n_chunks, uint64_t chunk_bytes,
                            int filtered, const file_bounds *bounds, h5_storage *storage,
                            h5_extents *extents, char *why, size_t cap)
{
    hsize_t grid = 1, at[H5S_MAX_RANK] = { 0 };
    for (int i = 0; i < rank; i++) {
        hsize_t along = (dims[i] + cdims[i] - 1) / cdims[i];
        grid = along && grid > ((hsize_t)-1) / along ? (hsize_t)-1 : grid * along;
    }
    int by_index = n_chunks <= MAX_CHUNKS_BY_INDEX;
    if (!by_index && grid / 4 > n_chunks) {
        storage->unchecked = storage->isolated = 1;
        return 0;
    }
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
        if (addr == HADDR_UNDEF)
            continue;   /* not written: read as the fill value */
        uint64_t begin = bounds->base + addr;
        if (!filtered && size != chunk_bytes) {
            snprintf(why, cap, "stores a chunk of %llu bytes where unfiltered chunks hold %llu",
                     ull(size), ull(chunk_bytes));
            return 1;
        }
        if (addr > UINT64_MAX - bounds->base || !inside(begin, size, bounds)) {
            snprintf(why, cap, "stores a chunk at bytes %llu to %llu, past the end of the file "
                     "(%llu bytes)", ull(begin), ull(begin + size), ull(bounds->size));
            return 1;
        }
        if (extents && add_extent(extents, begin, begin + size, H5_EXTENT_DATA) < 0)
            return -1;
    }
    return 0;
}

/* A chunked dataset's chunks as HDF5 1.10.8 can read them without overrunning
 * its buffers (a corrupted file crashed it): an array (a scalar in chunks made
 * it allocate without end), no chunk wider than a fixed dimension, every
 * chunk checked (check_each_chunk). Filtered chunks cannot be checked without
 * running the filters (a chunk that decompresses short was copied whole), so
 * their data is read in a child. 1 with why filled, 0, -1 when HDF5 fails. */
static int check_chunks(hid_t dset, hid_t dcpl, size_t elem_size, const file_bounds *bounds,
                        h5_storage *storage, h5_extents *extents, char *why, size_t cap)
{
    hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK], cdims[H5S_MAX_RANK];
    hid_t space = H5Dget_space(dset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    int crank = H5Pget_chunk(dcpl, H5S_MAX_RANK, cdims), n_filters = H5Pget_nfilters(dcpl);
    int rc = rank < 0 || crank < 0 || n_filters < 0
             || H5Sget_simple_extent_dims(space, dims, maxdims) < 0 ? -1 : 0;
    uint64_t chunk_bytes = elem_size;
    hsize_t n_chunks = 0;
    if (rc == 0 && rank == 0) {
        snprintf(why, cap, "is a scalar stored in chunks (HDF5 chunks only arrays)");
        rc = 1;
    } else if (rc == 0 && crank != rank) {
        snprintf(why, cap, "has %d chunk dimensions for %d dimensions", crank, rank);
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < rank; i++) {
        if (cdims[i] == 0 || (maxdims[i] != H5S_UNLIMITED && cdims[i] > maxdims[i])) {
            snprintf(why, cap, "declares chunks of %llu along dimension %d, which holds %llu",
                     ull(cdims[i]), i, ull(maxdims[i]));
            rc = 1;
        } else {
            chunk_bytes = chunk_bytes > UINT64_MAX / cdims[i] ? UINT64_MAX : chunk_bytes * cdims[i];
        }
    }
    if (rc == 0 && H5Dget_num_chunks(dset, space, &n_chunks) < 0)   /* (1.10.8 refuses H5S_ALL) */
        rc = -1;
    /* unfiltered, all chunks together first (HDF5 sums them in one pass) */
    hsize_t stored = rc == 0 && !n_filters ? H5Dget_storage_size(dset) : 0;
    if (rc == 0 && !n_filters && n_chunks && chunk_bytes <= UINT64_MAX / n_chunks
        && stored != n_chunks * chunk_bytes) {
        snprintf(why, cap, "stores %llu bytes in %llu unfiltered chunks of %llu", ull(stored),
                 ull(n_chunks), ull(chunk_bytes));
        rc = 1;
    }
    if (rc == 0)
        rc = check_each_chunk(dset, space, rank, dims, cdims, n_chunks, chunk_bytes, n_filters > 0,
                              bounds, storage, extents, why, cap);
    if (n_filters > 0)
        storage->isolated = 1;
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Whether a number's bits (and, for a float, its sign, exponent and
 * mantissa) lie outside its bytes; a compound's (complex) members outside it,
 * or an enum's (bool) base type's bits. */
static int bits_outside(hid_t type)
{
    H5T_class_t type_class = H5Tget_class(type);
    size_t size = H5Tget_size(type), bits = 8 * size;
    if (type_class == H5T_COMPOUND || type_class == H5T_ENUM) {
        int n = type_class == H5T_COMPOUND ? H5Tget_nmembers(type) : 1, outside = n < 0;
        for (int i = 0; !outside && i < n; i++) {
            hid_t part = type_class == H5T_COMPOUND ? H5Tget_member_type(type, (unsigned)i)
                                                    : H5Tget_super(type);
            size_t at = type_class == H5T_COMPOUND ? H5Tget_member_offset(type, (unsigned)i) : 0;
            outside = part < 0 || at + H5Tget_size(part) > size || bits_outside(part);
            if (part >= 0)
                H5Tclose(part);
        }
        return outside;
    }
    if (type_class != H5T_INTEGER && type_class != H5T_FLOAT)
        return 0;
    int offset = H5Tget_offset(type);
    size_t precision = H5Tget_precision(type), spos, epos, esize, mpos, msize;
    if (offset < 0 || !precision || (size_t)offset + precision > bits)
        return 1;
    return type_class == H5T_FLOAT
        && (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0 || spos >= bits
            || epos + esize > bits || mpos + msize > bits);
}

/* An element type libhdf5 converts without running past its buffers: no
 * wider than any number, its bits inside its bytes (a corrupted bit offset
 * made the conversion rebuild writes with run past them). 1 with why
 * filled, 0. */
static int element_is_hostile(hid_t type, char *why, size_t cap)
{
    size_t size = H5Tget_size(type);
    if (size > (H5Tget_class(type) == H5T_COMPOUND ? WIDEST_COMPLEX : WIDEST_NUMBER)) {
        snprintf(why, cap, "declares elements of %zu bytes, wider than any number", size);
        return 1;
    }
    if (bits_outside(type)) {
        snprintf(why, cap, "declares a number type whose bits lie outside its %zu bytes", size);
        return 1;
    }
    return 0;
}

/* h5_vet_dataset for data in the dataset's own file. */
static int vet_in_file(hid_t dset, hid_t dcpl, uint64_t n_elems, h5_storage *storage,
                       h5_extents *extents, char *why, size_t cap)
{
    file_bounds bounds = { 0, 0 };
    hid_t type = H5Dget_type(dset);
    /* The file's element size, not the converted one: a corrupted type can
     * claim megabytes per element, and HDF5 1.10 then reads past its buffers. */
    size_t elem_size = type >= 0 ? H5Tget_size(type) : 0;
    int rc = !elem_size || get_file_bounds(dset, &bounds) < 0 ? -1 : 0;
    H5D_layout_t layout = rc == 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    uint64_t bytes = n_elems > UINT64_MAX / (elem_size ? elem_size : 1) ? UINT64_MAX : n_elems * elem_size;
    /* Contiguous and compact data lie in the file byte for byte; chunks may be
     * compressed, or absent and read as the fill value, which no real model
     * relies on for more than the file could hold compressed. */
    uint64_t limit = layout == H5D_CHUNKED && bounds.size <= UINT64_MAX / H5_MAX_CHUNK_RATIO
                   ? bounds.size * H5_MAX_CHUNK_RATIO : bounds.size;
    if (rc == 0 && layout != H5D_CONTIGUOUS && layout != H5D_COMPACT && layout != H5D_CHUNKED)
        rc = -1;
    if (rc != 0) {
        /* HDF5 failed */
    } else if (bytes > limit) {
        snprintf(why, cap, "declares %llu bytes of %s data, more than the file's %llu bytes "
                 "can hold", ull(bytes), layout_name(layout), ull(bounds.size));
        rc = 1;
    } else if (element_is_hostile(type, why, cap)) {
        rc = 1;
    } else if (layout == H5D_COMPACT && H5Dget_storage_size(dset) != bytes) {
        snprintf(why, cap, "declares %llu bytes of compact data, its header holds %llu",
                 ull(bytes), ull(H5Dget_storage_size(dset)));
        rc = 1;
    } else if (layout == H5D_CONTIGUOUS) {
        rc = check_contiguous(dset, bytes, &bounds, extents, why, cap);
    } else if (layout == H5D_CHUNKED) {
        rc = check_chunks(dset, dcpl, elem_size, &bounds, storage, extents, why, cap);
    }
    if (type >= 0) H5Tclose(type);
    return rc;
}

int h5_vet_dataset(hid_t dset, uint64_t n_elems, h5_storage *storage, h5_extents *extents,
                   char *why, size_t cap)
{
    memset(storage, 0, sizeof *storage);
    hid_t dcpl = H5Dget_create_plist(dset);
    if (dcpl < 0)
        return -1;
    int rc = h5_vet_outside(dset, dcpl, storage, why, cap);
    if (rc == 0 && !storage->external)   /* (data in other files is not bounded by this one) */
        rc = vet_in_file(dset, dcpl, n_elems, storage, extents, why, cap);
    H5Pclose(dcpl);
    return rc;
}

int h5_file_descriptor(hid_t file)
{
    void *handle = NULL;
    hid_t fapl = H5Fget_access_plist(file);
    int is_posix = fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2;
    if (fapl >= 0)
        H5Pclose(fapl);
    if (!is_posix || H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle)
        return -1;
    return *(int *)handle;
}

/* ---- the system's reason for a failure */

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

