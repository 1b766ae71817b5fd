/*
 * Activation (Flux's and Keras' Activation layer): its activation of its
 * input, and nothing else, so no ops of its own: the passes apply every
 * layer's activation (layer.h's LAYER_ONLY_ACTIVATION).
 */
#include "../compute_internal.h"   /* (layer.h: what a kind is) */

#ifndef FP_REAL_BITS

static const char *const *const activation_fields[] = { layer_activation_keys, NULL };

const layer_type fp_layer_activation = {
    .name = "Activation",
    .aliases = NULL,
    .flags = LAYER_ONLY_ACTIVATION | LAYER_HAS_ACTIVATION | LAYER_SAMPLEWISE,
    .fields = activation_fields,
};

#else

#include "../layer_ops.h"

static const layer_ops activation_ops = { NULL };

#endif
