"""mutmut 3 with one test collection for all of a target's mutants: `python tests/mutation/mutmut_session.py
run ...` takes mutmut's own command line (tests/mutation/mutants.py starts it so).

mutmut forks a worker for each mutant, and the worker calls `pytest.main` with the ids of the tests that
reach the mutated function. pytest then parses its arguments, loads its plugins and collects every test file
those ids name, whole, before the first test runs: 0.3 to 0.4 s a mutant, measured for two of the engine's
test files in a warm process, more than most mutants' tests take to fail. Here the parent builds one pytest
session, collects the target's test files once (after mutmut's own stats run, which proved they pass with no
mutant), and each forked worker runs its tests from that collection: the same items, in the order
tests/mutation/pytest_order.py gives them (mutmut's fastest first, grouped by file), with `-x` as before.
A worker whose ids are not all in the collection calls `pytest.main` as mutmut does.

mutmut's clean run is left out: its stats run has just run the same tests with no mutant active, and stops
when one fails. The stats run and the forced failure run in forked children (mutmut runs them in the parent
when it forks a worker per mutant), so that every worker starts from a process no test has run in; each test
in a worker has a time limit of its own (_TestTimer). mutmut's trampolines run as part of the module whose
function they stand for (_owned_by), so code that walks its call stack by module sees the stack it would.

Everything else is mutmut's: mutant generation, what the stats run records, the mutant's own time limit
(the tests' limits come within it), the verdicts and results. This file is run as a script (not `-m tests...`): a `tests` package imported before mutmut puts
its copy of the repository first on the path would shadow the copy the tests are collected from.
"""
import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import sys
import types
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_pytest_order", os.path.join(sys.path[0], "pytest_order.py"))
_order = importlib.util.module_from_spec(_spec)  # its ordered(): by path, not as tests.mutation.pytest_order
_spec.loader.exec_module(_order)
del sys.path[0]  # this folder: nothing else of it is imported

import pytest  # noqa: E402
from mutmut.__main__ import cli  # noqa: E402
from mutmut.configuration import config  # noqa: E402
from mutmut.mutation import trampoline as _trampolines  # noqa: E402
from mutmut.models.results import StatsResult  # noqa: E402
from mutmut.runners.harness import PytestRunner  # noqa: E402
from mutmut.state import state  # noqa: E402
from mutmut.utils.file_utils import change_cwd  # noqa: E402
from mutmut.workers.isolation import ForkRunner, run_in_fork, run_in_fork_with_result  # noqa: E402


def _owned_by(function, module_name, namespaces):
    """A copy of one of mutmut's trampoline functions whose globals name `module_name` (with every trampoline
    function it closes over copied alike): its frames then count as that module's. mutmut puts two frames of
    its own module between a mutated function and its caller; the engine's warnings walk up the stack to the
    first frame outside the nn package (nn/arguments.py, warn), and stopped at mutmut's. With
    them, a test of the line a warning names failed without any mutant, so it could not run in a mutation
    run, and no mutant of that walk could be killed."""
    namespace = namespaces.setdefault(module_name, {**vars(_trampolines), "__name__": module_name})
    cells = tuple(types.CellType(_owned_by(cell.cell_contents, module_name, namespaces))
                  if getattr(cell.cell_contents, "__globals__", None) is vars(_trampolines) else cell
                  for cell in function.__closure__ or ())
    copy = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__, cells)
    for name in ("__kwdefaults__", "__qualname__", "__doc__", "__annotations__", "__module__"):
        setattr(copy, name, getattr(function, name))  # functools.wraps's copies of the wrapped function's
    copy.__dict__.update(function.__dict__)  # and its __wrapped__
    return copy


_mutmut_wrap_in_trampoline = _trampolines.wrap_in_trampoline


def wrap_in_trampoline(mutants_dict, is_classmethod=False):
    wrap = _mutmut_wrap_in_trampoline(mutants_dict, is_classmethod)
    return lambda function: _owned_by(wrap(function), function.__module__, {})


_trampolines.wrap_in_trampoline = wrap_in_trampoline  # before the mutated modules import it

_collected = {"fixtures": {}}  # "session", "items", "loose", "fixtures": filled by the parent before the first fork


def collect_stats(self, tests):
    """mutmut's stats run (every test once, recording which functions each reaches), in a forked child, as
    mutmut's fork-server runner does it: the parent, which every mutant's worker is forked from, then holds
    no state the tests left behind. Run in the parent, it did: a worker's first test then met, for
    example, the datasets' memory of a failed download, and waited on it until its time limit."""
    tests = list(tests) if tests is not None else []

    def in_child():
        code = self.test_runner.run_stats(tests=tests)
        order = sys.modules.get("tests.mutation.pytest_order")
        found = StatsResult(exit_code=code, tests_by_mangled_function_name=dict(state().tests_by_mangled_function_name),
                            duration_by_test=dict(state().duration_by_test), stats_time=state().stats_time or 0.0,
                            function_dependencies=dict(state().function_dependencies))
        return found.to_dict(), dict(getattr(order, "FIXTURE_SECONDS", {}))

    packed, _collected["fixtures"] = run_in_fork_with_result(in_child)
    found = StatsResult.from_dict(packed)
    for name, names in found.tests_by_mangled_function_name.items():
        state().tests_by_mangled_function_name[name] |= names
    state().duration_by_test.update(found.duration_by_test)
    for name, names in found.function_dependencies.items():
        state().function_dependencies[name] = names
    return found.exit_code


def _collect_once(runner):
    """Configure pytest as pytest.main would, start a session, collect the target's tests, and keep it all."""
    from _pytest.config import _prepareconfig

    params = (["--rootdir=.", "--tb=native"] + runner._pytest_args_regular_run([]) + runner._pytest_add_cli_args)
    quiet = open(os.devnull, "w")  # the terminal reporter writes to it for as long as the session lives
    with change_cwd("mutants"), contextlib.redirect_stdout(quiet):
        config = _prepareconfig(params)
        config._do_configure()
        session = pytest.Session.from_config(config)
        config.hook.pytest_sessionstart(session=session)
        config.hook.pytest_collection(session=session)
    if session.testsfailed:  # a collection error: every worker takes mutmut's own way instead
        print(f"mutmut_session: {session.testsfailed} collection error(s); each mutant collects its own tests")
        return
    _collected["session"] = session
    _collected["items"] = {item.nodeid: item for item in session.items}
    # A parametrized id made from a string holding a backslash comes out escaped once more in a second
    # collection in the same process (measured: "\\[0, 1\\]" in mutmut's stats, "\\\\[..." here): such ids are
    # also found with their backslashes left out, where that names one test only.
    loose = {}
    for item in session.items:
        loose.setdefault(item.nodeid.replace("\\", ""), []).append(item)
    _collected["loose"] = {key: found[0] for key, found in loose.items() if len(found) == 1}
    print(f"mutmut_session: {len(session.items)} tests collected once for every mutant")


KILLERS = ".killers"  # in mutmut's mutants/ folder: per function, the test that last killed one of its mutants


def _killer_file(mutant_name):
    function = mutant_name.rsplit("__mutmut_", 1)[0]
    return os.path.join(KILLERS, hashlib.sha256(function.encode()).hexdigest()[:32])


class _KillRecorder:
    """Writes the first failing test's id for the mutant's function (to a temporary file, then renamed, as
    two workers may finish mutants of one function at once)."""

    def __init__(self, mutant_name):
        self.path, self.written = _killer_file(mutant_name), False

    def pytest_runtest_logreport(self, report):
        if report.failed and not self.written:  # the first failure (-x stops at it anyway)
            staging = f"{self.path}.{os.getpid()}"
            with open(staging, "w") as record:
                record.write(report.nodeid)
            os.replace(staging, self.path)
            self.written = True


TIMEOUT_EXIT = 36  # mutmut's exit code for "timeout"


class _TestTimer:
    """A time limit per test phase. A test's call: (its time in the stats run + constant) x multiplier, mutmut's
    own formula and settings. Its setup and teardown: (its file's fixture time in the stats run
    (pytest_order.FIXTURE_SECONDS) + constant) x multiplier, whichever of the file's tests builds the file's
    module fixtures: in a worker's order (fastest first) that is often another test than in the stats run
    (where the first in the file built them), and a limit from that test's own time stopped a worker that was
    building a trained GAN, as a "timeout" no mutant earned (measured on a busy machine). mutmut's limit is
    per mutant, from the sum of all its tests' times: a mutant that makes the first of 40 tests loop for ever
    waited for the 40 tests' time. A phase past its limit ends the worker as a timeout."""

    def __init__(self, seconds, scratch):
        self.seconds = seconds  # node id -> the test's time in the stats run
        self.fixtures = _collected["fixtures"]
        self.multiplier, self.constant = config().timeout_multiplier, config().timeout_constant
        signal.signal(signal.SIGALRM, lambda *_: (shutil.rmtree(scratch, ignore_errors=True), os._exit(TIMEOUT_EXIT)))

    def _limit(self, seconds):
        signal.setitimer(signal.ITIMER_REAL, (seconds + self.constant) * self.multiplier)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        self._limit(self.fixtures.get(item.nodeid.partition("::")[0], 0.0))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item):
        self._limit(self.seconds[item.nodeid])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        self._limit(self.fixtures.get(item.nodeid.partition("::")[0], 0.0))


TMP = ".pytest-tmp"  # in mutmut's mutants/ folder: each worker's own root of pytest's temporary folders


def _own_basetemp(config):
    """A root for the worker's tmp_path folders of its own, which it removes when it ends. Forked from a parent
    that had not made one, each worker made a numbered folder under the system's temporary folder, and
    os._exit skips pytest's removal of old ones: this session's runs left 77 GB there (every gans mutant's
    trained GANs and checkpoints) and filled the disk. What a worker stopped from outside leaves goes with the
    target's scratch copy."""
    path = os.path.abspath(os.path.join(TMP, str(os.getpid())))
    os.makedirs(TMP, exist_ok=True)  # pytest makes the root itself, but not its parent
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's tmp_path_factory, made at configure
    if factory is not None:
        factory._given_basetemp, factory._basetemp = Path(path), None
    return path


def _run_collected(tests, mutant_name):
    """Run the collected items of `tests` in this (forked) worker; None where one is not in the collection."""
    items = [_collected["items"].get(test) or _collected["loose"].get(test.replace("\\", "")) for test in tests]
    if not items or None in items:
        return None
    session = _collected["session"]
    config = session.config
    os.chdir("mutants")
    # The parent's global capture shares its temporary files with every forked worker: a fresh one here.
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
        capture.start_global_capturing()
        capture.suspend_global_capture()
    seconds = {item.nodeid: state().duration_by_test.get(test, 0.0) for item, test in zip(items, tests)}
    scratch = _own_basetemp(config)
    config.pluginmanager.register(_TestTimer(seconds, scratch), "mutmut-session-timer")
    try:
        with open(_killer_file(mutant_name)) as record:
            killer = record.read()
    except OSError:  # no mutant of this function has been killed yet
        killer = None
    config.pluginmanager.register(_KillRecorder(mutant_name), "mutmut-session-kills")
    session.items = _order.ordered(items, killer, seconds, _collected["fixtures"])
    session.testscollected = len(session.items)
    try:
        config.hook.pytest_runtestloop(session=session)
    except (session.Failed, session.Interrupted):  # -x: the first failure stops the loop
        pass
    except KeyboardInterrupt:
        return 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # the last test's limit must not end the worker's exit
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if session.testsfailed else 0


_mutmut_run_tests = PytestRunner.run_tests


def run_tests(self, *, mutant_name, tests):
    if mutant_name is not None and "session" in _collected:
        code = _run_collected(list(tests), mutant_name)
        if code is not None:
            return code
        if os.environ.get("MUTMUT_SESSION_FALLBACKS"):  # tests/mutation/mutants.py counts them
            with open(os.environ["MUTMUT_SESSION_FALLBACKS"], "a") as record:
                record.write(mutant_name + "\n")
    return _mutmut_run_tests(self, mutant_name=mutant_name, tests=tests)


_mutmut_startup = ForkRunner.startup


def startup(self):
    os.makedirs(os.path.join("mutants", KILLERS), exist_ok=True)
    _collect_once(self.test_runner)
    _mutmut_startup(self)  # gc.freeze(): the collection is shared with the workers, not copied


PytestRunner.run_tests = run_tests
ForkRunner.startup = startup
ForkRunner.run_clean_tests = lambda self, tests: 0
ForkRunner.collect_stats = collect_stats
ForkRunner.run_forced_fail = lambda self: run_in_fork(self.test_runner.run_forced_fail)

if __name__ == "__main__":
    cli()
