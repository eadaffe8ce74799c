"""The one place that knows NumPy from CuPy.

Layer code never names an array library. It asks for the module of the array it was given,

    xp = get_array_module(x)

and calls ``xp.exp``, ``xp.matmul`` and so on, so the same line runs on the CPU (NumPy) and the
GPU (CuPy). CuPy is imported only when a GPU is asked for or a CuPy array is met, so
``import nn`` never pulls it in.

Devices are named ``"cpu"`` and ``"gpu"`` (``"cuda"`` is accepted as a synonym for ``"gpu"``).
"""
import contextlib
import ctypes
import ctypes.util
import importlib
import json
import os
import sys

import numpy

DEVICES = ("cpu", "gpu")
DTYPES = ("float32", "float64")
DEFAULT_DTYPE = numpy.dtype("float32")

_INSTALL_HINT = "install the GPU extra with: pip install -e .[gpu]  (or the cupy-cudaXXx wheel for your CUDA)"


class BackendError(RuntimeError):
    """The GPU was asked for but cannot be used, or arrays of two devices were mixed."""


def _cupy():
    """Import CuPy and check a GPU is visible; raise one clear error saying which is missing."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        raise BackendError(f"device 'gpu' needs CuPy, which is not installed ({error}); {_INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy raises its own CUDARuntimeError, driver errors, ...
        raise BackendError(f"device 'gpu': CuPy is installed but no CUDA GPU is usable ({error}); "
                           "run on a machine with an NVIDIA GPU and driver, or use device='cpu'") from None
    if count == 0:
        raise BackendError("device 'gpu': CuPy is installed but no CUDA GPU is visible; "
                           "check CUDA_VISIBLE_DEVICES and the driver, or use device='cpu'")
    return cupy


def gpu_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        _cupy()
    except BackendError:
        return False
    return True


def normalize_device(device):
    """'cpu' | 'gpu' (also 'cuda', 'cuda:0') -> 'cpu' | 'gpu'; anything else is a ValueError."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu"
    if name in ("gpu", "cuda") or name.startswith("cuda:"):
        return "gpu"
    raise ValueError(f"unknown device {device!r}: use one of {DEVICES}")


def normalize_dtype(dtype):
    """'float32' | 'float64' (or the NumPy dtypes) -> numpy.dtype; other dtypes are a ValueError."""
    try:
        resolved = numpy.dtype(dtype)
    except (TypeError, ValueError):  # ValueError: a string NumPy reads as a broken field list ("f4, f4 (", a Parameter's text)
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}: use one of {DTYPES}")
    return resolved


def array_module(device):
    """The array library of a device: numpy for 'cpu', cupy for 'gpu'."""
    return numpy if normalize_device(device) == "cpu" else _cupy()


def get_array_module(array):
    """The array library an array belongs to (numpy, cupy, or the array's own namespace)."""
    kind = type(array)
    if kind is numpy.ndarray:  # the common case first: no attribute lookups on the hot path
        return numpy
    if kind.__module__.partition(".")[0] == "cupy":
        return importlib.import_module("cupy")
    namespace = getattr(array, "__array_namespace__", None)
    if namespace is not None and not isinstance(array, numpy.generic):
        return namespace()
    return numpy


def device_of(array):
    """'gpu' for a CuPy array, else 'cpu'."""
    return "gpu" if type(array).__module__.partition(".")[0] == "cupy" else "cpu"


def to_device(array, device):
    """Copy an array to 'cpu' (a NumPy array) or 'gpu' (a CuPy array); no copy when already there."""
    if normalize_device(device) == "cpu":
        return to_numpy(array)
    cupy = _cupy()
    return cupy.asarray(array)


def to_numpy(array):
    """A NumPy array with the values of any array (CuPy arrays are copied from the GPU)."""
    if device_of(array) == "gpu":
        return array.get()
    return numpy.asarray(array)


def check_same_device(layer, expected, given):
    """Raise a clear error when an input lives on another device than the layer's parameters
    (``layer`` is the module or a name; it is formatted only when the error is raised)."""
    if device_of(expected) != device_of(given):
        raise BackendError(
            f"{layer}: input is on {device_of(given)!r} but the parameters are on {device_of(expected)!r}; "
            f"move the input with nn.to_device(x, {device_of(expected)!r}) or the model with "
            f".to({device_of(given)!r})")


# --- random numbers -------------------------------------------------------------------------------
# One generator per device, reseeded together by manual_seed. Parameters are always initialized
# from the CPU generator, so a model has the same initial weights whichever device it moves to.
_seed = None
_generators = {}


def manual_seed(seed):
    """Seed the generators of every device (like torch.manual_seed)."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def default_generator(device="cpu"):
    """The shared, seedable random generator of a device (numpy/cupy ``Generator``)."""
    device = normalize_device(device)
    if device not in _generators:
        _generators[device] = new_generator(_seed, device)
    return _generators[device]


def new_generator(seed, device="cpu"):
    """A fresh generator for a device; the same seed gives the same stream on that device."""
    if normalize_device(device) == "cpu":
        return numpy.random.default_rng(seed)
    cupy = _cupy()
    return cupy.random.default_rng(seed)


class SeededGenerators:
    """A module's own random stream: one generator per device, each created from ``seed`` when
    first asked for (dropout masks, input noise, a VAE's eps). The CPU generator's state can be
    saved as JSON and restored, so a run resumed from a checkpoint draws the same numbers."""

    def __init__(self, seed=None):
        self.seed = seed
        self._by_device = {}

    def on(self, device):
        device = normalize_device(device)
        if device not in self._by_device:
            self._by_device[device] = new_generator(self.seed, device)
        return self._by_device[device]

    def state(self):
        """The CPU generator's state as a JSON string; "null" when it has drawn nothing yet."""
        generator = self._by_device.get("cpu")
        return json.dumps(generator.bit_generator.state if generator is not None else None)

    def set_state(self, text):
        state = json.loads(text)
        if state is not None:
            generator = new_generator(self.seed, "cpu")
            generator.bit_generator.state = state
            self._by_device["cpu"] = generator


def compile_elementwise(in_params, out_params, operation, name):
    """A fused CuPy elementwise kernel (one GPU launch for a whole update rule)."""
    cupy = _cupy()
    return cupy.ElementwiseKernel(in_params, out_params, operation, name)


def erf(x):
    """The error function on either backend (NumPy itself has none)."""
    if device_of(x) == "gpu":
        special = importlib.import_module("cupyx.scipy.special")
    else:
        special = importlib.import_module("scipy.special")
    return special.erf(x)


def expected_infinities(array):
    """A context in which infinities are expected results, not warned about: log(0) = -inf and
    exp(1000) = inf (NumPy warns; CuPy never does). Invalid operations (NaN) still warn."""
    if device_of(array) == "gpu":
        return contextlib.nullcontext()
    return numpy.errstate(divide="ignore", over="ignore")


# --- memory -----------------------------------------------------------------------------------
_allocator_tuned = False


def keep_freed_memory():
    """Ask glibc to keep freed large blocks for reuse instead of returning them to the system.

    A training step allocates activations of a few MB and frees them again. By default glibc
    serves such blocks with fresh mmaps, so every step page-faults them in anew, which costs
    about ten times the arithmetic on them (measured: 1.6 ms against 0.16 ms for a 6 MB add).
    Raising the mmap and trim thresholds lets the next step reuse the same memory. It applies to
    the whole process (the heap then stays at its peak size), so nothing in nn calls it: a program
    that trains (the command line, the benchmarks) calls it once, explicitly. Returns True when the
    setting is in effect; False where there is nothing to tune (not Linux with glibc) or when the
    environment variable NN_KEEP_FREED_MEMORY is 0.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if os.environ.get("NN_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    if not mallopt(m_mmap_threshold, 1 << 30):  # older glibc caps the threshold at 32 MiB
        mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, (1 << 31) - 1)
    _allocator_tuned = True
    return True
