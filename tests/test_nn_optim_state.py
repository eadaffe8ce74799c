"""Optimizer state dicts with a step count per parameter (a parameter that skipped a step, as torch's
optimizers skip one without a gradient), and the optimizers' switches' refusals in one line."""
import numpy
import pytest

import nn


def trained_unevenly(make):
    """Two steps of ``make`` over a Linear's weight and bias, the bias without a gradient in the second."""
    nn.manual_seed(0)
    layer = nn.Linear(3, 2, dtype="float64")
    optimizer = make(layer.parameters())
    for step in range(2):
        optimizer.zero_grad()
        layer(numpy.ones((4, 3)))
        layer.backward(numpy.ones((4, 2)))
        if step == 1:
            layer.bias.grad = None
        optimizer.step()
    return layer, optimizer


@pytest.mark.parametrize("make", [lambda p: nn.Adam(p, lr=0.1), lambda p: nn.Adam(p, lr=0.1, foreach=True),
                                  lambda p: nn.SGD(p, lr=0.1, momentum=0.9)], ids=["adam", "adam-foreach", "sgd"])
def test_step_counts_per_parameter_are_saved_and_loaded(make):
    layer, optimizer = trained_unevenly(make)
    saved = optimizer.state_dict()
    numpy.testing.assert_array_equal(saved["step"], [2, 1])
    restored = make(nn.Linear(3, 2, dtype="float64").parameters())
    restored.load_state_dict(saved)
    assert [restored.state[p]["step"] for p in restored.param_groups[0]["params"]] == [2, 1]
    for key, value in restored.state_dict().items():
        numpy.testing.assert_array_equal(value, saved[key], err_msg=key)


def test_a_step_array_of_another_length_is_refused_and_nothing_loaded():
    _, optimizer = trained_unevenly(lambda p: nn.Adam(p, lr=0.1))
    saved = optimizer.state_dict()
    saved["step"] = numpy.array([2, 1, 1])
    fresh = nn.Adam(nn.Linear(3, 2, dtype="float64").parameters(), lr=0.1)
    with pytest.raises(ValueError) as refused:
        fresh.load_state_dict(saved)
    assert str(refused.value) == ("Adam.load_state_dict: key 'step' has shape (3,), expected (2,) (one step count "
                                  "per parameter); nothing was loaded")
    assert all(fresh.state[p]["step"] == 0 for p in fresh.param_groups[0]["params"])


def test_the_switches_and_add_param_group_refuse_in_one_line():
    parameters = list(nn.Linear(3, 2).parameters())
    with pytest.raises(TypeError, match=r"^Adam: fused must be None, True or False, got 'yes'$"):
        nn.Adam(parameters, fused="yes")
    with pytest.raises(TypeError, match=r"^SGD: foreach must be None, True or False, got 1$"):
        nn.SGD(parameters, lr=0.1, foreach=1)
    optimizer = nn.Adam(parameters[:1], foreach=True)
    with pytest.raises(ValueError, match=r"^Adam\.add_param_group: not with foreach=True or fused=True; build the "
                                         r"optimizer with every group instead$"):
        optimizer.add_param_group({"params": parameters[1:]})
