"""Keras as a graph of layers: the functional API, subclassed models, multi-output
compile/fit, custom train_step and metrics; values checked against NumPy."""

import io

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import ops
import tapegrad.kernels as K
from tapegrad import keras
from tapegrad.keras import layers

BACKENDS = [b for b in ("numpy", "cython") if b in K.available_backends()]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with K.use(request.param):
        yield request.param


def data(n=64, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def relu(a):
    return np.maximum(a, 0)


# ------------------------------------------------------------------ symbolic tensors
def test_input_is_symbolic():
    x = keras.Input(shape=(3,), name="features", dtype="float32")
    assert x.shape == (None, 3) and x.dtype == np.float32 and x.name == "features"
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)
    h = layers.Dense(4, name="hidden")(x)
    assert h.shape == (None, 4)
    hidden = h._keras_history[0]
    assert hidden.built and hidden.kernel.shape == (3, 4)
    assert hidden.input is x and hidden.output is h


def test_functional_equals_sequential_predictions_and_fit(backend):
    x, y = data()
    tg.random.set_seed(1)
    seq = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2, activation="softmax")])
    seq.build((None, 6))
    inputs = keras.Input(shape=(6,))
    outputs = layers.Dense(2, activation="softmax")(layers.Dense(8, activation="relu")(inputs))
    fun = keras.Model(inputs=inputs, outputs=outputs)
    assert [type(layer).__name__ for layer in fun.layers] == ["InputLayer", "Dense", "Dense"]
    fun.set_weights(seq.get_weights())
    np.testing.assert_allclose(fun.predict(x, verbose=0), seq.predict(x, verbose=0), rtol=1e-6)
    histories = []
    for model in (seq, fun):
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history)
    assert histories[0].keys() == histories[1].keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    for a, b in zip(seq.get_weights(), fun.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert histories[1]["loss"][-1] < histories[1]["loss"][0]


def test_two_inputs_concatenate_and_add_match_numpy(backend):
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    joined = layers.Concatenate()([a, b])
    assert joined.shape == (None, 5)
    h = layers.Dense(4, activation="relu", name="h")(joined)
    skip = layers.Dense(4, name="skip")(a)
    out = layers.Add()([h, skip])
    model = keras.Model(inputs=[a, b], outputs=out)
    rng = np.random.default_rng(2)
    xa, xb = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    wh, bh, ws, bs = model.get_layer("h").get_weights() + model.get_layer("skip").get_weights()
    expected = relu(np.concatenate([xa, xb], 1) @ wh + bh) + (xa @ ws + bs)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict({"a": xa, "b": xb}, verbose=0), expected, rtol=1e-5, atol=1e-6)
    text = io.StringIO()
    model.summary(print_fn=text.write)
    out = text.getvalue()
    for piece in ("Connected to", "a (InputLayer)", "concatenate", "a[0][0], b[0][0]", "(None, 5)",
                  "h[0][0], skip[0][0]", "Total params: 40"):
        assert piece in out, piece


def test_concat_gradient_slices_back(backend):
    p, q = tg.Variable(np.ones((2, 3), np.float32)), tg.Variable(np.ones((2, 1), np.float32))
    w = np.arange(8, dtype=np.float32).reshape(2, 4)
    with tg.GradientTape() as tape:
        z = tg.reduce_sum(ops.concat([p, q], axis=1) * w)
    gp, gq = tape.gradient(z, [p, q])
    np.testing.assert_array_equal(gp.numpy(), w[:, :3])
    np.testing.assert_array_equal(gq.numpy(), w[:, 3:])


def test_shared_layer_is_one_set_of_weights(backend):
    shared = layers.Dense(3, name="shared")
    left, right = keras.Input(shape=(4,), name="left"), keras.Input(shape=(4,), name="right")
    model = keras.Model(inputs=[left, right], outputs=layers.Add()([shared(left), shared(right)]))
    assert len(model.weights) == 2 and model.weights[0] is shared.kernel
    assert len(shared._inbound_nodes) == 2
    rng = np.random.default_rng(3)
    xl, xr = rng.standard_normal((4, 4)).astype(np.float32), rng.standard_normal((4, 4)).astype(np.float32)
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model.predict([xl, xr], verbose=0), (xl + xr) @ k + 2 * bias, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit([xl, xr], np.zeros((4, 3), np.float32), epochs=1, batch_size=4, verbose=0)
    # one SGD step on the shared kernel: d/dk mean((xl+xr)k + 2b)^2 ... read from the model itself
    assert not np.allclose(shared.kernel.numpy(), k)
    np.testing.assert_allclose(model.predict([xl, xr], verbose=0),
                               (xl + xr) @ shared.kernel.numpy() + 2 * shared.bias.numpy(), rtol=1e-5, atol=1e-6)


def test_feature_extraction_and_nested_models(backend):
    inputs = keras.Input(shape=(6,), name="x")
    features = layers.Dense(5, activation="relu", name="features")(inputs)
    outputs = layers.Dense(2, activation="softmax", name="head")(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    extractor = keras.Model(inputs=model.input, outputs=model.get_layer("features").output)
    x, _ = data(8)
    k, b = model.get_layer("features").get_weights()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), relu(x @ k + b), rtol=1e-5, atol=1e-6)
    # the whole model used as a layer of a bigger one
    outer_in = keras.Input(shape=(6,))
    outer = keras.Model(outer_in, layers.Dense(1, name="on_top")(model(outer_in)))
    assert [layer.name for layer in outer.layers][1] == model.name
    assert len(outer.weights) == 6
    k2, b2 = model.get_layer("head").get_weights()
    k3, b3 = outer.get_layer("on_top").get_weights()
    logits = relu(x @ k + b) @ k2 + b2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(outer.predict(x, verbose=0), probs @ k3 + b3, rtol=1e-5, atol=1e-6)


def test_sequential_layers_have_symbolic_outputs():
    tg.random.set_seed(0)
    seq = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    first = keras.Model(inputs=seq.input, outputs=seq.layers[0].output)
    x, _ = data(4)
    k, b = seq.layers[0].get_weights()
    np.testing.assert_allclose(first.predict(x, verbose=0), relu(x @ k + b), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ bad graphs
def test_bad_graphs_fail_clearly():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b_missing")
    out = layers.Add()([layers.Dense(2)(a), layers.Dense(2)(b)])
    with pytest.raises(ValueError, match="Graph disconnected.*b_missing"):
        keras.Model(inputs=a, outputs=out)
    with pytest.raises(ValueError, match="Add layer requires inputs of the same shape"):
        layers.Add()([keras.Input(shape=(3,)), keras.Input(shape=(4,))])
    dense = layers.Dense(2)
    dense(keras.Input(shape=(3,)))
    with pytest.raises(ValueError, match="incompatible with the layer"):
        dense(keras.Input(shape=(4,)))
    with pytest.raises(ValueError, match="Concatenate layer requires inputs with matching shapes"):
        layers.Concatenate(axis=-1)([keras.Input(shape=(3, 2)), keras.Input(shape=(4, 2))])
    model = keras.Model(inputs={"a": a}, outputs=layers.Dense(1)(a))
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="input key 'typo' names no input"):
        model.predict({"typo": x}, verbose=0)
    with pytest.raises(ValueError, match="incompatible: expected shape=\\(None, 3\\), found shape=\\(4, 5\\)"):
        model.fit({"a": np.ones((4, 5), np.float32)}, np.ones((4, 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match="does not correspond to any model output"):
        model.compile(optimizer="sgd", loss={"nope": "mse"})


# ------------------------------------------------------------------ multiple outputs
def ticket_model():
    """The book's ticket-triage model, small: two inputs, two outputs."""
    tg.random.set_seed(4)
    title, body = keras.Input(shape=(5,), name="title"), keras.Input(shape=(4,), name="body")
    features = layers.Dense(8, activation="relu", name="features")(layers.Concatenate()([title, body]))
    priority = layers.Dense(1, name="priority")(features)
    department = layers.Dense(3, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, body], outputs=[priority, department])


def ticket_data(n=48):
    rng = np.random.default_rng(5)
    title, body = rng.standard_normal((n, 5)).astype(np.float32), rng.standard_normal((n, 4)).astype(np.float32)
    priority = (title[:, :1] * 0.5).astype(np.float32)
    department = rng.integers(0, 3, n)
    return title, body, priority, department


class MeanAbsoluteError(keras.metrics.Metric):
    """A custom metric with add_weight state, as the book's chapter 7 writes one."""

    def __init__(self, name="mean_absolute_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.abs_sum = self.add_weight(name="abs_sum", initializer="zeros")
        self.samples = self.add_weight(name="samples", initializer="zeros", dtype="int32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        diff = np.abs(np.asarray(y_true, np.float32) - y_pred.numpy())
        self.abs_sum.assign_add(np.float32(diff.sum()))
        self.samples.assign_add(np.int32(diff.size))

    def result(self):
        return tg.divide(self.abs_sum, tg.cast(self.samples, "float32"))

    def reset_state(self):
        self.abs_sum.assign(np.float32(0))
        self.samples.assign(np.int32(0))


def test_multi_output_compile_names_and_weighted_loss(backend):
    title, body, priority, department = ticket_data()
    model = ticket_model()
    model.compile(optimizer="rmsprop", loss=["mean_squared_error", "sparse_categorical_crossentropy"],
                  metrics=[[MeanAbsoluteError()], ["accuracy"]], loss_weights=[2.0, 0.5])
    logs = model.evaluate([title, body], [priority, department], batch_size=48, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "priority_loss", "department_loss", "priority_mean_absolute_error",
                         "department_accuracy"}
    pred_p, pred_d = model.predict({"title": title, "body": body}, verbose=0)
    mse = np.mean((pred_p - priority) ** 2)
    ce = -np.mean(np.log(pred_d[np.arange(len(department)), department]))
    assert logs["priority_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["department_loss"] == pytest.approx(ce, rel=1e-5)
    assert logs["loss"] == pytest.approx(2.0 * mse + 0.5 * ce, rel=1e-5)
    assert logs["priority_mean_absolute_error"] == pytest.approx(np.mean(np.abs(pred_p - priority)), rel=1e-5)
    assert logs["department_accuracy"] == pytest.approx(np.mean(pred_d.argmax(1) == department))
    # dicts keyed by output name, History named as Keras names it
    model.compile(optimizer="rmsprop", loss={"priority": "mse", "department": "sparse_categorical_crossentropy"},
                  metrics={"department": "accuracy", "priority": "mae"})
    history = model.fit({"title": title, "body": body}, {"priority": priority, "department": department},
                        epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "priority_loss", "department_loss", "department_accuracy",
                                    "priority_mae", "val_loss", "val_priority_loss", "val_department_loss",
                                    "val_department_accuracy", "val_priority_mae"}   # "mae" keeps its name
    assert history.history["loss"][-1] < history.history["loss"][0]
    with pytest.raises(ValueError, match="target key 'urgency' does not name a model output"):
        model.evaluate([title, body], {"urgency": priority, "department": department}, verbose=0)


# ------------------------------------------------------------------ subclassed models
class TicketModel(keras.Model):
    """The book's subclassed CustomerTicketModel, small."""

    def __init__(self, num_departments, **kwargs):
        super().__init__(**kwargs)
        self.concat_layer = layers.Concatenate()
        self.mixing_layer = layers.Dense(8, activation="relu")
        self.heads = [layers.Dense(1), layers.Dense(num_departments, activation="softmax")]

    def call(self, inputs, training=None):
        features = self.mixing_layer(self.concat_layer([inputs["title"], inputs["body"]]))
        return self.heads[0](features), self.heads[1](features)


def test_subclassed_model_tracks_layers_and_trains(backend):
    title, body, priority, department = ticket_data()
    tg.random.set_seed(6)
    model = TicketModel(num_departments=3, name="ticket")
    assert model.name == "ticket" and len(model.layers) == 4 and not model.built
    p, d = model({"title": title, "body": body})
    assert p.shape == (48, 1) and d.shape == (48, 3)
    assert [w.shape for w in model.weights] == [(9, 8), (8,), (8, 1), (1,), (8, 3), (3,)]
    k, b = model.mixing_layer.get_weights()
    kp, bp = model.heads[0].get_weights()
    np.testing.assert_allclose(p.numpy(), relu(np.concatenate([title, body], 1) @ k + b) @ kp + bp, rtol=1e-5,
                               atol=1e-6)
    model.compile(optimizer="rmsprop", loss=["mse", "sparse_categorical_crossentropy"],
                  metrics=[[], ["accuracy"]])
    history = model.fit({"title": title, "body": body}, [priority, department], epochs=3, batch_size=16,
                        verbose=0)
    assert set(history.history) == {"loss", "output_0_loss", "output_1_loss", "output_1_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    preds = model.predict({"title": title, "body": body}, verbose=0)
    assert isinstance(preds, tuple) and preds[1].shape == (48, 3)
    text = io.StringIO()
    model.summary(print_fn=text.write)
    assert "(Concatenate)" in text.getvalue() and "Total params: 116 (464.00 B)" in text.getvalue()


class Classifier(keras.Model):
    def __init__(self, classes=2):
        super().__init__()
        self.dense = layers.Dense(classes, activation="softmax")

    def call(self, inputs):
        return self.dense(inputs)


def test_subclassed_inside_functional_and_functional_inside_subclassed(backend):
    x, y = data(32)
    tg.random.set_seed(7)
    inputs = keras.Input(shape=(6,))
    features = layers.Dense(4, activation="relu")(inputs)
    classifier = Classifier()
    outputs = classifier(features)          # traced on a zero batch to learn its output shape
    assert outputs.shape == (None, 2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert len(model.weights) == 4
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]

    class Wrapper(keras.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, inputs, training=None):
            return self.inner(inputs, training=training)

    wrapper = Wrapper(model)
    np.testing.assert_allclose(wrapper.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert wrapper.weights == model.weights


# ------------------------------------------------------------------ training flag and custom steps
class Recorder(layers.Layer):
    def call(self, inputs, training=None):
        self.seen = training
        return inputs


def test_training_flag_reaches_layers():
    inputs = keras.Input(shape=(2,))
    recorder = Recorder()
    model = keras.Model(inputs, recorder(inputs))
    model(np.ones((1, 2), np.float32), training=True)
    assert recorder.seen is True
    model.predict(np.ones((1, 2), np.float32), verbose=0)
    assert recorder.seen is False


class RootMeanSquaredError(keras.metrics.Metric):
    """Chapter 7's custom metric: integer labels against softmax scores."""

    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mse_sum = self.add_weight(name="mse_sum", initializer="zeros")
        self.total_samples = self.add_weight(name="total_samples", initializer="zeros", dtype="int32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        one_hot = np.eye(y_pred.shape[1], dtype=np.float32)[np.asarray(y_true)]
        self.mse_sum.assign_add(tg.reduce_sum(tg.square(tg.constant(one_hot) - y_pred)))
        self.total_samples.assign_add(np.int32(y_pred.shape[0]))

    def result(self):
        return tg.sqrt(self.mse_sum / tg.cast(self.total_samples, "float32"))

    def reset_state(self):
        self.mse_sum.assign(np.float32(0))
        self.total_samples.assign(np.int32(0))


def test_custom_train_step_with_compiled_loss_and_custom_metric(backend):
    x, y = data(48)
    steps = []

    class CustomModel(keras.Model):
        def train_step(self, data):
            inputs, targets = data
            with tg.GradientTape() as tape:
                predictions = self(inputs, training=True)
                loss = self.compiled_loss(targets, predictions)
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            self.compiled_metrics.update_state(targets, predictions)
            steps.append(len(inputs))
            return {m.name: m.result() for m in self.metrics}

    tg.random.set_seed(8)
    inputs = keras.Input(shape=(6,))
    outputs = layers.Dense(2, activation="softmax")(layers.Dense(8, activation="relu")(inputs))
    model = CustomModel(inputs, outputs)
    assert isinstance(model, CustomModel) and len(model.layers) == 3
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", RootMeanSquaredError()])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert steps == [16, 16, 16] * 2
    assert set(history.history) == {"loss", "accuracy", "rmse"}
    logs = model.evaluate(x, y, batch_size=48, verbose=0, return_dict=True)
    probs = model.predict(x, verbose=0)
    rmse = np.sqrt(np.sum((np.eye(2)[y] - probs) ** 2) / len(y))
    assert logs["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y))


def test_custom_train_step_with_own_loss_tracker(backend):
    x, y = data(32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    class CustomModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.dense = layers.Dense(2, activation="softmax")

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            inputs, targets = data
            with tg.GradientTape() as tape:
                loss = loss_fn(targets, self(inputs, training=True))
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

    tg.random.set_seed(9)
    model = CustomModel()
    model.compile(optimizer=keras.optimizers.RMSprop())
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert model.metrics == [model.loss_tracker]
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_dropout_works_symbolically():
    inputs = keras.Input(shape=(6,))
    hidden = layers.Dense(8, activation="relu", name="hidden")(inputs)
    dropped = layers.Dropout(0.5)(hidden)
    assert dropped.shape == (None, 8)
    model = keras.Model(inputs, layers.Dense(2, name="out")(dropped))
    x, _ = data(4)
    k, b = model.get_layer("hidden").get_weights()
    k2, b2 = model.get_layer("out").get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), relu(x @ k + b) @ k2 + b2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(x, training=True).numpy(), relu(x @ k + b) @ k2 + b2)


# ------------------------------------------------------------------ callbacks and datasets on the graph
def test_multi_input_dataset_equals_arrays(backend):
    """A Dataset of ((title, body), (priority, department)) batches, or of dicts, trains, validates,
    evaluates and predicts exactly as the same arrays given as lists / dicts."""
    from tapegrad.data import Dataset
    title, body, priority, department = ticket_data()

    def compiled():
        model = ticket_model()
        model.compile(optimizer="rmsprop", loss=["mse", "sparse_categorical_crossentropy"],
                      metrics=[[], ["accuracy"]])
        return model

    by_arrays, by_tuples, by_dicts = compiled(), compiled(), compiled()
    h_arrays = by_arrays.fit([title[:32], body[:32]], [priority[:32], department[:32]], batch_size=8, epochs=2,
                             shuffle=False, validation_data=([title[32:], body[32:]], [priority[32:], department[32:]]),
                             verbose=0)
    tuples = Dataset.from_tensor_slices(((title[:32], body[:32]), (priority[:32], department[:32]))).batch(8)
    val = Dataset.from_tensor_slices(((title[32:], body[32:]), (priority[32:], department[32:]))).batch(5)
    h_tuples = by_tuples.fit(tuples, epochs=2, validation_data=val, verbose=0)
    dicts = Dataset.from_tensor_slices(({"title": title[:32], "body": body[:32]},
                                        {"priority": priority[:32], "department": department[:32]})).batch(8)
    h_dicts = by_dicts.fit(dicts, epochs=2, validation_data=val, verbose=0)
    assert set(h_arrays.history) == {"loss", "priority_loss", "department_loss", "department_accuracy",
                                     "val_loss", "val_priority_loss", "val_department_loss", "val_department_accuracy"}
    for history in (h_tuples, h_dicts):
        assert history.history.keys() == h_arrays.history.keys()
        for key, values in h_arrays.history.items():
            assert history.history[key] == pytest.approx(values, rel=1e-5), key
    for model in (by_tuples, by_dicts):
        assert model.evaluate(val, verbose=0) == pytest.approx(
            by_arrays.evaluate([title[32:], body[32:]], [priority[32:], department[32:]], verbose=0), rel=1e-5)
        inputs_only = Dataset.from_tensor_slices({"title": title, "body": body}).batch(7)
        for got, want in zip(model.predict(inputs_only, verbose=0), by_arrays.predict([title, body], verbose=0)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # what a Dataset cannot say for this model is named
    with pytest.raises(ValueError, match="sample weights are not supported"):
        by_arrays.fit(Dataset.from_tensor_slices((title, body, priority)).batch(8), verbose=0)
    sequential = keras.Sequential([layers.Dense(1)])
    sequential.compile(optimizer="rmsprop", loss="mse")
    with pytest.raises(ValueError, match="a Sequential model takes one input array, got a tuple"):
        sequential.fit(Dataset.from_tensor_slices(((title, body), priority)).batch(8), verbose=0)


def test_callbacks_see_a_custom_train_step_and_stop_it(backend):
    """The batch hooks get the logs a custom train_step returned; stop_training ends the epoch there;
    EarlyStopping restores a functional model's best weights."""
    x, y = data(64)
    steps = []

    class CustomModel(keras.Model):
        def train_step(self, data):
            inputs, targets = data
            with tg.GradientTape() as tape:
                loss = self.compiled_loss(targets, self(inputs, training=True))
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            steps.append(len(inputs))
            return {"loss": self.metrics[0].result(), "steps_taken": float(len(steps))}

    tg.random.set_seed(10)
    inputs = keras.Input(shape=(6,))
    model = CustomModel(inputs, layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    batch_logs = []

    def on_batch(batch, logs):
        batch_logs.append(dict(logs))
        if batch == 1 and len(batch_logs) > 4:   # second epoch, second batch
            model.stop_training = True

    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=on_batch)])
    assert steps == [16] * 4 + [16] * 2 and history.epoch == [0, 1]
    assert [logs["steps_taken"] for logs in batch_logs] == [1, 2, 3, 4, 5, 6]
    assert history.history["steps_taken"] == [4.0, 6.0]   # the epoch's logs are its last step's

    # EarlyStopping on a graph model: get_weights / set_weights of every layer
    tg.random.set_seed(11)
    inputs = keras.Input(shape=(6,))
    graph = keras.Model(inputs, layers.Dense(2, activation="softmax")(layers.Dense(4, activation="relu")(inputs)))
    graph.compile(optimizer=keras.optimizers.SGD(5.0), loss="sparse_categorical_crossentropy")
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(graph.get_weights()))
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = graph.fit(x, y, epochs=12, batch_size=8, verbose=0, callbacks=[record, stop])
    best = int(np.argmin(history.history["loss"]))
    assert len(history.epoch) < 12 and best < history.epoch[-1]   # it stopped, after a worse epoch
    for got, want in zip(graph.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(got, want)
