"""A small, careful file downloader (standard library only).

"Careful" means: the file is downloaded to a temporary name next to its
destination, its SHA-256 is checked, and only then is it renamed into place
with ``os.replace`` (atomic on the same file system).  So the destination is
either absent or complete and verified, never half-written, even if the
download is interrupted; a download killed outright leaves a ``.part`` file
that the next download into that folder deletes (``tapegrad.atomic_file``).
"""

import hashlib
import http.client
import os
import sys
import urllib.request
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


def fetch(url, dest_path, sha256, *, timeout=30):
    """Download ``url`` to ``dest_path`` and check its SHA-256.

    Returns ``dest_path`` as a ``Path``.  Raises ``ValueError`` (naming the
    file and both hashes) if the content does not match ``sha256``, and
    ``DatasetNotFoundError`` if the download fails; in both cases nothing is
    left behind.  ``timeout`` (seconds) applies to each network operation.
    """
    dest = Path(dest_path)
    expected = sha256.lower()
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"tapegrad: downloading {url} -> {dest}", file=sys.stderr)
    # the temp file is deleted on any error, Ctrl-C included; a killed
    # download's temp file is deleted by the next download into the folder
    with write_atomically(dest, suffix=".part") as out:
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as error:
            # urllib's URLError/HTTPError, refused connections and
            # timeouts are all OSErrors; a connection dropped mid-body
            # may surface as an http.client.HTTPException instead.
            raise DatasetNotFoundError(
                f"could not download {url}: {error}\n"
                f"To install it by hand, download the file yourself and "
                f"save it as {dest}") from error
        actual = digest.hexdigest()
        if actual != expected:
            raise ValueError(
                f"{dest.name}: SHA-256 mismatch for the download from {url}: "
                f"expected {expected}, got {actual}. The file was discarded; "
                f"the mirror may be serving a different or damaged file.")
    return dest
