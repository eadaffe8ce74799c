"""Checks for ``python -m autoencoders`` and ``python -m gans`` that must run before anything else is
imported, and their one-line Ctrl-C while the slow imports run.

This project's packages are top-level names (``nn``, ``datasets``, ``runfolder``, ``benchmarks``) that other
projects use too: Hugging Face's ``datasets`` is a common one. When such a package comes first on
sys.path, the command line would fail far from the cause (``'module' object is not callable``).
``foreign_packages`` finds them from import specs alone, without importing them.
"""
import importlib
import importlib.util
import os
import sys

SIBLINGS = ("nn", "datasets", "runfolder", "autoencoders", "gans", "benchmarks")
HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding runfolder/


def foreign_packages():
    """[(name, where it was found)] for each sibling package that is not the one beside runfolder/."""
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


def check_for_command_line(program):
    """Exit with one line (code 2) when a foreign package shadows one of ours."""
    found = foreign_packages()
    if found:
        print(f"{program}: error: {shadowing_message(found)}", file=sys.stderr)
        raise SystemExit(2)


def interrupted_while_starting(program):
    print(f"\n{program}: interrupted while starting; nothing was written", file=sys.stderr)
    return SystemExit(130)


def start_command_line(program, *modules):
    """The shadowing check, then ``modules`` imported (numpy and the engine: the slow imports) so that
    Ctrl-C meanwhile is one line, exit code 130."""
    check_for_command_line(program)
    try:
        for module in modules:
            importlib.import_module(module)
    except KeyboardInterrupt:
        raise interrupted_while_starting(program) from None


def run_command_line(program, module):
    """``python -m <program>``'s __main__: import the command line ``module`` (matplotlib: about a
    second), Ctrl-C meanwhile one line; then exit with its ``main()``'s code."""
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        raise interrupted_while_starting(program) from None
    sys.exit(main())
