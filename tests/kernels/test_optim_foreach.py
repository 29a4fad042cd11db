"""The list ("foreach") forms of the optimizer kernels, on every CPU backend.

``*_update_foreach`` updates several weights in one API call (a training
step's whole list): each weight must end exactly where the one-weight call
leaves it, both must match the update written out in NumPy here, every array
of every weight is still checked (before any weight changes), and an error
names the weight.
"""

import numpy as np
import pytest

import tapegrad.kernels as K

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]
SHAPES = [(1,), (7, 3), (784, 512), (512,), (512, 10), (10,), (100003,)]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def _weights(dtype, seed):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return params, grads


def _tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_foreach_matches_numpy_and_the_single_call(backend, dtype):
    params, grads = _weights(dtype, 1)
    vs = [np.zeros_like(p) for p in params]
    singles = [p.copy() for p in params]
    single_vs = [v.copy() for v in vs]
    refs = [(p.astype(np.float64), v.astype(np.float64)) for p, v in zip(params, vs)]
    lr, rho, eps = 1e-3, 0.9, 1e-7
    for _ in range(3):
        out = K.rmsprop_update_foreach(params, grads, vs, learning_rate=lr, rho=rho, epsilon=eps,
                                       backend=backend)
        assert all(o is p for o, p in zip(out, params))       # updated in place, returned
        for p, g, v in zip(singles, grads, single_vs):
            K.rmsprop_update(p, g, v, learning_rate=lr, rho=rho, epsilon=eps, backend=backend)
        new_refs = []
        for (w_ref, v_ref), g in zip(refs, grads):
            v_ref = rho * v_ref + (1 - rho) * g.astype(np.float64) ** 2
            new_refs.append((w_ref - lr * g / np.sqrt(v_ref + eps), v_ref))
        refs = new_refs
    for p, v, single, single_v, (w_ref, v_ref) in zip(params, vs, singles, single_vs, refs):
        np.testing.assert_array_equal(p, single)             # the same kernel, the same bits
        np.testing.assert_array_equal(v, single_v)
        np.testing.assert_allclose(p, w_ref, rtol=_tolerance(dtype), atol=_tolerance(dtype))
        np.testing.assert_allclose(v, v_ref, rtol=_tolerance(dtype), atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_foreach_matches_numpy(backend, dtype, momentum, nesterov):
    params, grads = _weights(dtype, 2)
    velocities = [np.zeros_like(p) for p in params] if momentum else None
    refs = [(p.astype(np.float64), np.zeros(p.shape)) for p in params]
    lr = 0.1
    for _ in range(3):
        K.sgd_update_foreach(params, grads, velocities, learning_rate=lr, momentum=momentum,
                             nesterov=nesterov, backend=backend)
        new_refs = []
        for (w_ref, v_ref), g in zip(refs, grads):
            if momentum:
                v_ref = momentum * v_ref - lr * g
                w_ref = w_ref + (momentum * v_ref - lr * g if nesterov else v_ref)
            else:
                w_ref = w_ref - lr * g
            new_refs.append((w_ref, v_ref))
        refs = new_refs
    for i, (p, (w_ref, v_ref)) in enumerate(zip(params, refs)):
        np.testing.assert_allclose(p, w_ref, rtol=_tolerance(dtype), atol=_tolerance(dtype))
        if momentum:
            np.testing.assert_allclose(velocities[i], v_ref, rtol=_tolerance(dtype), atol=_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_foreach_matches_numpy(backend, dtype):
    params, grads = _weights(dtype, 3)
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    refs = [(p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)) for p in params]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    for step in range(1, 4):
        K.adam_update_foreach(params, grads, ms, vs, step=step, learning_rate=lr, beta_1=b1, beta_2=b2,
                              epsilon=eps, backend=backend)
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        new_refs = []
        for (w_ref, m_ref, v_ref), g in zip(refs, grads):
            m_ref = m_ref + (g - m_ref) * (1 - b1)
            v_ref = v_ref + (g.astype(np.float64) ** 2 - v_ref) * (1 - b2)
            new_refs.append((w_ref - alpha * m_ref / (np.sqrt(v_ref) + eps), m_ref, v_ref))
        refs = new_refs
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    for p, m, (w_ref, m_ref, _) in zip(params, ms, refs):
        np.testing.assert_allclose(m, m_ref, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(p, w_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("bad, error, message", [
    (lambda w: w["vs"].__setitem__(2, w["vs"][2][:300]), ValueError, r"v has shape \(300, 10\).*weight 2 of 4"),
    (lambda w: w["vs"].__setitem__(3, w["vs"][3].astype(np.float64)), TypeError, "v has dtype float64.*weight 3 of 4"),
    (lambda w: w["grads"].__setitem__(1, np.ones(511, np.float32)), ValueError, r"grad has shape \(511,\).*weight 1"),
    (lambda w: w["params"][2].setflags(write=False), ValueError, "param is updated in place.*weight 2"),
    (lambda w: w["vs"].__setitem__(3, w["params"][3]), ValueError, "param and v share memory.*weight 3"),
    (lambda w: w["vs"].pop(), ValueError, "differ in length.*4 params, 4 grads, 3 v"),
])
def test_foreach_checks_every_weight_before_updating_any(backend, bad, error, message):
    rng = np.random.default_rng(4)
    shapes = [(784, 512), (512,), (512, 10), (10,)]
    w = {"params": [rng.standard_normal(s).astype(np.float32) for s in shapes],
         "grads": [rng.standard_normal(s).astype(np.float32) for s in shapes],
         "vs": [np.zeros(s, np.float32) for s in shapes]}
    bad(w)
    before = [p.copy() for p in w["params"]]
    with pytest.raises(error, match=message):
        K.rmsprop_update_foreach(w["params"], w["grads"], w["vs"], backend=backend)
    for p, b in zip(w["params"], before):
        np.testing.assert_array_equal(p, b)                 # nothing was updated


def test_foreach_checks_hyperparameters_once_with_the_single_calls_messages():
    p, g, v = np.zeros(3), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="rho must be in"):
        K.rmsprop_update_foreach([p], [g], [v], rho=1.0, backend="numpy")
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        K.rmsprop_update_foreach([p], [g], [v], epsilon=0.0, backend="numpy")
    with pytest.raises(ValueError, match="beta_2 must be in"):
        K.adam_update_foreach([p], [g], [v], [np.zeros(3)], step=1, beta_2=1.5, backend="numpy")
    with pytest.raises(ValueError, match="needs a velocity array"):
        K.sgd_update_foreach([p], [g], [None], momentum=0.5, backend="numpy")
    with pytest.raises(ValueError, match="step must be an int"):
        K.adam_update_foreach([p], [g], [v], [np.zeros(3)], step=0, backend="numpy")
    assert K.rmsprop_update_foreach([], [], [], backend="numpy") == []
    np.testing.assert_array_equal(p, 0)


def test_a_grad_that_is_another_weights_state_is_read_in_list_order():
    """The list is updated weight by weight, in order, each as its single call
    would: a grad aliasing a weight updated earlier sees that update."""
    a, b = np.ones(4), np.ones(4)
    va, vb = np.zeros(4), np.zeros(4)
    K.rmsprop_update_foreach([a, b], [np.ones(4), va], [va, vb], learning_rate=0.1, backend="numpy")
    ra, rb, rva, rvb = np.ones(4), np.ones(4), np.zeros(4), np.zeros(4)
    K.rmsprop_update(ra, np.ones(4), rva, learning_rate=0.1, backend="numpy")
    K.rmsprop_update(rb, rva, rvb, learning_rate=0.1, backend="numpy")
    np.testing.assert_array_equal(a, ra)
    np.testing.assert_array_equal(b, rb)
    np.testing.assert_array_equal(vb, rvb)


def test_ops_apply_updates_runs_one_foreach_call_for_all_variables():
    import tapegrad as tg
    with tg.kernels.use("numpy"):
        rng = np.random.default_rng(5)
        ws = [tg.Variable(rng.standard_normal(s).astype(np.float32)) for s in [(3, 2), (2,)]]
        twins = [tg.Variable(w.numpy()) for w in ws]
        grads = [tg.constant(rng.standard_normal(w.shape).astype(np.float32)) for w in ws]
        slots = [[tg.ops.zeros_variable(w.shape, w.dtype, like=w)] for w in ws]
        twin_slots = [[tg.ops.zeros_variable(w.shape, w.dtype, like=w)] for w in ws]
        tg.ops.apply_updates("rmsprop_update", ws, grads, slots, learning_rate=0.1)
        for w, g, s in zip(twins, grads, twin_slots):
            tg.ops.apply_update("rmsprop_update", w, g, *s, learning_rate=0.1)
        for w, twin, s, twin_s in zip(ws, twins, slots, twin_slots):
            np.testing.assert_array_equal(w.numpy(), twin.numpy())
            np.testing.assert_array_equal(s[0].numpy(), twin_s[0].numpy())
            assert not np.array_equal(w.numpy(), 0)
        with pytest.raises(ValueError, match="2 variables, 1 grads and 2 slot lists"):
            tg.ops.apply_updates("rmsprop_update", ws, grads[:1], slots)
        with pytest.raises(TypeError, match="needs a Variable"):
            tg.ops.apply_updates("sgd_update", [ws[0], grads[1]], grads, [[], []])


def test_ops_apply_updates_with_weights_on_two_backends():
    """Weights that live on different backends get one call each, on their own backend."""
    import tapegrad as tg
    rng = np.random.default_rng(6)
    values = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,)]]
    grads = [rng.standard_normal(v.shape).astype(np.float32) for v in values]
    ws = []
    for name, value in zip(["numpy", "cython"], values):
        with tg.kernels.use(name):
            ws.append(tg.Variable(value.copy()))
    assert ws[0].backend is not ws[1].backend
    slots = [[tg.ops.zeros_variable(w.shape, w.dtype, like=w)] for w in ws]
    tg.ops.apply_updates("rmsprop_update", ws, [tg.constant(g) for g in grads], slots, learning_rate=0.1)
    for w, value, g in zip(ws, values, grads):
        v = np.zeros_like(value)
        K.rmsprop_update(value, g, v, learning_rate=0.1, backend="numpy")
        np.testing.assert_allclose(w.numpy(), value, rtol=1e-6)
