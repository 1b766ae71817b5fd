/*
 * The full Hessian made exactly symmetric from the upper triangle's rows S:
 * fp_hessian_row_blocks with FP_ROWS_UPPER computes each block of `block`
 * rows from the block's own first column on, so left of a row's block S holds
 * nothing and inside it S is symmetric only to rounding. H[i,j] is then S[i,j]
 * right of row i's block, S[j,i] left of it and the average of the two inside
 * it: the same rule as the GPU's k_symmetrise_rows (cuda/backend_cuda.cu).
 * Written over `real` and compiled once per precision; the public entries,
 * which choose the precision, are compiled once (with the double build).
 */
#include "compute_internal.h"
#include "real.h"

/* Both walks go in square tiles: one side is read across, which in tiles
 * stays in the cache. */
enum { SYMMETRISE_TILE = 64 };

/* S (n x n) made H in place: below the diagonal blocks the transpose of what
 * is above them, inside them the average of the two. */
void REAL_NAME(fp_symmetrise)(void *matrix, uint64_t n, uint64_t block)
{
    real *S = (real *)matrix;
    for (uint64_t i0 = 0; i0 < n; i0 += SYMMETRISE_TILE)
        for (uint64_t j0 = i0; j0 < n; j0 += SYMMETRISE_TILE)
            for (uint64_t i = i0; i < i0 + SYMMETRISE_TILE && i < n; i++) {
                uint64_t block_end = i / block * block + block;
                for (uint64_t j = j0 > i ? j0 : i + 1; j < j0 + SYMMETRISE_TILE && j < n; j++)
                    if (j >= block_end)
                        S[j * n + i] = S[i * n + j];
                    else
                        S[j * n + i] = S[i * n + j] = (S[i * n + j] + S[j * n + i]) / 2;
            }
}

/* Rows [at, at + W) of H, in place in `rows` (W x n, S's rows, valid from each
 * row's own block on), with the strip of S above and beside them (strip:
 * (at + W) x W, its row c holding S[c, at .. at + W)). */
void REAL_NAME(fp_symmetrise_rows)(void *rows, const void *strip, uint64_t W, uint64_t block,
                                   uint64_t n, uint64_t at)
{
    const real *column = (const real *)strip;
    for (uint64_t r0 = 0; r0 < W; r0 += SYMMETRISE_TILE)
        for (uint64_t c0 = 0; c0 < at + W; c0 += SYMMETRISE_TILE)
            for (uint64_t r = r0; r < r0 + SYMMETRISE_TILE && r < W; r++) {
                real *row = (real *)rows + r * n;
                uint64_t block_begin = (at + r) / block * block;
                uint64_t block_end = block_begin + block < n ? block_begin + block : n;
                uint64_t stop = c0 + SYMMETRISE_TILE < block_end ? c0 + SYMMETRISE_TILE : block_end;
                for (uint64_t c = c0; c < stop; c++)
                    row[c] = c < block_begin ? column[c * W + r] : (row[c] + column[c * W + r]) / 2;
            }
}

#if FP_REAL_BITS == 64
void fp_hessian_symmetrise(void *S, uint64_t n, size_t block, fp_dtype dtype)
{
    (dtype == FP_F32 ? fp_symmetrise_f32 : fp_symmetrise_f64)(S, n, block);
}

void fp_hessian_symmetrise_rows(void *rows, const void *strip, size_t W, size_t block,
                                uint64_t n, uint64_t at, fp_dtype dtype)
{
    (dtype == FP_F32 ? fp_symmetrise_rows_f32 : fp_symmetrise_rows_f64)(rows, strip, W, block, n,
                                                                         at);
}
#endif
