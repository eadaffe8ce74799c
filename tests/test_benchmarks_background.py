"""benchmarks.background.Busy: busy processes that run for a block and are gone after it, however it
ends (normally, an exception, Ctrl-C), and that exit by themselves when their parent is killed outright."""
import os
import subprocess
import sys
import time

import pytest

from benchmarks.background import Busy
from helpers_benchmarks import ROOT


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc to see the processes")


@pytest.mark.parametrize("kind", ["python", "numpy"])
def test_the_processes_spin_for_the_block_and_are_gone_after(kind):
    with Busy(2, kind) as busy:
        pids = [process.pid for process in busy.processes]
        assert len(pids) == 2 and busy.alive() == 2 and all(_running(pid) for pid in pids)
    assert busy.alive() == 0 and not any(_running(pid) for pid in pids)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_exception_or_ctrl_c_kills_them_too(error):
    with pytest.raises(error):
        with Busy(1) as busy:
            pid = busy.processes[0].pid
            raise error()
    assert not _running(pid)


def test_none_asked_starts_none():
    with Busy(0) as busy:
        assert busy.processes == [] and busy.alive() == 0


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'java'"):
        Busy(1, "java")


def test_a_parent_killed_outright_leaves_none_behind():
    # The parent starts one and dies with no cleanup at all (os._exit, as SIGKILL would); the child notices.
    script = ("import os, sys; from benchmarks.background import Busy; busy = Busy(1).__enter__(); "
              "print(busy.processes[0].pid, flush=True); os._exit(0)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)
