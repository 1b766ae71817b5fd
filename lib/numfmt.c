/* STUB: replaced by vecio work. */
#include "flatparams.h"
#include <stdio.h>
int fp_format_f64(char *buf, size_t cap, double x) { return snprintf(buf, cap, "%.17g", x); }
int fp_format_f32(char *buf, size_t cap, float x) { return snprintf(buf, cap, "%.9g", (double)x); }
