"""``Sequential``: layers in a row, plus compile / fit / evaluate / predict.

``fit`` is the book's hand-written loop made general: for each batch, run the
model under a GradientTape, compute the loss, ask the tape for the gradients
of the weights and let the optimizer apply them.  The running means of the
loss and metrics feed the progress line and the returned ``History``.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib

import numpy as np

from .. import ops
from ..atomic_file import write_atomically
from ..data import Dataset
from ..tape import GradientTape
from ..tensor import Tensor
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from . import data_adapter
from .callbacks import CallbackList
from .layers import InputLayer, Layer, _unique_name
from .progress import ProgressBar, resolve_verbose


def _host(x, what):
    if x is None:
        raise ValueError(f"{what} is required")
    a = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{what} must have a batch axis, got a scalar")
    return a


class Sequential:
    """A stack of layers, each feeding the next: ``Sequential([Dense(512, "relu"), Dense(10, "softmax")])``."""

    def __init__(self, layers=None, name=None):
        self.name = name or _unique_name("sequential")
        self.layers = []
        self._input_shape = None
        self.optimizer = self.loss = None
        self.compiled_metrics = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------- structure
    def add(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self.layers or self._input_shape:
                raise ValueError("an Input must be the first layer of a Sequential model")
            self._input_shape = layer.shape
        else:
            if not self.layers and self._input_shape is None and layer._input_shape is not None:
                self._input_shape = layer._input_shape
            self.layers.append(layer)
        if self._input_shape is not None:
            self.build(self._input_shape)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (e.g. ``(None, 784)``)."""
        input_shape = tuple(input_shape or self._input_shape or ())
        if len(input_shape) < 2:
            raise ValueError(f"build: input_shape must include the batch axis, e.g. (None, 784), got {input_shape}")
        self._input_shape = input_shape
        shape = input_shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
            layer.output_shape = shape
        self.built = bool(self.layers)

    def __call__(self, inputs, training=False):
        x = inputs
        if not self.built and self.layers:
            x = ops.convert(inputs)
            self.build((None, *x.shape[1:]))
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    call = __call__

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    @property
    def losses(self):
        """Every layer's penalties: weight regularizers and the last call's activity ones."""
        return [penalty for layer in self.layers for penalty in layer.losses]

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays):
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(f"the model has {len(weights)} weights, got {len(arrays)} arrays")
        for w, a in zip(weights, arrays):
            w.assign(a)

    # ---------------------------------------------------------- summary
    def summary(self, print_fn=None):
        """Print the Keras table: each layer, its output shape and parameter count."""
        print_fn = print_fn or print
        widths = (33, 26, 15)
        rows = []
        for layer in self.layers:
            shape = str(layer.output_shape) if layer.built and layer.output_shape else "?"
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))

        def line(left, mid, right, fill):
            return left + mid.join(fill * w for w in widths) + right

        def cells(values, sep):
            texts = [f" {values[0]:<{widths[0] - 2}} ", f" {values[1]:<{widths[1] - 2}} ",
                     f" {values[2]:>{widths[2] - 2}} "]
            return sep + sep.join(texts) + sep

        out = [f'Model: "{self.name}"', line("┏", "┳", "┓", "━"),
               cells(("Layer (type)", "Output Shape", "Param #"), "┃"), line("┡", "╇", "┩", "━")]
        for i, row in enumerate(rows):
            out.append(cells(row, "│"))
            if i < len(rows) - 1:
                out.append(line("├", "┼", "┤", "─"))
        out.append(line("└", "┴", "┘", "─"))
        total = sum(w.size for w in self.weights)
        trainable = sum(w.size for w in self.trainable_weights)
        nbytes = sum(w.size * w.dtype.itemsize for w in self.weights)
        tbytes = sum(w.size * w.dtype.itemsize for w in self.trainable_weights)
        out += [f" Total params: {total:,} ({_memory(nbytes)})",
                f" Trainable params: {trainable:,} ({_memory(tbytes)})",
                f" Non-trainable params: {total - trainable:,} ({_memory(nbytes - tbytes)})"]
        print_fn("\n".join(out))

    # ---------------------------------------------------------- training
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics, by name or object."""
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = None if loss is None else losses_module.get(loss)
        loss_name = getattr(self.loss, "name", None)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        self.compiled_metrics = [metrics_module.get(m, loss_name) for m in metrics or []]
        self._loss_tracker = metrics_module.Mean(name="loss")

    def _check_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"You must call compile() with a loss before calling {what}()")

    def _prepare(self, x, y, what):
        """Host arrays, checked: lengths, features, and labels against the output."""
        x = _host(x, f"{what}: x")
        y = _host(y, f"{what}: y")
        if len(x) != len(y):
            raise ValueError(f"{what}: x and y have different lengths: {len(x)} samples vs {len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"{what}: no data (x is empty)")
        if not self.built:
            self.build((None, *x.shape[1:]))
        expected = self._input_shape[1:]
        if tuple(x.shape[1:]) != tuple(expected) and None not in expected:
            raise ValueError(f"{what}: the model expects inputs of shape (None, {', '.join(map(str, expected))}), "
                             f"got x of shape {x.shape}")
        losses_module.check_targets(self.loss, y, self.output_shape)  # wrong kind of labels: a clear error now
        return x, y

    def train_step(self, x, y):
        """One step: forward under a tape, loss, gradients, optimizer update."""
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        weights = self.trainable_weights
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._total_loss(y, y_pred)
        grads = tape.gradient(loss, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        self._update_metrics(loss, y, y_pred, len(x))

    def _total_loss(self, y, y_pred):
        """The compiled loss plus the layers' penalties (``model.losses``), as Keras adds them."""
        loss = self.loss(y, y_pred)
        for penalty in self.losses:
            loss = ops.add(loss, penalty)
        return loss

    def _update_metrics(self, loss, y, y_pred, n):
        # the running totals stay on the backend: nothing is copied back here
        self._loss_tracker.update_state(loss, sample_weight=n)
        for m in self.compiled_metrics:
            m.update_state(y, y_pred)

    def _logs(self, prefix=""):
        logs = {prefix + "loss": float(self._loss_tracker.result())}
        for m in self.compiled_metrics:
            logs[prefix + m.name] = float(m.result())
        return dict(sorted(logs.items()))

    def _reset_metrics(self):
        self._loss_tracker.reset_state()
        for m in self.compiled_metrics:
            m.reset_state()

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` passes over (x, y), or over a Dataset of (x, y) batches; returns a ``History``."""
        self._check_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        verbose = resolve_verbose(verbose)
        if validation_data is None and validation_split:
            if isinstance(x, Dataset):
                raise ValueError("fit: validation_split is only supported for arrays and Tensors, not a Dataset; "
                                 "pass validation_data instead")
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
            x, y = self._prepare(x, y, "fit")
            split = int(len(x) * (1 - validation_split))
            if split == 0 or split == len(x):
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {len(x)}")
            x, validation_data = x[:split], (x[split:], y[split:])
            y = y[:split]
        train = data_adapter.adapt(x, y, batch_size, "fit", lambda a, b: self._prepare(a, b, "fit"),
                                   shuffle=shuffle)
        val = None
        if validation_data is not None:
            what = "fit (validation_data)"
            if isinstance(validation_data, Dataset):
                val_x, val_y = validation_data, None
            elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
                val_x, val_y = validation_data
            else:
                raise ValueError("validation_data must be a tuple (x_val, y_val) or a Dataset of (x, y) batches")
            val = data_adapter.adapt(val_x, val_y, None if isinstance(val_x, Dataset) else batch_size, what,
                                     lambda a, b: self._prepare(a, b, what))

        callbacks = CallbackList(callbacks, add_history=True, model=self, epochs=epochs,
                                 steps=train.num_batches, verbose=verbose)
        self.stop_training = False
        callbacks.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            self._reset_metrics()
            bar = ProgressBar(train.num_batches, verbose)
            steps = 0
            for step, (xb, yb) in enumerate(train):
                callbacks.on_train_batch_begin(step)
                self.train_step(xb, yb)
                steps = step + 1
                bar.update(steps, lambda: self._logs().items())
                # the running means are read (one copy per metric from a GPU)
                # only when the progress line redraws or a callback wants them
                callbacks.on_train_batch_end(step, self._logs)
                if self.stop_training:
                    break
            logs = self._logs()
            if val is not None:
                logs.update(self._evaluate(val, prefix="val_", callbacks=callbacks))
                self._loss_tracker.reset_state()
            bar.update(steps, sorted(logs.items()), finalize=True)
            callbacks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callbacks.on_train_end(logs)
        return callbacks.history

    def _evaluate(self, batches, prefix="", bar=None, callbacks=None):
        """Loss and metrics over ``batches``, calling the test hooks of ``callbacks``."""
        callbacks = callbacks or CallbackList()
        self._reset_metrics()
        callbacks.on_test_begin()
        for step, (xb, yb) in enumerate(batches):
            callbacks.on_test_batch_begin(step)
            y_pred = self(xb)
            self._update_metrics(self._total_loss(yb, y_pred), yb, y_pred, len(xb))
            if bar is not None:
                bar.update(step + 1, lambda: self._logs().items())
            callbacks.on_test_batch_end(step, self._logs)
        logs = self._logs()
        callbacks.on_test_end(logs)
        return {prefix + key: value for key, value in logs.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, callbacks=None):
        """Loss and metrics over (x, y) or a Dataset of (x, y) batches: ``[loss, *metrics]``, or just the loss."""
        self._check_compiled("evaluate")
        verbose = resolve_verbose(verbose)
        batches = data_adapter.adapt(x, y, batch_size, "evaluate", lambda a, b: self._prepare(a, b, "evaluate"))
        callbacks = CallbackList(callbacks, model=self, epochs=1, steps=batches.num_batches, verbose=verbose)
        bar = ProgressBar(batches.num_batches, verbose)
        logs = self._evaluate(batches, bar=bar, callbacks=callbacks)
        bar.update(bar.target, logs.items(), finalize=True)
        return self._results(logs, return_dict)

    def train_on_batch(self, x, y, return_dict=False):
        """One gradient step on one batch; its loss (and metrics) as ``evaluate`` gives them."""
        self._check_compiled("train_on_batch")
        x, y = self._prepare(x, y, "train_on_batch")
        self._reset_metrics()
        self.train_step(x if x.dtype == np.float32 else x.astype(np.float32), y)
        return self._results(self._logs(), return_dict)

    def _results(self, logs, return_dict):
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in self.compiled_metrics]
        return values if self.compiled_metrics else values[0]

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        """The model's outputs for ``x`` (arrays, or a Dataset of batches) as one NumPy array."""
        verbose = resolve_verbose(verbose)
        batches = data_adapter.adapt(x, None, batch_size, "predict", self._prepare_inputs, needs_targets=False)
        callbacks = CallbackList(callbacks, model=self, epochs=1, steps=batches.num_batches, verbose=verbose)
        bar = ProgressBar(batches.num_batches, verbose)
        callbacks.on_predict_begin()
        outputs = []
        for step, (xb, _) in enumerate(batches):
            callbacks.on_predict_batch_begin(step)
            outputs.append(self(xb).numpy())
            bar.update(step + 1, ())
            callbacks.on_predict_batch_end(step, {"outputs": outputs[-1]})
        bar.update(len(outputs), (), finalize=True)
        callbacks.on_predict_end()
        return np.concatenate(outputs)

    def _prepare_inputs(self, x):
        x = _host(x, "predict: x")
        if len(x) == 0:
            raise ValueError("predict: no data (x is empty)")
        if not self.built:
            self.build((None, *x.shape[1:]))
        return x

    # ---------------------------------------------------------- weights files
    def save_weights(self, filepath):
        """Write every weight to a ``.npz`` file, atomically (temp file + rename).

        Like every atomic writer this makes a new file: a hard link to the old
        one keeps the old weights (see ``tapegrad.atomic_file``).
        """
        filepath = _npz_path(filepath)
        if not self.built:
            raise ValueError("save_weights: the model has no weights yet; call it on data or build() it first")
        arrays = {f"weight_{i:04d}": w.numpy() for i, w in enumerate(self.weights)}
        arrays["names"] = np.array([w.name for w in self.weights])
        directory = os.path.dirname(os.path.abspath(filepath))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"save_weights: the folder of {filepath!r} does not exist")
        with write_atomically(filepath, suffix=".tmp") as f:
            np.savez(f, **arrays)

    def load_weights(self, filepath):
        """Read weights saved by ``save_weights``; every count, shape and dtype is checked.

        Each array's ``.npy`` header is read and checked against the model
        before its data, so a wrong or forged file fails fast without
        inflating (or allocating) an array the model could not take.
        """
        filepath = _npz_path(filepath)
        try:
            archive = zipfile.ZipFile(filepath)
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, OSError) as exc:
            raise _unreadable(filepath, exc) from None
        with archive:
            names = sorted(n for n in archive.namelist() if n.startswith("weight_") and n.endswith(".npy"))
            if not self.built and names:
                with _NpyMember(archive, names[0], filepath) as first:
                    if len(first.shape) == 2:
                        self.build((None, first.shape[0]))
            weights = self.weights
            if len(names) != len(weights):
                raise ValueError(f"load_weights: {filepath} holds {len(names)} arrays but the model has "
                                 f"{len(weights)} weights")
            arrays = []
            for i, (w, name) in enumerate(zip(weights, names)):
                with _NpyMember(archive, name, filepath) as member:
                    if member.shape != w.shape or member.dtype != w.dtype:
                        raise ValueError(f"load_weights: array {i} ({w.name}) in {filepath} has shape "
                                         f"{member.shape} and dtype {member.dtype}, but the model expects shape "
                                         f"{w.shape} and dtype {w.dtype}")
                    arrays.append(member.read())
        for w, a in zip(weights, arrays):
            w.assign(a)

    def __repr__(self):
        return f"<Sequential name={self.name}, built={self.built}>"


Model = Sequential


def _npz_path(filepath):
    filepath = os.fspath(filepath)
    if not filepath.endswith(".npz"):
        raise ValueError(f"weights files are .npz archives: the path must end in '.weights.npz' or '.npz', "
                         f"got {filepath!r}")
    return filepath


def _unreadable(filepath, exc):
    return ValueError(f"load_weights: {filepath} is not a readable weights file ({exc})")


class _NpyMember:
    """One ``.npy`` array in a ``.npz`` archive, opened with only its header read.

    ``shape`` and ``dtype`` come from the header; ``read()`` then reads the
    data.  A header claiming more bytes than the member can hold (its size in
    the zip directory, and at most 1032 times its compressed size: deflate's
    limit) is rejected before any array is allocated.
    """

    DEFLATE_MAX_RATIO = 1032

    def __init__(self, archive, name, filepath):
        self.filepath = filepath
        try:
            info = archive.getinfo(name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"{name} is compressed with method {info.compress_type}; "
                                 f"np.savez writes stored or deflated members")
            self.stream = archive.open(info)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as exc:
            raise _unreadable(filepath, exc) from None
        try:
            version = np.lib.format.read_magic(self.stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"{name} is .npy format version {version}; expected 1.0 or 2.0")
            shape, self.fortran_order, self.dtype = read_header(self.stream)
            self.shape = tuple(shape)
            self.nbytes = math.prod(self.shape) * self.dtype.itemsize
            ratio = 1 if info.compress_type == zipfile.ZIP_STORED else self.DEFLATE_MAX_RATIO
            room = min(info.file_size, info.compress_size * ratio)
            if self.dtype.hasobject:
                raise ValueError(f"{name} holds Python objects, which weights files never do")
            if self.nbytes > room:
                raise ValueError(f"{name}'s header claims shape {self.shape} of {self.dtype} "
                                 f"({self.nbytes:,} bytes) but the member holds at most {room:,} bytes")
        except BaseException as exc:
            self.stream.close()
            if isinstance(exc, (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile)):
                raise _unreadable(filepath, exc) from None
            raise

    def read(self):
        """The array's data (the header said its shape and dtype)."""
        try:
            data = self.stream.read(self.nbytes)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise _unreadable(self.filepath, exc) from None
        if len(data) != self.nbytes:
            raise _unreadable(self.filepath, f"an array is truncated: {len(data):,} of {self.nbytes:,} bytes")
        order = "F" if self.fortran_order else "C"
        return np.frombuffer(data, self.dtype).reshape(self.shape, order=order)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stream.close()
        return False


def _memory(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024



