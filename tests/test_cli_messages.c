/* What new users tripped on (issue 15, part 4), end to end: usage lines that
 * said the command's name twice, modules --json calling an untyped node "map",
 * and convert growing the flat vector without a word. */
#include "harness.h"
#include "flatparams.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The usage lines, exactly: the command's name once, as the prefix. */
START_TEST(usage_lines_name_the_command_once)
{
    const char *vec = write_tmp("five.txt", "1\n2\n3\n4\n5\n");
    struct { const char *argv[8]; const char *line; } cases[] = {
        { { "rebuild", testdata("seed.json"), vec },
          "flatparams: error: rebuild: missing -o OUT (see 'flatparams rebuild -h')\n" },
        { { "rebuild", testdata("seed.json"), vec, "-o", "-" },
          "flatparams: error: rebuild: -o - is not supported: the output is a model file "
          "(see 'flatparams rebuild -h')\n" },
        { { "convert", testdata("seed.json") },
          "flatparams: error: convert: missing -o OUT (see 'flatparams convert -h')\n" },
        { { "predict", testdata("seed.json") },
          "flatparams: error: predict: missing -x X (one sample per row) "
          "(see 'flatparams predict -h')\n" },
        { { "hessian", testdata("seed.json"), "--diag" },
          "flatparams: error: hessian: missing -x X (one sample per row) "
          "(see 'flatparams hessian -h')\n" },
        { { "flatten", testdata("seed.json"), "--eigs", "3" },
          "flatparams: error: flatten: no option '--eigs' (see 'flatparams flatten -h')\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = run_fp(NULL, 0, cases[i].argv);
        ck_assert_msg(r.status == 2, "%s: exit %d", cases[i].argv[0], r.status);
        ck_assert_str_eq(r.err, cases[i].line);
        run_free(&r);
    }
    /* every command's usage errors: never "<cmd>: <cmd> ..." nor "'flatparams <cmd>' ..." */
    const char *commands[] = { "flatten", "rebuild", "modules", "summary", "convert",
                               "predict", "gradient", "hessian" };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const char *argv_sets[3][6] = {
            { commands[i], "--no-such-option" },
            { commands[i], testdata("seed.json"), vec, "--which", "LM" },
            { commands[i], testdata("seed.json"), vec },
        };
        char twice[64], quoted[64];
        snprintf(twice, sizeof twice, "%s: %s ", commands[i], commands[i]);
        snprintf(quoted, sizeof quoted, "'flatparams %s' ", commands[i]);
        for (int k = 0; k < 3; k++) {
            run_result r = run_fp(NULL, 0, argv_sets[k]);
            ck_assert_msg(!strstr(r.err, twice) && !strstr(r.err, quoted), "%s", r.err);
            run_free(&r);
        }
    }
}
END_TEST

/* A node without a layer type says so: "type": null beside its kind, in every
 * format (safetensors has no types at all; JSON and HDF5 lists and untyped
 * maps; Keras layers without an architecture), and "(map)"/"(list)" in the
 * table, so a check on layer types cannot pass on a kind. */
START_TEST(modules_say_when_a_node_has_no_type)
{
    struct { const char *model, *path, *type, *kind; } cases[] = {
        { testdata("safetensors/mixed.safetensors"), "/", NULL, "map" },
        { testdata("safetensors/mixed.safetensors"), "/layers", NULL, "list" },
        { testdata("safetensors/mixed.safetensors"), "/layers/0", NULL, "map" },
        { testdata("mlp_bn.json"), "/", "Chain", "map" },
        { testdata("mlp_bn.json"), "/layers", NULL, "list" },
        { testdata("mlp_bn.json"), "/layers/0/layers/1", "BatchNorm", "map" },
        { testdata("keras/synthetic.h5"), "/", "Functional", "map" },
        { testdata("keras/synthetic.h5"), "/bn", "BatchNormalization", "map" },
        { corpus("keras/KERAS_3layer_weights.h5"), "/", "Keras", "map" },
        { corpus("keras/KERAS_3layer_weights.h5"), "/fc1_relu", NULL, "map" },
        { corpus("hdf5/types_dset.h5"), "/", NULL, "map" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = run_fpv(NULL, "modules", cases[i].model, "--json", NULL);
        ck_assert_msg(r.status == 0, "%s: %s", cases[i].model, r.err);
        cJSON *doc = cJSON_Parse(r.out), *m, *found = NULL;
        ck_assert_msg(cJSON_IsArray(doc), "%s", r.out);
        cJSON_ArrayForEach(m, doc)
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m, "path")), cases[i].path))
                found = m;
        ck_assert_msg(found, "%s: no module %s", cases[i].model, cases[i].path);
        cJSON *type = cJSON_GetObjectItem(found, "type");
        if (cases[i].type)
            ck_assert_msg(cJSON_IsString(type) && !strcmp(type->valuestring, cases[i].type),
                          "%s %s: %s", cases[i].model, cases[i].path, r.out);
        else
            ck_assert_msg(cJSON_IsNull(type), "%s %s: type is not null: %s", cases[i].model,
                          cases[i].path, r.out);
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(found, "kind")), cases[i].kind);
        cJSON_Delete(doc);
        run_free(&r);
    }
    run_result r = run_fpv(NULL, "modules", testdata("mlp_bn.json"), NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out,
        "path                             type                    trainable  non-trainable  arrays\n"
        "/                                Chain                       51018            128       8\n"
        "/layers                          (list)                      51018            128       8\n"
        "/layers/0                        Chain                       50368            128       6\n"
        "/layers/0/layers                 (list)                      50368            128       6\n"
        "/layers/0/layers/0               Dense                       50240              0       2\n"
        "/layers/0/layers/1               BatchNorm                     128            128       4\n"
        "/layers/1                        Dense                         650              0       2\n");
    run_free(&r);
    r = run_fpv(NULL, "modules", testdata("safetensors/mixed.safetensors"), NULL);
    ck_assert_msg(strstr(r.out, "\n/                                (map)    "), "%s", r.out);
    run_free(&r);
}
END_TEST

/* convert to safetensors changes which values are trainable (no layer types,
 * no marks there; running_mean and running_var are PyTorch's statistics):
 * the vector grew from 51,018 to 51,146 without a word. */
START_TEST(convert_says_when_the_vector_changes)
{
    char model[4096], out[4096];
    snprintf(model, sizeof model, "%s", testdata("mlp_bn.json"));
    snprintf(out, sizeof out, "%s", tmpfile_in("mlp_bn.safetensors"));
    run_result r = run_fpv(NULL, "convert", model, "-o", out, NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    char want[8192];
    snprintf(want, sizeof want, "flatparams: warning: %s: its flat vector has 51146 values where "
             "%s's has 51018: 128 values kept out of the model's (BatchNorm statistics or "
             "trainable: false; the first: /layers/0/layers/1/mean) are trainable here, as "
             "safetensors keeps no layer types or trainable marks\n", out, model);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    r = run_fpv(NULL, "flatten", out, NULL);
    double *v;
    ck_assert_uint_eq(parse_numbers(r.out, &v), 51146);
    free(v);
    run_free(&r);
    /* the other way: an untyped map's running_mean was trainable in JSON */
    snprintf(model, sizeof model, "%s",
             write_tmp("buffers.json", "{\"bn\": {\"running_mean\": [1.0, 2.0], \"w\": [3.0]}}"));
    snprintf(out, sizeof out, "%s", tmpfile_in("buffers.safetensors"));
    r = run_fpv(NULL, "convert", model, "-o", out, NULL);
    snprintf(want, sizeof want, "flatparams: warning: %s: its flat vector has 1 values where %s's "
             "has 3: 2 of its values (the first: /bn/running_mean) are not trainable here, as "
             "safetensors takes running_mean and running_var for PyTorch's BatchNorm statistics\n",
             out, model);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    /* -q: none; a conversion that keeps the vector: none */
    r = run_fpv(NULL, "convert", testdata("mlp_bn.json"), "-o", out, "-q", NULL);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    r = run_fpv(NULL, "convert", testdata("safetensors/mixed.safetensors"), "-o", out, NULL);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    r = run_fpv(NULL, "convert", testdata("mlp_bn.json"), "-o", tmpfile_in("mlp_bn.h5"), NULL);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
}
END_TEST

void cli_add_message_tests(Suite *s)
{
    TCase *tc = tcase_create("messages");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, usage_lines_name_the_command_once);
    tcase_add_test(tc, modules_say_when_a_node_has_no_type);
    tcase_add_test(tc, convert_says_when_the_vector_changes);
    suite_add_tcase(s, tc);
}
