"""Finding and downloading the one-file Keras datasets (IMDB, Reuters, Boston housing).

Keras keeps each of these as one file on its mirror.  ``find_or_download``
looks for a file, in order:

1. at ``path`` itself when it is an existing file, or when it names a folder
   (``"data/imdb.npz"``): then only there;
2. a bare name (the default, ``"imdb.npz"``) in ``$TAPEGRAD_DATA`` and
   ``$TAPEGRAD_DATA/<dataset>``;
3. in the download cache ``$TAPEGRAD_HOME/datasets/<dataset>`` (by default
   ``~/.tapegrad/datasets/<dataset>``), downloading it there from
   ``$TAPEGRAD_KERAS_DATASETS_URL`` (default: Keras's mirror) when it is
   missing or damaged.

Downloaded and cached files are checked against the hash Keras publishes:
SHA-256 for the data files, MD5 for the word indexes (Keras publishes only
an MD5 for those).  Files you provide are only checked for their format.
"""

import hashlib
import os
from pathlib import Path

from ...datasets import DatasetNotFoundError, data_home, fetch

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
URL_ENV_VAR = "TAPEGRAD_KERAS_DATASETS_URL"


def cache_dir(dataset):
    """Where downloaded files of ``dataset`` are kept."""
    return data_home() / "datasets" / dataset


def base_url():
    url = os.environ.get(URL_ENV_VAR) or BASE_URL
    return url if url.endswith("/") else url + "/"


def hash_matches(path, expected):
    """Whether the file's MD5 (32 hex digits) or SHA-256 (64) is ``expected``."""
    digest = hashlib.new("md5" if len(expected) == 32 else "sha256")
    with open(path, "rb") as file:
        while chunk := file.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest() == expected.lower()


def find_or_download(dataset, path, canonical_name, file_hash):
    """The path of a readable copy of ``canonical_name`` (see the module docstring)."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_file():
        return path
    if path.parent != Path("."):
        raise DatasetNotFoundError(
            f"{dataset}: no file at {path}. Download {base_url() + canonical_name} and save it "
            f"there, or pass a bare file name to search $TAPEGRAD_DATA and the download cache.")
    searched = []
    data_dir = os.environ.get("TAPEGRAD_DATA")
    if data_dir:
        for folder in (Path(data_dir), Path(data_dir) / dataset):
            searched.append(str(folder))
            if (folder / path).is_file():
                return folder / path
    else:
        searched.append("$TAPEGRAD_DATA (not set)")
    target = cache_dir(dataset) / path
    searched.append(f"{target.parent} (the download cache: checked by hash)")
    if target.is_file() and hash_matches(target, file_hash):
        return target
    url = base_url() + canonical_name
    try:
        return fetch(url, target, file_hash)
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(
            f"{dataset}: {path} not found, and the download failed: {str(error).splitlines()[0]}\n"
            f"Searched: {'; '.join(searched)}.\n"
            f"Download {url} by hand and save it as {target} (or put it in $TAPEGRAD_DATA, "
            f"or pass load_data(path=...) the file's path).") from error
