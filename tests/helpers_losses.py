"""Shared by the loss tests: one comparison of a loss of ours with its torch twin, and a record of
every comparison's error (printed at the end of a module run with ``-s``: the count and the worst)."""
import numpy
import pytest
import torch
from conftest import relative_error

import nn
from helpers_nn import BACKENDS

# The grids of options run on NumPy in both dtypes and on the strict and CuPy backends in float64 only:
# the strict backend catches NumPy leaking in, which does not depend on the dtype, and the grids are large.
BACKEND_DTYPES = [pytest.param(backend.values[0], dtype, id=f"{dtype}-{backend.id}", marks=backend.marks)
                  for backend in BACKENDS for dtype in ("float32", "float64")
                  if dtype == "float64" or backend.id == "numpy"]

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
RTOL = {"float32": 1e-5, "float64": 1e-10}
ERRORS = []


def torch_constants(options):
    """Loss options with arrays as torch tensors (weights), for torch's constructor."""
    return {key: torch.from_numpy(value) if isinstance(value, numpy.ndarray) else value
            for key, value in options.items()}


def upstream_for(rng, shape, dtype):
    """A random gradient flowing into the loss value: never all ones; a number when the value is 0-d."""
    if shape == ():
        return numpy.array(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]), dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def compare_loss(ours, reference, pred, target, rng, backend, dtype):
    """Value and input gradient of ours against torch, one random upstream gradient; returns the worst
    relative error and records it. ``target`` goes to torch as it is (integer targets as int64)."""
    pred_torch = torch.from_numpy(pred.copy()).requires_grad_()
    value_torch = reference(pred_torch, torch.from_numpy(target.copy()))
    upstream = upstream_for(rng, tuple(value_torch.shape), dtype)
    value_torch.backward(torch.from_numpy(upstream.copy()))

    value = ours(backend.array(pred), backend.array(target))
    grad = ours.backward(backend.array(upstream) if upstream.ndim else float(upstream))
    assert tuple(value.shape) == tuple(value_torch.shape), (value.shape, value_torch.shape)
    assert tuple(grad.shape) == pred.shape
    assert backend.owns(value) and backend.owns(grad)
    assert value.dtype == numpy.dtype(dtype) and grad.dtype == numpy.dtype(dtype)
    errors = (relative_error(value, value_torch), relative_error(grad, pred_torch.grad))
    ERRORS.append((dtype, max(errors)))
    for what, error in zip(("loss value", "input gradient"), errors):
        assert numpy.isfinite(error) and error <= RTOL[dtype], f"{what}: relative error {error:.3e}"
    return max(errors)


def report():
    for dtype in RTOL:
        errors = [error for kind, error in ERRORS if kind == dtype]
        if errors:
            print(f"\n{len(errors)} {dtype} loss configurations compared with torch; worst relative error "
                  f"{max(errors):.3e}")


class FixedTarget(nn.Module):
    """loss(x, target) as a function of x alone, for nn.gradcheck (which casts every input to float64,
    and class indices must stay integers)."""

    def __init__(self, loss, target):
        self.loss, self.target = loss, target

    def forward(self, x):
        return self.loss(x, self.target)

    def backward(self, grad_output):
        return self.loss.backward(grad_output if self.loss.reduction == "none" else float(grad_output))
