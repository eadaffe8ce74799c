"""DataLoader: mini-batches over arrays, shuffled by its own seeded generator."""

from __future__ import annotations

import numbers

import numpy as np

DEVICES = ("cpu", "gpu")


class DataLoader:
    """Iterate over `images` (and `labels`) in batches of `batch_size` along the first axis.

    Each `iter()` is one epoch: with `shuffle`, a fresh permutation of 0..N-1 drawn
    from the loader's own `numpy.random.Generator(seed)` (same seed, same sequence of
    epochs); without, the stored order. A batch is `images[rows]`, passed through
    `transform` if given (e.g. denoising noise), paired as `(images, labels[rows])`
    when labels were given. The last short batch is dropped with `drop_last`.

    `device="gpu"` copies the arrays to the GPU once, here, and yields CuPy arrays.
    `state_dict()` / `load_state_dict()` save and restore the generator and epoch
    count, so a resumed run draws the same next epochs.
    """

    def __init__(self, images, labels=None, batch_size=32, shuffle=True, drop_last=False,
                 seed=None, transform=None, device="cpu"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if device not in DEVICES:
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        images = images if hasattr(images, "shape") else np.asarray(images)
        if labels is not None and not hasattr(labels, "shape"):
            labels = np.asarray(labels)
        if images.ndim == 0:
            raise ValueError(f"images must be an array with a batch axis first, got a scalar {images!r}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"images and labels differ in length: {len(images)} images, {len(labels)} labels")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be a callable applied to each image batch, got {transform!r}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = device
        self.epoch = 0
        self._generator = np.random.default_rng(seed)
        self._move = _to_gpu if device == "gpu" else (lambda array: array)
        self.images = self._move(images)
        self.labels = None if labels is None else self._move(labels)

    def __len__(self) -> int:
        """Batches per epoch: floor(N / batch_size) with drop_last, else ceil(N / batch_size)."""
        count = len(self.images)
        if self.drop_last:
            return count // self.batch_size
        return -(-count // self.batch_size)

    def __iter__(self):
        """Start a new epoch (drawing its order now) and return an iterator over its batches."""
        order = self._generator.permutation(len(self.images)) if self.shuffle else None
        self.epoch += 1
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


def _to_gpu(array):
    """Copy `array` to the GPU through the engine's backend (the only place that imports CuPy)."""
    try:
        from nn import to_device
    except ImportError as error:
        raise ImportError(f"device='gpu' needs nn.to_device from the engine ({error})") from error
    return to_device(array, "gpu")
