/* Shared by the two Keras readers: keras_h5.c (legacy HDF5 files, read inside
 * the HDF5 format) and keras_zip.c (Keras 3 .keras zips). keras_config.c turns
 * Keras' architecture JSON into the layer maps both build. Not public API.
 *
 * The tree both produce (doc/contract.md §4): a root map (type "Sequential", "Functional",
 * "Model", or "Keras" without an architecture) whose children are one map per
 * layer, keyed by the layer's name, in Keras' order. A layer map's type is the
 * layer's class_name ("Dense", "BatchNormalization"), its arrays come first
 * (kernel, bias, gamma, beta, moving_mean, moving_variance, ...), then the
 * settings of its config: scalars (activation, use_bias, epsilon, trainable,
 * ...) and lists of whole numbers as int64 arrays (strides, kernel_size,
 * ZeroPadding2D's padding [[1, 1], [2, 2]]), which are never parameters.
 * Every layer of the architecture is there, with or without weights (Flatten,
 * MaxPooling2D, InputLayer), so the compute core can run the model; after the
 * layers, the root's input_shape (KERAS_INPUT_SHAPE) when Keras gives it. */
#ifndef FP_KERAS_INTERNAL_H
#define FP_KERAS_INTERNAL_H

#include <cjson/cJSON.h>

#include "flatparams.h"

/* The architecture: the file named by --arch (fp_keras_arch) when set, else
 * own_text (the file's own model_config or config.json; may be NULL). *out is
 * NULL when there is neither; the caller frees it with cJSON_Delete. file and
 * what ("model_config") name the source in messages. */
int keras_config_load(const char *own_text, const char *file, const char *what, cJSON **out,
                      fp_error *err);

/* A model's layer entries: config.layers, or config itself when it is a list
 * (Keras 1 and 2.0 Sequential). NULL when there are none. */
const cJSON *keras_config_layers(const cJSON *model);
/* A layer entry's name (config.name, else name) and class_name, or NULL. */
const char *keras_layer_name(const cJSON *layer);
const char *keras_layer_class(const cJSON *layer);

/* Whether a tree read as JSON is a Keras architecture (model.to_json()): a
 * root with a string class_name and a config whose layers (config.layers, or
 * config itself as a list) are all maps with a string class_name. */
int keras_tree_is_architecture(const fp_node *root);

/* The root map: type from model's class_name, or "Keras" when model is NULL. */
fp_node *keras_new_root(const cJSON *model, fp_error *err);
/* A layer map: type = class_name and trainable = 0 for `trainable: false`;
 * untyped when layer is NULL (a weights file without architecture). */
fp_node *keras_new_layer(const cJSON *layer, fp_error *err);
/* Appends the settings of the layer's config except name, skipping keys the
 * map already has: strings, numbers and booleans as they are; a list of whole
 * numbers, or equal-length lists of them, as an int64 array of rank 1 or
 * more. Other values (maps, nulls, lists of anything else) are left out. */
int keras_add_settings(fp_node *map, const cJSON *layer, fp_error *err);

/* The root's key for the model's input shape: one sample's, without the
 * batch dimension, as an int64 array ([8, 8, 1] for Keras' (None, 8, 8, 1)). */
#define KERAS_INPUT_SHAPE "input_shape"
/* Appends it to root from the model's only InputLayer (batch_shape in Keras
 * 3, batch_input_shape in Keras 1 and 2), else, without InputLayer, from the
 * first layer's batch_input_shape or the model's build_input_shape. Nothing
 * when the model has several inputs, leaves a dimension open (None), or root
 * already has that key (a layer of that name). */
int keras_add_input_shape(fp_node *root, const cJSON *model, fp_error *err);

/* Appends child (a weight, a layer) under key, refusing a key the map already
 * has. moving_mean and moving_variance are batch statistics whatever the
 * layer's type (also without architecture, and in QKeras' QBatchNormalization):
 * they are marked non-trainable. file and where (the map's path) go in messages. */
int keras_add_child(fp_node *map, const char *key, fp_node *child, const char *file,
                    const char *where, fp_error *err);

/* The tree of a Keras 3 weights file (keras3_tree.c): model is config.json
 * (or --arch); arrays stay lazy on state, with their dataset paths as origin. */
struct h5_state;
fp_node *keras3_read_tree(struct h5_state *state, const cJSON *model, fp_error *err);

#endif
