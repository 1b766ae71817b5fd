/* STUB: replaced by the JSON format. */
#include "flatparams.h"
static int probe(const unsigned char *h, size_t n) { (void)h; (void)n; return 0; }
static int rd(fp_tree *t, fp_error *e) { (void)t; return fp_fail(e, "hdf5: not implemented"); }
static const char *const exts[] = { ".h5", ".hdf5", NULL };
const fp_format fp_format_hdf5 = { .name = "hdf5", .extensions = exts, .probe = probe, .read = rd };
