"""Weights as ``.npz`` archives, read safely: each array's header is checked before its data.

``np.savez`` writes a zip of ``.npy`` members.  Reading one member's header
first (shape, dtype) lets a loader compare it with the variable it is for,
and reject a wrong or forged file before inflating or allocating anything.
``save_weights`` / ``load_weights`` and the ``.keras`` files of
``model.save`` (weights and optimizer state) all read through here.
"""

from __future__ import annotations

import math
import zipfile
import zlib

import numpy as np

from ..atomic_file import path_string


def npz_path(filepath):
    filepath = path_string(filepath)
    if not filepath.endswith(".npz"):
        raise ValueError(f"weights files are .npz archives: the path must end in '.weights.npz' or '.npz', "
                         f"got {filepath!r}")
    return filepath


def open_npz(source, filepath):
    """``source`` (a path or a seekable binary file) opened as a ``.npz`` (zip) archive, or a clear ValueError."""
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise _unreadable(filepath, exc) from None


def read_checked_array(archive, name, filepath, shape, dtype, what):
    """The array ``name`` of a ``.npz`` archive, after its header showed ``shape`` and ``dtype``."""
    with _NpyMember(archive, name, filepath) as member:
        if member.shape != tuple(shape) or member.dtype != dtype:
            raise ValueError(f"load_weights: {what} in {filepath} has shape {member.shape} and dtype "
                             f"{member.dtype}, but the model expects shape {tuple(shape)} and dtype {dtype}")
        return member.read()


def _unreadable(filepath, exc):
    return ValueError(f"load_weights: {filepath} is not a readable weights file ({exc})")


class _NpyMember:
    """One ``.npy`` array in a ``.npz`` archive, opened with only its header read.

    ``shape`` and ``dtype`` come from the header; ``read()`` then reads the
    data.  A header claiming more bytes than the member can hold (its size in
    the zip directory, and at most 1032 times its compressed size: deflate's
    limit) is rejected before any array is allocated.
    """

    DEFLATE_MAX_RATIO = 1032

    def __init__(self, archive, name, filepath):
        self.filepath = filepath
        try:
            info = archive.getinfo(name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"{name} is compressed with method {info.compress_type}; "
                                 f"np.savez writes stored or deflated members")
            self.stream = archive.open(info)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as exc:
            raise _unreadable(filepath, exc) from None
        try:
            version = np.lib.format.read_magic(self.stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"{name} is .npy format version {version}; expected 1.0 or 2.0")
            shape, self.fortran_order, self.dtype = read_header(self.stream)
            self.shape = tuple(shape)
            self.nbytes = math.prod(self.shape) * self.dtype.itemsize
            ratio = 1 if info.compress_type == zipfile.ZIP_STORED else self.DEFLATE_MAX_RATIO
            room = min(info.file_size, info.compress_size * ratio)
            if self.dtype.hasobject:
                raise ValueError(f"{name} holds Python objects, which weights files never do")
            if self.nbytes > room:
                raise ValueError(f"{name}'s header claims shape {self.shape} of {self.dtype} "
                                 f"({self.nbytes:,} bytes) but the member holds at most {room:,} bytes")
        except BaseException as exc:
            self.stream.close()
            if isinstance(exc, (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile)):
                raise _unreadable(filepath, exc) from None
            raise

    def read(self):
        """The array's data (the header said its shape and dtype)."""
        try:
            data = self.stream.read(self.nbytes)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise _unreadable(self.filepath, exc) from None
        if len(data) != self.nbytes:
            raise _unreadable(self.filepath, f"an array is truncated: {len(data):,} of {self.nbytes:,} bytes")
        order = "F" if self.fortran_order else "C"
        return np.frombuffer(data, self.dtype).reshape(self.shape, order=order)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stream.close()
        return False
