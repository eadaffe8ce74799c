"""Busy background processes for a benchmark under load: ``with Busy(n): ...``.

Each is a separate Python process spinning a pure-Python loop on one core (``kind="python"``), or a
NumPy loop of small elementwise passes (``kind="numpy"``, one BLAS/OpenMP thread), for as long as the
``with`` block runs: what a machine looks like when another program is using its cores. They are
killed when the block ends, whatever ends it (an exception, Ctrl-C); and each one checks every few
milliseconds that its parent is still alive and exits when it is not, so that even a benchmark
killed outright (SIGKILL) leaves none behind.
"""
import os
import subprocess
import sys
import time

KINDS = ("python", "numpy")

# The child's program: argv[1] the parent's pid, argv[2] the kind. It spins until its parent is gone.
_CHILD = r"""
import os, sys
parent, kind = int(sys.argv[1]), sys.argv[2]
if kind == "numpy":
    import numpy
    a = numpy.random.default_rng(0).random(20_000)
    def work():
        for _ in range(50):
            numpy.multiply(a, 1.0000001, out=a)
            numpy.sqrt(a, out=a)
else:
    def work():
        total = 0
        for i in range(20_000):
            total += i * i
print("ready", flush=True)
while os.getppid() == parent:
    work()
"""


class Busy:
    """``count`` busy processes for the duration of a ``with`` block (none when ``count`` is 0)."""

    def __init__(self, count, kind="python"):
        if kind not in KINDS:
            raise ValueError(f"Busy: kind {kind!r} is not one of {', '.join(KINDS)}")
        self.count, self.kind, self.processes = count, kind, []

    def __enter__(self):
        environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        try:
            for _ in range(self.count):
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-c", _CHILD, str(os.getpid()), self.kind], env=environment,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
            for process in self.processes:  # each is spinning before the timed work starts
                if process.stdout.readline().strip() != b"ready":
                    raise RuntimeError(f"a busy background process exited at start (status {process.poll()})")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exception):
        self.stop()
        return False

    def alive(self):
        """How many of the processes are still running."""
        return sum(process.poll() is None for process in self.processes)

    def stop(self):
        """Kill every process this started and wait for it (safe to call twice)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            if process.stdout is not None:
                process.stdout.close()
        self.processes = [process for process in self.processes if process.poll() is None]
