/* bench/write_ahead: what allocating an output's space ahead gains
 * (fp_vec_writer_preallocate, used by `hessian --device cuda`).
 *
 * The full Hessian on a GPU opens its .npy, waits for the GPU to start and
 * compute its first rows, then writes 32 MiB pieces as fast as the file takes
 * them. This times that shape of job without a GPU: open, wait WAIT seconds
 * (the GPU's start: about 0.45 s on the H200), write an N x N float32 matrix
 * in 32 MiB pieces, commit; with and without the allocation ahead, alternated,
 * REPEATS times each, medians.
 *
 *   ninja -C build write-ahead && build/write-ahead /dev/shm [WAIT=0.45] [N=21480] [REPEATS=3]
 */
#include "flatparams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One job: the seconds of the whole and of the writes after the wait. */
static int job(const char *path, uint64_t n, double wait, int ahead, float *piece, size_t per,
               double *whole, double *writes)
{
    fp_vec_writer *w;
    fp_error err;
    uint64_t shape[2] = { n, n };
    remove(path);   /* a new file each time: freeing the last one is not timed */
    double t0 = now();
    if (fp_vec_writer_open(&w, path, "npy", FP_F32, 2, shape, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), -1;
    if (ahead)
        fp_vec_writer_preallocate(w);
    struct timespec pause = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
    nanosleep(&pause, NULL);
    double t1 = now();
    for (uint64_t at = 0; at < n * n; at += per) {
        uint64_t k = n * n - at < per ? n * n - at : per;
        if (fp_vec_writer_write(w, piece, k, &err) < 0) {
            fp_vec_writer_abort(w);
            return fprintf(stderr, "%s\n", err.msg), -1;
        }
    }
    if (fp_vec_writer_commit(w, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), -1;
    double t2 = now();
    *whole = t2 - t0;
    *writes = t2 - t1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fprintf(stderr, "usage: write-ahead DIR [WAIT] [N] [REPEATS]\n"), 2;
    double wait = argc > 2 ? atof(argv[2]) : 0.45;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 21480;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    repeats = repeats < 1 ? 1 : repeats > 32 ? 32 : repeats;
    char path[4096];
    snprintf(path, sizeof path, "%s/write-ahead.npy", argv[1]);
    size_t per = (32u << 20) / sizeof(float);
    float *piece = malloc(per * sizeof *piece);
    if (!piece)
        return 1;
    for (size_t i = 0; i < per; i++)
        piece[i] = (float)i;
    double whole[2][32], writes[2][32];
    for (int r = 0; r < repeats; r++)
        for (int ahead = 0; ahead < 2; ahead++)
            if (job(path, n, wait, ahead, piece, per, &whole[ahead][r], &writes[ahead][r]) < 0)
                return 1;
    remove(path);
    free(piece);
    printf("%llu x %llu float32 (%.2f GB) to %s, %.2f s wait, median of %d:\n",
           (unsigned long long)n, (unsigned long long)n, (double)(n * n * 4) / 1e9, argv[1], wait,
           repeats);
    double med[2][2];
    for (int ahead = 0; ahead < 2; ahead++) {
        qsort(whole[ahead], (size_t)repeats, sizeof(double), cmp);
        qsort(writes[ahead], (size_t)repeats, sizeof(double), cmp);
        med[ahead][0] = whole[ahead][repeats / 2];
        med[ahead][1] = writes[ahead][repeats / 2];
        printf("  %-26s whole %.3f s (%.3f-%.3f), writes after the wait %.3f s\n",
               ahead ? "allocated ahead:" : "allocated as written:", med[ahead][0],
               whole[ahead][0], whole[ahead][repeats - 1], med[ahead][1]);
    }
    printf("  ahead/as written: whole %.2fx, writes %.2fx\n", med[1][0] / med[0][0],
           med[1][1] / med[0][1]);
    return 0;
}
