"""``keras.distribution``: Keras 3's distribution API, one model replica per MPI process.

In Keras 3 (on JAX) a ``DataParallel`` distribution spreads each batch over
devices; here each *device* is an MPI process on the CPU (``"cpu:0"``,
``"cpu:1"``... as ``list_devices`` names them, one per rank), so a script
changes by two lines and runs under ``mpiexec -n 4 python train.py``::

    keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=128)    # 128 is the global batch, split over the ranks

What ``fit`` / ``evaluate`` / ``predict`` then do is in ``data_parallel.py``.
``ModelParallel`` and layouts that shard weights are not available.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np

from .. import distribute

DEFAULT_BATCH_DIM_NAME = "batch"
_current = [None]   # the global distribution (Keras keeps it in its global state)


def list_devices(device_type=None):
    """The devices of the whole job, ``"cpu:<rank>"``: one per MPI process.

    As in Keras, the global list (every process's), not this process's.
    """
    if device_type is not None and device_type.lower() != "cpu":
        raise ValueError(f"list_devices: tapegrad's distribution runs one replica per MPI process on the CPU; "
                         f"device_type must be 'cpu' or None, got {device_type!r}")
    return [f"cpu:{i}" for i in range(distribute.size())]


def get_device_count(device_type=None):
    """How many devices ``list_devices(device_type)`` returns."""
    return len(list_devices(device_type))


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Join the MPI world (``tapegrad.distribute.init``): the launcher knows the processes.

    ``mpiexec`` (or the cluster's ``srun``) starts the processes and tells
    each its number, so the arguments Keras takes for JAX are not needed; when
    given (or set in ``KERAS_DISTRIBUTION_NUM_PROCESSES`` /
    ``KERAS_DISTRIBUTION_PROCESS_ID``) they are checked against MPI's.
    ``job_addresses`` is ignored: MPI finds the other processes itself.
    """
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ:
        process_id = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    distribute.init()
    if num_processes is not None and int(num_processes) != distribute.size():
        raise ValueError(f"initialize: num_processes={num_processes}, but MPI started {distribute.size()} "
                         f"processes (launch with mpiexec -n {num_processes})")
    if process_id is not None and int(process_id) != distribute.rank():
        raise ValueError(f"initialize: process_id={process_id}, but MPI numbered this process "
                         f"{distribute.rank()}")


class DeviceMesh:
    """Devices arranged in a grid with named axes (a data-parallel mesh is 1-D: ``("batch",)``)."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"Shape and axis_names cannot be empty. Received: shape={shape}, "
                             f"axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError(f"Shape and axis_names should have same size. Received: shape={shape}, "
                             f"axis_names={axis_names}")
        devices = np.array(list_devices() if devices is None else devices)
        if math.prod(shape) != math.prod(devices.shape):
            raise ValueError(f"Shape does not match the number of devices. Received: shape={shape}; "
                             f"devices.shape={devices.shape}")
        self._shape, self._axis_names = tuple(shape), list(axis_names)
        self._devices = np.reshape(devices, shape)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}>"


class TensorLayout:
    """How a tensor's axes map onto a mesh's axes (``None``: replicated along that axis)."""

    def __init__(self, axes, device_mesh=None):
        self.axes = tuple(axes)
        self.device_mesh = device_mesh

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}, device_mesh={self.device_mesh}>"


class Distribution:
    """Base class: a device mesh, the batch axis's name, and which shard this process reads."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = auto_shard_dataset
        self._num_processes = distribute.size()
        self._process_id = distribute.rank()

    @property
    def num_processes(self):
        return self._num_processes

    @property
    def num_model_replicas(self):
        raise NotImplementedError

    @property
    def num_data_shards(self):
        return min(self.num_model_replicas, self.num_processes)

    @property
    def data_shard_id(self):
        return self._process_id

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @auto_shard_dataset.setter
    def auto_shard_dataset(self, value):
        self._auto_shard_dataset = value

    @contextlib.contextmanager
    def scope(self):
        """Make this the current distribution inside a ``with`` block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"


class DataParallel(Distribution):
    """Every process holds the whole model and trains on its share of each global batch.

    Give a 1-D ``device_mesh`` or a list of ``devices``, or neither (every
    process of the job, from ``list_devices()``).  tapegrad runs exactly one
    replica per MPI process, so the devices must be all of the job's.
    ``auto_shard_dataset=False`` is for data already split by process: each
    rank then trains on the batches it is given, weighted by their sizes.
    ``balance_load=True`` (tapegrad's, not Keras's) sizes each rank's share of
    a training batch by its measured speed, for ranks that share busy cores
    (``load_balance.py``): the same gradients, but the rounding then depends
    on the timings, so two runs no longer end bit-identical to each other.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True, balance_load=False):
        self.balance_load = bool(balance_load)
        if device_mesh is not None:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError(f"Expect `mesh` to be an instance of `DeviceMesh`. Received: mesh={device_mesh} "
                                 f"(of type {type(device_mesh)})")
            mesh = device_mesh
        else:
            found = list_devices() if not devices else list(devices)
            mesh = DeviceMesh(shape=(len(found),), axis_names=[DEFAULT_BATCH_DIM_NAME], devices=found)
        super().__init__(mesh, mesh.axis_names[0], auto_shard_dataset)
        if mesh.devices.size != distribute.size():
            raise ValueError(f"DataParallel: tapegrad runs one model replica per MPI process, so the mesh must "
                             f"hold the job's {distribute.size()} devices {list_devices()}, got "
                             f"{mesh.devices.size}: {mesh.devices.ravel().tolist()}")

    @property
    def num_model_replicas(self):
        return self.device_mesh.devices.size

    def get_data_layout(self, data_shape):
        """Inputs are split along their first (batch) axis."""
        return TensorLayout([self.batch_dim_name] + [None] * (len(data_shape) - 1), self.device_mesh)

    def get_variable_layout(self, variable):
        """Weights are replicated: every process holds all of them."""
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return None


def distribution():
    """The current global distribution (None: one process, nothing distributed)."""
    return _current[0]


def set_distribution(value):
    """Make ``value`` (a ``DataParallel``, or None) the global distribution ``fit`` follows."""
    if value is not None and not isinstance(value, Distribution):
        raise ValueError(f"set_distribution: expected a Distribution such as DataParallel(), got {value!r}")
    _current[0] = value


__all__ = ["list_devices", "get_device_count", "initialize", "DeviceMesh", "TensorLayout", "Distribution",
           "DataParallel", "distribution", "set_distribution"]
