"""Check a hand-written backward against central finite differences, in float64.

For a module f with output y and a random upstream gradient u, the scalar L = <u, f(x)> has
dL/dx = backward(u). Each component is compared with the central difference

    (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (mode="elementwise", e_i a unit vector)

or, in mode="directional", the derivative along random unit directions d,

    <dL/dx, d>  against  (L(x + eps d) - L(x - eps d)) / (2 eps)   (two forward passes each).

Every input the backward returns a gradient for, and every parameter, is checked. The module is
deep-copied and cast to float64 first, so the caller's model is untouched whatever its dtype.

A NaN or infinite derivative, analytic or numeric, fails the check (there is nothing to compare).

Usable in any pytest:  ``nn.gradcheck(my_layer, x)`` raises ``GradcheckError`` with the report.
"""
import copy
import math
from dataclasses import dataclass

import numpy

from . import backend
from .module import Module


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the finite differences; carries the report."""

    def __init__(self, report):
        super().__init__("gradient check failed:\n" + str(report))
        self.report = report


@dataclass
class TensorCheck:
    """The comparison for one tensor. relative_error = max|a - n| / max(max|a|, max|n|)."""
    name: str
    shape: tuple
    max_abs_error: float
    relative_error: float
    worst_index: tuple
    analytic_at_worst: float
    numeric_at_worst: float
    passed: bool

    def __str__(self):
        status = "ok  " if self.passed else "FAIL"
        return (f"{status} {self.name:<24} shape={self.shape!s:<14} max_abs={self.max_abs_error:.3e} "
                f"rel={self.relative_error:.3e} worst={self.worst_index} "
                f"analytic={self.analytic_at_worst:.6e} numeric={self.numeric_at_worst:.6e}")


@dataclass
class GradcheckReport:
    checks: list
    mode: str

    @property
    def passed(self):
        return all(check.passed for check in self.checks)

    def __getitem__(self, name):
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; have {[check.name for check in self.checks]}")

    def __str__(self):
        return f"gradcheck ({self.mode}):\n" + "\n".join("  " + str(check) for check in self.checks)


def gradcheck(module, inputs, *, eps=1e-6, rtol=1e-6, atol=1e-8, mode="elementwise", directions=4,
              seed=0, raise_on_failure=True):
    """Compare ``module.backward`` with finite differences over its inputs and every parameter.

    module:  an nn.Module (or any callable with a ``backward(grad_output)``) -- deep-copied, float64.
    inputs:  one array or a tuple of arrays; ``backward`` returns one gradient (for inputs[0], the
             rest are constants, as a loss's target) or a tuple with one entry (or None) per input.
    A tensor passes when relative_error <= rtol or max_abs_error <= atol.
    Returns a GradcheckReport; raises GradcheckError with it on failure unless raise_on_failure=False.
    Stochastic modules (Dropout in training mode) must be checked in eval mode.
    """
    if mode not in ("elementwise", "directional"):
        raise ValueError(f"gradcheck: mode must be 'elementwise' or 'directional', got {mode!r}")
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be a positive step, got {eps!r}")
    if mode == "directional" and (isinstance(directions, bool) or not isinstance(directions, int) or directions < 1):
        raise ValueError(f"gradcheck: directions must be a positive integer, got {directions!r}")
    if not callable(module) or not hasattr(module, "backward"):
        raise TypeError(f"gradcheck: {type(module).__name__} has no backward(); pass an nn.Module or an "
                        "object with __call__ and backward")
    module = copy.deepcopy(module)
    if isinstance(module, Module):
        module.to(dtype="float64")
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if not inputs:
        raise ValueError("gradcheck: give at least one input array")
    inputs = tuple(x.astype("float64", copy=True) for x in inputs)
    xp = backend.get_array_module(inputs[0])
    rng = numpy.random.default_rng(seed)

    def objective():
        # Fresh copies: a module with in-place forward must not corrupt the point we differentiate at.
        output = module(*(x.copy() for x in inputs))
        return float((output * upstream).sum())

    output = module(*(x.copy() for x in inputs))
    upstream = xp.asarray(rng.standard_normal(output.shape))
    # As torch's gradcheck: only what requires a gradient is checked (a frozen parameter's .grad is untouched).
    parameters = [(name, parameter) for name, parameter in module.named_parameters()
                  if parameter.requires_grad] if isinstance(module, Module) else []
    for _, parameter in parameters:
        parameter.grad = None
    input_grads = module.backward(upstream.copy())
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,) + (None,) * (len(inputs) - 1)

    tensors = [(f"input {index}", x, grad) for index, (x, grad) in enumerate(zip(inputs, input_grads))
               if grad is not None]
    tensors += [(name, parameter.data, parameter.grad.copy() if parameter.grad is not None else xp.zeros_like(parameter.data))
                for name, parameter in parameters]
    checks = []
    for name, array, analytic in tensors:
        if tuple(analytic.shape) != tuple(array.shape):
            raise ValueError(f"gradcheck: gradient of {name} has shape {tuple(analytic.shape)}, "
                             f"but the tensor has {tuple(array.shape)}")
        analytic = backend.to_numpy(analytic).astype(numpy.float64)
        if mode == "elementwise":
            numeric = _elementwise(objective, array, eps)
            checks.append(_compare(name, analytic, numeric, rtol, atol))
        else:
            checks.append(_directional(name, objective, array, analytic, eps, directions, rng, rtol, atol))
    report = GradcheckReport(checks, mode)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def _elementwise(objective, array, eps):
    numeric = numpy.empty(array.shape)
    for index in numpy.ndindex(*array.shape):
        original = float(array[index])
        array[index] = original + eps
        plus = objective()
        array[index] = original - eps
        minus = objective()
        array[index] = original
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric


def _compare(name, analytic, numeric, rtol, atol):
    error = numpy.abs(analytic - numeric)
    worst = numpy.unravel_index(numpy.argmax(error), error.shape) if error.size else ()
    max_abs = float(error.max()) if error.size else 0.0
    scale = max(float(numpy.abs(analytic).max(initial=0)), float(numpy.abs(numeric).max(initial=0)))
    relative = max_abs / scale if scale > 0 else 0.0
    return TensorCheck(name, tuple(analytic.shape), max_abs, relative, tuple(int(i) for i in worst),
                       float(analytic[worst]) if error.size else 0.0, float(numeric[worst]) if error.size else 0.0,
                       math.isfinite(max_abs) and (relative <= rtol or max_abs <= atol))


def _directional(name, objective, array, analytic, eps, directions, rng, rtol, atol):
    """Derivatives along random unit directions, errors relative to the largest directional derivative
    possible, |dL/dx| (or the largest numeric one, so an all-zero analytic gradient cannot pass)."""
    xp = backend.get_array_module(array)
    original = array.copy()
    worst = (0.0, 0, 0.0, 0.0)
    largest_numeric = 0.0
    for index in range(directions):
        direction = rng.standard_normal(array.shape)
        direction /= numpy.linalg.norm(direction) or 1.0
        step = xp.asarray(direction * eps)
        array += step
        plus = objective()
        array[...] = original - step
        minus = objective()
        array[...] = original
        numeric = (plus - minus) / (2 * eps)
        with numpy.errstate(invalid="ignore"):  # +inf and -inf terms sum to NaN: a failure, said by the report
            exact = float((analytic * direction).sum())
        error = abs(exact - numeric)
        largest_numeric = max(largest_numeric, abs(numeric))
        if math.isfinite(worst[0]) and not error < worst[0]:  # a NaN or infinite error stays the worst
            worst = (error, index, exact, numeric)
    error, index, exact, numeric = worst
    scale = max(float(numpy.linalg.norm(analytic)), largest_numeric)
    relative = error / scale if scale > 0 else 0.0
    return TensorCheck(name, tuple(analytic.shape), error, relative, ("direction", index), exact, numeric,
                       math.isfinite(error) and (relative <= rtol or error <= atol))
