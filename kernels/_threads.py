"""How many threads the compiled CPU kernels use: a fixed count, or "auto".

The Cython build and Numba's omp layer thread with libgomp, whose threads
spin at every barrier waiting for their partners.  On a quiet machine two
threads nearly halve a GEMM; when another process wants a core, a partner is
descheduled mid-GEMM and the other thread spins through its time slice, so
two threads run 2x (one busy neighbour) to 40x (heavy load) *slower* than one.
``OMP_WAIT_POLICY=passive`` avoids that but costs ~20% on a quiet machine, and
libgomp reads it only when it loads.  So the default policy measures instead.

``auto`` (the default): every GEMM big enough to run in parallel is timed with
``time.perf_counter`` (well under 1 us against the 0.1-3 ms of a GEMM). Now
and then a few calls run on the other thread count: a *probe* (on all threads,
8 one-thread calls every 2 s keep the serial reference current, well under 1%
of the time on a quiet machine). While on all threads, when their GEMMs are no
faster than the serial ones measured by the last probe (time-weighted over the
shapes seen), the backend drops to one thread; while on one thread it probes
all threads again after 0.25 s, doubling the wait after each failed probe up
to 8 s, and a probe call that takes 1.5x the serial time ends the probe at
once, so a collapse costs one slow call, not a burst. Under heavy load even
that one call can cost 100x a serial one, so on Linux a retry is skipped
(counted as failed) while the kernel's count of runnable tasks
(``/proc/loadavg``) shows other processes wanting more cores than the retry
would leave them. Element-wise kernels follow the current choice.
``set_num_threads(n)`` switches the policy off and uses exactly ``n``;
``set_num_threads("auto")`` starts it afresh, on all threads. Measured effect:
docs/threads.md.
"""

from __future__ import annotations

import collections
import os
import threading
import time

#: backends whose kernels run on a thread pool the policy can size
THREADED_BACKENDS = ("cython", "numba")
#: GEMMs under this many flops (2*m*n*k) run on one thread in both compiled
#: backends anyway (their own cut-offs), so the policy does not time them
TIMED_MIN_FLOPS = 4e6


class _Window(collections.deque):
    """The last few timings of one (shape, threads), with their ``median``
    kept up to date as they arrive: the policy weighs medians on every timed
    GEMM, so each is computed once per new timing, not once per look."""

    __slots__ = ("median",)

    def __init__(self, maxlen):
        super().__init__(maxlen=maxlen)
        self.median = None

    def append(self, seconds):
        super().append(seconds)
        self.median = _middle(sorted(self))

    def clear(self):
        super().clear()
        self.median = None


def _middle(ordered) -> float:
    """The median of sorted numbers, as ``statistics.median`` gives it: the
    middle one, or the mean of the middle two."""
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _median(times) -> float:
    """The median of a few timings; a ``_Window`` already knows its own."""
    return times.median if type(times) is _Window else _middle(sorted(times))


def free_cores() -> int | None:
    """Cores not wanted right now by other processes' runnable threads, from
    the kernel's count in /proc/loadavg (which includes this thread); None
    where that is unknown or covers CPUs this process may not run on."""
    try:
        cores = len(os.sched_getaffinity(0))
        if cores != os.cpu_count():
            return None
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
    except (AttributeError, OSError, ValueError, IndexError):
        return None
    return cores - max(0, runnable - 1)


class AdaptiveThreads:
    """The "auto" decision for one backend, from timings it is told about.

    ``choose(key)`` returns the thread count for the next call of a GEMM
    shape ``key``; ``record(key, threads, seconds)`` reports how long it
    took.  Pure logic with an injectable clock, so it can be tested with
    synthetic timings; ``free_cores`` returns the cores other processes
    leave free (None: unknown).
    """

    WINDOW = 5                  # recent timings kept per (shape, threads)
    PROBE_CALLS = 8             # calls per probe: more than the GEMMs of one training step
    SERIAL_PROBE_EVERY = 2.0    # s, on all threads: refresh the one-thread reference
    PARALLEL_RETRY_FIRST = 0.25  # s, on one thread: first retry of all threads
    PARALLEL_RETRY_MAX = 8.0    # s, the longest wait between retries
    DROP_RATIO = 1.0            # parallel/serial time above which one thread wins
    RETURN_RATIO = 0.85         # ... below which all threads win again
    ABORT_RATIO = 1.5           # a parallel probe call this much slower than serial ends the probe

    def __init__(self, max_threads: int, clock=time.perf_counter, free_cores=free_cores):
        self.max_threads = max(1, int(max_threads))
        self._free_cores = free_cores
        self.current = self.max_threads
        self._clock = clock
        self._times: dict = {}
        self._both: list = []        # (all-thread, one-thread) windows of each shape timed both ways
        self._seen: set = set()
        self._probe_left = 0
        self._next_probe = clock()   # probe at once: a first serial reference
        self._retry_wait = self.PARALLEL_RETRY_FIRST

    @property
    def _other(self) -> int:
        return 1 if self.current > 1 else self.max_threads

    def choose(self, key) -> int:
        """Threads for the next call of shape ``key``."""
        if self.max_threads == 1 or key not in self._seen:
            return self.current              # the first call of a shape is a warm-up
        if self._probe_left == 0 and self._clock() >= self._next_probe:
            if self._other > 1:
                free = self._free_cores()
                if free is not None and free < self.max_threads:
                    self._probe_failed()     # others want the cores: don't even try
                    return self.current
            self._probe_left = self.PROBE_CALLS
            if self._other > 1:              # judge all threads on fresh timings only
                for k, n in list(self._times):
                    if n > 1:
                        self._times[(k, n)].clear()
        return self._other if self._probe_left else self.current

    def record(self, key, threads: int, seconds: float) -> None:
        """Report that a call of shape ``key`` on ``threads`` took ``seconds``."""
        if key not in self._seen:            # warm-up: page faults, JIT compiles
            self._seen.add(key)
            return
        times = self._times.get((key, threads))
        if times is None:
            times = self._times[(key, threads)] = _Window(self.WINDOW)
            serial, parallel = self._times.get((key, 1)), self._times.get((key, self.max_threads))
            if serial is not None and parallel is not None and serial is not parallel:
                self._both.append((parallel, serial))
        times.append(seconds)
        if threads == self.current:
            if self.current > 1:
                self._decide(end_of_probe=False)
            return
        if self._probe_left == 0:            # a stray call (the choice changed under it)
            return
        self._probe_left -= 1
        serial = self._times.get((key, 1))
        if threads > 1 and serial and seconds > self.ABORT_RATIO * _median(serial):
            self._probe_left = 0
            self._probe_failed()
        elif self._probe_left == 0:
            self._decide(end_of_probe=True)

    def parallel_to_serial_ratio(self) -> float | None:
        """Sum of median all-thread times over sum of median one-thread
        times, over the shapes measured both ways (None when there are none).
        Asked on every timed GEMM on all threads, so it walks only the pairs
        of windows (``_both``), whose medians are kept up to date."""
        par = ser = 0.0
        for parallel, serial in self._both:
            if parallel.median is not None and serial.median is not None:
                par += parallel.median
                ser += serial.median
        return par / ser if ser > 0 else None

    def _decide(self, end_of_probe: bool) -> None:
        ratio = self.parallel_to_serial_ratio()
        now = self._clock()
        if self.current > 1 and ratio is not None and ratio > self.DROP_RATIO:
            self.current = 1
            self._probe_left = 0
            self._retry_wait = self.PARALLEL_RETRY_FIRST
            self._next_probe = now + self._retry_wait
        elif self.current == 1 and ratio is not None and ratio < self.RETURN_RATIO:
            self.current = self.max_threads
            self._next_probe = now + self.SERIAL_PROBE_EVERY
        elif end_of_probe:
            if self.current == 1:
                self._probe_failed()
            else:
                self._next_probe = now + self.SERIAL_PROBE_EVERY

    def _probe_failed(self) -> None:
        self._next_probe = self._clock() + self._retry_wait
        self._retry_wait = min(2 * self._retry_wait, self.PARALLEL_RETRY_MAX)


class _BackendThreads:
    """The thread setting of one backend: a fixed count or an AdaptiveThreads."""

    def __init__(self, backend):
        self.backend = backend
        self.default = backend.get_num_threads()
        self.lock = threading.Lock()
        self.auto: AdaptiveThreads | None = AdaptiveThreads(self.default)

    def apply(self, n: int) -> None:
        if n != self.backend.get_num_threads():
            self.backend.set_num_threads(n)


_settings: dict[str, _BackendThreads] = {}
_lock = threading.Lock()


def _setting(backend) -> _BackendThreads | None:
    if backend.name not in THREADED_BACKENDS:
        return None
    setting = _settings.get(backend.name)
    if setting is None:
        with _lock:
            setting = _settings.setdefault(backend.name, _BackendThreads(backend))
    return setting


def set_threads(backend, n) -> None:
    """``n`` threads from now on, or ``"auto"`` for the measured policy."""
    setting = _setting(backend)
    if setting is None:
        return
    if n == "auto":
        if setting.auto is None:
            setting.auto = AdaptiveThreads(setting.default)
        setting.apply(setting.auto.current)
    else:
        setting.auto = None
        setting.apply(n)


def policy(backend):
    """The backend's AdaptiveThreads, or None when its count is fixed."""
    setting = _setting(backend)
    return None if setting is None else setting.auto


def run_gemm(backend, flops: float, key, kernel, *args) -> None:
    """Call ``kernel(*args)`` (a GEMM of ``flops``) on the threads the policy picks."""
    if flops < TIMED_MIN_FLOPS:              # small: one thread in the kernels anyway
        kernel(*args)
        return
    setting = _settings.get(backend.name) or _setting(backend)   # the dict hit is the common case
    auto = None if setting is None else setting.auto
    if auto is None:                         # a fixed count (set_num_threads(n)): nothing to time
        kernel(*args)
        return
    with setting.lock:                       # Python threads may share the policy
        n = auto.choose(key)
        setting.apply(n)
    start = time.perf_counter()
    kernel(*args)
    elapsed = time.perf_counter() - start
    with setting.lock:
        auto.record(key, n, elapsed)
        setting.apply(auto.current)
