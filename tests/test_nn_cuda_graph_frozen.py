"""A captured step (nn/fast/cuda_graph.py, on the CPU with stand-in graphs) over a model with a frozen
parameter, which no backward reaches: the graph steps it with a zero gradient where the eager step
skips it. Without weight decay the two agree; with decoupled weight decay they do not (a known gap)."""
import numpy
import pytest

import nn
from nn.fast import cuda_graph

from test_nn_cuda_graph import FakeGraphs, eager_step


def model():
    nn.manual_seed(3)
    net = nn.Sequential(nn.Linear(20, 7, dtype="float64"), nn.ReLU(), nn.Linear(7, 20, dtype="float64"), nn.Sigmoid())
    net[2].bias.requires_grad = False
    return net


def train_both(make_optimizer, steps=4):
    ours, theirs = model(), model()
    frozen = ours[2].bias.data.copy()
    captured = cuda_graph.CapturedStep(ours, nn.MSELoss(), make_optimizer(ours.parameters()), (5, 20),
                                       warmup_steps=1, graphs=FakeGraphs())
    optimizer = make_optimizer(theirs.parameters())
    rng = numpy.random.default_rng(0)
    for _ in range(steps):
        x = rng.random((5, 20))
        numpy.testing.assert_allclose(captured.step(x), eager_step(theirs, nn.MSELoss(), optimizer, x), rtol=1e-12)
    assert captured.captured
    return ours, theirs, frozen


@pytest.mark.parametrize("make_optimizer", [lambda p: nn.Adam(p, lr=1e-2, foreach=True),
                                            lambda p: nn.SGD(p, lr=0.1, momentum=0.9, foreach=True)],
                         ids=["adam", "sgd-momentum"])
def test_a_frozen_parameter_stays_as_it_was_and_the_others_train_as_eager(make_optimizer):
    ours, theirs, frozen = train_both(make_optimizer)
    numpy.testing.assert_array_equal(ours[2].bias.data, frozen)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        numpy.testing.assert_allclose(mine.data, reference.data, rtol=1e-12, atol=1e-15)


@pytest.mark.xfail(strict=True, reason="the graph steps a parameter no backward reached with a zero gradient, so "
                                       "AdamW's decoupled decay shrinks a frozen parameter the eager step skips")
def test_adamw_leaves_a_frozen_parameter_as_the_eager_step_does():
    ours, _, frozen = train_both(lambda p: nn.AdamW(p, lr=1e-2, weight_decay=0.1, foreach=True))
    numpy.testing.assert_array_equal(ours[2].bias.data, frozen)
