/*
 * Keras' InputLayer: where a Functional or Sequential model's input comes
 * in; nothing to compute, so the net leaves it out (LAYER_OMITTED).
 */
#include "../compute_internal.h"   /* (layer.h: what a kind is) */

#ifndef FP_REAL_BITS

static const char *const input_aliases[] = { "InputLayer", NULL };

const layer_type fp_layer_input = {
    .name = NULL,   /* Flux has none: messages list it with the other tools' names */
    .aliases = input_aliases,
    .flags = LAYER_OMITTED,
    .fields = NULL,
};

#else

#include "../layer_ops.h"

static const layer_ops input_ops = { NULL };

#endif
