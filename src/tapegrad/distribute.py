"""Data-parallel training over MPI: the few collectives a training loop needs.

Several copies of one program (MPI *ranks*, started by ``mpiexec -n 4 python
train.py``) each hold the whole model and see a different share of every batch;
after each backward pass they add up their gradients with one *allreduce*, so
every rank applies the same update and the weights stay identical.  The names
are Horovod's (``rank``, ``size``, ``allreduce``, ``broadcast_variables``), the
transport is the site's MPI through mpi4py, imported only when a program asks
for more than one process: ``import tapegrad`` never needs MPI.

One fused call moves many tensors: ``grouped_allreduce`` packs them into one
buffer per dtype, so a step pays the network's latency once, not once per weight
(with ``in_place=True`` the large ones are summed where they lie instead of
being copied, one allreduce each: a copy of 1.6 MB costs more than a latency).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import kernels
from .tensor import Tensor, Variable

#: reduction operations, named as in Horovod
Sum = "sum"
Average = "average"

#: environment variables that launchers set in each process they start: MPICH's
#: and Intel MPI's Hydra (PMI_*), Open MPI, PMIx (Slurm's srun, Open MPI 5), MVAPICH
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")

_state = {"comm": None, "local_size": 1, "previous_excepthook": None}


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec``, ``srun``...), known
    by the variables it sets; ``TAPEGRAD_MPI=1`` says so for a launcher not recognized."""
    return os.environ.get("TAPEGRAD_MPI") == "1" or any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _mpi():
    """mpi4py's MPI module (importing it initializes MPI), with a clear error where it is missing."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError('tapegrad.distribute needs mpi4py and an MPI library: pip install "tapegrad[mpi]" '
                          "(mpi4py and MPICH), or pip install mpi4py on a cluster with its own MPI") from exc
    return MPI


def init(threads="auto"):
    """Join the MPI world (once) and return its communicator (None for a process
    not started by an MPI launcher: it runs alone, and mpi4py is not even imported).

    With several processes, an uncaught exception on any rank aborts them all
    (``sys.excepthook`` calls ``MPI_Abort``: the job ends with a non-zero exit
    instead of hanging in the next collective), and ``threads="auto"`` gives
    each rank ``cores // ranks on this machine`` kernel threads, so that two
    ranks on two cores do not run four threads.  ``threads=None`` leaves the
    thread setting alone; a number sets it.
    """
    if _state["comm"] is not None:
        return _state["comm"]
    if not launched_by_mpi():
        if threads not in ("auto", None):
            kernels.set_num_threads(threads)
        return None
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    _state["comm"] = comm
    if comm.Get_size() > 1:
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        _state["local_size"] = local.Get_size()
        local.Free()
        _install_abort_on_exception()
        if threads == "auto":
            kernels.set_num_threads(threads_per_rank(_state["local_size"]))
    if threads not in ("auto", None):
        kernels.set_num_threads(threads)
    return comm


def threads_per_rank(ranks_here: int) -> int:
    """Kernel threads for each of ``ranks_here`` ranks sharing this machine's cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, ranks_here))


def _install_abort_on_exception():
    """Make an uncaught exception end the whole job: print it, then ``MPI_Abort``.

    Without this a rank that raises simply exits while the others wait forever
    in their next allreduce (mpi4py does the same only under ``python -m mpi4py``).
    """
    if _state["previous_excepthook"] is not None:
        return
    _state["previous_excepthook"] = previous = sys.excepthook

    def abort_on_exception(kind, value, traceback):
        previous(kind, value, traceback)
        abort(1)

    sys.excepthook = abort_on_exception


def abort(code: int = 1):
    """End every rank of the job now with exit status ``code`` (``MPI_Abort``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if size() == 1:
        os._exit(code)
    _comm().Abort(code)


def _comm():
    return _state["comm"] if _state["comm"] is not None else init()


def is_initialized() -> bool:
    """Whether this process has joined an MPI world (``init``)."""
    return _state["comm"] is not None


def size() -> int:
    """Number of processes in the job (1 when not launched by MPI and not ``init()``-ed)."""
    if _state["comm"] is None and not launched_by_mpi():
        return 1
    return _comm().Get_size()


def rank() -> int:
    """This process's number, 0 .. size() - 1; rank 0 prints and saves."""
    if _state["comm"] is None and not launched_by_mpi():
        return 0
    return _comm().Get_rank()


def local_size() -> int:
    """Number of processes of the job on this machine."""
    return _state["local_size"] if size() > 1 else 1


def barrier():
    """Wait until every rank gets here."""
    if size() > 1:
        _comm().Barrier()


# ------------------------------------------------------------------ moving tensors
def _host(value):
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def _like(original, host):
    """``host`` (a NumPy array) in the kind of ``original``: a Tensor on its backend, or an array."""
    if isinstance(original, Tensor):
        backend = original.backend
        return Tensor._wrap(backend.asarray(host), backend)
    return host if isinstance(original, np.ndarray) or np.ndim(host) else host.item()


def _check_op(op):
    if op not in (Sum, Average):
        raise ValueError(f"op must be tapegrad.distribute.Sum or Average ('sum', 'average'), got {op!r}")


def grouped_allreduce(values, op=Average, prescale_factor=1.0, postscale_factor=1.0, workspace=None,
                      in_place=False):
    """Sum (or average) each of ``values`` over all ranks, in one fused allreduce per dtype.

    Every value is multiplied by ``prescale_factor`` before the sum and by
    ``postscale_factor`` after it (as in Horovod); ``None`` entries pass
    through.  Returns new values of the same kinds (Tensors stay on their
    backend), identical on every rank.  A training loop may pass a dict as
    ``workspace``: the packed buffer is then kept there and reused by the next
    call (no 1.6 MB allocation per step), and the results are views of it,
    valid until that next call.

    ``in_place=True`` says the caller will not use ``values`` again (a step's
    fresh gradients): each large array is then summed where it lies, in its
    own allreduce, and only the small ones are copied into the fused buffer;
    packing the book MLP's 1.6 MB kernel gradient would cost a third of the
    allreduce itself.  Which arrays go alone depends on their sizes only, so
    every rank makes the same MPI calls; one that may not be overwritten (a
    view, an array given twice) is copied first.  The results are those arrays.
    """
    _check_op(op)
    values = list(values)
    hosts = [None if v is None else _host(v) for v in values]
    results = list(values)
    n = size()
    post = postscale_factor / (n if op == Average else 1)
    alone = [i for i, h in enumerate(hosts) if in_place and h is not None and h.nbytes >= IN_PLACE_MIN_BYTES]
    by_dtype = {}
    for i, h in enumerate(hosts):
        if h is not None and i not in alone:
            by_dtype.setdefault(h.dtype, []).append(i)
    if n > 1 and _wait["policy"] == "sleep":
        _wait_for_everyone()
    for dtype, indices in by_dtype.items():
        buffer = _packed(hosts, indices, dtype, prescale_factor, workspace)
        _sum_scaled(buffer, n, post)
        start = 0
        for i in indices:
            stop = start + hosts[i].size
            results[i] = _like(values[i], buffer[start:stop].reshape(hosts[i].shape))
            start = stop
    for i in alone:
        host = hosts[i] if _may_overwrite(hosts, i) else np.array(hosts[i], order="C")
        if prescale_factor != 1.0:
            host *= host.dtype.type(prescale_factor)
        _sum_scaled(host, n, post)
        results[i] = values[i] if isinstance(values[i], Tensor) and host is values[i]._data \
            else _like(values[i], host)
    return results


#: arrays at least this large (bytes) are reduced where they lie by ``in_place=True``; smaller
#: ones are packed together, so a bias costs a copy of a few KB, not an allreduce of its own
IN_PLACE_MIN_BYTES = 64 * 1024


def _may_overwrite(hosts, i):
    """Whether ``grouped_allreduce(in_place=True)`` may sum ``hosts[i]`` where it lies:
    contiguous, writeable, owning its memory (no view of another array) and sharing
    it with no other entry (a backward may hand one array to two weights)."""
    h = hosts[i]
    if h.base is not None or not h.flags.c_contiguous or not h.flags.writeable:
        return False
    return not any(h is other or np.may_share_memory(h, other) for j, other in enumerate(hosts)
                   if j != i and other is not None)


#: how a rank waits for late partners before ``grouped_allreduce``: "spin" leaves it to the
#: MPI (MPICH polls, busy, on its core); "sleep" first polls a nonblocking barrier for
#: ``spin_s`` seconds, then sleeps ``sleep_s`` between polls, leaving the core to others
_wait = {"policy": os.environ.get("TAPEGRAD_MPI_WAIT", "spin"), "spin_s": 50e-6, "sleep_s": 50e-6}


def _wait_for_everyone():
    """Return once every rank has reached this point, sleeping rather than spinning
    while a partner is late (``MPI_Ibarrier`` polled with ``MPI_Test``)."""
    request = _comm().Ibarrier()
    clock = time.perf_counter
    spin_until = clock() + _wait["spin_s"]
    while not request.Test():
        if clock() > spin_until:
            time.sleep(_wait["sleep_s"])


def _sum_scaled(buffer, n, post):
    """``buffer`` summed over the ranks, in place, then times ``post``."""
    if n > 1:
        _comm().Allreduce(_mpi().IN_PLACE, buffer, op=_mpi().SUM)
    if post != 1.0:
        buffer *= buffer.dtype.type(post)


def _packed(hosts, indices, dtype, scale, workspace):
    """One contiguous buffer holding ``hosts[i] * scale`` for ``i`` in ``indices``, in order:
    one pass over the values, into the workspace's buffer when it has one of that size."""
    total = sum(hosts[i].size for i in indices)
    buffer = None if workspace is None else workspace.get(dtype)
    if buffer is None or buffer.size != total:
        buffer = np.empty(total, dtype)
        if workspace is not None:
            workspace[dtype] = buffer
    start = 0
    for i in indices:
        stop = start + hosts[i].size
        if scale != 1.0:
            np.multiply(hosts[i].reshape(-1), dtype.type(scale), out=buffer[start:stop])
        else:
            buffer[start:stop] = hosts[i].reshape(-1)
        start = stop
    return buffer


def allreduce(value, op=Average, prescale_factor=1.0, postscale_factor=1.0):
    """``value`` (a Tensor, array or number) summed or averaged over all ranks."""
    return grouped_allreduce([value], op, prescale_factor, postscale_factor)[0]


def broadcast_variables(variables, root_rank=0):
    """Overwrite ``variables`` on every rank with rank ``root_rank``'s values (in place).

    Call it once after the model is built, so all ranks start from the same
    weights (``keras.distribution.DataParallel`` does it for ``fit``).
    """
    variables = list(variables)
    for v in variables:
        if not isinstance(v, Variable):
            raise TypeError(f"broadcast_variables needs Variables, got {type(v).__name__}")
    if size() == 1 or not variables:
        return
    hosts = [v.numpy() for v in variables]
    for dtype in {h.dtype for h in hosts}:
        indices = [i for i, h in enumerate(hosts) if h.dtype == dtype]
        buffer = np.concatenate([hosts[i].ravel() for i in indices])
        _comm().Bcast(buffer, root=root_rank)
        start = 0
        for i in indices:
            stop = start + hosts[i].size
            variables[i].assign(buffer[start:stop].reshape(hosts[i].shape))
            start = stop


def broadcast_object(obj, root_rank=0):
    """Any picklable object, as rank ``root_rank`` has it."""
    return obj if size() == 1 else _comm().bcast(obj, root=root_rank)


def allgather_object(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    return [obj] if size() == 1 else _comm().allgather(obj)


__all__ = ["init", "is_initialized", "launched_by_mpi", "size", "rank", "local_size", "barrier", "abort",
           "allreduce", "grouped_allreduce", "broadcast_variables", "broadcast_object", "allgather_object",
           "threads_per_rank", "Sum", "Average"]
