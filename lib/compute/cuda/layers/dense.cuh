/*
 * Dense on the GPU: the kernels of layers/dense.c, the same names,
 * signatures and meaning, over device pointers. Its products go to cuBLAS
 * (GEMM, kernels.cuh's gemm_batched: every direction in one strided batch);
 * the rest is one thread per element. Included by layers/dense.c in the
 * GPU's builds (FP_DEVICE_KERNELS), after kernels.cuh.
 */

__global__ static void k_rows_of(real *out, const real *row, size_t B, size_t C)
{
    FOR_EACH(i, B * C) out[i] = row[i % C];
}

/* sums[c] += sum over rows of m[b, c] (column sums). */
__global__ static void k_column_sums(real *sums, const real *m, size_t B, size_t C)
{
    FOR_EACH(c, C) {
        real s = 0;
        for (size_t b = 0; b < B; b++)
            s += m[b * C + c];
        sums[c] += s;
    }
}

static void dense_forward(const fp_backend *be, real *out, const real *inp, const real *weight,
                          const real *bias, size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (bias)
        LAUNCH(k_rows_of, B * OC, out, bias, B, OC);
    GEMM(be)(0, !kernel_in_out, B, OC, C, 1, inp, C, weight, kernel_in_out ? OC : C,
             bias ? 1 : 0, out, OC);
}

static void dense_backward(const fp_backend *be, real *dinp, real *dweight, real *dbias,
                           const real *dout, const real *inp, const real *weight,
                           size_t B, size_t C, size_t OC, int kernel_in_out)
{
    if (dweight && !kernel_in_out)
        GEMM(be)(1, 0, OC, C, B, 1, dout, OC, inp, C, 1, dweight, C);
    else if (dweight)
        GEMM(be)(1, 0, C, OC, B, 1, inp, C, dout, OC, 1, dweight, OC);
    if (dbias)
        LAUNCH(k_column_sums, OC, dbias, dout, B, OC);
    if (dinp)
        GEMM(be)(0, kernel_in_out, B, C, OC, 1, dout, OC, weight, kernel_in_out ? OC : C,
                 0, dinp, C);
}

/* Unit directions k in [k0, k1): dst[(k*B + b)*ldd + to] += src[b*lds + from]
 * (+1 for a bias: src NULL), (to, from) the element's (o, c) or (c, o). */
__global__ static void k_unit_scatter(real *dst, const real *src, size_t k0, size_t k1, int64_t unit_at,
                                      size_t B, size_t C, size_t OC, int kernel_in_out, int to_input,
                                      int bias)
{
    size_t ldd = to_input ? C : OC, lds = to_input ? OC : C;
    FOR_EACH(t, (k1 - k0) * B) {
        size_t k = k0 + t / B, b = t % B, o, c;
        size_t j = (size_t)(unit_at + (int64_t)k);
        if (bias) {
            dst[(k * B + b) * ldd + j] += 1;
            continue;
        }
        weight_index(j, C, OC, kernel_in_out, &o, &c);
        dst[(k * B + b) * ldd + (to_input ? c : o)] += src[b * lds + (to_input ? o : c)];
    }
}

__global__ static void k_add_bias_rows(real *tout, const real *tbias, size_t stride, size_t B,
                                       size_t OC, size_t K)
{
    FOR_EACH(t, K * B * OC) {
        size_t k = t / (B * OC), o = t % OC;
        tout[t] += tbias[k * stride + o];
    }
}

static void dense_tangent_forward(const fp_backend *be, real *tout, const real *tinp,
                                  const real *inp, const real *weight, const tslice *weight_dirs,
                                  const tslice *bias_dirs, size_t B, size_t C, size_t OC, size_t K,
                                  int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C, k0, k1;
    if (tinp)
        GEMM(be)(0, !kernel_in_out, K * B, OC, C, 1, tinp, C, weight, ldw, 0, tout, OC);
    else
        zero_reals(tout, K * B * OC);
    if (weight_dirs->live && weight_dirs->unit) {
        unit_range(weight_dirs, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tout, inp, k0, k1, weight_dirs->unit_at, B, C, OC,
               kernel_in_out, 0, 0);
    } else if (weight_dirs->rows) {   /* tout_k += inp tw_k^T, all k in one batched call */
        gemm_batched(0, !kernel_in_out, B, OC, C, 1, inp, C, 0, weight_dirs->rows, ldw,
                     (long long)weight_dirs->stride, 1, tout, OC, (long long)(B * OC), K);
    }
    if (bias_dirs->live && bias_dirs->unit) {
        unit_range(bias_dirs, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tout, (const real *)NULL, k0, k1, bias_dirs->unit_at, B,
               C, OC, kernel_in_out, 0, 1);
    } else if (bias_dirs->rows) {
        LAUNCH(k_add_bias_rows, K * B * OC, tout, bias_dirs->rows, bias_dirs->stride, B, OC, K);
    }
}

__global__ static void k_bias_hv(real *hbias, size_t stride, const real *tdout, size_t B, size_t OC,
                                 size_t K)
{
    FOR_EACH(t, K * OC) {
        size_t k = t / OC, o = t % OC;
        real s = 0;
        for (size_t b = 0; b < B; b++)
            s += tdout[(k * B + b) * OC + o];
        hbias[k * stride + o] += s;
    }
}

/* hw_k += td_k^T inp + dout^T ti_k (a Keras kernel: the transposes), each term
 * one strided batch over k accumulating straight into the H V rows. */
static void dense_tangent_backward(const fp_backend *be, real *tdinp, real *hweight, real *hbias,
                                   size_t stride, const real *tdout, const real *dout,
                                   const real *tinp, const real *inp, const real *weight,
                                   const tslice *weight_dirs, size_t B, size_t C, size_t OC, size_t K,
                                   int kernel_in_out)
{
    size_t ldw = kernel_in_out ? OC : C;
    long long s = (long long)stride, so = (long long)(B * OC), si = (long long)(B * C);
    if (hweight && !kernel_in_out) {
        gemm_batched(1, 0, OC, C, B, 1, tdout, OC, so, inp, C, 0, 1, hweight, C, s, K);
        if (tinp)
            gemm_batched(1, 0, OC, C, B, 1, dout, OC, 0, tinp, C, si, 1, hweight, C, s, K);
    } else if (hweight) {
        gemm_batched(1, 0, C, OC, B, 1, inp, C, 0, tdout, OC, so, 1, hweight, OC, s, K);
        if (tinp)
            gemm_batched(1, 0, C, OC, B, 1, tinp, C, si, dout, OC, 0, 1, hweight, OC, s, K);
    }
    if (hbias)
        LAUNCH(k_bias_hv, K * OC, hbias, stride, tdout, B, OC, K);
    if (!tdinp)
        return;
    GEMM(be)(0, kernel_in_out, K * B, C, OC, 1, tdout, OC, weight, ldw, 0, tdinp, C);
    if (weight_dirs->live && weight_dirs->unit) {
        size_t k0, k1;
        unit_range(weight_dirs, K, &k0, &k1);
        LAUNCH(k_unit_scatter, (k1 - k0) * B, tdinp, dout, k0, k1, weight_dirs->unit_at, B, C, OC,
               kernel_in_out, 1, 0);
    } else if (weight_dirs->rows) {
        gemm_batched(0, kernel_in_out, B, C, OC, 1, dout, OC, 0, weight_dirs->rows, ldw,
                     (long long)weight_dirs->stride, 1, tdinp, C, si, K);
    }
}

/* tangent.c's neuron_outer: one thread per entry of M (B x w). */
__global__ static void k_neuron_outer(real *M, const real *td, const real *dout, const real *tinp,
                                      const real *inp, size_t B, size_t C, size_t OC, size_t m0,
                                      size_t w, int kernel_in_out)
{
    size_t minor = kernel_in_out ? OC : C;
    FOR_EACH_K(b, j, B, w) {
        size_t m = m0 + j / minor, mn = j % minor;
        size_t p = kernel_in_out ? mn : m, q = kernel_in_out ? m : mn;
        M[b * w + j] = td[b * OC + p] * inp[b * C + q] + (tinp ? dout[b * OC + p] * tinp[b * C + q] : 0);
    }
}

static void neuron_outer(real *M, const real *td, const real *dout, const real *tinp,
                         const real *inp, size_t B, size_t C, size_t OC, size_t m0, size_t m1,
                         int kernel_in_out)
{
    size_t w = (m1 - m0) * (kernel_in_out ? OC : C);
    LAUNCH_K(k_neuron_outer, B, w, M, td, dout, tinp, inp, B, C, OC, m0, w, kernel_in_out);
}
