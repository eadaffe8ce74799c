"""nn.gradcheck at its edges: a NaN or infinite gradient never passes (it once did, in both modes:
NaN compares false, so its error was never the worst), one direction is enough, and its refusals are
whole sentences."""
import numpy
import pytest

import nn


class Twice(nn.Module):
    """y = 2x with a planted backward: ``bad`` replaces the gradient where ``where`` is True."""

    def __init__(self, bad=None, where=None):
        super().__init__()
        self.bad, self.where = bad, where

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        grad = 2 * grad_output
        if self.bad is not None:
            grad = numpy.where(self.where if self.where is not None else True, self.bad, grad)
        return grad


def _one_entry(shape, index):
    mask = numpy.zeros(shape, dtype=bool)
    mask[index] = True
    return mask


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf, -numpy.inf])
@pytest.mark.parametrize("everywhere", [True, False])
def test_a_non_finite_gradient_fails(mode, bad, everywhere):
    module = Twice(bad, None if everywhere else _one_entry((2, 3), (1, 2)))
    report = nn.gradcheck(module, numpy.ones((2, 3)), mode=mode, raise_on_failure=False)
    assert not report.passed, str(report)
    with pytest.raises(nn.GradcheckError):
        nn.gradcheck(module, numpy.ones((2, 3)), mode=mode)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_a_nan_in_the_first_direction_is_not_forgotten_after_later_ones(mode):
    # the second and later directions are finite: the NaN of an early one must still decide
    module = Twice(numpy.nan, _one_entry((4,), 0))
    assert not nn.gradcheck(module, numpy.ones(4), mode=mode, directions=6, raise_on_failure=False).passed


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_a_function_that_is_nan_at_the_point_fails(mode):
    class NanOut(Twice):
        def forward(self, x):
            return x * numpy.nan

    assert not nn.gradcheck(NanOut(), numpy.ones(3), mode=mode, raise_on_failure=False).passed


def test_a_right_gradient_passes_in_both_modes_with_one_direction():
    assert nn.gradcheck(Twice(), numpy.ones((2, 3))).passed
    report = nn.gradcheck(Twice(), numpy.ones((2, 3)), mode="directional", directions=1)
    assert report.passed and [check.worst_index for check in report.checks] == [("direction", 0)]


@pytest.mark.parametrize("directions", [0, -1, 1.0, True])
def test_directions_must_be_a_positive_integer(directions):
    with pytest.raises(ValueError) as caught:
        nn.gradcheck(Twice(), numpy.ones(2), mode="directional", directions=directions)
    assert str(caught.value) == f"gradcheck: directions must be a positive integer, got {directions!r}"


def test_no_input_is_refused_in_one_sentence():
    with pytest.raises(ValueError) as caught:
        nn.gradcheck(Twice(), ())
    assert str(caught.value) == "gradcheck: give at least one input array"
