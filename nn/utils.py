"""Gradient clipping, as torch.nn.utils: ``nn.utils.clip_grad_norm_`` and ``nn.utils.clip_grad_value_``.

Both run between the backward and the optimizer's step, on the gradients the backward wrote:

    model.backward(loss.backward())
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

A parameter without a gradient (None since ``zero_grad()``) is skipped, as torch skips it.
"""
import math
import numbers
import types

from . import backend
from .arguments import warn
from .module import Parameter


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale every gradient in place so that all of them together, as one vector, have a norm of at most
    ``max_norm``; returns that norm before the scaling (a 0-d array), as torch's.

        n_p   = ||grad_p||_q                   q = norm_type (inf: max |grad_p|)
        total = ||(n_1, n_2, ..., n_P)||_q     the norm of all gradients laid end to end
        c     = min(1, max_norm / (total + 1e-6))
        grad_p = c grad_p                      (c = 1: the gradients stay as they are)

    ``foreach`` is torch's switch between two loops with the same result; this is the one loop here.
    """
    gradients = _gradients(parameters, "clip_grad_norm_")
    if isinstance(norm_type, str) and norm_type.strip().lower() in ("inf", "-inf"):  # torch's 'inf'
        norm_type = float(norm_type)
    max_norm = _number(max_norm, "max_norm", "clip_grad_norm_")
    norm_type = _number(norm_type, "norm_type", "clip_grad_norm_")
    if foreach is not None and not isinstance(foreach, bool):
        raise TypeError(f"clip_grad_norm_: foreach must be None, True or False, got {foreach!r}")
    if not gradients:
        return backend.array_module("cpu").asarray(0.0, dtype="float32")  # torch.tensor(0.0)
    xp = backend.get_array_module(gradients[0])
    # a 0-d array (NumPy's reductions give scalars): the same type whether or not a gradient was there
    total = xp.asarray(_norm(xp, xp.stack([_norm(xp, gradient, norm_type) for gradient in gradients]), norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the gradients' total norm of order {norm_type} is {float(total)}, so "
                           "they cannot be clipped; find the non-finite gradient, or pass error_if_nonfinite=False "
                           "to scale anyway")
    coefficient = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for gradient in gradients:
        gradient *= coefficient
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place into [-clip_value, clip_value]; returns None, as torch's."""
    gradients = _gradients(parameters, "clip_grad_value_")
    clip_value = _number(clip_value, "clip_value", "clip_grad_value_")
    if foreach is not None and not isinstance(foreach, bool):
        raise TypeError(f"clip_grad_value_: foreach must be None, True or False, got {foreach!r}")
    for gradient in gradients:
        backend.get_array_module(gradient).clip(gradient, -clip_value, clip_value, out=gradient)


def _norm(xp, values, order):
    """||values||_order over all elements: inf the largest |v|, -inf the smallest, 0 the count of non-zeros."""
    magnitudes = xp.abs(values)
    if order == math.inf:
        return magnitudes.max()
    if order == -math.inf:
        return magnitudes.min()
    if order == 0:
        return (magnitudes != 0).sum().astype(values.dtype)
    if order == 2:
        return xp.sqrt((magnitudes * magnitudes).sum())
    return (magnitudes ** order).sum() ** (1.0 / order)


def _gradients(parameters, where):
    """The gradients of the parameters that have one; anything that is not an nn.Parameter is refused. An
    empty generator is warned about, as torch's clip_grad_norm_ warns: most often it is one already walked."""
    generator = isinstance(parameters, types.GeneratorType)
    parameters = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    if generator and not parameters:
        warn(f"{where}: parameters is an empty generator (one already walked, such as the one an optimizer was "
             "built from), so nothing is clipped; pass model.parameters(), a list")
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, Parameter):
            kind = type(parameter)
            raise TypeError(f"{where}: item {index} is a {kind.__module__}.{kind.__qualname__}, not an nn.Parameter; "
                            "pass model.parameters()")
    return [parameter.grad for parameter in parameters if parameter.grad is not None]


def _number(value, name, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)
