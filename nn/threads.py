"""Elementwise work on more than one core: the same NumPy passes over slices of a buffer, at once.

NumPy lets go of Python's global lock inside a ufunc, so two threads that each run ``m *= beta1``
(and the rest of a rule) over half of a flat buffer use two cores. Each element sees exactly the
operations it saw before, so the results are the same bit for bit; only the time changes. A small
training step needs this: at batch 32 the matrix products are too small for BLAS to split, and the
optimizer's dozen passes over every parameter are a third of the step, run on one core while the
other waits.

    nn.set_num_threads(2)      # the optimizers split their passes over two threads (CPU only)
    nn.get_num_threads()       # 1 until set: one thread, nothing started

``run_sliced(function, size)`` calls ``function(slice)`` for ``get_num_threads()`` contiguous
slices covering ``range(size)``: the first on the calling thread, the others on worker threads
started on first use (daemon threads, each waiting on its own queue; a forked child starts its own).
Each worker flushes subnormals to zero exactly when the calling thread does (``nn.set_flush_denormal``
is a setting of one thread), so every slice is computed under the same rules.
Buffers under ``MIN_SLICE`` elements per thread run whole on the calling thread: handing work to a
thread costs some microseconds.
"""
import os
import queue
import threading

from . import floats

MIN_SLICE = 32_768

_num_threads = 1
_workers = []


def set_num_threads(num_threads):
    """Use ``num_threads`` threads (1 or more) for the optimizers' elementwise passes on the CPU."""
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"set_num_threads: num_threads={num_threads!r}; give a whole number of at least 1 "
                         f"(this machine has {os.cpu_count()} cores)")
    global _num_threads
    _num_threads = num_threads


def get_num_threads():
    return _num_threads


class _Worker:
    """A daemon thread that runs the calls put on its queue, one at a time, and reports each."""

    def __init__(self):
        self.calls, self.results = queue.SimpleQueue(), queue.SimpleQueue()
        threading.Thread(target=self._serve, name="nn-worker", daemon=True).start()

    def _serve(self):
        flushing = floats.flush_denormal()
        while True:
            function, argument, flush = self.calls.get()
            try:
                if flush != flushing:
                    floats.set_flush_denormal(flush)
                    flushing = flush
                function(argument)
            except BaseException as error:  # handed to the caller, which raises it
                self.results.put(error)
            else:
                self.results.put(None)


def _forget_workers():
    _workers.clear()  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_workers)


def run_sliced(function, size):
    """function(slice) over contiguous slices covering range(size), one per thread, all finished on return."""
    parts = min(_num_threads, size // MIN_SLICE)
    if parts <= 1:
        function(slice(0, size))
        return
    while len(_workers) < parts - 1:
        _workers.append(_Worker())
    bounds = [size * index // parts for index in range(parts + 1)]
    flush = floats.flush_denormal()
    for worker, start, end in zip(_workers, bounds[1:-1], bounds[2:]):
        worker.calls.put((function, slice(start, end), flush))
    errors = []
    try:
        function(slice(bounds[0], bounds[1]))
    except BaseException as error:
        errors.append(error)
    errors += [error for error in (worker.results.get() for worker in _workers[:parts - 1]) if error is not None]
    if errors:
        raise errors[0]
