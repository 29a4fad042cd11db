"""The Keras 3 progress line: ``469/469 ━━━━━━━━━━━━━━━━━━━━ 2s 3ms/step - loss: 0.0380``.

On a terminal (or in Jupyter) the line is redrawn in place with ``\\r`` at
most every 0.05 s, so printing never slows training down; when stdout is not
a terminal only the final line of each epoch is printed.  ``verbose=2`` prints
Keras's one-line-per-epoch form instead.  A stream that cannot encode the bar's
``━`` (``PYTHONIOENCODING=ascii``, an old console) gets ``=`` and ``.`` instead.
"""

from __future__ import annotations

import sys
import time

WIDTH = 20
BAR = "\u2501"  # ━
ASCII_DONE, ASCII_TODO = "=", "."


def format_time_per_step(seconds):
    """3ms/step, 840us/step or 2s/step, as Keras rounds them."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_value(value):
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 or value != value else f"{value:.4e}"


def resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


class ProgressBar:
    """One epoch's (or one evaluate's) progress line."""

    def __init__(self, target, verbose=1, interval=0.05, stream=None):
        self.target = target
        self.verbose = verbose
        self.interval = interval
        self.stream = stream or sys.stdout
        self.dynamic = bool(getattr(self.stream, "isatty", lambda: False)()) or "ipykernel" in sys.modules
        self.start = time.perf_counter()
        self.after_first = None
        self.last_draw = 0.0
        self.prev_width = 0
        self.done_char, self.todo_char = (BAR, BAR) if _can_encode(self.stream, BAR) else (ASCII_DONE, ASCII_TODO)

    def _per_step(self, current, now):
        if current == 1 and self.after_first is None:
            self.after_first = now
        if self.after_first is not None and current > 1:
            return (now - self.after_first) / (current - 1)
        return (now - self.start) / current if current else 0.0

    def update(self, current, values=(), finalize=False):
        """Report ``current`` steps done; ``values`` are (name, value) pairs,
        or a function returning them, called only when the line is drawn."""
        now = time.perf_counter()
        per_step = self._per_step(current, now)
        if self.verbose == 0:
            return
        if not finalize and (not self.dynamic or self.verbose != 1 or now - self.last_draw < self.interval):
            return
        self.last_draw = now
        if callable(values):
            values = values()
        metrics = "".join(f" - {name}: {format_value(value)}" for name, value in values)
        digits = len(str(self.target))
        count = f"{current:{digits}d}/{self.target}" if self.target is not None else f"{current}/Unknown"
        if self.verbose == 2:
            self.stream.write(f"{count} - {now - self.start:.0f}s - {format_time_per_step(per_step)}{metrics}\n")
            self.stream.flush()
            return
        done = int(WIDTH * current / self.target) if self.target else WIDTH
        if finalize:
            timing = f"{now - self.start:.0f}s"
        else:
            eta = per_step * (self.target - current) if self.target is not None else 0.0
            timing = f"{eta // 60:.0f}:{eta % 60:02.0f}" if eta > 60 else f"{eta:.0f}s"
        done_bar, todo_bar = self.done_char * done, self.todo_char * (WIDTH - done)
        if self.dynamic:
            bar = f"\x1b[1m{count}\x1b[0m \x1b[32m{done_bar}\x1b[0m\x1b[37m{todo_bar}\x1b[0m"
            plain_len = len(count) + 1 + WIDTH
        else:
            bar = f"{count} {self.done_char * WIDTH}"
            plain_len = len(bar)
        info = f" {timing} {format_time_per_step(per_step)}{metrics}"
        width = plain_len + len(info)
        line = ("\r" if self.dynamic else "") + bar + info + " " * max(0, self.prev_width - width)
        self.prev_width = width
        self.stream.write(line + ("\n" if finalize else ""))
        self.stream.flush()


def _can_encode(stream, text):
    """Whether ``stream`` can write ``text`` (a stream with no encoding takes str as is)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
