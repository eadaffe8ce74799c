"""Ctrl-C or SIGTERM during a file write waits for the file (runfolder/folder.py, signals_held)."""
import os
import signal
import time

import numpy
import pytest

from runfolder.folder import atomic_write, signals_held


def _signal_self(number):
    os.kill(os.getpid(), number)
    time.sleep(0.05)  # let Python run the handler


def test_ctrl_c_inside_the_block_is_raised_after_it():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            _signal_self(signal.SIGINT)
            reached.append("after the signal")
    assert reached == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_with_a_python_handler_waits_too_and_the_handler_is_restored():
    def terminate(number, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        reached = []
        with pytest.raises(KeyboardInterrupt):
            with signals_held():
                _signal_self(signal.SIGTERM)
                reached.append("after the signal")
        assert reached == ["after the signal"] and signal.getsignal(signal.SIGTERM) is terminate
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_no_signal_no_interrupt():
    with signals_held():
        value = 1
    assert value == 1 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_checkpoint_interrupted_while_numpy_writes_it_is_whole_and_the_interrupt_is_a_keyboard_interrupt(
        tmp_path, monkeypatch):
    """Without signals_held, Ctrl-C inside numpy.savez's zip writer came out as a ValueError."""
    path = tmp_path / "checkpoint.npz"
    arrays = {"weight": numpy.arange(200_000, dtype=numpy.float64)}
    real_write_array = numpy.lib.format.write_array

    def write_array_then_interrupt(*args, **kwargs):
        _signal_self(signal.SIGINT)  # mid-write: the zip member is open
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(numpy.lib.format, "write_array", write_array_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, lambda handle: numpy.savez(handle, **arrays))
    monkeypatch.undo()
    with numpy.load(path) as archive:
        numpy.testing.assert_array_equal(archive["weight"], arrays["weight"])
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
