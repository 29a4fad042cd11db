"""The graph of layers: symbolic tensors, nodes, and walking the graph.

``keras.Input(shape=(3,))`` makes a ``KerasTensor``: a shape (batch ``None``)
and a dtype, no data.  Calling a layer on KerasTensors builds the layer for
those shapes, works out the output shapes and records a ``Node`` (the layer, the
tensors it was called on, the tensors it made).  Each output remembers its
node, so from a model's outputs one can walk back to its inputs: that walk,
in order, is the functional model's forward pass.
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import ops


# ------------------------------------------------------------------ structures
def flatten(structure):
    """The leaves of nested lists / tuples / dicts (dict values by sorted key, as Keras)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def pack_like(structure, leaves):
    """``structure`` with its leaves replaced, in ``flatten`` order, by ``leaves``."""
    leaves = iter(leaves)

    def pack(s):
        if isinstance(s, (list, tuple)):
            items = [pack(item) for item in s]
            return items if isinstance(s, list) else tuple(items)
        if isinstance(s, dict):
            return {key: pack(s[key]) for key in sorted(s)}
        return next(leaves)

    packed = pack(structure)
    if isinstance(structure, dict):  # keep the user's key order
        packed = {key: packed[key] for key in structure}
    return packed


def map_structure(fn, structure):
    return pack_like(structure, [fn(leaf) for leaf in flatten(structure)])


def is_shape(value):
    """A single shape such as ``(None, 3)`` (not a list of shapes)."""
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


# ------------------------------------------------------------------ symbolic tensors
class KerasTensor:
    """A symbolic tensor: the shape and dtype a layer will produce, and no data.

    ``_keras_history`` is ``(layer, node_index, tensor_index)``: which call of
    which layer made it, which is how the functional model finds its way back
    from outputs to inputs.
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def node(self):
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def _no_data(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic: it has a shape but no data. Build a model with "
            f"keras.Model(inputs=..., outputs=...) and call it (or predict) on arrays."
        )

    __array__ = numpy = __float__ = __int__ = __bool__ = __len__ = _no_data
    __hash__ = object.__hash__

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, sparse=False, name={self.name}>"


def is_symbolic(inputs):
    """True if ``inputs`` (a tensor or a list / tuple / dict of them) holds a KerasTensor."""
    if isinstance(inputs, KerasTensor):
        return True
    if isinstance(inputs, (list, tuple, dict)):
        return any(isinstance(t, KerasTensor) for t in flatten(inputs))
    return False


class Node:
    """One call of a layer on symbolic tensors: its inputs (as passed) and outputs."""

    def __init__(self, layer, arguments, outputs, training=None):
        self.layer = layer
        self.arguments = arguments          # the structure the layer was called on
        self.input_tensors = [t for t in flatten(arguments) if isinstance(t, KerasTensor)]
        self.outputs = outputs
        self.output_tensors = flatten(outputs)
        self.training = training            # an explicit training= given at the call, else None
        nodes = layer.__dict__.setdefault("_inbound_nodes", [])
        for i, tensor in enumerate(self.output_tensors):
            tensor._keras_history = (layer, len(nodes), i)
        nodes.append(self)

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors]

    def __repr__(self):
        return f"<Node {self.layer.name} {[t.shape for t in self.input_tensors]} -> " \
               f"{[t.shape for t in self.output_tensors]}>"


def symbolic_call(layer, inputs, training=None):
    """Call ``layer`` on KerasTensors: build it, infer output shapes, record a node."""
    for t in flatten(inputs):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"layer {layer.name!r}: when called on symbolic inputs (keras.Input), every input "
                            f"must be symbolic; got a {type(t).__name__} among them")
    shapes = map_structure(lambda t: t.shape, inputs)
    if not layer.built:
        layer._build_once(shapes)
    dtype = getattr(layer, "dtype", np.dtype("float32"))
    if getattr(layer.compute_output_shape, "traces_call", False):
        outputs = trace_call(layer, inputs)
    else:
        outputs = map_structure_shapes(lambda s: KerasTensor(s, dtype, name=layer.name),
                                       layer.compute_output_shape(shapes))
    if isinstance(outputs, KerasTensor):
        layer.output_shape = outputs.shape
    Node(layer, inputs, outputs, training)
    return outputs


# Sizes an unknown dimension takes in the two traced runs (the batch axis,
# then any other): an output dimension that differs between them is None.
_TRACE_SIZES = ((2, 83), (3, 89))


def trace_call(layer, inputs):
    """KerasTensors for what ``layer.call`` returns on ``inputs`` (KerasTensors).

    A layer without its own ``compute_output_shape`` is traced, as Keras 3
    does: here its ``call`` runs on zeros twice, each unknown dimension set
    to one size and then to another (the batch axis 2 then 3, the others 83
    then 89, Keras's sizes).  An output dimension that changes with them is
    unknown (None); the others are what ``call`` made (``x[:, :2]`` gives
    ``(None, 2)``).  The result has the structure ``call`` returned.
    """
    runs = []
    for batch, other in _TRACE_SIZES:
        def zeros(t):
            dims = tuple((batch if axis == 0 else other) if d is None else d for axis, d in enumerate(t.shape))
            return layer._cast(ops.convert(np.zeros(dims, t.dtype)))
        arguments = map_structure(zeros, inputs)
        runs.append(layer.call(arguments, training=False) if takes_training(type(layer)) else layer.call(arguments))
    first, second = runs

    def symbolic(a, b):
        shape = tuple(m if m == n else None for m, n in zip(a.shape, b.shape))
        return KerasTensor(shape, a.dtype, name=layer.name)

    return pack_like(first, [symbolic(a, b) for a, b in zip(flatten(first), flatten(second))])


def output_shape_of(layer, input_shape):
    """The output shape(s) of ``layer`` for inputs of ``input_shape``: its
    ``compute_output_shape`` when it defines one, else a trace of ``call``."""
    if getattr(layer.compute_output_shape, "traces_call", False):
        outputs = trace_call(layer, map_structure_shapes(lambda s: KerasTensor(s, layer.dtype), input_shape))
        return map_structure_shapes(lambda s: s, pack_like(outputs, [t.shape for t in flatten(outputs)])) \
            if not isinstance(outputs, KerasTensor) else outputs.shape
    return layer.compute_output_shape(input_shape)


_training_arg = {}


def takes_training(cls):
    """Whether ``cls.call`` has a ``training`` argument (Keras passes the
    flag only then, so a custom ``call(self, inputs)`` keeps working)."""
    if cls not in _training_arg:
        _training_arg[cls] = "training" in inspect.signature(cls.call).parameters
    return _training_arg[cls]


def map_structure_shapes(fn, shapes):
    """Apply ``fn`` to each shape of a (nested) structure of shapes."""
    if is_shape(shapes):
        return fn(tuple(shapes))
    if isinstance(shapes, dict):
        return {k: map_structure_shapes(fn, v) for k, v in shapes.items()}
    return type(shapes)(map_structure_shapes(fn, s) for s in shapes) if isinstance(shapes, tuple) \
        else [map_structure_shapes(fn, s) for s in shapes]


# ------------------------------------------------------------------ graph walking
def nodes_between(inputs, outputs):
    """The nodes leading from ``inputs`` to ``outputs``, each after the nodes it reads.

    Walks back from each output along ``_keras_history`` (a depth-first walk
    with its own stack, not recursion, so a chain of thousands of layers is
    fine); a path that ends at an ``Input`` the model was not given means
    the graph is disconnected.
    """
    input_ids = {id(t) for t in inputs}
    ordered, done, on_path = [], set(), set()

    def node_of(tensor, wanted_by):
        """The node that made ``tensor``, or None for a model input / a node already placed."""
        if id(tensor) in input_ids:
            return None
        if tensor._keras_history is None:
            raise ValueError(f"{tensor!r} was not made by a Keras layer: a model's tensors must come from "
                             f"keras.Input and layers called on it")
        node = tensor.node
        if id(node) in done:
            return None
        if not node.input_tensors:  # an Input the model was not given
            given = [t.name for t in inputs]
            raise ValueError(
                f"Graph disconnected: cannot reach {wanted_by!r} from the model's inputs {given}: it depends "
                f"on the input {tensor.name!r}, which is not among them. Pass it in inputs=[...]."
            )
        if id(node) in on_path:  # cannot happen with keras.Input graphs; guard anyway
            raise ValueError(f"the graph has a cycle through layer {node.layer.name!r}")
        return node

    for out in outputs:
        if not isinstance(out, KerasTensor):
            raise TypeError(f"a model's outputs must be KerasTensors (layers called on keras.Input), "
                            f"got {type(out).__name__}")
        first = node_of(out, out.name)
        if first is None:
            continue
        stack = [(first, iter(first.input_tensors))]   # each node with the parents still to visit
        on_path.add(id(first))
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                parent_node = node_of(parent, out.name)
                if parent_node is not None:
                    on_path.add(id(parent_node))
                    stack.append((parent_node, iter(parent_node.input_tensors)))
                    break
            else:   # every parent placed: the node comes next
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
                ordered.append(node)
    return ordered


def run_nodes(nodes, inputs, values, outputs, training):
    """Compute ``outputs`` from ``values`` fed to ``inputs``, node by node (eagerly)."""
    computed = {id(t): v for t, v in zip(inputs, values)}
    for node in nodes:
        args = map_structure(lambda t: computed[id(t)] if isinstance(t, KerasTensor) else t, node.arguments)
        result = node.layer(args, training=training if node.training is None else node.training)
        for tensor, value in zip(node.output_tensors, flatten(result)):
            computed[id(tensor)] = value
    return [computed[id(t)] for t in outputs]
