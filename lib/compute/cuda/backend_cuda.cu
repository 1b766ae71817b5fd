/*
 * The CUDA backend: cuBLAS for the matrix products, the passes of
 * passes_f32.cu / passes_f64.cu for everything else, and the host side that
 * keeps a net's buffers on the GPU.
 *
 * A net on this backend has device copies of its parameters, constants,
 * workspace, input and (for Hessians) directions, tangent scratch and H V rows.
 * The pass tables below are the host's view: each call copies in what the host
 * may have changed (parameters, X and Y: small next to the work), runs the
 * device build of the same pass on a shadow net whose pointers are the device
 * copies, and copies back only the result (the output, the gradient, H V).
 * Unit directions (rows of H) are made on the device, not copied.
 *
 * Any failed CUDA or cuBLAS call is recorded (the first one wins) and reported
 * by failed() after the pass, as one error: the passes themselves return no
 * status, as on the CPU.
 */
#include "cuda_internal.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

static cublasHandle_t blas;
static cudaError_t first_error = cudaSuccess;
static char first_what[160];

extern "C" void fp_cuda_note(cudaError_t e, const char *what)
{
    if (e != cudaSuccess && first_error == cudaSuccess) {
        first_error = e;
        snprintf(first_what, sizeof first_what, "%s", what);
    }
}

extern "C" cublasHandle_t fp_cuda_blas(void) { return blas; }

/* ---- FLATPARAMS_CUDA_PROFILE: seconds per kernel, each call synchronised */

static int profiling;
static struct { const char *what; double seconds, flops; long calls; } prof[96];
static char prof_names[64][64];   /* the products' names, by shape */
static int n_prof_names;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

extern "C" double fp_cuda_prof_start(void)
{
    if (!profiling)
        return 0;
    cudaDeviceSynchronize();
    return now();
}

extern "C" void fp_cuda_prof_end(const char *what, double start)
{
    if (!profiling)
        return;
    cudaDeviceSynchronize();
    double took = now() - start;
    for (size_t i = 0; i < sizeof prof / sizeof *prof; i++) {
        if (!prof[i].what || !strcmp(prof[i].what, what)) {
            prof[i].what = what;
            prof[i].seconds += took;
            prof[i].calls++;
            return;
        }
    }
}

/* A product's time under its shape (m x n x k, times count for a batch), with its flops. */
extern "C" void fp_cuda_prof_gemm(const char *what, size_t m, size_t n, size_t k, size_t count,
                                  double start)
{
    if (!profiling)
        return;
    char name[64];
    snprintf(name, sizeof name, "%s %zux%zux%zu%s%.0zu", what, m, n, k, count > 1 ? " x" : "",
             count > 1 ? count : (size_t)0);
    const char *kept = NULL;
    for (int i = 0; i < n_prof_names && !kept; i++)
        if (!strcmp(prof_names[i], name))
            kept = prof_names[i];
    if (!kept && n_prof_names < 64) {
        snprintf(prof_names[n_prof_names], sizeof prof_names[0], "%s", name);
        kept = prof_names[n_prof_names++];
    }
    fp_cuda_prof_end(kept ? kept : what, start);
    for (size_t i = 0; i < sizeof prof / sizeof *prof && prof[i].what; i++)
        if (!strcmp(prof[i].what, kept ? kept : what))
            prof[i].flops += 2.0 * (double)m * (double)n * (double)k * (double)count;
}

static void prof_report(void)
{
    for (size_t i = 0; i < sizeof prof / sizeof *prof && prof[i].what; i++)
        fprintf(stderr, "cuda profile: %-44s %9.4f s %7ld calls %8.2f TFLOP/s\n", prof[i].what,
                prof[i].seconds, prof[i].calls,
                prof[i].seconds > 0 ? prof[i].flops / prof[i].seconds / 1e12 : 0.0);
}

static int failed(char *why, size_t cap)
{
    if (first_error == cudaSuccess)
        return 0;
    snprintf(why, cap, "CUDA: %s failed: %s", first_what, cudaGetErrorString(first_error));
    first_error = cudaSuccess;
    return 1;
}

/* ---- matrix products: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */

static void gemm_f32 FP_GEMM_SIGNATURE(float)
{
    if (!m || !n)
        return;
    double t0 = fp_cuda_prof_start();
    cublasStatus_t st = cublasSgemm(blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                    &alpha, b, (int)ldb, a, (int)lda, &beta, c, (int)ldc);
    if (st != CUBLAS_STATUS_SUCCESS)
        fp_cuda_note(cudaErrorUnknown, "cublasSgemm");
    fp_cuda_prof_gemm("gemm", m, n, k, 1, t0);
}

static void gemm_f64 FP_GEMM_SIGNATURE(double)
{
    if (!m || !n)
        return;
    double t0 = fp_cuda_prof_start();
    cublasStatus_t st = cublasDgemm(blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                    &alpha, b, (int)ldb, a, (int)lda, &beta, c, (int)ldc);
    if (st != CUBLAS_STATUS_SUCCESS)
        fp_cuda_note(cudaErrorUnknown, "cublasDgemm");
    fp_cuda_prof_gemm("gemm", m, n, k, 1, t0);
}

/* ---- a net's device buffers */

typedef struct dev_buf {
    void *p;
    size_t bytes;
} dev_buf;

typedef struct cuda_net {
    dev_buf params, grads, consts, work, x, tangents, V, HV;
    /* Pipelined rows (rows_start, rows_wait): two slots, each with its H V
     * rows on the device and a pinned host copy; the copies run on their own
     * stream, after the slot's `computed` event, while the next block computes. */
    dev_buf HVs[2];
    void *pinned[2];
    size_t pinned_bytes[2];
    int ok[2];                  /* the slot's block was queued without error */
    int next, in_flight;        /* the slot the next block takes; blocks queued */
    cudaStream_t copy;
    cudaEvent_t computed[2], copied[2];
    int pipeline_ready;
    dev_buf S;                  /* full_matrix: the whole matrix */
} cuda_net;

/* Grows a device buffer to at least bytes (contents lost); 0 or -1 (recorded). */
static int grow(dev_buf *b, size_t bytes)
{
    if (b->bytes >= bytes && b->p)
        return 0;
    cudaFree(b->p);
    b->p = NULL;
    b->bytes = 0;
    cudaError_t e = cudaMalloc(&b->p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        char what[96];
        if (bytes >= (size_t)1 << 20)
            snprintf(what, sizeof what, "allocating %zu MiB on the GPU", bytes >> 20);
        else
            snprintf(what, sizeof what, "allocating %zu KiB on the GPU", (bytes + 1023) >> 10);
        fp_cuda_note(e, what);
        b->p = NULL;
        return -1;
    }
    b->bytes = bytes;
    return 0;
}

static void up(void *dst, const void *src, size_t bytes)
{
    double t0 = fp_cuda_prof_start();
    if (bytes)
        fp_cuda_note(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copying to the GPU");
    fp_cuda_prof_end("copy to the GPU", t0);
}

static void down(void *dst, const void *src, size_t bytes)
{
    double t0 = fp_cuda_prof_start();
    if (bytes)
        fp_cuda_note(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copying from the GPU");
    fp_cuda_prof_end("copy from the GPU", t0);
}

static size_t elem_of(const fp_net *net) { return fp_dtype_size(net->precision); }

static cuda_net *state(fp_net *net)
{
    if (!net->device) {
        net->device = calloc(1, sizeof(cuda_net));
        if (!net->device)
            fp_cuda_note(cudaErrorMemoryAllocation, "allocating the GPU state");
    }
    return (cuda_net *)net->device;
}

/* The net as the device passes see it: its buffers are the device copies. */
static fp_net shadow_of(fp_net *net)
{
    cuda_net *s = (cuda_net *)net->device;
    fp_net shadow = *net;
    shadow.params = s->params.p;
    shadow.grads = s->grads.p;
    shadow.consts = s->consts.p;
    shadow.work = s->work.p;
    return shadow;
}

/* Copies in what the host may have changed since the last pass: parameters,
 * constants, X (rows x width) and the target; returns the shadow net whose
 * buffers are the device copies, or -1 when something could not be allocated. */
static int sync_in(fp_net *net, const void *x, fp_net *shadow)
{
    cuda_net *s = state(net);
    size_t e = elem_of(net), x_bytes = net->rows * net->in_elems * e;
    if (!s || grow(&s->params, net->n_params * e) < 0 || grow(&s->grads, net->n_params * e) < 0
        || grow(&s->consts, net->n_consts * e) < 0 || grow(&s->work, net->work_elems * e) < 0
        || grow(&s->x, x_bytes) < 0)
        return -1;
    up(s->params.p, net->params, net->n_params * e);
    up(s->consts.p, net->consts, net->n_consts * e);
    up(s->x.p, x, x_bytes);
    /* the target: rows x (widest) elements at target_at */
    size_t target = (net->delta_at[1] - net->delta_at[0]) * e;
    up((char *)s->work.p + net->target_at * e, (const char *)net->work + net->target_at * e, target);
    *shadow = shadow_of(net);
    return 0;
}

static const net_ops *dev_ops(const fp_net *net)
{
    return net->precision == FP_F32 ? &fp_net_ops_cuda_f32 : &fp_net_ops_cuda_f64;
}

static const net_tangent_ops *dev_tangent_ops(const fp_net *net)
{
    return net->precision == FP_F32 ? &fp_net_tangent_ops_cuda_f32 : &fp_net_tangent_ops_cuda_f64;
}

static int ready;   /* the last sync_in succeeded: loss and backward may run */

static void host_forward(fp_net *net, const void *x)
{
    fp_net shadow;
    if (!(ready = sync_in(net, x, &shadow) == 0))
        return;
    dev_ops(net)->forward(&shadow, ((cuda_net *)net->device)->x.p);
    const layer_plan *last = &net->plan[net->n_layers - 1];
    size_t e = elem_of(net);
    down((char *)net->work + last->out_at * e, (char *)shadow.work + last->out_at * e,
         net->rows * last->out_elems * e);
}

static double host_loss(fp_net *net, fp_loss loss, int with_grad)
{
    if (!ready)
        return 0;
    fp_net shadow = shadow_of(net);
    return dev_ops(net)->loss(&shadow, loss, with_grad);
}

static void host_backward(fp_net *net, const void *x)
{
    (void)x;
    if (!ready)
        return;
    fp_net shadow = shadow_of(net);
    dev_ops(net)->backward(&shadow, ((cuda_net *)net->device)->x.p);
    down(net->grads, shadow.grads, net->n_params * elem_of(net));
}

__global__ static void k_unit_rows_f32(float *V, size_t n, uint64_t begin, size_t k)
{
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < k; r += (size_t)gridDim.x * blockDim.x)
        V[r * n + begin + r] = 1;
}

__global__ static void k_unit_rows_f64(double *V, size_t n, uint64_t begin, size_t k)
{
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < k; r += (size_t)gridDim.x * blockDim.x)
        V[r * n + begin + r] = 1;
}

/* The directions into s->V (unit rows made here, others copied in) and the
 * tangent scratch, for dirs->k directions; -1 when allocating failed (recorded). */
static int directions_in(fp_net *net, cuda_net *s, const tangent_dirs *dirs)
{
    size_t e = elem_of(net), k = dirs->k, n = net->n_params, rows = k * n * e;
    if (grow(&s->tangents, fp_tangent_scratch_elems(net, k, dirs->unit) * e) < 0 || grow(&s->V, rows) < 0)
        return -1;
    if (dirs->unit) {   /* e_lo .. e_lo+k-1, made here */
        fp_cuda_note(cudaMemset(s->V.p, 0, rows), "cudaMemset");
        unsigned blocks = (unsigned)((k + 255) / 256);
        if (net->precision == FP_F32)
            FP_LAUNCH(k_unit_rows_f32, blocks, 256, (float *)s->V.p, n, dirs->lo, k);
        else
            FP_LAUNCH(k_unit_rows_f64, blocks, 256, (double *)s->V.p, n, dirs->lo, k);
        fp_cuda_note(cudaGetLastError(), "making unit directions");
    } else {
        up(s->V.p, dirs->V, rows);
    }
    return 0;
}

static void host_hvp(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dirs, void *HV,
                     void *tangents)
{
    (void)tangents;
    fp_net shadow;
    if (sync_in(net, x, &shadow) < 0)
        return;
    cuda_net *s = (cuda_net *)net->device;
    size_t e = elem_of(net), k = dirs->k, n = net->n_params, rows = k * n * e;
    if (directions_in(net, s, dirs) < 0 || grow(&s->HV, rows) < 0)
        return;
    tangent_dirs on_device = *dirs;
    on_device.V = s->V.p;
    dev_tangent_ops(net)->hvp(&shadow, s->x.p, loss, &on_device, s->HV.p, s->tangents.p);
    if (dirs->unit && dirs->diag_only) {   /* entries (r, lo + r): a column of pitch n + 1 */
        size_t pitch = (n + 1) * e;
        fp_cuda_note(cudaMemcpy2D((char *)HV + dirs->lo * e, pitch, (char *)s->HV.p + dirs->lo * e,
                                  pitch, e, k, cudaMemcpyDeviceToHost), "copying from the GPU");
    } else {
        down(HV, s->HV.p, rows);
    }
}

/* The copy stream and the slots' events, made on the first pipelined block. */
static int pipeline_of(cuda_net *s)
{
    if (s->pipeline_ready)
        return 0;
    cudaError_t e = cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking);
    for (int i = 0; i < 2 && e == cudaSuccess; i++) {
        e = cudaEventCreateWithFlags(&s->computed[i], cudaEventDisableTiming);
        if (e == cudaSuccess)
            e = cudaEventCreateWithFlags(&s->copied[i], cudaEventDisableTiming);
    }
    fp_cuda_note(e, "making the copy stream");
    s->pipeline_ready = e == cudaSuccess;
    return s->pipeline_ready ? 0 : -1;
}

/* A slot's page-locked host buffer, grown to at least bytes; -1 when not (recorded). */
static int pinned_of(cuda_net *s, int slot, size_t bytes)
{
    if (s->pinned_bytes[slot] >= bytes)
        return 0;
    cudaFreeHost(s->pinned[slot]);
    s->pinned_bytes[slot] = 0;
    cudaError_t err = cudaMallocHost(&s->pinned[slot], bytes);
    if (err != cudaSuccess) {
        fp_cuda_note(err, "allocating page-locked host memory");
        s->pinned[slot] = NULL;
        return -1;
    }
    s->pinned_bytes[slot] = bytes;
    return 0;
}

static void rows_start(fp_net *net, const void *x, fp_loss loss, const tangent_dirs *dirs)
{
    cuda_net *s = state(net);
    if (!s)
        return;
    int slot = s->next;
    s->next ^= 1;
    s->in_flight++;
    s->ok[slot] = 0;
    fp_net shadow;
    size_t e = elem_of(net), rows = dirs->k * net->n_params * e;
    if (sync_in(net, x, &shadow) < 0 || pipeline_of(s) < 0 || directions_in(net, s, dirs) < 0
        || grow(&s->HVs[slot], rows) < 0 || pinned_of(s, slot, rows) < 0)
        return;   /* (page-locked, so the copy is asynchronous) */
    tangent_dirs on_device = *dirs;
    on_device.V = s->V.p;
    dev_tangent_ops(net)->hvp(&shadow, s->x.p, loss, &on_device, s->HVs[slot].p, s->tangents.p);
    /* the copy waits for this block's passes (the default stream), not the next block's */
    fp_cuda_note(cudaEventRecord(s->computed[slot], 0), "cudaEventRecord");
    fp_cuda_note(cudaStreamWaitEvent(s->copy, s->computed[slot], 0), "cudaStreamWaitEvent");
    fp_cuda_note(cudaMemcpyAsync(s->pinned[slot], s->HVs[slot].p, rows, cudaMemcpyDeviceToHost,
                                 s->copy), "copying from the GPU");
    fp_cuda_note(cudaEventRecord(s->copied[slot], s->copy), "cudaEventRecord");
    s->ok[slot] = 1;
}

static const void *rows_wait(fp_net *net)
{
    cuda_net *s = (cuda_net *)net->device;
    if (!s || !s->in_flight)
        return NULL;
    int slot = s->in_flight == 2 ? s->next : s->next ^ 1;   /* the oldest */
    s->in_flight--;
    if (!s->ok[slot])
        return NULL;
    double t0 = fp_cuda_prof_start();
    fp_cuda_note(cudaEventSynchronize(s->copied[slot]), "copying from the GPU");
    fp_cuda_prof_end("waiting for a block's rows", t0);
    return s->pinned[slot];
}

/* Rows [at, at + k) of S (n x n) made final, S holding the upper triangle's
 * rows computed in blocks of k from their block's first column (this block is
 * one, those above it are final or upper rows, alike right of this block):
 * left of the block the transpose of the rows above, inside it the average of
 * the two, right of it as computed; so S is exactly symmetric once every
 * block is done (symmetrise.c's fp_symmetrise, a block at a time). One
 * thread per entry left of the diagonal block, one per pair inside it. */
template <typename real>
__global__ static void k_symmetrise_rows(real *S, size_t n, size_t at, size_t k)
{
    size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    size_t i = at + blockIdx.y * (size_t)blockDim.y + threadIdx.y;
    if (i >= at + k || j >= at + k)
        return;
    if (j < at) {
        S[i * n + j] = S[j * n + i];
    } else if (j > i) {
        real mean = (S[i * n + j] + S[j * n + i]) / 2;
        S[i * n + j] = mean;
        S[j * n + i] = mean;
    }
}

/* The copy of rows [at, at + k) of S into a slot's page-locked buffer, after
 * the default stream's work (the event `after`), on the copy stream. */
static void copy_rows_out(cuda_net *s, int slot, size_t at, size_t k, size_t n, size_t e,
                          cudaEvent_t after)
{
    fp_cuda_note(cudaStreamWaitEvent(s->copy, after, 0), "cudaStreamWaitEvent");
    fp_cuda_note(cudaMemcpyAsync(s->pinned[slot], (char *)s->S.p + at * n * e, k * n * e,
                                 cudaMemcpyDeviceToHost, s->copy), "copying from the GPU");
    fp_cuda_note(cudaEventRecord(s->copied[slot], s->copy), "cudaEventRecord");
}

/* -1 with the recorded CUDA failure as the reason. */
static int device_error(fp_net *net, fp_error *err)
{
    return fp_net_device_failed(net, err) < 0 ? -1 : fp_fail(err, "the GPU failed");
}

/* Gives up the whole matrix's device memory and any error its allocating
 * left recorded: the host's scratch path runs instead (1). */
static int not_on_device(cuda_net *s)
{
    char why[8];
    cudaFree(s->S.p);
    s->S.p = NULL;
    s->S.bytes = 0;
    (void)failed(why, sizeof why);
    return 1;
}

/* Block [at, at + k) of the whole matrix on the default stream: its upper
 * triangle's rows in passes of at most `pass` directions, then its rows made
 * final (k_symmetrise_rows); `done` records its end. -1 when the directions
 * could not be allocated. */
enum { SYM_TX = 32, SYM_TY = 8 };   /* k_symmetrise_rows' thread blocks */
static int full_block(fp_net *net, cuda_net *s, fp_net *shadow, fp_loss loss, size_t at,
                      size_t k, size_t pass, cudaEvent_t done)
{
    size_t e = elem_of(net), n = net->n_params;
    for (size_t lo = at; lo < at + k; lo += pass) {
        size_t kp = at + k - lo < pass ? at + k - lo : pass;
        tangent_dirs dirs = { NULL, kp, lo, lo + kp, at, 1, 0, 0 };
        if (directions_in(net, s, &dirs) < 0)
            return -1;
        dirs.V = s->V.p;
        dev_tangent_ops(net)->hvp(shadow, s->x.p, loss, &dirs, (char *)s->S.p + lo * n * e, s->tangents.p);
    }
    dim3 threads(SYM_TX, SYM_TY);
    dim3 grid((unsigned)((at + k + SYM_TX - 1) / SYM_TX), (unsigned)((k + SYM_TY - 1) / SYM_TY));
    double t0 = fp_cuda_prof_start();
    if (net->precision == FP_F32)
        FP_LAUNCH(k_symmetrise_rows<float>, grid, threads, (float *)s->S.p, n, at, k);
    else
        FP_LAUNCH(k_symmetrise_rows<double>, grid, threads, (double *)s->S.p, n, at, k);
    fp_cuda_note(cudaGetLastError(), "k_symmetrise_rows");
    fp_cuda_prof_end("k_symmetrise_rows", t0);
    fp_cuda_note(cudaEventRecord(done, 0), "cudaEventRecord");
    return 0;
}

/* Rows copied from the GPU at a time: two page-locked slots of this many bytes
 * (FLATPARAMS_COPY_ROWS: tests, copies smaller than a block). */
#define COPY_BYTES ((size_t)32 << 20)

/* The whole matrix in the GPU's memory, handed out final row by row while it
 * is computed: block b's rows are made final as soon as they are computed
 * (those above them are), so they copy out, in pieces of at most COPY_BYTES
 * through two page-locked slots, while block b + 1 computes, and the sink
 * writes one piece while the next copies. The GPU runs one block ahead of the
 * copies. 1 (nothing done) when S would not fit in half the free memory. */
static int full_matrix(fp_net *net, const void *x, fp_loss loss, size_t block, size_t pass,
                       const fp_row_sink *sink, fp_error *err)
{
    size_t e = elem_of(net), n = net->n_params, free_bytes = 0, total = 0;
    block = block < n ? block : n;
    pass = pass && pass < block ? pass : block;
    const char *forced = getenv("FLATPARAMS_COPY_ROWS");
    size_t piece = forced && atol(forced) > 0 ? (size_t)atol(forced) : COPY_BYTES / (n * e);
    piece = piece < 1 ? 1 : piece < block ? piece : block;
    /* room for S beside a pass's scratch and directions, with half the GPU to spare */
    double need = (double)n * (double)n * (double)e
                  + (double)(fp_tangent_scratch_elems(net, pass, 1) + pass * n) * (double)e;
    if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess || need > 0.5 * (double)free_bytes
        || (block + SYM_TY - 1) / SYM_TY > 65535)
        return 1;   /* the host's scratch instead */
    fp_net shadow;
    cuda_net *s;
    if (sync_in(net, x, &shadow) < 0 || !(s = (cuda_net *)net->device) || pipeline_of(s) < 0)
        return device_error(net, err);
    if (grow(&s->S, n * n * e) < 0 || pinned_of(s, 0, piece * n * e) < 0
        || pinned_of(s, 1, piece * n * e) < 0)
        return not_on_device(s);
    /* blocks [0, queued) are on the default stream, block b recording
     * computed[b % 2]: the one being copied and the next */
    size_t queued = 0, last_at = 0, last_k = 0;
    int rc = 0, slot = 0;
    for (size_t at = 0; rc == 0; slot ^= 1) {
        size_t k = 0, b = at / block;
        if (at < n) {
            while (queued < n && queued < (b + 2) * block) {
                size_t kb = n - queued < block ? n - queued : block;
                if (full_block(net, s, &shadow, loss, queued, kb, pass,
                               s->computed[(queued / block) % 2]) < 0) {
                    if (at == 0) {   /* nothing handed out: the host's scratch instead */
                        cudaDeviceSynchronize();
                        return not_on_device(s);
                    }
                    rc = device_error(net, err);
                    break;
                }
                queued += kb;
            }
            size_t block_end = (b + 1) * block < n ? (b + 1) * block : n;
            k = block_end - at < piece ? block_end - at : piece;
            if (rc == 0)   /* into the slot of the piece before last, written by now */
                copy_rows_out(s, slot, at, k, n, e, s->computed[b % 2]);
        }
        if (rc == 0 && last_k) {   /* the previous piece, from the other slot */
            double t1 = fp_cuda_prof_start();
            fp_cuda_note(cudaEventSynchronize(s->copied[slot ^ 1]), "copying from the GPU");
            fp_cuda_prof_end("waiting for a block's rows", t1);
            rc = fp_net_device_failed(net, err);
            if (rc == 0)
                rc = sink->ready(sink->ctx, last_at, last_at + last_k, s->pinned[slot ^ 1], err);
        }
        if (!k)
            break;
        last_at = at;
        last_k = k;
        at += k;
    }
    cudaStreamSynchronize(s->copy);   /* nothing left reading S or the slots */
    cudaDeviceSynchronize();          /* nor a block queued ahead (after a failure) */
    cudaFree(s->S.p);                 /* half the GPU, perhaps: not kept */
    s->S.p = NULL;
    s->S.bytes = 0;
    return rc;
}

static const net_ops host_ops = {
    host_forward,
    host_loss,
    host_backward,
};

static const net_tangent_ops host_tangent_ops = {
    host_hvp,
    rows_start,
    rows_wait,
    full_matrix,
};

static void net_ops_of(int precision, const net_ops **ops, const net_tangent_ops **tangent_ops)
{
    (void)precision;   /* the wrappers look at the net's */
    *ops = &host_ops;
    *tangent_ops = &host_tangent_ops;
}

static void net_release(fp_net *net)
{
    cuda_net *s = (cuda_net *)net->device;
    dev_buf *all[] = { &s->params, &s->grads, &s->consts, &s->work, &s->x, &s->tangents, &s->V, &s->HV,
                       &s->HVs[0], &s->HVs[1], &s->S };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cudaFree(all[i]->p);
    for (int i = 0; i < 2; i++)
        cudaFreeHost(s->pinned[i]);
    if (s->pipeline_ready) {
        cudaStreamDestroy(s->copy);
        for (int i = 0; i < 2; i++) {
            cudaEventDestroy(s->computed[i]);
            cudaEventDestroy(s->copied[i]);
        }
    }
    free(s);
    net->device = NULL;
}

/* Set when opened: block_bytes from the GPU's free memory. */
static fp_backend backend_cuda = {
    "cuda",
    INT_MAX,
    gemm_f32,
    gemm_f64,
    net_ops_of,
    net_release,
    failed,
    0,      /* block_bytes: pass_bytes() */
    NULL,   /* threads: the host's only */
    NULL,
};

/* A Hessian pass's scratch: a quarter of the GPU's free memory, at most 4 GiB
 * (a pass's directions, H V rows and the pipeline's two blocks of rows come on
 * top of it, and a small or shared GPU must not fail where smaller passes fit). */
static size_t pass_bytes(void)
{
    size_t free_bytes = 0, total = 0, most = (size_t)4 << 30, least = (size_t)1 << 20;
    if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess)
        return most;
    free_bytes /= 4;
    return free_bytes > most ? most : free_bytes < least ? least : free_bytes;
}

/* The backend when a GPU is usable (its cuBLAS handle made once), else NULL
 * with the reason. */
extern "C" const fp_backend *fp_backend_cuda_open(char *why, size_t cap)
{
    static int tried, usable;
    static char reason[160];
    if (!tried) {
        tried = 1;
        int count = 0;
        cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess)
            snprintf(reason, sizeof reason, "no usable GPU (%s)", cudaGetErrorString(e));
        else if (count == 0)
            snprintf(reason, sizeof reason, "no GPU found");
        else if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS)
            snprintf(reason, sizeof reason, "cuBLAS could not start");
        else
            usable = 1;
        if (usable)
            backend_cuda.block_bytes = pass_bytes();
        if (usable && getenv("FLATPARAMS_CUDA_PROFILE")) {
            profiling = 1;
            atexit(prof_report);
        }
    }
    if (!usable) {
        snprintf(why, cap, "%s", reason);
        return NULL;
    }
    return &backend_cuda;
}
