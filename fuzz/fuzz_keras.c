/* Keras architectures (formats/keras_config.c, keras3_tree.c, keras_h5.c): the
 * fuzzed bytes are a config.json / model_config laid over a fixed weights file,
 * so the layer walk meets every shape of architecture against real groups.
 * The first byte picks the file: even, a Keras 3 model.weights.h5 (fuzz/
 * keras3.weights.h5, from testdata/keras/synthetic3.keras); odd, the legacy
 * Keras file testdata/keras/synthetic.h5 with the bytes as --arch. */
#include "fuzz_common.h"
#include "hdf5_internal.h"
#include "keras_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opened once: HDF5 opens cost more than the walk being fuzzed. */
static h5_state *open_once(h5_state **state, const char *path)
{
    fp_error err;
    if (!*state && !(*state = h5_state_open(path, path, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return *state;
}

static void consume(fp_node *root)
{
    if (!root)
        return;
    root->refs++;   /* the tree's reference, as the readers leave it */
    fp_tree tree = { .root = root };
    fuzz_consume_tree(&tree);
    fp_tree_free(&tree);
}

static void keras3(const uint8_t *data, size_t size)
{
    static h5_state *state;
    open_once(&state, FUZZ_SOURCE "/fuzz/keras3.weights.h5");
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = 0;
    fp_error err;
    cJSON *model = NULL;
    if (keras_config_load(text, "fuzz", "config.json", &model, &err) == 0 && model)
        consume(keras3_read_tree(state, model, &err));
    cJSON_Delete(model);
    free(text);
}

static void legacy(const uint8_t *data, size_t size)
{
    static h5_state *state;
    static hid_t root = H5I_INVALID_HID;
    open_once(&state, FUZZ_SOURCE "/testdata/keras/synthetic.h5");
    if (root < 0 && (root = H5Gopen2(state->file, "/", H5P_DEFAULT)) < 0)
        abort();
    fp_keras_arch = fuzz_file(0, data, size);
    fp_error err;
    consume(keras_h5_read(state, root, &err));
    fp_keras_arch = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        legacy(data + 1, size - 1);
    else
        keras3(data + 1, size - 1);
    return 0;
}
