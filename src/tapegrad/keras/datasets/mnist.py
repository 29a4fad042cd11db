"""MNIST handwritten digits, as in ``keras.datasets.mnist``.

60,000 training and 10,000 test grayscale images of the digits 0-9, 28x28
pixels with values 0 (background) to 255 (ink).  A copy ships inside
tapegrad, so no download is needed.  Data by Y. LeCun, C. Cortes and
C. J. C. Burges, licensed CC BY-SA 3.0.
"""

from ...datasets import load_mnist_arrays


def load_data(path=None):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28),
    y_test (10000,); all uint8.  By default the embedded copy is used; pass
    ``path``, a directory holding the four IDX files
    (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
    t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), to use your own.
    Each call returns new arrays that you may modify.
    """
    return load_mnist_arrays(path)
