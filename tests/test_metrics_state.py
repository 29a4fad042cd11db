"""Metric state: the base class holds none, Mean / Sum / accuracies hold theirs
(issue 20, failures 4 and 10, and the BinaryAccuracy / weighted Mean gaps).

Expected values are Keras 3's documented ones (its docstrings) or NumPy
formulas of what Keras computes (``reduce_to_samplewise_values``: each
sample's values are averaged, then ``sum(w * x) / sum(w)`` over samples).
"""

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
