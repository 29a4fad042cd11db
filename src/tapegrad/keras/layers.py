"""Layers: ``Dense`` (one fused kernel op), ``Dropout``, ``Flatten``, ``Concatenate``, ``Add``, ``Input``.

A layer owns its weights (Variables) and creates them lazily, the first time
it sees an input, because only then does it know the input's size: a
``Dense(512)`` fed 784 features builds a (784, 512) kernel and a (512,) bias.
Called on arrays a layer computes; called on symbolic tensors (``keras.Input``)
it records a node of a graph instead (see ``node.py``).
"""

from __future__ import annotations

import math
import re

import numpy as np

from .. import ops, random
from . import regularizers, serialization
from ..tensor import Tensor, Variable
from .node import (KerasTensor, Node, flatten, is_shape, is_symbolic, output_shape_of, symbolic_call,
                   takes_training)

_name_counts = {}


def _unique_name(base):
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _snake(name):
    """Keras's ``to_snake_case``: ``Dense`` -> ``dense``, ``Conv2D`` -> ``conv2d``,
    ``MaxPooling2D`` -> ``max_pooling2d``, ``InputLayer`` -> ``input_layer``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------ activations
ACTIVATIONS = {
    "relu": ops.relu,
    "softmax": ops.softmax,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "linear": None,
}


def get_activation(identifier):
    """``(name, function)`` for an activation given by name, function or None."""
    if identifier is None:
        return "linear", None
    if isinstance(identifier, str):
        if identifier.lower() not in ACTIVATIONS:
            raise ValueError(f"unknown activation {identifier!r}; valid names are {sorted(ACTIVATIONS)} or None")
        return identifier.lower(), ACTIVATIONS[identifier.lower()]
    if callable(identifier):
        for name, fn in ACTIVATIONS.items():
            if fn is identifier:
                return name, fn
        return getattr(identifier, "__name__", "custom"), identifier
    raise TypeError(f"an activation must be a name, a function or None, got {type(identifier).__name__}")


# ------------------------------------------------------------------ initializers
def _fans(shape):
    """(fan_in, fan_out) as Keras counts them: a convolution kernel (kh, kw, in, out)
    has fan_in = kh*kw*in and fan_out = kh*kw*out (each output reads a receptive field)."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) < 2:
        return (shape[0],) * 2 if shape else (1, 1)
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(shape, dtype):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)): keeps
    the variance of activations roughly constant from layer to layer."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
    return random.uniform(shape, -limit, limit, dtype=dtype)


def glorot_normal(shape, dtype):
    fan_in, fan_out = _fans(shape)
    return random.normal(shape, stddev=math.sqrt(2.0 / max(1, fan_in + fan_out)), dtype=dtype)


def he_uniform(shape, dtype):
    limit = math.sqrt(6.0 / max(1, _fans(shape)[0]))
    return random.uniform(shape, -limit, limit, dtype=dtype)


def he_normal(shape, dtype):
    return random.normal(shape, stddev=math.sqrt(2.0 / max(1, _fans(shape)[0])), dtype=dtype)


def zeros(shape, dtype):
    return np.zeros(shape, dtype)


def ones(shape, dtype):
    return np.ones(shape, dtype)


def random_normal(shape, dtype):
    return random.normal(shape, stddev=0.05, dtype=dtype)


def random_uniform(shape, dtype):
    return random.uniform(shape, -0.05, 0.05, dtype=dtype)


INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                        zeros, ones, random_normal, random_uniform)}


def get_initializer(identifier):
    if isinstance(identifier, str):
        if identifier.lower() not in INITIALIZERS:
            raise ValueError(f"unknown initializer {identifier!r}; valid names are {sorted(INITIALIZERS)}")
        return INITIALIZERS[identifier.lower()]
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name or a function(shape, dtype), got {identifier!r}")


# ------------------------------------------------------------------ layers
_takes_training = takes_training


class Layer:
    """Base class: a name, lazily built weights, and ``__call__`` -> ``call``.

    ``losses`` lists the penalties the layer adds to the model's loss: one
    per regularized weight (``add_weight(regularizer=...)``) and, after a
    call, the ``activity_regularizer`` of its output, as in Keras.
    """

    def __init__(self, name=None, input_shape=None, dtype="float32", trainable=True, activity_regularizer=None):
        self.name = name or _unique_name(_snake(type(self).__name__))
        self.built = False
        self.dtype = np.dtype(dtype)
        self._weights = []
        self._created_trainable = []  # the weights add_weight made trainable: `trainable` switches them
        self.trainable = trainable
        self._regularized = []        # (variable, regularizer) pairs
        self._activity_losses = []    # the activity penalty of the latest call
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._input_shape = None if input_shape is None else (None, *tuple(input_shape))
        self.output_shape = None
        self._inbound_nodes = []   # one Node per call on symbolic tensors

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, regularizer=None, name=None):
        """Create a Variable of ``shape`` owned by the layer (Keras 3's signature).

        ``initializer`` defaults to ``"glorot_uniform"`` for floats and
        ``"zeros"`` otherwise; ``regularizer`` adds its penalty of this weight
        to ``losses``.  The older order ``add_weight(name, shape, initializer)``
        (a name first) is accepted too.
        """
        if isinstance(shape, str):  # add_weight("kernel", (3, 4), "zeros")
            name, shape, initializer, dtype = shape, initializer, dtype, None
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        shape = () if shape is None else tuple(int(n) for n in shape)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        if name is None:  # Keras's automatic names: variable, variable_1, ...
            n = sum(w.name.startswith(f"{self.name}/variable") for w in self._weights)
            name = f"variable_{n}" if n else "variable"
        value = get_initializer(initializer)(shape, dtype)
        var = Variable(value, trainable=trainable and self.trainable, name=f"{self.name}/{name}", dtype=dtype)
        self._weights.append(var)
        if trainable:
            self._created_trainable.append(var)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((var, regularizer))
        return var

    @property
    def trainable(self):
        """Whether ``fit`` trains this layer's weights (``trainable_weights``).

        Setting it, as in Keras, switches the layer's trainable weights (a
        frozen weight is not watched by a tape, so no gradient is computed
        for it) and every sublayer of a model: ``base.trainable = False``
        freezes a whole nested model, ``base.trainable = True`` unfreezes
        all of it, after which single layers can be frozen again.
        """
        return self.__dict__["_trainable"]

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self.__dict__["_trainable"] = value
        for weight in self.__dict__.get("_created_trainable", ()):
            weight.trainable = value
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self):
        """The layers inside this one (a model's layers) that ``trainable`` reaches."""
        return []

    @property
    def losses(self):
        """The penalties to add to the loss: weight regularizers, then the activity one."""
        if not self._regularized and not self._activity_losses:
            return []                        # the common case, asked once per training step
        return [reg(var) for var, reg in self._regularized] + list(self._activity_losses)

    def build(self, input_shape):
        self.built = True

    def _build_once(self, input_shape):
        """``build(input_shape)``, then mark the layer built, as Keras does once
        ``build`` returns: the book's ``SimpleDense`` never sets ``self.built``,
        and building it again would make new weights on every call."""
        self.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``.  A layer that does not define
        this has its ``call`` traced instead (``node.trace_call``), as Keras 3
        does; this default answers the same, by that trace."""
        return output_shape_of(self, input_shape)

    compute_output_shape.traces_call = True

    def __call__(self, inputs, training=None):
        if type(inputs) is not Tensor and is_symbolic(inputs):   # an eager tensor never is
            return symbolic_call(self, inputs, training)
        several = isinstance(inputs, (list, tuple))   # a merging layer: several inputs
        x = [self._cast(ops.convert(t)) for t in inputs] if several else self._cast(ops.convert(inputs))
        built_now = not self.built
        if built_now:
            self._build_once([(None, *t.shape[1:]) for t in x] if several else (None, *x.shape[1:]))
        out = self.call(x, training=bool(training)) if _takes_training(type(self)) else self.call(x)
        if built_now:   # what the call made, its batch axis unknown
            self.output_shape = (None, *out.shape[1:]) if isinstance(out, Tensor) else \
                [(None, *t.shape[1:]) for t in flatten(out)]
        regularizer = self.activity_regularizer
        self._activity_losses = [] if regularizer is None else [regularizer(out)]
        return out

    def _cast(self, x):
        if x.dtype != self.dtype and x.dtype.kind in "biuf":
            x = ops.cast(x, self.dtype)  # Keras casts inputs to the layer's dtype
        return x
    def _node_attribute(self, what):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(f"The layer {self.name!r} has never been called on symbolic inputs "
                                 f"(keras.Input) and thus has no defined {what}.")
        tensors = nodes[0].input_tensors if what == "input" else nodes[0].output_tensors
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def input(self):
        """The symbolic tensor(s) of this layer's first call on ``keras.Input`` data."""
        return self._node_attribute("input")

    @property
    def output(self):
        """The symbolic tensor(s) this layer's first symbolic call produced."""
        return self._node_attribute("output")

    def call(self, x):
        return x

    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights if not w.trainable or not self.trainable]

    def count_params(self):
        return int(sum(w.size for w in self._weights))

    def get_weights(self):
        return [w.numpy() for w in self._weights]

    def set_weights(self, arrays):
        if len(arrays) != len(self._weights):
            raise ValueError(f"layer {self.name!r} has {len(self._weights)} weights, got {len(arrays)} arrays")
        for w, a in zip(self._weights, arrays):
            w.assign(a)

    # ---------------------------------------------------------- config
    def get_config(self):
        """The arguments that rebuild this layer (no weights): ``type(layer).from_config(config)``.

        A subclass whose ``__init__`` takes arguments of its own must override
        this (and add them to ``super().get_config()``), as Keras requires.
        """
        if type(self).get_config is Layer.get_config:
            serialization.require_own_get_config(self, Layer.__init__, "Layer")
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = serialization.serialize_keras_object(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class Dense(Layer):
    """``activation(x @ kernel + bias)``: a fully connected layer.

    The matmul, the bias and a relu run as one fused kernel op; a softmax or
    sigmoid output remembers its logits so the loss can use the stable
    cross-entropy on them.  ``kernel_regularizer``/``bias_regularizer`` add a
    penalty of the weights to the model's loss, ``activity_regularizer`` one
    of the output.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 input_shape=None, name=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        self.units = int(units)
        self.activation_name, self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"Dense layer {self.name!r}: the last input dimension must be known, got {input_shape}")
        self.kernel = self.add_weight(shape=(features, self.units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, name="bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        expected = self.kernel.shape[0] if self.kernel is not None else None
        if not is_shape(input_shape) or len(input_shape) < 2 or (
                expected is not None and input_shape[-1] is not None and input_shape[-1] != expected):
            raise ValueError(
                f"Input of layer {self.name!r} is incompatible with the layer: expected min_ndim=2 and the "
                f"last axis to have {expected} features, but received input with shape {input_shape}")
        return (*input_shape[:-1], self.units)


    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": self.activation_name if self.activation_name in ACTIVATIONS
                else serialization.serialize_keras_object(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": _initializer_config(self.kernel_initializer),
                "bias_initializer": _initializer_config(self.bias_initializer),
                "kernel_regularizer": serialization.serialize_keras_object(self.kernel_regularizer),
                "bias_regularizer": serialization.serialize_keras_object(self.bias_regularizer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("activation", "kernel_initializer", "bias_initializer"):
            if isinstance(config.get(key), dict):   # a function of your own, found by its registered name
                config[key] = serialization.deserialize_keras_object(config[key], "function")
        return cls(**config)

    def call(self, x):
        shape = x.shape
        expected = self.kernel.shape[0]
        if len(shape) < 2 or shape[-1] != expected:
            raise ValueError(
                f"Input of layer {self.name!r} is incompatible with the layer: expected the last axis "
                f"to have {expected} features, but received input with shape {shape}"
            )
        lead = shape[:-1]
        if len(shape) != 2:
            x = ops.reshape(x, (-1, expected))
        relu = self.activation_name == "relu"
        out = ops.dense(x, self.kernel, self.bias, "relu" if relu else None)
        if len(lead) != 1:
            out = ops.reshape(out, (*lead, self.units))
        if relu or self.activation is None:
            return out
        return self.activation(out)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def compute_output_shape(self, input_shape):
        size = None if None in input_shape[1:] else int(np.prod(input_shape[1:]))
        return (input_shape[0], size)

    def call(self, x):
        return ops.reshape(x, (x.shape[0], -1))


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of its inputs while training.

    The kept inputs are scaled by ``1/(1-rate)`` (inverted dropout), so the
    expected value of each output equals its input and the layer is simply
    the identity in ``evaluate`` and ``predict`` (``training=False``).
    Units that cannot rely on any one input learn more robust features.
    """

    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a float in [0, 1) (the fraction of inputs "
                             f"to drop), got {rate!r}")
        super().__init__(name=name, **kwargs)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        # Keras gives a seeded layer its own stream: reproducible, yet a new mask each step
        self._generator = None if seed is None else np.random.default_rng(seed)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        noise_shape = self.noise_shape
        if noise_shape is not None:   # None entries take the input's size (Keras)
            noise_shape = tuple(x.shape[i] if n is None else n for i, n in enumerate(noise_shape))
        return ops.dropout(x, self.rate, noise_shape=noise_shape, generator=self._generator)


class _Merge(Layer):
    """Base of the layers that combine a list of inputs into one."""

    def _check_list(self, input_shape):
        if is_shape(input_shape) or not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError(f"A {type(self).__name__} layer should be called on a list of at least 2 inputs; "
                             f"received input shape {input_shape}")
        return [tuple(s) for s in input_shape]


class Concatenate(_Merge):
    """Joins its inputs along ``axis`` (default: the last); the other axes must match.

    ``Concatenate()([a, b])`` with ``a`` of shape (None, 3) and ``b`` of shape
    (None, 5) gives (None, 8): the next layer sees the features side by side.
    """

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or any(len(s) != rank for s in shapes) or any(
                a is not None and b is not None and a != b
                for s in shapes[1:] for i, (a, b) in enumerate(zip(shapes[0], s)) if i != axis):
            raise ValueError(f"A Concatenate layer requires inputs with matching shapes except for the "
                             f"concatenation axis (axis={self.axis}). Received: input_shape={shapes}")
        size = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)
        return (*shapes[0][:axis], size, *shapes[0][axis + 1:])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def call(self, inputs):
        return ops.concat(inputs, axis=self.axis)


class Add(_Merge):
    """The element-wise sum of its inputs, which must all have the same shape."""

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        for s in shapes[1:]:
            if len(s) != len(shapes[0]) or any(a is not None and b is not None and a != b
                                               for a, b in zip(s[1:], shapes[0][1:])):
                raise ValueError(f"An Add layer requires inputs of the same shape. Received: input_shape={shapes}")
        return shapes[0]

    def call(self, inputs):
        for t in inputs[1:]:
            if t.shape != inputs[0].shape:
                raise ValueError(f"An Add layer requires inputs of the same shape, got "
                                 f"{[tuple(t.shape) for t in inputs]}")
        total = inputs[0]
        for t in inputs[1:]:
            total = ops.add(total, t)
        return total


class InputLayer(Layer):
    """The source of a graph: it makes the symbolic tensor ``keras.Input`` returns."""

    def __init__(self, shape=None, batch_size=None, name=None, dtype="float32"):
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(784,))")
        super().__init__(name=name or _unique_name("input_layer"), dtype=dtype)
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        self.shape = (batch_size, *tuple(None if d is None else int(d) for d in shape))
        self._input_shape = self.shape
        self.output_shape = self.shape
        self.built = True
        tensor = KerasTensor(self.shape, self.dtype, name=self.name)
        Node(self, [], tensor)

    def get_config(self):
        return {"batch_shape": list(self.shape), "dtype": self.dtype.name, "name": self.name}

    @classmethod
    def from_config(cls, config):
        batch_shape = config["batch_shape"]
        return cls(shape=tuple(batch_shape[1:]), batch_size=batch_shape[0], name=config.get("name"),
                   dtype=config.get("dtype", "float32"))


def Input(shape=None, batch_size=None, name=None, dtype="float32"):
    """``keras.Input(shape=(784,))``: a symbolic tensor (batch axis ``None``, no data).

    Call layers on it to build a graph, then ``keras.Model(inputs, outputs)``;
    ``Sequential([keras.Input(shape=(784,)), ...])`` takes it as its input shape.
    """
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype).output


def _initializer_config(initializer):
    """An initializer by its name (``"glorot_uniform"``), or a function of your own by its registered name."""
    for name, fn in INITIALIZERS.items():
        if fn is initializer:
            return name
    return serialization.serialize_keras_object(initializer)


def serialize(layer):
    """``keras.layers.serialize``: ``{"class_name", "config", ...}`` of a layer."""
    return serialization.serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """``keras.layers.deserialize``: a new layer (or model) from ``serialize``'s output."""
    return serialization.deserialize_keras_object(config, "layer", custom_objects)


serialization.builtin("layer", Layer, Dense, Dropout, Flatten, Concatenate, Add, InputLayer)

__all__ = ["Layer", "Dense", "Dropout", "Flatten", "Concatenate", "Add", "Input", "InputLayer", "serialize",
           "deserialize"]


