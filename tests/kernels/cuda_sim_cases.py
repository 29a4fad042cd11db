"""The cuda backend under Numba's CUDA simulator, against NumPy.

Not collected by a plain ``pytest`` (the name does not start with test_):
``tests/kernels/test_cuda_sim.py`` runs this file in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``, which must be set before numba is first
imported.  To run it by hand::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/kernels/cuda_sim_cases.py

The simulator runs every CUDA thread as a Python thread, so the shapes are
tiny and the GEMM uses small tiles (8x8 blocks of 2x2 micro-tiles, BK=4)
to cross many tile edges; each production tile configuration is run once
on a shape that crosses its edge too.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

numba = pytest.importorskip("numba")
if not numba.config.ENABLE_CUDASIM:
    pytest.skip("numba was imported before NUMBA_ENABLE_CUDASIM=1 was set", allow_module_level=True)

from numba.cuda.simulator.cudadrv import devicearray as _sim_devicearray  # noqa: E402

import tapegrad.kernels as K  # noqa: E402
from tapegrad.kernels.gemm import cuda as cuda_gemm  # noqa: E402

# A real DeviceNDArray has no arithmetic or comparison operators; the
# simulator's stand-in does (it forwards them to NumPy), which hid a
# ``data += 1`` on device memory that failed on the first real GPU.  Take them
# away so that code written against the simulator runs on a GPU too.
for _name in ("__add__", "__sub__", "__mul__", "__floordiv__", "__truediv__", "__mod__", "__pow__",
              "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
              "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__iadd__", "__isub__", "__imul__"):
    if _name in vars(_sim_devicearray.FakeCUDAArray):
        delattr(_sim_devicearray.FakeCUDAArray, _name)
from tapegrad.kernels.cuda_backend import CudaBackend  # noqa: E402

SMALL_TILES = cuda_gemm.Tiles(8, 8, 4, 2, 2)
F32 = np.float32


@pytest.fixture
def be():
    """The registered backend, with simulator-sized launches for the test."""
    backend = K.get_backend("cuda")
    saved = backend.gemm_tiles, backend.threads, backend.max_blocks
    backend.gemm_tiles, backend.threads, backend.max_blocks = SMALL_TILES, 32, 2
    yield backend
    backend.gemm_tiles, backend.threads, backend.max_blocks = saved


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(F32)


def host(x):
    return K.to_numpy(x)


def close(ours, ref, rtol=1e-5, atol=1e-5):
    ours = host(ours)
    assert ours.shape == np.shape(ref)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ plumbing
def test_available_and_registered():
    assert "cuda" in K.available_backends()
    backend = K.get_backend("cuda")
    assert isinstance(backend, CudaBackend) and not backend.host
    assert backend.dtypes == (np.dtype(F32),)


def test_round_trip_and_helpers(be):
    x = rand(3, 4)
    d = be.asarray(x)
    assert be.is_array(d) and not be.is_array(x)
    assert be.asarray(d) is d  # device arrays pass through
    np.testing.assert_array_equal(be.to_numpy(d), x)
    np.testing.assert_array_equal(K.to_numpy(d), x)
    assert be.is_c_contiguous(d) and be.is_writeable(d)
    assert be.is_f_contiguous(d.T) and not be.is_c_contiguous(d.T)
    np.testing.assert_array_equal(host(be.ascontiguous(d.T)), x.T)
    np.testing.assert_array_equal(host(be.ascontiguous(d[:, ::2])), x[:, ::2])
    np.testing.assert_array_equal(host(be.ascontiguous(d[1, ::3])), x[1, ::3])
    np.testing.assert_array_equal(host(be.zeros((5, 7), F32)), np.zeros((5, 7), F32))
    out = be.empty((2, 3), F32)
    be.write(out, np.arange(3))  # broadcast, cast
    np.testing.assert_array_equal(host(out), np.tile(np.arange(3, dtype=F32), (2, 1)))
    assert be.asarray(np.arange(3)).dtype == np.int64
    scalar = be.asarray(2.5, dtype=F32)  # 0-d stays 0-d
    assert scalar.shape == () and host(scalar) == 2.5
    be.write(scalar, 1.5)
    assert host(scalar) == 1.5
    assert be.xp.sum(d).shape == () and np.isclose(host(be.xp.sum(d)), x.sum())
    assert be.asarray(x, dtype=np.float64).dtype == np.float64


def test_float64_is_refused(be):
    with pytest.raises(TypeError, match="cuda backend takes float32"):
        K.relu(np.ones(3), backend="cuda")


# ------------------------------------------------------------------ GEMM
GEMM_SHAPES = [(1, 1, 1), (5, 17, 33), (17, 5, 9), (33, 1, 17), (9, 33, 1)]


def reference(a, b, ta, tb):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a.T if ta else a) @ (b.T if tb else b)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m,k,n", GEMM_SHAPES)
def test_matmul_small_tiles(be, m, k, n, ta, tb):
    a = rand(*((k, m) if ta else (m, k)), seed=1)
    b = rand(*((n, k) if tb else (k, n)), seed=2)
    c = K.matmul(be.asarray(a), be.asarray(b), transpose_a=ta, transpose_b=tb, backend="cuda")
    assert be.is_array(c)
    close(c, reference(a, b, ta, tb), rtol=1e-5, atol=1e-5 * np.sqrt(k))


@pytest.mark.parametrize("tiles", cuda_gemm.PRODUCTION_TILES, ids=lambda t: f"{t.BM}x{t.BN}")
def test_production_tiles_cross_an_edge(be, tiles):
    be.gemm_tiles = tiles
    m, k, n = tiles.BM + 2, 9, 5  # two row blocks, ragged K slab, narrow N
    x, w, bias = rand(m, k, seed=3), rand(k, n, seed=4), rand(n, seed=5)
    out = K.dense_forward(x, w, bias, "relu", backend="cuda")
    close(out, np.maximum(reference(x, w, False, False) + bias, 0))


def test_production_tiles_transposed(be):
    be.gemm_tiles = cuda_gemm.PRODUCTION_TILES[0]
    a, b = rand(9, 130, seed=6), rand(5, 9, seed=7)  # op(a) 130x9, op(b) 9x5
    close(K.matmul(a, b, transpose_a=True, transpose_b=True, backend="cuda"),
          reference(a, b, True, True))


def test_choose_tiles():
    big, mid, small = cuda_gemm.PRODUCTION_TILES
    assert big not in cuda_gemm.AUTO_TILES   # half of 64x64's speed on an H200 at n >= 1024
    assert cuda_gemm.choose_tiles(4096, 4096, 132) == mid
    assert cuda_gemm.choose_tiles(1024, 1024, 132) == mid
    assert cuda_gemm.choose_tiles(256, 256, 132) == small    # 16 blocks of 64x64 leave SMs idle
    assert cuda_gemm.choose_tiles(128, 10, 132) == small
    for t in cuda_gemm.PRODUCTION_TILES:
        cuda_gemm.check_tiles(t)
        assert cuda_gemm.threads_per_block(t) == 256
    with pytest.raises(ValueError):
        cuda_gemm.check_tiles(cuda_gemm.Tiles(8, 8, 3, 2, 2))


def test_matmul_layouts_and_out(be):
    a, b = rand(6, 5, seed=8), rand(5, 7, seed=9)
    da, db = be.asarray(a), be.asarray(b)
    # F-ordered device operands become transpose flags (no copy)
    close(K.matmul(be.asarray(a.T.copy()).T, db, backend="cuda"), reference(a, b, False, False))
    out = be.empty((6, 7), F32)
    assert K.matmul(da, db, out=out, backend="cuda") is out
    close(out, reference(a, b, False, False))
    with pytest.raises(ValueError, match="out has shape"):
        K.matmul(da, db, out=be.empty((7, 6), F32), backend="cuda")
    # K == 0 is answered by the API through be.write
    close(K.matmul(np.ones((3, 0), F32), np.ones((0, 4), F32), backend="cuda"), np.zeros((3, 4)))


def test_dense_forward_variants(be):
    x, w, bias = rand(7, 11, seed=10), rand(11, 9, seed=11), rand(9, seed=12)
    lin = reference(x, w, False, False)
    close(K.dense_forward(x, w, bias, "relu", backend="cuda"), np.maximum(lin + bias, 0))
    close(K.dense_forward(x, w, bias, backend="cuda"), lin + bias)
    close(K.dense_forward(be.asarray(x), be.asarray(w), None, "relu", backend="cuda"),
          np.maximum(lin, 0))
    close(K.dense_forward(np.ones((3, 0), F32), np.ones((0, 9), F32), bias, "relu",
                          backend="cuda"), np.tile(np.maximum(bias, 0), (3, 1)))


# ------------------------------------------------------------------ element-wise
def test_relu_and_backward(be):
    x = rand(10, 21, seed=13)  # 210 elements over 2 blocks of 32 threads: grid-stride
    x[0, 0] = np.nan
    close(K.relu(be.asarray(x), backend="cuda"), np.maximum(x, 0))
    g = rand(10, 21, seed=14)
    close(K.relu_backward(g, x, backend="cuda"), np.where(x > 0, g, 0))


@pytest.mark.parametrize("shape", [(1, 1), (5, 40), (9, 3)])
def test_softmax(be, shape):
    x = rand(*shape, seed=15, scale=3)
    e = np.exp(x - x.max(1, keepdims=True))
    close(K.softmax(x, backend="cuda"), e / e.sum(1, keepdims=True), atol=1e-6)


def _xent_reference(x, labels):
    x = x.astype(np.float64)
    s = x - x.max(1, keepdims=True)
    lse = np.log(np.exp(s).sum(1))
    p = np.exp(s - lse[:, None])
    p[np.arange(len(x)), labels] -= 1
    return lse - s[np.arange(len(x)), labels], p


@pytest.mark.parametrize("shape,scale", [((6, 10), 1.0), ((5, 37), 1e4), ((1, 1), 1.0)])
def test_softmax_cross_entropy(be, shape, scale):
    x = rand(*shape, seed=16, scale=scale)
    labels = np.random.default_rng(17).integers(0, shape[1], shape[0])
    loss_ref, grad_ref = _xent_reference(x, labels)
    losses, grad = K.softmax_cross_entropy(be.asarray(x), be.asarray(labels), reduction="none",
                                           backend="cuda")
    assert np.all(np.isfinite(host(losses)))
    close(losses, loss_ref, rtol=1e-5, atol=1e-4 * max(1.0, scale / 100))
    close(grad, grad_ref, atol=1e-6)
    mean, grad = K.softmax_cross_entropy(x, labels.astype(F32), backend="cuda")  # float labels
    assert isinstance(mean, float)
    np.testing.assert_allclose(mean, loss_ref.mean(), rtol=1e-5, atol=1e-4 * max(1.0, scale / 100))
    close(grad, grad_ref / shape[0], atol=1e-6)


def test_softmax_cross_entropy_checks_device_labels(be):
    bad = be.asarray(np.array([0, 3]))
    with pytest.raises(ValueError, match="out of range"):
        K.softmax_cross_entropy(rand(2, 3), bad, backend="cuda")


@pytest.mark.parametrize("shape", [(1, 1), (19, 37), (3, 70)])
def test_bias_grad(be, shape):
    g = rand(*shape, seed=18)
    close(K.bias_grad(be.asarray(g), backend="cuda"), g.sum(0), atol=1e-5)
    close(K.bias_grad(np.ones((0, 4), F32), backend="cuda"), np.zeros(4))


@pytest.mark.parametrize("shape", [(1, 1), (19, 37), (9, 70)])
def test_relu_bias_grad(be, shape):
    """The cuda backend composes relu_backward and bias_grad (the Backend default)."""
    g, x = rand(*shape, seed=19), rand(*shape, seed=20)
    masked, db = K.relu_bias_grad(be.asarray(g), be.asarray(x), backend="cuda")
    ref = np.where(x > 0, g, 0)
    close(masked, ref, atol=0)
    close(db, ref.sum(0), atol=1e-5)


# ------------------------------------------------------------------ optimizers
def test_rmsprop_foreach(be):
    """The list form: each weight updated as the one-weight call updates it on the host."""
    weights = [_states(50 + 10 * i)[:3] for i in range(3)]
    weights[1] = [a[:1, :5].copy() for a in weights[1]]          # another shape
    device = [[be.asarray(w), be.asarray(g), be.asarray(np.abs(v))] for w, g, v in weights]
    K.rmsprop_update_foreach([d[0] for d in device], [d[1] for d in device], [d[2] for d in device],
                             learning_rate=0.01, rho=0.9, backend="cuda")
    for (w, g, v), (dw, _, dv) in zip(weights, device):
        v = np.abs(v)
        K.rmsprop_update(w, g, v, learning_rate=0.01, rho=0.9, backend="numpy")
        close(dw, w, atol=1e-6)
        close(dv, v, atol=1e-6)


def _states(seed):
    return [rand(7, 9, seed=seed + i) for i in range(4)]


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(be, momentum, nesterov):
    w, g, v, _ = _states(20)
    dw, dv = be.asarray(w), be.asarray(v)
    K.sgd_update(dw, g, dv if momentum else None, learning_rate=0.1, momentum=momentum,
                 nesterov=nesterov, backend="cuda")
    K.sgd_update(w, g, v if momentum else None, learning_rate=0.1, momentum=momentum,
                 nesterov=nesterov, backend="numpy")
    close(dw, w, atol=1e-6)
    close(dv, v, atol=1e-6)


def test_rmsprop(be):
    w, g, v, _ = _states(30)
    v = np.abs(v)
    dw, dv = be.asarray(w), be.asarray(v)
    for _ in range(2):
        K.rmsprop_update(dw, be.asarray(g), dv, learning_rate=0.01, rho=0.9, backend="cuda")
        K.rmsprop_update(w, g, v, learning_rate=0.01, rho=0.9, backend="numpy")
    close(dw, w, atol=1e-6)
    close(dv, v, atol=1e-6)


def test_adam(be):
    w, g, m, v = _states(40)
    v = np.abs(v)
    dw, dm, dv = be.asarray(w), be.asarray(m), be.asarray(v)
    for step in (1, 2, 3):
        K.adam_update(dw, g, dm, dv, step=step, learning_rate=0.01, backend="cuda")
        K.adam_update(w, g, m, v, step=step, learning_rate=0.01, backend="numpy")
    for ours, ref in ((dw, w), (dm, m), (dv, v)):
        close(ours, ref, atol=1e-6)


# ------------------------------------------------------------------ xp namespace
def test_xp_elementwise(be):
    xp = be.xp
    a, b, c = rand(3, 1, seed=50), rand(1, 4, seed=51), rand(4, seed=52)
    da, db, dc = be.asarray(a), be.asarray(b), be.asarray(c)
    close(xp.add(da, db), a + b)
    close(xp.multiply(xp.add(da, db), dc), (a + b) * c)
    close(xp.subtract(2.0, da), 2.0 - a)
    close(xp.true_divide(da, 4), a / 4)
    close(xp.power(xp.abs(da), 2.0), np.abs(a) ** 2)
    close(xp.maximum(da, 0.0), np.maximum(a, 0))
    close(xp.minimum(db, dc), np.minimum(b, c))
    assert host(xp.greater(da, db)).dtype == bool
    np.testing.assert_array_equal(host(xp.greater(da, db)), a > b)
    np.testing.assert_array_equal(host(xp.equal(dc, dc)), np.ones(4, bool))
    for name in ("negative", "exp", "square", "abs", "sign", "tanh"):
        close(getattr(xp, name)(dc), getattr(np, name)(c), atol=1e-6)
    close(xp.sqrt(xp.abs(dc)), np.sqrt(np.abs(c)))
    with np.errstate(divide="ignore", invalid="ignore"):
        close(xp.log(be.asarray(np.array([0, 1, 2, -1], F32))), np.log(np.array([0, 1, 2, -1], F32)))
    close(xp.clip(dc, -0.5, 0.5), np.clip(c, -0.5, 0.5))
    # other dtypes take the host path and still give device arrays
    ints = xp.add(be.asarray(np.arange(3)), 1)
    assert be.is_array(ints) and ints.dtype == np.int64
    np.testing.assert_array_equal(host(xp.logical_and(xp.greater(dc, 0.0), xp.less(dc, 0.5))),
                                  (c > 0) & (c < 0.5))


def test_xp_reductions(be):
    # (2, 130): 260 elements, so a whole-array sum wraps the 256 threads of a
    # block; two rows, so a row reduction runs two blocks (each block of the
    # row kernel costs the simulator 256 threads through nine barriers)
    xp = be.xp
    x = rand(2, 130, seed=53)
    d = be.asarray(x)
    for axis, keepdims in ((None, False), (0, False), (1, True), ((0, 1), True)):
        close(xp.sum(d, axis=axis, keepdims=keepdims), x.sum(axis=axis, keepdims=keepdims),
              atol=1e-4)
    close(xp.mean(d, axis=0), x.mean(axis=0))
    close(xp.mean(d, axis=1, keepdims=True), x.mean(axis=1, keepdims=True))
    close(xp.max(d), x.max())
    close(xp.max(d, axis=0, keepdims=True), x.max(axis=0, keepdims=True))
    x3 = rand(2, 3, 4, seed=54)
    close(xp.sum(be.asarray(x3), axis=(1, 2)), x3.sum(axis=(1, 2)))
    close(xp.sum(be.asarray(x3), axis=1), x3.sum(axis=1))  # a middle axis: host path
    for axis in (None, 0, 1):
        got = host(xp.argmax(d, axis=axis))
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.argmax(x, axis=axis))
    np.testing.assert_array_equal(host(xp.argmax(be.asarray(x3), axis=1)), x3.argmax(axis=1))


def test_xp_shapes_and_creation(be):
    xp = be.xp
    x = rand(3, 5, seed=55)
    d = be.asarray(x)
    close(xp.transpose(d), x.T)
    close(xp.broadcast_to(be.asarray(x[:1]), (4, 3, 5)), np.broadcast_to(x[:1], (4, 3, 5)))
    copy = xp.array(d)
    assert copy is not d
    close(copy, x)
    assert be.astype(d, np.float64).dtype == np.float64
    assert be.astype(be.asarray(np.arange(3)), np.float32).dtype == np.float32
    with pytest.raises(AttributeError, match="not in the array contract"):
        xp.cumsum  # a NumPy name outside ARRAY_OPS: refused, never run through the host
    acc = be.zeros((4,), F32)
    xp.add.at(acc, np.array([0, 2, 0]), be.asarray(np.ones(3, F32)))
    close(acc, [2, 0, 1, 0])


# ------------------------------------------------------------------ the engine on the GPU
def _train_tiny(backend):
    """Two epochs of a tiny Keras model on ``backend``, from a fixed seed: 12
    samples in batches of 8, so each epoch has a full batch and a ragged one
    of 4 (the simulator's cost grows with the steps and the rows of each)."""
    import tapegrad as tg
    from tapegrad import keras
    from tapegrad.keras import layers

    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 6)).astype(F32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    with K.use(backend):
        tg.random.set_seed(3)
        model = keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        probs = model.predict(x[:4], verbose=0)
        weights = [w.numpy() for w in model.weights]
    return history.history, probs, weights


def test_keras_fit_on_cuda_matches_numpy(be):
    """The whole training loop (tape, fused kernels, optimizer) on the device
    computes what the NumPy reference computes, step for step.  With the
    simulator-sized launches of ``be`` (the production launch settings are
    checked kernel by kernel above and by bench/gpu_check.py --smoke)."""
    ours, probs, weights = _train_tiny("cuda")
    ref, ref_probs, ref_weights = _train_tiny("numpy")
    np.testing.assert_allclose(ours["loss"], ref["loss"], rtol=1e-4)
    np.testing.assert_allclose(ours["accuracy"], ref["accuracy"])
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-4, atol=1e-6)
    for w, r in zip(weights, ref_weights):
        np.testing.assert_allclose(w, r, rtol=1e-4, atol=1e-5)


def test_a_function_traced_on_the_cpu_reading_a_gpu_variable_runs_eagerly():
    """A Variable on the GPU read by a function traced on a CPU backend: the plan could not
    replay the GPU's array functions, so the trace is refused (a warning) and each call runs
    the Python, following the Variable's assigns (a frozen plan would keep its first sum)."""
    import warnings

    import tapegrad as tg

    with K.use("cuda"):
        w = tg.Variable(np.ones((3, 2), F32))
    with K.use("numpy"):
        f = tg.function(lambda x: tg.reduce_sum(w) + x)
        with pytest.warns(RuntimeWarning, match="runs eagerly"):
            first = float(f(np.float32(1.0)).numpy())
        w.assign(np.full((3, 2), 2.0, F32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            second = float(f(np.float32(1.0)).numpy())
    assert (first, second) == (7.0, 13.0)
    assert type(K.get_backend("cuda")).__dict__["xp"].fget.__name__ == "xp"   # the class's own property back


def test_tape_ops_on_cuda():
    """Ops outside the kernels (cast, clip, sigmoid, argmax) run on device arrays."""
    import tapegrad as tg

    with K.use("cuda"):
        v = tg.Variable(np.array([-1.0, 0.25, 1.0, 3.0], F32))
        with tg.GradientTape() as tape:
            z = tg.reduce_sum(tg.cast(v > 0.5, "float32") * v + tg.nn.sigmoid(v)
                              + tg.clip_by_value(v, 0.0, 2.0))
        grad = tape.gradient(z, v).numpy()
        idx = tg.argmax(tg.constant(np.array([[0, 2, 1], [5, 0, 0]], F32)), axis=1).numpy()
    vals = np.array([-1.0, 0.25, 1.0, 3.0])
    s = 1 / (1 + np.exp(-vals))
    expected = (vals > 0.5) + s * (1 - s) + ((vals >= 0) & (vals <= 2))
    np.testing.assert_allclose(grad, expected, rtol=1e-5)
    np.testing.assert_array_equal(idx, [1, 0])


def test_metric_totals_on_cuda(be):
    scores = np.array([[1, 3, 3], [2, 2, 2], [0, np.nan, 5], [np.nan, np.nan, 1], [0, 0, 9]], F32)
    total = be.zeros((1,), np.float64)
    K.accumulate_correct(be.asarray(scores), np.array([1, 0, 1, 0, 2]), total=total, backend=be)
    assert host(total)[0] == 3           # np.argmax's rule (first of ties); rows with a NaN miss
    K.accumulate_correct(be.asarray(np.full((3, 3), np.nan, F32)), np.array([0, 1, 2]), total=total, backend=be)
    assert host(total)[0] == 3
    r = rand(77, 3, seed=5)
    labels = np.random.default_rng(5).integers(0, 3, 77)
    K.accumulate_correct(be.asarray(r), labels, total=total, backend=be)
    assert host(total)[0] == 3 + np.count_nonzero(r.argmax(1) == labels)
    sums = be.zeros((1,), np.float64)
    K.accumulate_sum(be.asarray(r), sums, weight=2.5, backend=be)
    K.accumulate_sum(be.asarray(np.float32(1.5)), sums, backend=be)
    np.testing.assert_allclose(host(sums)[0], 2.5 * r.astype(np.float64).sum() + 1.5, rtol=1e-6)


class _CopyCounter:
    """Counts device -> host and host -> device copies in the simulator."""

    def __init__(self, monkeypatch):
        from numba import cuda
        from numba.cuda.simulator.cudadrv import devicearray

        self.down = self.up = 0
        original_down = devicearray.FakeCUDAArray.copy_to_host
        original_to_device = cuda.to_device

        def copy_to_host(array, *args, **kwargs):
            self.down += 1
            return original_down(array, *args, **kwargs)

        def to_device(*args, **kwargs):
            self.up += 1
            return original_to_device(*args, **kwargs)

        monkeypatch.setattr(devicearray.FakeCUDAArray, "copy_to_host", copy_to_host)
        monkeypatch.setattr(cuda, "to_device", to_device)


def test_fit_on_cuda_copies_back_only_the_logs(be, monkeypatch):
    """Device-resident training: per step the batch and its labels go up once
    (the loss and the accuracy share the labels), nothing comes back; the loss
    and the accuracy (one float64 each) come back once per epoch, to be shown.
    Two epochs of two steps tell per-step copies from per-epoch ones."""
    import tapegrad as tg
    from tapegrad import keras
    from tapegrad.keras import layers

    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 6)).astype(F32)
    y = (x[:, 0] > 0).astype(np.int64)
    with K.use("cuda"):
        tg.random.set_seed(3)
        model = keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x[:8], y[:8], epochs=1, batch_size=8, verbose=0)   # weights and optimizer state made
        counter = _CopyCounter(monkeypatch)
        epochs, steps = 2, 2
        history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
    assert counter.down == 2 * epochs, counter.down          # loss + accuracy, per epoch
    assert counter.up == 2 * epochs * steps, counter.up        # x and the labels
    assert len(history.history["loss"]) == epochs


def _train_tiny_functional(backend):
    """A two-input functional model (Concatenate, Add) trained two epochs of two steps on ``backend``."""
    import tapegrad as tg
    from tapegrad import keras
    from tapegrad.keras import layers

    rng = np.random.default_rng(11)
    xa, xb = rng.standard_normal((16, 3)).astype(F32), rng.standard_normal((16, 2)).astype(F32)
    y = (xa[:, 0] + xb[:, 1] > 0).astype(np.int64)
    with K.use(backend):
        tg.random.set_seed(5)
        a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
        h = layers.Dense(4, activation="relu")(layers.Concatenate()([a, b]))
        h = layers.Add()([h, layers.Dense(4)(a)])
        model = keras.Model(inputs=[a, b], outputs=layers.Dense(2, activation="softmax")(h))
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit({"a": xa, "b": xb}, y, epochs=2, batch_size=8, verbose=0)
        probs = model.predict([xa[:4], xb[:4]], verbose=0)
        weights = [w.numpy() for w in model.weights]
    return history.history, probs, weights


def test_functional_fit_on_cuda_matches_numpy(be):
    ours, probs, weights = _train_tiny_functional("cuda")
    ref, ref_probs, ref_weights = _train_tiny_functional("numpy")
    np.testing.assert_allclose(ours["loss"], ref["loss"], rtol=1e-4)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-4, atol=1e-6)
    for w, r in zip(weights, ref_weights):
        np.testing.assert_allclose(w, r, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ dropout, sigmoid + BCE
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_dropout_matches_numpy_exactly(be, rate):
    """Same draw, same bits: 5x21 elements over 2 blocks of 32 threads (grid-stride)."""
    x = rand(5, 21, seed=40)
    u = np.random.default_rng(41).random((5, 21), dtype=F32)
    out, mask = K.dropout_forward(be.asarray(x), u, rate, backend="cuda")
    ref_out, ref_mask = K.dropout_forward(x, u, rate, backend="numpy")
    np.testing.assert_array_equal(host(out), ref_out)
    np.testing.assert_array_equal(host(mask), ref_mask)
    g = rand(5, 21, seed=42)
    np.testing.assert_array_equal(host(K.dropout_backward(g, mask, backend="cuda")),
                                  K.dropout_backward(g, ref_mask, backend="numpy"))


def test_sigmoid_cross_entropy_on_cuda(be):
    x = np.concatenate([[-100, -30, -1e-3, 0, 1e-3, 30, 100], rand(40, seed=43, scale=4)]).astype(F32)
    z = np.random.default_rng(44).random(x.size).astype(F32)
    z[:4] = [1, 0, 1, 0.5]
    x64, z64 = x.astype(np.float64), z.astype(np.float64)
    loss_ref = np.logaddexp(0, x64) - x64 * z64
    grad_ref = 0.5 * (1 + np.tanh(0.5 * x64)) - z64
    loss, grad = K.sigmoid_cross_entropy(be.asarray(x), be.asarray(z), backend="cuda")
    assert np.all(np.isfinite(host(loss)))
    assert np.all(np.abs(host(loss) - loss_ref) <= 1e-6 * (1 + np.abs(x64)))
    close(grad, grad_ref, atol=1e-6)
    mean, grad = K.sigmoid_cross_entropy(x, z, reduction="mean", backend="cuda")
    np.testing.assert_allclose(mean, loss_ref.mean(), rtol=1e-5)
    close(grad, grad_ref / x.size, atol=1e-7)
    with pytest.raises(ValueError, match="probabilities"):
        K.sigmoid_cross_entropy(x, be.asarray(z + 1), backend="cuda")


def test_dropout_and_bce_ops_on_cuda():
    import tapegrad as tg
    from tapegrad import ops

    x0 = rand(4, 6, seed=45)
    z = np.random.default_rng(46).random((4, 6)).astype(F32)
    grads = {}
    for name in ("numpy", "cuda"):
        with K.use(name):
            x = tg.constant(x0)
            with tg.GradientTape() as tape:
                tape.watch(x)
                y = tg.reduce_sum(ops.sigmoid_binary_cross_entropy(ops.dropout(x, 0.5, seed=9), z))
            grads[name] = (y.numpy(), tape.gradient(y, x).numpy())
    np.testing.assert_allclose(grads["cuda"][0], grads["numpy"][0], rtol=1e-5)
    np.testing.assert_allclose(grads["cuda"][1], grads["numpy"][1], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the fused kernels of a training step
def test_fused_step_kernels_match_numpy(be):
    """dense_forward_rows, weight_grad_rmsprop and bias_grad_rmsprop (on the GPU
    the separate kernels in sequence, a gather kernel first) against the numpy backend."""
    x, g, w, b = rand(13, 9, seed=60), rand(5, 11, seed=61), rand(9, 11, seed=62), rand(11, seed=63)
    v, vb = np.abs(rand(9, 11, seed=64)), np.abs(rand(11, seed=65))
    rows = np.array([12, 0, 3, 3, 7])
    close(K.dense_forward_rows(be.asarray(x), rows, be.asarray(w), be.asarray(b), "relu", backend="cuda"),
          np.maximum(x[rows] @ w + b, 0))
    dw, dv, db, dvb = be.asarray(w), be.asarray(v), be.asarray(b), be.asarray(vb)
    K.weight_grad_rmsprop(be.asarray(x), be.asarray(g), dw, dv, rows=rows, learning_rate=0.01, backend="cuda")
    K.weight_grad_rmsprop(x, g, w, v, rows=rows, learning_rate=0.01, backend="numpy")
    masked = K.bias_grad_rmsprop(be.asarray(g), db, dvb, relu_input=be.asarray(g[::-1].copy()),
                                 learning_rate=0.01, backend="cuda")
    ref_masked = K.bias_grad_rmsprop(g, b, vb, relu_input=g[::-1].copy(), learning_rate=0.01, backend="numpy")
    for ours, ref in ((dw, w), (dv, v), (db, b), (dvb, vb), (masked, ref_masked)):
        close(ours, ref, atol=1e-6)


def test_classifier_head_and_output_backward_match_numpy(be):
    """softmax_cross_entropy_head and dense_backward_rmsprop (on the GPU each the sequence of
    the backend's own kernels) against the numpy backend."""
    x, labels = rand(6, 5, seed=70, scale=3.0), np.array([4, 0, 1, 1, 3, 2])
    loss_sum, correct, grad = K.softmax_cross_entropy_head(be.asarray(x), be.asarray(labels), 1 / 6, backend="cuda")
    ref_sum, ref_correct, ref_grad = K.softmax_cross_entropy_head(x, labels, 1 / 6, backend="numpy")
    np.testing.assert_allclose(loss_sum, ref_sum, rtol=1e-5)
    assert correct == ref_correct
    close(grad, ref_grad, atol=1e-6)
    dz, h = rand(4, 3, seed=71), np.maximum(rand(4, 9, seed=72), 0)
    state = [rand(9, 3, seed=73), rand(3, seed=74), np.abs(rand(9, 3, seed=75)), np.abs(rand(3, seed=76)),
             rand(9, seed=77), np.abs(rand(9, seed=78))]
    device = [be.asarray(a) for a in state]
    dh = K.dense_backward_rmsprop(be.asarray(dz), be.asarray(h), *device, learning_rate=0.01, backend="cuda")
    ref_dh = K.dense_backward_rmsprop(dz, h, *state, learning_rate=0.01, backend="numpy")
    close(dh, ref_dh, atol=1e-6)
    for ours, ref in zip(device, state):
        close(ours, ref, atol=1e-6)
