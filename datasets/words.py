"""Errors and warnings that name what the user can change in the words of the interface they use.

The same mistake reads differently in Python (`root=<folder>`, `download=True`) and on the
command line (`--data-root DIR`, drop `--offline`). A `Worded` error or warning keeps a function
from a vocabulary to its message: `str(error)` speaks PYTHON, `error.say(CLI)` the command line.
"""

from __future__ import annotations

PYTHON = {
    "root": "pass root=<folder>",
    "download": "load with download=True while online",
    "download off": "download=False",
    "limit": "pass limit=N",
    "images": "load_images(path)",
}
CLI = {
    "root": "pass --data-root DIR",
    "download": "run without --offline while online",
    "download off": "--offline",
    "limit": "add --limit N",
    "images": "--images PATH",
}


class Worded:
    """Mixin: built from `say`, a function of a vocabulary (PYTHON or CLI) returning the message."""

    def __init__(self, say):
        self.say = say if callable(say) else (lambda words: say)
        super().__init__(self.say(PYTHON))


def in_words(error, words) -> str:
    """The message of `error` (or warning) in `words`, for any exception, worded or not."""
    say = getattr(error, "say", None)
    return say(words) if say is not None else str(error)


class DataError(Worded, ValueError):
    """Data that cannot be used as it is: a corrupt, foreign or oversized file. One line, naming the file."""
