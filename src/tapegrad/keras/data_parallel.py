"""What ``fit`` / ``evaluate`` / ``predict`` do under ``keras.distribution.DataParallel``.

N MPI processes (ranks) run the same script.  For each *global* batch of B
samples, rank r keeps a contiguous share of ``B // N`` or ``B // N + 1`` rows,
computes the mean loss over its share and the gradient of that mean, then:

    global gradient = sum over ranks of (share_r / B) * gradient_r

which is exactly the gradient of the mean over the whole batch, even when the
shares differ (an uneven split, an uneven last batch).  The weight
``share_r / B`` seeds the backward pass, and the weighted sum is one
``distribute.grouped_allreduce(..., in_place=True)`` per step (the large
gradients summed where they lie, the small ones in one fused buffer); every
rank then applies the same update to the same weights, so the weights stay
bit-identical.  Everything else follows from keeping the ranks in lockstep:

- the weights are broadcast from rank 0 once the model is built, and rank 0's
  random generator state at the start of ``fit``, so every rank shuffles into
  the same global batches as one process would;
- the epoch's logs (loss, metrics, ``val_``) come from the metrics' running
  totals and counts summed over the ranks (one small allreduce at the end of
  an epoch or an evaluation); inside an epoch, the progress line shows rank
  0's own running means, as Horovod does;
- only rank 0 prints and runs the callbacks that write files (ModelCheckpoint,
  CSVLogger, TensorBoard); every other callback runs on every rank, on the
  same logs, so EarlyStopping stops all ranks at the same epoch;
- ``predict`` runs each rank on its shares and gathers the outputs, in order,
  on every rank.
"""

from __future__ import annotations

import time
import weakref

import numpy as np

from .. import distribute, ops
from ..random import generator
from ..tensor import Tensor
from . import distribution as distribution_lib
from .callbacks import CallbackList, CSVLogger, ModelCheckpoint, TensorBoard
from .data_adapter import ArrayBatches
from .load_balance import LoadBalance
from .metrics import Metric, _RunningTotal
from .node import flatten, pack_like
from .progress import ProgressBar

#: the callbacks that write files: they run on rank 0 only
RANK_ZERO_ONLY_CALLBACKS = (ModelCheckpoint, CSVLogger, TensorBoard)

# Private switches for the negative-control tests (tests/distribute/test_distribute.py):
# with either one off, training on several ranks no longer matches one process.
_BROADCAST_WEIGHTS = True   # False: every rank keeps the weights it initialized itself
_WEIGHT_BY_SHARE = True     # False: average the ranks' per-share means equally (biased on uneven splits)

_sessions: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def session(model):
    """The model's data-parallel session, or None when training is not distributed
    (no DataParallel distribution set, or a single process)."""
    current = distribution_lib.distribution()
    if not isinstance(current, distribution_lib.DataParallel) or current.num_processes == 1:
        return None
    found = _sessions.get(model)
    if found is None or found.distribution is not current:
        found = _sessions[model] = DataParallelSession(model, current)
    return found


def share_bounds(rows, ranks, rank):
    """Rows ``[start, stop)`` of a batch of ``rows`` that ``rank`` of ``ranks`` takes:
    the first ``rows % ranks`` ranks take one row more."""
    base, extra = divmod(rows, ranks)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _rows_of(structure, start, stop):
    if structure is None:
        return None
    if isinstance(structure, dict):
        return {key: _rows_of(value, start, stop) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_rows_of(item, start, stop) for item in structure)
    return structure[start:stop]


def _state_holders(metric):
    """``metric`` and the metrics it holds as attributes (a wrapper's chosen metric), depth first."""
    found = [metric]
    for value in vars(metric).values():
        if isinstance(value, Metric) and value is not metric:
            found.extend(_state_holders(value))
    return found


class ShardedBatches:
    """The batches of an epoch, each cut down to this rank's share (``(None, None)``
    for an empty share: a batch with fewer rows than ranks)."""

    def __init__(self, batches, session, split=True, balanced=False):
        self.batches, self.session, self.split = batches, session, split
        self.balanced = balanced and session.balance is not None    # shares sized by LoadBalance
        self.num_batches = batches.num_batches

    def _bounds(self, rows, ranks, rank):
        if self.balanced:
            self.session.begin_step()
            return self.session.balance.bounds(rows, rank)
        return share_bounds(rows, ranks, rank)

    def __iter__(self):
        self.session.begin_epoch()
        if self.split and isinstance(self.batches, ArrayBatches):
            yield from self._array_shares()
            return
        ranks, rank = distribute.size(), distribute.rank()
        first = True
        for xb, yb in self.batches:
            if first:   # the model is built by now (a Dataset's first batch builds it)
                self.session.broadcast_weights()
                first = False
            rows = len(flatten(xb)[0])
            if not self.split:
                self.session.share = (rows, None)
                yield xb, yb
                continue
            start, stop = self._bounds(rows, ranks, rank)
            self.session.share = (stop - start, rows)
            if start == stop:
                yield None, None
            else:
                yield _rows_of(xb, start, stop), _rows_of(yb, start, stop)

    def _array_shares(self):
        """Arrays: the same global batches, but only this rank's rows are gathered
        (a shuffled batch's rows are copied; copying the others' would be wasted)."""
        ranks, rank = distribute.size(), distribute.rank()
        self.session.broadcast_weights()     # the arrays were checked, so the model is built
        for index in self.batches.batch_indices():
            rows = index.stop - index.start if isinstance(index, slice) else len(index)
            start, stop = self._bounds(rows, ranks, rank)
            self.session.share = (stop - start, rows)
            if start == stop:
                yield None, None
            elif isinstance(index, slice):
                yield self.batches.take(slice(index.start + start, index.start + stop))
            else:
                yield self.batches.take(index[start:stop])


class DataParallelSession:
    """The state of one model under one DataParallel distribution."""

    def __init__(self, model, distribution):
        self.model = weakref.proxy(model)
        self.distribution = distribution
        self.share = (0, 0)              # (rows of this rank, rows of the global batch) of the current step
        self._broadcast = None           # the weights last broadcast (their ids)
        self._workspace = {}             # the gradients' packed buffer, reused step after step
        self.balance = LoadBalance(distribute.size()) if distribution.balance_load else None
        self._step_start = self._reduced_at = self._rest = None    # this step's clock readings (balancing)

    # ---------------------------------------------------------- set-up
    def broadcast_weights(self):
        """Rank 0's weights on every rank, once the model is built (again if its weights changed)."""
        weights = self.model.weights
        ids = tuple(id(w) for w in weights)
        if ids and ids != self._broadcast:
            if _BROADCAST_WEIGHTS:
                distribute.broadcast_variables(weights, root_rank=0)
            self._broadcast = ids

    def _check_steps(self, kind):
        function = getattr(getattr(self.model, kind), "__func__", None)
        if (getattr(function, "__qualname__", None) != f"Trainer.{kind}"
                or function.__module__ != __package__ + ".trainer"):
            raise NotImplementedError(
                f"DataParallel: a model that overrides {kind} cannot be trained data-parallel by fit "
                f"(its gradients would not be summed over the ranks); write the loop with "
                f"tapegrad.distribute.grouped_allreduce instead")

    def _agree(self, batches, what):
        counts = distribute.allgather_object(batches.num_batches)
        if len(set(counts)) > 1:
            raise ValueError(f"{what}: the ranks have different numbers of batches {counts}: with "
                             f"DataParallel every rank must be given the same data (or, with "
                             f"auto_shard_dataset=False, the same number of batches)")

    def _shard(self, batches, what, balanced=False):
        self._agree(batches, what)
        return ShardedBatches(batches, self, split=self.distribution.auto_shard_dataset, balanced=balanced)

    @staticmethod
    def _for_this_rank(callbacks, verbose):
        if distribute.rank() == 0:
            return callbacks, verbose
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        kept = [cb for cb in callbacks or [] if not isinstance(cb, RANK_ZERO_ONLY_CALLBACKS)]
        return kept, 0

    def begin_fit(self, train, val, callbacks, verbose):
        """fit's batches, callbacks and verbosity for this rank; rank 0's random state everywhere."""
        self._check_steps("train_step")
        self._check_steps("test_step")
        rng = generator()
        rng.bit_generator.state = distribute.broadcast_object(rng.bit_generator.state)
        self.broadcast_weights()
        train = self._shard(train, "fit", balanced=True)
        val = None if val is None else self._shard(val, "fit (validation_data)")
        callbacks, verbose = self._for_this_rank(callbacks, verbose)
        return train, val, callbacks, verbose

    def begin_evaluate(self, batches, callbacks, verbose):
        self._check_steps("test_step")
        self.broadcast_weights()
        callbacks, verbose = self._for_this_rank(callbacks, verbose)
        return self._shard(batches, "evaluate"), callbacks, verbose

    # ---------------------------------------------------------- steps
    def gradients(self, tape, loss, weights):
        """The global batch's gradients of ``loss`` (this rank's mean loss over its share).

        The share's weight ``rows / global rows`` enters as the seed of the
        backward pass (the gradient of ``weight * loss``), a scalar the loss's
        backward folds into the multiply it does anyway, so the gradients come
        out already weighted and go into the allreduce as they are: the big
        ones summed in place, not copied into a fused buffer (``in_place``).
        With load balancing, this rank's timings ride along in the same allreduce.
        """
        weight = self._share_weight()
        if weight is None:               # batches not split here: weighted by counted rows afterwards
            return self._reduce_by_counted_rows(tape.gradient(loss, weights), self.share[0])
        grads = tape.gradient(loss, weights, output_gradients=weight)
        return self._sum(grads, weights, compute=None)

    def _sum(self, grads, weights, compute):
        """``grads`` summed over the ranks in place (with this step's timings when balancing)."""
        if self.balance is None:
            return distribute.grouped_allreduce(grads, op=distribute.Sum, workspace=self._workspace, in_place=True)
        now = time.perf_counter()
        rows = self.share[0]
        if compute is None:
            compute = now - self._step_start
        rest = -1.0 if self._rest is None else self._rest
        timings = self.balance.timings(distribute.rank(), rest, compute, rows, np.dtype(weights[0].dtype))
        summed = distribute.grouped_allreduce([*grads, timings], op=distribute.Sum, workspace=self._workspace,
                                              in_place=True)
        self.balance.update(summed[-1])
        self._reduced_at = time.perf_counter()
        return summed[:-1]

    def begin_epoch(self):
        """No timing carries over from before the epoch (evaluation, callbacks)."""
        self._reduced_at = None

    def begin_step(self):
        """Clock the start of a training step; ``rest`` is what the last one did after its allreduce."""
        now = time.perf_counter()
        self._rest = None if self._reduced_at is None else now - self._reduced_at
        self._step_start = now

    def _share_weight(self):
        """``rows / global rows`` of the current step (None when the batches are not split)."""
        rows, global_rows = self.share
        if global_rows is None:
            return None
        return rows / global_rows if _WEIGHT_BY_SHARE else 1.0 / distribute.size()

    def _reduce_by_counted_rows(self, grads, rows):
        count = np.array([rows], dtype=np.float64)
        summed = distribute.grouped_allreduce([None if g is None else g * float(rows) for g in grads] + [count],
                                              op=distribute.Sum)
        total_rows = float(summed[-1][0])
        return [None if g is None else g * (1.0 / total_rows) for g in summed[:-1]]

    def empty_step(self, kind):
        """A step on an empty share: no forward pass, zero gradients into the allreduce."""
        if kind != "train_step":
            return None
        model = self.model
        weights = model.trainable_weights
        zeros = [ops.zeros_like(w) for w in weights]   # the same allreduce calls as the other ranks make
        self._rest = None                                 # nothing measured: the balance skips this step
        grads = self._sum(zeros, weights, compute=0.0)
        model.optimizer.apply_gradients(zip(grads, weights))
        return None

    # ---------------------------------------------------------- logs
    def logs(self, prefix=""):
        """The running means of the loss and metrics over all ranks' samples so far.

        Each metric keeps a running total and a count (a custom Metric also its
        ``add_weight`` state, summed as Keras sums metric variables; a metric
        that delegates to another, like ``"accuracy"``, that one's): their sums
        over the ranks give the global means.  The metrics are put back as they were.
        """
        metrics = self.model.metrics
        holders = [h for m in metrics for h in _state_holders(m)]
        # a Mean or an accuracy keeps a running (total, count); every metric may hold add_weight variables
        states = [h._state() if isinstance(h, _RunningTotal) else None for h in holders]
        saved = [(None if s is None else (s.host_total, s.device_total, s.count), [v.numpy() for v in h.variables])
                 for h, s in zip(holders, states)]
        parts = []
        for h, s, (_, values) in zip(holders, states, saved):
            if s is not None:
                parts.append(np.array([h.total, s.count], dtype=np.float64))
            parts.extend(np.asarray(value, dtype=np.float64).ravel() for value in values)
        summed = iter(distribute.grouped_allreduce(parts, op=distribute.Sum))
        for h, s in zip(holders, states):
            if s is not None:
                total, count = next(summed)
                s.host_total, s.device_total, s.count = float(total), None, float(count)
            for v in h.variables:
                v.assign(next(summed).reshape(v.shape).astype(v.dtype))
        logs = {prefix + m.name: float(m.result()) for m in metrics}
        for h, s, (running, values) in zip(holders, states, saved):
            if s is not None:
                s.host_total, s.device_total, s.count = running
            for v, value in zip(h.variables, values):
                v.assign(value)
        return dict(sorted(logs.items()))

    # ---------------------------------------------------------- predict
    def predict(self, batches, verbose, callbacks):
        """Each rank predicts its shares; the outputs are gathered, in order, on every rank."""
        model = self.model
        self.broadcast_weights()
        callbacks, verbose = self._for_this_rank(callbacks, verbose)
        sharded = self._shard(batches, "predict")
        callbacks = CallbackList(callbacks, model=model, epochs=1, steps=sharded.num_batches, verbose=verbose)
        bar = ProgressBar(sharded.num_batches, verbose)
        callbacks.on_predict_begin()
        mine, structure = [], None
        for step, (xb, _) in enumerate(sharded):
            callbacks.on_predict_batch_begin(step)
            if xb is None:
                mine.append(None)
            else:
                structure = model.predict_step(xb)
                mine.append([t.numpy() if isinstance(t, Tensor) else np.asarray(t) for t in flatten(structure)])
                callbacks.on_predict_batch_end(step, {"outputs": pack_like(structure, mine[-1])})
            bar.update(step + 1, ())
        bar.update(len(mine), (), finalize=True)
        callbacks.on_predict_end()
        template = None if structure is None else pack_like(structure, list(range(len(flatten(structure)))))
        everyone = distribute.allgather_object((template, mine))
        structure = next(s for s, _ in everyone if s is not None)
        in_order = [outputs for k in range(len(mine)) for _, per_batch in everyone
                    if (outputs := per_batch[k]) is not None]
        return pack_like(structure, [np.concatenate(parts) for parts in zip(*in_order)])
