"""A small, careful file downloader (standard library only).

"Careful" means: the file is downloaded to a temporary name next to its
destination, its SHA-256 is checked, and only then is it renamed into place
with ``os.replace`` (atomic on the same file system).  So the destination is
either absent or complete and verified, never half-written, even if the
download is interrupted; a download killed outright leaves a ``.part`` file
that the next download into that folder deletes (``tapegrad.atomic_file``).
A download also stops, with nothing left behind, when the server sends more
than the expected size or when it has not finished by an overall deadline
(a server trickling a byte at a time never trips a per-read timeout).

The network modules (``urllib.request``, ``http.client``, ``ssl``) are
imported inside ``fetch``: ``import tapegrad`` does not pay for them.
"""

import hashlib
import os
import sys
import time
from pathlib import Path

from ..atomic_file import write_atomically

CHUNK_SIZE = 1 << 16


class DatasetNotFoundError(OSError):
    """A dataset's files are neither on disk nor downloadable."""


def data_home():
    """The directory tapegrad keeps downloads in.

    ``$TAPEGRAD_HOME`` if set, else ``~/.tapegrad``.  Datasets go in its
    ``datasets/<name>/`` subdirectories.
    """
    home = os.environ.get("TAPEGRAD_HOME")
    return Path(home) if home else Path.home() / ".tapegrad"


def sha256_file(path):
    """The SHA-256 of a file's contents, as a hex string."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url, dest_path, sha256, *, size=None, timeout=30, deadline=900):
    """Download ``url`` to ``dest_path`` and check its size and SHA-256 (or its
    MD5, when ``sha256`` has 32 hex digits: Keras publishes only that for a few files).

    Returns ``dest_path`` as a ``Path``.  Raises ``ValueError`` (naming the
    file and both hashes) if the content does not match ``sha256``, and
    ``DatasetNotFoundError`` if the download fails: no connection, a body
    larger than ``size`` bytes (or than the server's Content-Length), or not
    finished within ``deadline`` seconds.  In every case nothing is left
    behind.  ``timeout`` (seconds) applies to each network operation, so the
    deadline is overrun by at most that much.
    """
    import http.client
    import urllib.request

    dest = Path(dest_path)
    expected = sha256.lower()
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"tapegrad: downloading {url} -> {dest}", file=sys.stderr)
    give_up_at = time.monotonic() + deadline

    def failed(reason):
        return DatasetNotFoundError(
            f"could not download {url}: {reason}\n"
            f"To install it by hand, download the file yourself and "
            f"save it as {dest}")

    # the temp file is deleted on any error, Ctrl-C included; a killed
    # download's temp file is deleted by the next download into the folder
    with write_atomically(dest, suffix=".part") as out:
        algorithm = "md5" if len(expected) == 32 else "sha256"
        digest = hashlib.new(algorithm)
        received = 0
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                cap = _size_cap(size, response.headers.get("Content-Length"), failed)
                # read1 returns what one socket read brings, so the deadline
                # is checked even when bytes arrive one at a time
                read = getattr(response, "read1", response.read)
                while chunk := read(CHUNK_SIZE):
                    received += len(chunk)
                    if cap is not None and received > cap:
                        raise failed(f"the server sent more than the expected {cap:,} bytes")
                    if time.monotonic() > give_up_at:
                        raise failed(f"the download did not finish within {deadline} s "
                                     f"({received:,} bytes received)")
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, DatasetNotFoundError):
                raise
            # urllib's URLError/HTTPError, refused connections and
            # timeouts are all OSErrors; a connection dropped mid-body
            # may surface as an http.client.HTTPException instead.
            raise failed(error) from error
        if size is not None and received != size:
            raise failed(f"got {received:,} bytes, expected {size:,}")
        actual = digest.hexdigest()
        if actual != expected:
            raise ValueError(
                f"{dest.name}: {'MD5' if algorithm == 'md5' else 'SHA-256'} mismatch for the download from {url}: "
                f"expected {expected}, got {actual}. The file was discarded; "
                f"the mirror may be serving a different or damaged file.")
    return dest


def _size_cap(size, content_length, failed):
    """The most bytes to accept: ``size`` if known, else the Content-Length."""
    try:
        announced = None if content_length is None else int(content_length)
    except ValueError:
        announced = None
    if size is not None and announced is not None and announced > size:
        raise failed(f"the server announces {announced:,} bytes, more than the expected {size:,}")
    return size if size is not None else announced
