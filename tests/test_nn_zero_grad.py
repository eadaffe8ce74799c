"""zero_grad as torch's (nn/module.py, Parameter; nn/optimizer.py): ``grad`` is None until a backward writes
it, ``zero_grad()`` sets it back to None (set_to_none=True, the default) and ``set_to_none=False`` fills zeros
in place; ``step()`` skips a parameter without a gradient; backward passes add up between zero_grads.
(Replaces the tests of the former lazy zero fill, whose internals are gone.)"""
import numpy as np
import pytest
import torch

import nn


def _model(dtype="float64"):
    nn.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 4, dtype=dtype), nn.ReLU(), nn.Linear(4, 3, dtype=dtype))


def _backward(model, x, seed):
    y = model(x)
    model.backward(np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype))


def test_grad_is_none_until_a_backward_and_again_after_zero_grad():
    model = _model()
    assert all(parameter.grad is None for parameter in model.parameters())
    _backward(model, np.ones((2, 5)), 0)
    assert all(parameter.grad is not None for parameter in model.parameters())
    assert np.any(model[0].weight.grad != 0)
    model.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())


@pytest.mark.parametrize("zero", ["model", "optimizer"])
def test_zero_grad_with_set_to_none_false_fills_zeros_in_the_same_array(zero):
    model = _model()
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    _backward(model, np.ones((2, 5)), 0)
    held = [parameter.grad for parameter in model.parameters()]
    (model if zero == "model" else optimizer).zero_grad(set_to_none=False)
    for parameter, array in zip(model.parameters(), held):
        assert parameter.grad is array  # filled in place, not replaced
        assert np.all(array == 0)


def test_an_array_taken_before_zero_grad_keeps_its_values_as_with_torch_set_to_none():
    model = _model()
    _backward(model, np.ones((2, 5)), 0)
    held = model[0].weight.grad
    values = held.copy()
    model.zero_grad()
    assert model[0].weight.grad is None
    np.testing.assert_array_equal(held, values)  # the old array is let go, not cleared


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_backward_after_zero_grad_gives_the_fresh_gradient_bit_for_bit(dtype):
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(dtype)
    fresh = _model(dtype)
    _backward(fresh, x, 2)
    for set_to_none in (True, False):
        reused = _model(dtype)
        _backward(reused, x, 7)  # other gradients first
        reused.zero_grad(set_to_none=set_to_none)
        _backward(reused, x, 2)
        for a, b in zip(fresh.parameters(), reused.parameters()):
            np.testing.assert_array_equal(a.grad, b.grad)


def test_two_forward_backward_pairs_without_zero_grad_add_up():
    x = np.random.default_rng(1).standard_normal((6, 5))
    once, twice = _model(), _model()
    _backward(once, x, 2)
    _backward(twice, x, 2)
    _backward(twice, x, 2)
    for a, b in zip(once.parameters(), twice.parameters()):
        np.testing.assert_allclose(b.grad, 2 * a.grad, rtol=1e-15)


def test_accumulate_grad_takes_the_first_gradient_then_adds():
    p = nn.Parameter(np.zeros((3, 2)))
    first, second = np.full((3, 2), 1.5), np.full((3, 2), 0.25)
    p.accumulate_grad(first)
    np.testing.assert_array_equal(p.grad, first)
    p.accumulate_grad(second)
    np.testing.assert_array_equal(p.grad, np.full((3, 2), 1.75))
    p.zero_grad()
    assert p.grad is None
    p.requires_grad = False
    p.accumulate_grad(first)  # a frozen parameter takes no gradient
    assert p.grad is None


OPTIMIZERS = {"adam": (nn.Adam, torch.optim.Adam, {"lr": 0.1}),
              "sgd-momentum": (nn.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})}


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("foreach", [False, True])
def test_step_skips_a_parameter_no_backward_reached_as_torch(name, foreach):
    """After zero_grad an unused layer has no gradient: Adam and SGD with momentum leave it where it is
    (its momentum is not applied again) and its step count stays, as torch's."""
    ours_class, torch_class, options = OPTIMIZERS[name]
    first, unused = nn.Linear(5, 4, dtype="float64"), nn.Linear(4, 3, dtype="float64")
    model = nn.Sequential(first, nn.ReLU(), unused)
    optimizer = ours_class(model.parameters(), **options, foreach=foreach)
    reference = [torch.nn.Parameter(torch.tensor(parameter.data.copy())) for parameter in model.parameters()]
    torch_optimizer = torch_class(reference, **options)
    _backward(model, np.ones((2, 5)), 0)  # every parameter gets a gradient
    for theirs, parameter in zip(reference, model.parameters()):
        theirs.grad = torch.tensor(parameter.grad.copy())
    optimizer.step()
    torch_optimizer.step()
    optimizer.zero_grad()
    torch_optimizer.zero_grad()
    kept = [parameter.data.copy() for parameter in unused.parameters()]
    first(np.ones((2, 5)))
    first.backward(np.ones((2, 4)))  # only the first layer this time
    assert all(parameter.grad is None for parameter in unused.parameters())
    for theirs, parameter in zip(reference, first.parameters()):
        theirs.grad = torch.tensor(parameter.grad.copy())
    optimizer.step()
    torch_optimizer.step()
    for parameter, before in zip(unused.parameters(), kept):
        np.testing.assert_array_equal(parameter.data, before)
        assert optimizer.state[parameter]["step"] == 1
    for parameter in first.parameters():
        assert optimizer.state[parameter]["step"] == 2
    for parameter, theirs in zip(model.parameters(), reference):
        np.testing.assert_allclose(parameter.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
