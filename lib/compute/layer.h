/*
 * What a layer kind is: everything lib/compute/layers/<kind>.c defines, and
 * all the rest of the compute core knows of it.
 *
 * layers/registry.h lists the kinds, one line each. A kind's file has two
 * halves. Its description (this header's layer_type: names, how it is read
 * from a tree, its output shape, its scratch) is compiled once, on the host,
 * through registry.c. Its ops (layer_ops.h: forward, backward, tangent
 * forward and backward, fast paths) are compiled four times, f32 and f64 on
 * the host (compute_f32.c, compute_f64.c) and on the GPU (cuda/passes_*.cu),
 * over kernels with the same names and signatures: the host's, in the file
 * itself, or the GPU's, in cuda/layers/<kind>.cuh. The passes (passes.c,
 * tangent_pass.c) loop over a net's layers and call each one's ops; model.c
 * reads layers through the descriptions; nothing else switches on the kind.
 *
 * Activations are batches of samples, row-major, a sample's shape after the
 * batch's dimension (batch first, as PyTorch's). A layer owns up to
 * LAYER_MAX_SLOTS parameter arrays, in an order its kind fixes.
 */
#ifndef FP_COMPUTE_LAYER_H
#define FP_COMPUTE_LAYER_H

#include "flatparams.h"

/* The activations every layer may apply to its output (its `activation`
 * field, Flux's σ), and the Activation layer's. */
typedef enum act_kind {
    ACT_IDENTITY, ACT_RELU, ACT_LEAKYRELU, ACT_ELU, ACT_SELU, ACT_GELU, ACT_GELU_TANH, ACT_SIGMOID,
    ACT_TANH, ACT_SOFTPLUS, ACT_SWISH, ACT_SOFTMAX, ACT_LOGSOFTMAX, ACT_COUNT
} act_kind;

/* ---------------------------------------------------------------- shapes */

/* One sample's dimensions, row-major: X of rank r has samples of rank r - 1
 * (a rank-1 X is one sample, or a batch of scalars: net.c). */
enum { SAMPLE_MAX_RANK = FP_MATRIX_MAX_RANK - 1 };
typedef struct sample_shape {
    int rank;
    uint64_t dim[SAMPLE_MAX_RANK];
} sample_shape;

/* A vector of n elements. */
sample_shape shape_vector(uint64_t n);
/* The product of the dimensions (1 for rank 0). */
uint64_t shape_elems(const sample_shape *shape);
int shape_equal(const sample_shape *a, const sample_shape *b);
/* "28 x 28 x 1" (a vector: its length) into buf. */
void shape_text(char *buf, size_t cap, const sample_shape *shape);

/* ---------------------------------------------------------------- a layer */

/* Where a parameter lives: in the flat vector, with its gradient at the same
 * offset of the gradient buffer, or among the constants (not selected).
 * Offsets rather than pointers, so a device backend resolves them against its
 * own copies of the buffers. */
typedef enum slot_home { SLOT_ABSENT, SLOT_PARAM, SLOT_CONST } slot_home;
typedef struct slot {
    slot_home home;
    uint64_t offset;       /* elements into net->params or net->consts */
    uint64_t n_elems;
} slot;

enum { LAYER_MAX_SLOTS = 4 };

struct layer_type;

typedef struct layer {
    const struct layer_type *type;
    int kind;              /* the type's line in layers/registry.h: its ops in each build */
    act_kind act;
    char *path;            /* model path, for messages */
    slot slots[LAYER_MAX_SLOTS];   /* the kind's parameters, in its order; SLOT_ABSENT if missing */
    void *settings;        /* the kind's own (Dense: the weight's layout), malloc'd; may be NULL */
    int grad_below;        /* an earlier layer has a parameter in the flat vector */
} layer;

/* One layer's buffers for a batch, as element offsets into net->work. */
typedef struct layer_plan {
    sample_shape in_shape, out_shape;
    uint64_t in_elems, out_elems;   /* per sample */
    uint64_t out_at;       /* the output, rows x out_elems (a reshaping layer: its input's,
                            * PLAN_AT_INPUT for X itself) */
    uint64_t pre_at;       /* before the activation (== out_at without one) */
    uint64_t scratch_at;   /* the kind's own (layer_type.scratch) */
} layer_plan;

/* A reshaping first layer's output: X itself, which is not in the workspace. */
#define PLAN_AT_INPUT UINT64_MAX

/* ---------------------------------------------------------------- a kind */

enum layer_flags {
    /* An identity on every batch (Dropout at inference, Keras' InputLayer):
     * read, checked, and left out of the net. */
    LAYER_OMITTED = 1 << 0,
    /* Its output is its input, under another shape (Flatten): no buffer, no
     * work, no activation. */
    LAYER_RESHAPES = 1 << 1,
    /* It computes nothing but its activation, which reads its input
     * (Activation): no ops of its own. */
    LAYER_ONLY_ACTIVATION = 1 << 2,
    /* It reads an `activation` field. */
    LAYER_HAS_ACTIVATION = 1 << 3,
    /* A sample's output depends on that sample alone (no batch statistics):
     * neuron rows (dense.c) may pass through it. */
    LAYER_SAMPLEWISE = 1 << 4,
    /* Its tangent pass reads the rows of unit directions, not only where
     * their 1 is: the host makes them for it (hessian.c). */
    LAYER_READS_UNIT_ROWS = 1 << 5,
};

typedef struct fp_net fp_net;

/* Rows of H from the tangents of a layer's neurons (dense.c): where one
 * tangent serves many rows, the Hessian's blocks hold more rows per pass.
 * The pass itself is in the kind's ops (layer_ops.neuron_rows). */
typedef struct neuron_rows_sizes {
    /* Rows of H that one tangent serves at least, or 0 where this layer has
     * none (a constant weight); 1 stops the fast path for the net. */
    uint64_t (*rows_per_tangent)(const fp_net *net, size_t i);
    /* Elements of scratch its pass needs on the planned batch, at most `most`. */
    uint64_t (*scratch)(const fp_net *net, size_t i, uint64_t most);
} neuron_rows_sizes;

/* model.c's state while it reads a model; kinds read their layers through it. */
typedef struct layer_reader layer_reader;

typedef struct layer_type {
    const char *name;               /* Flux's, listed first in messages; NULL where Flux has none */
    const char *const *aliases;     /* Keras', PyTorch's, ONNX's; NULL-terminated, may be NULL */
    unsigned flags;                 /* layer_flags */
    /* The fields it reads, each a NULL-terminated list of the keys tools use
     * for it, the list NULL-terminated: a field one typo from a missing one
     * is refused (model.c). NULL: not checked. */
    const char *const *const *fields;
    /* Reads the layer at path (its arrays into slots, its settings, the
     * widths it fixes); map is NULL for the identity that stands for a model
     * without layers. NULL: nothing to read. */
    int (*read)(layer_reader *r, const fp_node *map, const char *path, layer *l);
    /* A sample's shape out of the layer, for a sample of shape in; -1 with
     * the reason in why (it is prefixed by the layer's path) when it cannot
     * take it. NULL: the shape goes through. */
    int (*output_shape)(const layer *l, const sample_shape *in, sample_shape *out, char *why,
                        size_t cap);
    /* Elements of its own scratch for a batch of rows (at layer_plan.scratch_at). */
    uint64_t (*scratch)(const layer *l, const layer_plan *p, uint64_t rows);
    const neuron_rows_sizes *neuron_rows;   /* NULL: none */
} layer_type;

/* ---------------------------------------------------------------- the registry */

/* Every kind, in layers/registry.h's order (registry.c); a layer's `kind` is
 * its index here. */
extern const layer_type *const fp_layer_types[];
extern const size_t fp_n_layer_types;
/* The kind called name (by Flux's name or an alias) and its index; NULL when none. */
const layer_type *fp_layer_type_named(const char *name, int *kind);

/* ---------------------------------------------------------------- reading a layer (model.c) */

/* -1, with "<file>: <path>: <what>" in the reader's error. */
int layer_fail(layer_reader *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* -1 with "out of memory". */
int layer_no_memory(layer_reader *r);
/* "base/key", malloc'd; NULL when out of memory. */
char *layer_join(const char *base, const char *key);
/* "map", "list", "array", ... for messages. */
const char *layer_node_kind(fp_kind kind);
/* The first present child under any of keys (not null, not false), and its key. */
const fp_node *layer_field(const fp_node *map, const char *const *keys, const char **key);
/* node, an array of want elements at path, into a slot: the flat vector when
 * the layout selects it, else a constant of the net. */
int layer_take_array(layer_reader *r, const fp_node *node, const char *path, uint64_t want,
                     slot *out);
/* The same for node found under key of the layer at path; *n is the length it
 * must have, or 0 to take node's (returned through *n). */
int layer_take_field(layer_reader *r, const fp_node *node, const char *path, const char *key,
                     uint64_t *n, slot *out);
/* A layer that fixes its input and output widths (what: which array says so,
 * for messages): checked against the layers before it, and the net's input
 * width when it is the first that fixes one. */
int layer_fix_width(layer_reader *r, const char *path, const char *what, uint64_t in,
                    uint64_t out);
/* Whether BatchNorm uses (and differentiates through) batch statistics. */
int layer_train_mode(const layer_reader *r);
/* The layer's settings: size bytes, zeroed, owned by l; NULL (after
 * layer_no_memory) when out of memory. */
void *layer_settings(layer_reader *r, layer *l, size_t size);

/* The field that names an activation, in every tool's spelling. */
extern const char *const layer_activation_keys[];

#endif
