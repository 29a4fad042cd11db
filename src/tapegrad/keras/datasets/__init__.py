"""Keras-style datasets: ``mnist.load_data()`` and ``fashion_mnist.load_data()``.

Each ``load_data`` returns ``(x_train, y_train), (x_test, y_test)`` as uint8
numpy arrays, exactly like ``keras.datasets``.
"""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
