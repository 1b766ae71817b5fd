/*
 * The kernels' number type. compute_f32.c and compute_f64.c define FP_REAL_BITS
 * and include the kernel files, so each is written once and compiled twice.
 * <tgmath.h> makes exp, log, tanh, ... follow the argument's type; write
 * constants as `real` (R1(0.5)) so float code stays float.
 */
#ifndef FP_COMPUTE_REAL_H
#define FP_COMPUTE_REAL_H

#include <float.h>
#include <tgmath.h>

#if FP_REAL_BITS == 32
typedef float real;
#define REAL_EPS FLT_EPSILON
#define REAL_DTYPE FP_F32
#define REAL_NAME(name) name##_f32
#elif FP_REAL_BITS == 64
typedef double real;
#define REAL_EPS DBL_EPSILON
#define REAL_DTYPE FP_F64
#define REAL_NAME(name) name##_f64
#else
#error "define FP_REAL_BITS as 32 or 64 and compile through compute_f32.c or compute_f64.c"
#endif

#define R1(x) ((real)(x))

/* The name of an exported table of passes: fp_net_ops_f32; the CUDA build of
 * the same passes (cuda/) defines it as fp_net_ops_cuda_f32. */
#ifndef PASS_NAME
#define PASS_NAME(name) REAL_NAME(name)
#endif

#endif
