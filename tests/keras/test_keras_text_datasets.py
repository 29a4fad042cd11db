"""keras.datasets.imdb, reuters and boston_housing on small files in the upstream format.

No machine here reaches Keras's mirror, so each test writes tiny files laid
out as the real ones (npz of object arrays of int lists, word-index JSON)
and compares the loaders with a re-implementation of Keras's documented
processing written here, or with hand-checked literals.  Downloads go to a
local HTTP server (FakeMirror, from test_datasets.py); the "offline" case
points at a closed port.
"""

import hashlib
import io
import json

import numpy as np
import pytest

from tapegrad.datasets import DatasetNotFoundError
from tapegrad.keras.datasets import _files, boston_housing, imdb, reuters
from test_datasets import FakeMirror, closed_port_url


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Never touch the real home directory or the real network."""
    monkeypatch.setenv("TAPEGRAD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TAPEGRAD_DATA", raising=False)
    monkeypatch.setenv(_files.URL_ENV_VAR, closed_port_url())
    monkeypatch.chdir(tmp_path)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def ragged(texts):
    out = np.empty(len(texts), dtype=object)
    for i, t in enumerate(texts):
        out[i] = list(t)
    return out


def fake_texts(n, seed, vocab=40):
    r = np.random.default_rng(seed)
    return ragged([list(r.integers(1, vocab, r.integers(1, 12)).tolist()) for _ in range(n)])


def write_imdb(path, n_train=17, n_test=13):
    arrays = dict(x_train=fake_texts(n_train, 1), y_train=np.random.default_rng(2).integers(0, 2, n_train),
                  x_test=fake_texts(n_test, 3), y_test=np.random.default_rng(4).integers(0, 2, n_test))
    np.savez(path, **arrays)
    return arrays


def write_reuters(path, n=23):
    arrays = dict(x=fake_texts(n, 5), y=np.random.default_rng(6).integers(0, 46, n))
    np.savez(path, **arrays)
    return arrays


# ------------------------------------------------------------------ the reference (Keras's steps)
def keras_steps(texts, labels, rng, start_char, index_from):
    order = np.arange(len(texts))
    rng.shuffle(order)
    texts, labels = texts[order], labels[order]
    out = []
    for t in texts:
        words = [w + index_from for w in t]
        out.append(words if start_char is None else [start_char] + words)
    return out, list(labels)


def keras_drop_long(texts, labels, maxlen):
    if maxlen:
        keep = [i for i in range(len(texts)) if len(texts[i]) < maxlen]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return texts, labels


def keras_vocab(texts, num_words, skip_top, oov_char):
    if not num_words:
        num_words = max(max(t) for t in texts)
    if oov_char is None:
        return [[w for w in t if skip_top <= w < num_words] for t in texts]
    return [[w if skip_top <= w < num_words else oov_char for w in t] for t in texts]


def reference_imdb(arrays, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
                   oov_char=2, index_from=3):
    rng = np.random.RandomState(seed)
    xtr, ytr = keras_steps(arrays["x_train"], arrays["y_train"], rng, start_char, index_from)
    xte, yte = keras_steps(arrays["x_test"], arrays["y_test"], rng, start_char, index_from)
    xtr, ytr = keras_drop_long(xtr, ytr, maxlen)
    xte, yte = keras_drop_long(xte, yte, maxlen)
    xs = keras_vocab(xtr + xte, num_words, skip_top, oov_char)
    return (xs[:len(xtr)], ytr), (xs[len(xtr):], yte)


def reference_reuters(arrays, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
                      start_char=1, oov_char=2, index_from=3):
    xs, ys = keras_steps(arrays["x"], arrays["y"], np.random.RandomState(seed), start_char, index_from)
    xs, ys = keras_drop_long(xs, ys, maxlen)
    xs = keras_vocab(xs, num_words, skip_top, oov_char)
    n = int(len(xs) * (1 - test_split))
    return (xs[:n], ys[:n]), (xs[n:], ys[n:])


def assert_same(result, expected):
    for (x, y), (ex, ey) in zip(result, expected):
        assert x.dtype == object and x.ndim == 1 and len(x) == len(ex)
        assert all(isinstance(t, list) for t in x)
        assert [list(t) for t in x] == ex
        np.testing.assert_array_equal(y, np.asarray(ey))


# ------------------------------------------------------------------ imdb
@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 12}, {"num_words": 12, "skip_top": 5}, {"maxlen": 8}, {"seed": 7},
    {"start_char": None}, {"oov_char": None, "num_words": 20, "skip_top": 4},
    {"index_from": 0, "start_char": None}, {"start_char": 9, "oov_char": 5, "index_from": 10, "num_words": 30},
])
def test_imdb_matches_keras_processing(tmp_path, kwargs):
    arrays = write_imdb(tmp_path / "imdb.npz")
    result = imdb.load_data(path=str(tmp_path / "imdb.npz"), **kwargs)
    assert_same(result, reference_imdb(arrays, **kwargs))


def test_imdb_hand_checked(tmp_path):
    """One review per split, so shuffling cannot move anything; worked by hand:
    [1, 5, 9] -> start 1, +3 -> [1, 4, 8, 12]; keep 4 <= w < 10, else oov 2 -> [2, 4, 8, 2]."""
    np.savez(tmp_path / "imdb.npz", x_train=ragged([[1, 5, 9]]), y_train=np.array([1]),
             x_test=ragged([[2, 7]]), y_test=np.array([0]))
    (xtr, ytr), (xte, yte) = imdb.load_data(path=str(tmp_path / "imdb.npz"), num_words=10, skip_top=4)
    assert xtr.tolist() == [[2, 4, 8, 2]] and xte.tolist() == [[2, 5, 2]]
    assert ytr.tolist() == [1] and yte.tolist() == [0]
    # no num_words: the bound is the largest index (12), which itself becomes oov (Keras's rule)
    (xtr, _), (xte, _) = imdb.load_data(path=str(tmp_path / "imdb.npz"))
    assert xtr.tolist() == [[1, 4, 8, 2]] and xte.tolist() == [[1, 5, 10]]
    # maxlen keeps only texts strictly shorter (Keras): 4 and 3 words pass maxlen=5 ...
    (xtr, _), (xte, _) = imdb.load_data(path=str(tmp_path / "imdb.npz"), maxlen=5)
    assert xtr.tolist() == [[1, 4, 8, 2]] and xte.tolist() == [[1, 5, 10]]
    # ... and maxlen=4 empties the training split, which Keras refuses
    with pytest.raises(ValueError, match="maxlen=4"):
        imdb.load_data(path=str(tmp_path / "imdb.npz"), maxlen=4)


def test_imdb_shuffle_is_keras_randomstate(tmp_path):
    """With index_from=0 and no start char the texts come back as stored, in
    the order RandomState(113) gives (train first, then test, one generator)."""
    arrays = write_imdb(tmp_path / "imdb.npz")
    (xtr, ytr), (xte, yte) = imdb.load_data(path=str(tmp_path / "imdb.npz"), start_char=None,
                                            index_from=0, num_words=10**6)
    rng = np.random.RandomState(113)
    order_train = np.arange(17)
    rng.shuffle(order_train)
    order_test = np.arange(13)
    rng.shuffle(order_test)
    assert xtr.tolist() == [arrays["x_train"][i] for i in order_train]
    assert xte.tolist() == [arrays["x_test"][i] for i in order_test]
    np.testing.assert_array_equal(ytr, arrays["y_train"][order_train])
    np.testing.assert_array_equal(yte, arrays["y_test"][order_test])


# ------------------------------------------------------------------ reuters
@pytest.mark.parametrize("kwargs", [
    {}, {"test_split": 0.5}, {"test_split": 0.0}, {"num_words": 15, "skip_top": 3}, {"maxlen": 7},
    {"seed": 3, "oov_char": None, "num_words": 25}, {"start_char": None, "index_from": 0},
])
def test_reuters_matches_keras_processing(tmp_path, kwargs):
    arrays = write_reuters(tmp_path / "reuters.npz")
    result = reuters.load_data(path=str(tmp_path / "reuters.npz"), **kwargs)
    assert_same(result, reference_reuters(arrays, **kwargs))


def test_reuters_split_sizes_and_labels(tmp_path):
    write_reuters(tmp_path / "reuters.npz", n=23)
    (xtr, ytr), (xte, yte) = reuters.load_data(path=str(tmp_path / "reuters.npz"))
    assert (len(xtr), len(xte)) == (18, 5)      # int(23 * 0.8) = 18
    assert ytr.dtype.kind == "i" and len(ytr) == 18
    assert len(reuters.get_label_names()) == 46 and reuters.get_label_names()[3] == "earn"
    with pytest.raises(ValueError, match="test_split"):
        reuters.load_data(path=str(tmp_path / "reuters.npz"), test_split=1.5)


# ------------------------------------------------------------------ boston housing
def test_boston_housing_split(tmp_path):
    r = np.random.default_rng(8)
    x, y = r.uniform(0, 100, (11, 13)), r.uniform(5, 50, 11)
    np.savez(tmp_path / "boston_housing.npz", x=x, y=y)
    (xtr, ytr), (xte, yte) = boston_housing.load_data(path=str(tmp_path / "boston_housing.npz"))
    order = np.arange(11)
    np.random.RandomState(113).shuffle(order)
    assert xtr.shape == (8, 13) and xte.shape == (3, 13) and ytr.shape == (8,)   # int(11 * 0.8) = 8
    np.testing.assert_array_equal(np.concatenate([xtr, xte]), x[order])
    np.testing.assert_array_equal(np.concatenate([ytr, yte]), y[order])
    (xtr, _), (xte, _) = boston_housing.load_data(path=str(tmp_path / "boston_housing.npz"), test_split=0)
    assert len(xtr) == 11 and len(xte) == 0
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(path=str(tmp_path / "boston_housing.npz"), test_split=1)


# ------------------------------------------------------------------ word indexes, where files are found
@pytest.mark.parametrize("module,name", [(imdb, "imdb_word_index.json"), (reuters, "reuters_word_index.json")])
@pytest.mark.parametrize("subfolder", [False, True])
def test_word_index_from_tapegrad_data(tmp_path, monkeypatch, module, name, subfolder):
    folder = tmp_path / "data" / (module.__name__.rsplit(".", 1)[1] if subfolder else "")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"the": 1, "and": 2, "film": 19}))
    monkeypatch.setenv("TAPEGRAD_DATA", str(tmp_path / "data"))
    assert module.get_word_index() == {"the": 1, "and": 2, "film": 19}


def test_data_file_from_tapegrad_data_by_bare_name(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    arrays = write_imdb(tmp_path / "data" / "imdb.npz")
    monkeypatch.setenv("TAPEGRAD_DATA", str(tmp_path / "data"))
    assert_same(imdb.load_data(), reference_imdb(arrays))


def test_published_hashes_are_keras_values():
    """As listed in keras/src/datasets/{imdb,reuters,boston_housing}.py."""
    assert imdb.FILE_HASH == "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
    assert imdb.WORD_INDEX_HASH == "bfafd718b763782e994055a2d397834f"
    assert reuters.FILE_HASH == "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
    assert reuters.WORD_INDEX_HASH == "4d44cc38712099c9e383dc6e5f11a921"
    assert boston_housing.FILE_HASH == "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def test_offline_without_a_cache_names_the_url_and_the_folder(tmp_path):
    for load, url_name, folder in ((imdb.load_data, "imdb.npz", "imdb"),
                                   (reuters.load_data, "reuters.npz", "reuters"),
                                   (boston_housing.load_data, "boston_housing.npz", "boston_housing"),
                                   (imdb.get_word_index, "imdb_word_index.json", "imdb")):
        with pytest.raises(DatasetNotFoundError) as info:
            load()
        message = str(info.value)
        assert _files.base_url() + url_name in message
        assert str(tmp_path / "home" / "datasets" / folder / url_name) in message
    assert not list((tmp_path / "home").rglob("*.part"))


def test_a_path_with_a_folder_is_only_looked_for_there(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no file at .*elsewhere.*imdb.npz"):
        imdb.load_data(path=str(tmp_path / "elsewhere" / "imdb.npz"))


@pytest.fixture
def mirror(monkeypatch):
    """Serve small files in the upstream format; the expected hashes patched to match."""
    buffers = {}
    for name, writer in (("imdb.npz", write_imdb), ("reuters.npz", write_reuters)):
        buf = io.BytesIO()
        arrays = writer(buf)
        buffers[name] = (buf.getvalue(), arrays)
    words = json.dumps({"great": 1, "movie": 2}).encode()
    server = FakeMirror({"/data/imdb.npz": buffers["imdb.npz"][0],
                         "/data/reuters.npz": buffers["reuters.npz"][0],
                         "/data/imdb_word_index.json": words})
    monkeypatch.setenv(_files.URL_ENV_VAR, server.url)
    monkeypatch.setattr(imdb, "FILE_HASH", hashlib.sha256(buffers["imdb.npz"][0]).hexdigest())
    monkeypatch.setattr(reuters, "FILE_HASH", hashlib.sha256(buffers["reuters.npz"][0]).hexdigest())
    monkeypatch.setattr(imdb, "WORD_INDEX_HASH", hashlib.md5(words).hexdigest())   # Keras's is an MD5
    yield server, {name: arrays for name, (_, arrays) in buffers.items()}
    server.close()


def test_download_then_cache(mirror, tmp_path):
    server, arrays = mirror
    assert_same(imdb.load_data(num_words=20), reference_imdb(arrays["imdb.npz"], num_words=20))
    assert (tmp_path / "home" / "datasets" / "imdb" / "imdb.npz").is_file()
    assert_same(imdb.load_data(), reference_imdb(arrays["imdb.npz"]))
    assert server.requests == ["/data/imdb.npz"]                 # the second load used the cache
    assert imdb.get_word_index() == {"great": 1, "movie": 2}    # checked by MD5
    assert_same(reuters.load_data(), reference_reuters(arrays["reuters.npz"]))
    assert server.requests == ["/data/imdb.npz", "/data/imdb_word_index.json", "/data/reuters.npz"]


def test_damaged_cache_is_downloaded_again_and_a_wrong_hash_refused(mirror, tmp_path, monkeypatch):
    server, arrays = mirror
    cached = tmp_path / "home" / "datasets" / "imdb" / "imdb.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    assert_same(imdb.load_data(), reference_imdb(arrays["imdb.npz"]))
    assert server.requests == ["/data/imdb.npz"]
    monkeypatch.setattr(reuters, "FILE_HASH", "0" * 64)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        reuters.load_data()
    monkeypatch.setattr(imdb, "WORD_INDEX_HASH", "0" * 32)
    with pytest.raises(ValueError, match="MD5 mismatch"):
        imdb.get_word_index()
    assert not (tmp_path / "home" / "datasets" / "reuters" / "reuters.npz").exists()
