"""Subnormal floats, and the processor switch that keeps them out of the arithmetic.

A float below the smallest normal number (float32: 1.18e-38, float64: 2.23e-308) is *subnormal*.
x86 processors compute with subnormals in microcode, tens of times slower than with normal
numbers. Training makes them: Adam's running averages m and v of a parameter whose gradient has
become zero (a dead ReLU unit) shrink by beta1 and beta2 every step and pass through the subnormal
range, and from then on every pass over the optimizer's buffers slows down (measured in
benchmarks/subnormal.py).

``set_flush_denormal(True)`` sets the two bits of the SSE control register MXCSR that make the
processor treat subnormal inputs as zero (DAZ) and write zero where a result would be subnormal
(FTZ), as ``torch.set_flush_denormal`` does. What it changes: every float result or input whose
magnitude is below the smallest normal number becomes 0 (with its sign); all other results are
bit for bit the same. In training that means: an m or v of a dead unit ends at 0, or stops
decaying once its per-step decrement would be subnormal (Adam's m += (1 - beta1)(g - m), as torch
computes it, stops below tiny / (1 - beta1), 1.2e-37 in float32), instead of creeping on through
the subnormals; the step such an m makes, lr m_hat / (sqrt(v_hat) + eps), is below 1e-28 and
vanishes in the rounding of any parameter above 1e-20 (tests/test_nn_floats.py checks both). It
applies to the calling thread only (NumPy's elementwise operations run there; BLAS worker threads
keep their own setting) and does nothing on the GPU, whose float32 units handle subnormals at
full speed. The command line trains with it on; in Python it is off unless asked for.
"""
import contextlib
import ctypes
import ctypes.util
import functools
import platform
import sys

_FLUSH_TO_ZERO, _DENORMALS_ARE_ZERO = 0x8000, 0x0040
# glibc's fenv_t on x86-64: the 28-byte x87 environment, then the 4-byte SSE register MXCSR.
_FENV_SIZE, _MXCSR_OFFSET = 32, 28


@functools.lru_cache(maxsize=None)  # find_library runs ldconfig: a millisecond, once is enough
def _fenv_functions():
    """glibc's (fegetenv, fesetenv), or None where this module cannot set MXCSR."""
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    for name in (ctypes.util.find_library("m"), "libm.so.6", None):
        try:
            library = ctypes.CDLL(name)
            return library.fegetenv, library.fesetenv
        except (OSError, AttributeError):
            continue
    return None


def _mxcsr():
    """(fenv_t buffer, its MXCSR as a ctypes uint32 view, fesetenv), or None where unsupported."""
    functions = _fenv_functions()
    if functions is None:
        return None
    fegetenv, fesetenv = functions
    environment = (ctypes.c_ubyte * _FENV_SIZE)()
    if fegetenv(environment) != 0:
        return None
    return environment, ctypes.c_uint32.from_buffer(environment, _MXCSR_OFFSET), fesetenv


def set_flush_denormal(mode):
    """Flush subnormal floats to zero on the calling thread (True) or compute with them (False).

    Returns True when the setting took effect, False where it is not supported (not x86-64 Linux
    with glibc), as torch.set_flush_denormal does.
    """
    found = _mxcsr()
    if found is None:
        return False
    environment, mxcsr, fesetenv = found
    bits = _FLUSH_TO_ZERO | _DENORMALS_ARE_ZERO
    mxcsr.value = (mxcsr.value | bits) if mode else (mxcsr.value & ~bits)
    return fesetenv(environment) == 0


def flush_denormal():
    """Whether subnormals are flushed to zero on the calling thread now (False where unsupported)."""
    found = _mxcsr()
    bits = _FLUSH_TO_ZERO | _DENORMALS_ARE_ZERO
    return found is not None and found[1].value & bits == bits


@contextlib.contextmanager
def flushing_denormals(mode=True):
    """``set_flush_denormal(mode)`` for the block, and the calling thread's setting as it was afterwards
    (a training run inside a program, or a test, leaves the caller's arithmetic as it found it)."""
    previous = flush_denormal()
    set_flush_denormal(mode)
    try:
        yield
    finally:
        set_flush_denormal(previous)
