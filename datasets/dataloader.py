"""DataLoader: mini-batches over arrays or a map-style dataset, shuffled by its own seeded generator.

Imports nothing from the engine: the GPU copy goes straight through CuPy, imported only when
device="gpu" is asked for.
"""

from __future__ import annotations

import importlib
import numbers

import numpy as np

DEVICES = ("cpu", "gpu")

# torch.utils.data.DataLoader's parameters that this loader does not implement, each with the value that
# means "not used" (torch's default). Any other value is refused by name.
NOT_IMPLEMENTED = {
    "sampler": None, "batch_sampler": None, "num_workers": 0, "collate_fn": None, "pin_memory": False,
    "timeout": 0, "worker_init_fn": None, "multiprocessing_context": None, "generator": None,
    "prefetch_factor": None, "persistent_workers": False, "pin_memory_device": "", "in_order": True,
}
_INSTEAD = {
    "generator": "; pass seed= for a reproducible shuffle",
    "sampler": "; shuffle=True draws a permutation from the loader's seeded generator",
    "batch_sampler": "; use batch_size, shuffle and drop_last",
    "num_workers": "; batches are made in this process",
    "collate_fn": "; items are stacked as torch's default collate does, or pass arrays and a transform",
}


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size`.

    `dataset` is either arrays or a map-style dataset:

    - arrays (anything with a `shape`, or a list NumPy makes one array of): batches along the first
      axis, `images[rows]`, paired as `(images, labels[rows])` when `labels=` is given;
    - a map-style dataset (an object with `__len__` and `__getitem__(i)`, as torch's `Dataset`): only
      `dataset[i]` for i in 0..len-1 is ever read, and a batch's items are stacked as torch's default
      collate does: items that are tuples/lists give a tuple with one stacked array per field, single
      arrays or numbers give one stacked array (Python ints -> int64, floats -> float64, bools -> bool;
      NumPy values keep their dtype). An iterable without `__len__` is refused.

    The positional order is torch.utils.data.DataLoader's: (dataset, batch_size, shuffle, sampler,
    batch_sampler, num_workers, collate_fn, pin_memory, drop_last, timeout, worker_init_fn,
    multiprocessing_context, generator); of those, only dataset, batch_size, shuffle and drop_last are
    implemented, and the others are refused by name unless left at torch's default. The defaults
    differ from torch's: batch_size=32, shuffle=True (shuffle=None means False, as in torch).

    Each `iter()` is one epoch: with `shuffle`, a fresh permutation of 0..N-1 drawn from the loader's
    own `numpy.random.Generator(seed)` (same seed, same sequence of epochs); without, the stored order.
    A batch's images (a dataset's first field) pass through `transform` if given (e.g. denoising
    noise). The last short batch is dropped with `drop_last`.

    `device="gpu"` yields CuPy arrays: arrays are copied to the GPU once, here; a dataset's batches
    are copied as they are made. `state_dict()` / `load_state_dict()` save and restore the generator
    and epoch count, so a resumed run draws the same next epochs.
    """

    def __init__(self, dataset, batch_size=32, shuffle=True, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, labels=None, seed=None, transform=None, device="cpu"):
        given = {"sampler": sampler, "batch_sampler": batch_sampler, "num_workers": num_workers,
                 "collate_fn": collate_fn, "pin_memory": pin_memory, "timeout": timeout,
                 "worker_init_fn": worker_init_fn, "multiprocessing_context": multiprocessing_context,
                 "generator": generator, "prefetch_factor": prefetch_factor,
                 "persistent_workers": persistent_workers, "pin_memory_device": pin_memory_device,
                 "in_order": in_order}
        for name, default in NOT_IMPLEMENTED.items():
            if not _is_default(given[name], default):
                raise ValueError(f"DataLoader does not implement torch's {name}= (got {_short(given[name])}); "
                                 f"leave it at {default!r}{_INSTEAD.get(name, '')}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            hint = ("; labels are passed by name, labels=..., since batch_size is the second positional argument"
                    " as in torch" if hasattr(batch_size, "__len__") else "")
            raise ValueError(f"batch_size must be a positive integer, got {_short(batch_size)}{hint}")
        if device not in DEVICES:
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be a callable applied to each image batch, got {transform!r}")
        self.batch_size = int(batch_size)
        self.shuffle = False if shuffle is None else shuffle  # None: torch's default, no shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = device
        self.epoch = 0
        self._generator = np.random.default_rng(seed)
        self._move = _to_gpu if device == "gpu" else (lambda array: array)

        images = _as_array(dataset)
        if images is None:  # a map-style dataset: read item by item, never converted whole
            if labels is not None:
                raise ValueError("labels= goes with arrays; a map-style dataset's items carry their own labels")
            self.dataset = dataset
            self.images = self.labels = None
            self._count = _dataset_length(dataset)
            return
        if labels is not None and not hasattr(labels, "shape"):
            labels = np.asarray(labels)
        if images.ndim == 0:
            raise ValueError(f"images must be an array with a batch axis first, got a scalar {images!r}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"images and labels differ in length: {len(images)} images, {len(labels)} labels")
        self.images = self._move(images)
        self.labels = None if labels is None else self._move(labels)
        self.dataset = self.images
        self._count = len(images)

    def __len__(self) -> int:
        """Batches per epoch: floor(N / batch_size) with drop_last, else ceil(N / batch_size)."""
        if self.drop_last:
            return self._count // self.batch_size
        return -(-self._count // self.batch_size)

    def __iter__(self):
        """Start a new epoch (drawing its order now) and return an iterator over its batches."""
        order = self._generator.permutation(self._count) if self.shuffle else None
        self.epoch += 1
        if self.images is None:
            return self._dataset_batches(order)
        return self._batches(order)

    def _batches(self, order):
        if order is not None:
            order = self._move(order)  # one small copy per epoch, so the indexing stays on the device
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            rows = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            images = self.images[rows]
            if self.transform is not None:
                images = self.transform(images)
            yield images if self.labels is None else (images, self.labels[rows])

    def _dataset_batches(self, order):
        order = range(self._count) if order is None else order.tolist()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = _collate([self.dataset[index] for index in rows], rows, "")
            batch = _map_arrays(self._move, batch)
            if self.transform is not None and isinstance(batch, tuple):
                batch = (self.transform(batch[0]),) + batch[1:]
            elif self.transform is not None:
                batch = self.transform(batch)
            yield batch

    def state_dict(self) -> dict:
        """The epoch count and generator state: enough to replay the coming epochs' orders."""
        return {"epoch": self.epoch, "generator": self._generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""
        missing = {"epoch", "generator"} - set(state)
        if missing:
            raise ValueError(f"DataLoader state lacks {sorted(missing)}; pass the dict DataLoader.state_dict() returned")
        self._generator.bit_generator.state = state["generator"]
        self.epoch = int(state["epoch"])


def _as_array(data):
    """`data` as an array when it is one (or a list NumPy makes one array of); None for a map-style dataset.

    Only lists, tuples, strings and objects with neither `__len__` nor `__getitem__`/`__iter__` (scalars)
    are handed to NumPy whole; a dataset object never is, so NumPy never walks it by the old
    `__getitem__`-until-IndexError protocol."""
    if hasattr(data, "shape"):
        return data
    if isinstance(data, (list, tuple)):
        try:
            return np.asarray(data)
        except ValueError:  # ragged items, e.g. (image, label) pairs: a map-style dataset, as torch takes lists
            return None
    if isinstance(data, (str, bytes)):
        return np.asarray(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return None
    if hasattr(data, "__iter__") or hasattr(data, "__getitem__"):
        raise TypeError(f"DataLoader needs a map-style dataset (with __len__ and __getitem__) or arrays; "
                        f"{type(data).__name__} has no __len__ (iterable-style datasets are not supported)")
    return np.asarray(data)


def _dataset_length(dataset):
    """`len(dataset)`, checked to be a non-negative integer, in one line when it is not."""
    count = type(dataset).__len__(dataset)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        raise TypeError(f"{type(dataset).__name__}.__len__() must return a non-negative integer, got {_short(count)}")
    if count < 0:
        raise ValueError(f"{type(dataset).__name__}.__len__() must return a non-negative integer, got {count!r}")
    return int(count)


def _collate(values, rows, where):
    """Stack the same field of a batch's items, as torch's default collate does; `rows` are the items'
    dataset indices and `where` the field's place, both for the error messages."""
    first = values[0]
    if isinstance(first, (tuple, list)):
        for value, row in zip(values, rows):
            if not isinstance(value, (tuple, list)) or len(value) != len(first):
                raise ValueError(f"dataset items differ{where}: item {rows[0]} is {_describe(first)}, "
                                 f"item {row} is {_describe(value)}")
        return tuple(_collate([value[field] for value in values], rows, f" in field {field}{where}")
                     for field in range(len(first)))
    if isinstance(first, (str, bytes)):
        return list(values)
    if all(type(value) in (bool, int, float) for value in values):
        if all(type(value) is bool for value in values):
            return np.array(values, dtype=np.bool_)
        return np.array(values, dtype=np.float64 if any(type(v) is float for v in values) else np.int64)
    xp = _module_of(first)
    arrays = []
    for value, row in zip(values, rows):
        array = xp.asarray(value) if isinstance(value, (numbers.Number, np.generic)) or hasattr(value, "shape") \
            or hasattr(value, "__array__") else None
        if array is None or array.dtype == object:
            raise TypeError(f"cannot batch item {row}{where}: {_describe(value)}; items must be arrays or numbers, "
                            "or tuples/lists of them")
        if arrays and array.shape != arrays[0].shape:
            raise ValueError(f"dataset items differ in shape{where}: item {rows[0]} has {tuple(arrays[0].shape)}, "
                             f"item {row} has {tuple(array.shape)}; items of one batch must have one shape")
        arrays.append(array)
    return xp.stack(arrays)


def _map_arrays(function, batch):
    """`function` applied to every array of a collated batch (tuples recursed, lists of strings kept)."""
    if isinstance(batch, tuple):
        return tuple(_map_arrays(function, part) for part in batch)
    return batch if isinstance(batch, list) else function(batch)


def _module_of(value):
    """CuPy for a CuPy array (items a dataset already keeps on the GPU), else NumPy."""
    if type(value).__module__.partition(".")[0] == "cupy":
        return importlib.import_module("cupy")
    return np


def _describe(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _is_default(value, default):
    """Whether a torch-only argument was left at (a value equal to) torch's default."""
    if default is None:
        return value is None
    if isinstance(value, str) is not isinstance(default, str):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _short(value):
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def _to_gpu(array):
    """Copy `array` to the GPU with CuPy, imported only here and only when device='gpu' is asked for."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        raise ImportError(f"device='gpu' needs CuPy, which is not installed ({error}); "
                          "install the GPU extra with: pip install -e .[gpu]") from None
    return cupy.asarray(array)
