"""What the MNIST-family sets are made of and where they live.

Everything here is a plain module-level table so that tests (and users behind
a proxy or with a private mirror) can replace an entry:

    NAMES        the sets `load` knows
    SPLITS       "train" and "test", and the two IDX files of each
    MIRRORS      base URLs tried in order; file URL = mirror + file name + ".gz"
    MD5          md5 of each published `.gz` file
    CONTENT_MD5  md5 of the unpacked IDX bytes, where known: checks unpacked and re-gzipped files
    SYSTEM_DIRS  folders where Linux distributions install the sets (<dir>/<name>)
    TIMEOUT      seconds a download waits for a silent server (to connect, and for each read)
    OFFLINE_VAR  the environment variable that, set to anything but "" or "0", keeps `load` off the network
    MAX_IMAGES   the most images `load` reads from one split's files (without `limit`)
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NN_DATA_DIR"
OFFLINE_VAR = "NN_OFFLINE"

NAMES = ("mnist", "fashion-mnist")

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}

MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# md5 of the IDX bytes inside each file: the same whether a file is unpacked or gzipped again
# (Debian's dataset-fashion-mnist, for one, recompresses the published files). Computed from the
# published MNIST test set and from that Debian package; MNIST's training files were not at hand.
CONTENT_MD5 = {
    "mnist": {
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

# Debian's dataset-fashion-mnist package installs /usr/share/datasets/fashion-mnist.
SYSTEM_DIRS = [Path("/usr/share/datasets")]

# A few seconds: long enough for a slow mirror to start answering, short enough that an offline
# machine behind a silent proxy waits once, briefly (one failure stops all later downloads).
TIMEOUT = 5.0

# The published splits hold 60,000 and 10,000 images (188 MB and 31 MB as float32). A file stating
# more than this is refused before its data is read, unless `limit` asks for fewer.
MAX_IMAGES = 100_000

# The largest published IDX file unpacks to 47,040,016 bytes: no file bigger than this can match an
# md5 in the tables, so hashing stops there.
MAX_HASHED_BYTES = 64 << 20


def check_choice(what: str, value: object, valid) -> str:
    """Return `value` if it is one of `valid`, else raise a one-line ValueError listing them."""
    if value not in valid:
        choices = ", ".join(repr(v) for v in valid)
        raise ValueError(f"unknown {what} {value!r}; choose one of {choices}")
    return value


def offline() -> bool:
    """Whether $NN_OFFLINE asks to stay off the network."""
    return os.environ.get(OFFLINE_VAR, "") not in ("", "0")


def cache_dir(name: str) -> Path:
    """Per-user download folder: $XDG_CACHE_HOME (or ~/.cache) / nn-autoencoders / <name>."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nn-autoencoders" / name


def known_md5(name: str, file_name: str):
    """The published md5 of `file_name` in set `name`, or None when the table has none."""
    return MD5.get(name, {}).get(file_name)


def known_content_md5(name: str, file_name: str):
    """The md5 of the unpacked IDX bytes of `file_name` (".gz" or not) in set `name`, or None."""
    return CONTENT_MD5.get(name, {}).get(file_name.removesuffix(".gz"))


def identify_md5(digest: str):
    """Which (set, file name) a digest of a `.gz` file or of unpacked IDX bytes belongs to, or None:
    catches MNIST files filed as Fashion-MNIST."""
    for tables in (MD5, CONTENT_MD5):
        for name, table in tables.items():
            for file_name, known in table.items():
                if known == digest:
                    return name, file_name
    return None
