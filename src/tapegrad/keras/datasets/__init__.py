"""Keras-style datasets: ``mnist``, ``fashion_mnist``, ``imdb``, ``reuters``, ``boston_housing``.

Each ``load_data`` returns ``(x_train, y_train), (x_test, y_test)`` as NumPy
arrays, exactly like ``keras.datasets``: uint8 images for the MNISTs, object
arrays of word-index lists for IMDB and Reuters, float64 for Boston housing.
"""

from . import boston_housing, fashion_mnist, imdb, mnist, reuters

__all__ = ["boston_housing", "fashion_mnist", "imdb", "mnist", "reuters"]
