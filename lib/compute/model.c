/*
 * From a model tree to a net: the layer list, each parameter resolved to the
 * flat vector (selected) or the constants (everything else), the widths checked
 * from layer to layer. The Chains are walked here; each layer is read by its
 * kind (layers/<kind>.c, found by name through the registry) with the
 * layer_* calls below. Errors name the file and the model path, and list what
 * is supported, because a model from another tool most often fails here.
 */
#include "compute_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

/* The containers of layers: Flux's Chain, PyTorch's and Keras' Sequential,
 * Keras' Functional models (merges such as Add or Concatenate are not
 * supported layers, so one whose layers are all supported is a chain in
 * layer order). */
static int is_chain(const char *type)
{
    static const char *const names[] = { "Chain", "Sequential", "Functional", "Model", NULL };
    for (const char *const *name = names; *name; name++)
        if (!strcmp(type, *name))
            return 1;
    return 0;
}

/* What a layer may be, for messages: Flux's names first, then other tools'. */
static void list_layer_names(char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "Chain");
    for (size_t i = 0; i < fp_n_layer_types && len < cap; i++)
        if (fp_layer_types[i]->name)
            len += (size_t)snprintf(buf + len, cap - len, ", %s", fp_layer_types[i]->name);
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len, ", Sequential");
    for (size_t i = 0; i < fp_n_layer_types && len < cap; i++)
        for (const char *const *alias = fp_layer_types[i]->aliases; alias && *alias && len < cap;
             alias++)
            len += (size_t)snprintf(buf + len, cap - len, ", %s", *alias);
    if (len < cap)
        snprintf(buf + len, cap - len, ", Functional, Model");
}

typedef struct named_act {
    const char *name;
    act_kind act;
} named_act;

static const named_act act_names[] = {
    { "identity", ACT_IDENTITY }, { "relu", ACT_RELU }, { "leakyrelu", ACT_LEAKYRELU },
    { "elu", ACT_ELU }, { "selu", ACT_SELU }, { "gelu", ACT_GELU }, { "sigmoid", ACT_SIGMOID },
    { "tanh", ACT_TANH }, { "softplus", ACT_SOFTPLUS }, { "swish", ACT_SWISH },
    { "softmax", ACT_SOFTMAX }, { "logsoftmax", ACT_LOGSOFTMAX }, { "gelu_tanh", ACT_GELU_TANH },
    /* not Keras' leaky_relu: its slope is 0.2 */
    { "linear", ACT_IDENTITY }, { "gelu_erf", ACT_GELU },
    { "σ", ACT_SIGMOID }, { "silu", ACT_SWISH }, { "log_softmax", ACT_LOGSOFTMAX },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *const layer_activation_keys[] = { "activation", "σ", "λ", NULL };

const fp_node *layer_field(const fp_node *map, const char *const *keys, const char **key)
{
    for (const char *const *k = keys; *k; k++) {
        const fp_node *child = fp_map_get(map, *k);
        if (child && child->kind != FP_NULL && !(child->kind == FP_BOOLEAN && !child->boolean)) {
            *key = *k;
            return child;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- the builder */

typedef struct constant {
    const fp_node *node;
    char *path;
    uint64_t offset;
} constant;

/* A file can share a Chain (JSON $ref, HDF5 hard links) and share it again
 * inside, so its layers expand to 2^depth: a 3 KB file to 10^12 layers. This
 * many layers and lists of layers (each use of a shared one counted) are
 * the most a model may expand to. */
enum { MAX_EXPANDED_LAYERS = 100000 };

struct layer_reader {
    fp_net *net;
    size_t n_expanded;     /* add_node calls so far */
    const fp_layout *layout;
    const char *source;
    fp_error *err;
    size_t cap_layers;
    constant *consts;
    size_t n_consts, cap_consts;
    uint64_t width;        /* features leaving the layers so far; 0 = not fixed yet */
    int any_param;         /* a layer so far uses the flat vector */
};
typedef layer_reader builder;

int layer_fail(builder *b, const char *path, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (b->source)
        return fp_fail(b->err, "%s: %s: %s", b->source, *path ? path : "/", what);
    return fp_fail(b->err, "%s: %s", *path ? path : "/", what);
}

int layer_no_memory(builder *b)
{
    return fp_fail(b->err, "out of memory");
}

char *layer_join(const char *base, const char *key)
{
    size_t n = strlen(base) + strlen(key) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", base, key);
    return path;
}

const char *layer_node_kind(fp_kind kind)
{
    static const char *const names[] = { "map", "list", "array", "string", "number", "bool", "null" };
    return names[kind];
}

int layer_train_mode(const builder *b)
{
    return b->net->train_mode;
}

void *layer_settings(builder *b, layer *l, size_t size)
{
    if (!(l->settings = calloc(1, size)))
        layer_no_memory(b);
    return l->settings;
}

/* Grows *items (n used of *cap) so that one more fits. */
static int room_for_one(builder *b, void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t grown_cap = *cap ? 2 * *cap : 8;
    void *grown = realloc(*items, grown_cap * size);
    if (!grown)
        return layer_no_memory(b);
    *items = grown;
    *cap = grown_cap;
    return 0;
}

int layer_take_array(builder *b, const fp_node *node, const char *path, uint64_t want, slot *out)
{
    if (node->kind != FP_ARRAY)
        return layer_fail(b, path, "expected an array, found a %s", layer_node_kind(node->kind));
    if (fp_dtype_is_complex(node->dtype))
        return layer_fail(b, path, "complex parameters are not supported by predict and gradient");
    if (node->n_elems != want)
        return layer_fail(b, path, "has %llu elements, expected %llu",
                          (unsigned long long)node->n_elems, (unsigned long long)want);
    const fp_param *param = fp_layout_find(b->layout, node);
    if (param) {
        *out = (slot){ SLOT_PARAM, param->offset, want };
        b->any_param = 1;
        return 0;
    }
    if (room_for_one(b, (void **)&b->consts, &b->cap_consts, b->n_consts, sizeof *b->consts) < 0)
        return -1;
    constant *c = &b->consts[b->n_consts];
    if (!(c->path = strdup(path)))
        return layer_no_memory(b);
    c->node = node;
    *out = (slot){ SLOT_CONST, b->n_consts++, want };   /* placed by place_constants */
    return 0;
}

int layer_take_field(builder *b, const fp_node *node, const char *path, const char *key,
                     uint64_t *n, slot *out)
{
    char *at = layer_join(path, key);
    if (!at)
        return layer_no_memory(b);
    if (!*n && node->kind == FP_ARRAY)
        *n = node->n_elems;
    int rc = layer_take_array(b, node, at, *n, out);
    free(at);
    return rc;
}

int layer_fix_width(builder *b, const char *path, const char *what, uint64_t in, uint64_t out)
{
    if (in > b->net->backend->max_dim || out > b->net->backend->max_dim)
        return layer_fail(b, path, "%s is wider than the %s backend takes (%zu)", what,
                          b->net->backend->name, b->net->backend->max_dim);
    if (b->width && b->width != in)
        return layer_fail(b, path, "takes %llu inputs (%s), but the layers before it give %llu",
                          (unsigned long long)in, what, (unsigned long long)b->width);
    if (!b->width && !b->net->in_features) {
        b->net->in_features = in;
        size_t n = strlen(path) + strlen(what) + 8;
        if (!(b->net->in_why = malloc(n)))
            return layer_no_memory(b);
        snprintf(b->net->in_why, n, "%s: %s", *path ? path : "/", what);
    }
    b->width = out;
    return 0;
}

static int parse_activation(builder *b, const fp_node *map, const char *path, act_kind *act)
{
    const char *key;
    const fp_node *node = layer_field(map, layer_activation_keys, &key);
    *act = ACT_IDENTITY;
    if (!node)
        return 0;
    char *at = layer_join(path, key);
    if (!at)
        return layer_no_memory(b);
    int rc = 0;
    size_t i = 0;
    if (node->kind != FP_STRING) {
        rc = layer_fail(b, at, "expected an activation name, found a %s",
                        layer_node_kind(node->kind));
    } else {
        while (i < COUNT(act_names) && strcmp(act_names[i].name, node->str))
            i++;
        if (i == COUNT(act_names)) {
            char names[512];
            size_t len = 0;
            for (size_t j = 0; j < COUNT(act_names) && len < sizeof names; j++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", j ? ", " : "",
                                        act_names[j].name);
            rc = layer_fail(b, at, "unknown activation '%s' (supported: %s)", node->str, names);
        } else {
            *act = act_names[i].act;
        }
    }
    free(at);
    return rc;
}

/* Whether a and b (ASCII, 4 characters or more) are one edit apart: a letter
 * changed, added, dropped, or two neighbours swapped. */
static int one_edit_apart(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return 0;
    if (la < 4 || lb < 4 || la > lb + 1 || lb > la + 1 || !strcmp(a, b))
        return 0;
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    if (la == lb)   /* one changed, or a[i..i+1] swapped */
        return !strcmp(a + i + 1, b + i + 1)
               || (a[i + 1] == b[i] && a[i] == b[i + 1] && !strcmp(a + i + 2, b + i + 2));
    return la > lb ? !strcmp(a + i + 1, b + i) : !strcmp(a + i, b + i + 1);
}

/* A layer's field one typo away from a field it reads that is missing
 * ("activaton" in a Dense without "activation") is refused, as PyTorch's
 * load_state_dict and Keras' from_config refuse unknown names: read as
 * written, the layer would silently be linear. Other fields (Keras' units,
 * dtype, ...) are ignored. */
static int check_typos(builder *b, const fp_node *map, const char *path,
                       const char *const *const *fields)
{
    for (size_t i = 0; i < map->n_children; i++) {
        const char *key = map->keys[i];
        int known = !strcmp(key, "type");
        for (size_t s = 0; fields[s] && !known; s++)
            for (const char *const *k = fields[s]; *k && !known; k++)
                known = !strcmp(key, *k);
        for (size_t s = 0; fields[s] && !known; s++) {
            int present = 0;
            for (const char *const *k = fields[s]; *k; k++)
                present |= fp_map_get(map, *k) != NULL;
            for (const char *const *k = fields[s]; *k && !present; k++)
                if (one_edit_apart(key, *k))
                    return layer_fail(b, path, "%s has no field '%s' (did you mean '%s'?)",
                                      map->type ? map->type : "the layer", key, *k);
        }
    }
    return 0;
}

/* A layer of the kind at index `kind` in the registry, read by its kind from
 * map (NULL: the identity standing for a model without layers). */
static int add_layer(builder *b, const fp_node *map, const char *path, int kind)
{
    fp_net *net = b->net;
    const layer_type *type = fp_layer_types[kind];
    if (room_for_one(b, (void **)&net->layers, &b->cap_layers, net->n_layers, sizeof *net->layers) < 0)
        return -1;
    layer *l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    if (!(l->path = strdup(path)))
        return layer_no_memory(b);
    net->n_layers++;
    l->type = type;
    l->kind = kind;
    l->grad_below = b->any_param;
    if (map && type->fields && check_typos(b, map, path, type->fields) < 0)
        return -1;
    if (map && (type->flags & LAYER_HAS_ACTIVATION) && parse_activation(b, map, path, &l->act) < 0)
        return -1;
    return type->read && map ? type->read(b, map, path, l) : 0;
}

static int add_node(builder *b, const fp_node *node, const char *path, int depth);

/* The children of a Chain's `layers` (a list, or a map of named layers); with
 * only_maps, the layer maps among a Keras Sequential's children and settings. */
static int add_children(builder *b, const fp_node *node, const char *path, int depth,
                        int only_maps)
{
    for (size_t i = 0; i < node->n_children; i++) {
        if (only_maps && node->children[i]->kind != FP_MAP)
            continue;
        char index[32];
        snprintf(index, sizeof index, "%zu", i);
        char *at = layer_join(path, node->kind == FP_MAP ? node->keys[i] : index);
        if (!at)
            return layer_no_memory(b);
        int rc = add_node(b, node->children[i], at, depth + 1);
        free(at);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The Chain walk: a node is a list of layers, a Chain (its `layers`, or a
 * Keras model's layers by name), or a layer of a registered kind. */
static int add_node(builder *b, const fp_node *node, const char *path, int depth)
{
    if (depth > 64)
        return layer_fail(b, path, "layers nested more than 64 deep");
    if (++b->n_expanded > MAX_EXPANDED_LAYERS)
        return layer_fail(b, path, "the model expands to more than %d layers here (a shared "
                          "layer, Chain or list of layers counts at each use)", MAX_EXPANDED_LAYERS);
    if (node->kind == FP_LIST)
        return add_children(b, node, path, depth, 0);
    char names[512];
    list_layer_names(names, sizeof names);
    if (node->kind != FP_MAP)
        return layer_fail(b, path, "expected a layer, found a %s (supported: %s)",
                          layer_node_kind(node->kind), names);
    if (!node->type && !fp_map_get(node, "layers"))
        return layer_fail(b, path, "has no layer type (supported: %s)", names);
    if (node->type && !is_chain(node->type)) {
        int kind;
        const layer_type *type = fp_layer_type_named(node->type, &kind);
        if (!type)
            return layer_fail(b, path, "unknown layer type '%s' (supported: %s)", node->type,
                              names);
        return type->flags & LAYER_OMITTED ? 0 : add_layer(b, node, path, kind);
    }
    const fp_node *layers = fp_map_get(node, "layers");
    if (!layers && node->type && strcmp(node->type, "Chain"))   /* Keras: layers by name */
        return add_children(b, node, path, depth, 1);
    if (!layers || (layers->kind != FP_LIST && layers->kind != FP_MAP))
        return layer_fail(b, path, "a Chain needs `layers`, a list or map of layers");
    char *at = layer_join(path, "layers");
    if (!at)
        return layer_no_memory(b);
    int rc = add_children(b, layers, at, depth, 0);
    free(at);
    return rc;
}

/* ---------------------------------------------------------------- shared constants */

/* A layer that a shared Chain holds is built once per use, and each use names
 * the same arrays: place_constants gives each array one place among the
 * constants (in the order of first use), so they hold the file's arrays, not
 * a copy per use. Until then a constant slot's offset is its constant's index. */
typedef struct const_use {
    const fp_node *node;
    size_t index;
} const_use;

static int by_node_then_index(const void *pa, const void *pb)
{
    const const_use *a = pa, *b = pb;
    if (a->node != b->node)
        return (uintptr_t)a->node < (uintptr_t)b->node ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int place_constants(builder *b)
{
    size_t n = b->n_consts, n_kept = 0;
    const_use *uses = malloc((n ? n : 1) * sizeof *uses);
    size_t *first_use = malloc((n ? n : 1) * sizeof *first_use);
    if (!uses || !first_use) {
        free(uses);
        free(first_use);
        return layer_no_memory(b);
    }
    for (size_t i = 0; i < n; i++)
        uses[i] = (const_use){ b->consts[i].node, i };
    qsort(uses, n, sizeof *uses, by_node_then_index);
    for (size_t i = 0; i < n; i++)
        first_use[uses[i].index] = i && uses[i].node == uses[i - 1].node ? first_use[uses[i - 1].index]
                                                                          : uses[i].index;
    for (size_t i = 0; i < n; i++) {
        if (first_use[i] != i) {
            b->consts[i].offset = b->consts[first_use[i]].offset;
            continue;
        }
        b->consts[i].offset = b->net->n_consts;
        b->net->n_consts += b->consts[i].node->n_elems;
    }
    for (size_t l = 0; l < b->net->n_layers; l++) {
        layer *ly = &b->net->layers[l];
        for (size_t k = 0; k < LAYER_MAX_SLOTS; k++)
            if (ly->slots[k].home == SLOT_CONST)
                ly->slots[k].offset = b->consts[ly->slots[k].offset].offset;
    }
    for (size_t i = 0; i < n; i++) {   /* load_buffers reads each kept one */
        if (first_use[i] == i)
            b->consts[n_kept++] = b->consts[i];
        else
            free(b->consts[i].path);
    }
    b->n_consts = n_kept;
    free(uses);
    free(first_use);
    return 0;
}

/* ---------------------------------------------------------------- the net */

/* Copies arrays into a buffer of the compute dtype (offsets in elements). */
static int read_into(builder *b, void *buf, const fp_node *node, uint64_t offset, const char *path)
{
    size_t elem = fp_dtype_size(b->net->precision);
    if (fp_array_read(node, (char *)buf + offset * elem, b->net->precision, b->err) == 0)
        return 0;
    char where[2048];
    snprintf(where, sizeof where, "%s%s%s", b->source ? b->source : "", b->source ? ": " : "", path);
    return fp_fail_prefix(b->err, where);
}

static int load_buffers(builder *b)
{
    fp_net *net = b->net;
    size_t elem = fp_dtype_size(net->precision);
    if (net->n_params > SIZE_MAX / elem || net->n_consts > SIZE_MAX / elem)
        return fp_fail(b->err, "%s: too many parameters to hold in memory", b->source ? b->source : "model");
    net->params = calloc(net->n_params ? net->n_params : 1, elem);
    net->grads = calloc(net->n_params ? net->n_params : 1, elem);
    net->consts = malloc(net->n_consts ? net->n_consts * elem : 1);
    net->plan = calloc(net->n_layers, sizeof *net->plan);
    if (!net->params || !net->grads || !net->consts || !net->plan)
        return fp_fail(b->err, "out of memory for %llu parameters",
                       (unsigned long long)(net->n_params + net->n_consts));
    for (size_t i = 0; i < b->layout->n_params; i++) {
        const fp_param *p = &b->layout->params[i];
        if (read_into(b, net->params, p->node, p->offset, p->path) < 0)
            return -1;
    }
    for (size_t i = 0; i < b->n_consts; i++)
        if (read_into(b, net->consts, b->consts[i].node, b->consts[i].offset, b->consts[i].path) < 0)
            return -1;
    return 0;
}

static int choose_precision(builder *b, const fp_net_options *opts)
{
    const fp_layout *layout = b->layout;
    for (size_t i = 0; i < layout->n_params; i++)
        if (fp_dtype_is_complex(layout->params[i].node->dtype))
            return layer_fail(b, layout->params[i].path,
                              "complex parameters are not supported by predict and gradient");
    fp_dtype precision = opts && opts->precision ? opts->precision : layout->dtype;
    if (precision != FP_F32 && precision != FP_F64)
        return fp_fail(b->err, "compute precision %s is not supported (float32, float64)",
                       fp_dtype_name(precision));
    b->net->precision = precision;
    b->net->ops = precision == FP_F32 ? &fp_net_ops_f32 : &fp_net_ops_f64;
    b->net->tangent_ops = precision == FP_F32 ? &fp_net_tangent_ops_f32 : &fp_net_tangent_ops_f64;
    if (b->net->backend->net_ops)   /* a device backend runs its own build of the passes */
        b->net->backend->net_ops(b->net->precision, &b->net->ops, &b->net->tangent_ops);
    return 0;
}

static int computes_nothing(const fp_net *net)
{
    for (size_t i = 0; i < net->n_layers; i++)
        if (!(net->layers[i].type->flags & LAYER_RESHAPES))
            return 0;
    return 1;
}

int fp_net_build(fp_net **out, const fp_node *root, const fp_layout *layout,
                 const fp_net_options *opts, fp_error *err)
{
    *out = NULL;
    fp_net *net = calloc(1, sizeof *net);
    if (!net)
        return fp_fail(err, "out of memory");
    builder b = { .net = net, .layout = layout, .source = opts ? opts->source : NULL, .err = err };
    char why[128];
    int rc = 0;
    const char *device = opts ? opts->device : NULL;
    if (!(net->backend = fp_backend_find(device, why, sizeof why)))
        rc = device && strcmp(device, "cpu") ? fp_fail(err, "--device %s: %s", device, why)
                                             : fp_fail(err, "%s", why);
    net->train_mode = opts && opts->train_mode;
    net->n_params = layout->n_elems;
    if (rc == 0)
        rc = choose_precision(&b, opts);
    if (rc == 0)
        rc = add_node(&b, root, "", 0);
    /* A model of identities and reshapes only: one identity keeps every pass
     * uniform, and gives the output a buffer of its own. */
    if (rc == 0 && computes_nothing(net)) {
        int identity;
        fp_layer_type_named("Activation", &identity);
        rc = add_layer(&b, NULL, "", identity);
    }
    if (rc == 0)
        rc = place_constants(&b);
    if (rc == 0)
        rc = load_buffers(&b);
    for (size_t i = 0; i < b.n_consts; i++)
        free(b.consts[i].path);
    free(b.consts);
    if (rc < 0) {
        fp_net_free(net);
        return -1;
    }
    *out = net;
    return 0;
}

void fp_net_free(fp_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n_layers; i++) {
        free(net->layers[i].path);
        free(net->layers[i].settings);
    }
    free(net->layers);
    free(net->in_why);
    free(net->params);
    free(net->grads);
    free(net->consts);
    free(net->plan);
    free(net->work);
    fp_hvp_workers_free(net);
    if (net->device && net->backend->net_release)
        net->backend->net_release(net);
    free(net);
}
