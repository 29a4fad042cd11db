"""``keras.utils``: the array helpers the book uses on its labels and features, and ``plot_model``."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ..utils import graph_format, quote, write_graph
from .data_adapter import PyDataset  # noqa: F401  (keras.utils.PyDataset, read by fit batch by batch)
from .image_dataset import image_dataset_from_directory, load_image  # noqa: F401


def to_categorical(x, num_classes=None):
    """Class ids -> one-hot rows: ``to_categorical([0, 2], 3)`` is ``[[1, 0, 0], [0, 0, 1]]``.

    As in Keras: a trailing axis of 1 is dropped, the result has shape
    ``x.shape + (num_classes,)`` and dtype float64, and ``num_classes``
    defaults to ``max(x) + 1``.  Ids must be integers in ``[0, num_classes)``.
    """
    ids = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if ids.dtype.kind == "f" and ids.size and not np.all(np.mod(ids, 1) == 0):
        raise ValueError("to_categorical: class ids must be integers, got non-integer values")
    if ids.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: class ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    shape = ids.shape[:-1] if ids.ndim > 1 and ids.shape[-1] == 1 else ids.shape
    ids = ids.reshape(-1)
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, got {num_classes!r}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"to_categorical: class id {bad} is out of range for {num_classes} classes "
                         f"(valid: 0..{num_classes - 1})")
    onehot = np.zeros((ids.size, int(num_classes)))
    onehot[np.arange(ids.size), ids] = 1
    return onehot.reshape(shape + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (rows of norm 0 stay 0)."""
    x = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def set_random_seed(seed):
    """Seed Python's ``random``, NumPy's global generator and tapegrad's (weights, shuffling), as Keras does."""
    import random as python_random

    from .. import random

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: seed must be an integer, got {seed!r}")
    python_random.seed(int(seed))
    np.random.seed(int(seed))
    random.set_seed(int(seed))


# ------------------------------------------------------------------ drawing a model
def _shape_text(shapes):
    shapes = [tuple(s) for s in shapes if s is not None]
    return ", ".join(str(s) for s in dict.fromkeys(shapes)) or "?"


def _layer_box(layer, shapes_in, shapes_out, show_shapes, show_dtype, show_layer_names, show_layer_activations):
    """The label lines of one layer's box."""
    kind = type(layer).__name__
    lines = [f"{layer.name} ({kind})" if show_layer_names else kind]
    activation = getattr(layer, "activation_name", None)
    if show_layer_activations and activation is not None:
        lines.append(f"Activation: {activation}")
    if show_dtype:
        lines.append(f"dtype: {np.dtype(getattr(layer, 'dtype', 'float32')).name}")
    if show_shapes:
        if shapes_in:
            lines.append(f"Input shape: {_shape_text(shapes_in)}")
        lines.append(f"Output shape: {_shape_text(shapes_out)}")
    return lines


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, show_layer_activations=False):
    """The model as Graphviz DOT text: one box per layer, an edge per tensor passed.

    A ``Sequential`` is its chain of layers; a functional model draws every
    layer once (a shared layer gets an edge from each of its callers) and a
    model used as a layer as one box, or, with ``expand_nested``, as a framed
    cluster of its own layers.  A subclassed model is one box, as in Keras:
    its graph is Python code that only runs on data.  Keras returns a
    ``pydot.Dot``; here it is the DOT text.
    """
    from .layers import InputLayer
    from .models import Functional, Sequential

    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    options = (show_shapes, show_dtype, show_layer_names, show_layer_activations)
    lines = [f"digraph {quote(model.name)} {{", f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
             '  node [shape=box, fontname="Helvetica", fontsize=11];']
    ids = {}

    def node_id(layer):
        return ids.setdefault(id(layer), f"layer{len(ids)}")

    def box(layer, shapes_in, shapes_out, indent):
        label = "\n".join(_layer_box(layer, shapes_in, shapes_out, *options))
        lines.append(f"{indent}{node_id(layer)} [label={quote(label)}];")

    def draw(m, indent):
        """Draw the layers of ``m``; returns (its entry boxes, its exit boxes) for edges from outside."""
        if isinstance(m, Sequential):
            layers, shape = m.layers, m._input_shape
            ends = []
            for layer in layers:
                out = layer.output_shape
                ends.append(draw_layer(layer, [shape], [out], indent))
                shape = out
            for (_, exits), (entries, _) in zip(ends, ends[1:]):
                lines.extend(f"{indent}{a} -> {b};" for a in exits for b in entries)
            return (ends[0][0], ends[-1][1]) if ends else ([], [])
        if not isinstance(m, Functional):   # subclassed: one box
            box(m, [], [m.output_shape] if m.output_shape else [], indent)
            return [node_id(m)], [node_id(m)]
        own = {id(n) for n in m._nodes}
        ends = {}
        for layer in m.layers:
            nodes = [n for n in layer._inbound_nodes if id(n) in own] or layer._inbound_nodes[:1]
            ins = [t.shape for n in nodes for t in n.input_tensors]
            outs = [t.shape for n in nodes for t in n.output_tensors]
            ends[id(layer)] = draw_layer(layer, [] if isinstance(layer, InputLayer) else ins, outs, indent)
        for node in m._nodes:
            for t in node.input_tensors:
                for a in ends[id(t._keras_history[0])][1]:
                    for b in ends[id(node.layer)][0]:
                        lines.append(f"{indent}{a} -> {b};")
        return ([e for t in m._inputs for e in ends[id(t._keras_history[0])][0]],
                [e for t in m._outputs for e in ends[id(t._keras_history[0])][1]])

    def draw_layer(layer, shapes_in, shapes_out, indent):
        if expand_nested and isinstance(layer, (Functional, Sequential)):
            lines.append(f"{indent}subgraph cluster_{node_id(layer)} {{")
            lines.append(f"{indent}  label={quote(f'{layer.name} ({type(layer).__name__})')};")
            ends = draw(layer, indent + "  ")
            lines.append(f"{indent}}}")
            return ends
        box(layer, shapes_in, shapes_out, indent)
        return [node_id(layer)], [node_id(layer)]

    draw(model, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False):
    """``keras.utils.plot_model``: draw ``model`` (see ``model_to_dot``) into ``to_file``.

    ``.dot`` writes the DOT text; ``.png`` and ``.svg`` run Graphviz's ``dot``
    program (Debian package ``graphviz``), with the same error as
    ``tapegrad.utils.plot_tape`` when it is missing.

    Returns, as Keras does, an ``IPython.display.Image`` of the picture when
    IPython is installed (so a notebook cell ending in ``plot_model(...)``
    shows it inline; an ``IPython.display.SVG`` for ``.svg``), else
    ``to_file``; a ``.dot`` file is text and always returns ``to_file``.
    """
    fmt = graph_format(to_file, "plot_model")
    dot_text = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                            show_layer_names=show_layer_names, rankdir=rankdir, expand_nested=expand_nested,
                            dpi=dpi, show_layer_activations=show_layer_activations)
    written = write_graph(dot_text, to_file, "plot_model")
    if fmt == "dot":
        return written
    try:
        from IPython import display
    except ImportError:
        return written
    return display.SVG(filename=written) if fmt == "svg" else display.Image(filename=written)


__all__ = ["to_categorical", "normalize", "set_random_seed", "model_to_dot", "plot_model",
           "image_dataset_from_directory", "load_image"]
