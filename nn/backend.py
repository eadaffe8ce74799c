"""The one place that knows NumPy from CuPy.

Layer code never names an array library. It asks for the module of the array it was given,

    xp = get_array_module(x)

and calls ``xp.exp``, ``xp.matmul`` and so on, so the same line runs on the CPU (NumPy) and the
GPU (CuPy). CuPy is imported only when a GPU is asked for or a CuPy array is met, so
``import nn`` never pulls it in.

Devices are named ``"cpu"`` and ``"gpu"`` (``"cuda"`` is accepted as a synonym for ``"gpu"``).
"""
import contextlib
import importlib

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
    except TypeError:
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
    """Raise a clear error when an input lives on another device than the layer's parameters."""
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


def ignore_divide_by_zero(array):
    """A context in which log(0) = -inf is expected, not warned about (NumPy warns; CuPy never does)."""
    if device_of(array) == "gpu":
        return contextlib.nullcontext()
    return numpy.errstate(divide="ignore")
