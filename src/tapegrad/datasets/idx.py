"""Reading IDX files, the simple binary format MNIST is distributed in.

An IDX file is a 4-byte magic number, then one big-endian uint32 per
dimension, then the values themselves, big-endian, in C (row-major) order.
The magic number is two zero bytes, a byte saying the element type (0x08 =
uint8, 0x09 = int8, 0x0B = int16, 0x0C = int32, 0x0D = float32, 0x0E =
float64) and a byte giving the number of dimensions.  For example MNIST's
training images start with 00 00 08 03, then 60000, 28, 28.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

# Type code -> big-endian numpy dtype of the stored values.
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    """Read an IDX file (plain or gzip-compressed) into a numpy array.

    Gzip is recognised by the file's first two bytes (1f 8b), not by its
    name.  The result has the file's dimensions as its shape, native byte
    order, and owns its (writable) memory.  Any malformed file raises a
    ``ValueError`` that names it.
    """
    path = Path(path)
    return parse_idx(path.read_bytes(), name=str(path))


def parse_idx(data, name="<bytes>"):
    """Decode the bytes of an IDX file (plain or gzipped); see ``read_idx``.

    ``name`` is only used in error messages.
    """
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, name)
    elif name.endswith(".gz"):
        # Not an error by itself: a plain IDX file that someone named .gz is
        # read fine.  The note just makes a later "bad magic" clearer.
        name = f"{name} (named .gz but not gzip-compressed)"

    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file: only {len(data)} bytes, "
                         "too short for the 4-byte magic number")
    zero1, zero2, type_code, ndim = data[:4]
    if zero1 != 0 or zero2 != 0:
        raise ValueError(f"{name}: not an IDX file: bad magic number "
                         f"{data[:4].hex(' ')} (must start with 00 00)")
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise ValueError(f"{name}: unknown IDX type code 0x{type_code:02X} "
                         f"(known: {known})")
    dtype = IDX_DTYPES[type_code]

    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{name}: truncated IDX header: {ndim} dimensions "
                         f"need {header_size} bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])

    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual < expected:
        raise ValueError(f"{name}: truncated IDX data: shape {shape} of "
                         f"{dtype.name} needs {expected} bytes after the "
                         f"header, found {actual}")
    if actual > expected:
        raise ValueError(f"{name}: {actual - expected} unexpected trailing "
                         f"bytes after the IDX data of shape {shape}")

    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape),
                           offset=header_size)
    # astype to the native-endian dtype always copies, which also turns the
    # read-only view of `data` into a writable array the caller owns.
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _gunzip(data, name):
    """Decompress gzip bytes; a damaged stream becomes a ValueError.

    gzip ends every stream with a CRC-32 and the uncompressed length, so
    flipped bits or a cut-off download are detected here.
    """
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{name}: corrupted gzip stream: {error}") from error
