/* Keras legacy HDF5 files (doc/contract.md §4): model.save("m.h5") files (a model_config
 * attribute, the weights under model_weights) and save_weights files
 * (layer_names at the root), in Keras' own order: layer_names x weight_names,
 * which is the order of Keras' trainable_weights. Layers the architecture has
 * and layer_names leaves out (Keras 3's model.save does not list a
 * Sequential's InputLayer) are in the tree too, in their architecture place.
 *
 * The HDF5 reader hands these files here (h5_read), so the tree's format stays
 * "hdf5": every array is lazy and keeps its real dataset path as origin, and
 * rebuild patches a byte copy of the file through it. Keras loads the result,
 * and nothing but the parameter values changes. */
#include "hdf5_internal.h"
#include "keras_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct keras_reader {
    h5_state *state;
    hid_t root;
    hid_t lapl;                     /* refuses external links on paths the file names */
    char refused[H5_REFUSED_CAP];
    const char *weights;            /* the group of the layer groups: "." or "model_weights" */
    fp_error *err;
} keras_reader;

int keras_h5_detect(hid_t root)
{
    static const char *const list_names[] = { "layer_names", "layer_names0" };
    for (int i = 0; i < 2; i++) {
        htri_t has = H5Aexists(root, list_names[i]);
        if (has != 0)
            return has > 0 ? 1 : -1;
    }
    htri_t has = H5Aexists(root, "model_config");
    if (has <= 0)
        return has < 0 ? -1 : 0;
    if ((has = H5Lexists(root, "model_weights", H5P_DEFAULT)) <= 0)
        return has < 0 ? -1 : 0;
    H5L_info_t link;
    H5O_info_t info;
    if (H5Lget_info(root, "model_weights", &link, H5P_DEFAULT) < 0)
        return -1;
    if (link.type != H5L_TYPE_HARD)   /* never follow a link to decide */
        return 0;
    if (H5Oget_info_by_name2(root, "model_weights", &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return -1;
    return info.type == H5O_TYPE_GROUP;
}

static int fail_hdf5(keras_reader *k, const char *where, const char *what)
{
    return h5_fail_vetted(k->err, k->state->name, where, what, k->refused);
}

/* Moves the strings of one attribute's value into names. Keras writes an empty
 * float64 array (shape (0,)) for a layer without weights. */
static int take_strings(keras_reader *k, fp_node *names, fp_node *value, const char *where)
{
    if (value->kind == FP_STRING)
        return fp_node_append(names, NULL, value, k->err);
    if (value->kind != FP_LIST)
        return fp_fail(k->err, "%s: %s: not a list of names", k->state->name, where);
    for (size_t i = 0; i < value->n_children; i++) {
        if (value->children[i]->kind != FP_STRING)
            return fp_fail(k->err, "%s: %s: not a list of names", k->state->name, where);
        if (fp_node_append(names, NULL, value->children[i], k->err) < 0)
            return -1;
    }
    return 0;
}

/* A list of names the way Keras' load_attributes_from_hdf5_group reads it:
 * attribute `name`, or, when h5py's 64 KiB header limit made Keras split it,
 * name0, name1, ... in turn. object is the group ("." for the root). */
static fp_node *read_names(keras_reader *k, const char *object, const char *name)
{
    fp_node *names = fp_node_new(FP_LIST);
    if (!names) {
        fp_fail(k->err, "out of memory");
        return NULL;
    }
    char group[1100], attr_name[300], where[1500];
    snprintf(group, sizeof group, "/%s", strcmp(object, ".") ? object : "");
    int rc = 0, found = 0;
    for (int chunk = -1; rc == 0; chunk++) {
        if (chunk < 0)
            snprintf(attr_name, sizeof attr_name, "%s", name);
        else
            snprintf(attr_name, sizeof attr_name, "%s%d", name, chunk);
        snprintf(where, sizeof where, "%s%s%s", group, strcmp(group, "/") ? "/" : "", attr_name);
        htri_t has = H5Aexists_by_name(k->root, object, attr_name, k->lapl);
        if (has < 0) {
            rc = fail_hdf5(k, group, "cannot read its attributes");
            break;
        }
        if (!has) {
            if (chunk >= 0 && !found)
                rc = fp_fail(k->err, "%s: %s: no attribute %s (Keras' list of %s)", k->state->name,
                             group, name, strcmp(name, "layer_names") ? "weights" : "layers");
            if (chunk >= 0)
                break;
            continue;
        }
        found = 1;
        hid_t attr = H5Aopen_by_name(k->root, object, attr_name, H5P_DEFAULT, k->lapl);
        fp_node *value = attr >= 0 ? h5_read_value(attr, 1, H5_MAX_ATTRIBUTE_BYTES, k->state->name,
                                                   where, k->err)
                                   : NULL;
        if (attr < 0)
            rc = fail_hdf5(k, where, "cannot open attribute");
        else if (!value || take_strings(k, names, value, where) < 0)
            rc = -1;
        if (attr >= 0)
            H5Aclose(attr);
        if (value && !value->refs)
            fp_node_release(value);
        if (chunk < 0)
            break;   /* the whole list in one attribute */
    }
    if (rc < 0) {
        fp_node_release(names);
        return NULL;
    }
    return names;
}

/* The key of a weight inside its layer: the name without the leading
 * "<layer>/" and the trailing ":0" (bn1/gamma:0 -> gamma). Keras 3 writes
 * variable paths, "<model>/<layer>/<weight>" (sequential/bn/moving_mean): there
 * everything through the first "/<layer>/" goes. What is left keeps any further
 * slashes (forward_lstm_4/kernel): keys never invent nesting. Keras 1 names
 * (dense_1_W) stay as they are. */
static char *weight_key(const char *layer, const char *weight)
{
    size_t n = strlen(layer);
    const char *rest = weight;
    if (!strncmp(weight, layer, n) && weight[n] == '/' && weight[n + 1]) {
        rest = weight + n + 1;
    } else {
        for (const char *at = strchr(weight, '/'); at; at = strchr(at + 1, '/'))
            if (!strncmp(at + 1, layer, n) && at[n + 1] == '/' && at[n + 2]) {
                rest = at + n + 2;
                break;
            }
    }
    size_t len = strlen(rest);
    if (len > 2 && !strcmp(rest + len - 2, ":0"))
        len -= 2;
    return strndup(rest, len);
}

/* The weights of one layer: datasets of the layer group, named by its
 * weight_names, in that order (a weight name with '/' lives in sub-groups). */
static int read_layer(keras_reader *k, const char *layer_name, fp_node *layer)
{
    char *object = NULL, *origin = NULL, *key = NULL, *model_path = NULL, where[1100];
    int local = !strcmp(k->weights, ".");
    if (asprintf(&object, "%s%s%s", local ? "" : k->weights, local ? "" : "/", layer_name) < 0)
        return fp_fail(k->err, "out of memory");
    fp_node *names = read_names(k, object, "weight_names");
    int rc = names ? 0 : -1;
    snprintf(where, sizeof where, "/%s", layer_name);
    for (size_t i = 0; rc == 0 && i < names->n_children; i++) {
        const char *weight = names->children[i]->str;
        fp_node *node = NULL;
        if (!(key = weight_key(layer_name, weight))
            || asprintf(&origin, "/%s/%s", object, weight) < 0
            || asprintf(&model_path, "/%s/%s", layer_name, key) < 0) {
            origin = model_path = NULL;
            rc = fp_fail(k->err, "out of memory");
        } else if (!(node = h5_read_dataset_at(k->state, origin, model_path, k->err))) {
            rc = -1;
        } else {
            rc = keras_add_child(layer, key, node, k->state->name, where, k->err);
            if (rc < 0)
                fp_node_release(node);
        }
        free(key);
        free(origin);
        free(model_path);
        key = origin = model_path = NULL;
    }
    fp_node_release(names);
    free(object);
    return rc;
}

/* The root's model_config as text, or NULL (with *failed = 0) when absent. */
static char *model_config_text(keras_reader *k, int *failed)
{
    *failed = 0;
    htri_t has = H5Aexists(k->root, "model_config");
    hid_t attr = has > 0 ? H5Aopen(k->root, "model_config", H5P_DEFAULT) : H5I_INVALID_HID;
    fp_node *value = NULL;
    char *text = NULL;
    if (has < 0 || (has > 0 && attr < 0)) {
        *failed = fail_hdf5(k, "/model_config", "cannot read attribute");
    } else if (has > 0 && (value = h5_read_value(attr, 1, H5_MAX_ATTRIBUTE_BYTES, k->state->name,
                                                  "/model_config", k->err))) {
        if (value->kind != FP_STRING)
            *failed = fp_fail(k->err, "%s: /model_config: not a string", k->state->name);
        else if (!(text = strdup(value->str)))
            *failed = fp_fail(k->err, "out of memory");
    } else if (has > 0) {
        *failed = -1;
    }
    fp_node_release(value);
    if (attr >= 0)
        H5Aclose(attr);
    return text;
}

/* Layer `name` of the tree: its class and settings from entry (NULL without
 * an architecture), its weights from its group when it has one (listed). */
static int add_layer(keras_reader *k, fp_node *tree, const char *name, const cJSON *entry,
                     int listed)
{
    if (fp_map_get(tree, name))
        return fp_fail(k->err, "%s: /%s: two layers of that name", k->state->name, name);
    fp_node *layer = keras_new_layer(entry, k->err);
    int rc = layer ? 0 : -1;
    if (rc == 0 && ((listed && read_layer(k, name, layer) < 0)
                    || keras_add_settings(layer, entry, k->err) < 0
                    || fp_node_append(tree, name, layer, k->err) < 0))
        rc = -1;
    if (rc < 0 && layer && !layer->refs)
        fp_node_release(layer);
    return rc;
}

/* The index of each layer_names entry among the architecture's layers (-1:
 * not there); listed[i] marks the architecture's layers layer_names has. */
static int place_names(keras_reader *k, const fp_node *names, const cJSON *layers, long *index,
                       unsigned char *listed)
{
    for (size_t i = 0; i < names->n_children; i++) {
        index[i] = -1;
        long at = 0;
        const cJSON *layer;
        cJSON_ArrayForEach(layer, layers) {
            const char *name = keras_layer_name(layer);
            if (name && !strcmp(name, names->children[i]->str)) {
                if (listed[at])
                    return fp_fail(k->err, "%s: /%s: layer named twice in layer_names",
                                   k->state->name, name);
                index[i] = at;
                listed[at] = 1;
                break;
            }
            at++;
        }
    }
    return 0;
}

/* The layers, in layer_names order (the order of Keras' weights, so of the
 * vector), with the architecture's layers that layer_names leaves out (Keras
 * 3 does not list a Sequential's InputLayer) each placed before the first
 * listed layer that follows it in the architecture, or last. */
static int read_layers(keras_reader *k, fp_node *tree, const fp_node *names, const cJSON *layers)
{
    size_t n_layers = layers ? (size_t)cJSON_GetArraySize(layers) : 0;
    long *index = calloc(names->n_children + 1, sizeof *index);
    unsigned char *listed = calloc(n_layers + 1, 1);
    int rc = index && listed ? place_names(k, names, layers, index, listed)
                             : fp_fail(k->err, "out of memory");
    const cJSON *unlisted = layers ? layers->child : NULL;   /* the next one not yet placed */
    long unlisted_at = 0;
    for (size_t i = 0; rc == 0 && i <= names->n_children; i++) {
        long until = i < names->n_children ? index[i] : (long)n_layers;
        for (; rc == 0 && unlisted && unlisted_at < until; unlisted = unlisted->next, unlisted_at++) {
            const char *name = keras_layer_name(unlisted);
            if (!listed[unlisted_at] && name)
                rc = add_layer(k, tree, name, unlisted, 0);
        }
        if (rc == 0 && i < names->n_children) {
            const char *name = names->children[i]->str;
            const cJSON *entry = index[i] >= 0 ? cJSON_GetArrayItem(layers, (int)index[i]) : NULL;
            if (fp_map_get(tree, name))
                rc = fp_fail(k->err, "%s: /%s: layer named twice in layer_names", k->state->name,
                             name);
            else
                rc = add_layer(k, tree, name, entry, 1);
        }
    }
    free(index);
    free(listed);
    return rc;
}

fp_node *keras_h5_read(h5_state *state, hid_t root, fp_error *err)
{
    keras_reader k = { .state = state, .root = root, .err = err };
    htri_t weights_only = H5Aexists(root, "layer_names");
    if (weights_only == 0)
        weights_only = H5Aexists(root, "layer_names0");
    k.weights = weights_only > 0 ? "." : "model_weights";
    if (weights_only < 0 || (k.lapl = h5_vetting_lapl(k.refused)) < 0) {
        fail_hdf5(&k, "/", "cannot read its attributes");
        return NULL;
    }
    int failed;
    char *text = model_config_text(&k, &failed);
    cJSON *model = NULL;
    fp_node *tree = NULL, *names = NULL;
    if (!failed && keras_config_load(text, state->name, "/model_config", &model, err) == 0) {
        tree = keras_new_root(model, err);
        names = tree ? read_names(&k, k.weights, "layer_names") : NULL;
    }
    if (!names || read_layers(&k, tree, names, model ? keras_config_layers(model) : NULL) < 0
        || keras_add_input_shape(tree, model, err) < 0) {
        fp_node_release(tree);
        tree = NULL;
    }
    fp_node_release(names);
    cJSON_Delete(model);
    free(text);
    H5Pclose(k.lapl);
    return tree;
}
