"""Metric state: the base class holds none, Mean / Sum / accuracies hold theirs
(issue 20, failures 4 and 10, and the BinaryAccuracy / weighted Mean gaps).

Expected values are Keras 3's documented ones (its docstrings) or NumPy
formulas of what Keras computes (``reduce_to_samplewise_values``: each
sample's values are averaged, then ``sum(w * x) / sum(w)`` over samples).
"""

import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers, metrics


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


class RootMeanSquaredError(keras.metrics.Metric):
    """The book-style custom metric, naming its weights ``total`` and ``count``."""

    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        err = np.asarray(y_true, np.float32).reshape(-1) - y_pred.numpy().reshape(-1)
        self.total.assign_add(np.float32((err ** 2).sum()))
        self.count.assign_add(np.float32(err.size))

    def result(self):
        return tg.sqrt(self.total / self.count)


def test_a_metric_subclass_may_name_its_weights_total_and_count():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32)).reshape(-1, 1)
    tg.random.set_seed(1)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    rmse = RootMeanSquaredError()
    model.compile(optimizer="sgd", loss="mse", metrics=[rmse])
    assert [v.name.split(":")[0] for v in rmse.variables] == ["rmse/total", "rmse/count"]
    _, value = model.evaluate(x, y, batch_size=16, verbose=0)
    expected = np.sqrt(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert value == pytest.approx(expected, rel=1e-5)
    rmse.reset_state()                        # the base reset_state zeroes every weight
    assert float(rmse.total.numpy()) == 0 and float(rmse.count.numpy()) == 0


def test_the_base_metric_holds_no_state():
    base = keras.metrics.Metric(name="m")
    assert not hasattr(base, "total") and not hasattr(base, "count") and base.variables == []
    with pytest.raises(NotImplementedError):
        base.result()
    assert repr(base) == "<Metric name='m'>"


# --------------------------------------------------------------- Keras's documented values
def test_mean_and_sum_docstring_values():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == pytest.approx(4.0)
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(2.0)
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7])
    assert s.result() == pytest.approx(16.0)
    s.reset_state()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert s.result() == pytest.approx(4.0)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_weighted_mean_whose_weights_do_not_sum_to_the_count(as_tensor):
    rng = np.random.default_rng(2)
    values = rng.normal(size=(7, 3))
    weights = rng.uniform(0.1, 3.0, size=7)         # sums to anything but 7 or 21
    m = metrics.Mean()
    m.update_state(tg.constant(values) if as_tensor else values, sample_weight=weights)
    per_sample = values.mean(axis=1)
    assert m.result() == pytest.approx((weights * per_sample).sum() / weights.sum(), rel=1e-9)
    assert m.count == pytest.approx(weights.sum())
    # a second batch: the running result is over all weighted samples
    more, more_w = rng.normal(size=(2, 3)), np.array([0.25, 0.5])
    m.update_state(more, sample_weight=more_w)
    allw = np.concatenate([weights, more_w])
    allx = np.concatenate([per_sample, more.mean(axis=1)])
    assert m.result() == pytest.approx((allw * allx).sum() / allw.sum(), rel=1e-9)


def test_mean_of_tensors_counts_samples_like_keras():
    m = metrics.Mean()
    m.update_state(tg.constant(np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)))   # per-sample means 1.5, 4
    m.update_state(tg.constant(np.array([10.0], np.float32)), sample_weight=3.0)   # 10 weighted 3
    assert m.count == pytest.approx(5.0)
    assert m.result() == pytest.approx((1.5 + 4 + 30) / 5)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_binary_accuracy_honours_its_threshold(threshold):
    rng = np.random.default_rng(3)
    y_pred = rng.uniform(size=(50, 1))
    y_true = rng.integers(0, 2, size=(50, 1))
    m = metrics.BinaryAccuracy(threshold=threshold)
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(np.mean((y_pred > threshold) == y_true))
    rebuilt = metrics.deserialize(metrics.serialize(m))
    assert rebuilt.threshold == threshold
    # Keras's docstring: threshold 0.5 by default, sample weights honoured
    k = metrics.BinaryAccuracy()
    k.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert k.result() == pytest.approx(0.5)


def test_binary_accuracy_threshold_in_fit_metrics():
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(-1, 1)
    y = (x > 0).astype(np.float32)
    tg.random.set_seed(0)
    model = keras.Sequential([keras.Input((1,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[metrics.BinaryAccuracy(name="strict", threshold=0.9)])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs["strict"] == pytest.approx(np.mean((p > 0.9) == y))


# --------------------------------------------------------------- per-call state (threads)
def _evaluation_sets(seed=0, count=60):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(int(n), 5)).astype(np.float32), rng.integers(0, 3, int(n)))
            for n in rng.integers(20, 120, count)]


def _classifier():
    tg.random.set_seed(0)
    model = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseCategoricalAccuracy(name="acc2")])
    return model


def _in_threads(fn, count, threads=4):
    results = [None] * count
    errors = []

    def work(first):
        try:
            for i in range(first, count, threads):
                results[i] = fn(i)
        except BaseException as exc:   # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    return results


def test_threads_evaluating_one_model_do_not_mix_metric_state():
    model = _classifier()
    sets = _evaluation_sets()
    single = [model.evaluate(x, y, batch_size=16, verbose=0) for x, y in sets]
    threaded = _in_threads(lambda i: model.evaluate(*sets[i], batch_size=16, verbose=0), len(sets))
    differ = [i for i, (a, b) in enumerate(zip(single, threaded)) if not np.allclose(a, b, rtol=1e-6)]
    assert differ == []
    # after a call, the metrics hold that call's values (as after a Keras evaluate)
    x, y = sets[0]
    loss, acc, _ = model.evaluate(x, y, batch_size=16, verbose=0)
    assert model.metrics[0].result() == pytest.approx(loss)
    p = model.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(np.argmax(p, axis=1) == y))


def test_threads_predicting_and_evaluating_one_model():
    model = _classifier()
    sets = _evaluation_sets(seed=1, count=24)
    single = [(model.evaluate(x, y, batch_size=16, verbose=0), model.predict(x, batch_size=16, verbose=0))
              for x, y in sets]
    threaded = _in_threads(lambda i: (model.evaluate(*sets[i], batch_size=16, verbose=0),
                                      model.predict(sets[i][0], batch_size=16, verbose=0)), len(sets))
    for (e1, p1), (e2, p2) in zip(single, threaded):
        np.testing.assert_allclose(e1, e2, rtol=1e-6)
        np.testing.assert_allclose(p1, p2, rtol=1e-6)


def test_threads_with_a_custom_state_metric_take_turns():
    tg.random.set_seed(0)
    model = keras.Sequential([keras.Input((5,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[RootMeanSquaredError()])
    rng = np.random.default_rng(4)
    sets = [(rng.normal(size=(int(n), 5)).astype(np.float32), rng.normal(size=(int(n), 1)).astype(np.float32))
            for n in rng.integers(10, 60, 16)]
    single = [model.evaluate(x, y, batch_size=8, verbose=0) for x, y in sets]
    threaded = _in_threads(lambda i: model.evaluate(*sets[i], batch_size=8, verbose=0), len(sets))
    np.testing.assert_allclose(single, threaded, rtol=1e-5)
