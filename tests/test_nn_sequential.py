"""Sequential's fast path: it calls each child's forward directly, which must give what calling
the child gives -- including for a child whose class overrides __call__, and a forward replaced
on one instance (as a profiler or a test double does)."""
import numpy

import nn


class Double(nn.Module):
    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


class Counted(Double):
    """Overrides __call__: Sequential must go through it."""

    calls = 0

    def __call__(self, x):
        Counted.calls += 1
        return super().__call__(x)


def test_forward_and_backward_chain_the_children_in_order():
    nn.manual_seed(0)
    linear = nn.Linear(3, 2, dtype="float64")
    model = nn.Sequential(Double(), linear, nn.ReLU())
    x = numpy.random.default_rng(0).random((4, 3))
    expected = numpy.maximum(2 * x @ linear.weight.data.T + linear.bias.data, 0)
    numpy.testing.assert_array_equal(model(x), expected)
    grad = numpy.random.default_rng(1).random((4, 2))
    numpy.testing.assert_allclose(model.backward(grad), 2 * ((grad * (expected > 0)) @ linear.weight.data),
                                  rtol=1e-15)


def test_a_child_that_overrides_call_is_called():
    Counted.calls = 0
    model = nn.Sequential(Double(), Counted())
    assert model(numpy.ones(2)).tolist() == [4.0, 4.0]
    assert Counted.calls == 1


def test_a_forward_replaced_on_an_instance_is_used():
    child = Double()
    model = nn.Sequential(child)
    child.forward = lambda x: x + 1
    assert model(numpy.zeros(2)).tolist() == [1.0, 1.0]
    assert model.backward(numpy.ones(2)).tolist() == [2.0, 2.0]
