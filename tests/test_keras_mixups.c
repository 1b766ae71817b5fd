/* Keras files that used to give a wrong result without a word (issue 15):
 * a Keras 3 save_weights file without --arch (optimizer state and BatchNorm
 * statistics in the vector), the architecture JSON passed as the model (an
 * empty vector), a Keras model rebuilt into another format (a file Keras
 * cannot load), and convert to safetensors making BatchNorm statistics
 * trainable. */
#include "test_keras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* stderr is exactly "flatparams: error: PATH: WHAT\n", exit 1, no stdout. */
static void assert_exact_error(const run_result *r, const char *path, const char *what)
{
    char want[8192];
    snprintf(want, sizeof want, "flatparams: error: %s: %s\n", path, what);
    ck_assert_msg(r->status == 1, "exit %d, stderr: %s", r->status, r->err);
    ck_assert_str_eq(r->err, want);
    ck_assert_uint_eq(r->out_len, 0);
}

static const char weights_without_arch[] =
    "a Keras 3 save_weights file, whose layers only its architecture names: "
    "give --arch model.json (model.to_json())";
static const char arch_as_model[] =
    "a Keras architecture (model.to_json()) without weights: "
    "pass the weights file as MODEL and this file with --arch";

/* Every command that makes, reads or computes with the vector refuses the
 * file with `what`; modules and summary show it after a warning (none with -q). */
static void assert_refused_by_vector_commands(const char *model, const char *what,
                                              const char *shown_as)
{
    const char *vec = write_tmp("one.txt", "1\n");
    const char *x = write_tmp("x.txt", "1 2 3 4\n");
    const char *out = tmpfile_in("refused.out");
    const char *argv_sets[][8] = {
        { "flatten", model },
        { "flatten", model, "--all", "-o", out },
        { "rebuild", model, vec, "-o", out },
        { "convert", model, "-o", out, "--format", "json" },
        { "predict", model, "-x", x },
        { "gradient", model, "-x", x },
        { "hessian", model, "-x", x, "--diag" },
    };
    for (size_t i = 0; i < sizeof argv_sets / sizeof *argv_sets; i++) {
        run_result r = run_fp(NULL, 0, argv_sets[i]);
        assert_exact_error(&r, model, what);
        ck_assert_msg(!file_exists(out), "%s wrote %s", argv_sets[i][0], out);
        run_free(&r);
    }
    const char *colon = strchr(what, ':');
    char warning[8192];
    snprintf(warning, sizeof warning, "flatparams: warning: %s: %.*s, shown as %s%s\n", model,
             (int)(colon - what), what, shown_as, colon);
    const char *showing[] = { "modules", "summary" };
    for (int i = 0; i < 2; i++) {
        run_result r = run_fpv(NULL, showing[i], model, NULL);
        kt_assert_ok(&r);
        ck_assert_str_eq(r.err, warning);
        ck_assert_uint_gt(r.out_len, 0);
        run_free(&r);
        r = run_fpv(NULL, showing[i], model, "-q", NULL);
        kt_assert_ok(&r);
        ck_assert_str_eq(r.err, "");
        run_free(&r);
    }
}

/* Without --arch a Keras 3 weights file flattened as plain HDF5: 42 values,
 * with the optimizer's and the BatchNorm statistics, where Keras has 33. */
START_TEST(keras3_weights_need_their_architecture)
{
    char weights[4096];
    snprintf(weights, sizeof weights, "%s", testdata("keras/synthetic3.weights.h5"));
    assert_refused_by_vector_commands(weights, weights_without_arch, "plain HDF5");
    /* with it, convert takes --arch too: the same 33 values as the .keras zip */
    const char *arch = testdata("keras/synthetic3.arch.json"), *out = tmpfile_in("k3.json");
    run_result r = run_fpv(NULL, "convert", weights, "--arch", arch, "-o", out, NULL);
    kt_assert_ok(&r);
    run_free(&r);
    char *want = kt_flatten_text(testdata("keras/synthetic3.keras"), NULL);
    char *got = kt_flatten_text(out, NULL);
    ck_assert_str_eq(got, want);
    free(want);
    free(got);
}
END_TEST

/* model.to_json() as MODEL flattened to an empty vector (or, for a Conv2D,
 * to its kernel sizes and strides), exit 0. */
START_TEST(architecture_json_is_not_a_model)
{
    const char *archs[] = {
        corpus("keras/KERAS_3layer.json"),             /* Keras 2 Model */
        corpus("keras/KERAS_conv2d_model.json"),       /* Keras 2 Sequential: config is the list */
        testdata("keras/synthetic3.arch.json"),        /* Keras 3 */
    };
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        char arch[4096];
        snprintf(arch, sizeof arch, "%s", archs[i]);
        assert_refused_by_vector_commands(arch, arch_as_model, "plain JSON");
    }
    /* JSON models, and JSON that merely has a class_name, are models as before */
    const char *lookalike = write_tmp("lookalike.json",
                                      "{\"class_name\": \"Mine\", \"config\": {\"layers\": [1, 2]}, "
                                      "\"w\": [0.5]}");
    const char *models[] = { testdata("seed.json"), testdata("mlp_bn.json"), lookalike };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        run_result r = run_fpv(NULL, "flatten", models[i], NULL);
        kt_assert_ok(&r);
        ck_assert_str_eq(r.err, "");
        ck_assert_uint_gt(r.out_len, 0);
        run_free(&r);
    }
}
END_TEST

/* rebuild of a Keras model into another format wrote a generic file Keras
 * cannot load (.keras -> .h5, Keras .h5 -> .json): refused with one line, no
 * output; into its own format Keras loads the result (the interop suite). */
START_TEST(keras_models_rebuild_into_their_own_format)
{
    char zip[4096], legacy[4096], weights[4096], arch[4096];   /* (testdata's ring is short) */
    snprintf(zip, sizeof zip, "%s", testdata("keras/synthetic3.keras"));
    snprintf(legacy, sizeof legacy, "%s", testdata("keras/synthetic.h5"));
    snprintf(weights, sizeof weights, "%s", testdata("keras/synthetic3.weights.h5"));
    snprintf(arch, sizeof arch, "%s", testdata("keras/synthetic3.arch.json"));
    char *zip_vec = kt_flatten_text(zip, NULL), *legacy_vec = kt_flatten_text(legacy, NULL);
    struct { const char *model, *vector, *out, *format, *own; } cases[] = {
        { zip, zip_vec, "new.h5", NULL, ".keras" },
        { zip, zip_vec, "new.json", NULL, ".keras" },
        { zip, zip_vec, "new.keras", "hdf5", ".keras" },
        { legacy, legacy_vec, "new.json", NULL, "HDF5" },
        { legacy, legacy_vec, "new.safetensors", NULL, "HDF5" },
        { legacy, legacy_vec, "new.h5", "json", "HDF5" },
        { legacy, legacy_vec, "new.keras", NULL, "HDF5" },
        { weights, zip_vec, "new.json", NULL, "HDF5" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *out = tmpfile_in(cases[i].out);
        const char *argv[12] = { "rebuild", cases[i].model, "-", "-o", out };
        int n = 5;
        if (cases[i].format) {
            argv[n++] = "--format";
            argv[n++] = cases[i].format;
        }
        if (cases[i].model == weights) {
            argv[n++] = "--arch";
            argv[n++] = arch;
        }
        run_result r = run_fp(cases[i].vector, strlen(cases[i].vector), argv);
        char what[512];
        snprintf(what, sizeof what, "rebuild writes a Keras model only as %s, which Keras loads: "
                 "give -o NAME%s (and convert that for another format)", cases[i].own,
                 strcmp(cases[i].own, "HDF5") ? cases[i].own : ".h5");
        assert_exact_error(&r, out, what);
        run_free(&r);
        ck_assert_int_eq(dir_count(tmpfile_in("")), 0);
    }
    /* the same format under any name is the byte-copy rebuild, as before */
    const char *argv[] = { "rebuild", legacy, "-", "-o", tmpfile_in("new.hdf5"), NULL };
    run_result r = run_fp(legacy_vec, strlen(legacy_vec), argv);
    kt_assert_ok(&r);
    run_free(&r);
    free(zip_vec);
    free(legacy_vec);
}
END_TEST

/* convert to safetensors made BatchNorm statistics trainable in silence: the
 * converted file's vector had 266 values more than Keras' trainable_weights. */
START_TEST(convert_says_when_statistics_become_trainable)
{
    const char *model = corpus("keras/keras_3layer_batch_norm.h5");
    const char *out = tmpfile_in("bn.safetensors");
    run_result r = run_fpv(NULL, "convert", model, "-o", out, NULL);
    kt_assert_ok(&r);
    char want[8192];
    snprintf(want, sizeof want, "flatparams: warning: %s: its flat vector has 4921 values where %s's "
             "has 4655: 266 values kept out of the model's (BatchNorm statistics or trainable: "
             "false; the first: /bn1/moving_mean) are trainable here, as safetensors keeps no "
             "layer types or trainable marks\n", out, model);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    char *converted = kt_flatten_text(out, NULL);
    double *v;
    ck_assert_uint_eq(parse_numbers(converted, &v), 4921);   /* what the warning said */
    free(v);
    free(converted);
    r = run_fpv(NULL, "convert", model, "-o", out, "-q", NULL);
    kt_assert_ok(&r);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    /* to JSON and HDF5 the types and marks go along: the same vector, no warning */
    const char *kept[] = { tmpfile_in("bn.json"), tmpfile_in("bn.h5") };
    char *want_vec = kt_flatten_text(model, NULL);
    for (int i = 0; i < 2; i++) {
        r = run_fpv(NULL, "convert", model, "-o", kept[i], NULL);
        kt_assert_ok(&r);
        ck_assert_str_eq(r.err, "");
        run_free(&r);
        char *got = kt_flatten_text(kept[i], NULL);
        ck_assert_str_eq(got, want_vec);
        free(got);
    }
    free(want_vec);
}
END_TEST

void kt_add_mixup_tests(Suite *s)
{
    TCase *tc = tcase_create("mixups");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, keras3_weights_need_their_architecture);
    tcase_add_test(tc, architecture_json_is_not_a_model);
    tcase_add_test(tc, keras_models_rebuild_into_their_own_format);
    tcase_add_test(tc, convert_says_when_statistics_become_trainable);
    suite_add_tcase(s, tc);
}
