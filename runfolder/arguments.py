"""Argument types shared by the command line (``python -m autoencoders``) and the benchmark scripts.

Kept apart from cli.py so that a benchmark can import it without pulling in matplotlib (its
peak-memory children measure what a training step costs, not what the plotting library does).
"""
import argparse
import math


def _bounds_text(low, low_open, high, high_open):
    """"positive", ">= 1", "in (0, 60]", ... or None without bounds."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return "positive" if (low, low_open) == (0, True) else f"{'above' if low_open else '>='} {low}"
    if high is not None:
        return f"{'below' if high_open else '<='} {high}"
    return None


def number_type(kind, above=None, at_least=None, below=None, at_most=None):
    """An argparse type: text -> ``kind`` (int or float), finite and within the bounds given (``above``
    or ``at_least``, ``below`` or ``at_most``); anything else is a one-line usage error naming the
    value, e.g. "must be finite and in (0, 1), got 1.5"."""
    noun = "a whole number" if kind is int else "a number"
    low, low_open = (above, True) if above is not None else (at_least, False)
    high, high_open = (below, True) if below is not None else (at_most, False)
    wanted = " and ".join(part for part in ("finite" if kind is float else None,
                                            _bounds_text(low, low_open, high, high_open)) if part)

    def within(value):
        return ((low is None or (value > low if low_open else value >= low))
                and (high is None or (value < high if high_open else value <= high)))

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value) or not within(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value
    return parse
