"""``tapegrad.keras``: the Keras vocabulary of the book on tapegrad's engine.

``Sequential`` stacks ``layers.Dense``; ``compile`` picks an optimizer, a
loss and metrics by name; ``fit`` runs the same GradientTape training step
you would write by hand, with fused kernels underneath.
"""

from . import callbacks, distribution, layers, losses, metrics, models, optimizers, regularizers, saving, utils
from .layers import Input
from .models import Model, Sequential

try:  # written by another engineer; must not break import while in progress
    from . import datasets
except ImportError:  # pragma: no cover
    pass

__all__ = ["Sequential", "Model", "Input", "layers", "losses", "metrics", "models", "optimizers",
           "regularizers", "saving", "utils", "callbacks", "datasets", "distribution"]
