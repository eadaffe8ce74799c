"""tests/mutation/mutmut_session.py: mutmut with the tests collected once for every mutant gives each mutant
the verdict its tests earn. A small project of its own is mutation-tested in a temporary folder: a mutant no
test can see survives, the others are killed, one that loops for ever is stopped by its test's time limit
(a timeout), no mutant's tests had to be collected again, and a function that walks up its call stack to
the first frame of another module finds the test, not mutmut's trampoline.

The parametrized test's id holds a backslash (from a regular expression): pytest escapes such an id once
more in a second collection in the same process, so a worker that asks pytest.main for it by id finds no such
test and fails, and mutmut's own way counted both mutants that survive here as killed."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SESSION = Path(__file__).resolve().parent / "mutation" / "mutmut_session.py"

SOURCE = '''\
import sys


def add(a, b):
    return a + b


def checked(p):
    if p < 0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return p


def count_to(n):
    i = 0
    while i < n:
        i += 1
    return i


def triple(x):
    return x * 3


def outside():
    frame = sys._getframe(1)
    while frame.f_globals["__name__"].startswith("pkg."):
        frame = frame.f_back
    return frame.f_globals["__name__"]
'''

TESTS = '''\
import os
import time

import pytest

from pkg.calc import add, checked, count_to, outside, triple


def test_add():
    assert add(2, 3) == 5


def test_count_to(tmp_path):  # a temporary folder in every worker that runs it (a survivor's too): each
    (tmp_path / "note.txt").write_text("written")  # removes its own
    assert count_to(3) == 3


def test_count_to_slowly():  # makes mutmut's own limit, from the sum of both tests' times, the later one
    time.sleep(0.3)
    assert count_to(2) == 2


@pytest.mark.parametrize("n", [1, 2, 3])
def test_triple_runs(n):  # the fastest of triple's tests (0.06 s each, 0.18 s in all), and none kills
    time.sleep(0.06)
    with open(os.environ["RAN_LOG"], "a") as log:
        log.write(f"{os.environ.get('MUTANT_UNDER_TEST')}\\n")
    triple(1)


def test_triple_value():  # 0.1 s: cheaper than the three before it
    time.sleep(0.1)
    assert triple(2) == 6


def test_outside():  # mutmut's trampoline frames count as pkg.calc's: without that this fails with no mutant
    assert outside() == "tests.test_calc"


@pytest.mark.parametrize("p, pattern", [(-1, r"p must be in \\[0, 1\\]")], ids=lambda value: str(value))
def test_checked_refuses(p, pattern):
    with pytest.raises(ValueError, match=pattern):
        checked(p)
'''

SETTINGS = """\
[mutmut]
source_paths = pkg
only_mutate =
    pkg/calc.py
pytest_add_cli_args_test_selection =
    tests/test_calc.py
pytest_add_cli_args =
    -p
    no:cacheprovider
timeout_multiplier = 2
timeout_constant = 0.5
"""


def test_each_mutant_gets_the_verdict_its_tests_earn_from_one_collection(tmp_path):
    pytest.importorskip("mutmut", reason="mutation testing needs mutmut: pip install -e .[mutation]")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "calc.py").write_text(SOURCE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_calc.py").write_text(TESTS)
    (tmp_path / "setup.cfg").write_text(SETTINGS)
    fallbacks = tmp_path / "collected-again.txt"
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    done = subprocess.run([sys.executable, str(SESSION), "run", "--max-children", "1"], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "MUTMUT_SESSION_FALLBACKS": str(fallbacks),
                               "RAN_LOG": str(tmp_path / "ran.log"), "TMPDIR": str(system_tmp)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mutmut_session: 9 tests collected once for every mutant" in done.stdout
    codes = json.loads((tmp_path / "mutants" / "pkg" / "calc.py.meta").read_text())["exit_code_by_key"]
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    import os
    here = os.getcwd()
    os.chdir(tmp_path)  # mutmut reads the mutants from the current folder
    try:
        changed = {}
        for name in codes:
            lines = [line for line in get_diff_for_mutant(name, path="pkg/calc.py").splitlines()
                     if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            changed[name] = " -> ".join(line[1:].strip() for line in lines)
    finally:
        os.chdir(here)
    status = {0: "survived", 1: "killed", 36: "timeout"}
    verdicts = {changed[name]: status.get(code, code) for name, code in codes.items()}
    assert verdicts == {
        "return a + b -> return a - b": "killed",
        "if p < 0: -> if p <= 0:": "survived",  # -1 is refused either way; no test asks about 0
        "if p < 0: -> if p < 1:": "survived",  # nor about a p in [0, 1)
        'raise ValueError(f"p must be in [0, 1], got {p}") -> raise ValueError(None)': "killed",
        "i = 0 -> i = None": "killed",
        "i = 0 -> i = 1": "survived",  # counts 1, 2, 3 or 1, 2 as well
        "while i < n: -> while i <= n:": "killed",
        # Each never ends. The first test's own limit, (its time + 0.5 s) x 2, stops it as a timeout (36);
        # mutmut's limit for the mutant, from both tests' times, would have come 0.6 s later (SIGXCPU).
        "i += 1 -> i = 1": "timeout",
        "i += 1 -> i -= 1": "timeout",
        "i += 1 -> i += 2": "killed",
        "return x * 3 -> return x / 3": "killed",
        "return x * 3 -> return x * 4": "killed",
        # outside() walks up to the first frame of another module: from a trampoline's frame too (counted
        # as pkg.calc's), or each of these would have "killed" by stopping at mutmut's own module.
        "frame = sys._getframe(1) -> frame = None": "killed",
        "frame = sys._getframe(1) -> frame = sys._getframe(None)": "killed",
        "frame = sys._getframe(1) -> frame = sys._getframe(2)": "survived",  # skips one frame of pkg.calc's
        'while frame.f_globals["__name__"].startswith("pkg."): -> '
        'while frame.f_globals["__name__"].startswith(None):': "killed",
        'while frame.f_globals["__name__"].startswith("pkg."): -> '
        'while frame.f_globals["XX__name__XX"].startswith("pkg."):': "killed",
        'while frame.f_globals["__name__"].startswith("pkg."): -> '
        'while frame.f_globals["__NAME__"].startswith("pkg."):': "killed",
        'while frame.f_globals["__name__"].startswith("pkg."): -> '
        'while frame.f_globals["__name__"].startswith("XXpkg.XX"):': "killed",
        'while frame.f_globals["__name__"].startswith("pkg."): -> '
        'while frame.f_globals["__name__"].startswith("PKG."):': "killed",
        "frame = frame.f_back -> frame = None": "killed",
        'return frame.f_globals["__name__"] -> return frame.f_globals["XX__name__XX"]': "killed",
        'return frame.f_globals["__name__"] -> return frame.f_globals["__NAME__"]': "killed",
    }
    assert not fallbacks.exists(), fallbacks.read_text()  # every mutant ran from the one collection
    # The stats run and the forced failure made a numbered folder each under the system's temporary folder;
    # the workers none there (each ran in a folder of its own under mutants/, removed when it ended).
    numbered = [path.name for path in system_tmp.glob("pytest-of-*/pytest-[0-9]*")]
    assert len(numbered) <= 2, numbered
    assert not list((tmp_path / "mutants" / ".pytest-tmp").glob("*"))
    # Kill first: test_triple_value killed triple's first mutant, so the next ran it first and never reached
    # the faster test_triple_runs, which ran in the stats run and for the first mutant only.
    ran = (tmp_path / "ran.log").read_text().split()
    assert ran == ["stats"] * 3 + ["pkg.calc.x_triple__mutmut_1"] * 3, ran


def test_the_last_killer_goes_first_only_where_it_costs_less_than_the_tests_before_it():
    from types import SimpleNamespace

    from tests.mutation.pytest_order import ordered

    def tests(*nodeids):
        return [SimpleNamespace(nodeid=nodeid, path=nodeid.partition("::")[0]) for nodeid in nodeids]

    def order(items, killer, seconds, fixtures):
        return [item.nodeid for item in ordered(items, killer, seconds, fixtures)]

    given = tests("a.py::fast", "a.py::faster_too", "b.py::slow", "b.py::other", "c.py::last")
    # The tests before b.py::slow cost 1 + 1 s, b.py's fixtures 5 s: a miss would cost more than a hit saves.
    seconds = {"a.py::fast": 1.0, "a.py::faster_too": 1.0, "b.py::slow": 0.5, "b.py::other": 0.1, "c.py::last": 0.1}
    assert order(given, "b.py::slow", seconds, {"b.py": 5.0}) == [item.nodeid for item in given]
    # With cheap fixtures it goes first, its file's other tests next, the rest in the order given.
    assert order(given, "b.py::slow", seconds, {"b.py": 1.0}) == [
        "b.py::slow", "b.py::other", "a.py::fast", "a.py::faster_too", "c.py::last"]
    # In the first file the fixtures are built either way: only the tests' own times count.
    assert order(given, "a.py::faster_too", seconds, {"a.py": 50.0}) == [
        "a.py::faster_too", "a.py::fast", "b.py::slow", "b.py::other", "c.py::last"]
    assert order(given, "a.py::faster_too", dict(seconds, **{"a.py::faster_too": 1.5}), {}) == [
        item.nodeid for item in given]
    # No killer, or one not among this mutant's tests: each file's tests together, in the order given.
    mixed = tests("a.py::one", "b.py::two", "a.py::three")
    assert order(mixed, None, {}, {}) == order(mixed, "z.py::gone", {}, {}) == ["a.py::one", "a.py::three", "b.py::two"]
