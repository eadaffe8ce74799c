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
