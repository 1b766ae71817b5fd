/* The one error path: a status return plus a message with its context. */
#include "flatparams.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fp_fail(fp_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int fp_fail_prefix(fp_error *err, const char *prefix)
{
    if (err) {
        size_t n_prefix = strlen(prefix), n_old = strlen(err->msg);
        if (n_prefix + 2 >= sizeof err->msg)
            n_prefix = sizeof err->msg - 3;
        if (n_prefix + 2 + n_old >= sizeof err->msg)
            n_old = sizeof err->msg - n_prefix - 3;
        memmove(err->msg + n_prefix + 2, err->msg, n_old);
        memcpy(err->msg, prefix, n_prefix);
        memcpy(err->msg + n_prefix, ": ", 2);
        err->msg[n_prefix + 2 + n_old] = 0;
    }
    return -1;
}
