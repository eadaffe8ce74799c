"""nn.fast.floats where the processor switch cannot be reached (not x86-64 Linux with glibc, or a C library
without fegetenv): set_flush_denormal and flush_denormal then say False, as torch's do, and change
nothing. Simulated here by hiding the platform or the library."""
import pytest

from nn.fast import floats


@pytest.fixture
def fresh_lookup():
    floats._fenv_functions.cache_clear()
    yield
    floats._fenv_functions.cache_clear()


@pytest.mark.parametrize("system, machine", [("darwin", "x86_64"), ("win32", "AMD64"), ("linux", "aarch64")])
def test_other_systems_and_processors_have_no_switch(system, machine, fresh_lookup, monkeypatch):
    monkeypatch.setattr(floats.sys, "platform", system)
    monkeypatch.setattr(floats.platform, "machine", lambda: machine)
    assert floats._fenv_functions() is None
    assert floats.set_flush_denormal(True) is False and floats.flush_denormal() is False


def test_a_c_library_without_fegetenv_is_passed_over_for_the_next(fresh_lookup, monkeypatch):
    real = floats.ctypes.CDLL
    tried = []

    def library(name):
        tried.append(name)
        if len(tried) == 1:  # the first candidate cannot be opened; the next has the functions
            raise OSError(f"{name}: cannot open shared object file")
        return real(name)

    monkeypatch.setattr(floats.ctypes, "CDLL", library)
    functions = floats._fenv_functions()
    assert len(tried) == 2 and tried[1] == "libm.so.6" and functions is not None


def test_no_library_at_all_means_no_switch(fresh_lookup, monkeypatch):
    def library(name):
        raise OSError("no C library")

    monkeypatch.setattr(floats.ctypes, "CDLL", library)
    assert floats._fenv_functions() is None
    assert floats.set_flush_denormal(True) is False and floats.flush_denormal() is False


def test_a_failing_fegetenv_means_no_switch(monkeypatch):
    monkeypatch.setattr(floats, "_fenv_functions", lambda: (lambda environment: 1, lambda environment: 0))
    assert floats._mxcsr() is None
    assert floats.set_flush_denormal(True) is False and floats.flush_denormal() is False
