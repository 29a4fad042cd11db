# The GEMM family in Cython (BLIS/Goto): packing, cache blocking, OpenMP
# threads around the C micro-kernels of kernels/gemm/cython.h; then the two
# entries the backend calls, ``matmul`` and ``dense_forward``.
# kernels/gemm/DESIGN.md is the design; it compares this GEMM with the Numba one.

cdef extern from "gemm/cython.h":
    const char *tg_select(int wide) noexcept nogil
    int tg_s_mr, tg_s_nr, tg_d_mr, tg_d_nr
    void tg_ukernel_s(long kc, const float *a, const float *b, long rsb, float *c,
                      long ldc, int acc, const float *bias, int relu) noexcept nogil
    void tg_ukernel_d(long kc, const double *a, const double *b, long rsb, double *c,
                      long ldc, int acc, const double *bias, int relu) noexcept nogil
    void tg_shallow_s(long m, long n, long k, const float *a, long rsa, long csa,
                      const float *b, long rsb, float *c, long rsc,
                      const float *bias, int relu) noexcept nogil
    void tg_shallow_d(long m, long n, long k, const double *a, long rsa, long csa,
                      const double *b, long rsb, double *c, long rsc,
                      const double *bias, int relu) noexcept nogil
    void tg_narrow_s(int nv, long m, long n, long k, const float *a, long rsa, long csa,
                     const float *b, float *c, long rsc, long csc,
                     const float *bias, int relu) noexcept nogil
    void tg_narrow_d(int nv, long m, long n, long k, const double *a, long rsa, long csa,
                     const double *b, double *c, long rsc, long csc,
                     const double *bias, int relu) noexcept nogil
    void tg_narrow_t_s(int index, long m, long n, long k, const float *a, long csa,
                       const float *b, float *c, long rsc, long csc,
                       const float *bias, int relu) noexcept nogil
    void tg_narrow_t_d(int index, long m, long n, long k, const double *a, long csa,
                       const double *b, double *c, long rsc, long csc,
                       const double *bias, int relu) noexcept nogil
    int TG_NART_WIDTH(int index) noexcept nogil
    void tg_pack_narrow_s(int nv, long k, long n, const float *b, long rsb, float *d) noexcept nogil
    void tg_pack_narrow_d(int nv, long k, long n, const double *b, long rsb, double *d) noexcept nogil
    void tg_pack_a8_s(long kc, const float *a, long rsa, float *d) noexcept nogil
    float tg_peak(long n, int *lanes) noexcept nogil


# ======================================================================
# Cache-block sizes
# ======================================================================
# Block sizes (elements).  KC: depth of one packed panel pair, so an A
# micro-panel (MR x KC) and a B micro-panel (KC x NR) sit in L1 together;
# MC: rows of the packed A block kept in L2; NC: columns of the packed B
# panel kept in L3.  K is split into equal parts no longer than KC.
# Index 0: float32, 1: float64 (kernels/gemm/DESIGN.md: why these sizes).
cdef Py_ssize_t[2] g_kc = [512, 256]
cdef Py_ssize_t[2] g_mc = [288, 288]
cdef Py_ssize_t g_nc = 4096
# Below this many flops (2*m*n*k) a GEMM runs on one thread.
cdef double g_parallel_flops = 4e6
# A one-thread GEMM this shallow (k <= it) skips packing (gemm_shallow),
# and walks B in column blocks of at most this many bytes (kept in L2).
cdef Py_ssize_t g_shallow_k = 128
cdef Py_ssize_t g_shallow_block_bytes = 128 * 1024
# B is read in place (gemm) only for K blocks at least this deep.
cdef Py_ssize_t g_in_place_kc = 128

tg_select(1)


def _select_gemm(bint wide):
    tg_select(wide)


_selectors.append(_select_gemm)


def kernel_info():
    """The micro-kernel tile shapes and block sizes in use (a dict)."""
    return {
        "build": TG_ISA_NAME.decode(),
        "isa": tg_select_name(),
        "float32_tile": (tg_s_mr, tg_s_nr),
        "float64_tile": (tg_d_mr, tg_d_nr),
        "kc": (g_kc[0], g_kc[1]), "mc": (g_mc[0], g_mc[1]), "nc": g_nc,
        "shallow_k": g_shallow_k, "in_place_kc": g_in_place_kc,
        "openmp": bool(tg_omp_enabled()),
        "threads": g_threads,
    }


cdef object tg_select_name():
    if tg_s_nr == 32:
        return "avx512"
    return "avx2" if tg_s_nr == 16 else "base"


def set_blocking(Py_ssize_t kc=0, Py_ssize_t mc=0, Py_ssize_t nc=0, dtype="float32",
                 Py_ssize_t shallow_k=-1, Py_ssize_t in_place_kc=-1):
    """Override the cache-block sizes of one dtype (for tuning); 0 keeps a value.

    For both dtypes: ``shallow_k``, the deepest K the shallow path takes (0:
    never), and ``in_place_kc``, the shallowest K block for which B is read in
    place; -1 keeps a value.
    """
    global g_nc, g_shallow_k, g_in_place_kc
    cdef int d = 0 if str(dtype) == "float32" else 1
    if shallow_k >= 0:
        g_shallow_k = shallow_k
    if in_place_kc >= 0:
        g_in_place_kc = in_place_kc
    if kc > 0:
        g_kc[d] = kc
    if mc > 0:
        g_mc[d] = mc
    if nc > 0:
        g_nc = nc


def fma_peak_gflops(long n=2_000_000):
    """Float32 GFLOP/s of one thread running only vector FMAs (the CPU's ceiling).

    Uses the vector width of the selected micro-kernels, so the number is the
    peak *these* kernels could reach at the clock the CPU runs now.
    """
    import time
    cdef int lanes = 1
    cdef float sink
    with nogil:
        sink = tg_peak(1000, &lanes)
    t0 = time.perf_counter()
    with nogil:
        sink = tg_peak(n, &lanes)
    elapsed = time.perf_counter() - t0
    return 2.0 * 12 * lanes * n / elapsed / 1e9 + 0.0 * sink


# ======================================================================
# GEMM (BLIS / Goto design; kernels/gemm/DESIGN.md compares it with the Numba one)
# ======================================================================
# C (m x n) = A (m x k) @ B (k x n), every operand given by a pointer and a
# (row, column) stride pair, so a transpose is just a swap of strides.  The
# loops, outermost first:
#   jc: columns of C in blocks of NC        -> pack B[pc:pc+kc, jc:jc+nc]
#    pc: depth in blocks of KC              (shared by the threads)
#     ic: rows of C in blocks of MC         -> pack A[ic:ic+mc, pc:pc+kc]
#                                              (one block per thread: prange)
#      jr: NR-wide micro-panels of B
#       ir: MR-tall micro-panels of A       -> micro-kernel on an MR x NR tile
# Packing copies each block into the order the micro-kernel reads it, padded
# with zeros to whole tiles, so the micro-kernel never sees an edge.
# B in place: when all rows of C fit one row block and B is row-major, each
# B micro-panel is used by only m/MR tiles, so copying it costs more than it
# saves; the micro-kernel then reads full NR-wide panels of B where they lie
# (row stride rsb) and only a narrower last panel is packed.

cdef inline void ukernel(Py_ssize_t kc, const floating *a, const floating *b,
                         Py_ssize_t rsb, floating *c, Py_ssize_t ldc, bint accumulate,
                         const floating *bias, bint relu) noexcept nogil:
    if floating is float:
        tg_ukernel_s(kc, a, b, rsb, c, ldc, accumulate, bias, relu)
    else:
        tg_ukernel_d(kc, a, b, rsb, c, ldc, accumulate, bias, relu)


cdef void pack_a(Py_ssize_t mc, Py_ssize_t kc, const floating *a,
                 Py_ssize_t rsa, Py_ssize_t csa, floating *dst,
                 Py_ssize_t mr) noexcept nogil:
    """Copy A[0:mc, 0:kc] into micro-panels of mr rows, k-major, zero-padded."""
    cdef Py_ssize_t ir, i, p, rows
    cdef const floating *src
    cdef floating *d
    cdef Py_ssize_t t
    for t in range((mc + mr - 1) // mr):
        ir = t * mr
        rows = min(mr, mc - ir)
        d = dst + ir * kc
        if floating is float and csa == 1 and rows == 8 and mr == 8:
            tg_pack_a8_s(kc, a + ir * rsa, rsa, d)   # 8 x 8 blocks, transposed in registers
        elif csa == 1:    # rows of A are contiguous: read along k
            for i in range(rows):
                src = a + (ir + i) * rsa
                for p in range(kc):
                    d[p * mr + i] = src[p]
        else:             # A is transposed (rsa == 1): read along i
            for p in range(kc):
                src = a + ir * rsa + p * csa
                for i in range(rows):
                    d[p * mr + i] = src[i * rsa]
        if rows < mr:
            for p in range(kc):
                for i in range(rows, mr):
                    d[p * mr + i] = 0


cdef void pack_b_panel(Py_ssize_t kc, Py_ssize_t cols, const floating *b,
                       Py_ssize_t rsb, Py_ssize_t csb, floating *d,
                       Py_ssize_t nr) noexcept nogil:
    """Copy B[0:kc, 0:cols] (cols <= nr) into one k-major micro-panel."""
    cdef Py_ssize_t j, p
    cdef const floating *src
    if csb == 1:          # rows of B are contiguous: copy nr at a time
        for p in range(kc):
            src = b + p * rsb
            for j in range(cols):
                d[p * nr + j] = src[j]
            for j in range(cols, nr):
                d[p * nr + j] = 0
    else:                 # B is transposed (rsb == 1): read along k
        for j in range(cols):
            src = b + j * csb
            for p in range(kc):
                d[p * nr + j] = src[p * rsb]
        if cols < nr:
            for p in range(kc):
                for j in range(cols, nr):
                    d[p * nr + j] = 0


cdef void macro_kernel(Py_ssize_t mc, Py_ssize_t nc, Py_ssize_t kc,
                       const floating *ap, const floating *bp,
                       const floating *b_in_place, Py_ssize_t rsb,
                       floating *c, Py_ssize_t rsc, Py_ssize_t csc,
                       bint accumulate, const floating *bias, bint bias_on_rows,
                       bint relu, Py_ssize_t mr, Py_ssize_t nr) noexcept nogil:
    """All MR x NR tiles of one packed A block times one B panel.

    B's micro-panels come from the packed panel ``bp``, or, when
    ``b_in_place`` is given, the full NR-wide ones from that row-major B
    (row stride ``rsb``) and only a narrower last one from ``bp``.
    Whole tiles of a row-major C go straight to C (the micro-kernel adds the
    bias and applies relu as it writes); edge tiles and tiles of a
    transposed C go through a small buffer, of which only the valid part is
    written back, with the same epilogue.
    """
    cdef floating tile[16 * 32]
    cdef Py_ssize_t jr, ir, i, j, rows, cols, t, ti, tj, rsbt
    cdef const floating *bt
    cdef Py_ssize_t nti = (mc + mr - 1) // mr, ntj = (nc + nr - 1) // nr
    cdef floating v
    cdef floating *ct
    cdef const floating *bias_c = bias if not bias_on_rows else NULL
    # Usual order: down the columns of tiles, so one B micro-panel stays in
    # L1 while the A block streams from L2.  When the whole B panel is small
    # (a shallow k), walk C row by row instead: the writes to C then stream.
    cdef bint by_rows = kc * nc * <Py_ssize_t> sizeof(floating) <= 32768
    for t in range(nti * ntj):
        if by_rows:
            ti = t // ntj
            tj = t - ti * ntj
        else:
            tj = t // nti
            ti = t - tj * nti
        jr = tj * nr
        cols = min(nr, nc - jr)
        ir = ti * mr
        rows = min(mr, mc - ir)
        ct = c + ir * rsc + jr * csc
        if b_in_place != NULL and cols == nr:
            bt, rsbt = b_in_place + jr, rsb
        else:
            bt, rsbt = bp + jr * kc, nr
        if rows == mr and cols == nr and csc == 1 and not bias_on_rows:
            ukernel(kc, ap + ir * kc, bt, rsbt, ct, rsc, accumulate,
                    bias_c + jr if bias_c != NULL else NULL, relu)
        else:
            ukernel(kc, ap + ir * kc, bt, rsbt, tile, nr, False, NULL, False)
            for i in range(rows):
                for j in range(cols):
                    v = tile[i * nr + j]
                    if accumulate:
                        v = v + ct[i * rsc + j * csc]
                    if bias != NULL:
                        v = v + (bias[ir + i] if bias_on_rows else bias[jr + j])
                    if relu and v <= 0:
                        v = 0
                    ct[i * rsc + j * csc] = v


cdef void row_block(Py_ssize_t ic, Py_ssize_t mcb, Py_ssize_t nc, Py_ssize_t kc,
                    const floating *a, Py_ssize_t rsa, Py_ssize_t csa,
                    floating *abuf, const floating *bpack,
                    const floating *b_in_place, Py_ssize_t rsb,
                    floating *c, Py_ssize_t rsc, Py_ssize_t csc, bint first, bint last,
                    const floating *bias, bint bias_on_rows, bint relu,
                    Py_ssize_t mr, Py_ssize_t nr) noexcept nogil:
    """Rows ic..ic+mcb of C (one ic step): pack that block of this k-block of A
    into ``abuf``, then multiply it by the B panel (the macro-kernel).
    ``a`` and ``c`` point at row 0 of the k-block and column block; ``bias``,
    when given, at column 0 of the column block (or at row 0 when on rows)."""
    pack_a(mcb, kc, a + ic * rsa, rsa, csa, abuf, mr)
    if bias != NULL and bias_on_rows:
        bias = bias + ic
    macro_kernel(mcb, nc, kc, abuf, bpack, b_in_place, rsb, c + ic * rsc, rsc, csc, not first,
                 bias, bias_on_rows, relu and last, mr, nr)


cdef int gemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
              const floating *a, Py_ssize_t rsa, Py_ssize_t csa,
              const floating *b, Py_ssize_t rsb, Py_ssize_t csb,
              floating *c, Py_ssize_t rsc, Py_ssize_t csc,
              const floating *bias, bint bias_on_rows, bint relu,
              int nthreads) noexcept nogil:
    """C = A @ B (+ bias, relu) with packing, cache blocking and threads.

    Returns -1 when scratch memory cannot be allocated, else 0.
    """
    cdef Py_ssize_t mr, nr, kc_max, mc, nc_max, nparts, nblocks_m
    cdef Py_ssize_t jc, pc, nc, kc, ib, jb, nbp
    cdef floating *bpack
    cdef floating *apack
    cdef const floating *bias_blk
    cdef const floating *b_blk
    cdef bint first, last, in_place
    cdef int tid
    cdef Py_ssize_t kcb, mcb_max
    if floating is float:
        mr = tg_s_mr
        nr = tg_s_nr
        kcb = g_kc[0]
        mcb_max = g_mc[0]
    else:
        mr = tg_d_mr
        nr = tg_d_nr
        kcb = g_kc[1]
        mcb_max = g_mc[1]
    if 2.0 * m * n * k < g_parallel_flops:
        nthreads = 1
    # Split k into equal parts of at most KC (784 -> 2 x 392, not 384 + 400).
    nparts = (k + kcb - 1) // kcb
    kc_max = (k + nparts - 1) // nparts
    nc_max = min(g_nc, (n + nr - 1) // nr * nr)
    # Rows per A block: at most MC, and at least one block per thread.
    nblocks_m = (m + mcb_max - 1) // mcb_max
    if nblocks_m % nthreads:
        nblocks_m += nthreads - nblocks_m % nthreads
    mc = (m + nblocks_m - 1) // nblocks_m
    mc = (mc + mr - 1) // mr * mr
    nblocks_m = (m + mc - 1) // mc
    # B read in place (see above): one row block and a row-major B.
    in_place = nblocks_m == 1 and csb == 1 and kc_max >= g_in_place_kc

    bpack = <floating *> tg_alloc(kc_max * nc_max * sizeof(floating))
    apack = <floating *> tg_alloc(nthreads * mc * kc_max * sizeof(floating))
    if bpack == NULL or apack == NULL:
        free(bpack)
        free(apack)
        return -1
    cdef Py_ssize_t bj, bp
    for bj in range((n + g_nc - 1) // g_nc):
        jc = bj * g_nc
        nc = min(g_nc, n - jc)
        nbp = (nc + nr - 1) // nr
        for bp in range(nparts):
            pc = bp * kc_max
            kc = min(kc_max, k - pc)
            first = pc == 0
            last = pc + kc == k
            bias_blk = NULL                # the epilogue runs after the last k-block
            if last and bias != NULL:
                bias_blk = bias if bias_on_rows else bias + jc
            b_blk = b + pc * rsb + jc * csb
            if nthreads == 1:
                # The same loops without an OpenMP region: entering one costs
                # about half a microsecond even for one thread.
                for jb in range(nbp):
                    if not (in_place and jb * nr + nr <= nc):
                        pack_b_panel(kc, min(nr, nc - jb * nr), b_blk + jb * nr * csb,
                                     rsb, csb, bpack + jb * nr * kc, nr)
                for ib in range(nblocks_m):
                    row_block(ib * mc, min(mc, m - ib * mc), nc, kc, a + pc * csa, rsa, csa,
                              apack, bpack, b_blk if in_place else NULL, rsb,
                              c + jc * csc, rsc, csc, first, last,
                              bias_blk, bias_on_rows, relu, mr, nr)
                continue
            # Pack the B panel, micro-panel by micro-panel, on all threads.
            for jb in prange(nbp, num_threads=nthreads, schedule="static"):
                if not (in_place and jb * nr + nr <= nc):
                    pack_b_panel(kc, min(nr, nc - jb * nr), b_blk + jb * nr * csb,
                                 rsb, csb, bpack + jb * nr * kc, nr)
            # Each thread packs its own A blocks and runs the macro-kernel.
            for ib in prange(nblocks_m, num_threads=nthreads, schedule="static"):
                tid = threadid()
                row_block(ib * mc, min(mc, m - ib * mc), nc, kc, a + pc * csa, rsa, csa,
                          apack + tid * mc * kc_max, bpack, b_blk if in_place else NULL, rsb,
                          c + jc * csc, rsc, csc, first, last,
                          bias_blk, bias_on_rows, relu, mr, nr)
    free(bpack)
    free(apack)
    return 0


cdef void narrow_rows(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const floating *a, Py_ssize_t rsa, Py_ssize_t csa, const floating *bp,
                      floating *c, Py_ssize_t rsc, Py_ssize_t csc,
                      const floating *bias, bint relu, int nv, int jt) noexcept nogil:
    """m rows of a narrow C from the packed B ``bp``: the transposed-A kernel
    of index ``jt`` when jt >= 0, else the kernel ``nv`` vectors wide."""
    if jt >= 0:
        if floating is float:
            tg_narrow_t_s(jt, m, n, k, a, csa, bp, c, rsc, csc, bias, relu)
        else:
            tg_narrow_t_d(jt, m, n, k, a, csa, bp, c, rsc, csc, bias, relu)
    elif floating is float:
        tg_narrow_s(nv, m, n, k, a, rsa, csa, bp, c, rsc, csc, bias, relu)
    else:
        tg_narrow_d(nv, m, n, k, a, rsa, csa, bp, c, rsc, csc, bias, relu)


cdef int gemm_narrow(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     const floating *a, Py_ssize_t rsa, Py_ssize_t csa,
                     const floating *b, Py_ssize_t rsb, Py_ssize_t csb,
                     floating *c, Py_ssize_t rsc, Py_ssize_t csc,
                     const floating *bias, bint relu, int nv, int nthreads) noexcept nogil:
    """C = A @ B for a C of n <= nv vectors' width: pack only B, read A in place.

    When A is stored transposed and n <= 12, the transposed-A kernel of the
    smallest even width JT >= n runs instead (full vectors down the columns of C).
    The rows are split into one contiguous chunk per thread.
    """
    cdef Py_ssize_t w, chunk, nchunks, t, r0
    cdef floating *bp
    cdef int jt = -1
    if rsa == 1 and n <= TG_NART_WIDTH(5):
        jt = (n - 1) // 2                  # the kernel of width 2, 4, ..., 12
        w = TG_NART_WIDTH(jt)
    elif floating is float:
        w = nv * (tg_s_nr // 2)
    else:
        w = nv * (tg_d_nr // 2)
    bp = <floating *> tg_alloc(k * w * sizeof(floating))
    if bp == NULL:
        return -1
    if jt < 0 and csb == 1:                # a row-major B, by masked vectors
        if floating is float:
            tg_pack_narrow_s(nv, k, n, b, rsb, bp)
        else:
            tg_pack_narrow_d(nv, k, n, b, rsb, bp)
    else:
        pack_b_panel(k, n, b, rsb, csb, bp, w)
    if 2.0 * m * n * k < g_parallel_flops:
        nthreads = 1
    chunk = (m + nthreads - 1) // nthreads
    chunk = (chunk + 15) // 16 * 16
    nchunks = (m + chunk - 1) // chunk
    if nthreads == 1:                      # no OpenMP region (see gemm)
        narrow_rows(m, n, k, a, rsa, csa, bp, c, rsc, csc, bias, relu, nv, jt)
    else:
        for t in prange(nchunks, num_threads=nthreads, schedule="static"):
            r0 = t * chunk
            narrow_rows(min(chunk, m - r0), n, k, a + r0 * rsa, rsa, csa, bp,
                        c + r0 * rsc, rsc, csc, bias, relu, nv, jt)
    free(bp)
    return 0


cdef int gemm_shallow(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const floating *a, Py_ssize_t rsa, Py_ssize_t csa,
                      const floating *b, Py_ssize_t rsb, Py_ssize_t csb,
                      floating *c, Py_ssize_t rsc,
                      const floating *bias, bint relu) noexcept nogil:
    """C = A @ B for a shallow k, on one thread, without packing.

    The whole MR x NR tiles go to the shallow kernel, which reads A and B
    where they lie, a block of B's columns at a time (at most
    g_shallow_block_bytes of B, so the block stays in L2 while every row of
    tiles reads it).  When B is wider than one block, each block is first
    copied, row by row, to contiguous memory: read in place, its rows would
    lie a whole row of B apart, each on its own page.  A transposed B
    (csb != 1) is always copied so, its rows gathered.  The last m % MR rows
    and n % NR columns (narrow strips) go through gemm_auto.  Needs m >= MR
    and n >= NR; returns -1 when the copy cannot be allocated.
    """
    cdef Py_ssize_t m_full, n_full, nr, ncb, j0, p, j, jb, cols
    cdef const floating *bb
    cdef floating *bcopy = NULL
    cdef int rc = 0
    if floating is float:
        m_full = m - m % tg_s_mr
        nr = tg_s_nr
    else:
        m_full = m - m % tg_d_mr
        nr = tg_d_nr
    n_full = n - n % nr
    ncb = max(nr, g_shallow_block_bytes // (k * <Py_ssize_t> sizeof(floating)) // nr * nr)
    if ncb < n_full or csb != 1:
        bcopy = <floating *> tg_alloc(k * min(ncb, n_full) * sizeof(floating))
        if bcopy == NULL:
            return -1
    j0 = 0
    while j0 < n_full:
        cols = min(ncb, n_full - j0)
        bb = b + j0
        if bcopy != NULL and csb == 1:
            for p in range(k):
                memcpy(bcopy + p * cols, b + p * rsb + j0, cols * sizeof(floating))
            bb = bcopy
        elif bcopy != NULL:       # 16 rows of B^T at a time, written along rows of the copy
            for jb in range(0, cols, 16):
                for p in range(k):
                    for j in range(jb, min(jb + 16, cols)):
                        bcopy[p * cols + j] = b[p * rsb + (j0 + j) * csb]
            bb = bcopy
        if floating is float:
            tg_shallow_s(m_full, cols, k, a, rsa, csa, bb, cols if bcopy != NULL else rsb,
                         c + j0, rsc, bias + j0 if bias != NULL else NULL, relu)
        else:
            tg_shallow_d(m_full, cols, k, a, rsa, csa, bb, cols if bcopy != NULL else rsb,
                         c + j0, rsc, bias + j0 if bias != NULL else NULL, relu)
        j0 += ncb
    free(bcopy)
    if n_full < n:                # columns right of the tiles, their rows
        rc = gemm_auto(m_full, n - n_full, k, a, rsa, csa, b + n_full * csb, rsb, csb,
                       c + n_full, rsc, 1, bias + n_full if bias != NULL else NULL, relu, 1)
    if m_full < m and rc == 0:    # the rows below the tiles, all columns
        rc = gemm_auto(m - m_full, n, k, a + m_full * rsa, rsa, csa, b, rsb, csb,
                       c + m_full * rsc, rsc, 1, bias, relu, 1)
    return rc


cdef int gemm_auto(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   const floating *a, Py_ssize_t rsa, Py_ssize_t csa,
                   const floating *b, Py_ssize_t rsb, Py_ssize_t csb,
                   floating *c, Py_ssize_t rsc, Py_ssize_t csc,
                   const floating *bias, bint relu, int nthreads) noexcept nogil:
    """Run C = A @ B, or C^T = B^T @ A^T when that fills the tiles better.

    A narrow C (say n = 10 classes) would leave most lanes of an NR-wide
    tile empty; computed transposed, those 10 columns become rows of an
    MR-tall tile instead, which wastes far less.
    """
    cdef Py_ssize_t mr, nr
    cdef double eff_direct, eff_swap
    if floating is float:
        mr = tg_s_mr
        nr = tg_s_nr
    else:
        mr = tg_d_mr
        nr = tg_d_nr
    if n < nr:                  # narrow C: at most two vectors wide
        return gemm_narrow(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc,
                           bias, relu, 1 if 2 * n <= nr else 2, nthreads)
    if (k <= g_shallow_k and csc == 1 and m >= mr
            and (nthreads == 1 or 2.0 * m * n * k < g_parallel_flops)):
        return gemm_shallow(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, bias, relu)
    # fraction of computed tile entries that are real entries of C
    eff_direct = (<double> m / ((m + mr - 1) // mr * mr)) * (<double> n / ((n + nr - 1) // nr * nr))
    eff_swap = (<double> n / ((n + mr - 1) // mr * mr)) * (<double> m / ((m + nr - 1) // nr * nr))
    if eff_swap > 1.25 * eff_direct:
        return gemm(n, m, k, b, csb, rsb, a, csa, rsa, c, csc, rsc,
                    bias, True, relu, nthreads)
    return gemm(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc,
                bias, False, relu, nthreads)




# ======================================================================
# Python entry points
# ======================================================================
def _check(int rc):
    if rc != 0:
        raise MemoryError("tapegrad cython kernels: could not allocate packing buffers")


def micro_kernel_once(const floating[::1] a_panel, const floating[::1] b_panel,
                      floating[:, ::1] c, bint accumulate, const floating[::1] bias,
                      bint use_bias, bint relu, Py_ssize_t rsb=0):
    """Run the selected micro-kernel once on panels, as the GEMM does.

    c[:MR, :NR] = a_panel (kc steps of MR numbers) @ b_panel (kc rows of NR
    numbers, row p at p*rsb), + the old c when ``accumulate``, + bias[:NR]
    when ``use_bias``, then ReLU when ``relu``: ``reference_micro_kernel``
    (kernels/gemm_reference.py).  A test hook: the GEMM calls the kernel from
    C.  The shapes are checked.  With ``rsb`` = 0 B is packed (rsb = NR) and
    copied to 64-byte aligned memory, as the packing leaves it; with rsb >= NR
    the kernel reads ``b_panel`` in place, as it reads a row-major B.
    """
    cdef Py_ssize_t mr, nr, kc, i
    if floating is float:
        mr, nr = tg_s_mr, tg_s_nr
    else:
        mr, nr = tg_d_mr, tg_d_nr
    kc = a_panel.shape[0] // mr
    if rsb != 0 and rsb < nr:
        raise ValueError(f"micro_kernel_once: rsb={rsb} is below NR={nr} (0: packed)")
    if (kc < 1 or a_panel.shape[0] != kc * mr
            or (rsb == 0 and b_panel.shape[0] != kc * nr)
            or (rsb != 0 and b_panel.shape[0] < (kc - 1) * rsb + nr)):
        raise ValueError(f"micro_kernel_once: panels of {a_panel.shape[0]} and {b_panel.shape[0]} "
                         f"numbers are not kc*MR and kc*NR (or (kc-1)*rsb+NR) for one kc >= 1 "
                         f"(MR={mr}, NR={nr}, rsb={rsb})")
    if c.shape[0] != mr or c.shape[1] < nr:
        raise ValueError(f"micro_kernel_once: c is {c.shape[0]} x {c.shape[1]}, "
                         f"needs {mr} rows and at least {nr} columns")
    if use_bias and bias.shape[0] < nr:
        raise ValueError(f"micro_kernel_once: bias has {bias.shape[0]} numbers, needs {nr}")
    if rsb != 0:
        ukernel(kc, &a_panel[0], &b_panel[0], rsb, &c[0, 0], c.shape[1], accumulate,
                &bias[0] if use_bias else NULL, relu)
        return
    cdef floating *b_aligned = <floating *> tg_alloc(kc * nr * sizeof(floating))
    if b_aligned == NULL:
        raise MemoryError("micro_kernel_once: could not allocate the B panel")
    for i in range(kc * nr):
        b_aligned[i] = b_panel[i]
    ukernel(kc, &a_panel[0], b_aligned, nr, &c[0, 0], c.shape[1], accumulate,
            &bias[0] if use_bias else NULL, relu)
    free(b_aligned)


# The two GEMM entries take the arrays themselves, not typed memoryviews:
# making a memoryview object costs ~0.1 us per array, a tenth of the
# smallest GEMM's time.  They borrow each array's memory through the buffer
# protocol (the array cannot be resized or freed while it is borrowed) and
# check in C what the kernel relies on, so a direct call with a wrong array
# raises instead of reading past the end of one.
cdef int borrow(object array, Py_buffer *view, int ndim, bint writable,
                str name, str kernel) except -1:
    """Borrow ``array`` as a C-contiguous, ``ndim``-dimensional buffer."""
    cdef int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0)
    try:
        PyObject_GetBuffer(array, view, flags)
    except (BufferError, TypeError, ValueError) as exc:
        raise ValueError(f"{kernel}: {name} must be a C-contiguous{' writable' if writable else ''} "
                         f"float32 or float64 array ({exc})") from None
    if view.ndim != ndim:
        raise ValueError(f"{kernel}: {name} must have {ndim} dimension(s), not {view.ndim}")
    return 0


cdef char element_type(Py_buffer *view):
    """b'f' (float32), b'd' (float64), or 0 for any other element type."""
    cdef const char *f = view.format
    if f != NULL and f[1] == 0 and (f[0] == b'f' or f[0] == b'd'):
        return f[0]
    return 0


cdef char same_float_type(Py_buffer *views, int count, str kernel) except 0:
    """The element type shared by ``count`` borrowed buffers, float32 or float64."""
    cdef char t = element_type(&views[0])
    cdef int i
    for i in range(1, count):
        if element_type(&views[i]) != t:
            t = 0
    if t == 0:
        raise TypeError(f"{kernel}: the arrays must all be float32 or all float64, got formats "
                        + ", ".join(repr(views[i].format.decode()) for i in range(count)))
    return t


def matmul(a, b, bint transpose_a, bint transpose_b, out):
    """out = op(a) @ op(b), op = transpose when its flag is set.

    A BLIS/Goto GEMM: blocks of A and B are packed into the order the
    register-tiled micro-kernel reads them (a transpose costs nothing extra:
    it only changes how the packing reads), cache-blocked so each packed
    block stays in L1/L2/L3, and split over OpenMP threads by row blocks.
    """
    cdef Py_buffer v[3]
    cdef Py_ssize_t m, n, k, lda, ldb, rsa, csa, rsb, csb
    cdef int rc
    cdef char t
    memset(v, 0, sizeof(v))          # obj = NULL: nothing borrowed yet
    try:
        borrow(a, &v[0], 2, False, "a", "matmul")
        borrow(b, &v[1], 2, False, "b", "matmul")
        borrow(out, &v[2], 2, True, "out", "matmul")
        t = same_float_type(v, 3, "matmul")
        m, n = v[2].shape[0], v[2].shape[1]
        lda, ldb = v[0].shape[1], v[1].shape[1]
        k = v[0].shape[0] if transpose_a else lda
        if ((v[0].shape[1] if transpose_a else v[0].shape[0]) != m
                or (v[1].shape[1] if transpose_b else v[1].shape[0]) != k
                or (v[1].shape[0] if transpose_b else ldb) != n or m * n * k == 0):
            raise ValueError(f"matmul: shapes {(v[0].shape[0], v[0].shape[1])}, "
                             f"{(v[1].shape[0], v[1].shape[1])} (transposed: {transpose_a}, "
                             f"{transpose_b}) and out {(m, n)} do not fit (or one is empty)")
        rsa = 1 if transpose_a else lda    # a transpose swaps the strides
        csa = lda if transpose_a else 1
        rsb = 1 if transpose_b else ldb
        csb = ldb if transpose_b else 1
        with nogil:
            if t == b'f':
                rc = gemm_auto(m, n, k, <const float *> v[0].buf, rsa, csa,
                               <const float *> v[1].buf, rsb, csb,
                               <float *> v[2].buf, n, 1, NULL, False, g_threads)
            else:
                rc = gemm_auto(m, n, k, <const double *> v[0].buf, rsa, csa,
                               <const double *> v[1].buf, rsb, csb,
                               <double *> v[2].buf, n, 1, NULL, False, g_threads)
    finally:
        PyBuffer_Release(&v[0])
        PyBuffer_Release(&v[1])
        PyBuffer_Release(&v[2])
    _check(rc)


def dense_forward(x, w, b, bint relu, out):
    """out = relu?(x @ w + b), the bias and relu fused into the GEMM.

    They are applied by the micro-kernel as it writes each finished tile of
    the output (after the last k-block), while the tile is still in
    registers: no extra pass over ``out``.  ``b`` may be None.
    """
    cdef Py_buffer v[4]
    cdef Py_ssize_t m, n, k
    cdef int rc, count = 3
    cdef char t
    memset(v, 0, sizeof(v))          # obj = NULL: nothing borrowed yet
    try:
        borrow(x, &v[0], 2, False, "x", "dense_forward")
        borrow(w, &v[1], 2, False, "w", "dense_forward")
        borrow(out, &v[2], 2, True, "out", "dense_forward")
        if b is not None:
            borrow(b, &v[3], 1, False, "b", "dense_forward")
            count = 4
        t = same_float_type(v, count, "dense_forward")
        m, k, n = v[0].shape[0], v[0].shape[1], v[1].shape[1]
        if (v[1].shape[0] != k or v[2].shape[0] != m or v[2].shape[1] != n
                or (count == 4 and v[3].shape[0] != n) or m * n * k == 0):
            raise ValueError(f"dense_forward: shapes x {(m, k)}, w {(v[1].shape[0], n)}, "
                             f"out {(v[2].shape[0], v[2].shape[1])}"
                             + (f", b {(v[3].shape[0],)}" if count == 4 else "")
                             + " do not fit (or one is empty)")
        with nogil:
            if t == b'f':
                rc = gemm_auto(m, n, k, <const float *> v[0].buf, k, 1, <const float *> v[1].buf, n, 1,
                               <float *> v[2].buf, n, 1, <const float *> v[3].buf if count == 4 else NULL,
                               relu, g_threads)
            else:
                rc = gemm_auto(m, n, k, <const double *> v[0].buf, k, 1, <const double *> v[1].buf, n, 1,
                               <double *> v[2].buf, n, 1, <const double *> v[3].buf if count == 4 else NULL,
                               relu, g_threads)
    finally:
        for count in range(4):
            PyBuffer_Release(&v[count])
    _check(rc)


# The element-wise kernels below run their loop directly on one thread and
# enter an OpenMP region (prange over chunks, or rows) only for several:
# entering one costs about half a microsecond even for one thread.  Their
# loops read every input unconditionally and then select, so GCC turns the
# choice into vector blends instead of a branch per element.


# ---------------------------------------------------------------- fused for a training step
# Not fused in this backend yet: the gather and the optimizer update run as
# the separate kernels above and in kernels/optim/cython.pxi (the Numba
# backend fuses them: kernels/gemm/numba_fused.py).
def dense_forward_rows(x, rows, w, b, bint relu, out):
    """out = relu?(x[rows] @ w + b): the rows gathered (a copy), then ``dense_forward``."""
    dense_forward(x[rows], w, b, relu, out)


def weight_grad_rmsprop(x, rows, g, w, v, double lr, double rho, double eps):
    """RMSprop on w (mean squares v) with dW = op(x)^T @ g, op(x) = x[rows] or x:
    ``matmul`` into a new dW, then ``rmsprop_update``."""
    grad = w.copy()
    matmul(x if rows is None else x[rows], g, True, False, grad)
    rmsprop_update(w.reshape(-1), grad.reshape(-1), v.reshape(-1), lr, rho, eps)
