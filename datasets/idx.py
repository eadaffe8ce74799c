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
import struct
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_write

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


def read_idx(path) -> np.ndarray:
    """Return the array stored in the IDX file at `path` (native byte order, writable).

    Raises ValueError naming the file when the magic, dtype code, rank or payload
    length is wrong, or when a `.gz` file is not a valid gzip stream.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(raw)} bytes, the header alone needs 4")
    if raw[:2] != b"\x00\x00":
        hint = " (it looks gzip-compressed: give it a .gz suffix)" if raw[:2] == _GZIP_MAGIC else ""
        raise ValueError(f"{path}: not an IDX file: magic bytes are {raw[:2].hex()}, expected 0000{hint}")
    code, rank = raw[2], raw[3]
    if code not in DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X}; valid codes are {valid}")
    if rank == 0:
        raise ValueError(f"{path}: IDX rank is 0; an IDX array needs at least one dimension")
    header_size = 4 + 4 * rank
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header: rank {rank} needs {header_size} bytes, file has {len(raw)}")
    shape = struct.unpack(f">{rank}I", raw[4:header_size])
    dtype = DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX data {problem}: shape {shape} of {dtype.newbyteorder('=').name} "
            f"needs {expected} bytes, file holds {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native, writable copy


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


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when its name ends in `.gz`."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a valid gzip stream ({error})") from None
