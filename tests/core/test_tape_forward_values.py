"""The tape differentiates at the values the forward pass saw (as TF's tape).

A Variable written after an op was recorded (``assign``, an optimizer step)
must not change the gradient of that op: TF's tape keeps the tensors it read.
Each expected value below is worked out by hand or with NumPy.
"""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras


@pytest.mark.parametrize("write", ["assign", "assign_add", "assign_sub", "slice"])
def test_gradient_uses_the_value_read_in_the_forward_pass(write):
    v = tg.Variable(3.0) if write != "slice" else tg.Variable([3.0, 5.0])
    with tg.GradientTape() as tape:
        y = v * v
    if write == "assign":
        v.assign(100.0)
    elif write == "assign_add":
        v.assign_add(97.0)
    elif write == "assign_sub":
        v.assign_sub(-97.0)
    else:
        v[0].assign(100.0)
    grad = tape.gradient(y, v).numpy()
    expected = [6.0] if write != "slice" else [6.0, 10.0]   # d(v^2)/dv = 2 v at the forward value
    np.testing.assert_array_equal(np.ravel(grad), expected)
    assert np.ravel(v.numpy())[0] == 100.0   # the write itself happened


def test_an_op_recorded_after_the_write_sees_the_new_value():
    v = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = v * v          # dy/dv = 2 * 3
        v.assign(10.0)
        z = y * v          # z = v_old^2 * v_new: dz/dv = 2 v_old v_new + v_old^2 = 60 + 9
    assert float(tape.gradient(z, v)) == 69.0


def test_dense_kernel_gradient_after_an_optimizer_step():
    rng = np.random.default_rng(0)
    x = tg.constant(rng.normal(size=(4, 3)).astype(np.float32))
    w = tg.Variable(rng.normal(size=(3, 2)).astype(np.float32))
    w0 = w.numpy()
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tg.reduce_sum(tg.matmul(x, w) ** 2)
    keras.optimizers.SGD(0.5).apply_gradients([(tape.gradient(y, w), w)])
    assert not np.allclose(w.numpy(), w0)
    # d/dx sum((xW)^2) = 2 (x W0) W0^T, at the forward W0, not the updated weights
    expected = 2 * (x.numpy() @ w0) @ w0.T
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), expected, rtol=1e-5)


def _gan_like_steps(persistent_tape):
    """Two models, one loss, one tape: the discriminator's optimizer step must
    not change the gradient the generator gets through the discriminator's
    weights (a GAN loop with a persistent tape)."""
    rng = np.random.default_rng(1)
    x = tg.constant(rng.normal(size=(8, 3)).astype(np.float32))
    g_w = tg.Variable(rng.normal(size=(3, 3)).astype(np.float32))
    d_w = tg.Variable(rng.normal(size=(3, 1)).astype(np.float32))
    g_opt, d_opt = keras.optimizers.Adam(0.1), keras.optimizers.Adam(0.1)
    if persistent_tape:
        with tg.GradientTape(persistent=True) as tape:
            loss = tg.reduce_mean(tg.matmul(tg.tanh(tg.matmul(x, g_w)), d_w) ** 2)
        d_grad = tape.gradient(loss, d_w)
        d_opt.apply_gradients([(d_grad, d_w)])
        g_grad = tape.gradient(loss, g_w)
    else:
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean(tg.matmul(tg.tanh(tg.matmul(x, g_w)), d_w) ** 2)
        g_grad, d_grad = tape.gradient(loss, [g_w, d_w])
        d_opt.apply_gradients([(d_grad, d_w)])
    g_opt.apply_gradients([(g_grad, g_w)])
    return g_grad.numpy(), d_grad.numpy(), g_w.numpy(), d_w.numpy()


def test_persistent_tape_across_two_optimizer_steps_matches_one_gradient_call():
    for got, expected in zip(_gan_like_steps(True), _gan_like_steps(False)):
        np.testing.assert_array_equal(got, expected)


def test_second_derivative_through_a_variable_written_between_the_tapes():
    v = tg.Variable(3.0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = v * v * v
        dy = inner.gradient(y, v)          # 3 v^2 = 27, recorded on the outer tape
    v.assign(1.0)
    assert float(dy) == 27.0
    assert float(outer.gradient(dy, v)) == 18.0   # 6 v at v = 3


def test_training_still_updates_the_weights_in_place_when_no_tape_holds_them():
    w = tg.Variable(np.ones((2, 2), np.float32))
    buffer = w._data
    for _ in range(2):
        with tg.GradientTape() as tape:
            loss = tg.reduce_sum(w * w)
        keras.optimizers.SGD(0.1).apply_gradients([(tape.gradient(loss, w), w)])
    assert w._data is buffer   # no copy once the tape has given its record up
    np.testing.assert_allclose(w.numpy(), 0.8 * 0.8 * np.ones((2, 2)), rtol=1e-6)
