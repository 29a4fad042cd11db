"""Keras's documented behaviour of graphs in training: ``training=`` given at a
graph call, ``get_layer``, frozen layers and nested models, and a shared
layer's node indices through save/load.  Chapter 8's fine-tuning depends on
the frozen nested model and on ``base(x, training=False)``."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers


class TrainingSpy(layers.Layer):
    """Identity that remembers the ``training`` flag of each call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training=False):
        self.seen.append(training)
        return x


def _regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]


# ------------------------------------------------------------------ training= at a graph call
def test_monte_carlo_dropout_stays_on_in_predict():
    tg.random.set_seed(0)
    inputs = keras.Input(shape=(1000,))
    outputs = layers.Dropout(0.5)(inputs, training=True)
    model = keras.Model(inputs, outputs)
    out = model.predict(np.ones((2, 1000), np.float32), verbose=0)
    kept = out != 0
    assert set(np.unique(out)) == {0.0, 2.0}             # inverted dropout: kept inputs scaled by 1/(1-0.5)
    assert 0.4 < kept.mean() < 0.6
    again = model.predict(np.ones((2, 1000), np.float32), verbose=0)
    assert (again != out).any()                          # a new mask on each call


def test_an_explicit_training_false_wins_over_fit():
    spy = TrainingSpy()
    base_in = keras.Input(shape=(4,))
    base = keras.Model(base_in, spy(base_in))
    free_spy = TrainingSpy()
    inputs = keras.Input(shape=(4,))
    features = base(inputs, training=False)                # the base in inference mode, as chapter 8
    outputs = layers.Dense(1)(free_spy(features))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)   # the spies count Python calls: every step
    spy.seen.clear(), free_spy.seen.clear()
    x, y = _regression_data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert spy.seen == [False] * 4                          # 4 steps, all in inference mode
    assert free_spy.seen == [True] * 4                      # the layer without training= follows fit


def test_training_none_at_a_graph_call_follows_the_outer_call():
    spy = TrainingSpy()
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, spy(inputs))
    spy.seen.clear()
    model(np.ones((1, 4), np.float32), training=True)
    model(np.ones((1, 4), np.float32), training=False)
    model.predict(np.ones((1, 4), np.float32), verbose=0)
    assert spy.seen == [True, False, False]


# ------------------------------------------------------------------ get_layer
def test_get_layer_matches_the_exact_name_only():
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(3, name="dense_block_1")(inputs)
    outputs = layers.Dense(1, name="dense")(x)
    model = keras.Model(inputs, outputs)
    assert model.get_layer("dense") is model.layers[-1]
    assert model.get_layer("dense_block_1") is model.layers[1]
    with pytest.raises(ValueError, match="No such layer: dense_block"):
        model.get_layer("dense_block")
    with pytest.raises(ValueError):
        model.get_layer("Dense")


# ------------------------------------------------------------------ frozen layers and nested models
def _fine_tuning_model():
    tg.random.set_seed(3)
    base = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(8)],
                            name="base")
    inputs = keras.Input(shape=(4,))
    outputs = layers.Dense(1, name="head")(base(inputs, training=False))
    return base, keras.Model(inputs, outputs)


def test_a_frozen_nested_model_is_not_trained():
    base, model = _fine_tuning_model()
    base.trainable = False
    head = model.get_layer("head")
    assert [id(w) for w in model.trainable_weights] == [id(head.kernel), id(head.bias)]
    assert model.trainable_variables == model.trainable_weights and base.trainable_variables == []
    assert {id(w) for w in model.non_trainable_weights} == {id(w) for w in base.weights}
    assert all(not layer.trainable for layer in base.layers)     # Keras sets it on every sublayer
    before = [w.numpy().copy() for w in base.weights]
    head_before = head.kernel.numpy().copy()
    model.compile(optimizer="adam", loss="mse")
    x, y = _regression_data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for w, b in zip(base.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)               # bit for bit
    assert not np.array_equal(head.kernel.numpy(), head_before)


def test_unfreezing_the_base_then_freezing_its_first_layers_as_chapter_8():
    base, model = _fine_tuning_model()
    base.trainable = False
    base.trainable = True                                         # every sublayer trainable again
    assert all(layer.trainable for layer in base.layers)
    base.layers[0].trainable = False                              # conv_base.layers[:-4]: frozen
    first, second = base.layers
    trainable = {id(w) for w in model.trainable_weights}
    assert trainable == {id(w) for w in (*second.weights, *model.get_layer("head").weights)}
    assert {id(w) for w in model.non_trainable_weights} == {id(w) for w in first.weights}
    before = first.get_weights()
    second_before = second.get_weights()
    model.compile(optimizer="sgd", loss="mse")
    x, y = _regression_data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for w, b in zip(first.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert any(not np.array_equal(w, b) for w, b in zip(second.get_weights(), second_before))


def test_a_frozen_layer_weights_and_counts():
    layer = layers.Dense(3)
    layer.build((None, 2))
    assert layer.trainable_weights == [layer.kernel, layer.bias] and layer.non_trainable_weights == []
    layer.trainable = False
    assert layer.trainable_weights == [] and layer.non_trainable_weights == [layer.kernel, layer.bias]
    assert not layer.kernel.trainable                             # a tape no longer watches it
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(layer(np.ones((1, 2), np.float32)))
    assert tape.gradient(y, layer.kernel) is None
    layer.trainable = True
    assert layer.trainable_weights == [layer.kernel, layer.bias] and layer.kernel.trainable
    state = layers.Layer()
    counter = state.add_weight(shape=(), initializer="zeros", trainable=False)
    state.trainable = True                                        # a weight made non-trainable stays so
    assert state.trainable_weights == [] and state.non_trainable_weights == [counter]


def test_a_frozen_layer_keeps_its_flag_through_save_and_load(tmp_path):
    base, model = _fine_tuning_model()
    base.trainable = False
    path = tmp_path / "frozen.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.trainable_weights) == 2 and len(loaded.non_trainable_weights) == 4


# ------------------------------------------------------------------ node indices through save/load
def test_a_model_built_from_a_layers_second_call_saves_and_loads(tmp_path):
    tg.random.set_seed(4)
    shared = layers.Dense(2, name="shared")
    first_in = keras.Input(shape=(3,), name="first_in")
    first_model = keras.Model(first_in, shared(first_in))             # node 0 of `shared`
    second_in = keras.Input(shape=(3,), name="second_in")
    outputs = layers.Dense(1, name="after")(shared(second_in))        # node 1 of `shared`
    model = keras.Model(second_in, outputs)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    k, b = shared.get_weights()
    k2, b2 = model.get_layer("after").get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), (x @ k + b) @ k2 + b2, rtol=1e-5)
    path = tmp_path / "second_call.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == ["second_in", "shared", "after"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert len(loaded.get_layer("shared")._inbound_nodes) == 1
    assert first_model.predict(x, verbose=0).shape == (5, 2)


def test_a_layer_called_twice_in_one_model_saves_and_loads(tmp_path):
    tg.random.set_seed(5)
    shared = layers.Dense(2, name="twin")
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    outputs = layers.Concatenate(name="both")([shared(a), shared(b)])
    model = keras.Model([a, b], outputs)
    xa, xb = np.ones((2, 3), np.float32), np.arange(6, dtype=np.float32).reshape(2, 3)
    k, bias = shared.get_weights()
    expected = np.concatenate([xa @ k + bias, xb @ k + bias], axis=1)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, rtol=1e-5)
    config = model.get_config()
    twin = next(c for c in config["layers"] if c["name"] == "twin")
    histories = [node["args"][0]["config"]["keras_history"] for node in twin["inbound_nodes"]]
    assert histories == [["a", 0, 0], ["b", 0, 0]]
    both = next(c for c in config["layers"] if c["name"] == "both")
    assert [t["config"]["keras_history"] for t in both["inbound_nodes"][0]["args"][0]] == [["twin", 0, 0],
                                                                                              ["twin", 1, 0]]
    path = tmp_path / "twice.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict([xa, xb], verbose=0), expected, rtol=1e-5)
    loaded_twin = loaded.get_layer("twin")
    assert len(loaded_twin._inbound_nodes) == 2


def test_the_semantics_page_runs():
    """docs/tape-and-graph-semantics.md's blocks run in one namespace and check their claims."""
    import re
    from pathlib import Path
    page = Path(__file__).resolve().parents[2] / "docs" / "tape-and-graph-semantics.md"
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)


def test_model_from_config_rebuilds_a_functional_config():
    """keras.Model.from_config(functional.get_config()) gives the graph back (Keras 3's Model.from_config)."""
    inputs = keras.Input(shape=(3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="out")(inputs))
    again = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in again.layers] == ["x", "out"] and again.output_shape == (None, 2)
