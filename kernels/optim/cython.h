/* The C of the Cython optimizer updates (kernels/optim/cython.pxi declares it). */

#ifndef TAPEGRAD_OPTIM_CYTHON_H
#define TAPEGRAD_OPTIM_CYTHON_H

#include "../_cython.h"

/* ---------------------------------------------------------- optimizer steps
   One in-place step over parameters i = 0..n-1 (Keras's formulas; the
   Cython wrappers in optim/cython.pxi document them), written as plain
   loops that GCC vectorises.  They live here, stamped out per vector width
   like the micro-kernels, because the square root and the division of
   RMSprop and Adam are the slowest instructions in them: on an AVX-512 CPU
   512-bit vectors halve how many of those run (kernels/gemm/MEASUREMENTS.md). */
#define TG_DEFINE_OPTIMIZERS(S, T, SQRT, ATTR)                               \
ATTR static void tg_sgd_##S(long n, T *w, const T *g, T *v, T lr, T mu,      \
                            int nesterov)                                    \
{                                                                            \
    if (!v) {                           /* plain SGD */                      \
        for (long i = 0; i < n; i++) w[i] = w[i] - lr * g[i];                \
    } else if (nesterov) {              /* momentum, Nesterov's look-ahead */\
        for (long i = 0; i < n; i++) {                                       \
            T vi = mu * v[i] - lr * g[i];                                    \
            v[i] = vi;                                                       \
            w[i] = w[i] + (mu * vi - lr * g[i]);                             \
        }                                                                    \
    } else {                            /* momentum */                       \
        for (long i = 0; i < n; i++) {                                       \
            T vi = mu * v[i] - lr * g[i];                                    \
            v[i] = vi;                                                       \
            w[i] = w[i] + vi;                                                \
        }                                                                    \
    }                                                                        \
}                                                                            \
ATTR static void tg_rmsprop_##S(long n, T *w, const T *g, T *v, T lr, T rho, \
                                T one_minus_rho, T eps)                      \
{                                                                            \
    for (long i = 0; i < n; i++) {                                           \
        T gi = g[i];                                                         \
        T vi = rho * v[i] + one_minus_rho * gi * gi;                         \
        v[i] = vi;                                                           \
        w[i] = w[i] - lr * gi / SQRT(vi + eps);                              \
    }                                                                        \
}                                                                            \
ATTR static void tg_adam_##S(long n, T *w, const T *g, T *m, T *v, T alpha,  \
                             T one_minus_beta1, T one_minus_beta2, T eps)    \
{                                                                            \
    for (long i = 0; i < n; i++) {                                           \
        T gi = g[i];                                                         \
        T mi = m[i] + (gi - m[i]) * one_minus_beta1;                         \
        T vi = v[i] + (gi * gi - v[i]) * one_minus_beta2;                    \
        m[i] = mi;                                                           \
        v[i] = vi;                                                           \
        w[i] = w[i] - alpha * mi / (SQRT(vi) + eps);                         \
    }                                                                        \
}
#define TG_DEFINE_OPTIMIZER_SET(S, ATTR)                                     \
    TG_DEFINE_OPTIMIZERS(s_##S, float, sqrtf, ATTR)                          \
    TG_DEFINE_OPTIMIZERS(d_##S, double, sqrt, ATTR)


#if defined(__AVX2__) && defined(__FMA__)
TG_DEFINE_OPTIMIZER_SET(ymm, )
#if TG_HAVE_512
/* GCC would vectorise these plain loops 256 bits wide unless told otherwise */
TG_DEFINE_OPTIMIZER_SET(zmm, __attribute__((target("avx512f,prefer-vector-width=512"))))
#endif
#else
TG_DEFINE_OPTIMIZER_SET(xmm, )
#endif

/* The updates in use, chosen by tg_optim_select() as the GEMM's kernels are. */
typedef void (*tg_sgd_s_t)(long, float *, const float *, float *, float, float, int);
typedef void (*tg_sgd_d_t)(long, double *, const double *, double *, double, double, int);
typedef void (*tg_rmsprop_s_t)(long, float *, const float *, float *, float, float, float, float);
typedef void (*tg_rmsprop_d_t)(long, double *, const double *, double *, double, double, double, double);
typedef void (*tg_adam_s_t)(long, float *, const float *, float *, float *, float, float, float, float);
typedef void (*tg_adam_d_t)(long, double *, const double *, double *, double *, double, double, double, double);
static tg_sgd_s_t tg_sgd_s;  static tg_rmsprop_s_t tg_rmsprop_s;  static tg_adam_s_t tg_adam_s;
static tg_sgd_d_t tg_sgd_d;  static tg_rmsprop_d_t tg_rmsprop_d;  static tg_adam_d_t tg_adam_d;
#define TG_USE_OPTIMIZERS(S)                                                 \
    tg_sgd_s = tg_sgd_s_##S; tg_rmsprop_s = tg_rmsprop_s_##S;                \
    tg_adam_s = tg_adam_s_##S; tg_sgd_d = tg_sgd_d_##S;                      \
    tg_rmsprop_d = tg_rmsprop_d_##S; tg_adam_d = tg_adam_d_##S;

/* wide = 1: the 512-bit loops when compiled and supported. */
static void tg_optim_select(int wide) {
#if defined(__AVX2__) && defined(__FMA__)
#if TG_HAVE_512
    if (tg_use_512(wide)) {
        TG_USE_OPTIMIZERS(zmm)
        return;
    }
#endif
    TG_USE_OPTIMIZERS(ymm)
#else
    (void)wide;
    TG_USE_OPTIMIZERS(xmm)
#endif
}

#endif /* TAPEGRAD_OPTIM_CYTHON_H */
