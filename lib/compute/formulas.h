/*
 * The formulas, once: activations and their first two derivatives, the losses'
 * terms and second derivatives, softmax rows, and one normalisation group's
 * statistics, backward pass and tangent. Each works on one element, row or
 * group, so the CPU kernels (activations.c, losses.c, tangent.c, layers/)
 * loop over them and the CUDA kernels (cuda/kernels.cuh) give each to a thread:
 * the two backends differ in the order of the work, not in the arithmetic.
 * Included after real.h (the `real` type); FP_HD makes them callable on the
 * device when nvcc compiles them.
 */
#ifndef FP_COMPUTE_FORMULAS_H
#define FP_COMPUTE_FORMULAS_H

#ifdef __CUDACC__
#define FP_HD __host__ __device__
#else
#define FP_HD
#endif

/* NNlib's (Flux's) constants. */
#define SELU_LAMBDA R1(1.0507009873554804934193349852946)
#define SELU_ALPHA R1(1.6732632423543772848170429916717)
#define LEAKY_SLOPE R1(0.01)

FP_HD static inline real sigmoid(real x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    real e = exp(x);
    return e / (1 + e);
}

/* Φ and φ, the standard normal's distribution and density, for gelu. */
FP_HD static inline real normal_cdf(real x)
{
    return R1(0.5) * (1 + erf(x * R1(0.70710678118654752440)));
}

FP_HD static inline real normal_pdf(real x)
{
    return exp(R1(-0.5) * x * x) * R1(0.39894228040143267794);
}

/* gelu's tanh approximation (NNlib's gelu_tanh, PyTorch's approximate='tanh'):
 * x (1 + tanh u) / 2 with u = sqrt(2/π) (x + 0.044715 x³). Its value and first
 * two derivatives, with t = tanh u, u' = du/dx, u'' = d²u/dx²:
 *   d1 = (1 + t)/2 + x (1 - t²) u'/2,   d2 = (1 - t²) (u' + x (u'' - 2 t u'²)/2). */
#define GELU_TANH_K R1(0.79788456080286535588)
#define GELU_TANH_C R1(0.044715)

FP_HD static inline real gelu_tanh(real x, real *d1, real *d2)
{
    real t = tanh(GELU_TANH_K * (x + GELU_TANH_C * x * x * x));
    real du = GELU_TANH_K * (1 + 3 * GELU_TANH_C * x * x), d2u = GELU_TANH_K * 6 * GELU_TANH_C * x;
    real sech2 = 1 - t * t;
    if (d1)
        *d1 = R1(0.5) * (1 + t) + R1(0.5) * x * sech2 * du;
    if (d2)
        *d2 = sech2 * (du + R1(0.5) * x * (d2u - 2 * t * du * du));
    return R1(0.5) * x * (1 + t);
}

FP_HD static inline real sign_of(real x)
{
    return (real)((x > 0) - (x < 0));
}

/* log(sigmoid(x)) without overflow: -softplus(-x). */
FP_HD static inline real log_sigmoid(real x)
{
    return -(log1p(exp(-fabs(x))) + (x < 0 ? -x : 0));
}

/* ---- elementwise activations (not softmax, logsoftmax: rows, below) */

FP_HD static inline real act_value(act_kind act, real x)
{
    switch (act) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_LEAKYRELU: return x > 0 ? x : LEAKY_SLOPE * x;
    case ACT_ELU: return x > 0 ? x : expm1(x);
    case ACT_SELU: return SELU_LAMBDA * (x > 0 ? x : SELU_ALPHA * expm1(x));
    case ACT_GELU: return x * normal_cdf(x);
    case ACT_GELU_TANH: return gelu_tanh(x, NULL, NULL);
    case ACT_SIGMOID: return sigmoid(x);
    case ACT_TANH: return tanh(x);
    case ACT_SOFTPLUS: return log1p(exp(-fabs(x))) + (x > 0 ? x : 0);
    case ACT_SWISH: return x * sigmoid(x);
    default: return x;
    }
}

/* act'(x), given y = act(x). */
FP_HD static inline real act_grad(act_kind act, real x, real y)
{
    real s;
    switch (act) {
    case ACT_RELU: return x > 0 ? 1 : 0;
    case ACT_LEAKYRELU: return x > 0 ? 1 : LEAKY_SLOPE;
    case ACT_ELU: return x > 0 ? 1 : exp(x);
    case ACT_SELU: return SELU_LAMBDA * (x > 0 ? 1 : SELU_ALPHA * exp(x));
    case ACT_GELU: return normal_cdf(x) + x * normal_pdf(x);
    case ACT_GELU_TANH: gelu_tanh(x, &s, NULL); return s;
    case ACT_SIGMOID: return y * (1 - y);
    case ACT_TANH: return 1 - y * y;
    case ACT_SOFTPLUS: return sigmoid(x);
    case ACT_SWISH: s = sigmoid(x); return s + x * s * (1 - s);
    default: return 1;
    }
}

/* act'(x) and act''(x), given y = act(x). */
FP_HD static inline void act_derivs(act_kind act, real x, real y, real *d1, real *d2)
{
    real s;
    switch (act) {
    case ACT_RELU:      *d1 = x > 0 ? 1 : 0; *d2 = 0; return;
    case ACT_LEAKYRELU: *d1 = x > 0 ? 1 : LEAKY_SLOPE; *d2 = 0; return;
    case ACT_ELU:       *d1 = x > 0 ? 1 : exp(x); *d2 = x > 0 ? 0 : exp(x); return;
    case ACT_SELU:
        *d1 = SELU_LAMBDA * (x > 0 ? 1 : SELU_ALPHA * exp(x));
        *d2 = x > 0 ? 0 : SELU_LAMBDA * SELU_ALPHA * exp(x);
        return;
    case ACT_GELU:   /* (xΦ)'' = 2φ + xφ' = φ (2 - x²) */
        *d1 = normal_cdf(x) + x * normal_pdf(x);
        *d2 = normal_pdf(x) * (2 - x * x);
        return;
    case ACT_GELU_TANH: gelu_tanh(x, d1, d2); return;
    case ACT_SIGMOID: *d1 = y * (1 - y); *d2 = y * (1 - y) * (1 - 2 * y); return;
    case ACT_TANH:    *d1 = 1 - y * y; *d2 = -2 * y * (1 - y * y); return;
    case ACT_SOFTPLUS:
        s = sigmoid(x);
        *d1 = s;
        *d2 = s * (1 - s);
        return;
    case ACT_SWISH:
        s = sigmoid(x);
        *d1 = s + x * s * (1 - s);
        *d2 = s * (1 - s) * (2 + x * (1 - 2 * s));
        return;
    default: *d1 = 1; *d2 = 0; return;   /* identity */
    }
}

/* ---- softmax and logsoftmax over one row of cols */

FP_HD static inline void softmax_row(real *y, const real *x, size_t cols, int log_form)
{
    real top = x[0], sum = 0;
    for (size_t c = 1; c < cols; c++)
        top = x[c] > top ? x[c] : top;
    for (size_t c = 0; c < cols; c++)
        sum += exp(x[c] - top);
    real shift = top + log(sum);
    for (size_t c = 0; c < cols; c++)
        y[c] = log_form ? x[c] - shift : exp(x[c] - top) / sum;
}

/* dx from dy, given y (the row's output); dx may be dy. */
FP_HD static inline void softmax_backward_row(act_kind act, real *dx, const real *dy, const real *y,
                                             size_t cols)
{
    real sum = 0;
    if (act == ACT_SOFTMAX) {   /* dx = y (dy - Σ dy y) */
        for (size_t c = 0; c < cols; c++)
            sum += dy[c] * y[c];
        for (size_t c = 0; c < cols; c++)
            dx[c] = y[c] * (dy[c] - sum);
    } else {                    /* dx = dy - exp(y) Σ dy */
        for (size_t c = 0; c < cols; c++)
            sum += dy[c];
        for (size_t c = 0; c < cols; c++)
            dx[c] = dy[c] - exp(y[c]) * sum;
    }
}

/* The tangent of a row's output from its input's tangent tx (ty may be tx). */
FP_HD static inline void softmax_tangent_row(act_kind act, real *ty, const real *tx, const real *y,
                                            size_t cols)
{
    real sum = 0;   /* the softmax p is y or exp(y) */
    for (size_t c = 0; c < cols; c++)
        sum += (act == ACT_SOFTMAX ? y[c] : exp(y[c])) * tx[c];
    for (size_t c = 0; c < cols; c++)
        ty[c] = act == ACT_SOFTMAX ? y[c] * (tx[c] - sum) : tx[c] - sum;
}

/* tdy: the tangent of dL/dy in, of dL/dx out (in place); ty the output's
 * tangent (NULL: zero), dy the primal dL/dy. */
FP_HD static inline void softmax_tangent_backward_row(act_kind act, real *tdy, const real *ty,
                                                     const real *dy, const real *y, size_t cols)
{
    real s = 0, ts = 0;
    if (act == ACT_SOFTMAX) {
        for (size_t c = 0; c < cols; c++) {
            s += dy[c] * y[c];
            ts += tdy[c] * y[c] + (ty ? dy[c] * ty[c] : 0);
        }
        for (size_t c = 0; c < cols; c++)
            tdy[c] = (ty ? ty[c] * (dy[c] - s) : 0) + y[c] * (tdy[c] - ts);
    } else {
        for (size_t c = 0; c < cols; c++) {
            s += dy[c];
            ts += tdy[c];
        }
        for (size_t c = 0; c < cols; c++)
            tdy[c] -= exp(y[c]) * ((ty ? ty[c] * s : 0) + ts);
    }
}

/* ---- losses (Flux.Losses' definitions; n = B*C elements in B rows) */

/* One element's term of an elementwise loss (output o, target y), in double,
 * and its dL/do into *d; loss_total turns the sum of terms into the loss. */
FP_HD static inline double loss_term(fp_loss loss, real o, real y, real *d, size_t n, size_t B)
{
    real per_elem = 1 / (real)n, per_row = 1 / (real)B, eps = R1(REAL_EPS), e, a;
    switch (loss) {
    case FP_LOSS_SUMSQ: *d = 2 * o; return (double)(o * o);
    case FP_LOSS_MSE: e = o - y; *d = 2 * e * per_elem; return (double)(e * e);
    case FP_LOSS_SSE: e = o - y; *d = 2 * e; return (double)(e * e);
    case FP_LOSS_MAE: e = o - y; *d = sign_of(e) * per_elem; return (double)fabs(e);
    case FP_LOSS_HUBER:   /* δ = 1: quadratic strictly inside, linear outside */
        e = o - y;
        a = fabs(e);
        *d = (a < 1 ? e : sign_of(e)) * per_elem;
        return (double)(a < 1 ? R1(0.5) * e * e : a - R1(0.5));
    case FP_LOSS_CROSSENTROPY:   /* xlogy: a zero target contributes nothing */
        *d = y != 0 ? -y / (o + eps) * per_row : 0;
        return y != 0 ? -(double)(y * log(o + eps)) : 0;
    case FP_LOSS_BINARYCROSSENTROPY: {
        real p = o + eps, q = 1 - o + eps, t = 1 - y;
        *d = ((y != 0 ? -y / p : 0) + (t != 0 ? t / q : 0)) * per_elem;
        return -(double)((y != 0 ? y * log(p) : 0) + (t != 0 ? t * log(q) : 0));
    }
    case FP_LOSS_LOGITBINARYCROSSENTROPY:
        *d = (exp(log_sigmoid(o)) - y) * per_elem;
        return (double)((1 - y) * o - log_sigmoid(o));
    default: *d = 0; return 0;
    }
}

/* The loss from the sum of its terms (loss_term, logit_crossentropy_row). */
FP_HD static inline double loss_total(fp_loss loss, double sum, size_t n, size_t B)
{
    switch (loss) {
    case FP_LOSS_SUMSQ:
    case FP_LOSS_SSE: return sum;
    case FP_LOSS_CROSSENTROPY:
    case FP_LOSS_LOGITCROSSENTROPY: return sum / (double)B;
    default: return sum / (double)n;   /* mse, mae, huber, the binary ones */
    }
}

/* -sum(y .* logsoftmax(x)) for one row, and (softmax(x) sum(y) - y) / B into d. */
FP_HD static inline double logit_crossentropy_row(real *d, const real *x, const real *y, size_t C,
                                                  real per_row)
{
    real top = x[0], sum_y = 0, sum_exp = 0;
    for (size_t c = 1; c < C; c++)
        top = x[c] > top ? x[c] : top;
    for (size_t c = 0; c < C; c++) {
        sum_exp += exp(x[c] - top);
        sum_y += y[c];
    }
    real log_sum = top + log(sum_exp);
    double total = 0;
    for (size_t c = 0; c < C; c++) {
        total -= (double)(y[c] * (x[c] - log_sum));
        if (d)
            d[c] = (exp(x[c] - log_sum) * sum_y - y[c]) * per_row;
    }
    return total;
}

/* d(dL/do)/do for the elementwise losses (target t). */
FP_HD static inline real loss_second_derivative(fp_loss loss, real o, real t, size_t n, size_t B)
{
    real per_elem = 1 / (real)n, per_row = 1 / (real)B, eps = R1(REAL_EPS);
    switch (loss) {
    case FP_LOSS_SUMSQ:
    case FP_LOSS_SSE: return 2;
    case FP_LOSS_MSE: return 2 * per_elem;
    case FP_LOSS_HUBER: return fabs(o - t) < 1 ? per_elem : 0;
    case FP_LOSS_CROSSENTROPY: return t != 0 ? t / ((o + eps) * (o + eps)) * per_row : 0;
    case FP_LOSS_BINARYCROSSENTROPY: {
        real p = o + eps, q = 1 - o + eps, u = 1 - t;
        return ((t != 0 ? t / (p * p) : 0) + (u != 0 ? u / (q * q) : 0)) * per_elem;
    }
    case FP_LOSS_LOGITBINARYCROSSENTROPY: {
        real s = exp(log_sigmoid(o));
        return s * (1 - s) * per_elem;
    }
    default: return 0;   /* mae: piecewise linear */
    }
}

/* The tangent of logitcrossentropy's d for one row: tg from the output's tangent tx. */
FP_HD static inline void logit_crossentropy_tangent_row(real *tg, const real *x, const real *t,
                                                       const real *tx, size_t C, real per_row)
{
    real top = x[0], sum_exp = 0, sum_y = 0, dot = 0;
    for (size_t c = 1; c < C; c++)
        top = x[c] > top ? x[c] : top;
    for (size_t c = 0; c < C; c++) {
        sum_exp += exp(x[c] - top);
        sum_y += t[c];
    }
    for (size_t c = 0; c < C; c++)
        dot += exp(x[c] - top) / sum_exp * tx[c];
    for (size_t c = 0; c < C; c++)
        tg[c] = sum_y * per_row * exp(x[c] - top) / sum_exp * (tx[c] - dot);
}

/* ---- one normalisation group: n elements elem_stride apart (BatchNorm's
 * groups are columns, LayerNorm's rows) */

/* xhat = (x - mean) / sqrt(var + eps), the biased variance as Flux and PyTorch. */
FP_HD static inline void norm_stats_group(real *xh, real *mean, real *rstd, const real *x, size_t n,
                                          size_t elem_stride, real eps)
{
    real m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i * elem_stride];
    m /= (real)n;
    for (size_t i = 0; i < n; i++) {
        real d = x[i * elem_stride] - m;
        v += d * d;
    }
    v /= (real)n;
    real r = 1 / sqrt(v + eps);
    for (size_t i = 0; i < n; i++)
        xh[i * elem_stride] = (x[i * elem_stride] - m) * r;
    *mean = m;
    *rstd = r;
}

/* dinp = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); dinp may be dxhat. */
FP_HD static inline void norm_stats_backward_group(real *dinp, const real *dxhat, const real *xhat,
                                                   real rstd, size_t n, size_t elem_stride)
{
    real m1 = 0, m2 = 0;
    for (size_t i = 0; i < n; i++) {
        m1 += dxhat[i * elem_stride];
        m2 += dxhat[i * elem_stride] * xhat[i * elem_stride];
    }
    m1 /= (real)n;
    m2 /= (real)n;
    for (size_t i = 0; i < n; i++) {
        size_t j = i * elem_stride;
        dinp[j] = rstd * (dxhat[j] - m1 - xhat[j] * m2);
    }
}

/* The tangent of norm_stats_backward_group's dinp = r (g - m1 - xhat m2), with
 * m1 = mean(g), m2 = mean(g xhat), for one direction: tg, txhat and tr the
 * tangents of g, xhat and r: r' (g - m1 - xhat m2) + r (g' - m1' - xhat' m2 - xhat m2'). */
FP_HD static inline void norm_stats_tangent_backward_group(real *out, const real *tg, const real *g,
                                                           const real *xhat, const real *txhat,
                                                           real r, real tr, size_t n,
                                                           size_t elem_stride)
{
    real m1 = 0, m2 = 0, tm1 = 0, tm2 = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = i * elem_stride;
        m1 += g[j];
        m2 += g[j] * xhat[j];
        tm1 += tg[j];
        tm2 += tg[j] * xhat[j] + g[j] * txhat[j];
    }
    m1 /= (real)n;
    m2 /= (real)n;
    tm1 /= (real)n;
    tm2 /= (real)n;
    for (size_t i = 0; i < n; i++) {
        size_t j = i * elem_stride;
        out[j] = tr * (g[j] - m1 - xhat[j] * m2) + r * (tg[j] - tm1 - txhat[j] * m2 - xhat[j] * tm2);
    }
}

/* ---- the tangent pass's view of one parameter's K directions */

/* live: not all zero there. Direction k at rows + k*stride; with unit,
 * direction k is the unit vector of the parameter's element unit_at + k (none
 * when out of range), and rows may be NULL (a Dense layer needs only unit_at;
 * the host makes the rows only for nets with normalisation layers, which read
 * them). */
typedef struct tslice {
    int live;
    const real *rows;
    size_t stride;
    int unit;
    int64_t unit_at;
    uint64_t size;
} tslice;

/* The k range [*k0, *k1) of unit directions that fall inside a parameter. */
FP_HD static inline void unit_range(const tslice *t, size_t K, size_t *k0, size_t *k1)
{
    int64_t lo = -t->unit_at, hi = (int64_t)t->size - t->unit_at;
    *k0 = lo > 0 ? (size_t)lo : 0;
    *k1 = hi < 0 ? 0 : (size_t)hi < K ? (size_t)hi : K;
    *k1 = *k1 > *k0 ? *k1 : *k0;
}

#endif
