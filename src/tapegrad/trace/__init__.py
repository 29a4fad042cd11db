"""``tapegrad.function`` (``tf.function``): trace a Python function into a graph, run passes, replay it.

How it works, one file per step (read them in this order):

==============  ===============================================================
graph.py        the data structure: a ``Graph`` is ``inputs``, a list of
                ``Node`` calls (``outputs = fn(*args, **kwargs)``, arrays
                replaced by ``Value``\\ s) in run order, and ``outputs``;
                ``graph_to_dot`` draws it as ``utils.tape_to_dot`` draws a tape
record.py       tracing: run the function once eagerly while a ``Recorder``
                writes down every kernel call, ``xp`` array call and host call
                (optimizer step, metric update, ``tapegrad.print``); refuse
                (fall back to eager) what it cannot replay
passes.py       the passes, each ONE function ``graph -> graph`` that returns a
                new graph computing the same numbers; ``PIPELINE`` lists them
                in order (``dead_code``, ``fold_constants``,
                ``fuse_elementwise``, ``fuse_optimizer_update``,
                ``fuse_pool_backward``, ``fuse_head``, ``fuse_head_backward``,
                ``fold_gather``, ``dead_code``, ``reuse_buffers``,
                ``bind_kernels``),
                ``run_pipeline`` runs them; fuse_optimizer.py, fuse_pool.py,
                fuse_head.py, gather.py and bind.py hold the larger passes
codegen.py      the plan: the final graph as a generated, straight-line Python
                function (one line per call, buffers allocated once)
function.py     ``Function``: the cache of traces by input signature, the
                fallback to eager, ``graph_dot``, ``plan_source``;
                ``TensorSpec``, ``tapegrad.print``
==============  ===============================================================

A pass is ``def my_pass(graph): graph = graph.copy(); ...; return graph``:
it may replace, drop or reorder nodes (a fused node lists the ops it merged
in ``Node.fused``), never changes the graph it was given, and goes into
``passes.PIPELINE`` before ``reuse_buffers``.  docs/14-tf-function.md tells
the story with a drawn graph.

What a Keras training step looks like in the graph, for a pass to match:
each kernel call is a node whose ``op`` is the kernel's name (``"matmul"``,
``"dense_forward"``, ``"relu_bias_grad"``...) or ``"xp.<name>"``, with the
kernel's own arguments (a Variable's array is a ``Value`` of kind
``"variable"``, ``source`` the Variable); ``"view"`` nodes remake reshapes.
The optimizer step is ONE host call, ``op == "<Optimizer>._apply_pairs"``,
``args == (optimizer, [(TensorOf(gradient), TensorOf(variable)), ...])``: a
pass that folds the update into the kernel making a gradient replaces it
with kernel calls whose ``fn`` reads ``optimizer._hyperparameters()`` at run
time and counts ``optimizer.iterations`` (Adam's bias correction needs it).
A node's ``fn`` may be any callable: the plan calls it as recorded.
"""

from . import config
from .function import Function, TensorSpec, function, functions_run_eagerly, print_, run_functions_eagerly
from .graph import Buffer, Graph, Node, TensorOf, Value, graph_to_dot
from .passes import PIPELINE, dead_code, fold_constants, fuse_elementwise, reuse_buffers, run_pipeline
from .record import TracedNumpyError, host_call

__all__ = ["Function", "TensorSpec", "function", "functions_run_eagerly", "print_", "run_functions_eagerly",
           "Buffer", "Graph", "Node", "TensorOf", "Value", "graph_to_dot", "PIPELINE", "dead_code",
           "fold_constants", "fuse_elementwise", "reuse_buffers", "run_pipeline", "TracedNumpyError", "host_call"]
