"""IDX files mutated at random (seeded) must give a correct load or a one-line error naming the file:
never another exception, never a large allocation.

"Correct" is checked without trusting the reader: an array that loads must write back to exactly the
bytes it was read from (for a `.gz`, the bytes gzip.decompress finds inside it). Memory is measured per case with
tracemalloc (NumPy reports its buffers to it); the files are a few hundred bytes, so anything above
a couple of MB means a header was believed.
"""
import gzip
import struct
import tracemalloc
import warnings

import numpy as np
import pytest

from datasets import catalog, load
from datasets.idx import IDXError, read_idx, write_idx

CASES = 300
PEAK_LIMIT = 3 << 20  # bytes; the reader's read buffer is 1 MiB


def base_arrays(rng):
    return [
        rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        rng.integers(-30000, 30000, 7, dtype=np.int16),
        rng.standard_normal((2, 3)).astype(np.float32),
        rng.standard_normal((2, 2)),
        rng.integers(-2**31, 2**31 - 1, (1, 1, 2), dtype=np.int32),
        rng.integers(-128, 128, (4, 2), dtype=np.int8),
    ]


def mutate(data: bytes, rng) -> bytes:
    """One random corruption: flipped or replaced bytes, a cut, bytes added or inserted, or a header
    field (dtype code, rank, a size) set to a random or extreme value."""
    data = bytearray(data)
    kind = rng.integers(8)
    if kind == 0 and data:
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
    elif kind == 1 and data:
        data[rng.integers(len(data))] = int(rng.integers(256))
    elif kind == 2:
        del data[rng.integers(len(data) + 1):]
    elif kind == 3:
        data += rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
    elif kind == 4:
        at = int(rng.integers(len(data) + 1))
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8).tobytes()
    elif kind == 5 and len(data) >= 4:
        data[2] = int(rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, int(rng.integers(256))]))
    elif kind == 6 and len(data) >= 4:
        data[3] = int(rng.choice([0, 1, 2, 3, 255, int(rng.integers(256))]))
    elif len(data) >= 8:
        field = 4 + 4 * int(rng.integers(max(1, (min(len(data), 20) - 4) // 4)))
        value = int(rng.choice([0, 1, 2**31, 2**32 - 1, int(rng.integers(2**32))]))
        data[field:field + 4] = struct.pack(">I", value)
    return bytes(data)


def start_case():
    """The traced memory live as a case starts, with the peak reset to it. A case is measured by how far
    the peak rises above this, not by the peak itself: the peak counts everything traced since the
    fixture started and still alive, some of it not the reader's (under mutation testing, mutmut's
    trampolines record every call they pass, and their records grow with the test)."""
    tracemalloc.reset_peak()
    return tracemalloc.get_traced_memory()[0]


def allocated_since(start):
    """How far the traced memory rose above ``start`` (start_case's) at its peak."""
    return tracemalloc.get_traced_memory()[1] - start


def check_outcome(path, read, inner_bytes, case):
    """Run `read()`; a success must write back to `inner_bytes()`, a failure must be one IDXError line.
    Returns whether it loaded."""
    start = start_case()
    try:
        result = read()
    except IDXError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path)), (case, message)
        result = None
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"case {case}: {type(error).__name__}: {error}")
    peak = allocated_since(start)
    assert peak < PEAK_LIMIT, (case, peak)
    if result is not None:
        back = path.with_name("back.idx")
        write_idx(back, result)
        assert back.read_bytes() == inner_bytes(), case
    return result is not None


@pytest.fixture
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def test_mutated_idx_files_load_correctly_or_fail_in_one_line(tmp_path, traced):
    rng = np.random.default_rng(20261130)
    plain = []
    for array in base_arrays(rng):
        write_idx(tmp_path / "base.idx", array)
        plain.append((tmp_path / "base.idx").read_bytes())
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(CASES):
        original = plain[case % len(plain)]
        where = rng.integers(3)  # 0: plain file; 1: mutated, then gzipped; 2: gzipped, then mutated
        if where == 0:
            path, content = tmp_path / "case.idx", mutate(original, rng)
            path.write_bytes(content)
            inner = lambda: content  # noqa: E731
        else:
            path = tmp_path / "case.idx.gz"
            content = gzip.compress(mutate(original, rng) if where == 1 else original, mtime=0)
            if where == 2:
                content = mutate(content, rng)
            path.write_bytes(content)
            inner = lambda: gzip.decompress(content)  # noqa: E731
        outcomes["loaded" if check_outcome(path, lambda: read_idx(path), inner, case) else "refused"] += 1
    # Both outcomes occur: the mutations neither always break nor never break a file.
    assert outcomes["loaded"] > 20 and outcomes["refused"] > 100, outcomes


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutated_mnist_files_load_or_fail_in_one_line(tmp_path, monkeypatch, traced):
    """Through `load`: the (N, 28, 28) and label checks sit on top of the reader's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    rng = np.random.default_rng(7)
    images_name, labels_name = catalog.SPLITS["test"]
    write_idx(tmp_path / "images.idx", rng.integers(0, 256, (3, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "labels.idx", rng.integers(0, 10, 3, dtype=np.uint8))
    originals = {images_name: (tmp_path / "images.idx").read_bytes(), labels_name: (tmp_path / "labels.idx").read_bytes()}
    loaded = 0
    for case in range(100):
        root = tmp_path / f"root{case}"
        root.mkdir()
        target = images_name if case % 2 else labels_name
        for name, content in originals.items():
            gz = case % 3 == 0
            data = mutate(content, rng) if name == target else content
            (root / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data, mtime=0) if gz else data)
        start = start_case()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = load("mnist", "test", root=root, download=False, fallback=False)
        except ValueError as error:  # IDXError or DataError
            assert "\n" not in str(error) and str(root) in str(error), (case, str(error))
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"case {case}: {type(error).__name__}: {error}")
        else:
            loaded += 1
            assert dataset.images.shape[1] == 784 and len(dataset.images) == len(dataset.labels) > 0
            assert 0 <= dataset.images.min() and dataset.images.max() <= 1
        assert allocated_since(start) < PEAK_LIMIT, (case, allocated_since(start))
    assert loaded > 5
