/* Helpers shared by the Keras suite's files (test_keras.c: reading, flatten,
 * modules and errors; test_keras_rebuild.c: rebuild, checked through the HDF5
 * and libzip APIs). */
#ifndef FP_TEST_KERAS_H
#define FP_TEST_KERAS_H

#include "flatparams.h"
#include "harness.h"

/* The Keras files every test walks: the corpus's and testdata/keras's synthetic
 * ones, each with NAME.flat.npy and NAME.paths.txt from make_keras_fixtures.py. */
typedef struct keras_file {
    const char *name;
    int in_corpus;          /* testdata/corpus/keras, else testdata/keras */
} keras_file;
extern const keras_file keras_files[];
extern const int n_keras_files;

/* The file's full path (a fresh copy of the string, caller frees). */
char *keras_path(const keras_file *f);
/* The fixture path of testdata/keras/NAME.SUFFIX (caller frees). */
char *keras_fixture(const keras_file *f, const char *suffix);

void kt_assert_ok(const run_result *r);
/* Runs flatten with extra arguments (NULL-terminated) and returns stdout (caller frees). */
char *kt_flatten_text(const char *model, const char *extra);

void kt_add_rebuild_tests(Suite *s);
void kt_add_compute_tests(Suite *s);   /* test_keras_compute.c: against PyTorch */
void kt_add_mixup_tests(Suite *s);     /* test_keras_mixups.c: files taken for others */
void kt_add_cnn_tree_tests(Suite *s);  /* test_keras_cnn_tree.c: CNN files' trees */
/* test_keras_cnn.c: CNN files' predict, gradient and H v against Keras and
 * TensorFlow; built once the compute core has the CNN layers. */
void kt_add_cnn_compute_tests(Suite *s);

/* The CNN models Keras saved (testdata/keras/cnn/cases.txt, made by
 * testdata/make_keras_cnn_fixtures.py): each file of a model, and each loss
 * with its target. */
typedef struct cnn_file {
    char name[32];      /* the model: NAME.x.npy, NAME.flat.npy, ... */
    char model[64];     /* the file: NAME.keras, NAME.h5, NAME.weights.h5 */
    char arch[64];      /* its --arch, or "-" */
} cnn_file;
typedef struct cnn_loss {
    char name[32], loss[32], target[64];
    double value64, value32;   /* Keras' loss in float64 and float32 */
} cnn_loss;
/* The cases (read once; losses and n_losses may be NULL). */
void kt_cnn_cases(const cnn_file **files, size_t *n_files, const cnn_loss **losses,
                  size_t *n_losses);
/* testdata/keras/cnn/FILE (a static buffer ring, as testdata()), NULL for "-". */
const char *kt_cnn_path(const char *file);
/* testdata/keras/cnn/NAME.SUFFIX */
const char *kt_cnn_fixture(const char *name, const char *suffix);

#endif
