/* The vetting of an HDF5 dataset before its data is read or written, shared by
 * the model reader (formats/hdf5_read.c), in-place patching (formats/hdf5.c)
 * and the vector reader (lib/vecio_h5.c): what it may declare, where its bytes
 * may lie, which links and storage may lead out of its file, and which data
 * libhdf5 may only read in a child process. Not part of the public API. */
#ifndef FP_H5_LIMITS_H
#define FP_H5_LIMITS_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* The byte ranges [begin, end) of a file that a reader met: data of datasets
 * and the metadata around them (the superblock, object headers), each with the
 * model path it belongs to. */
enum { H5_EXTENT_DATA, H5_EXTENT_HEADER, H5_EXTENT_SUPERBLOCK };
typedef struct h5_extent {
    uint64_t begin, end;   /* from the file's start */
    size_t owner;          /* index into owners */
    int kind;              /* H5_EXTENT_* */
} h5_extent;

typedef struct h5_extents {
    uint64_t base;         /* the user block's size (from h5_extents_add_superblock) */
    h5_extent *items;
    size_t n, cap;
    char **owners;         /* model paths, owned */
    size_t n_owners, cap_owners;
} h5_extents;

/* Names the owner of the extents added next (a copy is kept). -1 when out of memory. */
int h5_extents_owner(h5_extents *extents, const char *owner);
/* Adds [begin, end) for the current owner; -1 when out of memory. */
int h5_extents_add(h5_extents *extents, uint64_t begin, uint64_t end, int is_data);
/* Adds the object header of obj (an open group or dataset), the whole of it
 * where it is one block. -1 when HDF5 fails or memory runs out. */
int h5_extents_add_header(h5_extents *extents, hid_t obj);
/* Adds the superblock of file, and learns its user block: first. -1 when HDF5 fails or memory runs out. */
int h5_extents_add_superblock(h5_extents *extents, hid_t file);
/* Whether some data overlaps metadata or other data (where writing it in place
 * would destroy the file, and reading it reads something else): 1 with why
 * filled ("/w: its data (bytes a to b) overlaps ..."), else 0. Sorts the list. */
int h5_extents_overlap(h5_extents *extents, char *why, size_t cap);
void h5_extents_free(h5_extents *extents);

/* What h5_vet_dataset learned about a dataset's data. */
typedef struct h5_storage {
    int isolated;    /* read it only in a child process: libhdf5 1.10.8 runs past its
                        buffers on some filtered chunks, virtual datasets and external
                        storage it cannot check beforehand */
    int unchecked;   /* some chunks' places were not checked (too many to look up):
                        reading is isolated, writing in place is refused */
    int external;    /* stored in other files (external raw storage, virtual) */
    char place[300]; /* where, when external: "virtual dataset", "raw data stored in
                        external file NAME" */
} h5_storage;

/* Vets a dataset of n_elems elements before anything is allocated, read or
 * written for it: its element size; a declared size the file cannot hold;
 * contiguous data outside the file or of another size than its shape; compact
 * data other than its header stores; chunks HDF5 cannot read safely (a scalar
 * in chunks, chunks wider than a fixed dimension, unfiltered chunks of another
 * size than a chunk, chunks outside the file); data in other files without
 * --allow-external ("... refused (use --allow-external)"), external files that
 * are not regular files, virtual datasets whose mappings do not fit their
 * source or map onto a virtual dataset (themselves). 1 with why filled when
 * refused; 0 when it may be read as *storage says; -1 when HDF5 fails.
 * extents, when not NULL, receives where its data lies in its file. */
int h5_vet_dataset(hid_t dset, uint64_t n_elems, h5_storage *storage, h5_extents *extents,
                   char *why, size_t cap);

/* The part of h5_vet_dataset for data stored outside the file
 * (lib/h5_external.c), given the dataset's creation properties: sets
 * storage->external (and isolated) and storage->place. */
int h5_vet_outside(hid_t dset, hid_t dcpl, h5_storage *storage, char *why, size_t cap);

/* Access properties (class H5P_LINK_ACCESS, H5P_GROUP_ACCESS or
 * H5P_DATASET_ACCESS) under which external links are refused unless
 * --allow-external; a refused target ("file:/object") is written to refused,
 * H5_REFUSED_CAP bytes (cleared here). Caller closes; H5I_INVALID_HID when
 * HDF5 fails. */
enum { H5_REFUSED_CAP = 512 };
hid_t h5_vetting_access(hid_t plist_class, char *refused);
hid_t h5_vetting_lapl(char *refused);   /* h5_vetting_access(H5P_LINK_ACCESS, ...) */

/* The descriptor through which libhdf5 (its default, POSIX driver) reads an
 * open file, for a child that reads it; -1 when there is none. */
int h5_file_descriptor(hid_t file);

/* The system's reason HDF5's file driver recorded on the current error stack
 * ("..., error message = 'No space left on device', ..."): 1 with it in buf,
 * else 0. */
int h5_system_reason(char *buf, size_t cap);
/* The same from a stack copied with H5Eget_current_stack (which clears the live one). */
int h5_stack_system_reason(hid_t stack, char *buf, size_t cap);

#endif
