"""Finite differences: every module and loss passes nn.gradcheck in float64, and gradcheck itself
catches planted mistakes in an input gradient, a parameter gradient, and an all-zero gradient."""
import numpy
import pytest

import nn
from helpers_nn import LOSS_CASES, MODULE_CASES, module_input

# size of the tensors for each mode: every element is perturbed in elementwise mode, so keep it small
MODES = [pytest.param("elementwise", "small", id="elementwise"), pytest.param("directional", "big", id="directional")]


def assert_relative_errors_below(report, rtol=1e-6):
    assert report.passed, str(report)
    for check in report.checks:
        assert check.relative_error <= rtol, str(report)


@pytest.mark.parametrize("mode, size", MODES)
@pytest.mark.parametrize("case", MODULE_CASES, ids=str)
def test_module_passes_gradcheck(case, mode, size, nn_rng):
    module, _, shape = case.build(nn_rng, "float64", size)
    x = module_input(case, nn_rng, shape, "float64")
    report = nn.gradcheck(module, x, mode=mode, directions=6, atol=0.0)
    expected = ["input 0"] + [name for name, _ in module.named_parameters()]
    assert [check.name for check in report.checks] == expected
    assert_relative_errors_below(report)


@pytest.mark.parametrize("mode, size", MODES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss_passes_gradcheck(case, mode, size, nn_rng):
    shape = (3, 4) if size == "small" else (32, 40)
    pred, target = case.sample(nn_rng, shape)
    report = nn.gradcheck(case.ours(), (pred, target), mode=mode, directions=6, atol=0.0)
    assert [check.name for check in report.checks] == ["input 0"]  # the target is a constant
    assert_relative_errors_below(report)


def test_sequential_passes_gradcheck(nn_rng):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10, dtype="float64"), nn.Tanh(), nn.Dropout(0.5).eval(),
                          nn.Linear(10, 6, dtype="float64"), nn.GELU(), nn.Unflatten(1, (2, 3)), nn.Sigmoid())
    report = nn.gradcheck(model, nn_rng.standard_normal((4, 3, 4)), atol=0.0)
    assert [check.name for check in report.checks] == ["input 0", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert_relative_errors_below(report)


def test_gradcheck_leaves_the_callers_model_untouched(nn_rng):
    layer = nn.Linear(4, 3)  # float32: gradcheck works on a float64 deep copy
    before = {name: value.copy() for name, value in layer.state_dict().items()}
    nn.gradcheck(layer, nn_rng.standard_normal((2, 4)).astype("float32"))
    assert layer.weight.dtype == numpy.float32 and layer.weight.grad is None and layer.bias.grad is None
    for name, value in layer.state_dict().items():
        numpy.testing.assert_array_equal(value, before[name])


# --- planted mistakes ------------------------------------------------------------------------------------
class TransposedInputGrad(nn.Linear):
    """dL/dx = g W^T instead of g W: the shapes agree when W is square, the values do not."""

    def backward(self, grad_output):
        super().backward(grad_output)
        return grad_output @ self.weight.data.T


class ShiftedWeightGrad(nn.Linear):
    """dL/dW off by 1e-3 in every entry."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.weight.grad += 1e-3
        return grad_input


class UnscaledWeightGrad(nn.Linear):
    """dL/dW = g^T x / N: a stray batch mean."""

    def backward(self, grad_output):
        self.weight.accumulate_grad(grad_output.T @ self._input / len(self._input))
        self.bias.accumulate_grad(grad_output.sum(axis=0))
        return grad_output @ self.weight.data


class ZeroGrad(nn.Tanh):
    """Forgets the chain rule altogether: dL/dx = 0."""

    def backward(self, grad_output):
        return grad_output * 0


PLANTED = [
    pytest.param(TransposedInputGrad, "input 0", id="transposed-input-grad"),
    pytest.param(ShiftedWeightGrad, "weight", id="shifted-weight-grad"),
    pytest.param(UnscaledWeightGrad, "weight", id="unscaled-weight-grad"),
]


@pytest.mark.parametrize("mode, size", MODES)
@pytest.mark.parametrize("layer_class, wrong", PLANTED)
def test_gradcheck_catches_a_wrong_gradient(layer_class, wrong, mode, size, nn_rng):
    features = 4 if size == "small" else 24
    layer = layer_class(features, features, dtype="float64")
    x = nn_rng.standard_normal((5, features))
    with pytest.raises(nn.GradcheckError) as caught:
        nn.gradcheck(layer, x, mode=mode)
    report = caught.value.report
    assert isinstance(caught.value, AssertionError)  # a failed check in any pytest
    assert {check.name: check.passed for check in report.checks} == {
        name: name != wrong for name in ("input 0", "weight", "bias")}
    assert report[wrong].relative_error > 1e-5  # well past the 1e-6 tolerance
    assert f"FAIL {wrong}" in str(caught.value)
    for name in {"input 0", "weight", "bias"} - {wrong}:
        assert f"ok   {name}" in str(report)


@pytest.mark.parametrize("mode, size", MODES)
def test_gradcheck_fails_an_all_zero_gradient(mode, size, nn_rng):
    x = nn_rng.standard_normal(size=(3, 4) if size == "small" else (16, 48))
    report = nn.gradcheck(ZeroGrad(), x, mode=mode, raise_on_failure=False)
    assert not report.passed
    assert report["input 0"].relative_error == pytest.approx(1.0)
    assert "FAIL input 0" in str(report)


def test_gradcheck_without_raising_returns_the_report(nn_rng):
    x = nn_rng.standard_normal((5, 4))
    report = nn.gradcheck(ShiftedWeightGrad(4, 4, dtype="float64"), x, raise_on_failure=False)
    assert isinstance(report, nn.GradcheckReport) and report.passed is False
    assert nn.gradcheck(nn.Linear(4, 4), x, raise_on_failure=False).passed is True


def test_gradcheck_rejects_an_unknown_mode(nn_rng):
    with pytest.raises(ValueError, match="mode must be"):
        nn.gradcheck(nn.Tanh(), nn_rng.standard_normal(3), mode="random")
