"""Callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call as they run.

A callback is an object with methods named after moments of training
(``on_epoch_end``, ``on_train_batch_end``, ...), each given the step number
and the logs Keras passes there: during an epoch the running means of the
loss and metrics so far, at its end the epoch's values with the ``val_``
ones added.  ``CallbackList`` calls every callback's hook in one place, and
``History`` (always added by ``fit``) records each epoch's logs.
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from ..atomic_file import path_string

_HOOKS = (
    "on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
    "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


class Callback:
    """Base class: override the hooks you need; ``self.model`` is set by fit.

    ``on_batch_begin`` / ``on_batch_end`` are the older names of
    ``on_train_batch_begin`` / ``on_train_batch_end``: as in Keras 3 the
    default ``on_train_batch_*`` calls them, so overriding either works.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def _implements(callback, hook):
    """Whether ``callback`` does something in ``hook`` (so its logs are worth computing)."""
    if hook in vars(callback):  # LambdaCallback sets hooks on the instance
        return True
    if getattr(type(callback), hook) is not getattr(Callback, hook):
        return True
    alias = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}.get(hook)
    return alias is not None and _implements(callback, alias)


def _nobody_listens(*args, logs=None):
    """A hook of a ``CallbackList`` that none of its callbacks implements."""


class CallbackList:
    """Every callback of a run, called hook by hook: ``callbacks.on_epoch_end(epoch, logs)``.

    ``logs`` may be a function returning the logs: it is called only when some
    callback implements that hook, so a training step on a GPU copies no
    metric back unless a callback will read it.
    """

    def __init__(self, callbacks=None, add_history=False, model=None, **params):
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)   # last, as in Keras: it sees logs other callbacks added
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._listeners = {hook: [cb for cb in self.callbacks if _implements(cb, hook)] for hook in _HOOKS}
        for hook, listeners in self._listeners.items():
            if not listeners:   # one empty call instead of two frames (a training step calls two hooks)
                setattr(self, hook, _nobody_listens)

    def set_model(self, model):
        if self.history is not None:
            model.history = self.history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        for cb in self.callbacks:
            cb.set_params(params)

    def wants(self, hook):
        """Whether any callback implements ``hook``."""
        return bool(self._listeners[hook])

    def _call(self, hook, *args, logs=None):
        listeners = self._listeners[hook]
        if not listeners:
            return
        if callable(logs):
            logs = logs()
        for cb in listeners:
            getattr(cb, hook)(*args, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"][epoch]``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"<tapegrad.keras.callbacks.History object at {id(self):#x}>"


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    The batch and epoch hooks take ``(batch_or_epoch, logs)``, the begin/end
    hooks ``(logs)``; any other hook name can be given as a keyword too.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if name not in _HOOKS + ("on_batch_begin", "on_batch_end"):
                raise ValueError(f"LambdaCallback: {name!r} is not a callback hook; hooks are {sorted(_HOOKS)}")
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


# ---------------------------------------------------------------- monitoring

_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "fmeasure", "f1")


def _metric_direction(model, name):
    """"up" or "down" for a metric name such as ``accuracy`` or ``mean_absolute_error``.

    A metric object of the model with a ``_direction`` attribute decides, as in
    Keras 3; otherwise the name does: losses and errors go down, accuracy-like
    names (acc, auc, precision, recall) go up; anything else is undecided.
    """
    if name == "loss" or name.endswith("_loss"):
        return "down"
    for metric in _model_metrics(model):
        if getattr(metric, "name", None) == name and getattr(metric, "_direction", None) in ("up", "down"):
            return metric._direction
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "up"
    if any(word in name for word in ("error", "crossentropy", "hinge", "divergence", "mse", "mae")):
        return "down"
    return None


def _model_metrics(model):
    found = []
    for attr in ("metrics", "compiled_metrics"):
        value = getattr(model, attr, None)
        try:
            items = list(value) if value is not None else []
        except TypeError:
            items = [value]
        for m in items:
            found.extend(_model_metrics(m) if hasattr(m, "metrics") and not hasattr(m, "result") else [m])
    return found


class _MonitorCallback(Callback):
    """Shared by ``EarlyStopping`` and ``ModelCheckpoint``: which way is better for ``monitor``."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        self.monitor = monitor
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.monitor_op = None   # np.less or np.greater, decided once the model is known

    def _set_monitor_op(self):
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            direction = _metric_direction(self.model, self.monitor.removeprefix("val_"))
        if direction is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but tapegrad cannot tell whether "
                "that metric should be maximized or minimized. Pass mode='max' to use the highest value, or "
                "mode='min' to use the lowest.")
        self.monitor_op = np.greater if direction == "up" else np.less

    def _worst_value(self):
        """Where ``best`` starts (as in tf.keras): +inf when lower is better, -inf when higher is."""
        return -math.inf if self.monitor_op is np.greater else math.inf

    def _is_improvement(self, value, reference):
        """``value`` beats ``reference`` by more than min_delta in the monitored direction.

        A NaN is never an improvement (every comparison with it is false), so
        with ``best`` starting at the worst value a NaN epoch is never kept as
        the best one, and the first finite value after it is.
        """
        if reference is None:
            reference = self._worst_value()
        delta = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        return bool(self.monitor_op(value - delta, reference))


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Each epoch without an improvement larger than ``min_delta`` adds one to a
    wait counter; an improvement resets it (if it also beats ``baseline``).
    When the counter reaches ``patience`` the callback sets
    ``model.stop_training``.  With ``restore_best_weights`` the weights of the
    best epoch are put back when training ends, stopped early or not.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()   # the same callback can serve several fits

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.best is None:
            self.best = self._worst_value()
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()   # the first epoch counted is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=3)
        return value


WEIGHTS_SUFFIX = ".weights.npz"
MODEL_SUFFIX = ".keras"


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) after every epoch, or only when ``monitor`` improves.

    ``filepath`` is formatted with ``epoch`` (counted from 1) and the epoch's
    logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.weights.npz"``.  Keras names
    weight files ``.weights.h5``; tapegrad writes NumPy archives, so the name
    must end in ``.weights.npz`` (read back with ``model.load_weights``).  A
    full save (``save_weights_only=False``) calls ``model.save`` and needs a
    ``.keras`` name, as in Keras; ``keras.models.load_model`` reads it back.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath = path_string(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer "
                             "(a number of batches)")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_since_save = 0
        self._current_epoch = 0
        if save_freq != "epoch":  # only then are batch logs needed (they cost a copy per metric on a GPU)
            self.on_train_batch_end = self._count_batch
        if save_weights_only:
            if not self.filepath.endswith(WEIGHTS_SUFFIX):
                hint = self.filepath[:-len(".weights.h5")] if self.filepath.endswith(".weights.h5") else "name"
                raise ValueError(
                    f"ModelCheckpoint(save_weights_only=True): tapegrad writes weights as NumPy archives, so the "
                    f"filepath must end in '{WEIGHTS_SUFFIX}' (where Keras uses '.weights.h5'), e.g. "
                    f"'{hint}{WEIGHTS_SUFFIX}'; got {self.filepath!r}")
        elif not self.filepath.endswith(MODEL_SUFFIX):
            raise ValueError(f"ModelCheckpoint: the filepath of a full-model save must end in '{MODEL_SUFFIX}' "
                             f"(or pass save_weights_only=True with a '{WEIGHTS_SUFFIX}' name); got "
                             f"{self.filepath!r}")

    def _check_model_can_save(self):
        if not self.save_weights_only and not callable(getattr(self.model, "save", None)):
            raise RuntimeError(
                f"ModelCheckpoint(save_weights_only=False) saves the whole model with model.save(), which "
                f"{type(self.model).__name__} does not have (every keras Model has it); pass "
                f"save_weights_only=True and a '{WEIGHTS_SUFFIX}' filepath to save only weights.")

    def on_train_begin(self, logs=None):
        self._check_model_can_save()
        if self.monitor_op is None and self.save_best_only:
            self._set_monitor_op()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def _count_batch(self, batch, logs=None):
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        fields = dict(logs)
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **fields)
        except KeyError as exc:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {exc} is not '
                           f"'epoch' nor a key of the logs {sorted(logs)}") from None

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        filepath = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            if self.monitor_op is None:
                self._set_monitor_op()
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=3)
                return
            if self.best is None:
                self.best = self._worst_value()
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: the filepath {filepath!r} is an existing directory; "
                                    "give a file name")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self._check_model_can_save()
            self.model.save(filepath)


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file: ``epoch`` then the sorted log keys.

    As in Keras, when the first epoch has no ``val_`` keys the ``val_``
    columns are added anyway (filled with ``NA``), and ``append=True`` adds
    rows to an existing file without repeating its header.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = path_string(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                write_header = not f.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self._write_header = write_header
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys += ["val_" + key for key in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=dialect)
            if self._write_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return f"\"[{', '.join(map(str, array.ravel()))}]\""


class TensorBoard(Callback):
    """Write the logs as TensorBoard scalars: ``tensorboard --logdir LOG_DIR`` plots them.

    As in Keras, training values go to ``LOG_DIR/train`` and validation
    values to ``LOG_DIR/validation``, both tagged ``epoch_loss``,
    ``epoch_accuracy``, ... with the epoch as the step (``update_freq="batch"``
    or a number of batches adds ``batch_loss``, ... every that many batches).
    The event files are written with the ``tensorboard`` package's own
    summary writer, so TensorFlow is not needed; graphs, histograms and
    profiles are not written.  Needs ``pip install "tapegrad[tensorboard]"``.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, update_freq="epoch"):
        super().__init__()
        try:
            from tensorboard.summary import Writer
        except ImportError:
            raise ImportError('keras.callbacks.TensorBoard needs the tensorboard package: '
                              'pip install "tapegrad[tensorboard]"') from None
        if histogram_freq:
            raise ValueError("TensorBoard: histogram_freq is not supported by tapegrad (only scalars are written); "
                             "leave it at 0")
        if update_freq not in ("epoch", "batch") and (isinstance(update_freq, bool)
                                                      or not isinstance(update_freq, int) or update_freq <= 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, "
                             f"got {update_freq!r}")
        self._writer_class = Writer
        self.log_dir = path_string(log_dir)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = {}
        self._train_step = 0
        if self.update_freq != "epoch":  # only then are batch logs needed
            self.on_train_batch_end = self._write_batch

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = self._writer_class(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._train_step = 0

    def _write_batch(self, batch, logs=None):
        self._train_step += 1
        if self._train_step % self.update_freq == 0:
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                writer.add_scalar("batch_" + name, float(value), step=self._train_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        learning_rate = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
        if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            logs.setdefault("learning_rate", float(learning_rate))
        for name, value in logs.items():
            writer = self._writer("validation" if name.startswith("val_") else "train")
            writer.add_scalar("epoch_" + name.removeprefix("val_"), float(value), step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
