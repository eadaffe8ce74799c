"""Read and write IDX files, the format MNIST and Fashion-MNIST are published in.

Layout (all numbers big-endian):

    bytes 0-1   magic: two zero bytes
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     rank r (number of dimensions)
    then        r uint32 sizes d1 ... dr
    then        d1 * ... * dr values of that dtype, row-major (C order)

A path ending in `.gz` is read and written through gzip; any other path as plain bytes.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .words import DataError

DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}

_MAX_DIM = 2**32 - 1
_GZIP_MAGIC = b"\x1f\x8b"
# The most bytes read_idx gives unless told otherwise: 20 times MNIST's largest file (47 MB), so a
# header that states absurd dimensions is refused before anything is allocated for them.
MAX_BYTES = 1 << 30
_CHUNK_BYTES = 1 << 20  # reads grow a buffer by at most this much beyond the bytes really there


class IDXError(DataError):
    """A file that is not a readable IDX array; the message is one line and starts with the path
    (a DataError, like every unusable data file)."""


def read_idx(path, count=None, *, max_bytes=MAX_BYTES) -> np.ndarray:
    """Return the array stored in the IDX file at `path` (native byte order, writable).

    `count`: read only the first `count` entries along the first axis (the rest is never decoded,
    so a limit costs what it keeps). The header is checked before any data is read: the bytes
    it asks for must fit in `max_bytes` (1 GiB by default).

    Raises IDXError (a ValueError) naming the file when the magic, dtype code, rank or payload
    length is wrong, the size is above `max_bytes`, a `.gz` file is not a valid gzip stream, or
    the file cannot be read; a missing file stays FileNotFoundError.
    """
    with _opened(path) as (stream, path):
        shape, dtype = _read_header(stream, path)
        # Python integers: a product of uint32 sizes cannot overflow here as it would in int64.
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        rows = shape[0] if count is None else min(count, shape[0])
        wanted = rows * row_bytes
        name = dtype.newbyteorder("=").name
        if wanted > max_bytes:
            raise IDXError(f"{path}: IDX header states shape {shape} of {name}, {wanted:,} bytes to read; "
                           f"that is above the limit of {max_bytes:,} bytes")
        payload = _read_up_to(stream, wanted)
        if len(payload) < wanted:
            raise IDXError(f"{path}: IDX data truncated: shape {shape} of {name} needs {shape[0] * row_bytes} "
                           f"bytes, file holds {len(payload)}")
        if rows == shape[0] and stream.read(1):
            raise IDXError(f"{path}: IDX data has trailing bytes: shape {shape} of {name} needs {wanted} "
                           "bytes, the file holds more")
    data = np.frombuffer(payload, dtype=dtype).reshape((rows, *shape[1:]))
    return data.astype(dtype.newbyteorder("="), copy=False)  # native; writable as `payload` is a bytearray


def read_header(path):
    """(shape, native dtype) from the header of the IDX file at `path`; its data is not read.
    Raises as read_idx does."""
    with _opened(path) as (stream, path):
        shape, dtype = _read_header(stream, path)
    return shape, dtype.newbyteorder("=")


@contextmanager
def _opened(path):
    """Yield (binary stream, Path), gunzipping a `.gz` path; turn every read failure but a missing
    file into one IDXError naming the file."""
    path = Path(path)
    gzipped = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as stream:
            yield stream, path
    except (FileNotFoundError, IDXError):
        raise
    except (OSError, EOFError, zlib.error) as error:
        if gzipped and getattr(error, "errno", None) is None:
            raise IDXError(f"{path}: not a valid gzip stream ({error or type(error).__name__})") from None
        raise IDXError(f"{path}: cannot be read ({getattr(error, 'strerror', None) or error})") from None


def _read_header(stream, path: Path):
    """(shape, file dtype) from the magic, dtype code, rank and sizes at the start of `stream`."""
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        what = "the file is empty" if not magic else f"only {len(magic)} bytes"
        raise IDXError(f"{path}: not an IDX file: {what}, the header alone needs 4")
    if magic[:2] != b"\x00\x00":
        hint = " (it looks gzip-compressed: give it a .gz suffix)" if magic[:2] == _GZIP_MAGIC else ""
        raise IDXError(f"{path}: not an IDX file: magic bytes are {magic[:2].hex()}, expected 0000{hint}")
    code, rank = magic[2], magic[3]
    if code not in DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise IDXError(f"{path}: unknown IDX dtype code 0x{code:02X}; valid codes are {valid}")
    if rank == 0:
        raise IDXError(f"{path}: IDX rank is 0; an IDX array needs at least one dimension")
    sizes = _read_up_to(stream, 4 * rank)
    if len(sizes) < 4 * rank:
        raise IDXError(f"{path}: truncated IDX header: rank {rank} needs {4 + 4 * rank} bytes, "
                       f"file has {4 + len(sizes)}")
    return struct.unpack(f">{rank}I", sizes), DTYPES[code]


def _read_up_to(stream, size: int) -> bytearray:
    """Up to `size` bytes, fewer only at the end of the stream; memory grows with the bytes actually
    there, never with `size` (a header may lie)."""
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(min(size - len(data), _CHUNK_BYTES))
        if not chunk:
            break
        data += chunk
    return data


def write_idx(path, array) -> None:
    """Write `array` to `path` as IDX (gzip-compressed when the path ends in `.gz`).

    The file appears whole or not at all: bytes go to a temporary file in the same
    folder, which is renamed over `path` only once it is complete.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in CODES:
        valid = ", ".join(d.name for d in CODES)
        raise ValueError(f"write_idx({path}): dtype {array.dtype} has no IDX code; cast to one of {valid}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx({path}): array has {array.ndim} dimensions; IDX holds 1 to 255")
    if max(array.shape) > _MAX_DIM:
        raise ValueError(f"write_idx({path}): shape {array.shape} has a size above {_MAX_DIM}, IDX's uint32 limit")
    code = CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()

    with atomic_write(path) as raw_file:
        if path.suffix == ".gz":
            # mtime=0 so the same array always gives the same bytes (and md5).
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw_file, mtime=0) as stream:
                stream.write(header)
                stream.write(payload)
        else:
            raw_file.write(header)
            raw_file.write(payload)
