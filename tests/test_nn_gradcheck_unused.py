"""gradcheck over a module whose backward leaves a parameter without a gradient: torch's gradcheck takes
an absent gradient as zero, which is right where the output does not depend on the parameter and wrong
(reported, not crashed) where it does."""
import numpy
import pytest

import nn


class ScaleWithSpare(nn.Module):
    """y = a * x, with a second parameter ``spare`` that ``use_spare`` adds in (y = a * x + b)."""

    def __init__(self, use_spare):
        self.a = nn.Parameter(numpy.array([1.5, -0.5]))
        self.spare = nn.Parameter(numpy.array([0.25, 0.75]))
        self.use_spare = use_spare

    def forward(self, x):
        self._x = x
        return self.a.data * x + (self.spare.data if self.use_spare else 0)

    def backward(self, grad_output):
        self.a.accumulate_grad((grad_output * self._x).sum(axis=0))
        return grad_output * self.a.data  # spare's gradient is never written


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_an_unused_parameter_without_a_gradient_passes_and_a_used_one_fails(mode):
    x = numpy.random.default_rng(0).standard_normal((3, 2))
    report = nn.gradcheck(ScaleWithSpare(use_spare=False), x, mode=mode)
    assert report.passed and "spare" in str(report)
    failed = nn.gradcheck(ScaleWithSpare(use_spare=True), x, mode=mode, raise_on_failure=False)
    assert not failed.passed and "spare" in str(failed)
