/* HDF5 data and links that lead out of their file: external links, external
 * raw storage, virtual datasets. Refused unless --allow-external (model files
 * and vector files alike); with it, what libhdf5 1.10.8 cannot survive is
 * still refused: external files that are not regular files (a FIFO blocks
 * the reader forever), virtual mappings that do not fit their source (a
 * division by zero) or that map onto a virtual dataset (one that maps onto
 * itself recursed until the stack ran out). */
#include "h5_limits.h"

#include "flatparams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- external links */

static herr_t note_external(const char *parent_file, const char *parent_group,
                            const char *child_file, const char *child_object,
                            unsigned *acc_flags, hid_t fapl, void *refused)
{
    (void)parent_file; (void)parent_group; (void)fapl;
    *acc_flags = H5F_ACC_RDONLY;
    if (fp_allow_external)
        return 0;
    snprintf(refused, H5_REFUSED_CAP, "%s:%s", child_file, child_object);
    return -1;
}

hid_t h5_vetting_access(hid_t plist_class, char *refused)
{
    refused[0] = 0;
    hid_t plist = H5Pcreate(plist_class);
    if (plist >= 0 && H5Pset_elink_cb(plist, note_external, refused) < 0) {
        H5Pclose(plist);
        return H5I_INVALID_HID;
    }
    return plist;
}

hid_t h5_vetting_lapl(char *refused)
{
    return h5_vetting_access(H5P_LINK_ACCESS, refused);
}

/* ---- files other than the dataset's */

/* The directory of the dataset's file, as HDF5 knows its name ("." when none). */
static void file_directory(hid_t dset, char *dir, size_t cap)
{
    char name[4096] = "";
    ssize_t len = H5Fget_name(dset, name, sizeof name);
    const char *slash = len > 0 && (size_t)len < sizeof name ? strrchr(name, '/') : NULL;
    if (slash)
        snprintf(dir, cap, "%.*s", slash == name ? 1 : (int)(slash - name), name);
    else
        snprintf(dir, cap, ".");
}

/* Where libhdf5 1.10 opens an external raw file: an absolute name as it is; a
 * relative one under $HDF5_EXTFILE_PREFIX, else the dataset's external-file
 * prefix, "${ORIGIN}" standing for the HDF5 file's directory; with neither,
 * from the working directory. */
static void external_file_path(hid_t dset, const char *name, char *path, size_t cap)
{
    char *set_prefix = NULL;
    const char *prefix = getenv("HDF5_EXTFILE_PREFIX");
    if (!prefix || !*prefix) {
        hid_t dapl = H5Dget_access_plist(dset);
        ssize_t len = dapl >= 0 ? H5Pget_efile_prefix(dapl, NULL, 0) : -1;
        if (len > 0 && (set_prefix = malloc((size_t)len + 1))
            && H5Pget_efile_prefix(dapl, set_prefix, (size_t)len + 1) >= 0)
            prefix = set_prefix;
        if (dapl >= 0)
            H5Pclose(dapl);
        H5Eclear2(H5E_DEFAULT);
    }
    if (name[0] == '/' || !prefix || !*prefix || !strcmp(prefix, ".")) {
        snprintf(path, cap, "%s", name);
    } else if (!strncmp(prefix, "${ORIGIN}", 9)) {
        char dir[4096];
        file_directory(dset, dir, sizeof dir);
        snprintf(path, cap, "%s%s/%s", dir, prefix + 9, name);
    } else {
        snprintf(path, cap, "%s/%s", prefix, name);
    }
    free(set_prefix);
}

/* Whether path exists and is something other than a regular file (a FIFO, a
 * device, a directory), which opening or reading may block on or never end. */
static int exists_but_not_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* Opens a virtual dataset's source file where libhdf5 1.10 looks for it: an
 * absolute name as it is; a relative one under $HDF5_VDS_PREFIX, then beside
 * the virtual dataset's file, then from the working directory; "." is that
 * file itself. -1 when not found (HDF5 then reads fill values); -2 when what
 * is found is not a regular file. */
static hid_t open_source_file(hid_t dset, const char *file)
{
    if (!strcmp(file, "."))
        return H5Iget_file_id(dset);
    char candidates[3][8192], dir[4096];
    int n = 0;
    const char *prefix = getenv("HDF5_VDS_PREFIX");
    if (file[0] == '/') {
        snprintf(candidates[n++], sizeof candidates[0], "%s", file);
    } else {
        if (prefix && *prefix)
            snprintf(candidates[n++], sizeof candidates[0], "%s/%s", prefix, file);
        file_directory(dset, dir, sizeof dir);
        snprintf(candidates[n++], sizeof candidates[0], "%s/%s", dir, file);
        snprintf(candidates[n++], sizeof candidates[0], "%s", file);
    }
    hid_t f = H5I_INVALID_HID;
    for (int i = 0; i < n && f < 0; i++) {
        if (exists_but_not_regular(candidates[i]))
            return -2;
        f = H5Fopen(candidates[i], H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5Eclear2(H5E_DEFAULT);
    return f;
}

/* One mapping of a virtual dataset: refused when its source is not a regular
 * file, is itself a virtual dataset, or does not hold the selection mapped
 * (a rank or bounds that differ). 1 with why filled, 0. */
static int mapping_is_hostile(hid_t dset, hid_t src, const char *file, const char *name,
                              const hsize_t *end, char *why, size_t cap)
{
    hid_t f = open_source_file(dset, file);
    if (f == -2) {
        snprintf(why, cap, "virtual dataset maps %s, which is not a regular file", file);
        return 1;
    }
    hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
    hid_t space = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    int srank = H5Sget_simple_extent_ndims(src);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[H5S_MAX_RANK];
    int hostile = 0;
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_VIRTUAL) {
        snprintf(why, cap, "virtual dataset maps %s:%s, itself a virtual dataset (this one, "
                 "or one that maps back)", file, name);
        hostile = 1;
    } else if (srank > 0 && rank >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) >= 0) {
        /* (a source space without an extent, rank 0, says nothing to compare) */
        int inside = rank == srank;
        for (int k = 0; inside && k < rank && H5Sget_select_npoints(src) > 0; k++)
            inside = end[k] < dims[k];
        if (!inside) {
            snprintf(why, cap, "virtual dataset maps a %d-dimensional selection onto %s:%s, "
                     "which it does not fit (%d dimensions)", srank, file, name, rank);
            hostile = 1;
        }
    }
    H5Eclear2(H5E_DEFAULT);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    return hostile;
}

/* With --allow-external, each mapping of a virtual dataset. 1 with why
 * filled, 0, -1 when HDF5 fails. */
static int virtual_is_hostile(hid_t dset, hid_t dcpl, char *why, size_t cap)
{
    size_t count = 0;
    int rc = H5Pget_virtual_count(dcpl, &count) < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char file[4096] = "", name[4096] = "";
        hid_t src = H5Pget_virtual_srcspace(dcpl, i);
        hsize_t start[H5S_MAX_RANK], end[H5S_MAX_RANK];
        int srank = src >= 0 ? H5Sget_simple_extent_ndims(src) : -1;
        ssize_t file_len = srank < 0 ? -1 : H5Pget_virtual_filename(dcpl, i, file, sizeof file);
        ssize_t name_len = file_len < 0 ? -1 : H5Pget_virtual_dsetname(dcpl, i, name, sizeof name);
        if (srank < 0 || file_len < 0 || name_len < 0
            || (H5Sget_select_npoints(src) > 0 && H5Sget_select_bounds(src, start, end) < 0)) {
            rc = -1;
        } else if ((size_t)file_len >= sizeof file || (size_t)name_len >= sizeof name) {
            snprintf(why, cap, "virtual dataset names a source longer than %zu bytes",
                     sizeof file - 1);
            rc = 1;
        } else {
            rc = mapping_is_hostile(dset, src, file, name, end, why, cap);
        }
        if (src >= 0)
            H5Sclose(src);
    }
    return rc;
}

/* With --allow-external, each file of external raw storage. 1 with why
 * filled, 0, -1 when HDF5 fails. */
static int external_storage_is_hostile(hid_t dset, hid_t dcpl, int n_files, char *why,
                                       size_t cap)
{
    for (int i = 0; i < n_files; i++) {
        char name[4096] = "", path[8192];
        off_t offset;
        hsize_t size;
        if (H5Pget_external(dcpl, (unsigned)i, sizeof name, name, &offset, &size) < 0)
            return -1;
        name[sizeof name - 1] = 0;
        external_file_path(dset, name, path, sizeof path);
        if (exists_but_not_regular(path)) {
            snprintf(why, cap, "raw data stored in external file %s, which is not a regular "
                     "file", name);
            return 1;
        }
    }
    return 0;
}

int h5_vet_outside(hid_t dset, hid_t dcpl, h5_storage *storage, char *why, size_t cap)
{
    int n_files = H5Pget_external_count(dcpl), rc = 0;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (n_files < 0 || layout == H5D_LAYOUT_ERROR) {
        rc = -1;
    } else if (layout == H5D_VIRTUAL || n_files > 0) {
        char name[256] = "";
        off_t offset;
        hsize_t size;
        storage->external = storage->isolated = 1;
        if (layout == H5D_VIRTUAL)
            snprintf(storage->place, sizeof storage->place, "virtual dataset");
        else if (H5Pget_external(dcpl, 0, sizeof name, name, &offset, &size) >= 0)
            snprintf(storage->place, sizeof storage->place, "raw data stored in external file %.*s",
                     (int)sizeof name - 1, name);
        else
            snprintf(storage->place, sizeof storage->place, "raw data stored in an external file");
        if (!fp_allow_external) {
            snprintf(why, cap, "%s refused (use --allow-external)", storage->place);
            rc = 1;
        } else {
            rc = layout == H5D_VIRTUAL ? virtual_is_hostile(dset, dcpl, why, cap)
                                       : external_storage_is_hostile(dset, dcpl, n_files, why, cap);
        }
    }
    return rc;
}
