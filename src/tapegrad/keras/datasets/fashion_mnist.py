"""Fashion-MNIST, as in ``keras.datasets.fashion_mnist``.

60,000 training and 10,000 test grayscale 28x28 images of clothing in 10
classes (see ``CLASS_NAMES``), in the same file format as MNIST, so it is a
drop-in replacement that is harder to fit.  Copyright Zalando SE, MIT license.

It is not shipped with tapegrad (about 30 MB).  ``load_data`` looks for the
four files, in order, in:

1. the ``path`` argument, if given (then only there);
2. ``$TAPEGRAD_DATA`` and ``$TAPEGRAD_DATA/fashion_mnist`` (one that cannot
   be read is skipped with a warning);
3. the download cache ``$TAPEGRAD_HOME/datasets/fashion_mnist`` (by default
   ``~/.tapegrad/datasets/fashion_mnist``), downloading missing files there
   from ``$TAPEGRAD_FASHION_MNIST_URL`` (default: the mirror Keras uses).

Downloaded files are checked against ``FILE_SIZES`` and ``FILE_HASHES``; files in directories
you provide are only checked for a valid format and shape.
"""

import os
import warnings
from pathlib import Path

from ...datasets import (DatasetNotFoundError, data_home, fetch,
                         find_idx_file, load_mnist_arrays, sha256_file)

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
URL_ENV_VAR = "TAPEGRAD_FASHION_MNIST_URL"

# The files, in the order they are downloaded, with the SHA-256 of each
# original .gz file (the values Keras checks, keras/src/datasets/fashion_mnist.py).
FILE_HASHES = {
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
}
# Their sizes in bytes: a download that runs past its size is stopped at once.
FILE_SIZES = {
    "train-labels-idx1-ubyte.gz": 29515,
    "train-images-idx3-ubyte.gz": 26421880,
    "t10k-labels-idx1-ubyte.gz": 5148,
    "t10k-images-idx3-ubyte.gz": 4422102,
}


def load_data(path=None):
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28),
    y_test (10000,); all uint8, labels 0-9 (see ``CLASS_NAMES``).  ``path``
    is a directory holding the four files; without it the files are searched
    for and, if need be, downloaded (see the module docstring).  Raises
    ``DatasetNotFoundError`` when they can be neither found nor downloaded.
    """
    return load_mnist_arrays(find_or_download(path))


def cache_dir():
    """Where downloaded Fashion-MNIST files are kept."""
    return data_home() / "datasets" / "fashion_mnist"


def find_or_download(path=None):
    """Return a directory that holds all four Fashion-MNIST files."""
    if path is not None:
        if _has_all_files(Path(path)):
            return Path(path)
        raise DatasetNotFoundError(_not_found_message([str(path)]))

    searched = []  # for the error message
    data_dir = os.environ.get("TAPEGRAD_DATA")
    if data_dir:
        for directory in (Path(data_dir), Path(data_dir) / "fashion_mnist"):
            try:
                if _has_all_files(directory):
                    return directory
            except OSError as error:   # unreadable: look in the other places
                warnings.warn(f"$TAPEGRAD_DATA: cannot read {directory} ({error}); skipping it",
                              RuntimeWarning, stacklevel=3)
                searched.append(f"{directory} (unreadable: {error.strerror or error})")
                continue
            searched.append(str(directory))
    else:
        searched.append("$TAPEGRAD_DATA (not set)")

    cache = cache_dir()
    searched.append(f"{cache} (the download cache: original files only, "
                    "they are checked by SHA-256)")
    base_url = os.environ.get(URL_ENV_VAR) or DEFAULT_BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    for name, sha256 in FILE_HASHES.items():
        target = cache / name
        if target.is_file() and sha256_file(target) == sha256:
            continue  # already downloaded and intact
        try:
            fetch(base_url + name, target, sha256, size=FILE_SIZES[name])
        except DatasetNotFoundError as error:
            raise DatasetNotFoundError(
                _not_found_message(searched, error)) from error
    return cache


def _has_all_files(directory):
    return all(find_idx_file(directory, name) is not None
               for name in FILE_HASHES)


def _not_found_message(searched, download_error=None):
    lines = ["Fashion-MNIST files not found."]
    if download_error is not None:
        # Only fetch's first line: its advice about one file is repeated
        # below for all four.
        first_line = str(download_error).splitlines()[0]
        lines.append(f"The download failed: {first_line}")
    lines.append("Searched:")
    lines += [f"  {place}" for place in searched]
    lines.append("Put these files (from "
                 "https://github.com/zalandoresearch/fashion-mnist) in one of "
                 "those directories, or in a directory you pass as "
                 "load_data(path=...):")
    lines += [f"  {name}" for name in FILE_HASHES]
    return "\n".join(lines)
