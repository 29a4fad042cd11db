"""The fused kernels of a training step, on every CPU backend.

``weight_grad_rmsprop`` (the weight gradient X^T @ G with RMSprop's update
in the GEMM's epilogue), ``dense_forward_rows`` (the batch gather fused
into the packing of A) and ``bias_grad_rmsprop`` (a bias gradient and its
update in one call) are each held to two things: the formula written out in
NumPy here in float64 (within the dtype's rounding), and the unfused kernels
of the same backend, bit for bit (the fused code adds the same numbers in the
same order).  The shapes are awkward on purpose: 1, primes, non-multiples of
the 12 x 32 tile, N <= 16 (the narrow paths), a batch deeper than one K
block (384), more rows than one row block (144), and the MLP's own.
"""

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels.gemm.numba import KC

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]
LR, RHO, EPS = 1e-3, 0.9, 1e-7

#: (batch, fan_in, fan_out): dW is fan_in x fan_out with depth batch
WEIGHT_SHAPES = [(1, 1, 1), (1, 13, 40), (7, 29, 33), (13, 97, 70), (31, 12, 64), (128, 8, 17),
                 (128, 37, 10), (128, 784, 512), (5, 300, 100), (400, 50, 40), (127, 1000, 130),
                 (95, 25, 65), (97, 13, 97)]
#: (batch, rows of x, fan_in, fan_out)
DENSE_SHAPES = [(1, 1, 1, 1), (1, 5, 13, 40), (7, 11, 29, 33), (13, 50, 97, 70), (128, 300, 784, 512),
                (128, 200, 37, 10), (150, 160, 20, 64), (300, 301, 1000, 130), (2, 3, 1, 17)]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def _rmsprop64(w, v, grad):
    """RMSprop (Keras) in float64: the independent reference."""
    v = RHO * v.astype(np.float64) + (1 - RHO) * grad ** 2
    return w.astype(np.float64) - LR * grad / np.sqrt(v + EPS), v


def _tolerance(dtype):
    return (2e-5, 1e-7) if dtype == np.float32 else (1e-11, 1e-15)   # (rtol, atol)


def _weight_problem(dtype, batch, fan_in, fan_out, seed, indexed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch + 9 if indexed else batch, fan_in)).astype(dtype)
    rows = rng.permutation(len(x))[:batch] if indexed else None
    if indexed and batch > 2:
        rows[1] = rows[0]   # a row taken twice
    g = rng.standard_normal((batch, fan_out)).astype(dtype)
    w = rng.standard_normal((fan_in, fan_out)).astype(dtype)
    v = rng.uniform(0.5, 2.0, (fan_in, fan_out)).astype(dtype)   # mean squares of earlier steps
    return x, rows, g, w, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", WEIGHT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("indexed", [False, True], ids=["plain", "rows"])
def test_weight_grad_rmsprop_matches_numpy_and_the_unfused_kernels(backend, dtype, shape, indexed):
    x, rows, g, w, v = _weight_problem(dtype, *shape, seed=sum(shape), indexed=indexed)
    xb = x if rows is None else x[rows]
    w_ref, v_ref = _rmsprop64(w, v, xb.astype(np.float64).T @ g.astype(np.float64))
    w_unfused, v_unfused = w.copy(), v.copy()
    dw = K.matmul(xb, g, transpose_a=True, backend=backend)
    K.rmsprop_update(w_unfused, dw, v_unfused, learning_rate=LR, rho=RHO, epsilon=EPS, backend=backend)

    out = K.weight_grad_rmsprop(x, g, w, v, rows=rows, learning_rate=LR, rho=RHO, epsilon=EPS, backend=backend)

    assert out is w
    rtol, atol = _tolerance(dtype)
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(v, v_unfused)   # the same sums, the same order: the same bits
    np.testing.assert_array_equal(w, w_unfused)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_grad_rmsprop_over_several_steps_and_an_empty_batch(backend, dtype):
    x, rows, g, w, v = _weight_problem(dtype, 128, 61, 96, seed=3, indexed=True)
    v[:] = 0   # the first steps of a run: v starts at zero
    w_unfused, v_unfused = w.copy(), v.copy()
    for step in range(3):
        g_step = g * (step + 1)
        K.weight_grad_rmsprop(x, g_step, w, v, rows=rows, backend=backend)
        K.rmsprop_update(w_unfused, K.matmul(x[rows], g_step, transpose_a=True, backend=backend), v_unfused,
                         backend=backend)
    np.testing.assert_array_equal(w, w_unfused)
    np.testing.assert_array_equal(v, v_unfused)
    before = w.copy()
    K.weight_grad_rmsprop(x, g[:0], w, v, rows=rows[:0], backend=backend)   # dW = 0: only v decays
    np.testing.assert_array_equal(w, before)
    np.testing.assert_allclose(v, RHO * v_unfused, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("relu", [False, True])
def test_dense_forward_rows_matches_numpy_and_dense_forward_on_the_gathered_batch(backend, dtype, shape, relu):
    batch, n_rows, fan_in, fan_out = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n_rows, fan_in)).astype(dtype)
    rows = rng.integers(0, n_rows, batch)
    w = rng.standard_normal((fan_in, fan_out)).astype(dtype)
    b = rng.standard_normal(fan_out).astype(dtype)
    act = "relu" if relu else None
    ref = x[rows].astype(np.float64) @ w.astype(np.float64) + b
    if relu:
        ref = np.maximum(ref, 0)

    got = K.dense_forward_rows(x, rows, w, b, act, backend=backend)
    unfused = K.dense_forward(x[rows], w, b, act, backend=backend)

    rtol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.sqrt(fan_in))
    np.testing.assert_array_equal(got, unfused)
    out = np.empty_like(got)
    assert K.dense_forward_rows(x, rows, w, None, act, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, K.dense_forward(x[rows], w, None, act, backend=backend))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (128, 512), (128, 10), (13, 97), (200, 33)])
@pytest.mark.parametrize("relu", [False, True])
def test_bias_grad_rmsprop_matches_numpy_and_the_unfused_kernels(backend, dtype, shape, relu):
    rng = np.random.default_rng(sum(shape))
    grad_out = rng.standard_normal(shape).astype(dtype)
    h = rng.standard_normal(shape).astype(dtype) if relu else None
    b = rng.standard_normal(shape[1]).astype(dtype)
    v = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    masked = np.where(h > 0, grad_out, 0) if relu else grad_out
    b_ref, v_ref = _rmsprop64(b, v, masked.astype(np.float64).sum(axis=0))
    b_unfused, v_unfused = b.copy(), v.copy()
    if relu:
        g_unfused, db = K.relu_bias_grad(grad_out, h, backend=backend)
    else:
        db = K.bias_grad(grad_out, backend=backend)
    K.rmsprop_update(b_unfused, db, v_unfused, learning_rate=LR, rho=RHO, epsilon=EPS, backend=backend)

    out = K.bias_grad_rmsprop(grad_out, b, v, relu_input=h, learning_rate=LR, rho=RHO, epsilon=EPS,
                              backend=backend)

    rtol, atol = _tolerance(dtype)
    np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(b, b_unfused)
    np.testing.assert_array_equal(v, v_unfused)
    if relu:
        np.testing.assert_array_equal(out, g_unfused)
        np.testing.assert_array_equal(out, masked)
    else:
        assert out is b


def test_bad_rows_and_shapes_are_refused_before_any_kernel_runs(backend):
    x, rows, g, w, v = _weight_problem(np.float32, 8, 5, 40, seed=0, indexed=True)
    w0, v0 = w.copy(), v.copy()
    bad_rows = rows.copy()
    bad_rows[3] = len(x)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 17\)"):
        K.weight_grad_rmsprop(x, g, w, v, rows=bad_rows, backend=backend)
    with pytest.raises(ValueError, match="rows must lie"):
        K.dense_forward_rows(x, -rows - 1, w, backend=backend)
    with pytest.raises(ValueError, match="rows must lie"):      # negative once read as int64
        K.dense_forward_rows(x, rows.astype(np.uint64) + np.uint64(2**63), w, backend=backend)
    with pytest.raises(TypeError, match="rows must be a 1-D integer array"):
        K.dense_forward_rows(x, rows.astype(np.float32), w, backend=backend)
    with pytest.raises(ValueError, match="w has shape"):
        K.weight_grad_rmsprop(x, g[:, :39], w, v, rows=rows, backend=backend)
    with pytest.raises(ValueError, match="share memory"):
        K.weight_grad_rmsprop(x, g, w, w, rows=rows, backend=backend)
    with pytest.raises(ValueError, match="b has shape"):
        K.bias_grad_rmsprop(g, w[0, :39].copy(), v[0, :39].copy(), backend=backend)
    np.testing.assert_array_equal(w, w0)   # nothing was updated
    np.testing.assert_array_equal(v, v0)


def test_a_gradient_that_aliases_the_weights_is_read_before_they_change(backend):
    """x is the weights themselves (a square layer fed its own weights): the
    kernel must compute dW from the weights as they were before the update."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((40, 40)).astype(np.float32)
    v = np.ones_like(w)
    g = rng.standard_normal((40, 40)).astype(np.float32)
    w_ref, v_ref = w.copy(), v.copy()
    K.rmsprop_update(w_ref, K.matmul(w, g, transpose_a=True, backend=backend), v_ref, backend=backend)
    K.weight_grad_rmsprop(w, g, w, v, backend=backend)
    np.testing.assert_array_equal(w, w_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [2, 3])
def test_the_fused_numba_kernels_split_over_threads_give_the_one_thread_bits(threads, dtype):
    """Threads split the column panels (each thread packs its own A): the numbers
    must not depend on how many there are (an odd split leaves a thread a narrower share)."""
    x, rows, g, w, v = _weight_problem(dtype, 128, 300, 1000, seed=11, indexed=True)
    b = np.random.default_rng(12).standard_normal(1000).astype(dtype)
    results = {}
    try:
        for count in (1, threads):
            K.set_num_threads(count)
            w_n, v_n = w.copy(), v.copy()
            K.weight_grad_rmsprop(x, g, w_n, v_n, rows=rows, backend="numba")
            h = K.dense_forward_rows(x, rows, w_n, b, "relu", backend="numba")
            results[count] = (w_n, v_n, h)
    finally:
        K.set_num_threads("auto")
    for one, many in zip(results[1], results[threads]):
        np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(KC, 13, 33), (KC, 61, 97), (KC + 1, 29, 40), (KC - 1, 131, 67), (131, 257, 67),
                                   (2, 1, 17), (1, 7, 1)], ids=lambda s: "x".join(map(str, s)))
def test_weight_grad_rmsprop_at_the_deepest_fused_batch_on_one_and_two_threads(dtype, threads, shape):
    """A batch of KC rows is the deepest one the fused kernel takes (its k loop
    then prefetches B's rows past the end of the last panel, which must not
    matter); KC + 1 goes to the unfused kernels.  On one thread and on two
    (the shapes with 2*k*m*n >= 4e6 are split), against NumPy and, bit for
    bit, the unfused kernels."""
    x, rows, g, w, v = _weight_problem(dtype, *shape, seed=sum(shape) + threads, indexed=True)
    w_ref, v_ref = _rmsprop64(w, v, x[rows].astype(np.float64).T @ g.astype(np.float64))
    w_unfused, v_unfused = w.copy(), v.copy()
    K.rmsprop_update(w_unfused, K.matmul(x[rows], g, transpose_a=True, backend="numba"), v_unfused,
                     learning_rate=LR, rho=RHO, epsilon=EPS, backend="numba")
    K.set_num_threads(threads)
    try:
        K.weight_grad_rmsprop(x, g, w, v, rows=rows, learning_rate=LR, rho=RHO, epsilon=EPS, backend="numba")
    finally:
        K.set_num_threads("auto")
    rtol, atol = _tolerance(dtype)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(w, w_unfused)
    np.testing.assert_array_equal(v, v_unfused)
