"""BatchNorm and LayerNorm at the edges of their arguments: every refusal's whole message (it names the
layer), the bounds that are allowed (momentum 0 and 1, two values per channel), the dtype check when
only one of the parameters and the running statistics exists, and the printed form, as torch's."""
import re

import numpy
import pytest
import torch

import nn
from conftest import assert_close


def _refused(error, message, build):
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        build()


@pytest.mark.parametrize("build, error, message", [
    (lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d: num_features must be a positive integer, got 0"),
    (lambda: nn.BatchNorm2d(3, eps=-1.0), ValueError, "BatchNorm2d: eps must be a number >= 0, got -1.0"),
    (lambda: nn.BatchNorm1d(3, affine=1), TypeError, "BatchNorm1d: affine must be True or False, got 1"),
    (lambda: nn.BatchNorm1d(3, track_running_stats="no"), TypeError,
     "BatchNorm1d: track_running_stats must be True or False, got 'no'"),
    (lambda: nn.BatchNorm2d(3, bias=0), TypeError, "BatchNorm2d: bias must be True or False, got 0"),
    (lambda: nn.BatchNorm1d(3, momentum=-0.1), ValueError,
     "BatchNorm1d: momentum must be None (a cumulative average) or a number in [0, 1], got -0.1"),
    (lambda: nn.BatchNorm1d(3, momentum=1.01), ValueError,
     "BatchNorm1d: momentum must be None (a cumulative average) or a number in [0, 1], got 1.01"),
])
def test_every_refusal_of_an_argument_is_the_whole_message(build, error, message):
    _refused(error, message, build)


@pytest.mark.parametrize("momentum", [0, 1, 0.0, 1.0])
def test_momentum_at_either_bound_is_taken_and_moves_the_statistics_as_torch(momentum, nn_rng):
    ours, reference = nn.BatchNorm1d(3, momentum=momentum, dtype="float64"), torch.nn.BatchNorm1d(
        3, momentum=momentum, dtype=torch.float64)
    for _ in range(2):
        x = nn_rng.standard_normal((5, 3))
        ours(x), reference(torch.tensor(x))
    assert_close(ours.running_mean, reference.running_mean, 1e-12)
    assert_close(ours.running_var, reference.running_var, 1e-12)


@pytest.mark.parametrize("shape", [(2, 3), (1, 3, 2), (2, 3, 1)])
def test_two_values_per_channel_are_enough_for_batch_statistics(shape, nn_rng):
    x = nn_rng.standard_normal(shape)
    ours, reference = nn.BatchNorm1d(3, dtype="float64"), torch.nn.BatchNorm1d(3, dtype=torch.float64)
    assert_close(ours(x), reference(torch.tensor(x)), 1e-10)
    assert_close(ours.running_var, reference.running_var, 1e-12)


def test_one_value_per_channel_in_training_is_the_whole_message():
    layer = nn.BatchNorm2d(3)
    _refused(ValueError, "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True): expected "
             "more than 1 value per channel when using batch statistics, got input of shape (1, 3, 1, 1); use a "
             "larger batch or .eval()", lambda: layer(numpy.ones((1, 3, 1, 1), dtype="float32")))


@pytest.mark.parametrize("options, state", [
    ({}, "the weights are"), ({"affine": False}, "the layer's state is"),  # a weight: the gate's check; else BatchNorm's
    ({"track_running_stats": False}, "the weights are"),
])
def test_an_input_of_another_dtype_is_refused_whichever_state_the_layer_keeps(options, state):
    layer = nn.BatchNorm1d(3, **options)
    _refused(TypeError, f"{layer!r}: input is float64 but {state} float32; convert the input with "
             "x.astype('float32') or the model with .to(dtype='float64')", lambda: layer(numpy.ones((4, 3))))


def test_neither_parameters_nor_statistics_leave_nothing_to_check_against():
    layer = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert layer(numpy.ones((4, 3))).dtype == numpy.float64


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(2), nn.BatchNorm1d(2).eval(), nn.LayerNorm(2)], ids=repr)
def test_a_gradient_of_another_shape_is_the_whole_message(layer, nn_rng):
    layer(nn_rng.standard_normal((3, 2)).astype("float32"))
    _refused(ValueError, f"{type(layer).__name__}.backward: grad_output has shape (1, 2) but the output has (3, 2); "
             "pass dL/dy with exactly the output's shape (it is never broadcast)",
             lambda: layer.backward(numpy.ones((1, 2), dtype="float32")))


@pytest.mark.parametrize("kind, options", [
    ("BatchNorm1d", {}), ("BatchNorm2d", {"eps": 1e-3, "momentum": None}),
    ("BatchNorm1d", {"affine": False, "track_running_stats": False}), ("BatchNorm2d", {"momentum": 0.5}),
    ("LayerNorm", {}), ("LayerNorm", {"elementwise_affine": False, "eps": 1e-6}),
])
def test_the_printed_form_is_torchs(kind, options):
    size = (3, 4) if kind == "LayerNorm" else 3
    assert repr(getattr(nn, kind)(size, **options)) == repr(getattr(torch.nn, kind)(size, **options))
