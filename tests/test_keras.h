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

#endif
