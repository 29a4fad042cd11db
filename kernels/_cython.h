/* The C every family's Cython kernels share (kernels/_cython.pxi declares it).

   Written in C because Cython has no word for these: the CPU's capabilities
   (cpuid), OpenMP thread control and GCC's vector types.  Each family with
   C of its own keeps it in its folder (kernels/gemm/cython.h: the GEMM's
   micro-kernels; kernels/optim/cython.h: the updates stamped out per vector
   width; kernels/elementwise/cython.h: dropout's selects) and includes this. */
#ifndef TAPEGRAD_CYTHON_H
#define TAPEGRAD_CYTHON_H

#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ---------------------------------------------------------- threads */
#if TAPEGRAD_OPENMP
#include <omp.h>
static int tg_omp_enabled(void) { return 1; }
static int tg_omp_max_threads(void) { return omp_get_max_threads(); }
static void tg_omp_set_threads(int n) { omp_set_num_threads(n); }
#else
static int tg_omp_enabled(void) { return 0; }
static int tg_omp_max_threads(void) { return 1; }
static void tg_omp_set_threads(int n) { (void)n; }
#endif

/* ---------------------------------------------------------- CPU */
/* Ask the CPU (cpuid, and the OS through xgetbv) what it can execute. */
static int tg_cpu_has(int which) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (which == 2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (which == 3) return __builtin_cpu_supports("avx512f");
#endif
    (void)which;
    return 0;
}

typedef float  tg_v4sf  __attribute__((vector_size(16)));
typedef int    tg_v4si  __attribute__((vector_size(16)));
typedef double tg_v2df  __attribute__((vector_size(16)));
typedef long long tg_v2di __attribute__((vector_size(16)));
typedef float  tg_v8sf  __attribute__((vector_size(32)));
typedef int    tg_v8si  __attribute__((vector_size(32)));
typedef double tg_v4df  __attribute__((vector_size(32)));
typedef long long tg_v4di __attribute__((vector_size(32)));
typedef float  tg_v16sf __attribute__((vector_size(64)));
typedef int    tg_v16si __attribute__((vector_size(64)));
typedef double tg_v8df  __attribute__((vector_size(64)));
typedef long long tg_v8di __attribute__((vector_size(64)));


/* ---------------------------------------------------------- instruction sets
   The avx2 build (-mavx2 -mfma) may also run on CPUs with AVX-512 (Intel
   server cores execute 512-bit FMAs at full rate): with GCC on x86 its
   families also compile 512-bit twins of their loops for that target alone
   (TG_AVX512), used only when the CPU says it has AVX-512F (tg_use_512). */
#if defined(__AVX2__) && defined(__FMA__)
#define TG_ISA_NAME "avx2"
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define TG_HAVE_512 1
#define TG_AVX512 __attribute__((target("avx512f")))
#else
#define TG_HAVE_512 0
#endif
#else
#define TG_ISA_NAME "base"
#define TG_HAVE_512 0
#endif

/* wide = 1: the 512-bit kernels, when compiled and the CPU runs them. */
static int tg_use_512(int wide) { return TG_HAVE_512 && wide && tg_cpu_has(3); }

/* 64-byte aligned scratch memory for the packed panels. */
static void *tg_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

#endif /* TAPEGRAD_CYTHON_H */
