/* The compute kernels in double: every file below is written once over `real`. */
#define FP_REAL_BITS 64
#include "activations.c"
#include "layers.c"
#include "losses.c"
#include "passes.c"
#include "tangent.c"
#include "tangent_pass.c"
#include "symmetrise.c"
