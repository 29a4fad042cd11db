/* The C side of the Cython GEMM (kernels/gemm/cython.pxi declares it).

   Written in C because Cython has no word for these: GCC vector extensions
   (the micro-kernels, whose MR x NR tile of C lives in vector registers)
   and vector shuffles (packing A by register transposes).  Each kernel is a
   macro stamped out per element type and vector width; tg_select() picks
   the set the CPU runs.  kernels/gemm/DESIGN.md describes the GEMM these
   serve; reference_micro_kernel in kernels/gemm/reference.py states, with
   loops, what a micro-kernel computes.  The CPU queries, threads and vector
   types all families share are kernels/_cython.h. */
#ifndef TAPEGRAD_GEMM_CYTHON_H
#define TAPEGRAD_GEMM_CYTHON_H

#include "../_cython.h"

/* ---------------------------------------------------------- micro-kernel
   The only hand-vectorised code of the GEMM.  It multiplies a packed
   panel of A (MR rows, stored k-major: a[p*MR + i]) by a panel of B (NR
   columns, row p at b + p*rsb: packed, rsb = NR; read in place from a
   row-major B, rsb = its row length) and keeps the MR x NR block
   of C in registers: MR rows of two vectors V of NR/2 lanes each.  Each
   step p loads two vectors of B, broadcasts MR scalars of A, and does
   2*MR fused multiply-adds (GCC contracts `acc += a*b` into vfmadd).
   At the end it writes C once: optionally adding the old C (when an
   earlier k-block already contributed), a bias row, and applying relu.
   The same body is stamped out for each element type / vector width. */
#define TG_DEFINE_UKERNEL(NAME, T, V, VI, MR, ATTR)                          \
ATTR static void NAME(long kc, const T *restrict a, const T *restrict b,     \
                      long rsb, T *restrict c, long ldc, int accumulate,     \
                      const T *restrict bias, int relu)                      \
{                                                                            \
    enum { VL = sizeof(V) / sizeof(T), NR = 2 * VL };                        \
    V acc[MR][2];                                                            \
    _Pragma("GCC unroll 32")                                                 \
    for (int i = 0; i < MR; i++) { acc[i][0] = (V){0}; acc[i][1] = (V){0}; } \
    /* Start fetching the C tile we will write; for a shallow kc that is   \
       too late, so fetch the next tile to the right instead. */            \
    const T *cpf = kc >= 64 ? c : c + NR;                                    \
    _Pragma("GCC unroll 32")                                                 \
    for (int i = 0; i < MR; i++) { __builtin_prefetch(cpf + i * ldc, 1);     \
                                   __builtin_prefetch(cpf + i * ldc + NR - 1, 1); } \
    _Pragma("GCC unroll 2")                                                  \
    for (long p = 0; p < kc; p++) {                                          \
        V b0, b1;                           /* B in place: not aligned */    \
        memcpy(&b0, b, sizeof(V));                                           \
        memcpy(&b1, b + VL, sizeof(V));                                      \
        _Pragma("GCC unroll 32")                                             \
        for (int i = 0; i < MR; i++) {      /* rank-1 update of the tile */  \
            acc[i][0] += a[i] * b0;                                          \
            acc[i][1] += a[i] * b1;                                          \
        }                                                                    \
        a += MR;                                                             \
        b += rsb;                                                            \
    }                                                                        \
    V bias0 = (V){0}, bias1 = (V){0}, t;                                     \
    if (bias) { memcpy(&bias0, bias, sizeof(V));                             \
                memcpy(&bias1, bias + VL, sizeof(V)); }                      \
    _Pragma("GCC unroll 32")                                                 \
    for (int i = 0; i < MR; i++) {          /* the write-back epilogue */    \
        V r0 = acc[i][0] + bias0, r1 = acc[i][1] + bias1;                    \
        T *ci = c + i * ldc;                                                 \
        if (accumulate) { memcpy(&t, ci, sizeof(V)); r0 += t;                \
                          memcpy(&t, ci + VL, sizeof(V)); r1 += t; }         \
        if (relu) {     /* zero the lanes where r <= 0; NaN stays NaN */     \
            r0 = (V)((VI)r0 & ~(VI)(r0 <= (V){0}));                          \
            r1 = (V)((VI)r1 & ~(VI)(r1 <= (V){0}));                          \
        }                                                                    \
        memcpy(ci, &r0, sizeof(V));                                          \
        memcpy(ci + VL, &r1, sizeof(V));                                     \
    }                                                                        \
}

/* ---------------------------------------------------------- shallow kernel
   For a shallow K (dy @ B: K = 10), each tile of C takes only K rank-1
   updates, so packing A and B and the five loops around the micro-kernel
   cost about as much as the multiply.  This kernel reads A (any strides)
   and a row-major B (row stride rsb) where they lie: for each MR x NR tile
   of C, row by row of tiles (A's MR rows stay in L1, B is small), K steps
   of two vector loads of B and MR broadcasts of A, then C stored once with
   the bias and relu.  Only the whole tiles: the caller does the edges. */
#define TG_DEFINE_SHALLOW(NAME, T, V, VI, MR, ATTR)                          \
ATTR static void NAME(long m, long n, long k, const T *restrict a, long rsa,  \
                      long csa, const T *restrict b, long rsb,               \
                      T *restrict c, long rsc, const T *restrict bias,       \
                      int relu)                                              \
{                                                                            \
    enum { VL = sizeof(V) / sizeof(T), NR = 2 * VL };                        \
    for (long i0 = 0; i0 + MR <= m; i0 += MR)                                \
        for (long j0 = 0; j0 + NR <= n; j0 += NR) {                          \
            V acc[MR][2], b0 = (V){0}, b1 = (V){0};                          \
            if (bias) { memcpy(&b0, bias + j0, sizeof(V));                   \
                        memcpy(&b1, bias + j0 + VL, sizeof(V)); }            \
            _Pragma("GCC unroll 32")                                         \
            for (int i = 0; i < MR; i++) { acc[i][0] = b0; acc[i][1] = b1; } \
            const T *ai = a + i0 * rsa;                                      \
            for (long p = 0; p < k; p++) {                                   \
                memcpy(&b0, b + p * rsb + j0, sizeof(V));                    \
                memcpy(&b1, b + p * rsb + j0 + VL, sizeof(V));               \
                _Pragma("GCC unroll 32")                                     \
                for (int i = 0; i < MR; i++) {                               \
                    T x = ai[i * rsa + p * csa];                             \
                    acc[i][0] += x * b0;                                     \
                    acc[i][1] += x * b1;                                     \
                }                                                            \
            }                                                                \
            _Pragma("GCC unroll 32")                                         \
            for (int i = 0; i < MR; i++) {                                   \
                V r0 = acc[i][0], r1 = acc[i][1];                            \
                if (relu) {                                                  \
                    r0 = (V)((VI)r0 & ~(VI)(r0 <= (V){0}));                  \
                    r1 = (V)((VI)r1 & ~(VI)(r1 <= (V){0}));                  \
                }                                                            \
                T *ci = c + (i0 + i) * rsc + j0;                             \
                memcpy(ci, &r0, sizeof(V));                                  \
                memcpy(ci + VL, &r1, sizeof(V));                             \
            }                                                                \
        }                                                                    \
}

/* ---------------------------------------------------------- narrow kernel
   For a C only one or two vectors wide (n <= NV*VL: say 10 classes),
   packing the big operand A would cost as much as the multiply, so this
   kernel reads A in place (any strides) and only B, which is small, is
   packed (k x NV*VL, zero-padded).  A tile is MR rows of NV vectors; each
   step p broadcasts MR values of A and does MR*NV fused multiply-adds.
   It runs over all m rows and the whole depth k, then adds the bias,
   applies relu and stores the n valid columns of each row. */
#define TG_DEFINE_NARROW(NAME, T, V, VI, MR, NV, ATTR)                       \
ATTR static void NAME(long m, long n, long k, const T *restrict a,           \
                      long rsa, long csa, const T *restrict b,               \
                      T *restrict c, long rsc, long csc,                     \
                      const T *restrict bias, int relu)                      \
{                                                                            \
    enum { VL = sizeof(V) / sizeof(T), W = NV * VL };                        \
    T brow[W], out[W];                                                       \
    V bv[NV];                                                                \
    for (int j = 0; j < W; j++) brow[j] = (bias && j < n) ? bias[j] : 0;     \
    memcpy(bv, brow, sizeof bv);                                             \
    for (long i0 = 0; i0 < m; i0 += MR) {                                    \
        long rows = m - i0 < MR ? m - i0 : MR;                               \
        const T *ai = a + i0 * rsa;                                          \
        V acc[MR][NV];                                                       \
        _Pragma("GCC unroll 32")                                             \
        for (int i = 0; i < MR; i++)                                         \
            for (int v = 0; v < NV; v++) acc[i][v] = bv[v];                  \
        if (rows == MR && rsa == 1) {   /* A transposed: a row of MR values */ \
            for (long p = 0; p < k; p++) {                                   \
                const T *ap = ai + p * csa;                                  \
                const V *bp = (const V *)(b + p * W);                        \
                __builtin_prefetch(ap + 8 * csa);   /* rows of A far apart */ \
                _Pragma("GCC unroll 32")                                     \
                for (int i = 0; i < MR; i++)                                 \
                    for (int v = 0; v < NV; v++) acc[i][v] += ap[i] * bp[v]; \
            }                                                                \
        } else if (rows == MR) {        /* a full tile: MR rows at once */   \
            for (long p = 0; p < k; p++) {                                   \
                const T *ap = ai + p * csa;                                  \
                const V *bp = (const V *)(b + p * W);                        \
                _Pragma("GCC unroll 32")                                     \
                for (int i = 0; i < MR; i++) {                               \
                    T x = ap[i * rsa];                                       \
                    for (int v = 0; v < NV; v++) acc[i][v] += x * bp[v];     \
                }                                                            \
            }                                                                \
        } else {                        /* the last rows, one at a time */   \
            for (long i = 0; i < rows; i++) {                                \
                V r[NV];                                                     \
                for (int v = 0; v < NV; v++) r[v] = bv[v];                   \
                for (long p = 0; p < k; p++) {                               \
                    T x = ai[i * rsa + p * csa];                             \
                    for (int v = 0; v < NV; v++)                             \
                        r[v] += x * ((const V *)(b + p * W))[v];             \
                }                                                            \
                memcpy(out, r, sizeof out);                                  \
                for (long j = 0; j < n; j++)                                 \
                    c[(i0 + i) * rsc + j * csc] =                            \
                        (relu && out[j] <= 0) ? 0 : out[j];                \
            }                                                                \
            continue;                                                        \
        }                                                                    \
        for (int i = 0; i < MR; i++) {  /* write back n columns per row */   \
            memcpy(out, acc[i], sizeof out);                                 \
            for (long j = 0; j < n; j++)                                     \
                c[(i0 + i) * rsc + j * csc] =                                \
                    (relu && out[j] <= 0) ? 0 : out[j];                    \
        }                                                                    \
    }                                                                        \
}

/* The narrow kernel's B: a k x n row-major B (row stride rsb, n <= W)
   copied to a k x W panel padded with zeros.  A row is read as whole
   W-wide vectors wherever that read stays inside B (the numbers past n
   belong to the next row and are masked to zero): one load, one and, one
   store per row instead of W scalar copies.  The last rows, where it
   would read past B, go one number at a time. */
#define TG_DEFINE_PACK_NARROW(NAME, T, V, VI, NV, ATTR)                      \
ATTR static void NAME(long k, long n, const T *b, long rsb, T *restrict d)   \
{                                                                            \
    enum { VL = sizeof(V) / sizeof(T), W = NV * VL };                        \
    VI keep[NV];                            /* all ones in lanes j < n */    \
    for (int v = 0; v < NV; v++)                                             \
        for (int l = 0; l < VL; l++) keep[v][l] = v * VL + l < n ? -1 : 0;   \
    long end = (k - 1) * rsb + n, p = 0;    /* one past B's last number */   \
    for (; p < k && p * rsb + W <= end; p++) {                               \
        V x[NV];                                                             \
        memcpy(x, b + p * rsb, sizeof x);                                    \
        for (int v = 0; v < NV; v++) x[v] = (V)((VI)x[v] & keep[v]);         \
        memcpy(d + p * W, x, sizeof x);                                      \
    }                                                                        \
    for (; p < k; p++)                                                       \
        for (int j = 0; j < W; j++) d[p * W + j] = j < n ? b[p * rsb + j] : 0; \
}
#define TG_DEFINE_PACK_NARROW_SET(S, TS, VS, VIS, TD, VD, VID, ATTR)         \
    TG_DEFINE_PACK_NARROW(tg_pnar1_s_##S, TS, VS, VIS, 1, ATTR)              \
    TG_DEFINE_PACK_NARROW(tg_pnar2_s_##S, TS, VS, VIS, 2, ATTR)              \
    TG_DEFINE_PACK_NARROW(tg_pnar1_d_##S, TD, VD, VID, 1, ATTR)              \
    TG_DEFINE_PACK_NARROW(tg_pnar2_d_##S, TD, VD, VID, 2, ATTR)

/* ---------------------------------------------------------- narrow kernel, A transposed
   When A is stored transposed (rsa == 1: column p of A is a contiguous
   row of memory, as h is in h.T @ dy) and C has at most JT columns, C is
   built a column block at a time: each step p loads W = NV*VL consecutive
   entries of column p of A and multiplies them by the JT entries of row p
   of B, each broadcast: JT*NV fused multiply-adds on full vectors, no lane
   spent on padding columns.  The JT x W tile is transposed on the way out.
   The last rows are staged through a zero-padded buffer. */
#define TG_NARROW_T_STEP(T, V, JT, NV, SRC)                              \
    {                                                                    \
        const T *bp = b + p * JT;                                        \
        V x[NV];                                                         \
        memcpy(x, (SRC), sizeof x);                                      \
        _Pragma("GCC unroll 64")                                         \
        for (int j = 0; j < JT; j++)                                     \
            for (int v = 0; v < NV; v++) acc[j][v] += x[v] * bp[j];      \
    }
#define TG_DEFINE_NARROW_T(NAME, T, V, JT, NV, ATTR)                     \
ATTR static void NAME(long m, long n, long k, const T *restrict a, long csa, \
                      const T *restrict b, T *restrict c, long rsc, long csc, \
                      const T *restrict bias, int relu)                  \
{                                                                        \
    enum { VL = sizeof(V) / sizeof(T), W = NV * VL };                    \
    T out[JT][W], stage[W];                                              \
    for (long i0 = 0; i0 < m; i0 += W) {                                 \
        long rows = m - i0 < W ? m - i0 : W;                             \
        V acc[JT][NV];                                                   \
        _Pragma("GCC unroll 64")                                         \
        for (int j = 0; j < JT; j++)                                     \
            for (int v = 0; v < NV; v++)                                 \
                acc[j][v] = (V){0} + ((bias && j < n) ? bias[j] : (T)0); \
        if (rows == W) {                                                 \
            for (long p = 0; p < k; p++) TG_NARROW_T_STEP(T, V, JT, NV, a + i0 + p * csa) \
        } else {                                                         \
            memset(stage, 0, sizeof stage);                              \
            for (long p = 0; p < k; p++) {                               \
                memcpy(stage, a + i0 + p * csa, rows * sizeof(T));       \
                TG_NARROW_T_STEP(T, V, JT, NV, stage)                    \
            }                                                            \
        }                                                                \
        memcpy(out, acc, sizeof out);                                    \
        for (long i = 0; i < rows; i++)                                  \
            for (long j = 0; j < n; j++) {                               \
                T value = out[j][i];                                     \
                c[(i0 + i) * rsc + j * csc] = (relu && value <= 0) ? 0 : value; \
            }                                                            \
    }                                                                    \
}

/* ---------------------------------------------------------- packing
   An 8-row panel of a row-major A, for the 8-tall kernels: each block of
   8 rows x 8 columns is loaded as 8 vectors, transposed by three rounds
   of shuffles (pairs of elements, pairs of pairs, then halves), and
   stored as 8 columns: the 8 values one step p of the kernel broadcasts.
   Scalar copies would write one element at a time, 8 floats apart. */
#define TG_SHUF(x, y, ...) __builtin_shuffle(x, y, (tg_v8si){__VA_ARGS__})
static void tg_pack_a8_s(long kc, const float *a, long rsa, float *d) {
    long p = 0;
    for (; p + 8 <= kc; p += 8) {
        tg_v8sf r[8], t[8], u[8], o[8];
        for (int i = 0; i < 8; i++) memcpy(&r[i], a + i * rsa + p, sizeof r[i]);
        for (int i = 0; i < 8; i += 2) {     /* rows i, i+1 interleaved */
            t[i] = TG_SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
            t[i + 1] = TG_SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        }
        for (int i = 0; i < 8; i += 4) {     /* columns j and j+4 of 4 rows */
            u[i] = TG_SHUF(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 1] = TG_SHUF(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
            u[i + 2] = TG_SHUF(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 3] = TG_SHUF(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
        }
        for (int j = 0; j < 4; j++) {        /* column j, column j+4: 8 rows */
            o[j] = TG_SHUF(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
            o[j + 4] = TG_SHUF(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        }
        memcpy(d + p * 8, o, sizeof o);
    }
    for (; p < kc; p++)
        for (int i = 0; i < 8; i++) d[p * 8 + i] = a[i * rsa + p];
}

typedef void (*tg_ukr_s_t)(long, const float *, const float *, long, float *, long,
                           int, const float *, int);
typedef void (*tg_ukr_d_t)(long, const double *, const double *, long, double *, long,
                           int, const double *, int);
typedef void (*tg_sha_s_t)(long, long, long, const float *, long, long, const float *,
                           long, float *, long, const float *, int);
typedef void (*tg_sha_d_t)(long, long, long, const double *, long, long, const double *,
                           long, double *, long, const double *, int);
typedef void (*tg_nar_s_t)(long, long, long, const float *, long, long, const float *,
                           float *, long, long, const float *, int);
typedef void (*tg_nar_d_t)(long, long, long, const double *, long, long, const double *,
                           double *, long, long, const double *, int);
typedef void (*tg_pnar_s_t)(long, long, const float *, long, float *);
typedef void (*tg_pnar_d_t)(long, long, const double *, long, double *);
typedef void (*tg_nart_s_t)(long, long, long, const float *, long, const float *,
                            float *, long, long, const float *, int);
typedef void (*tg_nart_d_t)(long, long, long, const double *, long, const double *,
                            double *, long, long, const double *, int);
/* The transposed-A narrow kernels come in C widths JT = 2, 4, ..., 12,
   each with the most row vectors NV its accumulators leave registers
   for (JT * NV of 32 zmm, of 16 ymm or xmm). */
#define TG_NART_WIDTH(index) (2 * ((index) + 1))
#define TG_DEFINE_NARROW_T_SET(S, T, V, ATTR, NV2, NV4, NV6, NV8, NV10, NV12) \
    TG_DEFINE_NARROW_T(tg_nart2_##S, T, V, 2, NV2, ATTR)                  \
    TG_DEFINE_NARROW_T(tg_nart4_##S, T, V, 4, NV4, ATTR)                  \
    TG_DEFINE_NARROW_T(tg_nart6_##S, T, V, 6, NV6, ATTR)                  \
    TG_DEFINE_NARROW_T(tg_nart8_##S, T, V, 8, NV8, ATTR)                  \
    TG_DEFINE_NARROW_T(tg_nart10_##S, T, V, 10, NV10, ATTR)               \
    TG_DEFINE_NARROW_T(tg_nart12_##S, T, V, 12, NV12, ATTR)

#if defined(__AVX2__) && defined(__FMA__)
/* The avx2 build.  256-bit (ymm) kernels: 16 accumulators of 16 ymm.
   Its CPUs may also have AVX-512 (Intel server cores execute 512-bit
   FMAs at full rate, so OpenBLAS uses them): 512-bit twins compiled for
   that target alone (kernels/_cython.h: TG_HAVE_512), used only when the
   CPU says it has AVX-512F. */
TG_DEFINE_UKERNEL(tg_ukr_s_ymm, float, tg_v8sf, tg_v8si, 6, )     /*  6 x 16 */
TG_DEFINE_UKERNEL(tg_ukr_d_ymm, double, tg_v4df, tg_v4di, 6, )    /*  6 x 8  */
TG_DEFINE_SHALLOW(tg_sha_s_ymm, float, tg_v8sf, tg_v8si, 6, )
TG_DEFINE_SHALLOW(tg_sha_d_ymm, double, tg_v4df, tg_v4di, 6, )
TG_DEFINE_NARROW(tg_nar1_s_ymm, float, tg_v8sf, tg_v8si, 12, 1, )
TG_DEFINE_NARROW(tg_nar2_s_ymm, float, tg_v8sf, tg_v8si, 6, 2, )
TG_DEFINE_NARROW(tg_nar1_d_ymm, double, tg_v4df, tg_v4di, 12, 1, )
TG_DEFINE_NARROW(tg_nar2_d_ymm, double, tg_v4df, tg_v4di, 6, 2, )
TG_DEFINE_NARROW_T_SET(s_ymm, float, tg_v8sf, , 4, 3, 2, 1, 1, 1)
TG_DEFINE_PACK_NARROW_SET(ymm, float, tg_v8sf, tg_v8si, double, tg_v4df, tg_v4di, )
TG_DEFINE_NARROW_T_SET(d_ymm, double, tg_v4df, , 4, 3, 2, 1, 1, 1)
#if TG_HAVE_512
TG_DEFINE_UKERNEL(tg_ukr_s_zmm, float, tg_v16sf, tg_v16si, 8, TG_AVX512)   /*  8 x 32 */
TG_DEFINE_UKERNEL(tg_ukr_d_zmm, double, tg_v8df, tg_v8di, 8, TG_AVX512)    /*  8 x 16 */
TG_DEFINE_SHALLOW(tg_sha_s_zmm, float, tg_v16sf, tg_v16si, 8, TG_AVX512)
TG_DEFINE_SHALLOW(tg_sha_d_zmm, double, tg_v8df, tg_v8di, 8, TG_AVX512)
TG_DEFINE_NARROW(tg_nar1_s_zmm, float, tg_v16sf, tg_v16si, 16, 1, TG_AVX512)
TG_DEFINE_NARROW(tg_nar2_s_zmm, float, tg_v16sf, tg_v16si, 12, 2, TG_AVX512)
TG_DEFINE_NARROW(tg_nar1_d_zmm, double, tg_v8df, tg_v8di, 16, 1, TG_AVX512)
TG_DEFINE_NARROW(tg_nar2_d_zmm, double, tg_v8df, tg_v8di, 12, 2, TG_AVX512)
TG_DEFINE_NARROW_T_SET(s_zmm, float, tg_v16sf, TG_AVX512, 4, 4, 4, 3, 2, 2)
TG_DEFINE_PACK_NARROW_SET(zmm, float, tg_v16sf, tg_v16si, double, tg_v8df, tg_v8di, TG_AVX512)
TG_DEFINE_NARROW_T_SET(d_zmm, double, tg_v8df, TG_AVX512, 4, 4, 4, 3, 2, 2)
#endif
#else
/* The portable build: 128-bit vectors (SSE2 on x86-64, NEON elsewhere). */
TG_DEFINE_UKERNEL(tg_ukr_s_xmm, float, tg_v4sf, tg_v4si, 4, )     /*  4 x 8 */
TG_DEFINE_UKERNEL(tg_ukr_d_xmm, double, tg_v2df, tg_v2di, 4, )    /*  4 x 4 */
TG_DEFINE_SHALLOW(tg_sha_s_xmm, float, tg_v4sf, tg_v4si, 4, )
TG_DEFINE_SHALLOW(tg_sha_d_xmm, double, tg_v2df, tg_v2di, 4, )
TG_DEFINE_NARROW(tg_nar1_s_xmm, float, tg_v4sf, tg_v4si, 8, 1, )
TG_DEFINE_NARROW(tg_nar2_s_xmm, float, tg_v4sf, tg_v4si, 4, 2, )
TG_DEFINE_NARROW(tg_nar1_d_xmm, double, tg_v2df, tg_v2di, 8, 1, )
TG_DEFINE_NARROW(tg_nar2_d_xmm, double, tg_v2df, tg_v2di, 4, 2, )
TG_DEFINE_NARROW_T_SET(s_xmm, float, tg_v4sf, , 4, 3, 2, 1, 1, 1)
TG_DEFINE_PACK_NARROW_SET(xmm, float, tg_v4sf, tg_v4si, double, tg_v2df, tg_v2di, )
TG_DEFINE_NARROW_T_SET(d_xmm, double, tg_v2df, , 4, 3, 2, 1, 1, 1)
#endif

/* ---------------------------------------------------------- peak
   The ceiling a GEMM can approach: 12 independent vector FMA chains
   (enough to cover the FMA latency on two pipes), no memory traffic.
   Returns a value that depends on every lane so nothing is optimised
   away; the caller times it and counts 2 * 12 * lanes * n FLOPs. */
#define TG_DEFINE_PEAK(NAME, V, ATTR)                                        \
ATTR static float NAME(long n) {                                             \
    V acc[12], a = (V){0} + 0.999999f, b = (V){0} + 1e-7f;                   \
    _Pragma("GCC unroll 12")                                                 \
    for (int i = 0; i < 12; i++) acc[i] = (V){0} + (float)i;                 \
    for (long p = 0; p < n; p++) {                                           \
        _Pragma("GCC unroll 12")                                             \
        for (int i = 0; i < 12; i++) acc[i] = acc[i] * a + b;                \
    }                                                                        \
    float s = 0;                                                             \
    for (int i = 0; i < 12; i++)                                             \
        for (unsigned j = 0; j < sizeof(V) / sizeof(float); j++) s += acc[i][j]; \
    return s;                                                                \
}
#if defined(__AVX2__) && defined(__FMA__)
TG_DEFINE_PEAK(tg_peak_ymm, tg_v8sf, )
#if TG_HAVE_512
TG_DEFINE_PEAK(tg_peak_zmm, tg_v16sf, TG_AVX512)
#endif
#else
TG_DEFINE_PEAK(tg_peak_xmm, tg_v4sf, )
#endif

/* The kernels in use and their shapes, chosen by tg_select(). */
static tg_ukr_s_t tg_s_fn;  static int tg_s_mr, tg_s_nr;
static tg_ukr_d_t tg_d_fn;  static int tg_d_mr, tg_d_nr;
static tg_sha_s_t tg_s_sha;  static tg_sha_d_t tg_d_sha;
static tg_nar_s_t tg_s_nar[2];  static tg_nar_d_t tg_d_nar[2];
static tg_pnar_s_t tg_s_pnar[2];  static tg_pnar_d_t tg_d_pnar[2];
static tg_nart_s_t tg_s_nart[6];  static tg_nart_d_t tg_d_nart[6];
static const char *tg_isa = "none";
#define TG_USE(S, D, MR, NR)                                                 \
    tg_s_fn = tg_ukr_s_##S; tg_s_mr = MR; tg_s_nr = NR;                      \
    tg_d_fn = tg_ukr_d_##S; tg_d_mr = MR; tg_d_nr = NR / 2;                  \
    tg_s_sha = tg_sha_s_##S; tg_d_sha = tg_sha_d_##S;                        \
    tg_s_nar[0] = tg_nar1_s_##S; tg_s_nar[1] = tg_nar2_s_##S;                \
    tg_d_nar[0] = tg_nar1_d_##S; tg_d_nar[1] = tg_nar2_d_##S;                \
    tg_s_pnar[0] = tg_pnar1_s_##S; tg_s_pnar[1] = tg_pnar2_s_##S;            \
    tg_d_pnar[0] = tg_pnar1_d_##S; tg_d_pnar[1] = tg_pnar2_d_##S;            \
    tg_s_nart[0] = tg_nart2_s_##S; tg_s_nart[1] = tg_nart4_s_##S;            \
    tg_s_nart[2] = tg_nart6_s_##S; tg_s_nart[3] = tg_nart8_s_##S;            \
    tg_s_nart[4] = tg_nart10_s_##S; tg_s_nart[5] = tg_nart12_s_##S;          \
    tg_d_nart[0] = tg_nart2_d_##S; tg_d_nart[1] = tg_nart4_d_##S;            \
    tg_d_nart[2] = tg_nart6_d_##S; tg_d_nart[3] = tg_nart8_d_##S;            \
    tg_d_nart[4] = tg_nart10_d_##S; tg_d_nart[5] = tg_nart12_d_##S;

/* wide = 1: use the 512-bit kernels when compiled and supported. */
static const char *tg_select(int wide) {
#if defined(__AVX2__) && defined(__FMA__)
#if TG_HAVE_512
    if (tg_use_512(wide)) {
        TG_USE(zmm, zmm, 8, 32)
        return tg_isa = "avx512";
    }
#endif
    TG_USE(ymm, ymm, 6, 16)
    return tg_isa = "avx2";
#else
    (void)wide;
    TG_USE(xmm, xmm, 4, 8)
    return tg_isa = "base";
#endif
}

static void tg_ukernel_s(long kc, const float *a, const float *b, long rsb, float *c,
                         long ldc, int acc, const float *bias, int relu)
{ tg_s_fn(kc, a, b, rsb, c, ldc, acc, bias, relu); }
static void tg_ukernel_d(long kc, const double *a, const double *b, long rsb, double *c,
                         long ldc, int acc, const double *bias, int relu)
{ tg_d_fn(kc, a, b, rsb, c, ldc, acc, bias, relu); }
static void tg_shallow_s(long m, long n, long k, const float *a, long rsa, long csa,
                         const float *b, long rsb, float *c, long rsc,
                         const float *bias, int relu)
{ tg_s_sha(m, n, k, a, rsa, csa, b, rsb, c, rsc, bias, relu); }
static void tg_shallow_d(long m, long n, long k, const double *a, long rsa, long csa,
                         const double *b, long rsb, double *c, long rsc,
                         const double *bias, int relu)
{ tg_d_sha(m, n, k, a, rsa, csa, b, rsb, c, rsc, bias, relu); }
static void tg_narrow_s(int nv, long m, long n, long k, const float *a, long rsa, long csa,
                        const float *b, float *c, long rsc, long csc,
                        const float *bias, int relu)
{ tg_s_nar[nv - 1](m, n, k, a, rsa, csa, b, c, rsc, csc, bias, relu); }
static void tg_narrow_d(int nv, long m, long n, long k, const double *a, long rsa, long csa,
                        const double *b, double *c, long rsc, long csc,
                        const double *bias, int relu)
{ tg_d_nar[nv - 1](m, n, k, a, rsa, csa, b, c, rsc, csc, bias, relu); }

static void tg_pack_narrow_s(int nv, long k, long n, const float *b, long rsb, float *d)
{ tg_s_pnar[nv - 1](k, n, b, rsb, d); }
static void tg_pack_narrow_d(int nv, long k, long n, const double *b, long rsb, double *d)
{ tg_d_pnar[nv - 1](k, n, b, rsb, d); }
static void tg_narrow_t_s(int index, long m, long n, long k, const float *a, long csa,
                          const float *b, float *c, long rsc, long csc,
                          const float *bias, int relu)
{ tg_s_nart[index](m, n, k, a, csa, b, c, rsc, csc, bias, relu); }
static void tg_narrow_t_d(int index, long m, long n, long k, const double *a, long csa,
                          const double *b, double *c, long rsc, long csc,
                          const double *bias, int relu)
{ tg_d_nart[index](m, n, k, a, csa, b, c, rsc, csc, bias, relu); }

/* Run the peak loop of the selected vector width; *lanes gets its width. */
static float tg_peak(long n, int *lanes) {
    *lanes = tg_s_nr / 2;
#if defined(__AVX2__) && defined(__FMA__)
#if TG_HAVE_512
    if (tg_s_nr == 32) return tg_peak_zmm(n);
#endif
    return tg_peak_ymm(n);
#else
    return tg_peak_xmm(n);
#endif
}

#endif /* TAPEGRAD_GEMM_CYTHON_H */
