# What every family's Cython kernels share; included once into the extension
# (kernels/_cython_base.pyx and kernels/_cython_avx2.pyx, the same source
# compiled twice by setup.py: portable flags, and -mavx2 -mfma;
# tapegrad.kernels.cython_backend picks one at run time).
#
# Layout of this file
#   1. cimports, the ``floating`` fused type, the C of kernels/_cython.h
#      (CPU queries, OpenMP thread control).
#   2. The module's thread count and the CPU / thread functions.
#   3. Helpers of the parallel loops and the float32/float64 math.
#   4. Each family's kernels: kernels/<family>/cython.pxi, included through
#      _cython_families.pxi, which setup.py writes from kernels/_families.py.

cimport cython
from cython.parallel cimport prange, parallel, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_FORMAT,
                             PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE)
from libc.math cimport exp, expf, log, logf, log1p, fabs, sqrt, sqrtf

ctypedef fused floating:
    float
    double


cdef extern from "_cython.h":
    int tg_omp_enabled() noexcept nogil
    int tg_omp_max_threads() noexcept nogil
    void tg_omp_set_threads(int n) noexcept nogil
    int tg_cpu_has(int which) noexcept nogil
    const char *TG_ISA_NAME
    int TG_HAVE_512
    void *tg_alloc(size_t nbytes) noexcept nogil
    int tg_use_512(int wide) noexcept nogil


# ======================================================================
# Module state: the thread count, the element-wise threshold
# ======================================================================
cdef int g_threads = max(1, tg_omp_max_threads())
# Element-wise loops go parallel above this many elements.
cdef Py_ssize_t g_parallel_elems = 1 << 17

# Each family whose C comes in several vector widths appends how to choose
# them (a function of ``wide``); select_kernels runs every one.
cdef list _selectors = []


def cpu_supports_avx2_fma():
    """True when this CPU (and OS) can run AVX2 and FMA instructions."""
    return bool(tg_cpu_has(2))


def cpu_supports_avx512f():
    """True when this CPU (and OS) can run AVX-512F instructions."""
    return bool(tg_cpu_has(3))


def build_isa():
    """The instruction set this extension was compiled for: "base" or "avx2"."""
    return TG_ISA_NAME.decode()


def select_kernels(bint wide=True):
    """Choose every family's vector kernels: the widest the CPU runs when ``wide``.

    Returns the name of the choice ("base", "avx2" or "avx512").
    """
    for select in _selectors:
        select(wide)
    return "avx512" if tg_use_512(wide) else TG_ISA_NAME.decode()


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(tg_omp_enabled())


def set_num_threads(int n):
    """Threads for the parallel kernels (OpenMP), at least 1."""
    global g_threads
    g_threads = max(1, n)
    tg_omp_set_threads(g_threads)


def get_num_threads():
    """Threads the parallel kernels use."""
    return g_threads



# ======================================================================
# Helpers of the kernels: threads, chunks, float32/float64 math
# ======================================================================
cdef inline int threads_for(Py_ssize_t n) noexcept nogil:
    return g_threads if n >= g_parallel_elems else 1


cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating flog(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating fsqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline Py_ssize_t chunk_for(Py_ssize_t n, int nt) noexcept nogil:
    """Elements per thread: n split nt ways, rounded up to whole 64-byte lines."""
    return ((n + nt - 1) // nt + 15) // 16 * 16



include "_cython_families.pxi"
