/* Internal: run a parser in a child process with limits (see isolate.c). */
#ifndef FP_ISOLATE_H
#define FP_ISOLATE_H

#include "flatparams.h"

/* Runs fn(arg, err) in a forked child limited to `seconds` of CPU (and about as
 * much wall time) and memory_bytes of address space more than the process
 * holds when it forks (0: no limit). Returns 0 when fn returned 0; else -1
 * with fn's message, or one saying how the child died, prefixed by `what`
 * (the file). */
int fp_isolated(int (*fn)(void *arg, fp_error *err), void *arg, const char *what,
                int seconds, size_t memory_bytes, fp_error *err)
    __attribute__((visibility("hidden")));

/* A child process that serves reads, one after another: libhdf5 reading
 * data that vetting could not prove safe. Forked at the first read, so it
 * holds what the process held then (the open file): ctx and what it points to
 * must not change afterwards. */
typedef struct fp_reader_child fp_reader_child;

/* In the child: answers request (request_len bytes) with `bytes` bytes in buf;
 * with buf NULL (bytes 0) only proves that the read succeeds, with memory of
 * its own. 0, or -1 with err set (the child serves on). */
typedef int (*fp_serve_fn)(void *ctx, const void *request, size_t request_len, void *buf,
                           size_t bytes, fp_error *err);

/* Sends request to the child in *child (started first when NULL, keeping of
 * the process's descriptors only keep_fd, the file it reads) and reads its
 * answer of `bytes` bytes into dst (dst NULL: none, the child only proves the
 * read). The child may use work_bytes of memory besides, and about 20 s plus
 * a second per 64 MiB. -1 with serve's message, or one saying how the child
 * died (prefixed by what), after which *child is NULL. */
int fp_child_read(fp_reader_child **child, fp_serve_fn serve, void *ctx, int keep_fd,
                  const void *request, size_t request_len, void *dst, size_t bytes,
                  size_t work_bytes, const char *what, fp_error *err)
    __attribute__((visibility("hidden")));
/* Ends the child (NULL: nothing to do). */
void fp_child_stop(fp_reader_child *child) __attribute__((visibility("hidden")));

#endif
