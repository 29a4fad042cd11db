"""The word-index processing the IMDB and Reuters loaders share, in Keras's order.

Each text is a list of word ranks (1 = the most frequent word).  Keras
turns them into model inputs in this order, and so do we: mark the start
with ``start_char`` and shift every rank by ``index_from`` (so 0, 1, 2 stay
free for padding, start and out-of-vocabulary); drop the texts of
``maxlen`` words or more (Keras keeps only ``len < maxlen``); then replace
the words outside ``skip_top <= w < num_words`` by ``oov_char`` (or drop
them when ``oov_char`` is None).
"""

import json

import numpy as np


def shuffled(rng, *arrays):
    """The arrays, reordered by one permutation drawn with ``rng.shuffle``."""
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def shift(texts, start_char, index_from):
    """Ranks + ``index_from``, each text led by ``start_char`` unless it is None."""
    lead = [] if start_char is None else [start_char]
    return [lead + [int(w) + index_from for w in text] for text in texts]


def drop_long(maxlen, texts, labels):
    """Only the texts shorter than ``maxlen`` (and their labels); all when maxlen is falsy."""
    if not maxlen:
        return texts, list(labels)
    kept = [i for i, text in enumerate(texts) if len(text) < maxlen]
    return [texts[i] for i in kept], [labels[i] for i in kept]


def limit_vocabulary(texts, num_words, skip_top, oov_char):
    """Words outside ``skip_top <= w < num_words`` -> ``oov_char`` (dropped if it is None).

    Without ``num_words`` the bound is the largest index present, so (as in
    Keras) that one rarest word is itself replaced.
    """
    if not num_words:
        num_words = max(max(text) for text in texts if text)
    if oov_char is None:
        return [[w for w in text if skip_top <= w < num_words] for text in texts]
    return [[w if skip_top <= w < num_words else oov_char for w in text] for text in texts]


def object_array(texts):
    """A 1-D object array holding each text as a Python list (as Keras returns)."""
    out = np.empty(len(texts), dtype=object)
    for i, text in enumerate(texts):
        out[i] = text
    return out


def read_word_index(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)
