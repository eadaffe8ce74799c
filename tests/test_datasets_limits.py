"""Memory bombs and unreadable files: IDX headers are checked against stated limits before any data is
read, `limit` decodes only what it keeps, and every failure is one line naming the file.

Memory is measured with tracemalloc (NumPy reports its buffers to it), never with time.
"""
import errno
import gzip
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from datasets import DataError, catalog, idx, load, words
from datasets.idx import IDXError, read_header, read_idx, write_idx

IMAGES, LABELS = catalog.SPLITS["test"]
# The files made here are nobody's published ones: the md5 note is expected and not what is tested.
pytestmark = pytest.mark.filterwarnings("ignore:.*not the published file's")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    monkeypatch.setenv(catalog.OFFLINE_VAR, "1")


def peak_bytes(call):
    """(result or exception, peak bytes allocated while calling)."""
    tracemalloc.start()
    try:
        try:
            result = call()
        except Exception as error:  # noqa: BLE001  (the caller inspects it)
            result = error
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def blank_split_gz(directory, count):
    """`count` blank 28x28 images and their labels as .gz IDX files, compressed as a stream (a few MB of
    zeros each way, like the 0.8 MB file that holds a million)."""
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, shape in ((IMAGES, (count, 28, 28)), (LABELS, (count,))):
        header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip member
        parts = [compressor.compress(header)]
        remaining = int(np.prod(shape))
        zeros = bytes(1 << 20)
        while remaining:
            parts.append(compressor.compress(zeros[:min(remaining, len(zeros))]))
            remaining -= min(remaining, len(zeros))
        parts.append(compressor.flush())
        (directory / (file_name + ".gz")).write_bytes(b"".join(parts))
    return directory


def test_limit_decodes_only_the_images_it_keeps(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "MAX_IMAGES", 1000)
    root = blank_split_gz(tmp_path / "bomb", 20_000)  # 15.7 MB of pixels, 20 times the limit
    dataset, peak = peak_bytes(lambda: load("mnist", "test", root=root, limit=50))
    assert dataset.images.shape == (50, 784) and not dataset.images.any()
    # 50 images as float32 are 157 KB; hashing and gzip take a few MB of buffers; the file's 15.7 MB of
    # pixels (62.7 MB as float32) are never held.
    assert peak < 8 << 20, peak


def test_more_images_than_the_limit_without_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "MAX_IMAGES", 1000)
    root = blank_split_gz(tmp_path / "bomb", 20_000)
    error, peak = peak_bytes(lambda: load("mnist", "test", root=root))
    assert isinstance(error, DataError) and peak < 8 << 20
    message = str(error)
    assert message.startswith(str(root / IMAGES) + ".gz states 20,000 images, more than the 1,000")
    assert "pass limit=N" in message and "\n" not in message
    assert "add --limit N" in error.say(words.CLI) and "limit=" not in error.say(words.CLI)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_header_whose_dimensions_overflow_is_refused_before_allocating(tmp_path, suffix):
    path = tmp_path / ("huge.idx" + suffix)
    content = bytes([0, 0, 0x0E, 4]) + struct.pack(">4I", *[2**32 - 1] * 4) + bytes(64)
    path.write_bytes(gzip.compress(content) if suffix else content)
    error, peak = peak_bytes(lambda: read_idx(path))
    assert isinstance(error, IDXError) and peak < 1 << 20
    assert str(error).startswith(f"{path}: IDX header states shape (4294967295, 4294967295, 4294967295, 4294967295)")
    assert "above the limit of 1,073,741,824 bytes" in str(error)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_lying_header_costs_only_the_bytes_present(tmp_path, suffix):
    path = tmp_path / ("liar.idx" + suffix)
    content = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1 << 29) + bytes(100)  # states 512 MiB, holds 100 bytes
    path.write_bytes(gzip.compress(content) if suffix else content)
    error, peak = peak_bytes(lambda: read_idx(path))
    assert isinstance(error, IDXError) and "truncated" in str(error) and peak < 4 << 20


def test_max_bytes_is_the_stated_limit(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.zeros((10, 10), dtype=np.uint8))
    assert read_idx(path, max_bytes=100).shape == (10, 10)
    with pytest.raises(IDXError, match="100 bytes to read; that is above the limit of 99 bytes"):
        read_idx(path, max_bytes=99)
    assert read_idx(path, 3, max_bytes=30).shape == (3, 10)  # the limit applies to what is read


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_count_reads_a_prefix_and_header_reads_no_data(tmp_path, suffix):
    array = np.arange(60, dtype=np.int16).reshape(6, 10)
    path = tmp_path / ("a.idx" + suffix)
    write_idx(path, array)
    np.testing.assert_array_equal(read_idx(path, 4), array[:4])
    np.testing.assert_array_equal(read_idx(path, 100), array)
    assert read_header(path) == ((6, 10), np.dtype(np.int16))


def test_empty_file_and_zero_images_are_one_line(tmp_path):
    empty = tmp_path / "empty.idx"
    empty.write_bytes(b"")
    with pytest.raises(IDXError, match="not an IDX file: the file is empty, the header alone needs 4"):
        read_idx(empty)
    zero = tmp_path / "zero.idx"
    write_idx(zero, np.zeros((0, 3), np.uint8))
    assert read_idx(zero).shape == (0, 3)  # a valid IDX file; an empty split is refused by load below
    root = tmp_path / "root"
    root.mkdir()
    write_idx(root / IMAGES, np.zeros((0, 28, 28), np.uint8))
    write_idx(root / LABELS, np.zeros(0, np.uint8))
    with pytest.raises(DataError, match=r"holds no images \(its header says 0\)"):
        load("mnist", "test", root=root)
    (root / IMAGES).write_bytes(b"")
    with pytest.raises(IDXError, match="the file is empty"):
        load("mnist", "test", root=root)


def test_corrupt_deflate_stream_is_one_line(tmp_path):
    path = tmp_path / "a.idx.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    for position in range(len(data) // 2, len(data) - 20, 97):  # scramble the second half of the deflate data
        data[position] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(IDXError, match="not a valid gzip stream") as caught:
        read_idx(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


class FailingStream:
    """A file whose reads fail as a dying disk's do."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, size=-1):
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_io_error_and_unreadable_file_are_one_line_naming_the_file(tmp_path, monkeypatch, suffix):
    path = tmp_path / ("a.idx" + suffix)
    write_idx(path, np.zeros(3, np.uint8))
    opener = "gzip.open" if suffix else "open"
    with monkeypatch.context() as patch:
        if suffix:
            patch.setattr(idx.gzip, "open", lambda *args: FailingStream())
        else:
            patch.setattr(idx, "open", lambda *args: FailingStream(), raising=False)
        with pytest.raises(IDXError, match=r"cannot be read \(Input/output error\)") as caught:
            read_idx(path)
    assert str(caught.value).startswith(str(path)), opener
    with monkeypatch.context() as patch:
        def refuse(*args):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        patch.setattr(idx.gzip if suffix else idx, "open", refuse, raising=False)
        with pytest.raises(IDXError, match=r"cannot be read \(Permission denied\)"):
            read_idx(path)


def test_unreadable_data_file_through_load_is_one_line(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    write_idx(root / IMAGES, np.zeros((2, 28, 28), np.uint8))
    write_idx(root / LABELS, np.zeros(2, np.uint8))
    real_open = open

    def refuse_images(path, *args, **kwargs):
        if str(path).endswith(IMAGES):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(idx, "open", refuse_images, raising=False)
    with pytest.raises(IDXError, match=rf"{IMAGES}: cannot be read \(Permission denied\)"):
        load("mnist", "test", root=root)


def test_a_corrupt_idx_file_is_a_data_error(tmp_path):
    """The package promises DataError for every unusable file; IDX errors are one."""
    import datasets.idx
    from datasets.words import DataError
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match=str(path)):
        datasets.idx.read_idx(path)
