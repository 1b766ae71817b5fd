/* HDF5 vectors and matrices: one dataset ("/data", or FILE.h5:/path), read and
 * written a hyperslab at a time so memory stays bounded whatever its size.
 *
 * Element types follow h5py: complex is a compound of two floats (r, i), bool an
 * int8 enum {FALSE, TRUE}, float16 the IEEE half, bfloat16 a 16-bit float with
 * float32's exponent. Writing FILE.h5:/path into an existing HDF5 file keeps its
 * other objects (the copy is edited, then renamed into place); writing FILE.h5
 * alone makes a new file. */
#include "vecio_internal.h"
#include "h5_limits.h"
#include "isolate.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Our errors are one line with context; HDF5's own stack dumps would break that. */
static void quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---------------------------------------------------------------- types */

static hid_t float16_type(int bfloat)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (bfloat) {   /* sign 15, exponent 7..14 (8 bits), mantissa 0..6 */
        H5Tset_fields(t, 15, 7, 8, 0, 7);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 127);
    } else {        /* sign 15, exponent 10..14 (5 bits), mantissa 0..9 */
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
    }
    return t;
}

static hid_t complex_type(hid_t part, const char *re_name, const char *im_name)
{
    size_t size = H5Tget_size(part);
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * size);
    H5Tinsert(t, re_name, 0, part);
    H5Tinsert(t, im_name, size, part);
    return t;
}

static hid_t bool_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    H5Tenum_insert(t, "FALSE", &no);
    H5Tenum_insert(t, "TRUE", &yes);
    return t;
}

/* The type of our in-memory elements (also what we write: little-endian hosts). */
static hid_t memory_type(fp_dtype dtype)
{
    switch (dtype) {
    case FP_F16:  return float16_type(0);
    case FP_BF16: return float16_type(1);
    case FP_F32:  return H5Tcopy(H5T_NATIVE_FLOAT);
    case FP_F64:  return H5Tcopy(H5T_NATIVE_DOUBLE);
    case FP_C64:  return complex_type(H5T_NATIVE_FLOAT, "r", "i");
    case FP_C128: return complex_type(H5T_NATIVE_DOUBLE, "r", "i");
    case FP_BOOL: return bool_type();
    case FP_I8:   return H5Tcopy(H5T_NATIVE_INT8);
    case FP_U8:   return H5Tcopy(H5T_NATIVE_UINT8);
    case FP_I16:  return H5Tcopy(H5T_NATIVE_INT16);
    case FP_U16:  return H5Tcopy(H5T_NATIVE_UINT16);
    case FP_I32:  return H5Tcopy(H5T_NATIVE_INT32);
    case FP_U32:  return H5Tcopy(H5T_NATIVE_UINT32);
    case FP_I64:  return H5Tcopy(H5T_NATIVE_INT64);
    case FP_U64:  return H5Tcopy(H5T_NATIVE_UINT64);
    default:      return -1;
    }
}

/* The dtype of a file type, and the memory type to read it with (which keeps
 * the file's member names: compound conversion matches members by name). */
static fp_dtype file_dtype(hid_t type, hid_t *mem)
{
    *mem = -1;
    size_t size = H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_FLOAT: {
        size_t spos, epos, esize, mpos, msize;
        H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize);
        fp_dtype d = size == 8 ? FP_F64 : size == 4 ? FP_F32
                   : size == 2 && esize == 5 ? FP_F16 : size == 2 && esize == 8 ? FP_BF16 : FP_DT_NONE;
        if (d != FP_DT_NONE)
            *mem = memory_type(d);
        return d;
    }
    case H5T_INTEGER: {
        int is_signed = H5Tget_sign(type) == H5T_SGN_2;
        static const fp_dtype s[] = { FP_I8, FP_I16, FP_DT_NONE, FP_I32, FP_DT_NONE,
                                      FP_DT_NONE, FP_DT_NONE, FP_I64 };
        static const fp_dtype u[] = { FP_U8, FP_U16, FP_DT_NONE, FP_U32, FP_DT_NONE,
                                      FP_DT_NONE, FP_DT_NONE, FP_U64 };
        fp_dtype d = size >= 1 && size <= 8 ? (is_signed ? s : u)[size - 1] : FP_DT_NONE;
        if (d != FP_DT_NONE)
            *mem = memory_type(d);
        return d;
    }
    case H5T_COMPOUND: {
        if (H5Tget_nmembers(type) != 2)
            return FP_DT_NONE;
        hid_t re = H5Tget_member_type(type, 0), im = H5Tget_member_type(type, 1);
        size_t part = H5Tget_size(re);
        int ok = H5Tget_class(re) == H5T_FLOAT && H5Tget_class(im) == H5T_FLOAT
              && part == H5Tget_size(im) && (part == 4 || part == 8);
        H5Tclose(re);
        H5Tclose(im);
        if (!ok)
            return FP_DT_NONE;
        char *re_name = H5Tget_member_name(type, 0), *im_name = H5Tget_member_name(type, 1);
        *mem = complex_type(part == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, re_name, im_name);
        H5free_memory(re_name);
        H5free_memory(im_name);
        return part == 4 ? FP_C64 : FP_C128;
    }
    case H5T_ENUM: {   /* h5py's bool */
        hid_t base = H5Tget_super(type);
        int ok = size == 1 && H5Tget_nmembers(type) == 2;
        H5Tclose(base);
        if (!ok)
            return FP_DT_NONE;
        *mem = H5Tget_native_type(type, H5T_DIR_ASCEND);
        return FP_BOOL;
    }
    default:
        return FP_DT_NONE;
    }
}

/* ---------------------------------------------------------------- selections */

/* Adds the row-major elements [begin, end) of the sub-array at `axis` (the axes
 * before it fixed at start[]) to the selection: a partial first row, the whole
 * rows, and a partial last row, each a hyperslab. */
static herr_t add_range(hid_t space, int rank, const hsize_t *dims, int axis, hsize_t *start,
                        uint64_t begin, uint64_t end)
{
    if (begin >= end)
        return 0;
    uint64_t inner = 1;
    for (int i = axis + 1; i < rank; i++)
        inner *= dims[i];
    if (begin % inner) {
        uint64_t row = begin / inner, row_end = (row + 1) * inner < end ? (row + 1) * inner : end;
        start[axis] = row;
        if (add_range(space, rank, dims, axis + 1, start, begin - row * inner, row_end - row * inner) < 0)
            return -1;
        begin = row_end;
    }
    uint64_t full = (end - begin) / inner;
    if (full > 0) {
        hsize_t offset[FP_MAX_RANK], count[FP_MAX_RANK];
        for (int i = 0; i < rank; i++) {
            offset[i] = i < axis ? start[i] : i == axis ? begin / inner : 0;
            count[i] = i < axis ? 1 : i == axis ? full : dims[i];
        }
        if (H5Sselect_hyperslab(space, H5S_SELECT_OR, offset, NULL, count, NULL) < 0)
            return -1;
        begin += full * inner;
    }
    if (begin < end) {
        start[axis] = begin / inner;
        return add_range(space, rank, dims, axis + 1, start, 0, end - begin);
    }
    return 0;
}

/* A file dataspace selecting elements [begin, begin + n) in row-major order,
 * and a matching memory dataspace. */
static int select_range(hid_t dset, uint64_t begin, uint64_t n, hid_t *file_space, hid_t *mem_space)
{
    *file_space = H5Dget_space(dset);
    hsize_t count = n;
    *mem_space = H5Screate_simple(1, &count, NULL);
    int rank = H5Sget_simple_extent_ndims(*file_space);
    if (*file_space < 0 || *mem_space < 0 || rank < 0)
        return -1;
    if (rank == 0)   /* scalar: all of it */
        return 0;
    hsize_t dims[FP_MAX_RANK], start[FP_MAX_RANK] = { 0 };
    H5Sget_simple_extent_dims(*file_space, dims, NULL);
    if (H5Sselect_none(*file_space) < 0)
        return -1;
    return add_range(*file_space, rank, dims, 0, start, begin, begin + n);
}

/* ---------------------------------------------------------------- reading */

typedef struct h5_reader {
    hid_t file, dset, mem_type;
    int isolated;             /* libhdf5 reads the data in a child (h5_storage) */
    fp_reader_child *reader;  /* that child, once started */
} h5_reader;

/* Elements [begin, begin + n) of the dataset into buf (n * the file's memory
 * element size): 0, or -1 with err set. */
static int read_range(const fp_vec_reader *r, uint64_t begin, uint64_t n, void *buf, fp_error *err)
{
    const h5_reader *h = r->state;
    hid_t file_space = -1, mem_space = -1;
    int rc = select_range(h->dset, begin, n, &file_space, &mem_space);
    if (rc == 0 && H5Dread(h->dset, h->mem_type, mem_space, file_space, H5P_DEFAULT, buf) < 0)
        rc = -1;
    H5Sclose(file_space);
    H5Sclose(mem_space);
    if (rc < 0)
        return fp_fail(err, "%s: cannot read elements %llu..%llu", r->name,
                       (unsigned long long)begin, (unsigned long long)(begin + n));
    return 0;
}

typedef struct range_request {
    uint64_t begin, n;
} range_request;

static int serve_range(void *ctx, const void *request, size_t request_len, void *buf,
                       size_t bytes, fp_error *err)
{
    const fp_vec_reader *r = ctx;
    range_request q;
    if (request_len != sizeof q || !buf || !bytes)
        return fp_fail(err, "%s: internal error: a malformed read request", r->name);
    memcpy(&q, request, sizeof q);
    return read_range(r, q.begin, q.n, buf, err);
}

static int h5_read(fp_vec_reader *r, void *dst, fp_dtype dtype, uint64_t n, uint64_t *n_read,
                   fp_error *err)
{
    h5_reader *h = r->state;
    size_t in_size = fp_dtype_size(r->dtype), out_size = fp_dtype_size(dtype);
    uint64_t per_chunk = VEC_BUF_BYTES / in_size;
    unsigned char *out = dst;
    if (n > r->count - r->done)
        n = r->count - r->done;
    while (*n_read < n) {
        uint64_t k = n - *n_read < per_chunk ? n - *n_read : per_chunk;
        range_request q = { r->done, k };
        int rc = h->isolated
               ? fp_child_read(&h->reader, serve_range, r, h5_file_descriptor(h->file), &q, sizeof q,
                               r->scratch, (size_t)(k * in_size), 0, r->name, err)
               : read_range(r, r->done, k, r->scratch, err);
        if (rc < 0 || vec_convert_out(r, out, dtype, r->scratch, r->dtype, (size_t)k, err) < 0)
            return -1;
        out += k * out_size;
        *n_read += k;
        r->done += k;
    }
    return 0;
}

static int h5_shape(fp_vec_reader *r, fp_dtype dtype, int *rank, uint64_t *shape, fp_error *err)
{
    (void)dtype;
    (void)err;
    *rank = r->rank;
    memcpy(shape, r->shape, (size_t)r->rank * sizeof *shape);
    return 0;
}

static void h5_close(fp_vec_reader *r)
{
    h5_reader *h = r->state;
    if (!h)
        return;
    fp_child_stop(h->reader);
    if (h->mem_type >= 0)
        H5Tclose(h->mem_type);
    if (h->dset >= 0)
        H5Dclose(h->dset);
    if (h->file >= 0)
        H5Fclose(h->file);
    free(h);
    r->state = NULL;
}

static const vec_reader_ops h5_reader_ops = { h5_read, h5_shape, h5_close };

/* The dataset's element type and shape into r; where names it in messages. */
static int read_type_and_shape(fp_vec_reader *r, h5_reader *h, const char *where, fp_error *err)
{
    hid_t type = H5Dget_type(h->dset);
    r->dtype = type >= 0 ? file_dtype(type, &h->mem_type) : FP_DT_NONE;
    if (type >= 0)
        H5Tclose(type);
    if (r->dtype == FP_DT_NONE)
        return fp_fail(err, "%s: unsupported element type (not a number, complex or bool)", where);
    hid_t space = H5Dget_space(h->dset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5S_class_t space_class = space >= 0 ? H5Sget_simple_extent_type(space) : H5S_NO_CLASS;
    hsize_t dims[H5S_MAX_RANK];
    int ok = rank >= 0 && rank <= FP_MAX_RANK && H5Sget_simple_extent_dims(space, dims, NULL) >= 0;
    if (space >= 0)
        H5Sclose(space);
    if (!ok)
        return fp_fail(err, "%s: unsupported dataspace", where);
    r->rank = rank;
    r->count = space_class == H5S_NULL ? 0 : 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] && r->count > UINT64_MAX / dims[i])
            return fp_fail(err, "%s: shape is too large (element count overflows)", where);
        r->shape[i] = dims[i];
        r->count *= dims[i];
    }
    return 0;
}

/* Opens the dataset as a model file's datasets are opened: external links,
 * external storage and virtual datasets refused unless --allow-external, the
 * storage vetted (h5_vet_dataset) before readers of whole matrices allocate
 * what the header declares. */
static int open_vetted(fp_vec_reader *r, h5_reader *h, fp_error *err)
{
    const char *dataset = r->dataset ? r->dataset : "/data";
    char refused[H5_REFUSED_CAP], why[2048], where[4200];
    /* the file and dataset, as messages name them (r->name has a dataset named) */
    snprintf(where, sizeof where, "%s%s%s", r->name, r->dataset ? "" : ": ", r->dataset ? "" : dataset);
    if ((h->file = H5Fopen(r->file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return fp_fail(err, "%s: not an HDF5 file", r->name);
    hid_t dapl = h5_vetting_access(H5P_DATASET_ACCESS, refused);
    if (dapl < 0)
        return fp_fail(err, "%s: cannot set up HDF5 access", r->name);
    htri_t exists = H5Lexists(h->file, dataset, dapl);
    if (exists > 0 && !refused[0])
        h->dset = H5Dopen2(h->file, dataset, dapl);
    H5Pclose(dapl);
    if (refused[0])
        return fp_fail(err, "%s: external link to %s refused (use --allow-external)", where, refused);
    if (h->dset < 0)
        return fp_fail(err, "%s: no dataset '%s' (name another as FILE.h5:/path)", r->name, dataset);
    if (read_type_and_shape(r, h, where, err) < 0)
        return -1;
    h5_storage storage;
    int vetted = h5_vet_dataset(h->dset, r->count, &storage, NULL, why, sizeof why);
    if (vetted < 0)
        return fp_fail(err, "%s: cannot read dataset storage", where);
    if (vetted)
        return fp_fail(err, "%s: %s", where, why);
    h->isolated = storage.isolated;
    return 0;
}

/* Opening in a child first: libhdf5 1.10.8 crashes on some hostile files
 * while it opens them (a vector file, like a model, may be anyone's). */
enum { OPEN_SECONDS = 20 };
static const size_t open_memory = (size_t)4 << 30;

static int open_in_child(void *arg, fp_error *err)
{
    fp_vec_reader *r = arg;
    h5_reader h = { -1, -1, -1, 0, NULL };
    r->state = &h;
    return open_vetted(r, &h, err);   /* the child exits: nothing to close */
}

int vec_h5_open(fp_vec_reader *r, fp_error *err)
{
    quiet();
    if (access(r->file, R_OK) < 0)
        return fp_fail(err, "%s: cannot open: %s", r->name, strerror(errno));
    if (fp_isolated(open_in_child, r, r->name, OPEN_SECONDS, open_memory, err) < 0)
        return -1;
    h5_reader *h = calloc(1, sizeof *h);
    if (!h)
        return fp_fail(err, "out of memory");
    h->file = h->dset = h->mem_type = -1;
    r->state = h;
    r->ops = &h5_reader_ops;
    return open_vetted(r, h, err);
}

/* ---------------------------------------------------------------- writing */

typedef struct h5_writer {
    hid_t file, dset, type;
    uint64_t buffered;     /* elements in w->scratch not yet written */
    uint64_t per_chunk;
} h5_writer;

/* HDF5's file driver leaves write(2)'s errno behind: report it when there is one. */
static int write_error(fp_vec_writer *w, fp_error *err)
{
    return fp_fail(err, "%s: cannot write: %s", w->name,
                   errno ? strerror(errno) : "the HDF5 library failed to write the data");
}

static int flush_elements(fp_vec_writer *w, fp_error *err)
{
    h5_writer *h = w->state;
    if (h->buffered == 0)
        return 0;
    hid_t file_space = -1, mem_space = -1;
    uint64_t begin = w->done - h->buffered;
    errno = 0;
    int rc = select_range(h->dset, begin, h->buffered, &file_space, &mem_space);
    if (rc == 0 && H5Dwrite(h->dset, h->type, mem_space, file_space, H5P_DEFAULT, w->scratch) < 0)
        rc = -1;
    H5Sclose(file_space);
    H5Sclose(mem_space);
    h->buffered = 0;
    if (rc < 0)
        return write_error(w, err);
    return 0;
}

/* A new temporary file to write the dataset into. */
static hid_t create_file(fp_vec_writer *w, fp_error *err)
{
    const char *target = w->out.target, *tmp = w->out.tmp_path;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    char why[256];
    int said = file < 0 && h5_system_reason(why, sizeof why);   /* before the next call clears it */
    H5Pclose(fcpl);
    if (file < 0) {
        const char *slash = strrchr(target, '/');
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - target) : 1, slash ? target : ".");
        if (access(dir, W_OK) < 0)
            snprintf(why, sizeof why, "%s", strerror(errno));
        else if (!said)
            snprintf(why, sizeof why, "HDF5 cannot create the file");
        return fp_fail(err, "%s: cannot create: %s", w->name, why);
    }
    return file;
}

/* Creates the dataset in an open file, replacing one of that name. A link
 * out of the file never opens its target for writing (the vetting access
 * properties open it read-only, or refuse it). */
static hid_t create_dataset(fp_vec_writer *w, hid_t file, hid_t type, fp_error *err)
{
    const char *dataset = w->dataset ? w->dataset : "/data";
    char refused[H5_REFUSED_CAP];
    hsize_t dims[2] = { w->shape[0], w->shape[1] };
    hid_t dapl = h5_vetting_access(H5P_DATASET_ACCESS, refused), lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t space = H5Screate_simple(w->rank, dims, NULL), dset = H5I_INVALID_HID;
    int ok = dapl >= 0 && lcpl >= 0 && space >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0;
    if (ok && H5Lexists(file, dataset, dapl) > 0 && H5Ldelete(file, dataset, dapl) < 0)
        fp_fail(err, "%s: cannot replace %s", w->name, dataset);
    else if (ok && (dset = H5Dcreate2(file, dataset, type, space, lcpl, H5P_DEFAULT, dapl)) < 0)
        fp_fail(err, "%s: cannot create dataset %s", w->name, dataset);
    if (refused[0])
        fp_fail(err, "%s: external link to %s refused (use --allow-external)", w->name, refused);
    if (!ok)
        fp_fail(err, "%s: cannot set up HDF5 access", w->name);
    if (space >= 0) H5Sclose(space);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dapl >= 0) H5Pclose(dapl);
    return dset;
}

/* Replacing the dataset in a copy of an existing file is done in a child
 * first, as reading one is: libhdf5 1.10.8 crashes on some hostile files
 * (CVE-2018-13867) while it opens or changes them. The child leaves the
 * copy with the dataset created; this process then opens that dataset. */
enum { REPLACE_SECONDS = 20 };
static const size_t replace_memory = (size_t)4 << 30;

static int replace_in_child(void *arg, fp_error *err)
{
    fp_vec_writer *w = arg;
    hid_t file = H5Fopen(w->out.tmp_path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0)
        return fp_fail(err, "%s: cannot open for writing", w->name);
    hid_t type = memory_type(w->dtype), dset = create_dataset(w, file, type, err);
    int rc = dset < 0 ? -1 : 0;
    if (dset >= 0 && H5Dclose(dset) < 0)
        rc = write_error(w, err);
    H5Tclose(type);
    if (H5Fclose(file) < 0 && rc == 0)
        rc = write_error(w, err);
    return rc;
}

static int h5_begin(fp_vec_writer *w, fp_error *err)
{
    quiet();
    h5_writer *h = calloc(1, sizeof *h);
    if (!h)
        return fp_fail(err, "out of memory");
    h->file = h->dset = h->type = -1;
    h->per_chunk = VEC_BUF_BYTES / fp_dtype_size(w->dtype);
    w->state = h;
    h->type = memory_type(w->dtype);
    const char *target = w->out.target, *dataset = w->dataset ? w->dataset : "/data";
    if (!w->dataset || access(target, F_OK) != 0) {
        if ((h->file = create_file(w, err)) < 0 || (h->dset = create_dataset(w, h->file, h->type, err)) < 0)
            return -1;
        return 0;
    }
    if (H5Fis_hdf5(target) <= 0)
        return fp_fail(err, "%s: exists and is not an HDF5 file", w->name);
    if (fp_copy_file(target, w->out.tmp_path, err) < 0
        || fp_isolated(replace_in_child, w, w->name, REPLACE_SECONDS, replace_memory, err) < 0)
        return -1;
    if ((h->file = H5Fopen(w->out.tmp_path, H5F_ACC_RDWR, H5P_DEFAULT)) < 0)
        return fp_fail(err, "%s: cannot open for writing", w->name);
    if ((h->dset = H5Dopen2(h->file, dataset, H5P_DEFAULT)) < 0)
        return fp_fail(err, "%s: cannot open the dataset %s it created", w->name, dataset);
    return 0;
}

static int h5_write(fp_vec_writer *w, const void *data, uint64_t n, fp_error *err)
{
    h5_writer *h = w->state;
    size_t size = fp_dtype_size(w->dtype);
    const unsigned char *in = data;
    uint64_t done = w->done;   /* the public count moves after we return */
    while (n > 0) {
        uint64_t k = h->per_chunk - h->buffered < n ? h->per_chunk - h->buffered : n;
        memcpy(w->scratch + h->buffered * size, in, (size_t)(k * size));
        h->buffered += k;
        in += k * size;
        n -= k;
        done += k;
        if (h->buffered == h->per_chunk) {
            uint64_t saved = w->done;
            w->done = done;
            int rc = flush_elements(w, err);
            w->done = saved;
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

static int h5_finish(fp_vec_writer *w, fp_error *err)
{
    h5_writer *h = w->state;
    if (flush_elements(w, err) < 0)
        return -1;
    errno = 0;
    herr_t rc = H5Dclose(h->dset);
    h->dset = -1;
    rc |= H5Tclose(h->type);
    h->type = -1;
    rc |= H5Fclose(h->file);
    h->file = -1;
    if (rc < 0)
        return write_error(w, err);
    /* Let fp_outfile_commit fsync the finished file before the rename. */
    w->out.fd = open(w->out.tmp_path, O_RDONLY | O_CLOEXEC);
    return 0;
}

static void h5_discard(fp_vec_writer *w)
{
    h5_writer *h = w->state;
    if (!h)
        return;
    if (h->dset >= 0)
        H5Dclose(h->dset);
    if (h->type >= 0)
        H5Tclose(h->type);
    if (h->file >= 0)
        H5Fclose(h->file);
    free(h);
    w->state = NULL;
}

const vec_writer_ops vec_h5_writer = { h5_begin, h5_write, h5_finish, h5_discard };
