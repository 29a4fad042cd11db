"""Paths in saving: bytes and os.PathLike everywhere, and errors that name the
user's path, not the hidden temp file beside it (issue 20, failure 9)."""

import os
import pathlib

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.atomic_file import write_atomically
from tapegrad.keras import callbacks, layers


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


def small_model():
    tg.random.set_seed(0)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


class PathLike:
    """An os.PathLike that is not a pathlib.Path, returning bytes."""

    def __init__(self, path):
        self.path = os.fsencode(path)

    def __fspath__(self):
        return self.path


@pytest.mark.parametrize("kind", [str, bytes, pathlib.Path, PathLike])
def test_every_saver_and_loader_takes_str_bytes_and_pathlike(tmp_path, kind):
    def path(name):
        p = str(tmp_path / name)
        return os.fsencode(p) if kind is bytes else kind(p)
    model = small_model()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(path("m.keras"))
    np.testing.assert_array_equal(keras.models.load_model(path("m.keras")).predict(x, verbose=0), expected)
    keras.saving.save_model(model, path("n.keras"))
    assert os.path.isfile(tmp_path / "n.keras")
    model.save_weights(path("w.weights.npz"))
    other = small_model()
    other.load_weights(path("w.weights.npz"))
    np.testing.assert_array_equal(other.predict(x, verbose=0), expected)
    for weights_only, name in ((True, "c.weights.npz"), (False, "c.keras")):
        checkpoint = callbacks.ModelCheckpoint(path(name), save_weights_only=weights_only)
        model.fit(x, expected, epochs=1, verbose=0, callbacks=[checkpoint])
        assert os.path.isfile(tmp_path / name)
    logger = callbacks.CSVLogger(path("log.csv"))
    model.fit(x, expected, epochs=1, verbose=0, callbacks=[logger])
    assert (tmp_path / "log.csv").read_text().startswith("epoch,")
    with write_atomically(path("raw.bin")) as f:
        f.write(b"ok")
    assert (tmp_path / "raw.bin").read_bytes() == b"ok"


def test_a_write_error_names_the_users_path_not_the_temp_file(tmp_path):
    model = small_model()
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)                 # the folder exists but cannot be written
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write to a read-only folder (root)")
        for save, name in ((model.save, "m.keras"), (model.save_weights, "w.weights.npz")):
            with pytest.raises(PermissionError) as info:
                save(str(locked / name))
            assert info.value.filename == str(locked / name)
            assert ".tmp" not in str(info.value) and "tapegrad-" not in str(info.value)
    finally:
        os.chmod(locked, 0o700)


def test_a_failed_rename_names_the_users_path(tmp_path):
    target = tmp_path / "is-a-folder.keras"
    target.mkdir()
    (target / "keep").write_text("x")        # a non-empty folder: the rename onto it fails
    with pytest.raises(OSError) as info:
        with write_atomically(target) as f:
            f.write(b"data")
    assert info.value.filename == str(target)
    assert "tapegrad-" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["is-a-folder.keras"]   # no temp file left


def test_a_proc_path_names_the_users_path():
    if not os.path.isdir("/proc"):
        pytest.skip("needs Linux's /proc, which refuses new files even to root")
    with pytest.raises(OSError) as info:
        small_model().save("/proc/m.keras")
    assert info.value.filename == "/proc/m.keras" and ".tmp" not in str(info.value)
