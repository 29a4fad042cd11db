"""Tests for the dataset layer: IDX reading, embedded MNIST, Fashion-MNIST."""

import gzip
import hashlib
import http.server
import os
import pathlib
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tapegrad.datasets import (DatasetNotFoundError, fetch, load_mnist_arrays,
                               read_idx)
from tapegrad.datasets.idx import IDX_DTYPES
from tapegrad.keras.datasets import fashion_mnist, mnist

MNIST_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "src",
                         "tapegrad", "datasets", "mnist_data")


def idx_bytes(array, type_code=None):
    """Encode ``array`` as an IDX file (the inverse of read_idx)."""
    if type_code is None:
        type_code = next(code for code, dtype in IDX_DTYPES.items()
                         if dtype.kind == array.dtype.kind
                         and dtype.itemsize == array.dtype.itemsize)
    dtype = IDX_DTYPES[type_code]
    header = bytes([0, 0, type_code, array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def idx_sha256(array, type_code=0x08):
    return hashlib.sha256(idx_bytes(array, type_code)).hexdigest()


# ---------------------------------------------------------------- embedded MNIST

@pytest.fixture(scope="module")
def mnist_files():
    """The four embedded files, each decoded once for the whole module."""
    from tapegrad.datasets import MNIST_FILE_NAMES
    return {name[:-len("-idx3-ubyte.gz")]: read_idx(os.path.join(MNIST_DIR, name))
            for name in MNIST_FILE_NAMES}


@pytest.fixture(scope="module")
def keras_mnist():
    return mnist.load_data()


def test_read_idx_embedded_shapes(mnist_files):
    assert mnist_files["train-images"].shape == (60000, 28, 28)
    assert mnist_files["train-labels"].shape == (60000,)
    assert mnist_files["t10k-images"].shape == (10000, 28, 28)
    assert mnist_files["t10k-labels"].shape == (10000,)
    for array in mnist_files.values():
        assert array.dtype == np.uint8


def test_read_idx_embedded_is_byte_exact(mnist_files):
    # Re-encoding must give back the original uncompressed files (README).
    expected = {
        "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    for name, digest in expected.items():
        assert idx_sha256(mnist_files[name]) == digest, name


def test_mnist_labels(mnist_files):
    train, test = mnist_files["train-labels"], mnist_files["t10k-labels"]
    assert list(train[:3]) == [5, 0, 4] and list(train[-3:]) == [5, 6, 8]
    assert list(test[:3]) == [7, 2, 1] and list(test[-3:]) == [4, 5, 6]
    assert list(np.bincount(train, minlength=10)) == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert list(np.bincount(test, minlength=10)) == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_pixel_statistics(mnist_files):
    x = mnist_files["train-images"]
    n = x.size
    # Exact integer sums, to avoid a 376 MB float64 copy of the images.
    mean = x.sum(dtype=np.int64) / n / 255
    mean_sq = np.square(x, dtype=np.uint16).sum(dtype=np.int64) / n / 255**2
    std = np.sqrt(mean_sq - mean**2)
    assert round(mean, 4) == 0.1307
    assert round(std, 4) == 0.3081


def test_keras_mnist_load_data(keras_mnist, mnist_files):
    (x_train, y_train), (x_test, y_test) = keras_mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert np.array_equal(x_train, mnist_files["train-images"])
    assert np.array_equal(y_train, mnist_files["train-labels"])
    assert np.array_equal(x_test, mnist_files["t10k-images"])
    assert np.array_equal(y_test, mnist_files["t10k-labels"])


def test_keras_mnist_returns_fresh_writable_arrays(keras_mnist):
    (x_train, y_train), _ = keras_mnist
    assert x_train.flags.writeable and y_train.flags.writeable
    (x_again, y_again), _ = mnist.load_data()
    assert not np.shares_memory(x_again, x_train)
    assert not np.shares_memory(y_again, y_train)


def test_mnist_load_data_from_a_directory(tmp_path):
    make_fake_mnist_dir(tmp_path, n_train=4, n_test=2)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path)
    assert x_train.shape == (4, 28, 28) and y_test.shape == (2,)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels"):
        mnist.load_data(path=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="not a directory"):
        mnist.load_data(path=tmp_path / "train-images-idx3-ubyte.gz")


def test_load_mnist_arrays_checks_that_images_match_labels(tmp_path):
    make_fake_mnist_dir(tmp_path, n_train=4, n_test=2)
    labels = np.zeros(3, np.uint8)  # 3 labels for 4 images
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx_bytes(labels))
    with pytest.raises(ValueError, match="4 training images but 3 labels"):
        load_mnist_arrays(tmp_path)


# ---------------------------------------------------------------- read_idx

SAMPLES = {
    0x08: np.array([[0, 1, 255], [7, 8, 9]], np.uint8),
    0x09: np.array([[-128, 0, 127]], np.int8),
    0x0B: np.array([[[-32768, 1], [2, 32767]]], np.int16),
    0x0C: np.array([-(2**31), 0, 2**31 - 1, 66051], np.int32),
    0x0D: np.array([[1.5, -2.25], [np.inf, 3e38]], np.float32),
    0x0E: np.array([np.pi, -1e-300, 0.0], np.float64),
}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("type_code", sorted(SAMPLES), ids=hex)
def test_read_idx_round_trip(tmp_path, type_code, compress):
    array = SAMPLES[type_code]
    data = idx_bytes(array, type_code)
    path = tmp_path / "sample.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    result = read_idx(path)
    assert result.shape == array.shape
    assert result.dtype == array.dtype and result.dtype.isnative
    assert result.flags.writeable
    np.testing.assert_array_equal(result, array)


def test_read_idx_big_endian_on_disk(tmp_path):
    path = tmp_path / "one.idx"
    path.write_bytes(b"\x00\x00\x0c\x01" + b"\x00\x00\x00\x01" + b"\x00\x01\x02\x03")
    assert read_idx(path).tolist() == [66051]  # 0x00010203


# Each multi-byte type spelled out by hand, big-endian as the format says, with values whose
# bytes are not palindromes (so reading them in the machine's little-endian order would differ).
LITERAL_IDX = {
    0x0B: (struct.pack(">hhh", 258, -2, 0x1234), np.int16, [258, -2, 0x1234]),
    0x0C: (struct.pack(">ii", 16909060, -123456789), np.int32, [16909060, -123456789]),
    0x0D: (struct.pack(">fff", 1.5, -0.1, 3.0e38), np.float32, np.array([1.5, -0.1, 3.0e38], np.float32)),
    0x0E: (struct.pack(">dd", np.pi, -1e-300), np.float64, [np.pi, -1e-300]),
}


@pytest.mark.parametrize("type_code", sorted(LITERAL_IDX), ids=hex)
def test_read_idx_literal_big_endian_bytes(tmp_path, type_code):
    payload, dtype, expected = LITERAL_IDX[type_code]
    path = tmp_path / "literal.idx"
    path.write_bytes(bytes([0, 0, type_code, 1]) + struct.pack(">I", len(expected)) + payload)
    result = read_idx(path)
    assert result.dtype == dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, np.asarray(expected, dtype))


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = SAMPLES[0x08]
    plain_named_gz = tmp_path / "plain.gz"
    plain_named_gz.write_bytes(idx_bytes(array))
    gzip_named_plain = tmp_path / "gzipped.idx"
    gzip_named_plain.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(plain_named_gz), array)
    np.testing.assert_array_equal(read_idx(gzip_named_plain), array)


GOOD = idx_bytes(SAMPLES[0x0B])

BAD_FILES = {
    "empty": (b"", "too short"),
    "bad magic": (b"\x01" + GOOD[1:], "bad magic"),
    "unknown type code": (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX type code 0x0A"),
    "truncated header": (GOOD[:10], "truncated IDX header"),
    "truncated data": (GOOD[:-1], "truncated IDX data"),
    "trailing bytes": (GOOD + b"\x00\x00", "2 unexpected trailing bytes"),
    "gzip of a bad file": (gzip.compress(GOOD + b"!"), "trailing bytes"),
    "not gzip after all": (b"\x1f\x8b" + GOOD, "corrupted gzip"),
    "cut-off gzip": (gzip.compress(GOOD)[:-6], "corrupted gzip"),
    "gzip with a flipped bit": (
        gzip.compress(GOOD)[:-8] + bytes([gzip.compress(GOOD)[-8] ^ 1])
        + gzip.compress(GOOD)[-7:], "corrupted gzip"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_read_idx_rejects(tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "bad-file.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert "bad-file.gz" in str(error.value)


def test_read_idx_names_non_gzip_dot_gz_files(tmp_path):
    path = tmp_path / "page.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="named .gz but not gzip"):
        read_idx(path)


# ---------------------------------------------------------------- Fashion-MNIST

def fake_split(n_train, n_test, seed=0):
    """Small random images and labels, 28x28 like the real data."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def make_fake_mnist_dir(directory, n_train, n_test):
    arrays = fake_split(n_train, n_test)
    for name, array in arrays.items():
        (directory / name).write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


def closed_port_url():
    """A URL on 127.0.0.1 where (almost certainly) nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Never touch the real home directory or the real network."""
    monkeypatch.setenv("TAPEGRAD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TAPEGRAD_DATA", raising=False)
    monkeypatch.setenv("TAPEGRAD_FASHION_MNIST_URL", closed_port_url())
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


class FakeMirror:
    """A real HTTP server on 127.0.0.1 serving fake .gz files."""

    def __init__(self, files):
        self.files = files  # url path -> bytes
        self.requests = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a test of that)

            def log_message(self, *args):
                pass  # keep test output quiet

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data/"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def fake_fashion(monkeypatch):
    """Serve 4 tiny fake Fashion-MNIST files; expected hashes patched to match."""
    arrays = fake_split(n_train=5, n_test=3, seed=1)
    files = {name: gzip.compress(idx_bytes(array)) for name, array in arrays.items()}
    mirror = FakeMirror({f"/data/{name}": body for name, body in files.items()})
    monkeypatch.setenv("TAPEGRAD_FASHION_MNIST_URL", mirror.url)
    for name, body in files.items():
        monkeypatch.setitem(fashion_mnist.FILE_HASHES, name,
                            hashlib.sha256(body).hexdigest())
        monkeypatch.setitem(fashion_mnist.FILE_SIZES, name, len(body))
    yield mirror, arrays
    mirror.close()


def assert_fake_data(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8


def test_fashion_mnist_known_hashes():
    # The SHA-256 values Keras publishes for the original files.
    assert fashion_mnist.FILE_HASHES == {
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    }


def test_fashion_mnist_downloads_then_uses_cache(fake_fashion, tmp_path):
    mirror, arrays = fake_fashion
    assert_fake_data(fashion_mnist.load_data(), arrays)
    assert sorted(mirror.requests) == sorted(f"/data/{name}" for name in arrays)
    cache = tmp_path / "home" / "datasets" / "fashion_mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(arrays)

    assert_fake_data(fashion_mnist.load_data(), arrays)
    assert len(mirror.requests) == 4  # the second load used the cache


def test_fashion_mnist_redownloads_damaged_cache_file(fake_fashion, tmp_path):
    mirror, arrays = fake_fashion
    fashion_mnist.load_data()
    cache = tmp_path / "home" / "datasets" / "fashion_mnist"
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    assert_fake_data(fashion_mnist.load_data(), arrays)
    assert mirror.requests[4:] == ["/data/t10k-labels-idx1-ubyte.gz"]


def test_fashion_mnist_wrong_hash(fake_fashion, tmp_path, monkeypatch):
    monkeypatch.setitem(fashion_mnist.FILE_HASHES, "train-labels-idx1-ubyte.gz", "0" * 64)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz") as error:
        fashion_mnist.load_data()
    assert "0" * 64 in str(error.value)  # both hashes are named
    cache = tmp_path / "home" / "datasets" / "fashion_mnist"
    assert list(cache.iterdir()) == []  # no partial or unverified file left


def test_fashion_mnist_server_404(fake_fashion, tmp_path):
    mirror, _ = fake_fashion
    mirror.files.clear()
    with pytest.raises(DatasetNotFoundError) as error:
        fashion_mnist.load_data()
    message = str(error.value)
    assert "404" in message
    assert str(tmp_path / "home" / "datasets" / "fashion_mnist") in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert list((tmp_path / "home" / "datasets" / "fashion_mnist").iterdir()) == []


def test_fashion_mnist_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPEGRAD_DATA", str(tmp_path / "nothing-here"))
    with pytest.raises(DatasetNotFoundError) as error:
        fashion_mnist.load_data()
    message = str(error.value)
    assert isinstance(error.value, OSError)
    assert str(tmp_path / "home" / "datasets" / "fashion_mnist") in message
    assert str(tmp_path / "nothing-here" / "fashion_mnist") in message
    for name in fashion_mnist.FILE_HASHES:
        assert name in message


def test_fashion_mnist_path_argument_needs_no_network(tmp_path):
    arrays = make_fake_mnist_dir(tmp_path, n_train=5, n_test=3)
    # The autouse fixture points the mirror at a closed port: no network.
    assert_fake_data(fashion_mnist.load_data(path=tmp_path), arrays)
    assert_fake_data(fashion_mnist.load_data(path=str(tmp_path)), arrays)


def test_fashion_mnist_path_argument_is_authoritative(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="empty"):
        fashion_mnist.load_data(path=tmp_path / "empty")


def test_fashion_mnist_accepts_unzipped_files(tmp_path):
    arrays = fake_split(5, 3)
    for name, array in arrays.items():
        (tmp_path / name[:-3]).write_bytes(idx_bytes(array))
    assert_fake_data(fashion_mnist.load_data(path=tmp_path), arrays)


@pytest.mark.parametrize("subfolder", ["", "fashion_mnist"])
def test_fashion_mnist_from_tapegrad_data(tmp_path, monkeypatch, subfolder):
    directory = tmp_path / "data" / subfolder
    directory.mkdir(parents=True)
    arrays = make_fake_mnist_dir(directory, n_train=5, n_test=3)
    monkeypatch.setenv("TAPEGRAD_DATA", str(tmp_path / "data"))
    assert_fake_data(fashion_mnist.load_data(), arrays)
    assert not (tmp_path / "home").exists()  # nothing was downloaded


# ---------------------------------------------------------------- fetch

def test_fetch_downloads_atomically(fake_fashion, tmp_path):
    mirror, _ = fake_fashion
    body = mirror.files["/data/train-labels-idx1-ubyte.gz"]
    dest = tmp_path / "new" / "dir" / "labels.gz"
    result = fetch(mirror.url + "train-labels-idx1-ubyte.gz", dest,
                   hashlib.sha256(body).hexdigest().upper())
    assert result == dest and dest.read_bytes() == body
    assert os.listdir(dest.parent) == ["labels.gz"]


def test_fetch_keeps_existing_file_when_download_fails(tmp_path):
    dest = tmp_path / "file.gz"
    dest.write_bytes(b"old")
    with pytest.raises(DatasetNotFoundError, match="save it as"):
        fetch(closed_port_url() + "file.gz", dest, "0" * 64, timeout=5)
    assert dest.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.gz"]


def test_fetch_deletes_part_files_of_dead_downloads_only(fake_fashion, tmp_path):
    """A download killed outright leaves its .part file; the next one there deletes it."""
    mirror, _ = fake_fashion
    body = mirror.files["/data/train-labels-idx1-ubyte.gz"]
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = tmp_path / f".labels.gz.tapegrad-{int(child.stdout)}-0badc0de.part"
    alive = tmp_path / f".images.gz.tapegrad-{os.getppid()}-0badc0de.part"   # a running process
    for path in (dead, alive):
        path.write_bytes(b"half a download")
    fetch(mirror.url + "train-labels-idx1-ubyte.gz", tmp_path / "labels.gz",
          hashlib.sha256(body).hexdigest())
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, "labels.gz"])


# ---------------------------------------------------------------- hostile servers

class RawServer:
    """One-connection HTTP server on 127.0.0.1 whose ``respond(send)`` writes the reply.

    ``send`` raises once the client hangs up, so every reply loop (bounded
    anyway) ends as soon as the downloader gives up.
    """

    def __init__(self, respond):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/file.gz"
        self.sent = 0

        def serve():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    conn.recv(65536)               # the request; its content does not matter

                    def send(data):
                        conn.sendall(data)
                        self.sent += len(data)
                    respond(send)
                except OSError:
                    pass                           # the client hung up: done

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def close(self):
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture
def raw_server():
    servers = []

    def start(respond):
        servers.append(RawServer(respond))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def test_fetch_stops_a_trickling_download_at_its_deadline(raw_server, tmp_path):
    def trickle(send):
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(400):                       # at most 20 s, if never stopped
            send(b"x")
            time.sleep(0.05)
    server = raw_server(trickle)
    start = time.monotonic()
    with pytest.raises(DatasetNotFoundError, match=r"did not finish within 1 s"):
        fetch(server.url, tmp_path / "file.gz", "0" * 64, timeout=5, deadline=1)
    assert time.monotonic() - start < 4
    assert os.listdir(tmp_path) == []              # no .part file left


def test_fetch_stops_a_body_longer_than_the_expected_size(raw_server, tmp_path):
    def flood(send):                               # no Content-Length: the body ends at close
        send(b"HTTP/1.0 200 OK\r\n\r\n")
        for _ in range(1024):                      # 64 MB at most
            send(bytes(65536))
    server = raw_server(flood)
    with pytest.raises(DatasetNotFoundError, match=r"more than the expected 1,000 bytes"):
        fetch(server.url, tmp_path / "file.gz", "0" * 64, size=1000, timeout=5)
    assert os.listdir(tmp_path) == []


def test_fetch_refuses_an_announced_length_over_the_expected_size(raw_server, tmp_path):
    server = raw_server(lambda send: send(b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\nxx"))
    with pytest.raises(DatasetNotFoundError, match=r"announces 300,000,000 bytes, more than the expected 1,000"):
        fetch(server.url, tmp_path / "file.gz", "0" * 64, size=1000, timeout=5)
    assert os.listdir(tmp_path) == []


def test_fashion_mnist_stops_a_download_past_the_known_size(fake_fashion, tmp_path):
    """The mirror serves 8 MB where the file has a known, much smaller size."""
    mirror, _ = fake_fashion
    mirror.files["/data/t10k-images-idx3-ubyte.gz"] = bytes(8 << 20)
    with pytest.raises(DatasetNotFoundError, match=r"announces 8,388,608 bytes, more than the expected"):
        fashion_mnist.load_data()
    cache = tmp_path / "home" / "datasets" / "fashion_mnist"
    assert "t10k-images-idx3-ubyte.gz" not in os.listdir(cache)
    assert not any(name.endswith(".part") for name in os.listdir(cache))


def test_unreadable_tapegrad_data_is_skipped_with_a_warning(fake_fashion, tmp_path, monkeypatch):
    """A $TAPEGRAD_DATA the user cannot read: a warning, then the download cache."""
    data = tmp_path / "private"
    data.mkdir()
    monkeypatch.setenv("TAPEGRAD_DATA", str(data))
    if os.geteuid() == 0:
        # root reads any folder, whatever its mode: make the lookup fail as it
        # does for a user without permission (stat raises EACCES)
        real_is_file = pathlib.Path.is_file

        def is_file(path):
            if str(path).startswith(str(data)):
                raise PermissionError(13, "Permission denied", str(path))
            return real_is_file(path)
        monkeypatch.setattr(pathlib.Path, "is_file", is_file)
    else:
        data.chmod(0)
    try:
        with pytest.warns(RuntimeWarning, match=r"cannot read .*private.*skipping it"):
            result = fashion_mnist.load_data()
    finally:
        data.chmod(0o755)
    assert_fake_data(result, fake_fashion[1])


def test_import_tapegrad_does_not_import_the_network_modules():
    probe = ("import sys, tapegrad, tapegrad.keras, tapegrad.datasets\n"
             "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', 'email') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
