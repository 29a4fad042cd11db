# The optimizer family in Cython: SGD, RMSprop and Adam.  The loops are C
# (kernels/optim/cython.h, stamped out per vector width and chosen with the
# GEMM's kernels); these wrappers split the parameters into one chunk per
# thread, or call the loop directly on one thread.

cdef extern from "optim/cython.h":
    void tg_sgd_s(long n, float *w, const float *g, float *v, float lr, float mu,
                  int nesterov) noexcept nogil
    void tg_sgd_d(long n, double *w, const double *g, double *v, double lr, double mu,
                  int nesterov) noexcept nogil
    void tg_rmsprop_s(long n, float *w, const float *g, float *v, float lr, float rho,
                      float one_minus_rho, float eps) noexcept nogil
    void tg_rmsprop_d(long n, double *w, const double *g, double *v, double lr, double rho,
                      double one_minus_rho, double eps) noexcept nogil
    void tg_adam_s(long n, float *w, const float *g, float *m, float *v, float alpha,
                   float one_minus_beta1, float one_minus_beta2, float eps) noexcept nogil
    void tg_adam_d(long n, double *w, const double *g, double *m, double *v, double alpha,
                   double one_minus_beta1, double one_minus_beta2, double eps) noexcept nogil
    void tg_optim_select(int wide) noexcept nogil


tg_optim_select(1)


def _select_optim(bint wide):
    tg_optim_select(wide)


_selectors.append(_select_optim)


cdef void sgd_range(Py_ssize_t lo, Py_ssize_t hi, floating *w, const floating *g,
                    floating *v, floating lr, floating mu, bint nesterov) noexcept nogil:
    if floating is float:
        tg_sgd_s(hi - lo, w + lo, g + lo, v + lo if v != NULL else NULL, lr, mu, nesterov)
    else:
        tg_sgd_d(hi - lo, w + lo, g + lo, v + lo if v != NULL else NULL, lr, mu, nesterov)


cdef void rmsprop_range(Py_ssize_t lo, Py_ssize_t hi, floating *w, const floating *g,
                        floating *v, floating lr, floating rho, floating one_minus_rho,
                        floating eps) noexcept nogil:
    if floating is float:
        tg_rmsprop_s(hi - lo, w + lo, g + lo, v + lo, lr, rho, one_minus_rho, eps)
    else:
        tg_rmsprop_d(hi - lo, w + lo, g + lo, v + lo, lr, rho, one_minus_rho, eps)


cdef void adam_range(Py_ssize_t lo, Py_ssize_t hi, floating *w, const floating *g,
                     floating *m, floating *v, floating alpha, floating c1, floating c2,
                     floating eps) noexcept nogil:
    if floating is float:
        tg_adam_s(hi - lo, w + lo, g + lo, m + lo, v + lo, alpha, c1, c2, eps)
    else:
        tg_adam_d(hi - lo, w + lo, g + lo, m + lo, v + lo, alpha, c1, c2, eps)


def sgd_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
               double lr, double momentum, bint nesterov):
    """One SGD step in place, one pass over the parameters.

    Without momentum: w -= lr*g.  With momentum (Keras): v = momentum*v - lr*g,
    then w += v, or w += momentum*v - lr*g for Nesterov's look-ahead.
    """
    cdef Py_ssize_t c, n = param.shape[0]
    cdef floating *v = NULL
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    if velocity is not None:
        v = &velocity[0]
    with nogil:
        if nt == 1:
            sgd_range(0, n, &param[0], &grad[0], v, <floating> lr, <floating> momentum, nesterov)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                sgd_range(c * chunk, min(n, c * chunk + chunk), &param[0], &grad[0], v,
                          <floating> lr, <floating> momentum, nesterov)


def rmsprop_update(floating[::1] param, const floating[::1] grad, floating[::1] v,
                   double lr, double rho, double eps):
    """One RMSprop step in place: v = rho*v + (1-rho)*g^2; w -= lr*g/sqrt(v+eps).

    Dividing by the running root-mean-square of the gradient gives each
    weight its own step size; one fused pass reads g, v, w once.
    """
    cdef Py_ssize_t c, n = param.shape[0]
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            rmsprop_range(0, n, &param[0], &grad[0], &v[0], <floating> lr, <floating> rho,
                          <floating> (1.0 - rho), <floating> eps)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                rmsprop_range(c * chunk, min(n, c * chunk + chunk), &param[0], &grad[0], &v[0],
                              <floating> lr, <floating> rho, <floating> (1.0 - rho), <floating> eps)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m,
                floating[::1] v, double lr, double beta1, double beta2, double eps,
                long long step):
    """One Adam step in place (Keras semantics), one pass over the parameters.

    m and v are running means of g and g^2; the bias correction for their
    zero start is folded into the step size alpha = lr*sqrt(1-b2^t)/(1-b1^t),
    then m += (g - m)*(1-b1), v += (g^2 - v)*(1-b2), w -= alpha*m/(sqrt(v) + eps).
    """
    cdef Py_ssize_t c, n = param.shape[0]
    cdef floating alpha = <floating> (lr * sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step))
    cdef int nt = threads_for(n)
    cdef Py_ssize_t chunk = chunk_for(n, nt)
    with nogil:
        if nt == 1:
            adam_range(0, n, &param[0], &grad[0], &m[0], &v[0], alpha, <floating> (1.0 - beta1),
                       <floating> (1.0 - beta2), <floating> eps)
        else:
            for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule="static"):
                adam_range(c * chunk, min(n, c * chunk + chunk), &param[0], &grad[0], &m[0], &v[0],
                           alpha, <floating> (1.0 - beta1), <floating> (1.0 - beta2), <floating> eps)


def bias_grad_rmsprop(grad_out, x, out, b, v, double lr, double rho, double eps):
    """A Dense layer's bias gradient (``bias_grad``, or ``relu_bias_grad`` when x
    is given) into a new db, then ``rmsprop_update`` on b: the two kernels in
    sequence (the Numba backend runs them as one call)."""
    db = b.copy()
    if x is None:
        bias_grad(grad_out, db)
    else:
        relu_bias_grad(grad_out, x, out, db)
    rmsprop_update(b, db, v, lr, rho, eps)
