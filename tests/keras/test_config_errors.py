"""Loading a .keras file whose config.json is malformed, and the custom-object
lookup rules (issue 20, failure 7 and the custom_objects gaps).

A hostile or damaged ``config.json`` (wrong types, missing keys, a layer
calling itself, deep nesting) must give a ``ValueError`` that names the file,
never a ``TypeError``, ``IndexError`` or ``RecursionError`` from inside the
loader.  The fuzz cases are seeded.
"""

import copy
import json
import random
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers, saving


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


def functional_file(path):
    tg.random.set_seed(0)
    inputs = keras.Input((4,))
    hidden = layers.Dense(5, activation="relu")(inputs)
    outputs = layers.Dense(2)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.save(path)
    return model


def sequential_file(path):
    tg.random.set_seed(0)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse")
    model.save(path)
    return model


def rewrite_config(source, target, config_text):
    """A copy of the .keras file ``source`` with another config.json."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, config_text if name == "config.json" else old.read(name))


def expect_value_error_naming(path, what=None):
    with pytest.raises(ValueError) as info:
        keras.models.load_model(path)
    assert str(path) in str(info.value)
    if what is not None:
        assert what in str(info.value)
    return info.value


def _paths(node, prefix=()):
    """Every (path, value) inside a JSON value."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _set(root, path, value):
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


def _delete(root, path):
    for key in path[:-1]:
        root = root[key]
    del root[path[-1]]


ODD_VALUES = [None, True, 0, -1, 7, 2.5, "", "x", "dense", [], [None], [1, 2], {}, {"a": 1},
              {"class_name": 3, "config": []}, {"class_name": "Dense", "config": None}, ["dense", "0", 0]]


@pytest.mark.parametrize("maker", [functional_file, sequential_file])
def test_fuzzed_config_gives_value_errors_naming_the_file(tmp_path, maker):
    source = tmp_path / "model.keras"
    maker(source)
    with zipfile.ZipFile(source) as archive:
        original = json.loads(archive.read("config.json"))
    rng = random.Random(20)
    outcomes = {"loaded": 0, "ValueError": 0}
    for trial in range(120):
        config = copy.deepcopy(original)
        paths = [p for p, _ in _paths(config) if p]
        path = rng.choice(paths)
        if rng.random() < 0.3:
            _delete(config, path)
        else:
            _set(config, path, copy.deepcopy(rng.choice(ODD_VALUES)))
        target = tmp_path / f"fuzz-{trial}.keras"
        rewrite_config(source, target, json.dumps(config))
        try:
            keras.models.load_model(target)
            outcomes["loaded"] += 1          # a harmless change (a name, a flag)
        except ValueError as exc:
            assert str(target) in str(exc), (path, exc)
            outcomes["ValueError"] += 1
        # any other exception fails the test, with the mutated path in the traceback
    assert outcomes["ValueError"] > 40


def test_wrong_top_level_types(tmp_path):
    source = tmp_path / "model.keras"
    functional_file(source)
    for i, text in enumerate(["[]", "3", '"model"', "null", '{"class_name": "Functional"}',
                              '{"class_name": ["Functional"], "config": {}}',
                              '{"class_name": "Functional", "config": []}',
                              '{"class_name": "Functional", "config": {"layers": 5}}']):
        target = tmp_path / f"top-{i}.keras"
        rewrite_config(source, target, text)
        expect_value_error_naming(target)


def test_a_layer_calling_itself_is_a_value_error(tmp_path):
    source = tmp_path / "model.keras"
    functional_file(source)
    with zipfile.ZipFile(source) as archive:
        config = json.loads(archive.read("config.json"))
    dense = config["config"]["layers"][1]
    dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["dense", 0, 0]   # its own output
    target = tmp_path / "self.keras"
    rewrite_config(source, target, json.dumps(config))
    expect_value_error_naming(target)
    # two layers calling each other
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["dense_1", 0, 0]
    target = tmp_path / "cycle.keras"
    rewrite_config(source, target, json.dumps(config))
    expect_value_error_naming(target)


def test_deeply_nested_config_is_a_value_error(tmp_path):
    source = tmp_path / "model.keras"
    sequential_file(source)
    deep = "[" * 200_000 + "]" * 200_000
    target = tmp_path / "deep.keras"
    rewrite_config(source, target, deep)
    expect_value_error_naming(target)
    with zipfile.ZipFile(source) as archive:
        config = json.loads(archive.read("config.json"))
    levels = 5000   # parses (json's own limit is higher), then nests deeper than any model
    nested = ('{"class_name": "Dense", "config": {"units": 1, "kernel_initializer": ' * levels
              + '"zeros"' + "}}" * levels)
    config["config"]["layers"][1] = "NESTED"
    target = tmp_path / "nested.keras"
    rewrite_config(source, target, json.dumps(config).replace('"NESTED"', nested))
    expect_value_error_naming(target)


def test_not_json_and_not_utf8(tmp_path):
    source = tmp_path / "model.keras"
    sequential_file(source)
    for i, text in enumerate([b"{", b"\xff\xfe{}", b"{'single': 'quotes'}"]):
        target = tmp_path / f"bad-{i}.keras"
        rewrite_config(source, target, text)
        expect_value_error_naming(target, "config.json")
