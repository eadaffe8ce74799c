"""Write a file so that it appears whole or not at all."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


@contextmanager
def atomic_write(path):
    """Yield a binary file that becomes `path` only when the `with` block ends without error.

    Bytes go to a hidden temporary file in the same folder (so the final rename is
    atomic: same file system); any exception, KeyboardInterrupt included, deletes it.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    # os.open with 0o666 rather than tempfile.mkstemp so the final file gets the umask's permissions, not 0600.
    descriptor = os.open(temp, _FLAGS, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
