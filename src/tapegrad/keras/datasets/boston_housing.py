"""The Boston housing prices dataset, as in ``keras.datasets.boston_housing``.

506 suburbs of Boston in the 1970s, 13 features each (crime rate, rooms per
house, ...) and the median house price in k$ as the target: the book's
regression example.  Keras warns that one feature, "B", encodes a racial
assumption; it is kept here only so the book's code runs unchanged.
Downloaded on first use (57 kB) into the download cache; see :mod:`._files`.
"""

import numpy as np

from ._files import find_or_download

#: the SHA-256 Keras publishes for boston_housing.npz
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: the rows shuffled with
    ``np.random.RandomState(seed)``, the first ``int(n * (1 - test_split))``
    for training.  x: (n, 13) float64, y: (n,) float64 prices in k$."""
    if not 0 <= test_split < 1:
        raise ValueError(f"boston_housing.load_data: test_split must be in [0, 1), got {test_split}")
    with np.load(find_or_download("boston_housing", path, "boston_housing.npz", FILE_HASH),
                 allow_pickle=True) as f:
        x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))
