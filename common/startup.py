"""Checks for ``python -m autoencoders`` that must run before anything else is imported.

This project's packages are top-level names (``nn``, ``datasets``, ``benchmarks``) that other projects
use too: Hugging Face's ``datasets`` is a common one. When such a package comes first on sys.path, the
command line would fail far from the cause (``'module' object is not callable``). ``foreign_packages``
finds them from import specs alone, without importing them.
"""
import importlib.util
import os
import sys

SIBLINGS = ("nn", "datasets", "benchmarks")
HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding autoencoders/


def foreign_packages():
    """[(name, where it was found)] for each sibling package that is not the one beside autoencoders/."""
    found = []
    for name in SIBLINGS:
        expected = os.path.join(HOME, name)
        if not os.path.isdir(expected):  # not shipped here (an install without benchmarks): nothing to shadow
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        where = None if spec is None else (spec.origin or next(iter(spec.submodule_search_locations or []), None))
        if where is None or os.path.dirname(os.path.abspath(where)) != os.path.abspath(expected):
            found.append((name, where or "nowhere"))
    return found


def shadowing_message(found):
    name, where = found[0]
    return (f"the package {name!r} that Python finds is not this project's: {where} comes before "
            f"{os.path.join(HOME, name)} on sys.path; run from {HOME}, or put it first "
            f"(PYTHONPATH={HOME}), or uninstall the other package (pip uninstall {name})")


def check_for_command_line():
    """Exit with one line (code 2) when a foreign package shadows one of ours."""
    found = foreign_packages()
    if found:
        print(f"autoencoders: error: {shadowing_message(found)}", file=sys.stderr)
        raise SystemExit(2)
