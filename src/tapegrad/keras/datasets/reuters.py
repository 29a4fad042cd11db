"""The Reuters newswire topics dataset, as in ``keras.datasets.reuters``.

11,228 newswires labelled with one of 46 topics (``get_label_names()``),
each a list of word indexes, words ranked by frequency.  Downloaded on first
use (about 2 MB) from Keras's mirror into the download cache; see
:mod:`._files` for where files are looked for.  The file holds pickled object
arrays, so load only files you trust (downloads are checked by SHA-256).
"""

import numpy as np

from . import _sequences
from ._files import find_or_download

#: the SHA-256 (data) and MD5 (word index) that Keras publishes for these files
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """``(x_train, y_train), (x_test, y_test)`` with Keras's processing.

    All newswires are shuffled with ``np.random.RandomState(seed)``,
    processed as :mod:`._sequences` describes, and the first
    ``int(n * (1 - test_split))`` become the training split.  ``x_*`` are
    1-D object arrays of int lists, ``y_*`` int arrays of topic ids.
    """
    if not 0 <= test_split <= 1:
        raise ValueError(f"reuters.load_data: test_split must be in [0, 1], got {test_split}")
    with np.load(find_or_download("reuters", path, "reuters.npz", FILE_HASH), allow_pickle=True) as f:
        xs, labels = f["x"], f["y"]
    xs, labels = _sequences.shuffled(np.random.RandomState(seed), xs, labels)
    xs = _sequences.shift(xs, start_char, index_from)
    xs, labels = _sequences.drop_long(maxlen, xs, labels)
    xs = _sequences.limit_vocabulary(xs, num_words, skip_top, oov_char)
    labels = np.asarray(labels)
    n = int(len(xs) * (1 - test_split))
    return ((_sequences.object_array(xs[:n]), labels[:n]),
            (_sequences.object_array(xs[n:]), labels[n:]))


def get_word_index(path="reuters_word_index.json"):
    """The dict word -> rank (1 = most frequent); in ``load_data``'s output a
    word appears as its rank + ``index_from``."""
    return _sequences.read_word_index(
        find_or_download("reuters", path, "reuters_word_index.json", WORD_INDEX_HASH))


def get_label_names():
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
