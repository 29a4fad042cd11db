"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: the training loop every model shares.

``fit`` is the book's hand-written loop made general: for each batch, run the
model under a GradientTape, compute the loss, ask the tape for the gradients
of the weights and let the optimizer apply them (``train_step``, which a
subclass may override).  The running means of the loss and metrics feed the
progress line, the callbacks (every hook through ``CallbackList``, the
``History`` last) and the returned ``History``; the batches come from
``data_adapter`` (arrays cut into batches, or a ``Dataset``'s own).

Inputs and targets may be one array, a list, or a dict (keyed by input or
output name) when the model has several; a model with several outputs gets one
loss per output (``loss=[...]`` or ``{name: loss}``), weighted by
``loss_weights``, and its logs are named as Keras names them: ``loss`` (the
weighted total), ``<output>_loss`` and ``<output>_<metric>``.
"""

from __future__ import annotations

import numpy as np

from .. import kernels, ops
from ..data import Dataset
from ..tape import GradientTape
from ..tensor import Tensor
from ..trace import Function
from . import data_adapter, data_parallel
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .callbacks import CallbackList
from .data_adapter import HostData
from .node import flatten, pack_like
from .progress import ProgressBar, resolve_verbose


# ------------------------------------------------------------------ compile
class CompiledLoss:
    """The loss of ``compile``: one loss per output, weighted and summed.

    Calling it returns the total and updates the running ``loss`` (and, with
    several outputs, ``<output>_loss``, the unweighted per-output losses).
    """

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        n = len(self.output_names)
        per_output = _per_output(loss, self.output_names, "loss")
        weights = _per_output(loss_weights, self.output_names, "loss_weights") if loss_weights is not None \
            else [None] * n
        self.losses = [None if item is None else losses_module.get(item) for item in per_output]
        if all(item is None for item in self.losses):
            raise ValueError("compile: loss is None for every output")
        self.weights = [None if w is None else float(w) for w in weights]
        self._sparse_outputs = [(i, fn) for i, fn in enumerate(self.losses)
                                if isinstance(fn, losses_module.SparseCategoricalCrossentropy)]
        self.tracker = metrics_module.Mean(name="loss")
        self.output_trackers = [metrics_module.Mean(name=f"{name}_loss") if n > 1 and fn is not None else None
                                for name, fn in zip(self.output_names, self.losses)]

    @property
    def metrics(self):
        return [self.tracker, *[t for t in self.output_trackers if t is not None]]

    def with_class_ids(self, y_true):
        """``y_true`` with the target of each sparse-categorical output made one
        ``ClassIds`` (copied, checked and on a GPU uploaded once), which that
        output's loss and metrics then share; a step calls this once per batch."""
        targets = _targets(y_true, self.output_names)
        for i, fn in self._sparse_outputs:
            if targets[i] is not None:
                targets[i] = ops.class_ids(targets[i], what=fn.name)
        return targets[0] if len(targets) == 1 else targets

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        targets = _targets(y_true, self.output_names)
        preds = _flat_outputs(y_pred, self.output_names)
        total = None
        batch = None
        for fn, weight, tracker, yt, yp in zip(self.losses, self.weights, self.output_trackers, targets, preds):
            if fn is None:
                continue
            if yt is None:
                raise ValueError(f"no target given for an output that has a loss ({fn.name}); targets are "
                                 f"matched to the outputs {self.output_names}")
            value = fn(yt, yp)
            batch = len(yt)
            if tracker is not None:
                tracker.update_state(value, sample_weight=batch)
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        for penalty in regularization_losses or []:   # the layers' penalties (model.losses), as Keras adds them
            total = ops.add(total, penalty)
        self.tracker.update_state(total, sample_weight=batch)
        return total


class CompiledMetrics:
    """The metrics of ``compile``, each attached to one output.

    With several outputs a metric is renamed ``<output>_<name>`` (Keras's
    log names).  A metric given by a string keeps that string as its name, as
    in Keras 3 (``"mae"`` logs as ``mae``).
    """

    def __init__(self, metrics, output_names, loss_names):
        self.output_names = list(output_names)
        n = len(self.output_names)
        if metrics is None:
            per_output = [[] for _ in range(n)]
        elif n == 1:
            items = list(metrics.values()) if isinstance(metrics, dict) else metrics
            if isinstance(metrics, dict) and set(metrics) - set(self.output_names):
                raise ValueError(f"In the dict argument `metrics`, key {sorted(set(metrics) - set(self.output_names))[0]!r} "
                                 f"does not correspond to any model output {self.output_names}")
            items = items if isinstance(items, (list, tuple)) else [items]
            per_output = [[m for item in items for m in (item if isinstance(item, (list, tuple)) else [item])]]
        else:
            per_output = _per_output(metrics, self.output_names, "metrics", default=[], broadcast=False)
            per_output = [list(m) if isinstance(m, (list, tuple)) else [m] for m in per_output]
        self.per_output = []
        for name, identifiers, loss_name in zip(self.output_names, per_output, loss_names):
            built = []
            for identifier in identifiers:
                if identifier is None:
                    continue
                metric = metrics_module.get(identifier, loss_name)
                if isinstance(identifier, str):
                    metric.name = identifier
                if n > 1:
                    metric.name = f"{name}_{metric.name}"
                built.append(metric)
            self.per_output.append(built)

    @property
    def metrics(self):
        return [m for ms in self.per_output for m in ms]

    def update_state(self, y_true, y_pred, sample_weight=None):
        targets = _targets(y_true, self.output_names)
        preds = _flat_outputs(y_pred, self.output_names)
        for ms, yt, yp in zip(self.per_output, targets, preds):
            for m in ms:
                if yt is not None:
                    m.update_state(yt, yp)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()


def _per_output(value, names, what, default=None, broadcast=True):
    """One entry per output from a single value, a list (in output order) or a dict (by name)."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"In the dict argument `{what}`, key {unknown[0]!r} does not correspond to any "
                             f"model output; the outputs are {names}")
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"For a model with {len(names)} outputs, `{what}` given as a list must have "
                             f"{len(names)} entries, got {len(value)}: {value}")
        return list(value)
    if len(names) > 1 and not broadcast and value is not None:
        raise ValueError(f"For a model with several outputs {names}, `{what}` must be a list or a dict")
    return [value] * len(names)


def _flat_outputs(y_pred, names):
    if isinstance(y_pred, dict):
        return [y_pred[name] for name in names]
    if isinstance(y_pred, (list, tuple)):
        return list(y_pred)
    return [y_pred]


def _targets(y_true, names):
    """Targets in output order, from one array, a list, or a dict keyed by output name."""
    if len(names) == 1 and not isinstance(y_true, dict):
        return [y_true]                      # one output: the common case, three times per step
    if isinstance(y_true, dict):
        unknown = [k for k in y_true if k not in names]
        if unknown:
            raise ValueError(f"target key {unknown[0]!r} does not name a model output; the outputs are {names}")
        return [y_true.get(name) for name in names]
    if isinstance(y_true, (list, tuple)) and len(names) > 1:
        if len(y_true) != len(names):
            raise ValueError(f"the model has {len(names)} outputs {names}, got {len(y_true)} targets")
        return list(y_true)
    if len(names) > 1:
        raise ValueError(f"the model has {len(names)} outputs {names}: give targets as a list or a dict")
    return [y_true]


def _as_float(value):
    return value if isinstance(value, float) else float(value)


# ------------------------------------------------------------------ the trainer
class Trainer:
    """compile / fit / evaluate / predict and the steps they run (mixed into ``Model``)."""

    optimizer = compiled_loss = compiled_metrics = None
    loss = None
    #: Keras's switch: True runs train_step / test_step as plain Python; False (the
    #: default) traces them with tapegrad.function and replays the plan (docs/tf-function.md)
    run_eagerly = False

    @property
    def output_names(self):
        """Names of the outputs, as compile's dict keys and the logs use them: for a
        model known only by its call, ``output_0``, ``output_1``... (or the keys of
        the dict it returns), learnt from its first call."""
        return self.__dict__.get("_output_names") or ["output_0"]

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=False,
                jit_compile="auto"):
        """Choose the optimizer, the loss(es) and the metrics, by name or object.

        ``loss``, ``metrics`` and ``loss_weights`` may be given per output, as a
        list in output order or a dict keyed by output name.  A subclassed model
        not yet called settles them on its first batch, when its outputs are known.
        ``run_eagerly=True`` runs each step as plain Python instead of tracing it
        (``tapegrad.function``); ``jit_compile`` is accepted and changes nothing.
        """
        self.run_eagerly = bool(run_eagerly)
        self.jit_compile = jit_compile
        self.__dict__.pop("_traced_steps", None)   # a new compile traces anew, as Keras's
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss if isinstance(loss, (list, tuple, dict)) or loss is None else losses_module.get(loss)
        self._compile_config = (loss, metrics, loss_weights)
        self.compiled_loss = self.compiled_metrics = None
        if self.built or not isinstance(loss, (list, tuple, dict)):
            self._finish_compile()
        self.compiled = True

    def _finish_compile(self):
        loss, metrics, loss_weights = self._compile_config
        names = self.output_names
        if loss is None:
            self.compiled_loss = None
            loss_names = [None] * len(names)
        else:
            self.compiled_loss = CompiledLoss(loss, loss_weights, names)
            loss_names = [getattr(fn, "name", None) for fn in self.compiled_loss.losses]
        self.compiled_metrics = CompiledMetrics(metrics, names, loss_names)

    @property
    def metrics(self):
        """Every metric the training loop resets each epoch: the loss trackers, the
        compiled metrics, and Metric objects assigned as attributes of the model."""
        found = [*(self.compiled_loss.metrics if self.compiled_loss else []),
                 *(self.compiled_metrics.metrics if self.compiled_metrics else [])]
        for m in self.__dict__.get("_tracked_metrics", []):
            if all(m is not f for f in found):
                found.append(m)
        return found

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _check_compiled(self, what):
        if self.optimizer is None:
            raise RuntimeError(f"You must call compile() before calling {what}()")
        if self.compiled_loss is None and type(self).train_step is Trainer.train_step:
            raise RuntimeError(f"You must call compile() with a loss before calling {what}() "
                               f"(or override train_step)")

    def _ensure_built(self, x_sample):
        """Build the model for inputs like ``x_sample`` (a one-sample batch); subclasses refine."""
        if not self.built:
            self(x_sample, training=False)
        if self.compiled_metrics is None and self.__dict__.get("_compile_config"):
            self._finish_compile()

    def _check_inputs(self, x, what):
        """Raise if the host inputs do not fit the model (functional and Sequential models check shapes)."""

    def _prepare(self, x, y, what):
        """Host arrays (``HostData``), checked: lengths, input shapes, labels against the outputs."""
        x = x if isinstance(x, HostData) else HostData(x, f"{what}: x")
        y = y if y is None or isinstance(y, HostData) else HostData(y, f"{what}: y")
        if y is not None and x.n != y.n:
            raise ValueError(f"{what}: x and y have different lengths: {x.n} samples vs {y.n} labels")
        if x.n == 0:
            raise ValueError(f"{what}: no data (x is empty)")
        self._check_inputs(x.take(slice(None)), what)
        self._ensure_built(x.take(slice(0, 1), as_float=True))
        if y is not None and self.compiled_loss is not None:
            self._check_labels(y.take(slice(None)), what)
        return x, y

    def _check_labels(self, y, what):
        shapes = self._output_shapes()
        if shapes is None:
            return
        targets = _targets(y, self.output_names)
        for fn, shape, target in zip(self.compiled_loss.losses, shapes, targets):
            if fn is not None and target is not None and shape and shape[-1] is not None:
                losses_module.check_targets(fn, target, shape)  # wrong kind of labels: a clear error now

    def _output_shapes(self):
        return None

    # ---------------------------------------------------------- steps
    def train_step(self, data):
        """One step on a batch ``data = (x, y)``: forward under a tape, loss,
        gradients, optimizer update; returns the logs (metric name -> value)."""
        x, y = data
        self._train_step(x, y)
        return self._logs()

    def _train_step(self, x, y):
        y = self.compiled_loss.with_class_ids(y)   # the labels of the batch: checked once, shared
        weights = self.trainable_weights
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        parallel = data_parallel.session(self)
        if parallel is None:
            grads = tape.gradient(loss, weights)
        else:                             # data-parallel over MPI: the whole global batch's gradients
            grads = parallel.gradients(tape, loss, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        self.compiled_metrics.update_state(y, y_pred)

    def _train_step_rows(self, x, y, rows):
        """The built-in train step on the batch ``(x[rows], y[rows])`` of the whole
        arrays ``x`` and ``y``, gathered here by the backend's ``take``: what ``fit``
        runs on a shuffled batch.  Traced, the gather is a call of the plan that
        the ``fold_gather`` pass (trace/gather.py) folds into the first layer's
        kernels, so the batch of inputs is never copied out as an array of its own."""
        xp = kernels.get_backend().xp
        self._train_step(xp.take(x, rows, axis=0), xp.take(y, rows, axis=0))

    def _rows_step(self, batches):
        """``(step, x, y)`` when ``fit`` should hand each shuffled batch of ``batches``
        to the traced ``_train_step_rows`` as the whole arrays and the batch's rows,
        else None (run eagerly, an overridden ``train_step``, MPI data parallelism, a
        GPU backend, or data other than one float32 input array and one target array)."""
        if self.run_eagerly or not isinstance(batches, data_adapter.ArrayBatches) or not batches.shuffle \
                or getattr(self.train_step, "__func__", None) is not Trainer.train_step \
                or data_parallel.session(self) is not None or not kernels.get_backend().host:
            return None
        arrays = batches.whole_arrays()
        return None if arrays is None else (self._step_function("_train_step_rows"), *arrays)

    def test_step(self, data):
        """The forward pass, loss and metrics on one batch, no update; returns the logs."""
        x, y = data
        self._test_step(x, y)
        return self._logs()

    def _test_step(self, x, y):
        y = self.compiled_loss.with_class_ids(y)
        y_pred = self(x, training=False)
        self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        self.compiled_metrics.update_state(y, y_pred)

    def predict_step(self, data):
        return self(data, training=False)

    def _logs(self, prefix=""):
        # reading a result copies one number from a GPU: done only when shown
        # (a float is kept as it is: in a traced step it is the number a host call returns)
        return dict(sorted((prefix + m.name, _as_float(m.result())) for m in self.metrics))

    def _run_step(self, kind, x, y):
        """Run the (possibly overridden) train or test step; the logs when overridden, else None."""
        if x is None:                # this rank's share of a batch smaller than the ranks: nothing
            return data_parallel.session(self).empty_step(kind)
        step = getattr(self, kind)   # as Keras: an override on the class or on the instance
        if getattr(step, "__func__", None) is getattr(Trainer, kind):
            self._step_function("_" + kind)(x, y)
            return None
        data = (x, y) if y is not None else (x if not isinstance(x, (list, tuple)) else (x,))
        if self.run_eagerly and isinstance(step, Function):   # run_eagerly: no tf.function, even yours
            step = step.python_function
        logs = step(data)   # your own step: as you wrote it (decorate it with tapegrad.function to trace it)
        return {k: float(v) for k, v in (logs or {}).items()}

    def _step_function(self, name):
        """The built-in step ``name`` (``_train_step``, ``_test_step``) as fit runs it:
        traced (``tapegrad.function``, one trace per batch shape) unless
        ``run_eagerly``; plain Python under MPI data parallelism, whose gradient
        reduction the tracer does not record.  An overridden ``train_step`` runs as
        written: it is given NumPy batches, which Python code may read without the
        tracer noticing, so it is traced only when decorated with ``tapegrad.function``."""
        step = getattr(self, name)
        if self.run_eagerly or data_parallel.session(self) is not None:
            return step
        traced = self.__dict__.setdefault("_traced_steps", {})
        entry = traced.get(name)
        if entry is None or entry[0] is not getattr(step, "__func__", step):
            entry = traced[name] = (getattr(step, "__func__", step),
                                    Function(step, strict_numpy=False, name=f"{type(self).__name__}.{name}",
                                             arrays_as_tensors=False))
        return entry[1]

    # ---------------------------------------------------------- loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None):
        """Train for ``epochs`` passes over (x, y), or over a Dataset, generator or PyDataset of (x, y)
        batches (``steps_per_epoch`` of them an epoch, when given); returns a ``History``."""
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
            split = int(x.n * (1 - validation_split))
            if split == 0 or split == x.n:
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {x.n}")
            (x, x_val), (y, y_val) = x.split(split), y.split(split)
            validation_data = (x_val, y_val)
        train = data_adapter.adapt(x, y, batch_size, "fit", lambda a, b: self._prepare(a, b, "fit"),
                                   shuffle=shuffle, steps=steps_per_epoch)
        val = None
        if validation_data is not None:
            what = "fit (validation_data)"
            if isinstance(validation_data, Dataset) or data_adapter.is_batch_source(validation_data):
                val_x, val_y = validation_data, None
            elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
                val_x, val_y = validation_data
            else:
                raise ValueError("validation_data must be a tuple (x_val, y_val) or a Dataset of (x, y) batches")
            val = data_adapter.adapt(val_x, val_y, None if val_y is None else batch_size, what,
                                     lambda a, b: self._prepare(a, b, what), steps=validation_steps)
        parallel = data_parallel.session(self)   # None unless DataParallel over several MPI processes
        if parallel is not None:
            train, val, callbacks, verbose = parallel.begin_fit(train, val, callbacks, verbose)

        callbacks = CallbackList(callbacks, add_history=True, model=self, epochs=epochs,
                                 steps=train.num_batches, verbose=verbose)
        self.stop_training = False
        callbacks.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            self.reset_metrics()
            bar = ProgressBar(train.num_batches, verbose)
            steps, step_logs = 0, None
            rows_step = self._rows_step(train)   # shuffled: the traced step gathers its own batch
            for step, batch in enumerate(train if rows_step is None else train.batch_indices()):
                callbacks.on_train_batch_begin(step)
                if rows_step is None:
                    step_logs = self._run_step("train_step", *batch)
                else:
                    step_function, x_all, y_all = rows_step
                    step_function(x_all, y_all, batch)
                steps = step + 1
                # the running means are read (one copy per metric from a GPU) only
                # when the progress line redraws or a callback wants them; a custom
                # train_step has returned its logs already
                current_logs = self._logs if step_logs is None else (lambda: dict(step_logs))
                if verbose:
                    bar.update(steps, lambda: current_logs().items())
                callbacks.on_train_batch_end(step, current_logs)
                if self.stop_training:
                    break
            if steps == 0 and getattr(train, "ran_out", False):   # a generator read to its end: warned, stop
                break
            logs = self._logs() if step_logs is None else dict(step_logs)
            if parallel is not None:
                logs = parallel.logs()
            if val is not None:
                logs.update(self._evaluate(val, prefix="val_", callbacks=callbacks))
            bar.update(steps, sorted(logs.items()), finalize=True)
            callbacks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callbacks.on_train_end(logs)
        return callbacks.history

    def _evaluate(self, batches, prefix="", bar=None, callbacks=None):
        """Loss and metrics over ``batches``, calling the test hooks of ``callbacks``."""
        callbacks = callbacks or CallbackList()
        self.reset_metrics()
        callbacks.on_test_begin()
        step_logs = None
        for step, (xb, yb) in enumerate(batches):
            callbacks.on_test_batch_begin(step)
            step_logs = self._run_step("test_step", xb, yb)
            current_logs = self._logs if step_logs is None else (lambda: dict(step_logs))
            if bar is not None:
                bar.update(step + 1, lambda: current_logs().items())
            callbacks.on_test_batch_end(step, current_logs)
        logs = self._logs() if step_logs is None else dict(step_logs)
        if data_parallel.session(self) is not None:
            logs = data_parallel.session(self).logs()
        callbacks.on_test_end(logs)
        return {prefix + key: value for key, value in logs.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, callbacks=None,
                 steps=None):
        """Loss and metrics over (x, y) or a Dataset of (x, y) batches: ``[loss, *metrics]``, or just the loss."""
        self._check_compiled("evaluate")
        verbose = resolve_verbose(verbose)
        batches = data_adapter.adapt(x, y, batch_size, "evaluate", lambda a, b: self._prepare(a, b, "evaluate"),
                                     steps=steps)
        if data_parallel.session(self) is not None:
            batches, callbacks, verbose = data_parallel.session(self).begin_evaluate(batches, callbacks, verbose)
        callbacks = CallbackList(callbacks, model=self, epochs=1, steps=batches.num_batches, verbose=verbose)
        bar = ProgressBar(batches.num_batches, verbose)
        with metrics_module.call_state(self.metrics):   # this call's running means: threads never mix them
            logs = self._evaluate(batches, bar=bar, callbacks=callbacks)
        bar.update(batches.num_batches, logs.items(), finalize=True)   # a generator's count is known by now
        return self._results(logs, return_dict)

    def train_on_batch(self, x, y, return_dict=False):
        """One gradient step on one batch; its loss (and metrics) as ``evaluate`` gives them."""
        self._check_compiled("train_on_batch")
        x, y = self._prepare(x, y, "train_on_batch")
        self.reset_metrics()
        logs = self._run_step("train_step", x.take(slice(None), as_float=True), y.take(slice(None)))
        return self._results(self._logs() if logs is None else logs, return_dict)

    def _results(self, logs, return_dict):
        if return_dict:
            return logs
        names = [m.name for m in self.metrics if m.name in logs] or list(logs)
        values = [logs[name] for name in names]
        return values if len(values) > 1 else values[0]

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None, steps=None):
        """The model's outputs for ``x`` (arrays, or a Dataset of batches) as NumPy arrays (one per output)."""
        verbose = resolve_verbose(verbose)
        batches = data_adapter.adapt(x, None, batch_size, "predict", lambda a: self._prepare(a, None, "predict")[0],
                                     needs_targets=False, steps=steps)
        if data_parallel.session(self) is not None:
            return data_parallel.session(self).predict(batches, verbose, callbacks)
        callbacks = CallbackList(callbacks, model=self, epochs=1, steps=batches.num_batches, verbose=verbose)
        bar = ProgressBar(batches.num_batches, verbose)
        callbacks.on_predict_begin()
        outputs, structure = [], None
        for step, (xb, _) in enumerate(batches):
            callbacks.on_predict_batch_begin(step)
            structure = self.predict_step(xb)
            outputs.append([t.numpy() if isinstance(t, Tensor) else np.asarray(t) for t in flatten(structure)])
            bar.update(step + 1, ())
            callbacks.on_predict_batch_end(step, {"outputs": pack_like(structure, outputs[-1])})
        bar.update(len(outputs), (), finalize=True)
        callbacks.on_predict_end()
        return pack_like(structure, [np.concatenate(parts) for parts in zip(*outputs)])
