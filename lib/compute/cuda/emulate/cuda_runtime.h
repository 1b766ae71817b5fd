/*
 * The CUDA runtime, emulated on the CPU, for testing the CUDA backend where
 * there is no GPU (meson option emulate_cuda): backend_cuda.cu, kernels.cuh
 * and the passes compile unchanged with the host's C++ compiler against this
 * header and cublas_v2.h beside it, and the cuda suite runs them.
 *
 * What it checks, and what it cannot:
 *  - A kernel runs as its whole grid, one thread after another (blockIdx,
 *    threadIdx set for each), so indexing, grid-stride loops and bounds are
 *    exercised; a sanitizer build sees every out-of-bounds access, which on a
 *    GPU would pass silently.
 *  - "Device" memory is host memory filled with 0xff bytes (NaN) when
 *    allocated, so a kernel or copy that reads what nothing wrote shows up as a
 *    NaN in the results. Its capacity is FLATPARAMS_CUDA_EMULATE_MIB (default
 *    4096): cudaMemGetInfo and failing allocations follow it.
 *  - Work on the default stream runs at once. Copies queued on another stream
 *    are held back until something waits for them (an event after them, the
 *    stream, the device, or cudaFree, which waits for the device as CUDA's
 *    does): the slowest schedule CUDA allows, so a buffer reused before its
 *    copy has been waited for shows up as wrong rows.
 *  - It says nothing of speed, of real concurrency, or of a GPU's limits
 *    (launch sizes, occupancy, float rounding in the GPU's own math library).
 *
 * It reports a device only under FLATPARAMS_CUDA_EMULATE=1, so the commands of
 * an emulating build still take --device cuda for a missing GPU.
 */
#ifndef FP_CUDA_EMULATE_RUNTIME_H
#define FP_CUDA_EMULATE_RUNTIME_H

#ifndef __cplusplus
#error "the CUDA emulation is C++"
#endif

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <vector>
#include <math.h>

#define FP_CUDA_EMULATED 1

#define __global__
#define __device__
#define __host__

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline uint3 blockIdx, threadIdx;   /* one host thread launches (the backend runs no passes side by side) */
inline dim3 blockDim, gridDim;

/* kernel<<<grid, block>>>(args): every thread of the grid, in turn. */
template <typename F>
inline void fp_emu_launch(dim3 grid, dim3 block, F &&body)
{
    gridDim = grid;
    blockDim = block;
    for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++)
            for (unsigned ty = 0; ty < block.y; ty++)
                for (unsigned tx = 0; tx < block.x; tx++) {
                    blockIdx = { bx, by, 0 };
                    threadIdx = { tx, ty, 0 };
                    body();
                }
}

/* One thread at a time: an atomic add is an add. */
inline double atomicAdd(double *at, double v)
{
    double old = *at;
    *at = old + v;
    return old;
}

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorNoDevice = 100,
    cudaErrorUnknown = 999,
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
    cudaMemcpyDeviceToDevice, cudaMemcpyDefault
} cudaMemcpyKind;

enum { cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2 };

/* ---- the emulated device's state */

struct fp_emu_stream {
    std::vector<std::function<void()>> pending;   /* queued, not yet run */
    size_t done = 0;                              /* how many of them have run */
};
struct fp_emu_event {
    fp_emu_stream *stream = nullptr;   /* recorded on (NULL: the default stream) */
    size_t mark = 0;                   /* the stream's work before it */
};
typedef fp_emu_stream *cudaStream_t;
typedef fp_emu_event *cudaEvent_t;

struct fp_emu_state {
    std::map<void *, size_t> device;    /* allocations and their sizes */
    size_t used = 0;
    std::vector<fp_emu_stream *> streams;
    cudaError_t last = cudaSuccess;
};
inline fp_emu_state fp_emu;

inline size_t fp_emu_capacity(void)
{
    const char *mib = getenv("FLATPARAMS_CUDA_EMULATE_MIB");
    return (mib && *mib ? (size_t)strtoull(mib, NULL, 10) : (size_t)4096) << 20;
}

inline bool fp_emu_on(void)
{
    const char *on = getenv("FLATPARAMS_CUDA_EMULATE");
    return on && !strcmp(on, "1");
}

/* Runs a stream's queued work up to `mark` (all of it: SIZE_MAX). */
inline void fp_emu_drain(fp_emu_stream *s, size_t mark)
{
    if (!s)
        return;
    while (s->done < s->pending.size() && s->done < mark)
        s->pending[s->done++]();
}

inline void fp_emu_drain_all(void)
{
    for (fp_emu_stream *s : fp_emu.streams)
        fp_emu_drain(s, SIZE_MAX);
}

inline cudaError_t fp_emu_note(cudaError_t e)
{
    if (e != cudaSuccess)
        fp_emu.last = e;
    return e;
}

/* ---- devices and errors */

inline cudaError_t cudaGetDeviceCount(int *count)
{
    *count = fp_emu_on() ? 1 : 0;
    return fp_emu_on() ? cudaSuccess : cudaErrorNoDevice;
}

inline const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice:
        return "this is the CPU emulation of the CUDA backend, for tests: it runs only under "
               "FLATPARAMS_CUDA_EMULATE=1";
    default: return "unknown error";
    }
}

inline cudaError_t cudaGetLastError(void)
{
    cudaError_t e = fp_emu.last;
    fp_emu.last = cudaSuccess;
    return e;
}

inline cudaError_t cudaDeviceSynchronize(void)
{
    fp_emu_drain_all();
    return cudaSuccess;
}

/* ---- memory */

inline cudaError_t cudaMalloc(void **p, size_t bytes)
{
    *p = NULL;
    if (fp_emu.used + bytes > fp_emu_capacity())
        return fp_emu_note(cudaErrorMemoryAllocation);
    void *m = malloc(bytes ? bytes : 1);
    if (!m)
        return fp_emu_note(cudaErrorMemoryAllocation);
    memset(m, 0xff, bytes);   /* NaN: what nothing wrote */
    fp_emu.device[m] = bytes;
    fp_emu.used += bytes;
    *p = m;
    return cudaSuccess;
}

inline cudaError_t cudaFree(void *p)
{
    fp_emu_drain_all();   /* CUDA's cudaFree waits for the device */
    if (!p)
        return cudaSuccess;
    auto it = fp_emu.device.find(p);
    if (it == fp_emu.device.end())
        return fp_emu_note(cudaErrorInvalidValue);
    fp_emu.used -= it->second;
    fp_emu.device.erase(it);
    free(p);
    return cudaSuccess;
}

inline cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    *total = fp_emu_capacity();
    *free_bytes = *total > fp_emu.used ? *total - fp_emu.used : 0;
    return cudaSuccess;
}

inline cudaError_t cudaMallocHost(void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : fp_emu_note(cudaErrorMemoryAllocation);
}

inline cudaError_t cudaFreeHost(void *p)
{
    fp_emu_drain_all();
    free(p);
    return cudaSuccess;
}

inline cudaError_t cudaMemset(void *p, int value, size_t bytes)
{
    memset(p, value, bytes);
    return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    (void)kind;
    memcpy(dst, src, bytes);
    return cudaSuccess;
}

inline cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t height, cudaMemcpyKind kind)
{
    (void)kind;
    if (width > dpitch || width > spitch)
        return fp_emu_note(cudaErrorInvalidValue);
    for (size_t r = 0; r < height; r++)
        memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}

/* ---- streams and events: the default stream (NULL) runs work at once,
 * another stream queues it until waited for */

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    *s = new fp_emu_stream;
    fp_emu.streams.push_back(*s);
    return cudaSuccess;
}

inline cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    fp_emu_drain(s, SIZE_MAX);
    for (size_t i = 0; i < fp_emu.streams.size(); i++)
        if (fp_emu.streams[i] == s)
            fp_emu.streams.erase(fp_emu.streams.begin() + (long)i);
    delete s;
    return cudaSuccess;
}

inline cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (s)
        fp_emu_drain(s, SIZE_MAX);
    else
        fp_emu_drain_all();
    return cudaSuccess;
}

inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                   cudaStream_t s)
{
    if (!s)
        return cudaMemcpy(dst, src, bytes, kind);
    s->pending.push_back([=] { memcpy(dst, src, bytes); });
    return cudaSuccess;
}

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
    (void)flags;
    *e = new fp_emu_event;
    return cudaSuccess;
}

inline cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    delete e;
    return cudaSuccess;
}

inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    e->stream = s;
    e->mark = s ? s->pending.size() : 0;
    return cudaSuccess;
}

inline cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    fp_emu_drain(e->stream, e->mark);
    return cudaSuccess;
}

/* The stream's later work waits for the event: an event on the default
 * stream has already happened; one on another stream runs its work now. */
inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags)
{
    (void)s, (void)flags;
    if (e->stream && e->stream != s)
        fp_emu_drain(e->stream, e->mark);
    return cudaSuccess;
}

#endif
