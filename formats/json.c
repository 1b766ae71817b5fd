/* STUB: replaced by the JSON format. */
#include "flatparams.h"
static int probe(const unsigned char *h, size_t n) { (void)h; (void)n; return 0; }
static int rd(fp_tree *t, fp_error *e) { (void)t; return fp_fail(e, "json: not implemented"); }
static const char *const exts[] = { ".json", NULL };
const fp_format fp_format_json = { .name = "json", .extensions = exts, .probe = probe, .read = rd };
