/* Keras' architecture JSON (model.to_json(), an HDF5 file's model_config, a
 * .keras zip's config.json) as the layer maps of a Keras tree: which class each
 * layer is and its scalar settings. Used by keras_h5.c and keras_zip.c. */
#include "keras_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Architectures are kilobytes to a few megabytes; anything larger is not one. */
#define MAX_ARCH_BYTES ((long)256 << 20)

static char *read_text(const char *path, fp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fp_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        fp_fail(err, "%s: cannot read: %s", path, strerror(errno));
    else if (size > MAX_ARCH_BYTES)
        fp_fail(err, "%s: %ld bytes is too large for a Keras architecture", path, size);
    else if (!(text = malloc((size_t)size + 1)))
        fp_fail(err, "out of memory");
    else if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        fp_fail(err, "%s: cannot read: %s", path, ferror(f) ? strerror(errno) : "file shrank");
        free(text);
        text = NULL;
    } else {
        text[size] = 0;
    }
    fclose(f);
    return text;
}

int keras_config_load(const char *own_text, const char *file, const char *what, cJSON **out,
                      fp_error *err)
{
    *out = NULL;
    char *arch_text = NULL;
    if (fp_keras_arch) {
        if (!(arch_text = read_text(fp_keras_arch, err)))
            return -1;
        file = fp_keras_arch;
        what = NULL;
        own_text = arch_text;
    }
    if (!own_text)
        return 0;
    const char *end = NULL;
    cJSON *model = cJSON_ParseWithOpts(own_text, &end, 1);
    int rc = 0;
    if (!model) {
        rc = fp_fail(err, "%s: %s%snot valid JSON (near byte %td)", file, what ? what : "",
                     what ? " is " : "", end ? end - own_text : (ptrdiff_t)0);
    } else if (!cJSON_IsObject(model) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(model, "class_name"))) {
        rc = fp_fail(err, "%s: %s%snot a Keras model architecture (no class_name)", file,
                     what ? what : "", what ? " is " : "");
        cJSON_Delete(model);
    } else {
        *out = model;
    }
    free(arch_text);
    return rc;
}

static const char *string_item(const cJSON *object, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

const cJSON *keras_config_layers(const cJSON *model)
{
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(model, "config");
    if (cJSON_IsArray(config))
        return config;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(config, "layers");
    return cJSON_IsArray(layers) ? layers : NULL;
}

const char *keras_layer_name(const cJSON *layer)
{
    const char *name = string_item(cJSON_GetObjectItemCaseSensitive(layer, "config"), "name");
    return name ? name : string_item(layer, "name");
}

const char *keras_layer_class(const cJSON *layer)
{
    return string_item(layer, "class_name");
}

static int is_string(const fp_node *node)
{
    return node && node->kind == FP_STRING;
}

int keras_tree_is_architecture(const fp_node *root)
{
    if (!root || root->kind != FP_MAP || root->type || !is_string(fp_map_get(root, "class_name")))
        return 0;
    const fp_node *config = fp_map_get(root, "config");
    const fp_node *layers = config && config->kind == FP_MAP ? fp_map_get(config, "layers") : config;
    if (!layers || layers->kind != FP_LIST)
        return 0;
    for (size_t i = 0; i < layers->n_children; i++)
        if (layers->children[i]->kind != FP_MAP
            || !is_string(fp_map_get(layers->children[i], "class_name")))
            return 0;
    return 1;
}

static fp_node *typed_map(const char *type, fp_error *err)
{
    fp_node *map = fp_node_new(FP_MAP);
    if (!map || (type && !(map->type = strdup(type)))) {
        fp_node_release(map);
        fp_fail(err, "out of memory");
        return NULL;
    }
    return map;
}

fp_node *keras_new_root(const cJSON *model, fp_error *err)
{
    const char *type = model ? keras_layer_class(model) : NULL;
    return typed_map(type ? type : "Keras", err);
}

fp_node *keras_new_layer(const cJSON *layer, fp_error *err)
{
    fp_node *map = typed_map(layer ? keras_layer_class(layer) : NULL, err);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(layer, "config");
    if (map && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(config, "trainable")))
        map->trainable = 0;
    return map;
}

/* ---------------------------------------------------------------- settings */

/* The shape a list's first elements give, level by level (ZeroPadding2D's
 * [[1, 1], [2, 2]]: 2 x 2), and its rank; 0 when item is no list, a list on
 * the way is empty, or lists nest deeper than FP_MAX_RANK. int_list_values
 * checks that the rest agrees. */
static int int_list_shape(const cJSON *item, uint64_t shape[FP_MAX_RANK])
{
    int rank = 0;
    for (const cJSON *level = item; cJSON_IsArray(level); level = level->child) {
        if (rank == FP_MAX_RANK || !level->child)
            return 0;
        shape[rank++] = (uint64_t)cJSON_GetArraySize(level);
    }
    return rank;
}

/* Whether item (a list of the given shape, from level `depth` down) holds a
 * whole number in int64's range at every place, each list as long as its
 * level says; with out non-NULL, writes them there, advancing *out. */
static int int_list_values(const cJSON *item, const uint64_t *shape, int rank, int depth,
                           int64_t **out)
{
    if (depth == rank) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : 0.5;
        if (!(v == floor(v) && fabs(v) <= 9007199254740992.0))   /* 2^53: exact in a double */
            return -1;
        if (out)
            *(*out)++ = (int64_t)v;
        return 0;
    }
    if (!cJSON_IsArray(item) || (uint64_t)cJSON_GetArraySize(item) != shape[depth])
        return -1;
    const cJSON *child;
    cJSON_ArrayForEach(child, item)
        if (int_list_values(child, shape, rank, depth + 1, out) < 0)
            return -1;
    return 0;
}

/* *out: item as an int64 array when it is a list of whole numbers (strides:
 * [2, 1]; padding: [[1, 1], [2, 2]]). Returns 1 then, 0 when item is no such
 * list (*out NULL), -1 on failure. Integer arrays are settings, never
 * parameters. The list is checked whole before anything is allocated: its
 * first elements alone may claim a shape far beyond its size. */
static int int_list_array(const cJSON *item, fp_node **out, fp_error *err)
{
    uint64_t shape[FP_MAX_RANK];
    int rank = int_list_shape(item, shape);
    *out = NULL;
    if (!rank || int_list_values(item, shape, rank, 0, NULL) < 0)
        return 0;
    fp_node *array = fp_node_new_array(FP_I64, rank, shape, err);
    if (!array)
        return -1;
    int64_t *values = malloc(array->n_elems * sizeof *values), *at = values;
    if (!values) {
        fp_node_release(array);
        return fp_fail(err, "out of memory");
    }
    int_list_values(item, shape, rank, 0, &at);
    array->data = values;
    *out = array;
    return 1;
}

/* A scalar setting as its node; NULL for anything else, and when out of memory. */
static fp_node *scalar_setting(const cJSON *item)
{
    return cJSON_IsString(item) ? fp_node_new_string(item->valuestring)
         : cJSON_IsNumber(item) ? fp_node_new_number(item->valuedouble)
         : cJSON_IsBool(item) ? fp_node_new_bool(cJSON_IsTrue(item))
                              : NULL;
}

int keras_add_settings(fp_node *map, const cJSON *layer, fp_error *err)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(layer, "config")) {
        if (!item->string || !strcmp(item->string, "name") || fp_map_get(map, item->string))
            continue;
        fp_node *value = NULL;
        if (cJSON_IsArray(item)) {
            if (int_list_array(item, &value, err) < 0)
                return -1;
        } else if (cJSON_IsString(item) || cJSON_IsNumber(item) || cJSON_IsBool(item)) {
            if (!(value = scalar_setting(item)))
                return fp_fail(err, "out of memory");
        }
        if (value && fp_node_append(map, item->string, value, err) < 0) {
            fp_node_release(value);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- the input */

/* The one InputLayer among layers (NULL when none or several), and how many
 * there are. */
static const cJSON *only_input_layer(const cJSON *layers, int *count)
{
    const cJSON *layer, *found = NULL;
    *count = 0;
    cJSON_ArrayForEach(layer, layers) {
        const char *class_name = keras_layer_class(layer);
        if (class_name && !strcmp(class_name, "InputLayer") && ++*count == 1)
            found = layer;
    }
    return *count == 1 ? found : NULL;
}

/* A batch shape's list, Keras 3's spelling (batch_shape) or Keras 1 and 2's
 * (batch_input_shape), from a layer's or a model's config. */
static const cJSON *batch_shape_of(const cJSON *config, const char *const *keys)
{
    for (; *keys; keys++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(config, *keys);
        if (cJSON_IsArray(item))
            return item;
    }
    return NULL;
}

int keras_add_input_shape(fp_node *root, const cJSON *model, fp_error *err)
{
    static const char *const layer_keys[] = { "batch_shape", "batch_input_shape", NULL };
    static const char *const model_keys[] = { "build_input_shape", NULL };
    const cJSON *layers = model ? keras_config_layers(model) : NULL;
    if (!layers || fp_map_get(root, KERAS_INPUT_SHAPE))
        return 0;
    int n_inputs;
    const cJSON *input = only_input_layer(layers, &n_inputs), *shape = NULL;
    if (input)
        shape = batch_shape_of(cJSON_GetObjectItemCaseSensitive(input, "config"), layer_keys);
    else if (!n_inputs)   /* a Sequential without InputLayer: its first layer says, or the model */
        shape = batch_shape_of(cJSON_GetObjectItemCaseSensitive(layers->child, "config"), layer_keys);
    if (!shape && !n_inputs)
        shape = batch_shape_of(cJSON_GetObjectItemCaseSensitive(model, "config"), model_keys);
    /* Without the batch dimension; unless Keras gives every other one (a
     * sequence of any length is [null, null, 3]), no input shape. */
    const cJSON *first = shape && shape->child ? shape->child->next : NULL;
    uint64_t rank = 0;
    for (const cJSON *dim = first; dim; dim = dim->next, rank++)
        if (!cJSON_IsNumber(dim) || !(dim->valuedouble >= 1 && dim->valuedouble <= 1e15)
            || dim->valuedouble != floor(dim->valuedouble))
            return 0;
    if (!rank)
        return 0;
    fp_node *array = fp_node_new_array(FP_I64, 1, &rank, err);
    if (!array)
        return -1;
    int64_t *dims = malloc(rank * sizeof *dims);
    if (!dims) {
        fp_node_release(array);
        return fp_fail(err, "out of memory");
    }
    size_t i = 0;
    for (const cJSON *dim = first; dim; dim = dim->next)
        dims[i++] = (int64_t)dim->valuedouble;
    array->data = dims;
    if (fp_node_append(root, KERAS_INPUT_SHAPE, array, err) < 0) {
        fp_node_release(array);
        return -1;
    }
    return 0;
}

int keras_add_child(fp_node *map, const char *key, fp_node *child, const char *file,
                    const char *where, fp_error *err)
{
    if (fp_map_get(map, key))
        return fp_fail(err, "%s: %s: two entries named %s", file, where, key);
    if (!strcmp(key, "moving_mean") || !strcmp(key, "moving_variance"))
        child->trainable = 0;
    return fp_node_append(map, key, child, err);
}
