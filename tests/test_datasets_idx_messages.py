"""datasets.idx: every refusal's whole message, and write_idx's reproducible bytes. Found by mutation
testing (python -m tests.mutation.mutants --targets datasets): the other tests match only part of each message."""
import gzip

import numpy as np
import pytest

from datasets.idx import IDXError, read_idx, write_idx


@pytest.mark.parametrize("content, message", [
    (b"", "not an IDX file: the file is empty, the header alone needs 4"),
    (b"\x00\x00", "not an IDX file: only 2 bytes, the header alone needs 4"),
    (b"\x1f\x8b\x08\x00rest", "not an IDX file: magic bytes are 1f8b, expected 0000 (it looks gzip-compressed: "
                              "give it a .gz suffix)"),
    (b"abcdefgh", "not an IDX file: magic bytes are 6162, expected 0000"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01", "unknown IDX dtype code 0x07; valid codes are 0x08, 0x09, 0x0B, 0x0C, "
                                          "0x0D, 0x0E"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header: rank 3 needs 16 bytes, file has 8"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", "IDX data truncated: shape (3,) of uint8 needs 3 bytes, file holds 2"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02\x03", "IDX data has trailing bytes: shape (2,) of uint8 needs 2 "
                                                      "bytes, the file holds more"),
])
def test_a_file_that_is_not_a_whole_idx_array_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "data.idx"
    path.write_bytes(content)
    with pytest.raises(IDXError) as caught:
        read_idx(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_truncated_rows_message_counts_all_the_rows(tmp_path):
    path = tmp_path / "rows.idx"
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x03\x00\x00\x00\x02" + bytes(5))
    with pytest.raises(IDXError, match=r"shape \(3, 2\) of uint8 needs 6 bytes, file holds 5$"):
        read_idx(path)


def test_a_gz_file_is_the_same_bytes_whenever_written(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.idx.gz", array)
    data = (tmp_path / "a.idx.gz").read_bytes()
    assert data[3] == 0 and data[4:8] == bytes(4)  # gzip header: no file name stored, modification time 0
    np.testing.assert_array_equal(np.frombuffer(gzip.decompress(data)[12:], np.uint8).reshape(3, 4), array)


@pytest.mark.parametrize("array, message", [
    (np.zeros(3, dtype=np.uint16), "dtype uint16 has no IDX code; cast to one of uint8, int8, int16, int32, "
                                   "float32, float64"),
    (np.zeros(()), "array has 0 dimensions; IDX holds 1 to 255"),
])
def test_write_idx_refuses_what_idx_cannot_hold(tmp_path, array, message):
    path = tmp_path / "out.idx"
    with pytest.raises(ValueError) as caught:
        write_idx(path, array)
    assert str(caught.value) == f"write_idx({path}): {message}"
    assert not path.exists()


def test_a_size_of_exactly_the_uint32_limit_is_written_one_above_is_refused(tmp_path):
    write_idx(tmp_path / "edge.idx", np.zeros((0, 2**32 - 1), np.uint8))  # empty, so it costs no memory
    assert read_idx(tmp_path / "edge.idx").shape == (0, 2**32 - 1)
    path = tmp_path / "over.idx"
    with pytest.raises(ValueError) as caught:
        write_idx(path, np.zeros((0, 2**32), np.uint8))
    assert str(caught.value) == f"write_idx({path}): shape (0, 4294967296) has a size above 4294967295, IDX's uint32 limit"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_prefix_longer_than_one_read_chunk_stops_at_the_rows_asked(tmp_path, suffix):
    """Rows of 600,000 bytes: two rows span two 1 MiB chunks, and the second read must ask only for what is left."""
    array = np.random.default_rng(0).integers(0, 256, (3, 600_000), dtype=np.uint8)
    write_idx(tmp_path / f"big.idx{suffix}", array)
    np.testing.assert_array_equal(read_idx(tmp_path / f"big.idx{suffix}", 2), array[:2])
