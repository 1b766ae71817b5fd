/* What an HDF5 dataset may declare before anything is allocated for it, shared
 * by the model reader (formats/hdf5_read.c) and the vector reader
 * (lib/vecio_h5.c). Not part of the public API. */
#ifndef FP_H5_LIMITS_H
#define FP_H5_LIMITS_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Whether a dataset of n_elems declares more bytes (in its file type) than its
 * file can hold, compact data other than its header stores, or chunks HDF5
 * cannot read safely (wider than a fixed dimension; unfiltered but not a
 * chunk's size): checked before anything is allocated or read. 1 with why
 * filled, 0 when it fits, -1 when HDF5 fails. Data stored outside the file is
 * not bounded by it: check first. */
int h5_size_is_hostile(hid_t dset, uint64_t n_elems, char *why, size_t cap);

/* The system's reason HDF5's file driver recorded on the current error stack
 * ("..., error message = 'No space left on device', ..."): 1 with it in buf,
 * else 0. */
int h5_system_reason(char *buf, size_t cap);
/* The same from a stack copied with H5Eget_current_stack (which clears the live one). */
int h5_stack_system_reason(hid_t stack, char *buf, size_t cap);

#endif
