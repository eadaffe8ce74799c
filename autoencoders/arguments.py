"""Argument types shared by the command line (``python -m autoencoders``) and the benchmark scripts.

Kept apart from cli.py so that a benchmark can import it without pulling in matplotlib (its
peak-memory children measure what a training step costs, not what the plotting library does).
"""
import argparse
import math


def number_type(kind, above=None, at_least=None, at_most=None):
    """An argparse type: text -> ``kind`` (int or float), finite and within the bounds given; anything
    else is a one-line usage error naming the value, e.g. "must be finite and positive, got nan"."""
    noun = "a whole number" if kind is int else "a number"
    checks = [("positive" if above == 0 else f"above {above}", lambda value: value > above)] if above is not None else []
    checks += [(f">= {at_least}", lambda value: value >= at_least)] if at_least is not None else []
    checks += [(f"<= {at_most}", lambda value: value <= at_most)] if at_most is not None else []
    wanted = " and ".join((["finite"] if kind is float else []) + [name for name, _ in checks])

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value) or not all(check(value) for _, check in checks):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value
    return parse
