"""datasets: the md5 checks at their edges -- a cached file that matches, files too large to hash,
content md5s looked up under either name -- and Dataset's repr. Found by mutation testing
(python -m tests.mutation.mutants --targets datasets): each test kills mutants the other tests missed."""
import hashlib
import warnings

import numpy as np
import pytest

from datasets import DatasetWarning, catalog, download, load
from datasets.idx import write_idx


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """The cache under tmp_path, no $NN_DATA_DIR, no system folders, no network, our own md5 tables."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    monkeypatch.setenv(catalog.OFFLINE_VAR, "1")
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    download.forget_failure()
    for name in catalog.NAMES:
        monkeypatch.setitem(catalog.MD5, name, dict(catalog.MD5[name]))


def write_test_split(directory, count, seed=0):
    """MNIST-shaped test files (`.gz`) of `count` random images; returns the unpacked images file's size."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    images_name, labels_name = catalog.SPLITS["test"]
    write_idx(directory / (images_name + ".gz"), rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8))
    write_idx(directory / (labels_name + ".gz"), rng.integers(0, 10, size=count, dtype=np.uint8))
    return 16 + count * 28 * 28


def test_a_cached_file_with_the_published_md5_is_used_and_kept(monkeypatch):
    cache = catalog.cache_dir("mnist")
    write_test_split(cache, 5)
    for file_name in catalog.SPLITS["test"]:
        path = cache / (file_name + ".gz")
        monkeypatch.setitem(catalog.MD5["mnist"], path.name, hashlib.md5(path.read_bytes()).hexdigest())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load("mnist", "test", fallback=False)
    assert len(dataset) == 5 and dataset.source == str(cache)
    assert all((cache / (file_name + ".gz")).is_file() for file_name in catalog.SPLITS["test"])


# A file of unknown bytes in a folder for MNIST gets a "not the published" warning -- unless it is
# larger than any known file (catalog.MAX_HASHED_BYTES): then it is not hashed at all, and used silently.
@pytest.mark.parametrize("count, hashed", [(3000, "one block larger"), (3000, "exactly the limit"),
                                           (5, "one byte over")])
def test_files_larger_than_any_known_one_are_not_hashed(tmp_path, monkeypatch, count, hashed):
    size = write_test_split(tmp_path / "data", count)
    limit = {"one block larger": size - (1 << 20) + 1, "exactly the limit": size, "one byte over": size - 1}[hashed]
    monkeypatch.setattr(catalog, "MAX_HASHED_BYTES", limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load("mnist", "test", root=tmp_path / "data", download=False, fallback=False)
    assert len(dataset) == count
    not_published = [w for w in caught if issubclass(w.category, DatasetWarning) and "not the published" in
                     str(w.message) and "images" in str(w.message)]
    if hashed == "exactly the limit":  # hashed: an unknown md5 is worth a word
        assert len(not_published) == 1
    else:
        assert not_published == []


@pytest.mark.parametrize("file_name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_content_md5s_are_found_under_either_name(file_name):
    assert catalog.known_content_md5("mnist", file_name) == catalog.CONTENT_MD5["mnist"]["t10k-images-idx3-ubyte"]
    assert catalog.known_content_md5("no-such-set", file_name) is None


def test_repr_names_the_set_split_count_image_shape_and_source(tmp_path):
    write_test_split(tmp_path / "data", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)  # fake files: the md5 note is not what is tested
        flat = load("mnist", "test", root=tmp_path / "data", download=False, fallback=False)
        square = load("mnist", "test", root=tmp_path / "data", download=False, fallback=False, flatten=False)
    assert repr(flat) == f"Dataset('mnist', 'test', 4 images (784,), from {str(tmp_path / 'data')!r})"
    assert repr(square) == f"Dataset('mnist', 'test', 4 images (28, 28), from {str(tmp_path / 'data')!r})"


def test_every_file_of_a_folder_is_checked_not_only_the_first(tmp_path, monkeypatch):
    """Images published as Fashion-MNIST's, labels that are MNIST's: the folder is still the wrong data."""
    folder = tmp_path / "data"
    write_test_split(folder, 5)
    images_name, labels_name = (file_name + ".gz" for file_name in catalog.SPLITS["test"])
    monkeypatch.setitem(catalog.MD5["fashion-mnist"], images_name, hashlib.md5((folder / images_name).read_bytes())
                        .hexdigest())
    monkeypatch.setitem(catalog.MD5["mnist"], labels_name, hashlib.md5((folder / labels_name).read_bytes()).hexdigest())
    with pytest.warns(DatasetWarning, match=f"is mnist's {labels_name}"):
        with pytest.raises(FileNotFoundError, match=f"is mnist's {labels_name} by its md5"):
            load("fashion-mnist", "test", root=folder, download=False, fallback=False)


def test_a_cached_file_without_a_published_md5_is_used(monkeypatch):
    cache = catalog.cache_dir("mnist")
    write_test_split(cache, 3)
    for file_name in catalog.SPLITS["test"]:
        monkeypatch.delitem(catalog.MD5["mnist"], file_name + ".gz", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load("mnist", "test", fallback=False)) == 3
    assert all((cache / (file_name + ".gz")).is_file() for file_name in catalog.SPLITS["test"])


def test_a_file_that_is_not_gzip_is_reported_by_the_reader_not_by_its_md5(tmp_path):
    folder = tmp_path / "data"
    write_test_split(folder, 3)
    images = folder / (catalog.SPLITS["test"][0] + ".gz")
    images.write_bytes(b"not gzip at all" * 10)
    # a ValueError naming the file (datasets.idx.IDXError today; the package docstring promises DataError)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError, match=rf"{images.name}: not a "
                                                                                         "valid gzip stream"):
        warnings.simplefilter("always")
        load("mnist", "test", root=folder, download=False, fallback=False)
    assert [str(w.message) for w in caught if "md5" in str(w.message) and images.name in str(w.message)] == []


@pytest.mark.parametrize("limit, warned", [(0, True), (-1, False)], ids=["exactly-the-limit", "one-byte-over"])
def test_an_unpacked_file_is_hashed_up_to_exactly_the_limit(tmp_path, monkeypatch, limit, warned):
    images_name, labels_name = catalog.SPLITS["test"]
    rng = np.random.default_rng(1)
    (tmp_path / "data").mkdir()
    write_idx(tmp_path / "data" / images_name, rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "data" / labels_name, rng.integers(0, 10, size=5, dtype=np.uint8))
    monkeypatch.setattr(catalog, "MAX_HASHED_BYTES", (tmp_path / "data" / images_name).stat().st_size + limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load("mnist", "test", root=tmp_path / "data", download=False, fallback=False)
    assert any(images_name in str(w.message) and "not the published" in str(w.message) for w in caught) is warned


def test_a_file_that_cannot_be_opened_for_hashing_is_left_to_the_reader(tmp_path, monkeypatch):
    """Hashing gives up quietly (the reader, which opens the file itself, reports what is wrong)."""
    from datasets import loading
    images_name, labels_name = catalog.SPLITS["test"]
    rng = np.random.default_rng(2)
    (tmp_path / "data").mkdir()
    write_idx(tmp_path / "data" / images_name, rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "data" / labels_name, rng.integers(0, 10, size=5, dtype=np.uint8))

    def refuse(*args, **kwargs):
        raise PermissionError("no reading here")

    monkeypatch.setattr(loading, "open", refuse, raising=False)  # loading's own open, not idx's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load("mnist", "test", root=tmp_path / "data", download=False, fallback=False)) == 5
