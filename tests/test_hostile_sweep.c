/* The hostile sweep: every file of testdata/hostile/ and testdata/corpus/hdf5/,
 * listed when the suite starts (so files added later are swept too), through
 * every command that reads a file: as the model (flatten, summary, modules,
 * rebuild, convert to safetensors and to HDF5, predict, gradient, hessian) and
 * as a vector or matrix (rebuild's VEC, predict's -x). Each run keeps the
 * contract for any input:
 *
 *   exit 0 or 1: never a signal, never 2 (the arguments are right, so the
 *     file is the only problem);
 *   on failure exactly one "flatparams: error: " line and nothing on stdout;
 *     on success its output, and nothing on stderr but warning lines;
 *   within HOSTILE_SECONDS, and under the suite's memory limit
 *     (FP_TEST_MEMORY_MIB: run_fp holds each command to it; the peak is
 *     checked too, as a sanitizer build enforces it by its own means);
 *   the input file unchanged (its hash before and after), and nothing left
 *     in the output directory or in $TMPDIR.
 *
 * One test per file, so a failure names it. */
#include "test_hostile.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const swept_dirs[] = { "hostile", "corpus/hdf5" };

enum { MAX_SWEPT = 512 };
static char *swept[MAX_SWEPT];   /* paths, listed by add_hostile_sweep_tests */
static int n_swept;

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_swept_files(void)
{
    for (size_t d = 0; d < sizeof swept_dirs / sizeof *swept_dirs; d++) {
        const char *dir = testdata(swept_dirs[d]);
        DIR *listing = opendir(dir);
        if (!listing) {
            fprintf(stderr, "hostile sweep: cannot list %s\n", dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(listing)) && n_swept < MAX_SWEPT) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                swept[n_swept++] = strdup(path);
        }
        closedir(listing);
    }
    qsort(swept, (size_t)n_swept, sizeof *swept, compare_paths);
}

/* FNV-1a over the file's bytes; 0 for a missing file. */
static uint64_t file_hash(const char *path)
{
    size_t len;
    char *data = read_file(path, &len);
    if (!data)
        return 0;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    free(data);
    return h;
}

/* What one file's runs share: where outputs and temporaries go, and what the
 * file must stay. */
typedef struct sweep {
    const char *file, *out_dir, *tmp_dir;
    uint64_t hash;
} sweep;

/* Runs argv on the sweep's file; asserts the contract. out is the -o file
 * (NULL: stdout), removed after the run unless keep (then it is outside
 * out_dir). Returns the exit status. */
static int sweep_run(const sweep *s, const char *const *argv, const char *out, int keep)
{
    char what[600];
    snprintf(what, sizeof what, "%s %s (%s)", argv[0], strrchr(s->file, '/') + 1,
             argv[1] == s->file ? "model" : "vector");
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    run_result r = run_fp(NULL, 0, argv);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    ck_assert_msg(seconds < HOSTILE_SECONDS, "%s: took %.1f s", what, seconds);
    ck_assert_msg(r.status == 0 || r.status == 1, "%s: status %d (a signal is 128 + N): %s", what,
                  r.status, r.err);
    size_t limit_mib = harness_memory_mib();
    ck_assert_msg(!limit_mib || r.max_rss_kb < (long)(limit_mib << 10), "%s: peak %ld KiB", what,
                  r.max_rss_kb);
    if (r.status == 1) {
        const char *newline = strchr(r.err, '\n');
        ck_assert_msg(!strncmp(r.err, "flatparams: error: ", 19) && newline && !newline[1],
                      "%s: not one error line: %s", what, r.err);
        ck_assert_msg(r.out_len == 0, "%s: failed with stdout: %.200s", what, r.out);
    } else {
        for (const char *line = r.err; *line; line = strchr(line, '\n') + 1)
            ck_assert_msg(!strncmp(line, "flatparams: warning: ", 21) && strchr(line, '\n'),
                          "%s: succeeded with stderr: %s", what, r.err);
        struct stat st;
        if (out)
            ck_assert_msg(stat(out, &st) == 0 && st.st_size > 0, "%s: exit 0 without %s", what, out);
        else
            ck_assert_msg(r.out_len > 0, "%s: exit 0 without output", what);
    }
    if (out && !keep)
        remove(out);
    ck_assert_msg(dir_count(s->out_dir) == 0, "%s: left files in the output directory", what);
    ck_assert_msg(dir_count(s->tmp_dir) == 0, "%s: left files in $TMPDIR", what);
    ck_assert_msg(file_hash(s->file) == s->hash, "%s: changed the file", what);
    int status = r.status;
    run_free(&r);
    return status;
}

static const char *in_dir(const char *dir, const char *name)
{
    static char ring[32][4200];   /* one file's paths, all live at once */
    static int next;
    char *p = ring[next++ % 32];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

/* The file's own extension, to rebuild into its own format; .json when the
 * file has none a model can be written as. */
static const char *model_extension(const char *file)
{
    static const char *const writable[] = { ".h5", ".hdf5", ".json", ".safetensors", ".keras" };
    const char *dot = strrchr(file, '.');
    for (size_t i = 0; dot && i < sizeof writable / sizeof *writable; i++)
        if (!strcmp(dot, writable[i]))
            return dot;
    return ".json";
}

START_TEST(sweep_file)
{
    const char *file = swept[_i];
    sweep s = { file, tmpdir(), tmpdir(), file_hash(file) };
    ck_assert_msg(s.hash != 0, "%s: cannot read", file);
    setenv("TMPDIR", s.tmp_dir, 1);   /* where a .keras model's weights are extracted */
    const char *seed = testdata("seed.json"), *x = testdata("hessian/seed_x.npy");
    /* rebuild's vector: the file's own, when flatten reads it (its patching
     * paths run then), else one of the seed's length */
    const char *vec_dir = tmpdir(), *vec = in_dir(vec_dir, "flat.npy");
    const char *flatten[] = { "flatten", file, "-o", vec, NULL };
    int flattened = sweep_run(&s, flatten, vec, 1) == 0;
    ck_assert_int_eq(dir_count(vec_dir), flattened);   /* its output alone: no temporary */
    if (!flattened) {
        vec = in_dir(vec_dir, "seed.txt");
        ck_assert_int_eq(write_file(vec, "1\n2\n3\n4\n5\n", 10), 0);
    }
    char rebuilt[64];
    snprintf(rebuilt, sizeof rebuilt, "rebuilt%s", model_extension(file));
    const char *rebuilt_path = in_dir(s.out_dir, rebuilt), *st = in_dir(s.out_dir, "c.safetensors");
    const char *h5 = in_dir(s.out_dir, "c.h5"), *seed_out = in_dir(s.out_dir, "seed.json");
    const struct {
        const char *argv[8], *out;   /* out: the -o file, NULL for stdout */
    } runs[] = {
        { { "summary", file, NULL }, NULL },
        { { "modules", file, NULL }, NULL },
        { { "rebuild", file, vec, "-o", rebuilt_path, NULL }, rebuilt_path },
        { { "convert", file, "-o", st, NULL }, st },
        { { "convert", file, "-o", h5, NULL }, h5 },
        { { "predict", file, "-x", x, NULL }, NULL },
        { { "gradient", file, "-x", x, NULL }, NULL },
        { { "hessian", file, "-x", x, NULL }, NULL },
        /* the file as rebuild's vector and as predict's input */
        { { "rebuild", seed, file, "-o", seed_out, NULL }, seed_out },
        { { "predict", seed, "-x", file, NULL }, NULL },
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++)
        sweep_run(&s, runs[i].argv, runs[i].out, 0);
}
END_TEST

void add_hostile_sweep_tests(Suite *s)
{
    list_swept_files();
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, sweep_file, 0, n_swept);
    suite_add_tcase(s, tc);
}
