"""zero_grad is lazy (nn/module.py, Parameter): what a reader of p.grad and an optimizer see must be
exactly what an eager zero fill gives."""
import numpy as np
import pytest

import nn


def _model(dtype="float64"):
    nn.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 4, dtype=dtype), nn.ReLU(), nn.Linear(4, 3, dtype=dtype))


def _backward(model, x, seed):
    y = model(x)
    model.backward(np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype))


def test_reading_grad_after_zero_grad_gives_zeros_and_the_same_array():
    model = _model()
    _backward(model, np.ones((2, 5)), 0)
    weight = model[0].weight
    before = weight.grad
    assert np.any(before != 0)
    model.zero_grad()
    assert weight.grad is before  # filled in place, not replaced: optimizers hold views of it
    assert np.all(weight.grad == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_backward_after_zero_grad_gives_the_fresh_gradient_bit_for_bit(dtype):
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(dtype)
    fresh = _model(dtype)
    _backward(fresh, x, 2)
    reused = _model(dtype)
    _backward(reused, x, 7)  # other gradients first
    reused.zero_grad()
    _backward(reused, x, 2)
    for a, b in zip(fresh.parameters(), reused.parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_backwards_without_zero_grad_still_add_up():
    x = np.random.default_rng(1).standard_normal((6, 5))
    once, twice = _model(), _model()
    _backward(once, x, 2)
    _backward(twice, x, 2)
    _backward(twice, x, 2)
    for a, b in zip(once.parameters(), twice.parameters()):
        np.testing.assert_allclose(b.grad, 2 * a.grad, rtol=1e-15)


def test_the_optimizer_reads_zeros_for_a_parameter_no_backward_reached():
    """Last step's gradient of an unused layer must not be applied again after zero_grad."""
    first, unused = nn.Linear(5, 4, dtype="float64"), nn.Linear(4, 3, dtype="float64")
    model = nn.Sequential(first, nn.ReLU(), unused)
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    _backward(model, np.ones((2, 5)), 0)  # every parameter gets a gradient
    optimizer.zero_grad()
    kept = unused.weight.data.copy()
    first(np.ones((2, 5)))
    first.backward(np.ones((2, 4)))  # only the first layer this time
    optimizer.step()
    np.testing.assert_array_equal(unused.weight.data, kept)
    assert np.all(unused.weight.grad == 0)


def test_an_array_taken_before_zero_grad_keeps_its_values_as_with_torch_set_to_none():
    model = _model()
    _backward(model, np.ones((2, 5)), 0)
    held = model[0].weight.grad
    values = held.copy()
    model.zero_grad()
    np.testing.assert_array_equal(held, values)  # not yet filled: nothing read p.grad again
    assert np.all(model[0].weight.grad == 0) and np.all(held == 0)  # the same array, now read


def test_add_matmul_to_grad_adds_when_not_just_zeroed_and_writes_when_it_was():
    rng = np.random.default_rng(4)
    p = nn.Parameter(rng.standard_normal((3, 2)))
    a, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 2))
    p.grad = p.data * 0 + (1.0)
    p.add_matmul_to_grad(a, b)
    np.testing.assert_allclose(p.grad, 1.0 + a @ b, rtol=1e-15)
    p.zero_grad()
    p.add_matmul_to_grad(a, b)
    np.testing.assert_array_equal(p.grad, a @ b)
    p.add_matmul_to_grad(a, b)  # the mark is cleared by the write: this one adds
    np.testing.assert_allclose(p.grad, 2 * (a @ b), rtol=1e-15)
