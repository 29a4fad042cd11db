"""Which class ``load_model`` finds for a saved custom layer (issue 20 gaps).

Keras 3's rules (``serialization_lib.deserialize_keras_object`` merges
``{**custom_objects, **scope, **registered}``, and
``object_registration.get_registered_object`` looks in the open
``custom_object_scope``, then the registry, then ``custom_objects``): an
outer ``custom_object_scope`` wins over ``load_model(custom_objects=...)``,
and a class registered as ``"package>Name"`` is found by that name before a
``custom_objects={"Name": ...}`` entry.  tapegrad also falls back to the
plain class name, so a file saved from a registered class loads where it is
not registered when ``custom_objects`` names it.
"""

import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers, serialization


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


class Scale(layers.Layer):
    """Multiplies by a constant: the factor tells which class was loaded."""

    factor = 2.0

    def call(self, x):
        return x * self.factor


class Triple(Scale):
    factor = 3.0


class Quadruple(Scale):
    factor = 4.0


def saved(tmp_path, layer_class, name="m.keras"):
    model = keras.Sequential([keras.Input((2,)), layer_class(name="scale")])
    model.save(tmp_path / name)
    return tmp_path / name


def loaded_factor(path, **kwargs):
    model = keras.models.load_model(path, **kwargs)
    out = model.predict(np.ones((1, 2), np.float32), verbose=0)
    return float(out[0, 0])


def test_an_outer_custom_object_scope_wins_over_load_models_custom_objects(tmp_path):
    path = saved(tmp_path, Scale)
    assert loaded_factor(path, custom_objects={"Scale": Scale}) == 2.0
    with keras.saving.custom_object_scope({"Scale": Triple}):
        assert loaded_factor(path) == 3.0
        assert loaded_factor(path, custom_objects={"Scale": Quadruple}) == 3.0   # the scope wins, as in Keras 3
    assert loaded_factor(path, custom_objects={"Scale": Quadruple}) == 4.0      # the scope is closed again


def test_a_registered_class_is_found_by_its_package_name_first(tmp_path):
    registered = keras.saving.register_keras_serializable(package="test_issue20")(
        type("Doubler", (Scale,), {"factor": 5.0}))
    try:
        path = saved(tmp_path, registered)
        assert loaded_factor(path) == 5.0
        assert loaded_factor(path, custom_objects={"Doubler": Triple}) == 5.0   # "test_issue20>Doubler" first
        assert loaded_factor(path, custom_objects={"test_issue20>Doubler": Quadruple}) == 5.0   # registry next
        # where the class is not registered (another process), custom_objects={"Doubler": ...} loads it
        del serialization._REGISTERED["test_issue20>Doubler"]
        assert loaded_factor(path, custom_objects={"Doubler": Triple}) == 3.0
        assert loaded_factor(path, custom_objects={"test_issue20>Doubler": Quadruple}) == 4.0
        with pytest.raises(ValueError, match="Doubler"):
            keras.models.load_model(path)
    finally:
        serialization._REGISTERED.pop("test_issue20>Doubler", None)
        serialization._NAMES.pop(registered, None)


def test_custom_object_scopes_belong_to_their_thread(tmp_path):
    path = saved(tmp_path, Scale)
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def hold_a_scope():
        with keras.saving.custom_object_scope({"Scale": Triple}):
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=hold_a_scope)
    holder.start()
    try:
        assert inside.wait(30)
        seen["other thread"] = loaded_factor(path, custom_objects={"Scale": Scale})
    finally:
        release.set()
        holder.join()
    assert seen["other thread"] == 2.0      # another thread's scope is not this thread's


# --------------------------------------------------------------- functions and the registry
def root_mean_error(y_true, y_pred):
    return tg.sqrt(tg.reduce_mean(tg.square(y_true - y_pred), axis=-1))


def test_a_function_serializes_by_name_and_comes_back_through_custom_objects():
    config = serialization.serialize_keras_object(root_mean_error)
    assert config == {"module": __name__, "class_name": "function", "config": "root_mean_error",
                      "registered_name": "root_mean_error"}
    assert serialization.deserialize_keras_object(config, "loss", {"root_mean_error": root_mean_error}) \
        is root_mean_error
    with pytest.raises(ValueError, match="root_mean_error"):
        serialization.deserialize_keras_object(config, "loss")
    # plain JSON values and containers pass through; a dict without class_name is a dict of values
    assert serialization.serialize_keras_object([1, "a", None, {"k": (2.5, True)}]) == \
        [1, "a", None, {"k": [2.5, True]}]
    assert serialization.deserialize_keras_object({"k": [1, {"x": None}]}, "layer") == {"k": [1, {"x": None}]}
    with pytest.raises(ValueError, match="not a serialized Keras object"):
        serialization.deserialize_keras_object(b"bytes", "layer")
    with pytest.raises(TypeError, match="no get_config"):
        serialization.serialize_keras_object(object())


def test_a_registered_function_round_trips_by_its_package_name(tmp_path):
    def scaled_mse(y_true, y_pred):
        return tg.reduce_mean(tg.square(y_true - y_pred), axis=-1) * 2.0
    registered = keras.saving.register_keras_serializable(package="test_issue20_fn")(scaled_mse)
    try:
        config = serialization.serialize_keras_object(registered)
        assert config["registered_name"] == "test_issue20_fn>scaled_mse"
        assert serialization.deserialize_keras_object(config, "loss") is registered
        model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss=registered)
        model.save(tmp_path / "f.keras")
        loaded = keras.models.load_model(tmp_path / "f.keras")
        x = np.arange(8, dtype=np.float32).reshape(4, 2) / 8
        y = np.ones((4, 1), np.float32)
        expected = 2.0 * np.mean((loaded.predict(x, verbose=0) - y) ** 2)
        assert loaded.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    finally:
        serialization._REGISTERED.pop("test_issue20_fn>scaled_mse", None)
        serialization._NAMES.pop(registered, None)


def test_registering_a_name_twice():
    def first(x):
        return x

    def second(x):
        return x
    decorate = keras.saving.register_keras_serializable(package="test_issue20_twice", name="f")
    try:
        assert decorate(first) is first
        assert decorate(first) is first          # the same object again: fine
        with pytest.raises(ValueError, match="test_issue20_twice>f has already been registered"):
            decorate(second)
        assert keras.saving.get_registered_object("test_issue20_twice>f") is first
        assert keras.saving.get_registered_name(first) == "test_issue20_twice>f"
        assert keras.saving.get_registered_name(second) == "second"
    finally:
        serialization._REGISTERED.pop("test_issue20_twice>f", None)
        serialization._NAMES.pop(first, None)
