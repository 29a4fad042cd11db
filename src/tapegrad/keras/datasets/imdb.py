"""The IMDB movie-review sentiment dataset, as in ``keras.datasets.imdb``.

25,000 training and 25,000 test reviews labelled positive (1) or negative
(0), each a list of word indexes, words ranked by frequency.  Downloaded on
first use (about 17 MB) from Keras's mirror into the download cache; see
:mod:`._files` for where files are looked for.  The file holds pickled object
arrays, so load only files you trust (downloads are checked by SHA-256).
"""

import numpy as np

from . import _sequences
from ._files import find_or_download

#: the SHA-256 (data) and MD5 (word index) that Keras publishes for these files
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """``(x_train, y_train), (x_test, y_test)`` with Keras's processing.

    Each split is shuffled with ``np.random.RandomState(seed)`` (train, then
    test, from one generator), then processed as :mod:`._sequences` describes
    (``maxlen`` filters the two splits separately; the vocabulary limit
    counts over both).  ``x_*`` are 1-D object arrays of int lists, ``y_*``
    int arrays of 0/1.
    """
    with np.load(find_or_download("imdb", path, "imdb.npz", FILE_HASH), allow_pickle=True) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    x_train, y_train = _sequences.shuffled(rng, x_train, y_train)
    x_test, y_test = _sequences.shuffled(rng, x_test, y_test)
    x_train = _sequences.shift(x_train, start_char, index_from)
    x_test = _sequences.shift(x_test, start_char, index_from)
    x_train, y_train = _sequences.drop_long(maxlen, x_train, y_train)
    x_test, y_test = _sequences.drop_long(maxlen, x_test, y_test)
    if maxlen and (not x_train or not x_test):
        raise ValueError(f"imdb.load_data: no review is shorter than maxlen={maxlen}; increase maxlen")
    texts = _sequences.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    n = len(x_train)
    return ((_sequences.object_array(texts[:n]), labels[:n]),
            (_sequences.object_array(texts[n:]), labels[n:]))


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> rank (1 = most frequent); in ``load_data``'s output a
    word appears as its rank + ``index_from``."""
    return _sequences.read_word_index(
        find_or_download("imdb", path, "imdb_word_index.json", WORD_INDEX_HASH))
