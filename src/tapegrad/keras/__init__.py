"""``tapegrad.keras``: the Keras vocabulary of the book on tapegrad's engine.

``Sequential`` stacks ``layers.Dense``; ``compile`` picks an optimizer, a
loss and metrics by name; ``fit`` runs the same GradientTape training step
you would write by hand, with fused kernels underneath.
"""

from . import callbacks, distribution, layers, losses, metrics, models, optimizers, regularizers, saving, utils
from . import applications, layers_conv, layers_preprocessing

# keras.layers.Conv2D, keras.layers.Rescaling...: the image layers live in files of their own
# (they build on layers.py, so layers.py cannot import them back); they join its namespace here
for _module in (layers_conv, layers_preprocessing):
    for _name in _module.__all__:
        setattr(layers, _name, getattr(_module, _name))
    layers.__all__ = [*layers.__all__, *_module.__all__]
del _module, _name
from .layers import Input
from .models import Model, Sequential

try:  # written by another engineer; must not break import while in progress
    from . import datasets
except ImportError:  # pragma: no cover
    pass

__all__ = ["Sequential", "Model", "Input", "layers", "losses", "metrics", "models", "optimizers",
           "regularizers", "saving", "utils", "callbacks", "datasets", "distribution", "applications"]
