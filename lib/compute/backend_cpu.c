/* The CPU backend: CBLAS from OpenBLAS. The thread count is OpenBLAS's
 * (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS); Hessians use it for blocks of
 * directions side by side (hessian.c). */
#include "backend.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void gemm_f32 FP_GEMM_SIGNATURE(float)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static void gemm_f64 FP_GEMM_SIGNATURE(double)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static int get_threads(void)
{
    return openblas_get_num_threads();
}

static void set_threads(int n)
{
    openblas_set_num_threads(n);
}

const fp_backend fp_backend_cpu = {
    .name = "cpu",
    .max_dim = INT_MAX,
    .gemm_f32 = gemm_f32,
    .gemm_f64 = gemm_f64,
    .get_threads = get_threads,
    .set_threads = set_threads,
    .ready_gemm_callers = blas_reserve_buffers,
};

/* The CUDA backend lives in libflatparams_cuda.so beside this library (or at
 * $FLATPARAMS_CUDA_MODULE), loaded the first time a command asks for the GPU:
 * commands that never do map no CUDA library at all. */
static const fp_backend *cuda_open(char *why, size_t why_cap)
{
    static const fp_backend *(*open_fn)(char *, size_t);
    static char failed[256];
    if (!open_fn && !failed[0]) {
        char path[PATH_MAX];
        const char *env = getenv("FLATPARAMS_CUDA_MODULE");
        Dl_info self;
        if (env)
            snprintf(path, sizeof path, "%s", env);
        else if (dladdr((void *)&fp_backend_find, &self) && self.dli_fname && strchr(self.dli_fname, '/'))
            snprintf(path, sizeof path, "%.*s/libflatparams_cuda.so",
                     (int)(strrchr(self.dli_fname, '/') - self.dli_fname), self.dli_fname);
        else
            snprintf(path, sizeof path, "libflatparams_cuda.so");
        void *module = access(path, F_OK) == 0 ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        if (module)
            *(void **)&open_fn = dlsym(module, "fp_backend_cuda_open");
        const char *dl = dlerror();
        if (!open_fn)
            snprintf(failed, sizeof failed, "%s",
                     access(path, F_OK) ? "this flatparams was built without CUDA (meson option cuda)"
                                        : dl ? dl : "the CUDA module is broken");
    }
    if (!open_fn) {
        snprintf(why, why_cap, "%s", failed);
        return NULL;
    }
    return open_fn(why, why_cap);
}

const fp_backend *fp_backend_find(const char *name, char *why, size_t why_cap)
{
    if (name && strcmp(name, "cpu") && strcmp(name, "cuda") && strcmp(name, "auto")) {
        snprintf(why, why_cap, "unknown device '%s' (cpu, cuda, auto)", name);
        return NULL;
    }
    const fp_backend *gpu = name && strcmp(name, "cpu") ? cuda_open(why, why_cap) : NULL;
    if (gpu || (name && !strcmp(name, "cuda")))
        return gpu;
    /* cpu, or auto falling back silently: with the calling thread's BLAS buffer */
    return blas_reserve_caller_buffer(why, why_cap) == 0 ? &fp_backend_cpu : NULL;
}
