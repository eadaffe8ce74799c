"""IDX reading and writing: round trips, the exact byte layout, and clear errors on bad files."""

import gzip
import struct

import numpy as np
import pytest

from datasets import atomic
from datasets.idx import DTYPES, read_idx, write_idx

SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)]


def sample_array(code, shape, rng):
    dtype = DTYPES[code].newbyteorder("=")
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    array.flat[0], array.flat[-1] = info.min, info.max  # the extremes catch sign and byte-order slips
    return array


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: f"rank{len(shape)}")
@pytest.mark.parametrize("code", sorted(DTYPES), ids=lambda code: f"0x{code:02X}")
def test_round_trip(tmp_path, code, shape, suffix):
    array = sample_array(code, shape, np.random.default_rng(code * 10 + len(shape)))
    path = tmp_path / f"array.idx{suffix}"
    write_idx(path, array)
    restored = read_idx(path)
    assert restored.dtype == array.dtype and restored.dtype.isnative
    assert restored.shape == shape
    np.testing.assert_array_equal(restored, array)
    restored[...] = 0  # the result owns writable memory
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_bytes_on_disk_follow_the_format(tmp_path):
    array = np.array([[1, -2, 3], [70000, 0, -1]], dtype=np.int32)
    path = tmp_path / "plain.idx"
    write_idx(path, array)
    expected = b"\x00\x00\x0c\x02" + struct.pack(">II", 2, 3) + struct.pack(">6i", 1, -2, 3, 70000, 0, -1)
    assert path.read_bytes() == expected
    write_idx(tmp_path / "packed.idx.gz", array)
    assert gzip.decompress((tmp_path / "packed.idx.gz").read_bytes()) == expected


def test_reads_a_hand_made_file_and_non_native_input(tmp_path):
    path = tmp_path / "floats.idx"
    path.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 3) + struct.pack(">3f", 0.5, -2.0, 8.25))
    np.testing.assert_array_equal(read_idx(path), np.array([0.5, -2.0, 8.25], dtype=np.float32))
    write_idx(path, np.array([1, 2, 300], dtype=">i2"))
    np.testing.assert_array_equal(read_idx(path), [1, 2, 300])


def test_same_array_gives_same_gzip_bytes(tmp_path):
    array = np.arange(50, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


GOOD = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(range(6))

BAD_FILES = {
    "truncated data": (GOOD[:-1], "truncated"),
    "trailing bytes": (GOOD + b"\x00", "trailing bytes"),
    "truncated header": (GOOD[:9], "truncated IDX header"),
    "shorter than a header": (b"\x00\x00", "header alone needs 4"),
    "wrong magic": (b"\x01\x00" + GOOD[2:], "magic"),
    "bad dtype code": (GOOD[:2] + b"\x0a" + GOOD[3:], "dtype code 0x0A"),
    "rank zero": (b"\x00\x00\x08\x00", "rank is 0"),
}


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_value_error_naming_the_file(tmp_path, case, suffix):
    content, phrase = BAD_FILES[case]
    path = tmp_path / f"bad.idx{suffix}"
    path.write_bytes(gzip.compress(content) if suffix else content)
    with pytest.raises(ValueError, match=phrase) as caught:
        read_idx(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(GOOD)[:-6]], ids=["garbage", "cut"])
def test_corrupt_gzip_stream_raises_value_error(tmp_path, content):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid gzip stream") as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_gzip_file_without_gz_suffix_gets_a_hint(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(GOOD))
    with pytest.raises(ValueError, match=r"\.gz suffix"):
        read_idx(path)


def test_missing_file_stays_file_not_found(tmp_path):
    for name in ("absent.idx", "absent.idx.gz"):
        with pytest.raises(FileNotFoundError):
            read_idx(tmp_path / name)


@pytest.mark.parametrize("array, phrase", [
    (np.zeros(3, dtype=np.int64), "int64 has no IDX code"),
    (np.zeros(3, dtype=bool), "bool has no IDX code"),
    (np.float32(1.0), "0 dimensions"),
])
def test_write_rejects_what_idx_cannot_hold(tmp_path, array, phrase):
    with pytest.raises(ValueError, match=phrase):
        write_idx(tmp_path / "x.idx", array)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "data.idx.gz"
    write_idx(path, np.arange(4, dtype=np.uint8))
    before = path.read_bytes()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(9, dtype=np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_gzipped_idx_file_is_the_same_bytes_whatever_its_name(tmp_path):
    """The gzip header holds no name and no time: the same array gives the same file anywhere."""
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    first, second = tmp_path / "a-images-idx3-ubyte.gz", tmp_path / "other" / "b.gz"
    second.parent.mkdir()
    write_idx(first, array)
    write_idx(second, array)
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[3] & 0x08 == 0  # gzip magic; FNAME flag clear: no name stored
    assert data[4:8] == b"\x00\x00\x00\x00"  # MTIME 0
    np.testing.assert_array_equal(read_idx(first), array)
