"""A pytest plugin for mutation runs (tests/mutation/mutants.py passes it to mutmut's pytest as
``-p tests.mutation.pytest_order``): each mutant's tests grouped by file, and fixture time counted in
each test's time.

mutmut runs a mutant's tests fastest first, by the time each test's body took in its first (stats)
run. Sorted so, the tests of different files interleave, and pytest tears a file's module-scoped
fixtures down each time the next test is in another file and builds them again when one comes back:
a GAN trained for an epoch or a written checkpoint, built once a file in the suite, is built once a
test. Measured on the gans target: the same mutants took 635 s of worker time when killed, 424 s when
surviving, with the files interleaved; 49 and 157 s grouped. Here the tests keep mutmut's order of
files (the file of the fastest test first) and, inside a file, its fastest-first order, so each
module fixture is built once per mutant.

mutmut also stops a mutant after a multiple of that estimate; it counts only the test bodies
("call"), not their setup, so a test whose fixture does the work looked instant, and an equivalent
mutant whose tests build an expensive fixture was stopped, and counted as killed. In the stats run
(MUTANT_UNDER_TEST=stats) each test's setup and teardown time is added to its recorded time, and
summed per test file in FIXTURE_SECONDS (tests/mutation/mutmut_session.py gives each file's tests in a
mutant's worker a time limit of their own, which must cover the file's fixtures whichever test builds them).
"""
import os

import pytest

FIXTURE_SECONDS = {}  # test file ("tests/test_x.py") -> seconds its tests' setups and teardowns took in the stats run


def pytest_collection_modifyitems(items):
    first_seen = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path, index)
    items.sort(key=lambda item: first_seen[item.path])  # stable: the order inside a file is kept


def ordered(items, killer=None, seconds=None, fixtures=None):
    """A mutant's tests in the order a worker of tests/mutation/mutmut_session.py runs them: this plugin's
    (each file's tests together, fastest first); but the test that killed the last mutant of the same
    function first, and its file's other tests next, where that costs less than the tests before it.

    Mutants of one function are mostly killed by the same test, and mutmut runs them one after another, so
    the killer first saves what ran before it. Where it does not kill, it has cost its own time and, unless
    its file comes first anyway, its file's fixtures (a GAN trained in a module fixture): a killer costing
    more than the tests before it waits its turn. seconds: node id -> the test's time in the stats run;
    fixtures: test file -> its fixtures' time there (FIXTURE_SECONDS)."""
    first_seen = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path, index)
    items = sorted(items, key=lambda item: first_seen[item.path])
    position = next((index for index, item in enumerate(items) if item.nodeid == killer), None)
    if position is None:
        return items
    seconds, fixtures = seconds or {}, fixtures or {}
    killer_file = killer.partition("::")[0]
    files_before = {item.nodeid.partition("::")[0] for item in items[:position]} - {killer_file}
    saved = sum(seconds.get(item.nodeid, 0.0) for item in items[:position]) + sum(
        fixtures.get(path, 0.0) for path in files_before)
    risked = seconds.get(killer, 0.0) + (fixtures.get(killer_file, 0.0) if files_before else 0.0)
    if risked > saved:
        return items
    return sorted(items, key=lambda item: (item.path != items[position].path, item.nodeid != killer))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when in ("setup", "teardown") and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        path = item.nodeid.partition("::")[0]
        FIXTURE_SECONDS[path] = FIXTURE_SECONDS.get(path, 0.0) + call.duration
        try:
            from mutmut.state import state
        except ImportError:  # not under mutmut
            return
        durations = state().duration_by_test
        if item.nodeid in durations:  # mutmut's stats collector started this test's entry
            durations[item.nodeid] += call.duration
