"""model.save / keras.models.load_model, get_config / from_config, and keras.utils.plot_model.

A saved-and-loaded model is compared with the model that was saved: the same
predictions bit for bit, and, after one more seeded epoch on both, the same
weights bit for bit (the numpy backend; the optimizer's step count and state
arrays come back with the file, so Adam's bias correction and RMSprop's
accumulators continue where they were).  The drawings are checked by parsing
the DOT text for its boxes and edges, and by Graphviz producing the files.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile

import numpy as np
import pytest

import tapegrad
import tapegrad.kernels as K
from tapegrad import keras
from tapegrad.keras import layers


@pytest.fixture(autouse=True)
def numpy_backend():
    with K.use("numpy"):
        yield


def _data(n=96, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, features), dtype=np.float32), rng.integers(0, classes, n)


def _functional(optimizer="adam"):
    inputs = keras.Input(shape=(8,), name="features")
    hidden = layers.Dense(16, activation="relu", name="hidden", kernel_regularizer=keras.regularizers.l2(1e-3))(inputs)
    hidden = layers.Dropout(0.25, name="dropout")(hidden)
    outputs = layers.Dense(3, activation="softmax", name="classes")(hidden)
    model = keras.Model(inputs, outputs, name="classifier")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _continues_identically(model, loaded, x, y, batch_size=16):
    """One more seeded epoch on both: exactly the same weights afterwards."""
    keras.utils.set_random_seed(7)
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    keras.utils.set_random_seed(7)
    loaded.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", keras.optimizers.SGD(0.05, momentum=0.9)])
def test_functional_model_round_trip_predicts_and_trains_identically(tmp_path, optimizer):
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _functional(optimizer)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.name == "classifier"
    assert [layer.name for layer in loaded.layers] == ["features", "hidden", "dropout", "classes"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    assert loaded.get_layer("hidden").kernel_regularizer.get_config() == {"l2": 1e-3}
    _continues_identically(model, loaded, x, y)


def test_without_the_optimizer_state_training_diverges(tmp_path):
    """The control for the test above: a fresh optimizer (compile=False, then compile)
    does not continue identically, so restoring the state is what made them equal."""
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _functional("adam")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert loaded.optimizer is None
    loaded.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(AssertionError):
        _continues_identically(model, loaded, x, y)


def test_the_file_is_a_zip_of_readable_json_weights_and_optimizer_state(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _functional("rmsprop")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.npz", "optimizer.npz"]
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        archive.extract("optimizer.npz", tmp_path)
    assert metadata["tapegrad_version"] == tapegrad.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d", metadata["date_saved"])
    assert config["class_name"] == "Functional"
    by_name = {layer["name"]: layer for layer in config["config"]["layers"]}
    hidden = by_name["hidden"]
    assert hidden["class_name"] == "Dense"
    assert hidden["config"]["units"] == 16 and hidden["config"]["activation"] == "relu"
    assert hidden["config"]["kernel_initializer"] == "glorot_uniform"
    assert hidden["config"]["kernel_regularizer"] == {"module": "tapegrad.keras.regularizers", "class_name": "L2",
                                                     "config": {"l2": 1e-3}, "registered_name": "L2"}
    assert by_name["dropout"]["config"]["rate"] == 0.25
    assert by_name["features"]["config"]["batch_shape"] == [None, 8]
    # connectivity: dropout reads hidden's first output, as Keras records inbound nodes
    (node,) = by_name["dropout"]["inbound_nodes"]
    assert node["args"][0]["config"]["keras_history"] == ["hidden", 0, 0]
    assert config["config"]["input_layers"] == ["features", 0, 0]
    assert config["config"]["output_layers"] == ["classes", 0, 0]
    compiled = config["compile_config"]
    assert compiled["optimizer"]["class_name"] == "RMSprop"
    assert compiled["optimizer"]["config"]["rho"] == 0.9
    assert compiled["loss"] == "sparse_categorical_crossentropy" and compiled["metrics"] == ["accuracy"]
    # the optimizer state: 2 steps, one RMSprop accumulator per weight, equal to the optimizer's own
    state = np.load(tmp_path / "optimizer.npz")
    assert int(state["iterations"]) == 3 and state["has_state"].tolist() == [True] * 4
    iterations, slots = model.optimizer.export_state(model.weights)
    for i, (accumulator,) in enumerate(slots):
        np.testing.assert_array_equal(state[f"slot_{i:04d}_0"], accumulator)
        assert accumulator.any()


def test_sequential_and_multi_io_and_nested_models_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    seq = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(4, activation="tanh"), layers.Dense(2)],
                           name="seq")
    seq.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, _ = _data()
    seq.fit(x, np.ones((len(x), 2), np.float32), epochs=1, verbose=0)
    seq.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    assert isinstance(loaded, keras.Sequential) and len(loaded.layers) == 2
    np.testing.assert_array_equal(seq.predict(x, verbose=0), loaded.predict(x, verbose=0))

    # two inputs (a dict), two outputs, a shared layer called twice, and `seq` used as a layer
    title, body = keras.Input(shape=(8,), name="title"), keras.Input(shape=(8,), name="body")
    shared = layers.Dense(8, activation="relu", name="shared")
    merged = layers.Concatenate(name="concat")([shared(title), shared(body)])
    summed = layers.Add(name="add")([seq(title), layers.Dense(2, name="side")(merged)])
    priority = layers.Dense(1, activation="sigmoid", name="priority")(summed)
    department = layers.Dense(3, activation="softmax", name="department")(layers.Flatten(name="flat")(merged))
    model = keras.Model({"title": title, "body": body}, [priority, department])
    model.compile(optimizer="adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"],
                  metrics=[[], ["accuracy"]], loss_weights=[0.5, 1.0])
    data = {"title": x, "body": x[::-1].copy()}
    targets = [np.random.default_rng(0).integers(0, 2, (len(x), 1)).astype(np.float32), _data()[1]]
    model.fit(data, targets, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "multi.keras")
    loaded = keras.models.load_model(tmp_path / "multi.keras")
    for a, b in zip(model.predict(data, verbose=0), loaded.predict(data, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert isinstance(loaded.get_layer("seq"), keras.Sequential)
    assert loaded.evaluate(data, targets, verbose=0, return_dict=True) == \
        model.evaluate(data, targets, verbose=0, return_dict=True)
    _continues_identically(model, loaded, data, targets, batch_size=32)


@keras.saving.register_keras_serializable(package="tests")
class TwoLayer(keras.Model):
    def __init__(self, hidden=8, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.classes = hidden, classes
        self.dense = layers.Dense(hidden, activation="relu")
        self.out = layers.Dense(classes, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.dense(inputs))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "classes": self.classes}


class Unregistered(TwoLayer):
    pass


class NoConfig(keras.Model):
    def __init__(self, units):
        super().__init__()
        self.dense = layers.Dense(units)

    def call(self, inputs):
        return self.dense(inputs)


def test_subclassed_model_with_get_config_round_trips(tmp_path):
    keras.utils.set_random_seed(2)
    x, y = _data()
    model = TwoLayer(hidden=12, name="two")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "sub.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "sub.keras").read("config.json"))
    assert config["registered_name"] == "tests>TwoLayer"
    assert config["config"] == {"name": "two", "trainable": True, "hidden": 12, "classes": 3}
    assert config["build_config"] == {"input_shape": [None, 8]}
    loaded = keras.models.load_model(tmp_path / "sub.keras")
    assert type(loaded) is TwoLayer and loaded.hidden == 12
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    _continues_identically(model, loaded, x, y)


def test_unregistered_subclass_needs_custom_objects(tmp_path):
    keras.utils.set_random_seed(3)
    x, _ = _data()
    model = Unregistered(hidden=5)
    model(x)
    model.save(tmp_path / "u.keras")
    with pytest.raises(ValueError, match=r"Could not locate class 'Unregistered'.*custom_objects"):
        keras.models.load_model(tmp_path / "u.keras")
    loaded = keras.models.load_model(tmp_path / "u.keras", custom_objects={"Unregistered": Unregistered})
    assert type(loaded) is Unregistered
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_subclass_without_get_config_gets_keras_error_at_save(tmp_path):
    model = NoConfig(4)
    model(np.zeros((2, 3), np.float32))
    with pytest.raises(NotImplementedError, match=r"NoConfig has arguments \['units'\].*must override `get_config"):
        model.save(tmp_path / "n.keras")
    assert not (tmp_path / "n.keras").exists()


def test_bad_files_are_clear_value_errors(tmp_path):
    model = _functional()
    model.save(tmp_path / "good.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="not a .keras zip file"):
        keras.models.load_model(tmp_path / "text.keras")
    with pytest.raises(ValueError, match="File not found"):
        keras.models.load_model(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="must end in '.keras'"):
        keras.models.load_model(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="must end in '.keras'"):
        model.save(tmp_path / "m.npz")
    for member in ("config.json", "model.weights.npz"):
        with zipfile.ZipFile(tmp_path / "good.keras") as src, \
                zipfile.ZipFile(tmp_path / "partial.keras", "w") as dst:
            for name in src.namelist():
                if name != member:
                    dst.writestr(name, src.read(name))
        with pytest.raises(ValueError, match=f"has no {member}"):
            keras.models.load_model(tmp_path / "partial.keras")
    # a renamed class: unknown without custom_objects
    with zipfile.ZipFile(tmp_path / "good.keras") as src, zipfile.ZipFile(tmp_path / "alien.keras", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                data = data.replace(b'"class_name": "Dense"', b'"class_name": "Alien"')
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="Could not locate class 'Alien'"):
        keras.models.load_model(tmp_path / "alien.keras")


def test_a_forged_weights_header_is_rejected_by_load_weights_checks(tmp_path):
    """The weights member is read by load_weights' code: arrays of the wrong shape fail before any is set."""
    model = _functional()
    model.save(tmp_path / "good.keras")
    other = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(17, name="hidden"), layers.Dense(3)])
    other.save(tmp_path / "other.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as src, zipfile.ZipFile(tmp_path / "other.keras") as donor, \
            zipfile.ZipFile(tmp_path / "mixed.keras", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, donor.read(name) if name == "model.weights.npz" else src.read(name))
    with pytest.raises(ValueError, match=r"load_weights: array 0 \(hidden/kernel.*has shape \(8, 17\).*expects shape \(8, 16\)"):
        keras.models.load_model(tmp_path / "mixed.keras")


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    model = _functional()
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    bad = NoConfig(2)
    bad(np.zeros((1, 2), np.float32))
    with pytest.raises(NotImplementedError):
        bad.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]   # no temp file left


def test_configs_of_layers_optimizers_losses_metrics_round_trip():
    dense = layers.Dense(5, activation="sigmoid", use_bias=False, kernel_initializer="he_normal",
                         bias_regularizer=keras.regularizers.l1_l2(0.1, 0.2), name="d5")
    for layer in (dense, layers.Dropout(0.3, seed=4, name="drop"), layers.Flatten(name="f"),
                  layers.Concatenate(axis=1, name="c"), layers.Add(name="a")):
        again = layers.deserialize(layers.serialize(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config()
    assert dense.get_config()["activation"] == "sigmoid"
    for opt in (keras.optimizers.SGD(0.1, momentum=0.5, nesterov=True), keras.optimizers.RMSprop(0.01, rho=0.8),
                keras.optimizers.Adam(0.002, beta_1=0.8)):
        again = keras.optimizers.get(keras.optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config() and again is not opt
    loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    again = keras.losses.get(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    metric = keras.metrics.BinaryAccuracy(name="acc", threshold=0.3)
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(again) is keras.metrics.BinaryAccuracy and again.threshold == 0.3 and again.name == "acc"


def test_model_checkpoint_inside_fit_saves_a_loadable_best_model(tmp_path):
    keras.utils.set_random_seed(4)
    x, y = _data(128)
    model = _functional("rmsprop")
    best = {}

    class Remember(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < best.get("val_loss", np.inf):
                best.update(val_loss=logs["val_loss"], weights=self.model.get_weights())

    path = tmp_path / "best.keras"
    model.fit(x[:96], y[:96], epochs=4, batch_size=16, validation_data=(x[96:], y[96:]), verbose=0,
              callbacks=[Remember(), keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)])
    loaded = keras.models.load_model(path)
    for a, b in zip(loaded.get_weights(), best["weights"]):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x[96:], y[96:], verbose=0)[0] == pytest.approx(best["val_loss"], rel=1e-6)


# ------------------------------------------------------------------ plot_model
def _parse_dot(text):
    """Boxes (id -> label) and edges (label pairs) of model_to_dot's output."""
    boxes = dict(re.findall(r'^\s*(layer\d+) \[label="([^"]*)"\];$', text, re.M))
    edges = re.findall(r"^\s*(layer\d+) -> (layer\d+);$", text, re.M)
    first = {box: label.split("\\n")[0] for box, label in boxes.items()}
    return first, [(first[a], first[b]) for a, b in edges], boxes


def _multi_model():
    title, body = keras.Input(shape=(4,), name="title"), keras.Input(shape=(4,), name="body")
    shared = layers.Dense(4, name="shared")
    inner_in = keras.Input(shape=(8,), name="inner_in")
    inner = keras.Model(inner_in, layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    merged = layers.Concatenate(name="concat")([shared(title), shared(body)])
    return keras.Model([title, body], [inner(merged), layers.Dense(1, activation="sigmoid", name="score")(merged)])


def test_plot_model_dot_for_functional_shared_and_nested(tmp_path):
    model = _multi_model()
    path = keras.utils.plot_model(model, to_file=str(tmp_path / "m.dot"), show_shapes=True,
                                  show_layer_activations=True, rankdir="LR")
    text = (tmp_path / "m.dot").read_text()
    assert path.endswith("m.dot") and "rankdir=LR" in text and "dpi=200" in text
    boxes, edges, labels = _parse_dot(text)
    assert sorted(boxes.values()) == sorted(["title (InputLayer)", "body (InputLayer)", "shared (Dense)",
                                             "concat (Concatenate)", "inner (Functional)", "score (Dense)"])
    assert sorted(edges) == sorted([("title (InputLayer)", "shared (Dense)"), ("body (InputLayer)", "shared (Dense)"),
                                    ("shared (Dense)", "concat (Concatenate)"), ("shared (Dense)", "concat (Concatenate)"),
                                    ("concat (Concatenate)", "inner (Functional)"),
                                    ("concat (Concatenate)", "score (Dense)")])
    score = next(label for label in labels.values() if label.startswith("score"))
    assert score == "score (Dense)\\nActivation: sigmoid\\nInput shape: (None, 8)\\nOutput shape: (None, 1)"
    # expanded: the nested model's layers in a cluster, wired to the outer graph
    text = keras.utils.model_to_dot(model, expand_nested=True, show_layer_names=True)
    assert "subgraph cluster_" in text
    boxes, edges, _ = _parse_dot(text)
    assert "inner (Functional)" not in boxes.values()
    assert ("concat (Concatenate)", "inner_in (InputLayer)") in edges
    assert ("inner_in (InputLayer)", "inner_dense (Dense)") in edges


def test_plot_model_sequential_and_subclassed():
    seq = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                            layers.Dense(10, activation="softmax")])
    boxes, edges, labels = _parse_dot(keras.utils.model_to_dot(seq, show_shapes=True, show_dtype=True,
                                                               show_layer_names=False))
    assert sorted(boxes.values()) == ["Dense", "Dense"] and len(edges) == 1
    assert sorted(labels.values())[0] == "Dense\\ndtype: float32\\nInput shape: (None, 512)\\nOutput shape: (None, 10)"
    sub = TwoLayer()
    with pytest.raises(ValueError, match="not yet been built"):
        keras.utils.model_to_dot(sub)
    sub(np.zeros((1, 8), np.float32))
    boxes, edges, _ = _parse_dot(keras.utils.model_to_dot(sub))
    assert list(boxes.values()) == [f"{sub.name} (TwoLayer)"] and edges == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` program is not installed "
                                                          "(apt-get install graphviz)")
@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_plot_model_draws_png_and_svg_with_graphviz(tmp_path, fmt, magic):
    keras.utils.plot_model(_multi_model(), to_file=str(tmp_path / f"m.{fmt}"), show_shapes=True)
    assert (tmp_path / f"m.{fmt}").read_bytes().startswith(magic)


def test_plot_model_without_graphviz_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # no `dot` anywhere
    with pytest.raises(RuntimeError, match="`graphviz` package"):
        keras.utils.plot_model(_multi_model(), to_file=str(tmp_path / "m.png"))
    keras.utils.plot_model(_multi_model(), to_file=str(tmp_path / "m.dot"))   # .dot needs no Graphviz
    with pytest.raises(ValueError, match=r"must end in \.dot, \.png or \.svg"):
        keras.utils.plot_model(_multi_model(), to_file=str(tmp_path / "m.jpg"))
