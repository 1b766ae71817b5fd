/* Hostile safetensors __metadata__ "flatparams.order" lists (the order
 * scripts/from_torch.py records), through every command that reads a model,
 * each held to the suite's memory limit: one error line, quickly, whatever the
 * list holds; and a valid list over many tensors stays fast. */
#include "test_hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tensors t0..t{n-1}, one F32 each, in offset order, and __metadata__'s list:
 * the text `list` is put into a JSON string as it is (no quotes to escape
 * when it holds none but \"). Returns the file's path. */
static const char *order_file(const char *name, size_t n, const char *list)
{
    size_t cap = strlen(list) + 96 * n + 256, len = 0;   /* an entry is under 96 bytes */
    char *header = malloc(cap);
    ck_assert_ptr_nonnull(header);
    len += (size_t)snprintf(header + len, cap - len, "{\"__metadata__\":{\"flatparams.order\":\"%s\"}",
                            list);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(header + len, cap - len,
                                ",\"t%zu\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
                                i, 4 * i, 4 * i + 4);
    snprintf(header + len, cap - len, "}");
    float *data = calloc(n + 1, sizeof *data);
    const char *path = write_safetensors(name, header, data, n * sizeof *data);
    free(data);
    free(header);
    return path;
}

/* A list of `count` copies of item, comma-separated, in [ ]. */
static char *repeated_list(const char *item, size_t count)
{
    size_t n = strlen(item), cap = count * (n + 1) + 8, len = 1;
    char *list = malloc(cap);
    ck_assert_ptr_nonnull(list);
    list[0] = '[';
    for (size_t i = 0; i < count; i++) {
        memcpy(list + len, item, n);
        len += n;
        list[len++] = i + 1 < count ? ',' : ']';
    }
    list[len] = 0;
    return list;
}

static void every_command_refuses(const char *model, const char *names)
{
    const char *out_json = tmpfile_in("order-out.json"), *vec = tmpfile_in("order-vec.txt");
    write_tmp("order-vec.txt", "1\n");
    const char *const argvs[][8] = {
        { "flatten", model, NULL }, { "params", model, NULL }, { "modules", model, NULL },
        { "summary", model, NULL }, { "rebuild", model, vec, "-o", out_json, NULL },
        { "convert", model, "-o", out_json, NULL },
    };
    for (size_t i = 0; i < sizeof argvs / sizeof *argvs; i++)
        ck_assert_int_eq(run_hostile(argvs[i], NULL, names), 1);
}

/* 2,000,000 names where three tensors exist: refused at the second name. */
START_TEST(a_long_list_of_repeats)
{
    char *list = repeated_list("\\\"t1\\\"", 2000000);
    const char *model = order_file("repeats.safetensors", 3, list);
    free(list);
    every_command_refuses(model, "__metadata__ \"flatparams.order\" names tensor 't1' twice");
}
END_TEST

/* One name of 60 MB: refused without decoding it. */
START_TEST(one_huge_name)
{
    size_t n = 60 << 20;
    char *list = malloc(n + 16);
    ck_assert_ptr_nonnull(list);
    strcpy(list, "[\\\"");
    memset(list + 3, 'a', n);
    strcpy(list + 3 + n, "\\\"]");
    const char *model = order_file("huge-name.safetensors", 3, list);
    free(list);
    every_command_refuses(model, "names no tensor of the file at byte 1 (longer than every tensor's name)");
}
END_TEST

/* 1,000,000 nested brackets: refused at the second. */
START_TEST(deeply_nested_lists)
{
    size_t n = 1000000;
    char *list = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(list);
    memset(list, '[', n);
    memset(list + n, ']', n);
    list[2 * n] = 0;
    const char *model = order_file("nested.safetensors", 3, list);
    free(list);
    every_command_refuses(model, "is not a JSON list of tensor names (at byte 1)");
}
END_TEST

/* 100,000 tensors listed in reverse: placed so, in a few seconds at most. */
START_TEST(many_tensors_in_reverse)
{
    size_t n = 100000, cap = 16 * n + 8, len = 0;
    char *list = malloc(cap);
    ck_assert_ptr_nonnull(list);
    list[len++] = '[';
    for (size_t i = n; i-- > 0;)
        len += (size_t)snprintf(list + len, cap - len, "\\\"t%zu\\\"%s", i, i ? "," : "]");
    const char *model = order_file("reverse.safetensors", n, list);
    free(list);
    const char *argv[] = { "params", model, NULL };
    ck_assert_int_eq(run_hostile(argv, NULL, NULL), 0);
    run_result r = run_fpv(NULL, "params", model, NULL);
    const char *row = strstr(r.out, "\n/t0 ");
    unsigned long offset = 0;
    ck_assert_msg(row && sscanf(row, " /t0 %lu", &offset) == 1, "no /t0 in %.200s", r.out);
    ck_assert_uint_eq(offset, n - 1);
    ck_assert_msg(!strncmp(strchr(r.out, '\n') + 1, "/t99999 ", 8), "%.200s", r.out);
    run_free(&r);
}
END_TEST

void add_hostile_order_tests(Suite *s)
{
    TCase *tc = tcase_create("safetensors-order");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, a_long_list_of_repeats);
    tcase_add_test(tc, one_huge_name);
    tcase_add_test(tc, deeply_nested_lists);
    tcase_add_test(tc, many_tensors_in_reverse);
    suite_add_tcase(s, tc);
}
