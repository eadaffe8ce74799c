"""`load_images`: one's own grayscale images as a train and a held-out test Dataset (no labels).

    from datasets import load_images
    train, test = load_images("my_faces/")            # a folder of PNG/JPEG files
    train, test = load_images("digits.npy", seed=1)   # an array (N, H, W) or (N, H*W)

What is accepted:
    a folder      its *.png, *.jpg, *.jpeg files (any case; other files and subfolders are ignored),
                  read with Pillow and converted to 8-bit grayscale ("L": 0.299 R + 0.587 G + 0.114 B;
                  alpha is dropped); every image must be square and of one size (none is resized)
    a .npy file   (N, H, W) with H == W, or (N, S) with S a square number (S = H * W); read without
                  pickles, through a memory map, so only the images kept are read

How values become [0, 1] (stated, never guessed from the data; no min-max stretching):
    uint8 (and PNG/JPEG)   x / 255
    uint16 (and 16-bit     x / 65535   (either byte order, as every dtype)
      grayscale PNG)
    bool                   False 0, True 1
    other integers         must lie in 0..255, then x / 255
    floats                 must be finite and already in [0, 1]; used as they are

The split: a permutation of the N images drawn from `seed`; the first ceil(N * test_fraction)
(at least 2, with 3 images or more) are the test set, the rest train (at least 1). `limit` then keeps the first `limit`
of each, and only those files are decoded. Limits, checked before anything large is allocated:
at most MAX_IMAGES images in the source, sides up to MAX_SIDE pixels, and at most MAX_PIXELS
pixels kept in all (1 GiB as float32; `limit` brings a large set under it).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .loading import Dataset
from .words import DataError

MAX_IMAGES = 1_000_000
MAX_SIDE = 1024
MAX_PIXELS = 1 << 28
SUFFIXES = (".png", ".jpg", ".jpeg")
# The only formats Pillow may decode, whatever a file's name says: a file named a.png that is really EPS
# would otherwise start Ghostscript, and other plugins parse formats nobody meant to give.
FORMATS = ("PNG", "JPEG")


def load_images(path, *, test_fraction=0.1, seed=0, limit=None, flatten=True):
    """Return (train, test) Datasets of the images at `path` (a folder of PNG/JPEG files or a .npy file).

    Images are float32 in [0, 1], (N, H*W) or with `flatten=False` (N, H, W); `labels` is None.
    Raises DataError (a ValueError) naming the file for anything unusable, FileNotFoundError when
    `path` does not exist. See the module docstring for the formats, scaling, split and limits.
    """
    if not (isinstance(test_fraction, float) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    path = Path(path).expanduser()
    source = _open_source(path)
    count = len(source)
    if count < 2:
        raise DataError(f"{path} holds {count} image(s); a train and a test set need at least 2")
    if count > MAX_IMAGES:
        raise DataError(f"{path} holds {count:,} images, more than the {MAX_IMAGES:,} accepted; use a part of them")
    order = np.random.default_rng(seed).permutation(count)
    # At least two test images where there are three or more: the figures pair test images.
    test_count = min(count - 1, max(2, math.ceil(count * test_fraction)))
    parts = {"test": order[:test_count][:limit], "train": order[test_count:][:limit]}
    side = source.side
    kept = sum(len(rows) for rows in parts.values())
    if kept * side * side > MAX_PIXELS:
        raise DataError(lambda words: (
            f"{path}: {kept:,} images of {side}x{side} pixels are {kept * side * side:,} pixels, more than the "
            f"{MAX_PIXELS:,} accepted (1 GiB as float32); {words['limit']} to keep fewer"))
    datasets = []
    for split in ("train", "test"):
        pixels = source.read(parts[split])
        images = pixels.reshape(len(pixels), -1) if flatten else pixels
        datasets.append(Dataset(images, None, path.name, split, f"{path} ({count:,} images, {side}x{side}, "
                                                              f"split with seed {seed})"))
    return tuple(datasets)


def image_side(path) -> int:
    """The side S of the S x S images at `path`, from headers only (nothing is decoded); raises as
    load_images does. Lets a caller build a model for the images before loading them."""
    return _open_source(Path(path).expanduser()).side


def _open_source(path: Path):
    """The images at `path`, opened (headers read) but not decoded."""
    if path.is_dir():
        return _ImageFolder(path)
    if path.suffix.lower() == ".npy" and path.is_file():
        return _NpyImages(path)
    if path.exists():
        raise DataError(lambda words: f"{path} is neither a folder of PNG/JPEG files nor a .npy file; "
                                      f"give one of those to {words['images']}")
    raise FileNotFoundError(f"{path}: no such file or folder")


def scale(values: np.ndarray, where) -> np.ndarray:
    """Pixel values of any supported dtype as float32 in [0, 1], by the rules in the module docstring."""
    if not values.dtype.isnative:  # a big-endian .npy: its values, in this machine's byte order
        values = values.astype(values.dtype.newbyteorder("="))
    kind = values.dtype
    if kind == np.uint8:
        return values.astype(np.float32) / np.float32(255)
    if kind == np.uint16:
        return values.astype(np.float32) / np.float32(65535)
    if kind == np.bool_:
        return values.astype(np.float32)
    if np.issubdtype(kind, np.integer):
        if values.size and (values.min() < 0 or values.max() > 255):
            raise DataError(f"{where}: integer values span {values.min()}..{values.max()}, outside 0..255; "
                            "store them as uint8 (0..255) or as floats in [0, 1]")
        return values.astype(np.float32) / np.float32(255)
    if np.issubdtype(kind, np.floating):
        values = values.astype(np.float32)
        if not np.isfinite(values).all() or (values.size and (values.min() < 0 or values.max() > 1)):
            finite = values[np.isfinite(values)]
            span = f"{finite.min():g}..{finite.max():g}" if finite.size else "none finite"
            raise DataError(f"{where}: float values must be finite and in [0, 1] (found {span}"
                            f"{', and NaN or inf' if finite.size < values.size else ''}); "
                            "scale them first, e.g. x / x.max()")
        return values
    raise DataError(f"{where}: dtype {kind} is not pixel values; use uint8, uint16, bool or floats in [0, 1]")


class _NpyImages:
    """A .npy array of images, memory-mapped: its header gives the shape; rows are read when asked."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise DataError(f"{path}: not a readable .npy array ({error})") from None
        shape = self.array.shape
        if len(shape) == 3 and shape[1] == shape[2]:
            self.side = shape[1]
        elif len(shape) == 2 and math.isqrt(shape[1]) ** 2 == shape[1]:
            self.side = math.isqrt(shape[1])
        else:
            raise DataError(f"{path}: shape {shape} is not (N, H, W) with H == W nor (N, H*W) of square "
                            "images; reshape it to one of those")
        _check_side(self.side, path)

    def __len__(self):
        return self.array.shape[0]

    def read(self, rows) -> np.ndarray:
        try:
            values = np.asarray(self.array[np.sort(rows)])[np.argsort(np.argsort(rows))]
        except (ValueError, OSError) as error:
            raise DataError(f"{self.path}: cannot be read ({error})") from None
        return scale(values, self.path).reshape(len(rows), self.side, self.side)


class _ImageFolder:
    """PNG/JPEG files in one folder, in name order; each opened lazily (Pillow reads the size first)."""

    def __init__(self, folder: Path):
        self.files = sorted(p for p in folder.iterdir()
                            if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not self.files:
            raise DataError(lambda words: f"{folder} holds no .png, .jpg or .jpeg files; put images there, or give "
                                          f"a .npy array to {words['images']}")
        first = self.files[0]
        width, height = _size(first)
        if width != height:
            raise DataError(f"{first}: {width}x{height} pixels, not square; crop or resize the images to one square size")
        self.side = width
        _check_side(self.side, first)

    def __len__(self):
        return len(self.files)

    def read(self, rows) -> np.ndarray:
        pixels = np.empty((len(rows), self.side, self.side), dtype=np.float32)
        for position, row in enumerate(rows):
            pixels[position] = self._read_one(self.files[row])
        return pixels

    def _read_one(self, path: Path) -> np.ndarray:
        from PIL import Image
        size = _size(path)
        if size != (self.side, self.side):
            raise DataError(f"{path}: {size[0]}x{size[1]} pixels, but {self.files[0].name} is "
                            f"{self.side}x{self.side}; all images must have one square size")
        try:
            with _open_image(path) as image:
                values = _gray(image)
        except DataError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"{path}: cannot be decoded as an image ({error})") from None
        return scale(values, path)


def _gray(image) -> np.ndarray:
    """The image's gray values: a 16-bit grayscale PNG (mode I;16, or I) as uint16, scaled by 1/65535 as a
    uint16 .npy is; anything else converted to 8-bit gray ("L")."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":  # 16-bit gray PNG in some Pillow versions: values 0..65535 held as int32
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError(f"32-bit integer pixels span {values.min()}..{values.max()}, outside 0..65535")
        return values.astype(np.uint16)
    return np.asarray(image.convert("L"))


def _open_image(path: Path):
    """``Image.open`` of `path` with only the FORMATS' decoders; another format (whatever the name says) is
    refused by its real name."""
    from PIL import Image, UnidentifiedImageError
    try:
        return Image.open(path, formats=FORMATS)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a PNG or JPEG image Pillow can read ({_real_format(path)}); only PNG and "
                        "JPEG files are read: convert it to PNG, or remove it from the folder") from None


def _real_format(path: Path) -> str:
    """What a file that is neither PNG nor JPEG is, from its first bytes (Pillow's signature tests only:
    nothing is decoded)."""
    from PIL import Image
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(16)
    except OSError:
        return "it cannot be read"
    Image.init()
    for name, (_, accept) in list(Image.OPEN.items()):
        try:
            if name not in FORMATS and accept is not None and accept(prefix):
                return f"it is really {name}"
        except Exception:  # a plugin's signature test that cannot judge these bytes
            continue
    return "its format is unknown"


def _size(path: Path):
    """(width, height) from the file's header, without decoding its pixels."""
    from PIL import Image
    try:
        with _open_image(path) as image:
            return image.size
    except DataError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: cannot be read as an image ({error})") from None


def _check_side(side: int, where) -> None:
    if not 1 <= side <= MAX_SIDE:
        raise DataError(f"{where}: images of {side}x{side} pixels; sides from 1 to {MAX_SIDE} are accepted")
