/* Hostile lists in a Keras architecture's layer configs, which the Keras
 * readers turn into int64 settings (formats/keras_config.c): a small ragged
 * list whose first elements claim a huge shape, lists nested deeper than an
 * array's rank can be, a long list. Each is read under the suite's memory
 * limit, quickly, and becomes a setting only when it is a whole list of
 * whole numbers. */
#include "test_hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An architecture for KERAS_3layer_weights.h5 whose first Dense has the
 * setting "probe": value (JSON text); its path. */
static const char *arch_with_probe(const char *name, const char *value)
{
    size_t cap = strlen(value) + 512;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    snprintf(text, cap, "{\"class_name\": \"Model\", \"config\": {\"layers\": [{\"class_name\": "
             "\"Dense\", \"config\": {\"name\": \"fc1_relu\", \"activation\": \"relu\", "
             "\"probe\": %s}}]}}", value);
    const char *path = write_tmp(name, text);
    free(text);
    return path;
}

/* convert's JSON of the weights file read with arch: whether fc1_relu got
 * the probe, and as what (the JSON line, or NULL). */
static char *probe_as_converted(const char *arch)
{
    const char *out = tmpfile_in("lists-out.json");
    remove(out);
    const char *argv[] = { "convert", corpus("keras/KERAS_3layer_weights.h5"), "--arch", arch,
                           "-o", out, NULL };
    ck_assert_int_eq(run_hostile(argv, out, NULL), 0);
    const char *modules[] = { "modules", corpus("keras/KERAS_3layer_weights.h5"), "--arch", arch,
                              NULL };
    ck_assert_int_eq(run_hostile(modules, NULL, NULL), 0);
    size_t len;
    char *text = read_file(out, &len), *line = text ? strstr(text, "\"probe\"") : NULL;
    char *found = line ? strndup(line, strcspn(line, "\n")) : NULL;
    free(text);
    return found;
}

/* Each level a list of 16 whose first element is the next level: 12 levels
 * claim 16^12 elements in about 700 bytes. */
START_TEST(ragged_list_claiming_a_huge_shape)
{
    char value[2048] = "1";
    for (int level = 0; level < 12; level++) {
        char next[2048];
        snprintf(next, sizeof next, "[%s%s]", value, ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0");
        snprintf(value, sizeof value, "%s", next);
    }
    char *probe = probe_as_converted(arch_with_probe("claim.json", value));
    ck_assert_msg(!probe, "a ragged list became a setting: %.200s", probe);
}
END_TEST

/* 100 levels: more than an array's rank (32) can hold. */
START_TEST(list_nested_deeper_than_a_rank)
{
    char value[512] = "";
    for (int level = 0; level < 100; level++)
        strcat(value, "[");
    strcat(value, "7");
    for (int level = 0; level < 100; level++)
        strcat(value, "]");
    char *probe = probe_as_converted(arch_with_probe("deep.json", value));
    ck_assert_msg(!probe, "a list nested 100 deep became a setting: %.200s", probe);

    /* 32 levels is an array's rank: kept, shape 1 x ... x 1. */
    value[0] = 0;
    for (int level = 0; level < 32; level++)
        strcat(value, "[");
    strcat(value, "7");
    for (int level = 0; level < 32; level++)
        strcat(value, "]");
    probe = probe_as_converted(arch_with_probe("rank32.json", value));
    ck_assert_msg(probe && strstr(probe, "\"dtype\": \"int64\"") && strstr(probe, "\"data\": [7]"),
                  "a rank-32 list: %s", probe ? probe : "left out");
    free(probe);
}
END_TEST

/* A million whole numbers: one int64 array, quickly, in bounded memory. */
START_TEST(long_list)
{
    size_t n = 1000000, cap = 2 * n + 8, len = 1;
    char *value = malloc(cap);
    ck_assert_ptr_nonnull(value);
    value[0] = '[';
    for (size_t i = 0; i < n; i++) {
        value[len++] = '3';
        value[len++] = i + 1 < n ? ',' : ']';
    }
    value[len] = 0;
    char *probe = probe_as_converted(arch_with_probe("long.json", value));
    free(value);
    ck_assert_msg(probe && strstr(probe, "\"shape\": [1000000]"), "a long list: %.200s",
                  probe ? probe : "left out");
    free(probe);
}
END_TEST

void add_hostile_keras_list_tests(Suite *s)
{
    TCase *tc = tcase_create("keras_lists");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ragged_list_claiming_a_huge_shape);
    tcase_add_test(tc, list_nested_deeper_than_a_rank);
    tcase_add_test(tc, long_list);
    suite_add_tcase(s, tc);
}
