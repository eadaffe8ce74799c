"""Checks shared by activations and losses: what a user can pass wrong, refused in one line.

    as_array(x)                          NumPy scalars become 0-d arrays (torch takes 0-d tensors)
    checked_gradient(module, g, saved)   the upstream gradient must have the output's shape: never broadcast
    loss_array(loss, role, value)        a loss input that is an array of real numbers, or a clear error
    constant_array(owner, name, value)   a constant (a loss's weight) as an array, checked once
"""
import sys

import numpy

from . import backend
from .layers import _require_forward


def as_array(x):
    """``numpy.float64(0.3)`` as a 0-d array; arrays unchanged. (Ufuncs with ``out=`` need arrays.)"""
    return numpy.asarray(x) if isinstance(x, numpy.generic) else x


def checked_gradient(module, grad_output, saved):
    """(saved, grad_output) once backward may run: forward was called and dL/dy has y's shape.

    ``saved`` is the array forward cached, of the output's shape. A number is taken as a 0-d gradient.
    """
    if saved is None:
        _require_forward(module, saved)
    if getattr(grad_output, "shape", None) != saved.shape or isinstance(grad_output, numpy.generic):
        if isinstance(grad_output, (numpy.generic, int, float)):
            grad_output = backend.get_array_module(saved).asarray(grad_output, dtype=saved.dtype)
        shape = getattr(grad_output, "shape", None)
        if shape is None or tuple(shape) != tuple(saved.shape):
            given = tuple(shape) if shape is not None else type(grad_output).__name__
            raise ValueError(f"{type(module).__name__}.backward: grad_output has shape {given} but the output has "
                             f"{tuple(saved.shape)}; pass dL/dy with exactly the output's shape "
                             "(it is never broadcast)")
    return saved, grad_output


_ENGINE_FLOATS = (numpy.float32, numpy.float64)  # backend.DTYPES; dtype.name costs microseconds in NumPy 2


def caller_stacklevel():
    """warnings.warn's stacklevel, from the function that calls this one, that names the first line
    outside the nn package: the user's, whether a module is called as module(x) or module.forward(x)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "nn":
        frame, level = frame.f_back, level + 1
    return level


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
