"""A captured step (nn/fast/cuda_graph.py, on the CPU with stand-in graphs) over a model with a frozen
parameter, which no backward reaches: the graph steps it with a zero gradient where the eager step
skips it. The graph puts that parameter's values and optimizer state back after its update, so it stays
as the eager step (and torch) leave it, with every optimizer, AdamW's decoupled decay and SGD's
momentum included."""
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
    our_optimizer = make_optimizer(ours.parameters())
    captured = cuda_graph.CapturedStep(ours, nn.MSELoss(), our_optimizer, (5, 20),
                                       warmup_steps=1, graphs=FakeGraphs())
    optimizer = make_optimizer(theirs.parameters())
    rng = numpy.random.default_rng(0)
    for _ in range(steps):
        x = rng.random((5, 20))
        numpy.testing.assert_allclose(captured.step(x), eager_step(theirs, nn.MSELoss(), optimizer, x), rtol=1e-12)
    assert captured.captured
    # the frozen parameter's optimizer state is what the eager step left (it never stepped it)
    for name, value in optimizer.state[theirs[2].bias].items():
        numpy.testing.assert_array_equal(our_optimizer.state[ours[2].bias][name], value, err_msg=name)
    # its step count too: a checkpoint of the captured run says what the eager run's says (the frozen
    # parameter took no step), so that Adam's bias corrections start afresh if it is unfrozen later
    assert_same_state(our_optimizer.state_dict(), optimizer.state_dict())
    return ours, theirs, frozen


def assert_same_state(ours, theirs):
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        numpy.testing.assert_allclose(ours[key], value, rtol=1e-12, atol=1e-15, err_msg=key)


OPTIMIZERS = {"adam": lambda p: nn.Adam(p, lr=1e-2, foreach=True),
              "adamw-decay": lambda p: nn.AdamW(p, lr=1e-2, weight_decay=0.1, foreach=True),
              "adam-l2-amsgrad": lambda p: nn.Adam(p, lr=1e-2, weight_decay=0.1, amsgrad=True, foreach=True),
              "sgd-momentum": lambda p: nn.SGD(p, lr=0.1, momentum=0.9, foreach=True),
              "sgd-momentum-decay": lambda p: nn.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1, foreach=True)}


@pytest.mark.parametrize("make_optimizer", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_a_frozen_parameter_stays_as_it_was_and_the_others_train_as_eager(make_optimizer):
    ours, theirs, frozen = train_both(make_optimizer)
    numpy.testing.assert_array_equal(ours[2].bias.data, frozen)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        numpy.testing.assert_allclose(mine.data, reference.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["adam-l2-amsgrad", "sgd-momentum"])
def test_a_frozen_parameter_first_in_its_group_of_two_groups(name):
    """Two parameter groups, the frozen parameter the first of its group (the one whose step count a
    group's update used to read): the others still take their first step as the first (SGD's momentum
    starts from the gradient) and their later ones as later, as the eager steps take them."""
    def make(net):
        groups = [{"params": [net[2].bias, net[2].weight]}, {"params": [net[0].weight, net[0].bias], "lr": 3e-3}]
        return OPTIMIZERS[name](groups)

    ours, theirs = model(), model()
    frozen = ours[2].bias.data.copy()
    our_optimizer, optimizer = make(ours), make(theirs)
    captured = cuda_graph.CapturedStep(ours, nn.MSELoss(), our_optimizer, (5, 20), warmup_steps=1, graphs=FakeGraphs())
    rng = numpy.random.default_rng(1)
    for _ in range(4):
        x = rng.random((5, 20))
        numpy.testing.assert_allclose(captured.step(x), eager_step(theirs, nn.MSELoss(), optimizer, x), rtol=1e-12)
    x = rng.random((3, 20))  # a partial batch: the eager form of the same step
    numpy.testing.assert_allclose(captured.eager_step(x), eager_step(theirs, nn.MSELoss(), optimizer, x), rtol=1e-12)
    assert captured.captured
    numpy.testing.assert_array_equal(ours[2].bias.data, frozen)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        numpy.testing.assert_allclose(mine.data, reference.data, rtol=1e-12, atol=1e-15)
    assert_same_state(our_optimizer.state_dict(), optimizer.state_dict())
