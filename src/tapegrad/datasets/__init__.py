"""Datasets: an IDX file reader, the embedded MNIST copy and a downloader.

MNIST (60,000 training and 10,000 test images of handwritten digits, 28x28
pixels, uint8) ships inside tapegrad, so ``load_mnist_arrays()`` works
offline.  Datasets in the same four-file IDX layout (such as Fashion-MNIST)
can be loaded from a directory with ``load_mnist_arrays(directory)``.
"""

import hashlib
from importlib import resources
from pathlib import Path

from .download import DatasetNotFoundError, data_home, fetch, sha256_file
from .idx import parse_idx, read_idx

__all__ = [
    "DatasetNotFoundError",
    "MNIST_FILE_NAMES",
    "data_home",
    "fetch",
    "find_idx_file",
    "load_mnist_arrays",
    "parse_idx",
    "read_idx",
    "sha256_file",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def load_mnist_arrays(directory=None):
    """Load MNIST-layout IDX files as ``(x_train, y_train), (x_test, y_test)``.

    With no ``directory``, the MNIST copy embedded in tapegrad is used.
    Otherwise ``directory`` must hold the four files named in
    ``MNIST_FILE_NAMES`` (gzipped, or unzipped without the ``.gz``).
    Images are uint8 of shape (n, rows, cols), labels uint8 of shape (n,).
    Every call decodes the files again and returns new arrays, so callers
    may modify them freely.
    """
    if directory is None:
        contents = _embedded_mnist_bytes()
        arrays = {name: parse_idx(data, name=f"embedded MNIST {name}")
                  for name, data in contents.items()}
        source = "the embedded MNIST files"
    else:
        directory = Path(directory)
        if not directory.is_dir():
            raise DatasetNotFoundError(
                f"{directory} is not a directory; pass the directory that "
                f"holds {', '.join(MNIST_FILE_NAMES)}")
        arrays = {}
        for name in MNIST_FILE_NAMES:
            path = find_idx_file(directory, name)
            if path is None:
                raise DatasetNotFoundError(
                    f"{directory} has no {name} (nor {name[:-3]}); it needs "
                    f"all of: {', '.join(MNIST_FILE_NAMES)}")
            arrays[name] = read_idx(path)
        source = str(directory)

    train = _images_and_labels(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS],
                               "training", source)
    test = _images_and_labels(arrays[TEST_IMAGES], arrays[TEST_LABELS],
                              "test", source)
    return train, test


def find_idx_file(directory, name):
    """``directory/name``, or the unzipped ``directory/name`` without ``.gz``.

    Returns the first that exists, or None.
    """
    candidates = [Path(directory) / name]
    if name.endswith(".gz"):
        candidates.append(Path(directory) / name[:-3])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _embedded_mnist_bytes():
    """The four embedded .gz files' bytes, checked against SHA256SUMS.

    We check the SHA-256 on every load: hashing the 11 MB of compressed data
    takes about 10 ms, little next to the ~0.3 s spent decompressing it, and
    it needs no "already checked" state.  (gzip's own CRC-32 would catch
    random corruption; the SHA-256 also catches a swapped or edited file.)
    """
    folder = resources.files(__name__).joinpath("mnist_data")
    expected = _parse_sha256sums(folder.joinpath("SHA256SUMS").read_text())
    contents = {}
    for name in MNIST_FILE_NAMES:
        data = folder.joinpath(name).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected.get(name):
            raise ValueError(
                f"embedded MNIST file {name} is damaged: SHA-256 {actual}, "
                f"expected {expected.get(name)}; reinstall tapegrad")
        contents[name] = data
    return contents


def _parse_sha256sums(text):
    """Parse ``sha256sum`` output ("<hex>  <name>" lines) into {name: hex}."""
    hashes = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            hashes[name.lstrip("*")] = digest.lower()
    return hashes


def _images_and_labels(images, labels, split, source):
    """Check that images and labels fit together; return them as a pair."""
    if images.dtype != "uint8" or images.ndim != 3:
        raise ValueError(f"{source}: {split} images must be uint8 of shape "
                         f"(n, rows, cols), got {images.dtype} {images.shape}")
    if labels.dtype != "uint8" or labels.ndim != 1:
        raise ValueError(f"{source}: {split} labels must be uint8 of shape "
                         f"(n,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{source}: {len(images)} {split} images but "
                         f"{len(labels)} labels")
    return images, labels
