"""One-line warnings that point at the user's code rather than at this package."""

from __future__ import annotations

import sys
import warnings

from .words import Worded


class DatasetWarning(Worded, UserWarning):
    """Something about the data worth knowing that did not stop loading: an md5, a fallback.

    Worded: `str(warning)` speaks Python's arguments, `warning.say(words.CLI)` the command line's.
    `key`: warnings that tell the same thing about different splits share one (a caller loading both
    prints one of them); None for the rest.
    """

    def __init__(self, say, key=None):
        super().__init__(say)
        self.key = key


def warn(say, key=None) -> None:
    """Issue `say` (a message, or a function of the vocabulary, see words.py) as a DatasetWarning
    attributed to the first caller outside `datasets/`; `key` as DatasetWarning's."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the frame that called warn()
    # Up through every frame of datasets and its modules (code run by exec may have no __name__).
    while frame is not None and str(frame.f_globals.get("__name__")).partition(".")[0] == "datasets":
        level, frame = level + 1, frame.f_back
    warnings.warn(DatasetWarning(say, key), stacklevel=level)
