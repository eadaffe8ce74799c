"""Every layer, activation and loss against torch: forward, input gradient and parameter gradients,
on random shapes with random upstream gradients, in float32 and float64, on every backend; plus the
edge cases (kinks, saturation, BCE at exactly 0 and 1) and Dropout's mask."""
import warnings

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import (BACKENDS, DTYPES, LOSS_CASES, MODULE_CASES, RTOL, TORCH_DTYPES, assert_backend,
                        check_against_torch, copy_torch_into_ours, module_input, random_shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MODULE_CASES, ids=str)
def test_module_matches_torch(case, dtype, backend, nn_rng):
    ours, reference, shape = case.build(nn_rng, dtype, "medium")
    copy_torch_into_ours(reference, ours)
    ours = backend.module(ours)
    check_against_torch(ours, reference, module_input(case, nn_rng, shape, dtype), backend, dtype, nn_rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss_matches_torch(case, dtype, backend, nn_rng):
    pred, target = (array.astype(dtype) for array in case.sample(nn_rng, random_shape(nn_rng, "medium")))
    pred_torch = torch.from_numpy(pred.copy()).requires_grad_()
    loss, reference = case.ours(), case.reference()

    value = loss(backend.array(pred), backend.array(target))
    value_torch = reference(pred_torch, torch.from_numpy(target))
    upstream = float(nn_rng.uniform(0.5, 2.0))  # the gradient flowing into the loss value: not 1
    grad = loss.backward(upstream)
    value_torch.backward(torch.tensor(upstream, dtype=TORCH_DTYPES[dtype]))

    assert value.shape == ()
    assert_close(value, value_torch, RTOL[dtype], "loss value")
    assert_close(grad, pred_torch.grad, RTOL[dtype], "gradient")
    assert_backend(backend, dtype, value=value, gradient=grad)


# --- kinks and saturation ---------------------------------------------------------------------------------
KINK_CASES = [
    pytest.param(nn.ReLU, torch.nn.ReLU, id="ReLU"),
    pytest.param(lambda: nn.ReLU(inplace=True), torch.nn.ReLU, id="ReLU-inplace"),
    pytest.param(nn.LeakyReLU, torch.nn.LeakyReLU, id="LeakyReLU"),
    pytest.param(lambda: nn.LeakyReLU(0.3), lambda: torch.nn.LeakyReLU(0.3), id="LeakyReLU-0.3"),
    pytest.param(lambda: nn.ELU(0.5), lambda: torch.nn.ELU(0.5), id="ELU-0.5"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, reference", KINK_CASES)
def test_activation_at_exactly_zero_matches_torch(ours, reference, dtype, nn_rng):
    x = numpy.array([[0.0, -0.0, 1.5, -2.0], [0.0, 0.0, 3.0, -0.5]], dtype=dtype)
    grad_output = nn_rng.uniform(1, 2, x.shape).astype(dtype)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = reference().to(TORCH_DTYPES[dtype])(x_torch)
    y_torch.backward(torch.from_numpy(grad_output))
    module = ours()
    y = module(x.copy())
    grad_input = module.backward(grad_output.copy())
    assert_close(y, y_torch, RTOL[dtype], "output")
    assert_close(grad_input, x_torch.grad, RTOL[dtype], "gradient at the kink")
    assert (grad_input[x == 0] != 0).all() == (type(module) is not nn.ReLU)  # ReLU: 0 at 0, the others not


def test_relu_gradient_at_zero_is_zero():
    relu = nn.ReLU()
    relu(numpy.zeros((2, 3)))
    assert not relu.backward(numpy.full((2, 3), 7.0)).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_without_warnings(dtype, nn_rng):
    x = numpy.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
    grad_output = nn_rng.uniform(0.5, 2, x.shape).astype(dtype)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = torch.sigmoid(x_torch)
    y_torch.backward(torch.from_numpy(grad_output))
    sigmoid = nn.Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
        grad_input = sigmoid.backward(grad_output)
    assert numpy.isfinite(y).all() and numpy.isfinite(grad_input).all()
    assert y[0] == 0 and y[-1] == 1
    assert_close(y, y_torch, RTOL[dtype], "output")
    assert_close(grad_input, x_torch.grad, RTOL[dtype], "gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits_at_1000_is_finite(reduction, dtype):
    logits = numpy.array([-1000.0, -1000.0, 1000.0, 1000.0, 0.0], dtype=dtype)
    target = numpy.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype)
    logits_torch = torch.from_numpy(logits.copy()).requires_grad_()
    value_torch = torch.nn.BCEWithLogitsLoss(reduction=reduction)(logits_torch, torch.from_numpy(target))
    value_torch.backward(torch.tensor(1.5, dtype=TORCH_DTYPES[dtype]))
    loss = nn.BCEWithLogitsLoss(reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(logits, target)
        grad = loss.backward(1.5)
    assert numpy.isfinite(value) and numpy.isfinite(grad).all()
    assert_close(value, value_torch, RTOL[dtype], "loss value")
    assert_close(grad, logits_torch.grad, RTOL[dtype], "gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_at_exactly_zero_and_one_matches_torch(reduction, dtype):
    """log 0 is clamped to -100 (a loss of 100 per wrong certain prediction), and the gradient is
    torch's (p - t) / max(p (1 - p), 1e-12)."""
    pred = numpy.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype)
    target = numpy.array([0.0, 0.0, 1.0, 1.0, 1.0], dtype=dtype)
    pred_torch = torch.from_numpy(pred.copy()).requires_grad_()
    value_torch = torch.nn.BCELoss(reduction=reduction)(pred_torch, torch.from_numpy(target))
    value_torch.backward(torch.tensor(0.75, dtype=TORCH_DTYPES[dtype]))
    loss = nn.BCELoss(reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(pred, target)
        grad = loss.backward(0.75)
    assert numpy.isfinite(value) and numpy.isfinite(grad).all()
    expected_sum = 200 + numpy.log(2, dtype=numpy.float64)  # two certain mistakes, and -log 0.5
    assert_close(value, expected_sum / (5 if reduction == "mean" else 1), RTOL[dtype], "value")
    assert_close(value, value_torch, RTOL[dtype], "loss value")
    assert_close(grad, pred_torch.grad, RTOL[dtype], "gradient")


@pytest.mark.parametrize("bad", [-0.01, 1.01, numpy.nan], ids=["below-0", "above-1", "nan"])
def test_bce_rejects_predictions_outside_0_1(bad):
    pred = numpy.array([0.2, bad, 0.7])
    with pytest.raises(ValueError, match=r"BCELoss: predictions must lie in \[0, 1\]"):
        nn.BCELoss()(pred, numpy.array([0.0, 1.0, 1.0]))


# --- Dropout ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_training_matches_torch_with_its_mask(p, dtype, backend, nn_rng):
    """Torch draws its own mask: recover ours from y / x and check y = x * mask and dL/dx = g * mask."""
    x = (nn_rng.uniform(0.5, 2, (13, 17)) * nn_rng.choice([-1, 1], (13, 17))).astype(dtype)  # no zeros
    dropout = nn.Dropout(p, seed=int(nn_rng.integers(1 << 30)))
    y = dropout(backend.array(x))
    grad_output = nn_rng.standard_normal(x.shape).astype(dtype)
    grad_input = dropout.backward(backend.array(grad_output))
    assert_backend(backend, dtype, output=y, input_gradient=grad_input)

    mask = nn.to_numpy(y) / x
    scale = 1 / (1 - p)
    assert numpy.all(numpy.isclose(mask, 0, atol=0) | numpy.isclose(mask, scale, rtol=1e-6, atol=0))
    assert 0 < numpy.count_nonzero(mask) < mask.size
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = x_torch * torch.from_numpy(mask.astype(dtype))
    y_torch.backward(torch.from_numpy(grad_output))
    assert_close(y, y_torch, RTOL[dtype], "output")
    assert_close(grad_input, x_torch.grad, RTOL[dtype], "input gradient")


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_keeps_one_minus_p(p):
    x = numpy.ones((1000, 1000), dtype="float32")
    y = nn.Dropout(p, seed=7)(x)
    kept = numpy.count_nonzero(y) / y.size
    assert abs(kept - (1 - p)) < 3e-3  # 6 standard deviations of a million draws
    assert_close(y.mean(), 1.0, 1e-2, "mean (inverted dropout keeps the expectation)")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_dtype(dtype, nn_rng):
    dropout = nn.Dropout(0.4, seed=3)
    x = nn_rng.standard_normal((6, 5)).astype(dtype)
    y = dropout(x)
    grad_input = dropout.backward(nn_rng.standard_normal((6, 5)).astype(dtype))
    assert dropout._scaled_mask.dtype == dtype
    assert y.dtype == dtype and grad_input.dtype == dtype


def test_dropout_eval_is_identity(nn_rng):
    dropout = nn.Dropout(0.5).eval()
    x, grad_output = nn_rng.standard_normal((2, 40, 40))
    numpy.testing.assert_array_equal(dropout(x), x)
    numpy.testing.assert_array_equal(dropout.backward(grad_output), grad_output)
    dropout.train()
    assert numpy.count_nonzero(dropout(x)) < x.size


def test_dropout_same_seed_same_mask(nn_rng):
    x = nn_rng.standard_normal((50, 60))
    first, second, other = nn.Dropout(0.5, seed=11), nn.Dropout(0.5, seed=11), nn.Dropout(0.5, seed=12)
    numpy.testing.assert_array_equal(first(x), second(x))
    numpy.testing.assert_array_equal(first(x), second(x))  # and the streams stay together
    assert not numpy.array_equal(first(x), other(x))

    masks = []
    for _ in range(2):  # the shared default generator, reseeded as torch.manual_seed
        nn.manual_seed(1234)
        dropout = nn.Dropout(0.5)
        masks.append((dropout(x), dropout(x)))
    numpy.testing.assert_array_equal(masks[0][0], masks[1][0])
    numpy.testing.assert_array_equal(masks[0][1], masks[1][1])
    assert not numpy.array_equal(masks[0][0], masks[0][1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_p0_is_identity_and_p1_zeroes(dtype, nn_rng):
    x = nn_rng.standard_normal((20, 30)).astype(dtype)
    grad_output = nn_rng.standard_normal((20, 30)).astype(dtype)
    keep_all = nn.Dropout(0.0)
    numpy.testing.assert_array_equal(keep_all(x), x)
    numpy.testing.assert_array_equal(keep_all.backward(grad_output), grad_output)
    drop_all = nn.Dropout(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 1 / (1 - p) = 1 / 0
        y = drop_all(x)
        grad_input = drop_all.backward(grad_output)
    assert not y.any() and not grad_input.any()
    assert y.dtype == dtype and grad_input.dtype == dtype


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        nn.Dropout(p)
