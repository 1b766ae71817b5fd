/* The tree of a Keras 3 weights file (model.weights.h5 of a .keras zip).
 *
 * Keras 3 names a layer's group after its class, not after the layer
 * (layers/dense, layers/dense_1, ...: the snake_case class name, numbered in
 * model.layers order), and stores its variables as vars/0, vars/1, ... in the
 * order trainable_variables + non_trainable_variables; recent versions also
 * put the layer's name on vars as attribute "name". So config.json gives the
 * layers, their order and names; each finds its group by that attribute, else
 * by the class-derived name. Groups no layer claims still come last, keyed by
 * their group name, so no parameter is ever missing from the vector.
 *
 * Variables are keyed by Keras' attribute names where the class is known and
 * the count agrees (Dense: kernel, bias; BatchNormalization: gamma, beta,
 * moving_mean, moving_variance), by index otherwise (QKeras' QDense: /fc1/0). */
#include "hdf5_internal.h"
#include "keras_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NESTING = 64, MAX_KNOWN = 4 };

typedef struct k3_reader {
    h5_state *state;
    hid_t lapl;
    char refused[H5_REFUSED_CAP];
    fp_error *err;
} k3_reader;

/* Classes whose variables we can name: Keras creates them in this order, each
 * unless the config's flag (when given) is false. */
static const struct known_layer {
    const char *class_name;
    const char *names[MAX_KNOWN];
    const char *flags[MAX_KNOWN];
} known_layers[] = {
    { "Dense", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv1D", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv2D", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv3D", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv1DTranspose", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv2DTranspose", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "Conv3DTranspose", { "kernel", "bias" }, { NULL, "use_bias" } },
    /* Keras 3 calls a depthwise kernel "kernel" (Keras 2: depthwise_kernel) */
    { "DepthwiseConv1D", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "DepthwiseConv2D", { "kernel", "bias" }, { NULL, "use_bias" } },
    { "SeparableConv1D", { "depthwise_kernel", "pointwise_kernel", "bias" }, { NULL, NULL, "use_bias" } },
    { "SeparableConv2D", { "depthwise_kernel", "pointwise_kernel", "bias" }, { NULL, NULL, "use_bias" } },
    { "BatchNormalization", { "gamma", "beta", "moving_mean", "moving_variance" },
      { "scale", "center", NULL, NULL } },
    { "LayerNormalization", { "gamma", "beta" }, { "scale", "center" } },
    { "Embedding", { "embeddings" }, { NULL } },
    { "PReLU", { "alpha" }, { NULL } },
};

/* Fills names when layer's class is known and it has exactly n variables. */
static int known_names(const cJSON *layer, size_t n, const char *names[MAX_KNOWN])
{
    const char *class_name = layer ? keras_layer_class(layer) : NULL;
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(layer, "config");
    for (size_t i = 0; class_name && i < sizeof known_layers / sizeof *known_layers; i++) {
        const struct known_layer *k = &known_layers[i];
        if (strcmp(k->class_name, class_name))
            continue;
        size_t count = 0;
        for (int j = 0; j < MAX_KNOWN && k->names[j]; j++)
            if (!k->flags[j] || !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(config, k->flags[j])))
                names[count++] = k->names[j];
        return count == n;
    }
    return 0;
}

/* Keras' naming.to_snake_case: drop non-word characters, then "_" before
 * each capitalised word and between a lower-case letter and a capital. */
static char *snake_case(const char *class_name)
{
    size_t len = strlen(class_name), o = 0;
    char *word = malloc(len + 1), *out = malloc(3 * len + 1), *tmp = malloc(3 * len + 1);
    if (!word || !out || !tmp) {
        free(word); free(out); free(tmp);
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)class_name; *p; p++)
        if (isalnum(*p) || *p == '_' || *p >= 0x80)
            word[o++] = (char)*p;
    word[o] = 0;
    size_t t = 0;
    for (size_t i = 0; word[i];) {   /* (.)([A-Z][a-z]+) -> \1_\2 */
        if (word[i + 1] && isupper((unsigned char)word[i + 1]) && islower((unsigned char)word[i + 2])) {
            tmp[t++] = word[i];
            tmp[t++] = '_';
            tmp[t++] = word[i + 1];
            for (i += 2; islower((unsigned char)word[i]); i++)
                tmp[t++] = word[i];
        } else {
            tmp[t++] = word[i++];
        }
    }
    tmp[t] = 0;
    o = 0;
    for (size_t i = 0; tmp[i];) {    /* ([a-z])([A-Z]) -> \1_\2 */
        if (islower((unsigned char)tmp[i]) && isupper((unsigned char)tmp[i + 1])) {
            out[o++] = tmp[i];
            out[o++] = '_';
            out[o++] = tmp[i + 1];
            i += 2;
        } else {
            out[o++] = tmp[i++];
        }
    }
    out[o] = 0;
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    free(word);
    free(tmp);
    return out;
}

/* ---- the weights file */

static int fail_hdf5(k3_reader *r, const char *where, const char *what)
{
    return h5_fail_vetted(r->err, r->state->name, where, what, r->refused);
}

static char *join(const char *group, const char *name)
{
    char *path = NULL;
    return asprintf(&path, "%s/%s", strcmp(group, "/") ? group : "", name) < 0 ? NULL : path;
}

/* 1 when the object at path exists, 0 when not, -1 on error. */
static int exists(k3_reader *r, const char *path)
{
    htri_t has = H5Oexists_by_name(r->state->file, path, r->lapl);
    return has < 0 ? fail_hdf5(r, path, "cannot look it up") : has > 0;
}

typedef struct child_list {
    char **names;
    size_t n, cap;
} child_list;

static void children_free(child_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->names[i]);
    free(list->names);
    memset(list, 0, sizeof *list);
}

static herr_t add_child(hid_t group, const char *name, const H5L_info_t *info, void *vlist)
{
    child_list *list = vlist;
    (void)group;
    if (info->type != H5L_TYPE_HARD)   /* Keras writes none; never follow one */
        return 0;
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 16;
        char **names = realloc(list->names, cap * sizeof *names);
        if (!names)
            return -1;
        list->names = names;
        list->cap = cap;
    }
    return (list->names[list->n] = strdup(name)) ? (list->n++, 0) : -1;
}

static int by_number(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

static int all_decimal(const child_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        if (!list->names[i][0] || strspn(list->names[i], "0123456789") != strlen(list->names[i]))
            return 0;
    return 1;
}

/* The hard links of a group in name order (numeric order when all are
 * numbers), only the sub-groups when groups_only. */
static int list_children(k3_reader *r, const char *path, int groups_only, child_list *out)
{
    memset(out, 0, sizeof *out);
    hsize_t at = 0;
    if (H5Literate_by_name(r->state->file, path, H5_INDEX_NAME, H5_ITER_INC, &at, add_child, out,
                           r->lapl) < 0) {
        children_free(out);
        return fail_hdf5(r, path, "cannot list group");
    }
    if (out->n > 1 && all_decimal(out))
        qsort(out->names, out->n, sizeof *out->names, by_number);
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        char *child = join(path, out->names[i]);
        H5O_info_t info;
        int keep = !groups_only;
        if (!child || (groups_only && H5Oget_info_by_name2(r->state->file, child, &info,
                                                          H5O_INFO_BASIC, r->lapl) < 0)) {
            int rc = child ? fail_hdf5(r, child, "cannot inspect object") : fp_fail(r->err, "out of memory");
            free(child);
            children_free(out);
            return rc;
        }
        keep |= groups_only && info.type == H5O_TYPE_GROUP;
        free(child);
        if (keep)
            out->names[kept++] = out->names[i];
        else
            free(out->names[i]);
    }
    out->n = kept;
    return 0;
}

/* The layer name Keras put on group/vars, or NULL. */
static char *owner_of(k3_reader *r, const char *group)
{
    char *vars = join(group, "vars"), *name = NULL;
    htri_t has = vars && exists(r, vars) > 0 ? H5Aexists_by_name(r->state->file, vars, "name", r->lapl) : 0;
    hid_t attr = has > 0 ? H5Aopen_by_name(r->state->file, vars, "name", H5P_DEFAULT, r->lapl) : H5I_INVALID_HID;
    fp_node *value = attr >= 0 ? h5_read_value(attr, 1, 1 << 16, r->state->name, vars, r->err) : NULL;
    if (value && value->kind == FP_STRING)
        name = strdup(value->str);
    fp_node_release(value);
    if (attr >= 0)
        H5Aclose(attr);
    H5Eclear2(H5E_DEFAULT);
    free(vars);
    return name;
}

/* ---- building the tree */

static int read_saveable(k3_reader *r, const char *group, const char *model_path,
                         const cJSON *layer, fp_node *map, int depth);

static int read_vars(k3_reader *r, const char *group, const char *model_path, const cJSON *layer,
                     fp_node *map)
{
    char *vars = join(group, "vars");
    int has = vars ? exists(r, vars) : fp_fail(r->err, "out of memory");
    child_list list = { 0 };
    if (has > 0 && list_children(r, vars, 0, &list) < 0)
        has = -1;
    if (has <= 0) {
        free(vars);
        return has;
    }
    const char *names[MAX_KNOWN];
    int named = all_decimal(&list) && known_names(layer, list.n, names);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        const char *key = named ? names[i] : list.names[i];
        char *origin = join(vars, list.names[i]), *path = NULL;
        fp_node *node = NULL;
        if (!origin || asprintf(&path, "%s/%s", model_path, key) < 0) {
            path = NULL;
            rc = fp_fail(r->err, "out of memory");
        } else if (!(node = h5_read_dataset_at(r->state, origin, path, r->err))) {
            rc = -1;
        } else {
            node->raw_offset = -1;   /* it points into the extracted weights file, not the zip */
            rc = keras_add_child(map, key, node, r->state->name, *model_path ? model_path : "/", r->err);
            if (rc < 0)
                fp_node_release(node);
        }
        free(origin);
        free(path);
    }
    children_free(&list);
    free(vars);
    return rc;
}

/* A nested saveable keyed by its group name (a group no layer claims, a
 * layer's sublayer): untyped, index keys. */
static int read_untyped(k3_reader *r, const char *group, const char *name, const char *model_path,
                        fp_node *map, int depth)
{
    char *child = join(group, name), *path = NULL;
    fp_node *sub = fp_node_new(FP_MAP);
    int rc = child && sub && asprintf(&path, "%s/%s", model_path, name) >= 0 ? 0
           : fp_fail(r->err, "out of memory");
    if (rc == 0)
        rc = read_saveable(r, child, path, NULL, sub, depth + 1);
    if (rc == 0)
        rc = keras_add_child(map, name, sub, r->state->name, *model_path ? model_path : "/", r->err);
    if (rc < 0)
        fp_node_release(sub);
    free(child);
    free(path);
    return rc;
}

/* A model's layers: config order, each layer's group found by owner name or
 * by snake_case class name and count; then the groups nobody claimed. */
static int read_layers(k3_reader *r, const char *group, const char *model_path, const cJSON *layers,
                       fp_node *map, int depth)
{
    child_list groups = { 0 };
    int has = exists(r, group);
    if (has < 0 || (has && list_children(r, group, 1, &groups) < 0))
        return -1;
    size_t n_layers = (size_t)cJSON_GetArraySize(layers);
    char **owners = calloc(groups.n + 1, sizeof *owners), **snakes = calloc(n_layers + 1, sizeof *snakes);
    unsigned char *used = calloc(groups.n + 1, 1);
    int rc = owners && snakes && used ? 0 : fp_fail(r->err, "out of memory");
    for (size_t g = 0; rc == 0 && g < groups.n; g++) {
        char *path = join(group, groups.names[g]);
        owners[g] = path ? owner_of(r, path) : NULL;
        free(path);
    }
    const cJSON *entry;
    size_t i = 0;
    cJSON_ArrayForEach(entry, layers) {
        const char *name = keras_layer_name(entry), *class_name = keras_layer_class(entry);
        if (rc < 0 || !name || !(snakes[i] = snake_case(class_name ? class_name : ""))) {
            if (rc == 0 && name)
                rc = fp_fail(r->err, "out of memory");
            i++;
            continue;
        }
        size_t count = 0;
        for (size_t j = 0; j < i; j++)
            count += snakes[j] && !strcmp(snakes[j], snakes[i]);
        char guess[512];
        snprintf(guess, sizeof guess, count ? "%s_%zu" : "%s", snakes[i], count);
        size_t g = 0;
        while (g < groups.n && (used[g] || !owners[g] || strcmp(owners[g], name)))
            g++;
        for (size_t h = 0; g == groups.n && h < groups.n; h++)
            if (!used[h] && !owners[h] && !strcmp(groups.names[h], guess))
                g = h;
        char *path = NULL, *child = g < groups.n ? join(group, groups.names[g]) : NULL;
        fp_node *layer = keras_new_layer(entry, r->err);
        if (!layer || asprintf(&path, "%s/%s", model_path, name) < 0 || (g < groups.n && !child)) {
            path = NULL;
            rc = layer ? fp_fail(r->err, "out of memory") : -1;
        } else if (g < groups.n) {
            used[g] = 1;
            rc = read_saveable(r, child, path, entry, layer, depth + 1);
        }
        if (rc == 0 && (rc = keras_add_settings(layer, entry, r->err)) == 0)
            rc = keras_add_child(map, name, layer, r->state->name, *model_path ? model_path : "/", r->err);
        if (rc < 0 && layer && !layer->refs)
            fp_node_release(layer);
        free(child);
        free(path);
        i++;
    }
    for (size_t g = 0; rc == 0 && g < groups.n; g++)
        if (!used[g])
            rc = read_untyped(r, group, groups.names[g], model_path, map, depth);
    for (size_t g = 0; owners && g < groups.n; g++)
        free(owners[g]);
    for (size_t j = 0; snakes && j < n_layers; j++)
        free(snakes[j]);
    free(owners);
    free(snakes);
    free(used);
    children_free(&groups);
    return rc;
}

/* One saveable's own variables, then: a model's layers (only those: the
 * optimizer's and metrics' state are not parameters), or any other object's
 * sub-groups in name order (Keras walks attributes sorted by name). */
static int read_saveable(k3_reader *r, const char *group, const char *model_path,
                         const cJSON *layer, fp_node *map, int depth)
{
    if (depth > MAX_NESTING)
        return fp_fail(r->err, "%s: %s: objects nested too deeply", r->state->name, group);
    if (read_vars(r, group, model_path, layer, map) < 0)
        return -1;
    const cJSON *layers = layer ? keras_config_layers(layer) : NULL;
    if (layers) {
        char *path = join(group, "layers");
        int rc = path ? read_layers(r, path, model_path, layers, map, depth)
                      : fp_fail(r->err, "out of memory");
        free(path);
        return rc;
    }
    child_list subs;
    if (list_children(r, group, 1, &subs) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < subs.n; i++)
        if (strcmp(subs.names[i], "vars") && (depth > 0 || strcmp(subs.names[i], "optimizer")))
            rc = read_untyped(r, group, subs.names[i], model_path, map, depth);
    children_free(&subs);
    return rc;
}

int keras3_weights_detect(hid_t root)
{
    static const char *const groups[] = { "layers", "vars" };
    for (int i = 0; i < 2; i++) {
        H5L_info_t link;
        H5O_info_t info;
        htri_t has = H5Lexists(root, groups[i], H5P_DEFAULT);
        if (has <= 0)
            return has < 0 ? -1 : 0;
        if (H5Lget_info(root, groups[i], &link, H5P_DEFAULT) < 0)
            return -1;
        if (link.type != H5L_TYPE_HARD)   /* never follow a link to decide */
            return 0;
        if (H5Oget_info_by_name2(root, groups[i], &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
            return -1;
        if (info.type != H5O_TYPE_GROUP)
            return 0;
    }
    return 1;
}

fp_node *keras3_read_tree(h5_state *state, const cJSON *model, fp_error *err)
{
    k3_reader r = { .state = state, .err = err };
    fp_node *root = keras_new_root(model, err);
    if (!root)
        return NULL;
    if ((r.lapl = h5_vetting_lapl(r.refused)) < 0) {
        fail_hdf5(&r, "/", "cannot set up HDF5 access");
        fp_node_release(root);
        return NULL;
    }
    if (read_saveable(&r, "/", "", model, root, 0) < 0 || keras_add_input_shape(root, model, err) < 0) {
        fp_node_release(root);
        root = NULL;
    }
    H5Pclose(r.lapl);
    return root;
}
