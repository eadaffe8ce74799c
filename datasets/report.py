"""One-line warnings that point at the user's code rather than at this package."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


class DatasetWarning(UserWarning):
    """Something about the data worth knowing that did not stop loading: a failed mirror, an md5, a fallback."""


def warn(message: str) -> None:
    """Issue `message` as a DatasetWarning attributed to the first caller outside `datasets/`."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the frame that called warn()
    while frame is not None and str(Path(frame.f_code.co_filename).resolve().parent) == _PACKAGE_DIR:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, DatasetWarning, stacklevel=level)
