/* The C of the Cython dropout kernels (kernels/elementwise/cython.pxi declares it). */
#ifndef TAPEGRAD_ELEMENTWISE_CYTHON_H
#define TAPEGRAD_ELEMENTWISE_CYTHON_H

#include "../_cython.h"

/* ---------------------------------------------------------- dropout
   Inverted dropout's two loops (the Cython wrappers in elementwise/cython.pxi
   document them), written so that each element's choice is a select, not
   a branch: at rate 0.5 a branch per element is mispredicted half the
   time, and GCC vectorises the select into blends.  GCC does that only
   when told that a float compare or multiply may run for an element whose
   result is then dropped (no-trapping-math: nothing here reads the
   floating-point exception flags); only these loops are told, as the flag
   made other kernels slower when given to the whole build. */
#define TG_SELECTS __attribute__((optimize("no-trapping-math")))
#define TG_DEFINE_DROPOUT(S, T)                                              \
TG_SELECTS static void tg_dropout_forward_##S(long n, const T *x, const T *u, \
                                   T threshold, T scale, T *out, T *mask)    \
{                                                                            \
    for (long i = 0; i < n; i++) {                                           \
        int keep = u[i] >= threshold;                                        \
        T kept = x[i] * scale;                                               \
        mask[i] = keep ? scale : 0;                                          \
        out[i] = keep ? kept : 0;                                            \
    }                                                                        \
}                                                                            \
TG_SELECTS static void tg_dropout_backward_##S(long n, const T *g, const T *mask, \
                                               T *out)                       \
{                                                                            \
    for (long i = 0; i < n; i++) {                                           \
        T scaled = g[i] * mask[i];                                           \
        out[i] = mask[i] != 0 ? scaled : 0;                                  \
    }                                                                        \
}
TG_DEFINE_DROPOUT(s, float)
TG_DEFINE_DROPOUT(d, double)

#endif /* TAPEGRAD_ELEMENTWISE_CYTHON_H */
