/* The compute kernels in float: every file below is written once over `real`. */
#define FP_REAL_BITS 32
#include "activations.c"
#include "losses.c"
#include "tangent.c"
#include "compute/layer_files.h"   /* every kind's layers/<kind>.c (layers/registry.h) */
#include "passes.c"
#include "tangent_pass.c"
#include "symmetrise.c"
