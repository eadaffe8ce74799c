"""Every argument check of the engine, in one place, so that the same wrong value gets the same error
in every class: a wrong type is a TypeError, a value out of range a ValueError, each one line that
names the value and the fix. Layers call these in their constructors; the checks of what a call
passes at run time (inputs, gradients) are the gate's, in nn/module.py, which words them with the
helpers at the end of this file (``input_dtype_error``) so that every layer says the same.
"""
import math
import numbers
import sys
import warnings

import numpy

from . import backend


def positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def integer(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {value!r}")
    return int(value)


def flag(owner, name, value):
    """True or False only: a misplaced argument (a dtype string, a seed) must not pass as truthy."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def dimension(owner, name, dim, ndim, shape):
    """A dimension index in [-ndim, ndim) as a non-negative one; torch's IndexError otherwise."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{owner}: {name}={dim} is out of range for an input of shape {tuple(shape)} "
                         f"(expected a dimension in [{-ndim}, {ndim - 1}])")
    return dim % ndim


def factory_options(owner, device, dtype):
    """torch's ``device=None, dtype=None`` -> ('cpu' | 'gpu', numpy dtype), refusing anything else by name.

    torch.device and torch.dtype objects are accepted by their names (torch.float64 -> 'float64'), so
    ported code runs unchanged; the engine itself never imports torch.
    """
    from_torch = [type(value).__module__.partition(".")[0] == "torch" for value in (device, dtype)]
    resolved_device = "cpu" if device is None else None
    if isinstance(device, str) or from_torch[0]:
        try:
            resolved_device = backend.normalize_device(str(device))
        except ValueError:
            pass
    if resolved_device is None:
        raise ValueError(f"{owner}: device must be None, 'cpu' or 'gpu' ('cuda'), got {device!r}")
    if dtype is None:
        return resolved_device, backend.DEFAULT_DTYPE
    try:
        return resolved_device, backend.normalize_dtype(str(dtype).replace("torch.", "") if from_torch[1] else dtype)
    except ValueError:
        raise ValueError(f"{owner}: unsupported dtype {dtype!r}: use None, 'float32' or 'float64'") from None


def new_parameter(values, device, dtype):
    """A Parameter holding a CPU array (initialized from the CPU generator) cast and moved."""
    from .module import Parameter  # here, not at the top: module.py takes input_dtype_error from this file
    return Parameter(backend.to_device(values.astype(dtype), device))


def generator(owner, rng):
    """``rng`` or the seedable default CPU generator; anything without ``uniform`` refused by name."""
    if rng is None:
        return backend.default_generator("cpu")
    if not hasattr(rng, "uniform"):
        raise TypeError(f"{owner}: rng must be a numpy.random.Generator, got {type(rng).__name__} {rng!r}")
    return rng


def as_array(x):
    """``numpy.float64(0.3)`` as a 0-d array; arrays unchanged. (Ufuncs with ``out=`` need arrays.)"""
    return numpy.asarray(x) if isinstance(x, numpy.generic) else x


_ENGINE_FLOATS = (numpy.float32, numpy.float64)  # backend.DTYPES; dtype.name costs microseconds in NumPy 2


def warn(message):
    """A UserWarning naming the first line outside the nn package: the user's, whether a module is called
    as module(x) or module.forward(x), however deep in nn the warning is raised."""
    frame, level = sys._getframe(0), 1  # stacklevel 1 names this line; each frame of nn up the stack adds one
    while frame is not None and str(frame.f_globals.get("__name__")).partition(".")[0] == "nn":  # exec'd code
        frame, level = frame.f_back, level + 1                                                   # may have none
    warnings.warn(message, stacklevel=level)


def _describe(value):
    kind = type(value)
    if kind.__module__.partition(".")[0] == "torch":
        return "a torch.Tensor", "convert it with .detach().cpu().numpy()"
    if isinstance(value, (list, tuple)):
        return f"a Python {kind.__name__}", "convert it with numpy.asarray(value, dtype='float32')"
    return f"a {kind.__name__}", "pass a NumPy (or CuPy) array"


def loss_array(loss, role, value, integers=False):
    """``value`` as an array a loss can use, or a one-line error naming it and the fix.

    role: "prediction", "target", ...   integers: whether an integer array is allowed (class indices).
    Floating point arrays must be float32 or float64 (the engine's dtypes).
    """
    if type(value) is numpy.ndarray and value.dtype.type in _ENGINE_FLOATS:  # the common case, checked first
        return value
    name = type(loss).__name__
    value = as_array(value)
    if not hasattr(value, "dtype") or not hasattr(value, "shape") or type(value).__module__.startswith("torch"):
        what, fix = _describe(value)
        raise TypeError(f"{name}: the {role} is {what}, not an array; {fix}")
    kind = numpy.dtype(value.dtype).kind
    if value.dtype.type in _ENGINE_FLOATS:
        return value
    if integers and kind in "iu":
        return value
    wanted = "float32/float64 (or integer class indices)" if integers else "float32 or float64"
    raise TypeError(f"{name}: the {role} has dtype {value.dtype}, but losses need {wanted}; "
                    f"convert it with .astype('float32')")


def constant_array(owner, name, value, ndim=None):
    """A constant such as a loss's ``weight``: None, or a real-valued NumPy/CuPy array (lists are taken)."""
    if value is None:
        return None
    if type(value).__module__.partition(".")[0] == "torch":
        raise TypeError(f"{owner}: {name} is a torch.Tensor; pass an array: {name}.detach().cpu().numpy()")
    if not hasattr(value, "dtype"):
        value = numpy.asarray(value, dtype=numpy.float64) if _is_numbers(value) else value
    if not hasattr(value, "dtype") or numpy.dtype(value.dtype).kind not in "fiu":
        raise TypeError(f"{owner}: {name} must be an array of real numbers, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{owner}: {name} must be {ndim}-D (one value per class), got shape {tuple(value.shape)}")
    return value


def _is_numbers(value):
    try:
        return numpy.asarray(value).dtype.kind in "fiu"
    except (TypeError, ValueError):
        return False


def on_device_of(constant, x):
    """A constant array on x's device and in x's dtype (weights are given once, used on any backend)."""
    xp = backend.get_array_module(x)
    return xp.asarray(backend.to_device(constant, backend.device_of(x)), dtype=x.dtype)


def input_dtype_error(module, dtype, held_dtype, held="the weights are"):
    """The TypeError for an input of another dtype than the layer's weights (or, ``held``, its state).

    The fix offered is the one that works: ``x.astype(...)`` always; moving the model to the input's
    dtype only when the engine has that dtype (float32, float64): ``.to(dtype='int64')`` is refused."""
    fix = f"convert the input with x.astype('{held_dtype}')"
    if numpy.dtype(dtype).name in backend.DTYPES:
        fix += f" or the model with .to(dtype='{dtype}')"
    else:
        fix += f" (the engine computes in {' or '.join(backend.DTYPES)} only)"
    return TypeError(f"{module!r}: input is {dtype} but {held} {held_dtype}; {fix}")
