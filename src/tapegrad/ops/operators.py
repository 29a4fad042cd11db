"""The wiring to the layers below: Tensor's operators and the tape's ops.

tensor.py and tape.py sit below the ops and never import them: this module
hands them what they use from the ops, once, when ``tapegrad.ops`` is
imported (``Tensor.__add__ = add`` and the rest, and the three ops the
tape's backward walk needs).
"""

from __future__ import annotations

from ..tape import provide_gradient_ops
from ..tensor import Tensor
from .base import convert
from .creation import zeros_like
from .elementwise import abs, add, compare, divide, multiply, negative, power, subtract
from .linalg import matmul
from .shape import getitem


provide_gradient_ops(add=add, zeros_like=zeros_like, convert=convert)


def _reflected(op):
    """``other <op> tensor`` for a tensor on the right (``2 * x`` is ``multiply(2, x)``)."""
    def reflected(self, other):
        return op(other, self)
    reflected.__name__ = f"reflected_{op.__name__}"
    return reflected


def _comparison(name):
    """``a < b`` and friends: element-wise ``compare`` giving a bool tensor."""
    def comparison(self, other):
        return compare(self, other, name)
    comparison.__name__ = name
    return comparison


def _equality(name):
    """``==`` / ``!=``: element-wise, except that ``x == None`` is False (``!=`` True)."""
    def equality(self, other):
        if other is None:
            return name == "not_equal"
        return compare(self, other, name)
    equality.__name__ = name
    return equality


#: Tensor's Python operators are these ops (``a + b`` is ``add(a, b)``).
TENSOR_OPERATORS = {
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": negative, "__abs__": abs, "__pow__": power, "__getitem__": getitem,
    "__lt__": _comparison("less"), "__le__": _comparison("less_equal"),
    "__gt__": _comparison("greater"), "__ge__": _comparison("greater_equal"),
    "__eq__": _equality("equal"), "__ne__": _equality("not_equal"),
}
for _name, _op in TENSOR_OPERATORS.items():
    setattr(Tensor, _name, _op)
del _name, _op
