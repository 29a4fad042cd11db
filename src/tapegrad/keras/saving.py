"""``model.save("m.keras")`` and ``keras.models.load_model``: a whole model in one zip file.

The file holds what rebuilds the model and lets it go on training:

- ``config.json``: the model as data: its class and ``get_config()`` (for a
  graph, every layer's config and the calls connecting them; for a
  ``Sequential``, its layers; for a subclassed model, your ``get_config``),
  the input shapes a subclassed model was built for, and the ``compile``
  arguments (optimizer class and config, loss, metrics, loss_weights);
- ``metadata.json``: tapegrad's version and the date;
- ``model.weights.npz``: the weights, exactly as ``save_weights`` writes them
  (and read back with the same header checks);
- ``optimizer.npz``: the optimizer's step count and its state arrays (the
  RMSprop accumulators, Adam's moments...), one set per weight.

Loading makes the model from the config, builds it, sets the weights, then
(``compile=True``) compiles it and restores the optimizer state, so the
loaded model predicts the same numbers and its next training step is the
one the saved model would have taken.  Keras writes the weights as HDF5
(``model.weights.h5``) and keeps the optimizer's variables there too;
tapegrad uses NumPy archives, so its ``.keras`` files do not load in Keras.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import zipfile

import numpy as np

from ..atomic_file import path_string, write_atomically
from . import optimizers
from .npz_file import open_npz, read_checked_array
from .serialization import (custom_object_scope, custom_objects_argument, deserialize_keras_object,  # noqa: F401
                            get_registered_name, get_registered_object, register_keras_serializable,
                            serialize_keras_object)
from .trainer import Trainer

CONFIG, METADATA, WEIGHTS, OPTIMIZER = "config.json", "metadata.json", "model.weights.npz", "optimizer.npz"
MEMBERS = (CONFIG, METADATA, WEIGHTS, OPTIMIZER)


def _keras_path(filepath, what):
    filepath = path_string(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"{what}: a whole-model file must end in '.keras', got {filepath!r} (weights alone: "
                         f"model.save_weights('name.weights.npz'))")
    return filepath


# ------------------------------------------------------------------ saving
def _version():
    """The installed tapegrad's version (``import tapegrad`` sits above keras/, so not ``__version__``)."""
    import importlib.metadata   # here, not at the top: it imports email, which import tapegrad avoids

    try:
        return importlib.metadata.version("tapegrad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def compile_config(model):
    """``compile``'s arguments as data: the optimizer by class and config, losses and metrics serialized."""
    if model.optimizer is None:
        return None
    loss, metric_list, loss_weights = model.__dict__.get("_compile_config", (model.loss, None, None))
    return {"optimizer": optimizers.serialize(model.optimizer), "loss": serialize_keras_object(loss),
            "metrics": serialize_keras_object(metric_list), "loss_weights": loss_weights}


def model_config(model):
    """The JSON-ready description of ``model`` that ``config.json`` holds."""
    config = serialize_keras_object(model)
    build = model.get_build_config()
    if build is not None:
        config["build_config"] = build
    compiled = compile_config(model)
    if compiled is not None:
        config["compile_config"] = compiled
    return config


def _optimizer_archive(model):
    """``optimizer.npz``'s bytes: ``iterations``, ``has_state`` (per weight), and ``slot_<weight>_<k>``."""
    iterations, slots = model.optimizer.export_state(model.weights)
    arrays = {"iterations": np.array(iterations, np.int64),
              "has_state": np.array([s is not None for s in slots], bool)}
    for i, arrays_of_weight in enumerate(slots):
        for k, a in enumerate(arrays_of_weight or []):
            arrays[f"slot_{i:04d}_{k}"] = a
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_model(model, filepath, overwrite=True):
    """Write ``model`` to ``filepath`` (a ``.keras`` zip), atomically: temp file, then rename."""
    filepath = _keras_path(filepath, "save")
    if not isinstance(model, Trainer):
        raise TypeError(f"save_model expects a keras Model, got {type(model).__name__}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the folder of {filepath!r} does not exist")
    config = json.dumps(model_config(model), indent=2)
    metadata = json.dumps({"tapegrad_version": _version(), "class_name": type(model).__name__,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}, indent=2)
    weights = io.BytesIO()
    if model.built:
        model._write_weights(weights)
    else:
        np.savez(weights, names=np.array([], str))
    with write_atomically(filepath, suffix=".tmp") as f, zipfile.ZipFile(f, "w") as archive:
        archive.writestr(CONFIG, config, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(METADATA, metadata, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(WEIGHTS, weights.getvalue(), compress_type=zipfile.ZIP_STORED)
        if model.optimizer is not None:
            archive.writestr(OPTIMIZER, _optimizer_archive(model), compress_type=zipfile.ZIP_STORED)


# ------------------------------------------------------------------ loading
def _read_json(archive, name, filepath):
    try:
        return json.loads(archive.read(name).decode("utf-8"))
    except KeyError:
        raise ValueError(f"load_model: {filepath} has no {name}: it is not a whole-model .keras file "
                         f"written by model.save (members: {archive.namelist()})") from None
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError, RecursionError) as exc:
        raise ValueError(f"load_model: {name} in {filepath} is not readable JSON ({exc})") from None


MAX_CONFIG_DEPTH = 500   # a real model's config nests a few dozen levels


def _check_depth(config, filepath):
    """Refuse a config nested deeper than any model's (walked without recursion)."""
    stack = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"load_model: {CONFIG} in {filepath} nests more than {MAX_CONFIG_DEPTH} levels deep: "
                             f"it does not describe a model")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


@contextlib.contextmanager
def _config_errors(filepath, what):
    """Turn what a malformed config trips inside the loaders into a ValueError naming the file."""
    try:
        yield
    except ValueError as exc:
        if filepath in str(exc):
            raise
        raise ValueError(f"load_model: {CONFIG} in {filepath}: {what}: {exc}") from exc
    except RecursionError:
        raise ValueError(f"load_model: {CONFIG} in {filepath}: {what}: its layers refer to each other in a "
                         f"loop or nest too deeply") from None
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"load_model: {CONFIG} in {filepath} is malformed: {what} failed with "
                         f"{type(exc).__name__}: {exc}") from exc


def _open_member(archive, name, filepath):
    """A seekable stream of the zip member ``name`` (stored uncompressed by ``save_model``)."""
    if name not in archive.namelist():
        raise ValueError(f"load_model: {filepath} has no {name}: it is not a whole-model .keras file written "
                         f"by model.save (members: {archive.namelist()})")
    return archive.open(name)


def _restore_optimizer(model, archive, filepath):
    where = f"{filepath} ({OPTIMIZER})"
    with _open_member(archive, OPTIMIZER, filepath) as stream, open_npz(stream, where) as state:
        weights = model.weights
        iterations = read_checked_array(state, "iterations.npy", where, (), np.dtype(np.int64), "iterations")
        has_state = read_checked_array(state, "has_state.npy", where, (len(weights),), np.dtype(bool),
                                       "has_state (one flag per weight)")
        n_slots = len(model.optimizer._slots)
        slots = [None if not flag else
                 [read_checked_array(state, f"slot_{i:04d}_{k}.npy", where, w.shape, w.dtype,
                                     f"optimizer state {k} of weight {i} ({w.name})") for k in range(n_slots)]
                 for i, (w, flag) in enumerate(zip(weights, has_state))]
    model.optimizer.import_state(weights, int(iterations), slots)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model in ``filepath`` (a ``.keras`` file from ``model.save``), its weights set.

    ``custom_objects`` (``{"Name": cls_or_function}``) supplies classes that
    were not registered with ``register_keras_serializable``.  With
    ``compile=True`` the model comes back compiled, with the optimizer's
    state, ready to continue training.  ``safe_mode`` is accepted for Keras
    compatibility: a tapegrad file holds no code (no lambdas) to guard.
    """
    filepath = _keras_path(filepath, "load_model")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible "
                         f"`.keras` zip file.")
    try:
        archive = zipfile.ZipFile(filepath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"load_model: {filepath} is not a .keras zip file ({exc})") from None
    with archive, custom_objects_argument(custom_objects):   # an open custom_object_scope wins, as in Keras 3
        config = _read_json(archive, CONFIG, filepath)
        _read_json(archive, METADATA, filepath)
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) \
                or not isinstance(config.get("config"), dict):
            raise ValueError(f"load_model: {CONFIG} in {filepath} does not describe a model (a JSON object with "
                             f"a 'class_name' string and a 'config' object)")
        _check_depth(config, filepath)
        with _config_errors(filepath, "rebuilding the model"):
            model = deserialize_keras_object(
                {key: config[key] for key in ("module", "class_name", "config", "registered_name") if key in config},
                "layer")
            if not isinstance(model, Trainer):
                raise ValueError(f"load_model: {filepath} holds a {type(model).__name__}, not a model")
            model.build_from_config(config.get("build_config"))
        with _open_member(archive, WEIGHTS, filepath) as stream:
            model._read_weights(stream, f"{filepath} ({WEIGHTS})")
        compiled = config.get("compile_config")
        if compile and compiled:
            with _config_errors(filepath, "compile_config"):
                model.compile(optimizer=optimizers.deserialize(compiled["optimizer"]),
                              loss=deserialize_keras_object(compiled["loss"], "loss"),
                              metrics=deserialize_keras_object(compiled["metrics"], "metric"),
                              loss_weights=compiled.get("loss_weights"))
                if not isinstance(model.optimizer, optimizers.Optimizer):
                    raise ValueError(f"the optimizer is a {type(model.optimizer).__name__}, not an Optimizer")
            if OPTIMIZER in archive.namelist():
                _restore_optimizer(model, archive, filepath)
    return model


__all__ = ["save_model", "load_model", "register_keras_serializable", "get_registered_object",
           "get_registered_name", "serialize_keras_object", "deserialize_keras_object", "custom_object_scope"]
