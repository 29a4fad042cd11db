"""The conv family's CUDA kernels under Numba's CUDA simulator, against the loops.

Not collected by a plain ``pytest`` (the name does not start with test_):
tests/kernels/test_conv.py runs it in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``, which must be set before numba is imported.  The
simulator runs each CUDA thread as a Python thread, so the shapes are tiny,
and the launches use a few small blocks so the grid-stride loops wrap.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

numba = pytest.importorskip("numba")
if not numba.config.ENABLE_CUDASIM:
    pytest.skip("numba was imported before NUMBA_ENABLE_CUDASIM=1 was set", allow_module_level=True)

import tapegrad.kernels as K  # noqa: E402
from tapegrad.kernels.conv import reference as ref  # noqa: E402
from tapegrad.kernels.conv.geometry import output_shape_2d  # noqa: E402

CASES = [  # (N, H, W, C, KH, KW, F, strides, padding)
    (1, 4, 5, 1, 3, 3, 2, 1, "valid"),
    (2, 5, 4, 3, 2, 2, 3, 1, "same"),        # even kernel, "same": the odd pad after
    (1, 6, 5, 2, 2, 3, 3, (3, 2), "same"),   # stride larger than the kernel
    (1, 5, 5, 3, 1, 1, 2, 2, "valid"),
]


@pytest.fixture
def be():
    backend = K.get_backend("cuda")
    saved = backend.threads, backend.max_blocks
    backend.threads, backend.max_blocks = 16, 2   # the grid-stride loops wrap around
    yield backend
    backend.threads, backend.max_blocks = saved


def args(case, seed=0):
    n, h, w, c, kh, kw, f, strides, padding = case
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, h, w, c)).astype(np.float32)
    k = r.standard_normal((kh, kw, c, f)).astype(np.float32)
    b = r.standard_normal(f).astype(np.float32)
    s = (strides, strides) if isinstance(strides, int) else strides
    (oh, ow), pads = output_shape_2d(h, w, (kh, kw), s, padding)
    g = r.standard_normal((n, oh, ow, f)).astype(np.float32)
    return x, k, b, g, strides, padding, s, pads


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv_kernels_match_the_loops(be, case):
    x, w, b, g, strides, padding, s, pads = args(case)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    kw = dict(strides=strides, padding=padding, backend="cuda")
    out = K.to_numpy(K.conv2d(x, w, b, activation="relu", **kw))
    np.testing.assert_allclose(out, ref.conv2d_loops(x64, w64, b.astype(np.float64), s, pads, True,
                                                     np.empty(g.shape)), rtol=1e-5, atol=1e-5)
    dx = K.to_numpy(K.conv2d_input_grad(g, w, x.shape, **kw))
    np.testing.assert_allclose(dx, ref.conv2d_input_grad_loops(g64, w64, s, pads, np.empty(x.shape)),
                               rtol=1e-5, atol=1e-5)
    dw = K.to_numpy(K.conv2d_kernel_grad(g, x, w.shape, **kw))
    np.testing.assert_allclose(dw, ref.conv2d_kernel_grad_loops(g64, x64, s, pads, np.empty(w.shape)),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool, strides, padding", [((2, 2), None, "valid"), ((3, 2), (2, 1), "same")])
def test_pools_match_the_loops(be, pool, strides, padding):
    r = np.random.default_rng(1)
    x = (r.permutation(2 * 5 * 5 * 3).reshape(2, 5, 5, 3) / 150.0).astype(np.float32)
    x[0, 1, 1, 0] = np.nan                    # a NaN wins its window and takes its gradient
    s = pool if strides is None else strides
    (oh, ow), pads = output_shape_2d(5, 5, pool, s, padding)
    g = r.standard_normal((2, oh, ow, 3)).astype(np.float32)
    kw = dict(pool_size=pool, strides=strides, padding=padding, backend="cuda")
    np.testing.assert_array_equal(K.to_numpy(K.max_pool2d(x, **kw)),
                                  ref.max_pool2d(x, pool, s, pads, np.empty(g.shape, np.float32)))
    np.testing.assert_allclose(K.to_numpy(K.max_pool2d_backward(g, x, **kw)),
                               ref.max_pool2d_backward(g, x, pool, s, pads, np.empty(x.shape, np.float32)),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(K.to_numpy(K.avg_pool2d(x, **kw)),
                               ref.avg_pool2d(x, pool, s, pads, np.empty(g.shape, np.float32)), rtol=1e-6)
    np.testing.assert_allclose(K.to_numpy(K.avg_pool2d_backward(g, x.shape, **kw)),
                               ref.avg_pool2d_backward(g, pool, s, pads, np.empty(x.shape, np.float32)),
                               rtol=1e-6, atol=1e-7)


def test_device_arrays_in_and_out(be):
    x, w, b, g, strides, padding, s, pads = args(CASES[1])
    dx_, dw_ = be.asarray(x), be.asarray(w)
    out = K.conv2d(dx_, dw_, be.asarray(b), strides=strides, padding=padding, backend="cuda")
    np.testing.assert_allclose(K.to_numpy(out), K.conv2d(x, w, b, strides=strides, padding=padding,
                                                         backend="numpy"), rtol=1e-5, atol=1e-5)
    assert be.is_array(out)
    with pytest.raises(TypeError, match="cuda backend takes float32"):
        K.conv2d(x.astype(np.float64), w.astype(np.float64), backend="cuda")


def test_the_pool_relu_block_backward_runs_the_unfused_sequence(be):
    """max_pool_relu_backward / max_pool_relu_weight_grads on cuda are the sequence of its
    own kernels (kernels/conv/pool_block_sequence.py): the numpy backend's numbers."""
    x, w, b, _, strides, padding, s, pads = args((2, 6, 5, 2, 3, 3, 3, 1, "same"), seed=4)
    y = np.maximum(np.round(K.conv2d(x, w, b, padding="same", backend="numpy")), 0).astype(np.float32)
    g = np.random.default_rng(5).standard_normal((2, 3, 2, 3)).astype(np.float32)
    g2, db = (K.to_numpy(t) for t in K.max_pool_relu_backward(g, y, backend="cuda"))
    g2_ref, db_ref = K.max_pool_relu_backward(g, y, backend="numpy")
    assert np.array_equal(g2, g2_ref)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-5)
    dw, db = (K.to_numpy(t) for t in K.max_pool_relu_weight_grads(g, y, x, w.shape, padding="same",
                                                                   backend="cuda"))
    dw_ref, _ = K.max_pool_relu_weight_grads(g, y, x, w.shape, padding="same", backend="numpy")
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-5)
