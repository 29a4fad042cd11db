# The convolution family in Cython (included at the end of kernels/_cython_impl.pxi).
#
# Implicit GEMM, as in kernels/conv/numba.py and kernels/conv/DESIGN.md: the
# patch matrix P (M = N*OH*OW rows, K = KH*KW*C columns) is never built; the
# block of it that one step of the GEMM needs is packed straight from the
# image into the MR-tall micro-panels ``pack_a`` would have made of it, and the
# GEMM's own ``macro_kernel`` multiplies it by the packed kernel.
#   forward        out (M x F)  = P @ W            (bias, relu in the epilogue)
#   input grad     dx = col2im(G @ W.T)           block by block of G's rows, each
#                                                  block's dP added into dx at once
#   kernel grad    dW  (K x F)  = P.T @ G          a reduction over the M pixels
# The pools are memory-bound loops over the channels.

cdef struct ConvGeom:
    # the image the patches come from, and how a tap finds its pixel
    Py_ssize_t h, w, c, kw, sh, sw, top, left, dh, dw
    # the output grid (one patch per output pixel)
    Py_ssize_t oh, ow


@cython.cdivision(True)
cdef inline Py_ssize_t tap_source(const ConvGeom *g, Py_ssize_t img, Py_ssize_t i, Py_ssize_t j,
                                  Py_ssize_t p, Py_ssize_t q) noexcept nogil:
    """Offset of channel 0 of tap (p, q) of output pixel (img, i, j) in the
    image, or -1 where the tap lands on padding (or between dilated pixels).
    Integer division costs tens of cycles, so only a dilated image (the input
    gradient of a strided convolution) pays for it."""
    cdef Py_ssize_t tr = i * g.sh + p - g.top
    cdef Py_ssize_t tc = j * g.sw + q - g.left
    if tr < 0 or tc < 0 or tr >= g.h * g.dh or tc >= g.w * g.dw:
        return -1
    if g.dh != 1 or g.dw != 1:
        if tr % g.dh != 0 or tc % g.dw != 0:
            return -1
        tr = tr // g.dh
        tc = tc // g.dw
    return ((img * g.h + tr) * g.w + tc) * g.c


cdef struct Pixel:
    Py_ssize_t img, i, j


@cython.cdivision(True)
cdef inline Pixel pixel_of(const ConvGeom *g, Py_ssize_t m) noexcept nogil:
    cdef Pixel px
    px.img = m // (g.oh * g.ow)
    m = m - px.img * g.oh * g.ow
    px.i = m // g.ow
    px.j = m - px.i * g.ow
    return px


cdef inline void next_pixel(const ConvGeom *g, Pixel *px) noexcept nogil:
    px.j += 1
    if px.j == g.ow:
        px.j = 0
        px.i += 1
        if px.i == g.oh:
            px.i = 0
            px.img += 1


@cython.cdivision(True)
cdef void pack_patches(const ConvGeom *g, const floating *x, Py_ssize_t m0, Py_ssize_t mc,
                       Py_ssize_t k0, Py_ssize_t kc, floating *dst, Py_ssize_t mr) noexcept nogil:
    """P[m0:m0+mc, k0:k0+kc] in pack_a's layout: micro-panels of mr rows,
    element (i, p) of panel t at dst[t*mr*kc + p*mr + i], rows past mc zero.
    Column k of P is channel k % C of tap k // C (tap = p*KW + q): a row is a
    series of contiguous runs of C channels; pixel and tap advance by counters."""
    cdef Py_ssize_t row, t, i, kk, seg, e, src, p, q, ch
    cdef Py_ssize_t tap0 = k0 // g.c
    cdef Py_ssize_t ch0 = k0 - tap0 * g.c
    cdef Py_ssize_t p0 = tap0 // g.kw
    cdef Py_ssize_t q0 = tap0 - p0 * g.kw
    cdef floating *d
    cdef Pixel px = pixel_of(g, m0)
    for row in range(((mc + mr - 1) // mr) * mr):
        t = row // mr
        i = row - t * mr
        d = dst + t * mr * kc + i
        if row >= mc:
            for kk in range(kc):
                d[kk * mr] = 0
            continue
        kk = 0
        p, q, ch = p0, q0, ch0
        while kk < kc:
            seg = min(g.c - ch, kc - kk)
            src = tap_source(g, px.img, px.i, px.j, p, q)
            if src < 0:
                for e in range(seg):
                    d[(kk + e) * mr] = 0
            else:
                src = src + ch
                for e in range(seg):
                    d[(kk + e) * mr] = x[src + e]
            kk = kk + seg
            ch = 0
            q = q + 1
            if q == g.kw:
                q = 0
                p = p + 1
        next_pixel(g, &px)


cdef void pack_patch_panels(const ConvGeom *g, const floating *x, Py_ssize_t m0, Py_ssize_t kc,
                            Py_ssize_t k, floating *dst, Py_ssize_t nr) noexcept nogil:
    """The kernel gradient's B: P[m0:m0+kc, 0:k] in pack_b_panel's layout,
    panel t (columns t*nr..) at dst + t*nr*kc, row p of it at + p*nr, columns
    past k zero.  Contiguous runs along the channels of one tap, cut where a
    panel ends."""
    cdef Py_ssize_t pix, tp, tq, tap, ch, panel, col, seg, e, src
    cdef floating *d
    cdef Pixel px = pixel_of(g, m0)
    for pix in range(kc):
        tp, tq, tap, ch, panel, col = 0, 0, 0, 0, 0, 0
        src = tap_source(g, px.img, px.i, px.j, 0, 0)
        while tap * g.c < k:
            seg = min(g.c - ch, nr - col)
            d = dst + panel * nr * kc + pix * nr + col
            if src < 0:
                for e in range(seg):
                    d[e] = 0
            else:
                for e in range(seg):
                    d[e] = x[src + ch + e]
            ch = ch + seg
            col = col + seg
            if col == nr:
                col = 0
                panel = panel + 1
            if ch == g.c:
                ch = 0
                tap = tap + 1
                tq = tq + 1
                if tq == g.kw:
                    tq = 0
                    tp = tp + 1
                src = tap_source(g, px.img, px.i, px.j, tp, tq)
        if col > 0:
            d = dst + panel * nr * kc + pix * nr
            for e in range(col, nr):
                d[e] = 0
        next_pixel(g, &px)


cdef int implicit_gemm(const ConvGeom *g, const floating *x, Py_ssize_t m, Py_ssize_t k, Py_ssize_t f,
                       const floating *wmat, floating *out, const floating *bias, bint relu,
                       int nthreads) noexcept nogil:
    """out (m x f) = P @ wmat (k x f) (+ bias) (then relu): the kernel packed
    once, K block by K block; MC-row blocks of the output shared by the
    threads, each packing its own patches.  -1 when memory runs out."""
    cdef Py_ssize_t mr, nr, kcb, mc, nparts, nbp, nblocks, part, pc, kc, jb, ib, ic, mcb
    cdef floating *bpack
    cdef floating *apack
    cdef floating *bpart
    cdef int tid
    if floating is float:
        mr, nr, kcb, mc = tg_s_mr, tg_s_nr, g_kc[0], g_mc[0]
    else:
        mr, nr, kcb, mc = tg_d_mr, tg_d_nr, g_kc[1], g_mc[1]
    if 2.0 * m * k * f < g_parallel_flops:
        nthreads = 1
    nparts = (k + kcb - 1) // kcb
    kcb = (k + nparts - 1) // nparts
    nbp = (f + nr - 1) // nr
    mc = (mc + mr - 1) // mr * mr
    nblocks = (m + mc - 1) // mc
    bpack = <floating *> tg_alloc(k * nbp * nr * sizeof(floating))
    apack = <floating *> tg_alloc(nthreads * mc * kcb * sizeof(floating))
    if bpack == NULL or apack == NULL:
        free(bpack)
        free(apack)
        return -1
    for part in range(nparts):
        pc = part * kcb
        kc = min(kcb, k - pc)
        for jb in range(nbp):
            pack_b_panel(kc, min(nr, f - jb * nr), wmat + pc * f + jb * nr, f, 1,
                         bpack + pc * nbp * nr + jb * nr * kc, nr)
    for ib in prange(nblocks, num_threads=nthreads, schedule="static"):
        tid = threadid()
        ic = ib * mc
        mcb = min(mc, m - ic)
        for part in range(nparts):
            pc = part * kcb
            kc = min(kcb, k - pc)
            pack_patches(g, x, ic, mcb, pc, kc, apack + tid * mc * kcb, mr)
            macro_kernel(mcb, f, kc, apack + tid * mc * kcb, bpack + pc * nbp * nr, NULL, 0,
                         out + ic * f, f, 1, part > 0, bias if part == nparts - 1 else NULL, False,
                         relu and part == nparts - 1, mr, nr)
    free(bpack)
    free(apack)
    return 0


cdef int kernel_grad_gemm(const ConvGeom *g, const floating *x, Py_ssize_t m, Py_ssize_t k, Py_ssize_t f,
                          const floating *grad, floating *dw, int nthreads) noexcept nogil:
    """dw (k x f) = P.T @ grad (m x f), computed transposed: dW.T (f x k) =
    grad.T @ P, so that P's blocks are B panels (``pack_patch_panels``,
    contiguous runs) and grad.T is A (``pack_a``); the macro-kernel stores
    dW.T's tiles into dW with swapped strides.  The pixels are split between
    the threads in KC blocks, each thread summing into its own copy of dW
    (added up at the end)."""
    cdef Py_ssize_t mr, nr, kcb, nbp, nblocks, share, tb, lo, hi, pc, kc, i, apan
    cdef floating *parts
    cdef floating *bpack
    cdef floating *apack
    cdef floating *mine
    cdef bint first
    if floating is float:
        mr, nr, kcb = tg_s_mr, tg_s_nr, g_kc[0]
    else:
        mr, nr, kcb = tg_d_mr, tg_d_nr, g_kc[1]
    if 2.0 * m * k * f < g_parallel_flops:
        nthreads = 1
    nbp = (k + nr - 1) // nr
    apan = (f + mr - 1) // mr * mr
    nblocks = (m + kcb - 1) // kcb
    if nthreads > nblocks:
        nthreads = <int> nblocks
    share = (nblocks + nthreads - 1) // nthreads * kcb
    parts = <floating *> tg_alloc(nthreads * k * f * sizeof(floating))
    bpack = <floating *> tg_alloc(nthreads * kcb * nbp * nr * sizeof(floating))
    apack = <floating *> tg_alloc(nthreads * apan * kcb * sizeof(floating))
    if parts == NULL or bpack == NULL or apack == NULL:
        free(parts)
        free(bpack)
        free(apack)
        return -1
    for tb in prange(nthreads, num_threads=nthreads, schedule="static"):
        mine = parts + tb * k * f
        lo = min(m, tb * share)
        hi = min(m, lo + share)
        first = True
        if lo >= hi:
            memset(mine, 0, k * f * sizeof(floating))
        pc = lo
        while pc < hi:
            kc = min(kcb, hi - pc)
            pack_patch_panels(g, x, pc, kc, k, bpack + tb * kcb * nbp * nr, nr)
            pack_a(f, kc, grad + pc * f, 1, f, apack + tb * apan * kcb, mr)
            macro_kernel(f, k, kc, apack + tb * apan * kcb, bpack + tb * kcb * nbp * nr, NULL, 0,
                         mine, 1, f, not first, NULL, False, False, mr, nr)
            first = False
            pc = pc + kcb
    for i in range(k * f):
        dw[i] = parts[i]
    for tb in range(1, nthreads):
        mine = parts + tb * k * f
        for i in range(k * f):
            dw[i] = dw[i] + mine[i]
    free(parts)
    free(bpack)
    free(apack)
    return 0


cdef void scatter_patches(const ConvGeom *g, const floating *dp, Py_ssize_t m0, Py_ssize_t mc, Py_ssize_t k,
                          floating *dx) noexcept nogil:
    """col2im of one block: row r of dp (k numbers, the patch of output pixel
    m0 + r) added into the image dx where each tap's run of C channels came
    from (taps on the padding are dropped)."""
    cdef Py_ssize_t row, p, q, e, dst, kh = k // (g.kw * g.c)
    cdef const floating *src
    cdef floating *d
    cdef Pixel px = pixel_of(g, m0)
    for row in range(mc):
        src = dp + row * k
        for p in range(kh):
            for q in range(g.kw):
                dst = tap_source(g, px.img, px.i, px.j, p, q)
                if dst >= 0:
                    d = dx + dst
                    for e in range(g.c):
                        d[e] = d[e] + src[e]
                src = src + g.c
        next_pixel(g, &px)


cdef int input_grad_gemm(const ConvGeom *g, const floating *grad, Py_ssize_t n, Py_ssize_t k, Py_ssize_t f,
                         const floating *wmat, floating *dx, int nthreads) noexcept nogil:
    """dx = col2im(G @ wmat.T), G (M x f) = grad_out, wmat (k x f) the kernel,
    block by block of MC output pixels: the block's rows of dP = G @ W.T are
    computed by the GEMM's macro-kernel into a scratch block (L2, never the
    whole dP), then added into dx where each patch number came from
    (``scatter_patches``).  Exactly the GEMM's flops (the old "full
    convolution" of a zero-padded grad_out computed 1.4x them on conv2, 2.8x
    on conv3).  Threads take whole images, so their additions never collide.
    -1 when memory runs out."""
    cdef Py_ssize_t mr, nr, kcb, mc, nparts, nbp, part, pc, kc, jb, tb, share, img_lo, img_hi, ic, mcb, m_hi
    cdef Py_ssize_t image = g.h * g.w * g.c, pixels = g.oh * g.ow
    cdef floating *bpack
    cdef floating *apack
    cdef floating *dpack
    if floating is float:
        mr, nr, kcb, mc = tg_s_mr, tg_s_nr, g_kc[0], g_mc[0]
    else:
        mr, nr, kcb, mc = tg_d_mr, tg_d_nr, g_kc[1], g_mc[1]
    if 2.0 * n * pixels * k * f < g_parallel_flops:
        nthreads = 1
    if nthreads > n:
        nthreads = <int> n
    # the scratch block of dP stays in L2: at most 256 KB
    mc = max(mr, min(mc, 262144 // (k * <Py_ssize_t> sizeof(floating))) // mr * mr)
    nparts = (f + kcb - 1) // kcb
    kcb = (f + nparts - 1) // nparts
    nbp = (k + nr - 1) // nr
    bpack = <floating *> tg_alloc(f * nbp * nr * sizeof(floating))
    apack = <floating *> tg_alloc(nthreads * mc * kcb * sizeof(floating))
    dpack = <floating *> tg_alloc(nthreads * mc * k * sizeof(floating))
    if bpack == NULL or apack == NULL or dpack == NULL:
        free(bpack)
        free(apack)
        free(dpack)
        return -1
    for part in range(nparts):   # W.T[p, j] = wmat[j*f + p]
        pc = part * kcb
        kc = min(kcb, f - pc)
        for jb in range(nbp):
            pack_b_panel(kc, min(nr, k - jb * nr), wmat + jb * nr * f + pc, 1, f,
                         bpack + pc * nbp * nr + jb * nr * kc, nr)
    share = (n + nthreads - 1) // nthreads
    for tb in prange(nthreads, num_threads=nthreads, schedule="static"):
        img_lo = min(n, tb * share)
        img_hi = min(n, img_lo + share)
        memset(dx + img_lo * image, 0, (img_hi - img_lo) * image * sizeof(floating))
        ic = img_lo * pixels
        m_hi = img_hi * pixels
        while ic < m_hi:
            mcb = min(mc, m_hi - ic)
            for part in range(nparts):
                pc = part * kcb
                kc = min(kcb, f - pc)
                pack_a(mcb, kc, grad + ic * f + pc, f, 1, apack + tb * mc * kcb, mr)
                macro_kernel(mcb, k, kc, apack + tb * mc * kcb, bpack + pc * nbp * nr, NULL, 0,
                             dpack + tb * mc * k, k, 1, part > 0, NULL, False, False, mr, nr)
            scatter_patches(g, dpack + tb * mc * k, ic, mcb, k, dx)
            ic = ic + mc
    free(bpack)
    free(apack)
    free(dpack)
    return 0


cdef ConvGeom conv_geom(tuple image_shape, Py_ssize_t kw, tuple strides, tuple pads, tuple dilation,
                        Py_ssize_t oh, Py_ssize_t ow):
    cdef ConvGeom g
    g.h, g.w, g.c = image_shape[1], image_shape[2], image_shape[3]
    g.kw, g.sh, g.sw, g.top, g.left = kw, strides[0], strides[1], pads[0], pads[1]
    g.dh, g.dw, g.oh, g.ow = dilation[0], dilation[1], oh, ow
    return g


def conv_implicit_gemm(const floating[::1] x, tuple image_shape, Py_ssize_t kw, tuple strides, tuple pads,
                       tuple dilation, Py_ssize_t oh, Py_ssize_t ow, const floating[:, ::1] wmat,
                       floating[::1] out, const floating[::1] bias, bint use_bias, bint relu):
    """out (M x F, flat) = P @ wmat (+ bias) (then relu), P the patches of the
    flat image ``x`` of ``image_shape`` (kernels/conv/cython.py calls it for
    the forward pass and the input gradient; the API checked every shape)."""
    cdef ConvGeom g = conv_geom(image_shape, kw, strides, pads, dilation, oh, ow)
    cdef Py_ssize_t k = wmat.shape[0], f = wmat.shape[1]
    cdef Py_ssize_t m = out.shape[0] // f
    cdef int rc
    with nogil:
        rc = implicit_gemm(&g, &x[0], m, k, f, &wmat[0, 0], &out[0], &bias[0] if use_bias else NULL,
                           relu, g_threads)
    _check(rc)


def conv_kernel_grad(const floating[::1] x, tuple image_shape, Py_ssize_t kw, tuple strides, tuple pads,
                     Py_ssize_t oh, Py_ssize_t ow, const floating[:, ::1] grad, floating[:, ::1] dw):
    """dw (K x F) = P.T @ grad (M x F), P the patches of the flat image ``x``."""
    cdef ConvGeom g = conv_geom(image_shape, kw, strides, pads, (1, 1), oh, ow)
    cdef int rc
    with nogil:
        rc = kernel_grad_gemm(&g, &x[0], grad.shape[0], dw.shape[0], dw.shape[1], &grad[0, 0], &dw[0, 0],
                              g_threads)
    _check(rc)


def conv_input_grad(const floating[::1] grad, tuple image_shape, Py_ssize_t kw, tuple strides, tuple pads,
                    Py_ssize_t oh, Py_ssize_t ow, const floating[:, ::1] wmat, floating[::1] dx):
    """dx (the flat image of ``image_shape``) = col2im(grad (M x F, flat) @ wmat.T)."""
    cdef ConvGeom g = conv_geom(image_shape, kw, strides, pads, (1, 1), oh, ow)
    cdef Py_ssize_t n = image_shape[0]
    cdef int rc
    with nogil:
        rc = input_grad_gemm(&g, &grad[0], n, wmat.shape[0], wmat.shape[1], &wmat[0, 0], &dx[0], g_threads)
    _check(rc)


# ---------------------------------------------------------------- pools
cdef inline Py_ssize_t window_lo(Py_ssize_t i, Py_ssize_t stride, Py_ssize_t pad) noexcept nogil:
    """The first real (not padding) input row of window i."""
    return max(i * stride - pad, 0)


cdef inline Py_ssize_t window_hi(Py_ssize_t i, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t size,
                                 Py_ssize_t window) noexcept nogil:
    """One past the last real input row of window i."""
    return min(i * stride - pad + window, size)


@cython.cdivision(True)
cdef void max_pool_image(const floating* x, floating* out, Py_ssize_t h, Py_ssize_t w, Py_ssize_t c,
                         Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh,
                         Py_ssize_t sw, Py_ssize_t top, Py_ssize_t left) noexcept nogil:
    """One image's max pool, raw pointers (no memoryview indexing in the
    parallel loop); the channel loops are branch-free, so GCC vectorizes them."""
    cdef Py_ssize_t i, j, r, s, ch, r0, r1, c0, c1
    cdef floating v, b
    cdef floating* o
    cdef const floating* src
    for i in range(oh):
        r0 = window_lo(i, sh, top)
        r1 = window_hi(i, sh, top, h, ph)
        for j in range(ow):
            c0 = window_lo(j, sw, left)
            c1 = window_hi(j, sw, left, w, pw)
            o = out + (i * ow + j) * c
            src = x + (r0 * w + c0) * c
            for ch in range(c):
                o[ch] = src[ch]
            for r in range(r0, r1):
                for s in range(c0, c1):
                    if r == r0 and s == c0:
                        continue
                    src = x + (r * w + s) * c
                    for ch in range(c):
                        v = src[ch]
                        b = o[ch]
                        o[ch] = v if (v > b or (v != v and b == b)) else b


@cython.cdivision(True)
cdef void max_pool_backward_image(const floating* x, const floating* grad, floating* dx, floating* best,
                                  floating* where, Py_ssize_t h, Py_ssize_t w, Py_ssize_t c, Py_ssize_t oh,
                                  Py_ssize_t ow, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
                                  Py_ssize_t top, Py_ssize_t left, bint zero_first, bint add) noexcept nogil:
    """One image's max-pool gradient, as numba_pools.py's: the first maximum's
    window position per channel as a number, then each window element
    written once (grad there, 0 elsewhere), or added where windows overlap.
    ``zero_first`` where the windows do not cover the image exactly."""
    cdef Py_ssize_t i, j, r, s, ch, r0, r1, c0, c1
    cdef floating v, b, pos
    cdef const floating* src
    cdef const floating* g
    cdef floating* d
    if zero_first:
        memset(dx, 0, h * w * c * sizeof(floating))
    for i in range(oh):
        r0 = window_lo(i, sh, top)
        r1 = window_hi(i, sh, top, h, ph)
        for j in range(ow):
            c0 = window_lo(j, sw, left)
            c1 = window_hi(j, sw, left, w, pw)
            g = grad + (i * ow + j) * c
            src = x + (r0 * w + c0) * c
            for ch in range(c):
                best[ch] = src[ch]
                where[ch] = 0
            pos = 0
            for r in range(r0, r1):
                for s in range(c0, c1):
                    src = x + (r * w + s) * c
                    for ch in range(c):
                        v = src[ch]
                        b = best[ch]
                        if v > b or (v != v and b == b):
                            best[ch] = v
                            where[ch] = pos
                    pos = pos + 1
            pos = 0
            for r in range(r0, r1):
                for s in range(c0, c1):
                    d = dx + (r * w + s) * c
                    if add:
                        for ch in range(c):
                            d[ch] += g[ch] if where[ch] == pos else 0
                    else:
                        for ch in range(c):
                            d[ch] = g[ch] if where[ch] == pos else 0
                    pos = pos + 1


@cython.cdivision(True)
cdef void avg_pool_image(const floating* x, floating* out, const floating* grad, floating* dx, Py_ssize_t h,
                         Py_ssize_t w, Py_ssize_t c, Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ph, Py_ssize_t pw,
                         Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t top, Py_ssize_t left, bint backward,
                         bint zero_first, bint add) noexcept nogil:
    """One image's average pool (x -> out) or its gradient (grad -> dx)."""
    cdef Py_ssize_t i, j, r, s, ch, r0, r1, c0, c1
    cdef floating count
    cdef floating* o
    cdef const floating* src
    cdef floating* d
    if backward and zero_first:
        memset(dx, 0, h * w * c * sizeof(floating))
    for i in range(oh):
        r0 = window_lo(i, sh, top)
        r1 = window_hi(i, sh, top, h, ph)
        for j in range(ow):
            c0 = window_lo(j, sw, left)
            c1 = window_hi(j, sw, left, w, pw)
            count = (r1 - r0) * (c1 - c0)
            if backward:
                src = grad + (i * ow + j) * c
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        d = dx + (r * w + s) * c
                        if add:
                            for ch in range(c):
                                d[ch] += src[ch] / count
                        else:
                            for ch in range(c):
                                d[ch] = src[ch] / count
            else:
                o = out + (i * ow + j) * c
                for ch in range(c):
                    o[ch] = 0
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        src = x + (r * w + s) * c
                        for ch in range(c):
                            o[ch] += src[ch]
                for ch in range(c):
                    o[ch] = o[ch] / count


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def pool2d(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, const floating[:, :, :, ::1] grad,
           floating[:, :, :, ::1] dx, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t top, Py_ssize_t left, int mode):
    """The pools, one image per OpenMP task (windows of different images never
    share an element).  ``mode`` 0: max forward (x -> out); 1: max backward
    (grad, x -> dx: each gradient to its window's first maximum, the first NaN
    if any, as np.argmax); 2: average forward; 3: average backward (grad -> dx,
    x unused).  Unused arrays are passed as any array of the dtype.  The
    per-image work is in the functions above, on raw pointers."""
    cdef Py_ssize_t n = dx.shape[0] if mode % 2 else x.shape[0]
    cdef Py_ssize_t h = dx.shape[1] if mode % 2 else x.shape[1]
    cdef Py_ssize_t w = dx.shape[2] if mode % 2 else x.shape[2]
    cdef Py_ssize_t c = dx.shape[3] if mode % 2 else x.shape[3]
    cdef Py_ssize_t oh = grad.shape[1] if mode % 2 else out.shape[1]
    cdef Py_ssize_t ow = grad.shape[2] if mode % 2 else out.shape[2]
    cdef Py_ssize_t img
    cdef bint add = sh < ph or sw < pw
    cdef bint exact = sh == ph and sw == pw and top == 0 and left == 0 and oh * ph == h and ow * pw == w
    cdef bint zero_first = not exact
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* outp = &out[0, 0, 0, 0]
    cdef const floating* gp = &grad[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* scratch
    cdef int nt = g_threads if n * h * w * c >= g_parallel_elems else 1
    with nogil, parallel(num_threads=nt):
        scratch = <floating*> malloc(2 * c * sizeof(floating))
        for img in prange(n, schedule="static"):
            if mode == 0:
                max_pool_image(xp + img * h * w * c, outp + img * oh * ow * c, h, w, c, oh, ow, ph, pw, sh, sw,
                               top, left)
            elif mode == 1:
                max_pool_backward_image(xp + img * h * w * c, gp + img * oh * ow * c, dxp + img * h * w * c,
                                        scratch, scratch + c, h, w, c, oh, ow, ph, pw, sh, sw, top, left,
                                        zero_first, add)
            elif mode == 2:
                avg_pool_image(xp + img * h * w * c, outp + img * oh * ow * c, gp, dxp, h, w, c, oh, ow, ph, pw,
                               sh, sw, top, left, False, False, False)
            else:
                avg_pool_image(xp, outp, gp + img * oh * ow * c, dxp + img * h * w * c, h, w, c, oh, ow, ph, pw,
                               sh, sw, top, left, True, zero_first, add)
        free(scratch)
