"""Shared by tests/test_autoencoders_*.py: the PyTorch twins of our models, test images, tiny IDX
data sets for the command line, a sandbox in which the command line can never reach the network, and
a model-plus-loss objective for gradcheck.

The PyTorch reference lives only in the tests (DESIGN.md); torch is imported lazily, so the files that
do not compare with it run without it.
"""
import contextlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy
import pytest

import nn
from conftest import assert_close, relative_error  # noqa: F401  (one definition, shared by all tests)

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def have_real_mnist():
    return all((SHARED_MNIST / name).is_file() for name in MNIST_TEST_FILES)


# --- images ----------------------------------------------------------------------------------------
def generated_digits(count, seed=0):
    """uint8 (count, 28, 28) images that look a little like digits (smooth strokes on black) and
    uint8 labels 0-9: the stand-in when the real MNIST test set is absent."""
    rng = numpy.random.default_rng(seed)
    grid = numpy.stack(numpy.meshgrid(numpy.arange(28), numpy.arange(28), indexing="ij"), axis=-1)
    images = numpy.zeros((count, 28, 28))
    for index in range(count):
        for _ in range(3):  # three blurred strokes per image
            start, end = rng.uniform(6, 22, 2), rng.uniform(6, 22, 2)
            points = start + numpy.linspace(0, 1, 12)[:, None] * (end - start)
            distance = numpy.min(numpy.linalg.norm(grid[:, :, None, :] - points, axis=-1), axis=-1)
            images[index] = numpy.maximum(images[index], numpy.exp(-(distance / 1.5) ** 2))
    labels = rng.integers(0, 10, count).astype(numpy.uint8)
    return numpy.round(images * 255).astype(numpy.uint8), labels


_MNIST_CACHE = {}


def mnist_test_uint8(count):
    """The first ``count`` real MNIST test images (uint8 (N, 28, 28)) and labels, else generated ones.
    Returns (images, labels, source)."""
    if have_real_mnist():
        if "test" not in _MNIST_CACHE:
            import datasets
            test = datasets.load("mnist", split="test", root=SHARED_MNIST, download=False, fallback=False,
                                 flatten=False)
            _MNIST_CACHE["test"] = (numpy.round(test.images * 255).astype(numpy.uint8), test.labels.astype(numpy.uint8))
        images, labels = _MNIST_CACHE["test"]
        return images[:count], labels[:count], "real MNIST test set"
    images, labels = generated_digits(count)
    return images, labels, "generated digits (the real MNIST test set is absent)"


def mnist_images(count, dtype="float64"):
    """(count, 784) images in [0, 1] of ``dtype``: real MNIST test digits when present, else generated."""
    images, _, _ = mnist_test_uint8(count)
    return (images.reshape(count, -1) / 255.0).astype(dtype)


def write_data_dir(directory, train_count=256, test_count=128):
    """A folder with the four canonical IDX files (unpacked, so no md5 warnings): train = the first
    ``train_count`` images, test = the next ``test_count``. Returns the data's source description."""
    from datasets.idx import write_idx
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    images, labels, source = mnist_test_uint8(train_count + test_count)
    parts = {"train": slice(0, train_count), "t10k": slice(train_count, train_count + test_count)}
    for prefix, rows in parts.items():
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images[rows])
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels[rows])
    return source


# --- the command line, sandboxed -----------------------------------------------------------------
@contextlib.contextmanager
def cli_sandbox_without_data(scratch):
    """cli_sandbox with an empty $NN_DATA_DIR: only the offline sample (or --images) supplies data."""
    empty = Path(scratch) / "no-data"
    empty.mkdir(exist_ok=True)
    with cli_sandbox(empty, scratch) as downloads:
        yield downloads


@contextlib.contextmanager
def cli_sandbox(data_dir, scratch):
    """$NN_DATA_DIR = data_dir, the cache and the working directory under ``scratch``, no system
    folders, and every download refused (recorded in the yielded list)."""
    from datasets import catalog, loading
    from datasets.download import DownloadError

    downloads = []

    def refuse_download(name, files, cache, quiet):
        downloads.append((name, list(files)))
        raise DownloadError("downloads are disabled in the tests")

    scratch = Path(scratch)
    (scratch / "cache").mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NN_DATA_DIR", str(data_dir))
        patch.setenv("XDG_CACHE_HOME", str(scratch / "cache"))
        patch.setattr(catalog, "SYSTEM_DIRS", [])
        patch.setattr(loading, "download_files", refuse_download)
        for name in catalog.NAMES:
            patch.setitem(catalog.MIRRORS, name, ["http://127.0.0.1:9/"])  # a closed port, belt and braces
        patch.chdir(scratch)
        yield downloads


SMALL = 64  # images of each split in small_data


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """A module's IDX data folder of SMALL train and SMALL test images (import the fixture to use it)."""
    directory = tmp_path_factory.mktemp("data")
    write_data_dir(directory, train_count=SMALL, test_count=SMALL)
    return directory


@pytest.fixture
def small_sandbox(small_data, tmp_path):
    """cli_sandbox on small_data in the test's tmp_path; fails the test if a download was tried."""
    with cli_sandbox(small_data, tmp_path) as downloads:
        yield downloads
    assert downloads == [], f"the command line tried to download {downloads}"


def run_cli(argv, main=None):
    """autoencoders.cli.main(argv) (or another command line's ``main``) in-process -> (exit code,
    stdout, stderr). An argparse error (SystemExit) counts as its exit code."""
    if main is None:
        from autoencoders.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def subprocess_env(data_dir, scratch):
    env = dict(os.environ, NN_DATA_DIR=str(data_dir), XDG_CACHE_HOME=str(Path(scratch) / "cache"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def error_lines(stderr):
    """The non-empty lines of stderr."""
    return [line for line in stderr.splitlines() if line.strip()]


def load_npz(path):
    """Every array of an .npz, read with allow_pickle=False."""
    with numpy.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def snapshot(directory):
    """{file name: (bytes, mtime_ns)} of a directory's files, to prove nothing was touched."""
    directory = Path(directory)
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(directory.iterdir())
            if path.is_file()}


# --- PyTorch twins ---------------------------------------------------------------------------------
def torch_mlp(sizes, last_activation=None):
    import torch
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(size_in, size_out, dtype=torch.float64))
        if index < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    if last_activation is not None:
        layers.append(last_activation)
    return torch.nn.Sequential(*layers)


def torch_autoencoder(kind, input_dim=784, latent_dim=None, hidden=(128, 64, 36, 18)):
    """The torch model with our state-dict keys: 'simple', 'deep' or 'overcomplete' (float64)."""
    import torch

    class TorchAutoencoder(torch.nn.Module):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        def forward(self, x):
            return self.decoder(self.encoder(x))

        def encode(self, x):
            return self.encoder(x)

    if kind == "simple":
        latent_dim = latent_dim or 128
        return TorchAutoencoder(torch.nn.Linear(input_dim, latent_dim, dtype=torch.float64),
                                torch.nn.Linear(latent_dim, input_dim, dtype=torch.float64))
    if kind == "deep":
        sizes = [input_dim, *hidden, latent_dim or 9]
        return TorchAutoencoder(torch_mlp(sizes), torch_mlp(sizes[::-1], torch.nn.Sigmoid()))
    if kind == "overcomplete":
        latent_dim = latent_dim or 1024
        return TorchAutoencoder(
            torch.nn.Sequential(torch.nn.Linear(input_dim, latent_dim, dtype=torch.float64), torch.nn.ReLU()),
            torch.nn.Sequential(torch.nn.Linear(latent_dim, input_dim, dtype=torch.float64), torch.nn.Sigmoid()))
    raise ValueError(kind)


def torch_state_as_numpy(torch_model):
    return {name: value.detach().cpu().numpy().copy() for name, value in torch_model.state_dict().items()}


def copy_torch_weights(torch_model, model):
    """Load the torch model's weights into ours (asserting the key sets and shapes are equal)."""
    theirs = torch_state_as_numpy(torch_model)
    ours = model.state_dict()
    assert list(ours) == list(theirs), f"keys differ: ours {list(ours)}, torch {list(theirs)}"
    assert {name: value.shape for name, value in ours.items()} == {name: value.shape for name, value in theirs.items()}
    model.load_state_dict(theirs)
    return model


# --- speed -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def single_threaded_blas():
    """One BLAS (and torch) thread while a test module runs: these tests multiply small matrices, where
    extra threads only spin, and on a busy machine spinning threads make them many times slower.
    Import this fixture into a test module to apply it there."""
    limits = contextlib.nullcontext()
    try:
        import threadpoolctl
        import numpy.linalg  # noqa: F401  (threadpoolctl limits only libraries already loaded)
        limits = threadpoolctl.threadpool_limits(limits=1)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with limits:
        yield
    if torch is not None:
        torch.set_num_threads(threads)


class PenalizedObjective(nn.Module):
    """J(x, *more) = loss(model(x, *more), target) [+ model.penalty] as a (1,) array (MSE unless another
    loss is given): gradcheck then sees the code penalty's gradient (or the VAE's KL) through
    model.backward, which a plain <u, model(x)> check could not. Extra inputs (the VAE's eps) carry
    no gradient: gradcheck holds them constant."""

    def __init__(self, model, target, loss=None, with_penalty=True):
        self.model, self.target, self.with_penalty = model, target, with_penalty
        self.loss = loss if loss is not None else nn.MSELoss()

    def forward(self, x, *more):
        value = float(self.loss(self.model(x, *more), self.target.astype(x.dtype)))
        return numpy.array([value + (self.model.penalty if self.with_penalty else 0.0)], dtype=x.dtype)

    def backward(self, grad_output):
        scale = float(grad_output[0])
        grad_input = self.model.backward(self.loss.backward(1.0)) * scale
        for parameter in self.model.parameters():
            parameter.grad *= scale
        return grad_input


class GpuLookalike:
    """Stands for a CuPy array: its type's module is CuPy's, `.get()` copies it to the host, and NumPy's
    implicit conversion is refused, as CuPy refuses it."""

    __module__ = "cupy._lookalike"

    def __init__(self, values):
        self.values = numpy.asarray(values)
        self.shape, self.dtype = self.values.shape, self.values.dtype

    def get(self):
        return self.values.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def npy_bytes(shape, dtype="<f8", payload=b""):
    """A .npy file's bytes: a version 1.0 header stating `shape` and `dtype`, then `payload` as given."""
    header = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue() + payload


def zip_members(path, members, compression=zipfile.ZIP_DEFLATED):
    """Write {name: bytes} as a zip archive at `path` (a hand-made .npz)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
