# The element-wise family in Cython: relu and its derivative, dropout (its
# loops are C: kernels/elementwise/cython.h), the bias gradient and the fused
# relu + bias gradient.  The flat kernels split their range over OpenMP
# threads (prange) above g_parallel_elems elements.

cdef extern from "elementwise/cython.h":
    void tg_dropout_forward_s(long n, const float *x, const float *u, float threshold,
                              float scale, float *out, float *mask) noexcept nogil
    void tg_dropout_forward_d(long n, const double *x, const double *u, double threshold,
                              double scale, double *out, double *mask) noexcept nogil
    void tg_dropout_backward_s(long n, const float *g, const float *mask, float *out) noexcept nogil
    void tg_dropout_backward_d(long n, const double *g, const double *mask, double *out) noexcept nogil


cdef void relu_range(Py_ssize_t lo, Py_ssize_t hi, const floating *x,
                     floating *out) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(lo, hi):
        v = x[i]
        out[i] = 0 if v <= 0 else v


def relu(const floating[::1] x, floating[::1] out):
    """out = max(x, 0), one pass over a flat array.

    NaN propagates as in NumPy's maximum (only values <= 0 become 0).
    """
    cdef Py_ssize_t c, n = x.shape[0]
    cdef const floating *xp = &x[0]
    cdef floating *op = &out[0]
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            relu_range(0, n, xp, op)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                relu_range(c * chunk, min(n, c * chunk + chunk), xp, op)


cdef void relu_backward_range(Py_ssize_t lo, Py_ssize_t hi, const floating *g,
                              const floating *x, floating *out) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(lo, hi):
        v = g[i]
        out[i] = v if x[i] > 0 else 0


def relu_backward(const floating[::1] grad_out, const floating[::1] x, floating[::1] out):
    """out = grad_out where x > 0, else 0: the chain rule through relu.

    relu passes its input through where it was positive, so the gradient
    flows back unchanged there and is blocked elsewhere.
    """
    cdef Py_ssize_t c, n = x.shape[0]
    cdef const floating *gp = &grad_out[0]
    cdef const floating *xp = &x[0]
    cdef floating *op = &out[0]
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            relu_backward_range(0, n, gp, xp, op)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                relu_backward_range(c * chunk, min(n, c * chunk + chunk), gp, xp, op)


def bias_grad(const floating[:, ::1] grad_out, floating[::1] out):
    """out[j] = sum_i grad_out[i, j]: the gradient of a broadcast bias.

    Eight rows at a time are added pairwise in their own dtype, and each
    partial sum goes into a row of float64 accumulators: every read is
    contiguous, the loops vectorise, and there is one float64 add per eight
    rows instead of one per row.
    """
    cdef Py_ssize_t i, j, n = grad_out.shape[0], m = grad_out.shape[1]
    cdef Py_ssize_t n8 = n - n % 8
    cdef const floating *g = &grad_out[0, 0]
    cdef const floating *r
    cdef double *acc = <double *> malloc(m * sizeof(double))
    if acc == NULL:
        raise MemoryError()
    with nogil:
        for j in range(m):
            acc[j] = 0
        for i in range(0, n8, 8):
            r = g + i * m
            for j in range(m):
                acc[j] += (((r[j] + r[m + j]) + (r[2 * m + j] + r[3 * m + j]))
                           + ((r[4 * m + j] + r[5 * m + j]) + (r[6 * m + j] + r[7 * m + j])))
        for i in range(n8, n):
            r = g + i * m
            for j in range(m):
                acc[j] += r[j]
        for j in range(m):
            out[j] = <floating> acc[j]
    free(acc)


cdef void dropout_forward_range(Py_ssize_t lo, Py_ssize_t hi, const floating *x,
                                const floating *u, floating threshold, floating scale,
                                floating *out, floating *mask) noexcept nogil:
    if floating is float:                  # the loop is C: selects, not branches
        tg_dropout_forward_s(hi - lo, x + lo, u + lo, threshold, scale, out + lo, mask + lo)
    else:
        tg_dropout_forward_d(hi - lo, x + lo, u + lo, threshold, scale, out + lo, mask + lo)


def dropout_forward(const floating[::1] x, const floating[::1] uniform, double rate,
                    double scale, floating[::1] out, floating[::1] mask):
    """Inverted dropout, one fused pass over a flat array.

    Keeps element i where uniform[i] >= rate and scales it by 1/(1-rate) (so
    its expected value is unchanged), zeroes it otherwise, and records the
    factor used in ``mask``.  rate and scale are rounded to x's dtype first,
    so the decisions and products match the NumPy reference bit for bit.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef const floating *xp = &x[0]
    cdef const floating *up = &uniform[0]
    cdef floating *op = &out[0]
    cdef floating *mp = &mask[0]
    cdef floating threshold = <floating> rate, sc = <floating> scale
    cdef int nt = threads_for(n)
    cdef Py_ssize_t c, chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            dropout_forward_range(0, n, xp, up, threshold, sc, op, mp)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                dropout_forward_range(c * chunk, min(n, c * chunk + chunk), xp, up,
                                      threshold, sc, op, mp)


cdef void dropout_backward_range(Py_ssize_t lo, Py_ssize_t hi, const floating *g,
                                 const floating *mask, floating *out) noexcept nogil:
    if floating is float:                  # the loop is C: selects, not branches
        tg_dropout_backward_s(hi - lo, g + lo, mask + lo, out + lo)
    else:
        tg_dropout_backward_d(hi - lo, g + lo, mask + lo, out + lo)


def dropout_backward(const floating[::1] grad_out, const floating[::1] mask, floating[::1] out):
    """out = grad_out * mask where mask != 0, else 0: the gradient reaches
    only the kept units, scaled as they were."""
    cdef Py_ssize_t c, n = mask.shape[0]
    cdef const floating *gp = &grad_out[0]
    cdef const floating *mp = &mask[0]
    cdef floating *op = &out[0]
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            dropout_backward_range(0, n, gp, mp, op)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                dropout_backward_range(c * chunk, min(n, c * chunk + chunk), gp, mp, op)


def relu_bias_grad(const floating[:, ::1] grad_out, const floating[:, ::1] x,
                   floating[:, ::1] out, floating[::1] bias_out):
    """relu's backward and a Dense layer's bias gradient in one pass.

    out = grad_out where x > 0, else 0 (relu_backward), and bias_out[j] =
    sum_i out[i, j] (bias_grad of that): each block of eight rows is masked
    into out and summed while it is still in cache, the way bias_grad sums,
    so bias_out is bias_grad(out) bit for bit, with one pass instead of two.
    """
    cdef Py_ssize_t i, j, k, n = grad_out.shape[0], m = grad_out.shape[1]
    cdef Py_ssize_t n8 = n - n % 8
    cdef const floating *g = &grad_out[0, 0]
    cdef const floating *xp = &x[0, 0]
    cdef floating *o = &out[0, 0]
    cdef floating *r
    cdef double *acc = <double *> malloc(m * sizeof(double))
    if acc == NULL:
        raise MemoryError()
    with nogil:
        for j in range(m):
            acc[j] = 0
        for i in range(0, n8, 8):
            for k in range(i * m, (i + 8) * m):
                o[k] = g[k] if xp[k] > 0 else 0
            r = o + i * m
            for j in range(m):
                acc[j] += (((r[j] + r[m + j]) + (r[2 * m + j] + r[3 * m + j]))
                           + ((r[4 * m + j] + r[5 * m + j]) + (r[6 * m + j] + r[7 * m + j])))
        for i in range(n8, n):
            r = o + i * m
            for j in range(m):
                r[j] = g[i * m + j] if xp[i * m + j] > 0 else 0
                acc[j] += r[j]
        for j in range(m):
            bias_out[j] = <floating> acc[j]
    free(acc)
