"""``tapegrad bench train --profile``: where one training step's time goes.

Timers wrap the kernel API functions, ``train_step`` and
``apply_gradients``; what ``train_step`` spends outside the kernels and the
optimizer is the Python and the tape.
"""

from __future__ import annotations

import statistics
import time

from .train import _mnist, book_model


GEMM_KERNELS = ("matmul", "dense_forward")
UPDATE_KERNELS = ("sgd_update", "rmsprop_update", "adam_update",
                  "sgd_update_foreach", "rmsprop_update_foreach", "adam_update_foreach")
OTHER_KERNELS = ("relu", "relu_backward", "softmax", "softmax_cross_entropy", "bias_grad",
                 "relu_bias_grad", "dropout_forward", "dropout_backward", "sigmoid_cross_entropy",
                 "accumulate_sum", "accumulate_correct")
PROFILE_PARTS = ("GEMMs", "element-wise kernels", "optimizer", "batch gather + fit loop", "Python/tape")


class _StepTimers:
    """Wrap the kernel API functions, ``train_step`` and ``apply_gradients``
    of one model with timers; seconds accumulate per group until ``close()``."""

    def __init__(self, model):
        import tapegrad.kernels as K

        self.seconds = dict.fromkeys(("gemm", "kernels", "optimizer", "train_step"), 0.0)
        self._depth = {"optimizer": 0}
        self._restore = []
        for name in GEMM_KERNELS + OTHER_KERNELS + UPDATE_KERNELS:
            group = "gemm" if name in GEMM_KERNELS else "kernels"
            self._patch(K, name, group)
        self._patch(model, "train_step", "train_step")
        self._patch(model.optimizer, "apply_gradients", "optimizer")

    def _patch(self, owner, name, group):
        inner = getattr(owner, name)
        seconds, depth, clock = self.seconds, self._depth, time.perf_counter

        def timed(*args, **kwargs):
            if group == "kernels" and depth["optimizer"]:   # an update kernel: the optimizer's time
                return inner(*args, **kwargs)
            if group == "optimizer":
                depth["optimizer"] += 1
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[group] += clock() - start
                if group == "optimizer":
                    depth["optimizer"] -= 1

        had_own = name in vars(owner)
        self._restore.append((owner, name, inner if had_own else None))
        setattr(owner, name, timed)

    def close(self):
        for owner, name, inner in reversed(self._restore):
            if inner is None:
                delattr(owner, name)
            else:
                setattr(owner, name, inner)


def profile_train_step(backend, limit=12_800, rounds=3, batch_size=128):
    """Where one training step's time goes: ms per step and % of the step for
    each of ``PROFILE_PARTS``, from ``rounds`` timed epochs on ``limit`` images.

    Each round runs one epoch with timers around the kernel API functions,
    ``train_step`` and ``apply_gradients``, and one without, back to back: the
    parts of the round with the median timed epoch sum to it, and ``untimed_ms``
    says what a step costs without the timers.  Python/tape is what is left
    of ``train_step`` after the kernels and the optimizer: the tape, the
    layers' and ops' Python, input checks and allocation.  The step profiled
    is the eager one (``run_eagerly=True``): timers in Python would run once
    in a traced step, while it was traced.
    """
    import tapegrad

    x, y = _mnist(limit=limit)
    steps = -(-len(x) // batch_size)
    model = book_model(backend, run_eagerly=True)

    def epoch():
        start = time.perf_counter()
        with tapegrad.kernels.use(backend):
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        return (time.perf_counter() - start) * 1e3 / steps

    epoch()  # warm up: compile, allocate
    parts = {name: [] for name in PROFILE_PARTS}
    timed_ms, untimed_ms = [], []
    for _ in range(rounds):
        timers = _StepTimers(model)
        try:
            total = epoch()
        finally:
            timers.close()
        sec = {k: v * 1e3 / steps for k, v in timers.seconds.items()}
        timed_ms.append(total)
        parts["GEMMs"].append(sec["gemm"])
        parts["element-wise kernels"].append(sec["kernels"])
        parts["optimizer"].append(sec["optimizer"])
        parts["batch gather + fit loop"].append(total - sec["train_step"])
        parts["Python/tape"].append(sec["train_step"] - sec["gemm"] - sec["kernels"] - sec["optimizer"])
        untimed_ms.append(epoch())
    # the round with the median timed step, whole, so its parts add up to its step
    median_round = sorted(range(rounds), key=timed_ms.__getitem__)[rounds // 2]
    step = timed_ms[median_round]
    rows = [{"part": name, "ms_per_step": v[median_round], "percent": 100 * v[median_round] / step}
            for name, v in parts.items()]
    return {"rows": rows, "step_ms": step, "untimed_ms": statistics.median(untimed_ms),
            "steps": steps, "rounds": rounds}


def print_profile(profile, backend):
    print(f"\nwhere one training step goes: tapegrad {backend}, {profile['steps']} steps x "
          f"{profile['rounds']} rounds (784-512-10, batch 128, RMSprop)")
    print(f"{'part':26} {'ms/step':>8} {'% of step':>10}")
    for r in profile["rows"]:
        print(f"{r['part']:26} {r['ms_per_step']:8.3f} {r['percent']:9.1f}%")
    print(f"{'step (with timers)':26} {profile['step_ms']:8.3f}")
    print(f"{'step (no timers)':26} {profile['untimed_ms']:8.3f}")
