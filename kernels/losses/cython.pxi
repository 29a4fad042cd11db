# The losses family in Cython: row-wise softmax, fused softmax +
# cross-entropy, fused sigmoid + binary cross-entropy.

cdef void softmax_row(const floating *x, floating *y, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating mx = x[0]
    cdef floating s = 0
    for j in range(1, c):
        if x[j] > mx:
            mx = x[j]
    for j in range(c):
        y[j] = fexp(x[j] - mx)
        s = s + y[j]
    s = 1 / s
    for j in range(c):
        y[j] = y[j] * s


cdef floating xent_row(const floating *x, Py_ssize_t label, floating scale,
                       floating *g, Py_ssize_t c) noexcept nogil:
    """Loss of one row; writes (softmax - onehot) * scale into g."""
    cdef Py_ssize_t j
    cdef floating mx = x[0]
    cdef floating s = 0
    cdef floating log_sum, inv
    for j in range(1, c):                 # 1. the max, for stability
        if x[j] > mx:
            mx = x[j]
    for j in range(c):                    # 2. exp of shifted logits and their sum
        g[j] = fexp(x[j] - mx)
        s = s + g[j]
    log_sum = flog(s)
    inv = scale / s
    for j in range(c):                    # 3. gradient, scaled
        g[j] = g[j] * inv
    g[label] = g[label] - scale
    return log_sum - (x[label] - mx)



def softmax(const floating[:, ::1] logits, floating[:, ::1] out):
    """Row-wise softmax: exp(x - max) / sum(exp(x - max)).

    Subtracting the row max first makes every exponent <= 0, so nothing
    overflows even for logits of magnitude 1e4; the result is unchanged.
    """
    cdef Py_ssize_t i, n = logits.shape[0], c = logits.shape[1]
    cdef const floating *xp = &logits[0, 0]
    cdef floating *op = &out[0, 0]
    cdef int nt = threads_for(n * c)
    with nogil:
        if nt == 1:
            for i in range(n):
                softmax_row(xp + i * c, op + i * c, c)
        else:
            for i in prange(n, num_threads=nt, schedule="static"):
                softmax_row(xp + i * c, op + i * c, c)


def softmax_cross_entropy(const floating[:, ::1] logits, const long long[::1] labels,
                          double scale, floating[::1] loss_out, floating[:, ::1] grad_out):
    """Fused softmax + cross-entropy: per-row loss and its gradient.

    One pass per row (kept in cache): the max, exp(x - max) and its sum s,
    the loss log(s) - (x[label] - max), and the gradient
    (softmax - onehot) * scale.  Shifting by the max keeps it finite.
    """
    cdef Py_ssize_t i, n = logits.shape[0], c = logits.shape[1]
    cdef const floating *xp = &logits[0, 0]
    cdef const long long *lp = &labels[0]
    cdef floating *gp = &grad_out[0, 0]
    cdef floating *lossp = &loss_out[0]
    cdef floating sc = <floating> scale
    cdef int nt = threads_for(n * c)
    with nogil:
        if nt == 1:
            for i in range(n):
                lossp[i] = xent_row(xp + i * c, <Py_ssize_t> lp[i], sc, gp + i * c, c)
        else:
            for i in prange(n, num_threads=nt, schedule="static"):
                lossp[i] = xent_row(xp + i * c, <Py_ssize_t> lp[i], sc, gp + i * c, c)


def sigmoid_cross_entropy(const floating[::1] logits, const floating[::1] labels,
                          double scale, floating[::1] loss_out, floating[::1] grad_out):
    """Fused sigmoid + binary cross-entropy, element-wise, computed in double.

    With e = exp(-|x|), which never overflows: loss = max(x, 0) - x*z +
    log1p(e), and grad = (sigmoid(x) - z) * scale where sigmoid(x) is
    1/(1+e) for x >= 0 and e/(1+e) below (neither form cancels).
    """
    cdef Py_ssize_t i, n = logits.shape[0]
    cdef const floating *xp = &logits[0]
    cdef const floating *zp = &labels[0]
    cdef floating *lossp = &loss_out[0]
    cdef floating *gp = &grad_out[0]
    cdef double x, z, e, s
    cdef int nt = threads_for(n)
    for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
        x = xp[i]
        z = zp[i]
        e = exp(-fabs(x))
        lossp[i] = <floating> ((x if x > 0 else 0.0) - x * z + log1p(e))
        if x >= 0:
            s = 1.0 / (1.0 + e)
        else:
            s = e / (1.0 + e)
        gp[i] = <floating> ((s - z) * scale)
