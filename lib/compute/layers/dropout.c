/*
 * Dropout (Flux's Dropout and AlphaDropout, Keras', PyTorch's): the
 * identity, as at inference, which is what the gradients and Hessians of a
 * trained model are taken at; so the net leaves it out (LAYER_OMITTED).
 */
#include "../compute_internal.h"   /* (layer.h: what a kind is) */

#ifndef FP_REAL_BITS

static const char *const dropout_aliases[] = { "AlphaDropout", NULL };

const layer_type fp_layer_dropout = {
    .name = "Dropout",
    .aliases = dropout_aliases,
    .flags = LAYER_OMITTED,
    .fields = NULL,
};

#else

#include "../layer_ops.h"

static const layer_ops dropout_ops = { NULL };

#endif
