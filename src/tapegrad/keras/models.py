"""Models: ``Model`` (a graph of layers, or your own ``call``) and ``Sequential``.

A model is a layer made of layers, with a training loop (``trainer.py``).
``keras.Model(inputs, outputs)`` is a functional model: the graph recorded
when layers were called on ``keras.Input`` tensors, run node by node.  A
subclass of ``Model`` writes its own ``call``; the layers it assigns to
attributes are tracked, so its weights are found.  ``Sequential`` is the
special case of a chain: its forward pass is a plain loop over its layers.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from .. import ops
from ..atomic_file import write_atomically
from ..tensor import Tensor
from . import metrics as metrics_module
from . import serialization
from .layers import Input, InputLayer, Layer, _takes_training, _unique_name
from .layers import deserialize as deserialize_layer
from .layers import serialize as serialize_layer
from .node import (KerasTensor, flatten, is_symbolic, map_structure, map_structure_shapes, nodes_between,
                   output_shape_of, pack_like, run_nodes, symbolic_call)
from .npz_file import _NpyMember, npz_path, open_npz, read_checked_array
from .trainer import Trainer


_functional_variants = {}


class Model(Trainer, Layer):
    """``keras.Model``: ``Model(inputs=..., outputs=...)`` for a graph, or subclass it with a ``call``.

    Layers (and lists of layers) assigned as attributes of a subclassed model
    are tracked: ``model.layers``, ``model.weights`` and ``summary`` see them.
    A subclassed model builds on its first call with data; called on a
    ``keras.Input`` it runs ``compute_output_shape`` if it defines one, else a
    traced run of ``call`` on a zero batch of one sample, to learn its output
    shapes (the same way it builds).
    """

    def __new__(cls, *args, **kwargs):
        if ("inputs" in kwargs or len(args) >= 2) and not issubclass(cls, Functional):
            # Model(inputs, outputs) is a graph; so is a subclass (say, with its own
            # train_step) given inputs and outputs: it becomes a graph model too
            if cls is not Model:
                cls = _functional_variants.setdefault(cls, type(cls.__name__, (cls, Functional),
                                                                {"__module__": cls.__module__}))
            else:
                cls = Functional
        return super().__new__(cls)

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if args or kwargs:
            raise TypeError(f"Model.__init__ got unexpected arguments {args} {sorted(kwargs)}; a functional "
                            f"model is Model(inputs=..., outputs=...)")
        self.__dict__.setdefault("_tracked_layers", [])
        self.__dict__.setdefault("_tracked_metrics", [])
        Layer.__init__(self, name=name or _unique_name(_default_name(type(self))), trainable=trainable)

    def __setattr__(self, name, value):
        if isinstance(value, Layer) or (isinstance(value, (list, tuple)) and value
                                        and all(isinstance(v, Layer) for v in value)):
            tracked = self.__dict__.setdefault("_tracked_layers", [])
            for layer in (value if isinstance(value, (list, tuple)) else [value]):
                if all(layer is not t for t in tracked):
                    tracked.append(layer)
        elif isinstance(value, metrics_module.Metric):
            self.__dict__.setdefault("_tracked_metrics", []).append(value)
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------- structure
    @property
    def layers(self):
        return list(self.__dict__.get("_tracked_layers", []))

    def _sublayers(self):
        try:
            return self.layers
        except AttributeError:   # called from Layer.__init__, before the layers exist
            return []

    @property
    def weights(self):
        return _unique([w for layer in self.layers for w in layer.weights])

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return _unique([w for layer in self.layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return _unique([w for layer in self.layers for w in layer.non_trainable_weights])

    trainable_variables = trainable_weights

    @property
    def losses(self):
        """Every layer's penalties: weight regularizers and the last call's activity ones."""
        return [penalty for layer in self.layers for penalty in layer.losses]

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays):
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(f"the model has {len(weights)} weights, got {len(arrays)} arrays")
        for w, a in zip(weights, arrays):
            w.assign(a)

    def get_layer(self, name=None, index=None):
        """A layer by name (or position in ``layers``)."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")

    # ---------------------------------------------------------- calling
    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs, training=None), "
                                  f"or be built with Model(inputs=..., outputs=...)")

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, training)
        outputs = self.call(inputs, training=training) if _takes_training(type(self)) else self.call(inputs)
        if not self.built:
            self.built = True
            # what build() needs to make the weights again (model.save's build_config)
            self._build_input_shape = map_structure(lambda a: [None, *np.shape(a)[1:]], inputs)
            self._output_names = list(outputs) if isinstance(outputs, dict) else \
                [f"output_{i}" for i in range(len(outputs))] if isinstance(outputs, (list, tuple)) else None
        return outputs

    def build(self, input_shape):
        """Build a subclassed model: run ``call`` on a zero batch of one sample of ``input_shape``."""
        if not self.built:
            self(_zeros_like_shapes(input_shape), training=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        outputs = self(_zeros_like_shapes(input_shape), training=False)
        return map_structure_shapes(lambda s: s, pack_like(outputs, [(None, *t.shape[1:]) for t in flatten(outputs)]))

    # ---------------------------------------------------------- summary
    def summary(self, print_fn=None):
        """Print the Keras table: each layer, its output shape and parameter count."""
        rows = []
        for layer in self.layers:
            shape = str(layer.output_shape) if layer.built and layer.output_shape else "?"
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))
        _print_table(self, ("Layer (type)", "Output Shape", "Param #"), rows, (33, 26, 15), print_fn)

    # ---------------------------------------------------------- config and saving
    def get_config(self):
        """A subclassed model's constructor arguments. The base version knows only
        ``name`` and ``trainable``: a subclass whose ``__init__`` takes more must
        override it (Keras's rule), and ``from_config`` then calls ``cls(**config)``."""
        if type(self).get_config is Model.get_config:
            serialization.require_own_get_config(self, Model.__init__, "Model")
        accepted = inspect.signature(type(self).__init__).parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
        return {key: value for key, value in (("name", self.name), ("trainable", self.trainable))
                if takes_any or key in accepted}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls is Model and all(key in config for key in ("layers", "input_layers", "output_layers")):
            return Functional.from_config(config, custom_objects)   # a graph's config, as Keras 3
        with serialization.custom_object_scope(custom_objects):
            return cls(**config)

    def get_build_config(self):
        """The input shape(s) a subclassed model was first called with (None before that)."""
        shape = self.__dict__.get("_build_input_shape")
        return None if shape is None else {"input_shape": shape}

    def build_from_config(self, config):
        if config and not self.built:
            self.build(config["input_shape"])

    def save(self, filepath, overwrite=True):
        """Save the whole model to a ``.keras`` zip: its config (JSON), weights and optimizer state.

        ``keras.models.load_model(filepath)`` rebuilds it; see ``keras/saving.py``
        for what the file holds.  Written atomically, like ``save_weights``.
        """
        from .saving import save_model
        save_model(self, filepath, overwrite=overwrite)

    # ---------------------------------------------------------- weights files
    def save_weights(self, filepath):
        """Write every weight to a ``.npz`` file, atomically (temp file + rename).

        Like every atomic writer this makes a new file: a hard link to the old
        one keeps the old weights (see ``tapegrad.atomic_file``).
        """
        filepath = npz_path(filepath)
        if not self.built:
            raise ValueError("save_weights: the model has no weights yet; call it on data or build() it first")
        directory = os.path.dirname(os.path.abspath(filepath))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"save_weights: the folder of {filepath!r} does not exist")
        with write_atomically(filepath, suffix=".tmp") as f:
            self._write_weights(f)

    def _write_weights(self, file):
        """The ``.npz`` archive of ``save_weights`` (``weight_0000``..., and their names), into ``file``."""
        arrays = {f"weight_{i:04d}": w.numpy() for i, w in enumerate(self.weights)}
        arrays["names"] = np.array([w.name for w in self.weights])
        np.savez(file, **arrays)

    def load_weights(self, filepath):
        """Read weights saved by ``save_weights``; every count, shape and dtype is checked.

        Each array's ``.npy`` header is read and checked against the model
        before its data, so a wrong or forged file fails fast without
        inflating (or allocating) an array the model could not take.
        """
        filepath = npz_path(filepath)
        self._read_weights(filepath, filepath)

    def _read_weights(self, source, filepath):
        """Load ``save_weights``'s archive from ``source`` (a path or a seekable binary file);
        ``filepath`` names it in errors."""
        with open_npz(source, filepath) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith("weight_") and n.endswith(".npy"))
            if not self.built and names:
                with _NpyMember(archive, names[0], filepath) as first:
                    if len(first.shape) == 2:
                        self.build((None, first.shape[0]))
            weights = self.weights
            if len(names) != len(weights):
                raise ValueError(f"load_weights: {filepath} holds {len(names)} arrays but the model has "
                                 f"{len(weights)} weights")
            arrays = [read_checked_array(archive, name, filepath, w.shape, w.dtype, f"array {i} ({w.name})")
                      for i, (w, name) in enumerate(zip(weights, names))]
        for w, a in zip(weights, arrays):
            w.assign(a)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _default_name(cls):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(cls.__name__))


def _unique(weights):
    """``weights`` in order, each once (a layer shared by two places is listed twice)."""
    if len({id(w) for w in weights}) == len(weights):
        return weights                       # no repeats: the usual case, every training step
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _zeros_like_shapes(shapes):
    """A zero batch of one sample for (a structure of) shapes with a ``None`` batch axis."""
    return map_structure_shapes(
        lambda s: np.zeros((1, *(1 if d is None else d for d in s[1:])), np.float32), shapes)


class Functional(Model):
    """A model that is a graph: ``Model(inputs=keras.Input(...), outputs=...)``.

    ``inputs`` and ``outputs`` may each be one symbolic tensor, a list, or a
    dict; the model takes and returns data in the same structure (inputs
    given as a dict may also be keyed by the names of the ``Input``s).
    """

    def __init__(self, inputs, outputs, name=None, trainable=True):
        super().__init__(name=name or _unique_name("functional"), trainable=trainable)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._inputs, self._outputs = flatten(inputs), flatten(outputs)
        for t in self._inputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs must be symbolic tensors (keras.Input), got {type(t).__name__}")
        self._nodes = nodes_between(self._inputs, self._outputs)
        layers = [t.node.layer for t in self._inputs] + [node.layer for node in self._nodes]
        self._graph_layers = _unique(layers)
        if not trainable:
            self.trainable = False   # and every layer of the graph, as Keras
        self.built = True
        self.output_shape = self._outputs[0].shape if len(self._outputs) == 1 else [t.shape for t in self._outputs]

    @property
    def layers(self):
        return list(self._graph_layers)

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self):
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        return [t._keras_history[0].name for t in self._outputs]

    @property
    def input_names(self):
        if isinstance(self._inputs_struct, dict):
            return list(self._inputs_struct)
        return [t.name for t in self._inputs]

    def _output_shapes(self):
        shapes = dict(zip(self.output_names if isinstance(self._outputs_struct, dict) else range(len(self._outputs)),
                          [t.shape for t in self._outputs]))
        return [shapes[k] for k in (self.output_names if isinstance(self._outputs_struct, dict)
                                    else range(len(self._outputs)))]

    def _flat_inputs(self, inputs):
        """The data for each model input, in ``self.inputs`` order, from one array, a list or a dict."""
        n = len(self._inputs)
        if isinstance(inputs, dict):
            by_key = dict(zip(self.input_names, self._inputs)) if isinstance(self._inputs_struct, dict)                 else {t.name: t for t in self._inputs}
            unknown = [k for k in inputs if k not in by_key]
            if unknown:
                raise ValueError(f"input key {unknown[0]!r} names no input of model {self.name!r}; "
                                 f"its inputs are {sorted(by_key)}")
            missing = [k for k in by_key if k not in inputs]
            if missing:
                raise ValueError(f"model {self.name!r} is missing data for the input {missing[0]!r}")
            given = {id(by_key[k]): v for k, v in inputs.items()}
            return [given[id(t)] for t in self._inputs]
        if isinstance(inputs, (list, tuple)) and (n > 1 or (inputs and isinstance(inputs[0], (np.ndarray, Tensor)))):
            if len(inputs) != n:
                raise ValueError(f"model {self.name!r} expects {n} input(s), but it received {len(inputs)} "
                                 f"input tensors")
            return list(inputs)
        if n != 1:
            raise ValueError(f"model {self.name!r} expects {n} inputs {self.input_names}: give a list or a dict")
        return [inputs]

    def _check_inputs(self, x, what):
        for t, value in zip(self._inputs, self._flat_inputs(x)):
            shape = np.shape(value)
            if len(shape) != len(t.shape) or any(d is not None and d != s for d, s in zip(t.shape[1:], shape[1:])):
                raise ValueError(f"{what}: Input {t.name!r} of model {self.name!r} is incompatible: expected "
                                 f"shape={t.shape}, found shape={tuple(shape)}")

    def call(self, inputs, training=None):
        values = self._flat_inputs(inputs)
        self._check_inputs(values if len(values) > 1 else values[0], "call")
        outputs = run_nodes(self._nodes, self._inputs, values, self._outputs, training)
        return pack_like(self._outputs_struct, outputs)

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, training)
        return self.call(inputs, training=training)

    def build(self, input_shape=None):
        pass

    def compute_output_shape(self, input_shape):
        return map_structure_shapes(lambda s: s, pack_like(self._outputs_struct, [t.shape for t in self._outputs]))

    # ---------------------------------------------------------- config
    def get_config(self):
        """The graph as JSON-ready data, in Keras's layout (simplified).

        ``layers``: each layer's ``serialize`` output plus its ``name`` and its
        ``inbound_nodes``: one entry per call of the layer inside this model,
        ``{"args": [inputs], "kwargs": {...}}``, where each input tensor is
        ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
        "keras_history": [layer name, node index, tensor index]}}``; a node
        index counts only the calls that belong to this model.
        ``input_layers`` / ``output_layers``: the model's inputs and outputs
        as ``[layer name, node index, tensor index]``, in the structure (one,
        list, dict) the model was built with.
        """
        input_nodes = [t.node for t in self._inputs]
        own = {id(node) for node in [*input_nodes, *self._nodes]}
        index_in_model = {}
        for layer in self.layers:
            mine = [node for node in layer._inbound_nodes if id(node) in own]
            index_in_model.update((id(node), k) for k, node in enumerate(mine))
        names = [layer.name for layer in self.layers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"model {self.name!r} cannot be saved: the layer name(s) {duplicated} are used more "
                             f"than once; give the layers unique names")

        def history(t):
            layer, node_index, tensor_index = t._keras_history
            return [layer.name, index_in_model[id(layer._inbound_nodes[node_index])], tensor_index]

        def encode(value):
            if isinstance(value, KerasTensor):
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(value.shape), "dtype": value.dtype.name,
                                   "keras_history": history(value)}}
            if isinstance(value, (list, tuple)):
                return [encode(item) for item in value]
            if isinstance(value, dict):
                return {key: encode(item) for key, item in value.items()}
            return value

        layer_configs = []
        for layer in self.layers:
            nodes = [node for node in layer._inbound_nodes if id(node) in own and node.input_tensors]
            config = serialize_layer(layer)
            config["name"] = layer.name
            config["inbound_nodes"] = [{"args": [encode(node.arguments)],
                                        "kwargs": {} if node.training is None else {"training": node.training}}
                                       for node in nodes]
            layer_configs.append(config)
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": map_structure(history, self._inputs_struct),
                "output_layers": map_structure(history, self._outputs_struct)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild the graph of ``get_config``: make each layer, then replay its calls
        as soon as the tensors they read exist (a shared layer's later call may wait
        for layers listed after it)."""
        with serialization.custom_object_scope(custom_objects):
            made, pending, tensors = {}, [], {}
            for layer_config in config["layers"]:
                layer = deserialize_layer(layer_config)
                made[layer_config["name"]] = layer
                if isinstance(layer, InputLayer):
                    tensors[(layer_config["name"], 0, 0)] = layer.output
                pending.append([layer, list(layer_config.get("inbound_nodes", [])), 0])

            def decode(value):
                if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                    key = tuple(value["config"]["keras_history"])
                    if key not in tensors:
                        raise KeyError(key)
                    return tensors[key]
                if isinstance(value, list):
                    return [decode(item) for item in value]
                if isinstance(value, dict):
                    return {key: decode(item) for key, item in value.items()}
                return value

            while any(nodes for _, nodes, _ in pending):
                progressed = False
                for entry in pending:
                    layer, nodes, done = entry
                    while nodes:
                        try:
                            arguments = decode(nodes[0]["args"][0])
                        except KeyError:
                            break
                        outputs = layer(arguments, **nodes[0].get("kwargs", {}))
                        for i, t in enumerate(flatten(outputs)):
                            tensors[(layer.name, done, i)] = t
                        nodes.pop(0)
                        entry[2] = done = done + 1
                        progressed = True
                if not progressed:
                    waiting = [layer.name for layer, nodes, _ in pending if nodes]
                    raise ValueError(f"the saved graph of model {config.get('name')!r} cannot be rebuilt: the "
                                     f"layers {waiting} read tensors no layer of the file produces")

            def find(ref):
                if isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str):
                    if tuple(ref) not in tensors:
                        raise ValueError(f"the saved model's input/output {ref} names no tensor of its graph")
                    return tensors[tuple(ref)]
                if isinstance(ref, list):
                    return [find(item) for item in ref]
                if isinstance(ref, dict):
                    return {key: find(item) for key, item in ref.items()}
                raise ValueError(f"not a tensor reference in a saved model: {ref!r}")

            return cls(inputs=find(config["input_layers"]), outputs=find(config["output_layers"]),
                       name=config.get("name"), trainable=config.get("trainable", True))

    def summary(self, print_fn=None):
        """Keras's table for a graph: layer, output shape, parameters, and the layers it reads."""
        rows = []
        own = {id(node) for node in self._nodes}
        for layer in self.layers:
            nodes = [n for n in layer.__dict__.get("_inbound_nodes", []) if id(n) in own]
            shapes = [t.shape for n in nodes for t in n.output_tensors] or [layer.output_shape]
            connected = [f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]"
                         for n in nodes for t in n.input_tensors]
            shape = str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}",
                         ", ".join(connected) or "-"))
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 3 for i, h in
                  enumerate(("Layer (type)", "Output Shape", "Param #", "Connected to"))]
        _print_table(self, ("Layer (type)", "Output Shape", "Param #", "Connected to"), rows, widths, print_fn)


class Sequential(Model):
    """A stack of layers, each feeding the next: ``Sequential([Dense(512, "relu"), Dense(10, "softmax")])``."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name or _unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_shape = None
        self._input_dtype = "float32"
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------- structure
    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]   # Sequential([keras.Input(shape=...), ...])
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_shape:
                raise ValueError("an Input must be the first layer of a Sequential model")
            self._input_shape, self._input_dtype = layer.shape, layer.dtype
        else:
            if not self._layers and self._input_shape is None and layer._input_shape is not None:
                self._input_shape = layer._input_shape
            self._layers.append(layer)
        if self._input_shape is not None:
            self.build(self._input_shape)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (e.g. ``(None, 784)``)."""
        input_shape = tuple(input_shape or self._input_shape or ())
        if len(input_shape) < 2:
            raise ValueError(f"build: input_shape must include the batch axis, e.g. (None, 784), got {input_shape}")
        self._input_shape = input_shape
        shape = input_shape
        for layer in self._layers:
            if not layer.built:
                layer._build_once(shape)
            shape = output_shape_of(layer, shape)
            layer.output_shape = shape
        self.built = bool(self._layers)

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, training)
        x = inputs
        if not self.built and self._layers:
            x = ops.convert(inputs)
            self.build((None, *x.shape[1:]))
        for layer in self._layers:   # the eager forward: a plain loop
            x = layer(x, training=training)
        return x

    def call(self, inputs, training=None):
        return self(inputs, training=training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = output_shape_of(layer, shape)
        return shape

    @property
    def inputs(self):
        """The model as a graph: its ``keras.Input`` (made on first use, once built)."""
        self._ensure_graph()
        return [self._graph_input]

    @property
    def outputs(self):
        self._ensure_graph()
        return [self._graph_output]

    input = property(lambda self: self.inputs[0])
    output = property(lambda self: self.outputs[0])

    def _ensure_graph(self):
        """Call the layers on a ``keras.Input`` once, so ``layer.output`` and feature
        extraction (``Model(model.input, model.layers[0].output)``) work."""
        if self.__dict__.get("_graph_input") is None:
            if not self.built:
                raise ValueError(f"Sequential model {self.name!r} has no defined input yet: give it an "
                                 f"Input or call build() first")
            x = self._graph_input = Input(shape=self._input_shape[1:], dtype=self._input_dtype)
            for layer in self._layers:
                x = layer(x)
            self._graph_output = x

    @property
    def output_shape(self):
        return self._layers[-1].output_shape if self.built else None

    @output_shape.setter
    def output_shape(self, value):
        pass

    def _output_shapes(self):
        return [self.output_shape] if self.built else None

    def _ensure_built(self, x_sample):
        if not self.built:
            self.build((None, *np.shape(x_sample)[1:]))
        super()._ensure_built(x_sample)

    def _check_inputs(self, x, what):
        if isinstance(x, (list, tuple, dict)):
            raise ValueError(f"{what}: a Sequential model takes one input array, got a {type(x).__name__}")
        if self._input_shape is None:
            return
        expected = self._input_shape[1:]
        if tuple(np.shape(x)[1:]) != tuple(expected) and None not in expected:
            raise ValueError(f"{what}: the model expects inputs of shape (None, {', '.join(map(str, expected))}), "
                             f"got x of shape {np.shape(x)}")

    def summary(self, print_fn=None):
        Model.summary(self, print_fn)

    def get_config(self):
        """The layers' configs in order, an ``InputLayer`` first when the input shape is known."""
        layer_configs = [serialize_layer(layer) for layer in self._layers]
        if self._input_shape is not None:
            source = {"batch_shape": list(self._input_shape), "dtype": np.dtype(self._input_dtype).name,
                      "name": f"{self.name}_input"}
            layer_configs.insert(0, {"module": InputLayer.__module__, "class_name": "InputLayer",
                                     "config": source, "registered_name": "InputLayer"})
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        with serialization.custom_object_scope(custom_objects):
            return cls([deserialize_layer(c) for c in config["layers"]], name=config.get("name"),
                       trainable=config.get("trainable", True))


serialization.builtin("layer", Functional, Sequential)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """``keras.models.load_model``: the model ``model.save`` wrote (see ``keras/saving.py``)."""
    from .saving import load_model as load
    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def _print_table(model, headers, rows, widths, print_fn):
    """Keras's box-drawn summary table, then the parameter totals."""
    print_fn = print_fn or print

    def line(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def cells(values, sep):
        texts = [f" {v:>{w - 2}} " if h == "Param #" else f" {v:<{w - 2}} "
                 for v, w, h in zip(values, widths, headers)]
        return sep + sep.join(texts) + sep

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), cells(headers, "┃"), line("┡", "╇", "┩", "━")]
    for i, row in enumerate(rows):
        out.append(cells(row, "│"))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    weights, trainable = model.weights, model.trainable_weights
    total = sum(w.size for w in weights)
    n_trainable = sum(w.size for w in trainable)
    nbytes = sum(w.size * w.dtype.itemsize for w in weights)
    tbytes = sum(w.size * w.dtype.itemsize for w in trainable)
    out += [f" Total params: {total:,} ({_memory(nbytes)})",
            f" Trainable params: {n_trainable:,} ({_memory(tbytes)})",
            f" Non-trainable params: {total - n_trainable:,} ({_memory(nbytes - tbytes)})"]
    print_fn("\n".join(out))



def _memory(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024



