/* Internal: run a parser in a child process with limits (see isolate.c). */
#ifndef FP_ISOLATE_H
#define FP_ISOLATE_H

#include "flatparams.h"

/* Runs fn(arg, err) in a forked child limited to `seconds` of CPU (and about as
 * much wall time) and memory_bytes of address space (0: no limit). Returns 0 when
 * fn returned 0; else -1 with fn's message, or one saying how the child died,
 * prefixed by `what` (the file). */
int fp_isolated(int (*fn)(void *arg, fp_error *err), void *arg, const char *what,
                int seconds, size_t memory_bytes, fp_error *err)
    __attribute__((visibility("hidden")));

#endif
