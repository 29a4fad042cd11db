"""GradientTape semantics (as tf.GradientTape) and the book's snippets."""

import subprocess
import threading
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg


def test_book_snippets_print_the_books_output():
    x = tg.Variable(0.)
    with tg.GradientTape() as tape:
        y = 2 * x + 3
    assert str(tape.gradient(y, x)) == "tapegrad.Tensor(2.0, shape=(), dtype=float32)"

    x = tg.Variable(tg.random.uniform((2, 2)))
    with tg.GradientTape() as tape:
        y = 2 * x + 3
    assert str(tape.gradient(y, x)) == "tapegrad.Tensor(\n[[2. 2.]\n [2. 2.]], shape=(2, 2), dtype=float32)"

    W = tg.Variable(tg.random.uniform((2, 2)))
    b = tg.Variable(tg.zeros((2,)))
    x = tg.random.uniform((2, 2))
    with tg.GradientTape() as tape:
        y = tg.matmul(x, W) + b
    gW, gb = tape.gradient(y, [W, b])
    np.testing.assert_allclose(gW.numpy(), np.repeat(x.numpy().sum(0)[:, None], 2, axis=1), rtol=1e-6)
    assert str(gb) == "tapegrad.Tensor([2. 2.], shape=(2,), dtype=float32)"


def test_non_persistent_tape_is_single_use():
    x = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = x * x
    assert float(tape.gradient(y, x)) == 6.0
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)


def test_persistent_tape():
    x = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * x
    assert float(tape.gradient(y, x)) == 6.0
    assert float(tape.gradient(z, x)) == 27.0


def test_unconnected_sources():
    x, unused = tg.Variable(1.0), tg.Variable(np.ones(3, np.float32))
    with tg.GradientTape(persistent=True) as tape:
        y = x * 2
    assert tape.gradient(y, [x, unused])[1] is None
    zero = tape.gradient(y, [x, unused], unconnected_gradients="zero")[1]
    np.testing.assert_array_equal(zero.numpy(), np.zeros(3))
    with pytest.raises(ValueError):
        tape.gradient(y, x, unconnected_gradients="bogus")


def test_watch_constants_and_structure():
    a, b = tg.constant(2.0), tg.constant(5.0)
    with tg.GradientTape() as tape:
        tape.watch(a)
        y = a * b
    ga, gb = tape.gradient(y, (a, b))
    assert float(ga) == 5.0 and gb is None  # b was never watched

    v = tg.Variable(1.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * 4
    out = tape.gradient(y, {"w": v, "pair": [v, (v,)]})
    assert float(out["w"]) == 4.0 and isinstance(out["pair"][1], tuple)
    assert isinstance(tape.gradient(y, [v]), list)


def test_non_trainable_and_watch_accessed_false():
    frozen = tg.Variable(2.0, trainable=False)
    w = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        y = frozen * w
    assert tape.gradient(y, frozen) is None and float(tape.gradient(y, w)) == 2.0
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        y = w * w
    assert tape.gradient(y, w) is None


def test_stop_recording_and_outside():
    x = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = x * x
        with tape.stop_recording():
            z = x * 10
        total = y + z
    assert float(tape.gradient(total, x)) == 4.0  # z is a constant to the tape
    with tg.GradientTape() as tape:
        pass
    y = x * x  # after the block: not recorded
    assert tape.gradient(y, x) is None


def test_non_scalar_target_is_summed_and_output_gradients():
    x = tg.Variable(np.arange(3, dtype=np.float32))
    with tg.GradientTape(persistent=True) as tape:
        y = x * x
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0, 2, 4])
    g = tape.gradient(y, x, output_gradients=np.array([1, 0, 2], np.float32))
    np.testing.assert_allclose(g.numpy(), [0, 0, 8])


def test_gradient_is_a_tensor_and_reuse_sums():
    x = tg.Variable(np.ones((2, 2), np.float32))
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(x * x + x)
    g = tape.gradient(y, x)
    assert type(g) is tg.Tensor and g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), 3.0)


def test_nested_tapes_second_derivative():
    x = tg.Variable(2.0)
    with tg.GradientTape() as t2:
        with tg.GradientTape() as t1:
            y = x * x * x
        dy = t1.gradient(y, x)
    assert float(dy) == 12.0
    assert float(t2.gradient(dy, x)) == 12.0


@pytest.mark.parametrize("persistent", [False, True])
def test_intermediate_tensor_as_a_source_keeps_its_gradient(persistent):
    """An intermediate ``y`` asked for next to ``x`` gets dz/dy, and x still gets the full chain.

    y = x*x is used twice below (y*y*y and x*y), so its gradient is a sum:
    dz/dy = 3y^2 + x, and dz/dx = (3y^2 + x) * 2x + y = 6x^5 + 3x^2 (worked out by hand).
    """
    x_np = np.array([0.5, -1.0, 2.0], np.float32)
    x = tg.Variable(x_np)
    with tg.GradientTape(persistent=persistent) as tape:
        y = x * x
        z = tg.reduce_sum(y * y * y) + tg.reduce_sum(x * y)
    gx, gy = tape.gradient(z, [x, y])
    assert gy is not None, "the intermediate source lost its gradient"
    x64 = x_np.astype(np.float64)
    np.testing.assert_allclose(gy.numpy(), 3 * x64**4 + x64, rtol=1e-6)
    np.testing.assert_allclose(gx.numpy(), 6 * x64**5 + 3 * x64**2, rtol=1e-6)


def test_watched_constant_and_its_intermediate_in_any_order():
    a = tg.constant(3.0)
    with tg.GradientTape() as tape:
        tape.watch(a)
        b = a * 2.0
        c = b * b            # c = 4 a^2
    gb, ga = tape.gradient(c, [b, a])
    assert float(gb) == 12.0 and float(ga) == 24.0  # dc/db = 2b, dc/da = 8a


def test_book_gradient_tape_example_script():
    script = Path(__file__).resolve().parents[2] / "examples" / "gradient_tape.py"
    if not script.exists():
        pytest.skip("examples/gradient_tape.py not present")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Gradient of y wrt x tapegrad.Tensor(2.0, shape=(), dtype=float32)" in out.stdout
    assert "tapegrad.Tensor(\n[[2. 2.]\n [2. 2.]], shape=(2, 2), dtype=float32)" in out.stdout


# ------------------------------------------------------------------ threads
def test_tape_records_only_the_thread_that_opened_it():
    """TF's rule: ops run by another thread while a tape is open are not on it."""
    x = tg.Variable(2.0)
    opened, other_done = threading.Event(), threading.Event()
    from_other = []

    def other_thread():
        opened.wait(timeout=10)
        from_other.append(x * 3.0)   # reads the Variable the tape watches
        other_done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with tg.GradientTape(persistent=True) as tape:
        opened.set()
        assert other_done.wait(timeout=10)
        y = x * x
    worker.join(timeout=10)
    assert float(tape.gradient(y, x)) == 4.0
    assert tape.gradient(from_other[0], x) is None   # never recorded here


def _small_model(seed, features):
    from tapegrad import keras
    from tapegrad.keras import layers

    with tg.kernels.use("numpy"):
        tg.random.set_seed(seed)
        model = keras.Sequential([layers.Input((features,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        return model


def test_two_fits_in_two_threads_give_the_weights_each_gives_alone():
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(240, 5)).astype(np.float32), rng.integers(0, 3, 240)) for _ in range(2)]

    def train(model, i):
        with tg.kernels.use("numpy"):
            model.fit(*data[i], batch_size=8, epochs=2, shuffle=False, verbose=0)

    alone = []
    for i in range(2):                       # each alone, one after the other
        model = _small_model(i, 5)
        train(model, i)
        alone.append(model.get_weights())
    models = [_small_model(i, 5) for i in range(2)]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)              # interleave the two threads' steps finely
    try:
        threads = [threading.Thread(target=train, args=(models[i], i)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        sys.setswitchinterval(old_interval)
    for i, model in enumerate(models):
        for got, want in zip(model.get_weights(), alone[i]):
            np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- behaviour a mutation run found unpinned
def test_an_exception_inside_the_block_propagates():
    x = tg.Variable(1.0)
    with pytest.raises(ZeroDivisionError):
        with tg.GradientTape():
            x * 2
            1 / 0


def test_ops_on_unwatched_tensors_are_not_recorded():
    """As in TF, an intermediate computed only from unwatched constants is not watched."""
    a, b, x = tg.constant(2.0), tg.constant(3.0), tg.Variable(5.0)
    with tg.GradientTape(persistent=True) as tape:
        c = a * b          # no watched input: not recorded, c not watched
        y = c * x
    assert tape.gradient(y, c) is None
    assert float(tape.gradient(y, x)) == 6.0


def test_watched_variables_lists_read_and_explicitly_watched_variables():
    v, w, u = tg.Variable(1.0), tg.Variable(2.0), tg.Variable(4.0)
    with tg.GradientTape() as tape:
        v * 3
    assert tape.watched_variables() == (v,)
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(w)
        w * u
    assert tape.watched_variables() == (w,)


def test_nested_tapes_stop_independently():
    x = tg.Variable(2.0)
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape(persistent=True) as middle:
            with tg.GradientTape(persistent=True) as inner:
                with outer.stop_recording():
                    y = x * x                # seen by middle and inner only
            z = x * x * x                    # seen by outer and middle
        w = x * 4                            # seen by outer only
    assert outer.gradient(y, x) is None and float(middle.gradient(y, x)) == 4.0
    assert float(inner.gradient(y, x)) == 4.0 and inner.gradient(z, x) is None
    assert float(outer.gradient(z, x)) == 12.0 and float(middle.gradient(z, x)) == 12.0
    assert float(outer.gradient(w, x)) == 4.0 and middle.gradient(w, x) is None
    assert not tg.tape.is_recording()  # every tape closed: nothing records any more


def test_reset_forgets_the_record_and_the_tape_can_be_used_again():
    x = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        y = x * x
        tape.reset()
        z = x * 5
    assert tape.gradient(y, x) is None  # y's record is gone
    assert float(tape.gradient(z, x)) == 5.0
    with tg.GradientTape() as tape:  # a non-persistent tape reset mid-block still answers once
        tape.reset()
        z = x * 5
    assert float(tape.gradient(z, x)) == 5.0


def test_tape_misuse_messages_name_the_problem():
    x = tg.Variable(1.0)
    tape = tg.GradientTape()
    with tape:
        with pytest.raises(RuntimeError, match="^this GradientTape is already open"):
            tape.__enter__()
        with pytest.raises(TypeError, match="^GradientTape.watch expects tensors, got str"):
            tape.watch("x")
        y = x * 2
    with pytest.raises(RuntimeError, match="^GradientTape.stop_recording.. needs the tape to be recording"):
        with tape.stop_recording():
            pass
    with pytest.raises(ValueError, match="^unconnected_gradients must be 'none' or 'zero', got 'bogus'"):
        tape.gradient(y, x, unconnected_gradients="bogus")
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="^A non-persistent GradientTape can only be used to compute one set"):
        tape.gradient(y, x)
