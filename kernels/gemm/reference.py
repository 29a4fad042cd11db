"""The GEMM family's contract: ``matmul`` and ``dense_forward`` in NumPy, and
the micro-kernel written as plain loops.

``matmul`` and ``dense_forward`` are what the numpy backend runs (NumPy's
BLAS does the product) and what every compiled backend is tested against.
The fast micro-kernels are LLVM vector IR (kernels/gemm/numba_microkernels.py)
or vectorized C (kernels/gemm/cython.h), which makes them hard to read;
``reference_micro_kernel`` is what each of them computes, and the tests
compare them with it on the same packed panels.  kernels/gemm/DESIGN.md shows
where the micro-kernel sits in the GEMM.
"""

import numpy as np

from ..optim.reference import rmsprop_update


def matmul(a, b, transpose_a, transpose_b, out):
    """out = op(a) @ op(b), op = transpose when the flag is set."""
    a = a.T if transpose_a else a
    b = b.T if transpose_b else b
    return np.matmul(a, b, out=out)


def dense_forward(x, w, b, relu, out):
    """out = x @ w + b, then relu when ``relu``; ``b`` may be None."""
    np.matmul(x, w, out=out)
    if b is not None:
        out += b
    if relu:
        np.maximum(out, 0, out=out)
    return out



def reference_micro_kernel(nr, kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """The micro-kernel contract, as loops: what ``_micro_kernel`` and ``_narrow_kernel``
    (kernels/gemm/numba_microkernels.py) compute, and the C kernels of the Cython backend.

    The A panel is an MR x kc block, element (r, p) at A[pa + r + p*csa]: packed,
    csa = MR (the MR numbers of one step p are contiguous); a transposed matrix
    read in place has csa = its row length.  The B panel is a kc x NR block,
    element (p, j) at B[pb + p*rsb + j]: packed, rsb = NR; a matrix read in place
    (``_gemm_narrow_ta``) has rsb = its row length.  Row r < ``rows`` of the
    tile goes to C[pc + r*ldc + j], j < NR: the sum over p of A(r, p) * B(p, j),
    plus the old C when ``accumulate`` (an earlier K block), plus bias[jb + j] when
    ``use_bias``, then max(., 0) when ``relu``; rows past ``rows`` are not written.
    Plain Python, so it is slow and obviously right: tests/kernels/test_numba_backend.py
    and tests/kernels/test_cython_backend.py hold the fast kernels to it.
    """
    zero = C.dtype.type(0)
    for r in range(rows):
        for j in range(nr):
            s = zero
            for p in range(kc):
                s += A[pa + r + p * csa] * B[pb + p * rsb + j]
            o = pc + r * ldc + j
            if accumulate:
                s += C[o]
            if use_bias:
                s += bias[jb + j]
            if relu:
                s = max(s, zero)
            C[o] = s


def dense_forward_rows(x, rows, w, b, relu, out):
    """out = x[rows] @ w + b, then relu when ``relu``: ``dense_forward`` on the
    rows of ``x`` that ``rows`` (int64) names, in that order (a batch gathered
    from a shuffled data set)."""
    return dense_forward(x[rows], w, b, relu, out)


def weight_grad_rmsprop(x, rows, g, w, v, lr, rho, eps):
    """One RMSprop step of the weights ``w`` (mean squares ``v``, both updated in
    place) with the gradient dW = op(x)^T @ g, op(x) = x[rows] (or x when
    ``rows`` is None): a Dense layer's weight gradient and its optimizer update
    (kernels/optim/reference.py's ``rmsprop_update``) in one call."""
    grad = matmul(x if rows is None else x[rows], g, True, False, np.empty_like(w))
    rmsprop_update(w.reshape(-1), grad.reshape(-1), v.reshape(-1), lr, rho, eps)
