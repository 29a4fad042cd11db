"""Graph walks are loops, not recursion: a functional chain of 1,500 layers
builds, saves, loads and predicts (Python's recursion limit is 1,000)."""

import numpy as np

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers

DEPTH = 1500


def test_a_chain_of_1500_layers_builds_saves_loads_and_predicts(tmp_path):
    tg.random.set_seed(0)
    inputs = keras.Input(shape=(3,))
    x = inputs
    for i in range(DEPTH):
        x = layers.Dense(3, name=f"d{i}", bias_initializer="random_uniform")(x) if i % 500 == 0 \
            else layers.Dropout(0.5, name=f"drop{i}")(x)
    model = keras.Model(inputs, x)
    assert len(model.layers) == DEPTH + 1
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = data.astype(np.float64)   # the three Dense layers in NumPy; dropout is off in predict
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            kernel, bias = layer.get_weights()
            expected = expected @ kernel + bias
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5)
    path = tmp_path / "deep.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-5)
    again = type(model).from_config(model.get_config())
    assert len(again.layers) == DEPTH + 1


def test_a_diamond_graph_runs_each_node_once_after_its_parents():
    from tapegrad.keras.node import nodes_between
    inputs = keras.Input(shape=(2,), name="in")
    left = layers.Dense(2, name="left")(inputs)
    right = layers.Dense(2, name="right")(inputs)
    joined = layers.Add(name="join")([left, right])
    top = layers.Dense(1, name="top")(joined)
    nodes = nodes_between([inputs], [top, joined])
    names = [node.layer.name for node in nodes]
    assert sorted(names) == ["join", "left", "right", "top"] and len(names) == 4
    assert names.index("join") > max(names.index("left"), names.index("right"))
    assert names.index("top") > names.index("join")
    assert nodes_between([inputs], [inputs]) == []                 # an output that is an input: no node
    model = keras.Model(inputs, top)
    x = np.array([[1.0, 2.0]], np.float32)
    (kl, bl), (kr, br), (kt, bt) = (model.get_layer(n).get_weights() for n in ("left", "right", "top"))
    np.testing.assert_allclose(model.predict(x, verbose=0), ((x @ kl + bl) + (x @ kr + br)) @ kt + bt, rtol=1e-5)


def test_bad_graph_walks_fail_clearly():
    import pytest
    from tapegrad.keras.node import KerasTensor, nodes_between
    inputs = keras.Input(shape=(2,))
    first = layers.Dense(2, name="first_of_cycle")(inputs)
    second = layers.Dense(2, name="second_of_cycle")(first)
    first.node.input_tensors = [second]                           # forge a cycle: first <- second <- first
    with pytest.raises(ValueError, match="cycle through layer 'second_of_cycle'"):
        nodes_between([inputs], [second])
    with pytest.raises(ValueError, match="was not made by a Keras layer"):
        nodes_between([inputs], [KerasTensor((None, 2))])
    with pytest.raises(TypeError, match="outputs must be KerasTensors"):
        nodes_between([inputs], [np.zeros((1, 2))])
    given, missing = keras.Input(shape=(2,), name="given_in"), keras.Input(shape=(2,), name="missing_in")
    out = layers.Add(name="sum")([given, missing])
    with pytest.raises(ValueError, match=r"Graph disconnected: cannot reach 'sum' from the model's inputs "
                                         r"\['given_in'\]: it depends on the input 'missing_in'"):
        keras.Model(given, out)


def test_a_model_input_can_also_be_an_output():
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, [inputs, layers.Dense(1, name="after_input")(inputs)])
    assert [node.layer.name for node in model._nodes] == ["after_input"]
    x = np.array([[1.0, 2.0]], np.float32)
    same, dense = model.predict(x, verbose=0)
    k, b = model.get_layer("after_input").get_weights()
    np.testing.assert_array_equal(same, x)
    np.testing.assert_allclose(dense, x @ k + b, rtol=1e-6)
