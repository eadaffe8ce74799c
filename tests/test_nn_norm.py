"""BatchNorm1d, BatchNorm2d and LayerNorm against torch in float64, every option and their combinations:
outputs, input and parameter gradients (random upstream gradients), running statistics over several
training steps then in eval mode, state dicts both ways; gradcheck with batch statistics; every refusal.
(The catalogue in helpers_nn also runs them in float32, on every backend, through the shared tests.)"""
import numpy
import pytest
import torch

import nn
from conftest import assert_close, relative_error
from helpers_nn import copy_torch_into_ours, randomize_state

TOLERANCE = 1e-10
KINDS = {  # name: (ours, torch's, rank of the input)
    "BatchNorm1d-NC": (nn.BatchNorm1d, torch.nn.BatchNorm1d, 2),
    "BatchNorm1d-NCL": (nn.BatchNorm1d, torch.nn.BatchNorm1d, 3),
    "BatchNorm2d": (nn.BatchNorm2d, torch.nn.BatchNorm2d, 4),
}
AFFINE = [pytest.param({}, id="affine"), pytest.param({"bias": False}, id="affine-nobias"),
          pytest.param({"affine": False}, id="noaffine")]


def compare(ours, reference, what):
    assert_close(ours, reference, TOLERANCE, what)


def odd_shape(rng, rank):
    """Odd sizes, at least 3 values per channel (a smaller batch is a test of cancellation, see helpers_nn)."""
    shape = tuple(int(n) for n in rng.choice([1, 3, 5, 7], size=rank))
    return (max(shape[0], 3),) + shape[1:]


def step(ours, reference, x, rng, label):
    """One forward and backward of both, with a random upstream gradient; compare everything."""
    for module in (ours, reference):
        module.zero_grad()
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y, y_torch = ours(x.copy()), reference(x_torch)
    grad_output = rng.standard_normal(x.shape)
    grad_input = ours.backward(grad_output.copy())
    y_torch.backward(torch.from_numpy(grad_output))
    compare(y, y_torch, f"{label}: output")
    compare(grad_input, x_torch.grad, f"{label}: input gradient")
    named = dict(reference.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(named)
    for name, parameter in ours.named_parameters():
        compare(parameter.grad, named[name].grad, f"{label}: gradient of {name}")
    compare_state(ours, reference, label)


def compare_state(ours, reference, label):
    theirs = reference.state_dict()
    mine = ours.state_dict()
    assert list(mine) == list(theirs), f"{label}: state-dict keys"
    for name, value in theirs.items():
        if name == "num_batches_tracked":
            assert mine[name].dtype == numpy.int64 and mine[name].shape == () and int(mine[name]) == int(value)
        else:
            compare(mine[name], value, f"{label}: {name}")


@pytest.mark.parametrize("eps", [1e-5, 0.25])
@pytest.mark.parametrize("momentum", [0.1, 0.37, None])
@pytest.mark.parametrize("track_running_stats", [True, False])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("kind", list(KINDS))
def test_batch_norm_matches_torch_over_training_and_eval_steps(kind, affine, track_running_stats, momentum, eps, nn_rng):
    ours_class, torch_class, rank = KINDS[kind]
    shape = odd_shape(nn_rng, rank)
    options = dict(affine, momentum=momentum, eps=eps, track_running_stats=track_running_stats)
    reference = randomize_state(torch_class(shape[1], dtype=torch.float64, **options), nn_rng)
    ours = ours_class(shape[1], dtype="float64", **options)
    copy_torch_into_ours(reference, ours)
    scale, shift = nn_rng.uniform(0.5, 3), nn_rng.uniform(-2, 2)  # statistics far from the initial 0 and 1
    for index in range(3):
        step(ours, reference, nn_rng.standard_normal(shape) * scale + shift, nn_rng, f"training step {index}")
    ours.eval(), reference.eval()
    for index in range(2):
        step(ours, reference, nn_rng.standard_normal(shape) * scale + shift, nn_rng, f"eval step {index}")
    ours.train(), reference.train()
    step(ours, reference, nn_rng.standard_normal(shape), nn_rng, "training again")


SHAPES = [pytest.param(5, id="int"), pytest.param((3,), id="tuple1"), pytest.param([3, 5], id="list2"),
          pytest.param((2, 3, 3), id="tuple3")]


@pytest.mark.parametrize("eps", [1e-5, 0.25])
@pytest.mark.parametrize("affine", [pytest.param({}, id="affine"), pytest.param({"bias": False}, id="affine-nobias"),
                                    pytest.param({"elementwise_affine": False}, id="noaffine")])
@pytest.mark.parametrize("leading", [(), (3,), (5, 1)], ids=["unbatched", "batched", "two-leading"])
@pytest.mark.parametrize("normalized_shape", SHAPES)
def test_layer_norm_matches_torch(normalized_shape, leading, affine, eps, nn_rng):
    sizes = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    reference = randomize_state(torch.nn.LayerNorm(normalized_shape, eps=eps, dtype=torch.float64, **affine), nn_rng)
    ours = nn.LayerNorm(normalized_shape, eps=eps, dtype="float64", **affine)
    copy_torch_into_ours(reference, ours)
    for mode in ("train", "eval"):  # no running statistics: both modes compute the same
        getattr(ours, mode)(), getattr(reference, mode)()
        step(ours, reference, nn_rng.standard_normal(leading + sizes) * 2 + 1, nn_rng, mode)


def normalized_model(library, dtype):
    return library.Sequential(library.Linear(6, 5, dtype=dtype), library.BatchNorm1d(5, dtype=dtype), library.ReLU(),
                              library.Linear(5, 4, dtype=dtype), library.LayerNorm(4, dtype=dtype), library.Tanh(),
                              library.Unflatten(1, (1, 2, 2)), library.BatchNorm2d(1, momentum=None, dtype=dtype))


def test_a_model_with_normalization_trains_like_torch(nn_rng):
    """Five SGD steps with momentum, then eval: every parameter and running statistic as torch's."""
    reference = normalized_model(torch.nn, torch.float64)
    ours = normalized_model(nn, "float64")
    copy_torch_into_ours(reference, ours)
    optimizer = nn.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for index in range(5):
        x, grad_output = nn_rng.standard_normal((7, 6)) * 2, nn_rng.standard_normal((7, 1, 2, 2))
        optimizer.zero_grad(), torch_optimizer.zero_grad()
        ours(x)
        ours.backward(grad_output)
        reference(torch.from_numpy(x)).backward(torch.from_numpy(grad_output))
        optimizer.step(), torch_optimizer.step()
        compare_state(ours, reference, f"step {index}")
    ours.eval(), reference.eval()
    x = nn_rng.standard_normal((3, 6))
    compare(ours(x), reference(torch.from_numpy(x)), "eval output")


# --- state dicts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("track_running_stats", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dicts_go_both_ways_with_torch(kind, track_running_stats, nn_rng):
    """Trained here, loaded into torch (strict): torch computes the same; and torch's into a fresh one here."""
    ours_class, torch_class, rank = KINDS[kind]
    shape = odd_shape(nn_rng, rank)
    ours = nn.Sequential(ours_class(shape[1], dtype="float64", track_running_stats=track_running_stats), nn.Tanh())
    for _ in range(3):
        ours(nn_rng.standard_normal(shape) + 1)
        ours.backward(nn_rng.standard_normal(shape))
        for parameter in ours.parameters():
            parameter.data -= 0.1 * parameter.grad
    reference = torch.nn.Sequential(torch_class(shape[1], dtype=torch.float64,
                                                track_running_stats=track_running_stats), torch.nn.Tanh())
    reference.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    expected = ["0.weight", "0.bias"] + ["0.running_mean", "0.running_var", "0.num_batches_tracked"] * track_running_stats
    assert list(ours.state_dict()) == list(reference.state_dict()) == expected
    if track_running_stats:
        assert int(reference[0].num_batches_tracked) == 3
    x = nn_rng.standard_normal(shape)
    ours.eval(), reference.eval()
    compare(ours(x), reference(torch.from_numpy(x)), "torch with our state")

    fresh = nn.Sequential(ours_class(shape[1], dtype="float64", track_running_stats=track_running_stats), nn.Tanh())
    copy_torch_into_ours(reference, fresh.eval())
    compare(fresh(x), reference(torch.from_numpy(x)), "ours with torch's state")


def test_initial_state_is_torchs():
    for ours, reference in [(nn.BatchNorm2d(7), torch.nn.BatchNorm2d(7)),
                            (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3))),
                            (nn.BatchNorm1d(4, affine=False), torch.nn.BatchNorm1d(4, affine=False))]:
        theirs = reference.state_dict()
        mine = ours.state_dict()
        assert list(mine) == list(theirs)
        for name, value in theirs.items():
            numpy.testing.assert_array_equal(mine[name], value.numpy(), err_msg=name)
            assert mine[name].dtype == value.numpy().dtype, name


# --- buffers in Module ------------------------------------------------------------------------------------
def test_buffers_are_state_but_not_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LayerNorm(4))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias",
                                                               "2.weight", "2.bias"]
    assert [name for name, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert len(model.buffers()) == 3
    assert nn.BatchNorm1d(4, track_running_stats=False).buffers() == []
    assert nn.BatchNorm1d(4, track_running_stats=False).running_mean is None


class Tally(nn.Module):
    """A module with each kind of state: a parameter, buffers (one None), a child."""

    def __init__(self):
        self.scale = nn.Parameter(numpy.ones(2))
        self.register_buffer("total", numpy.zeros(2))
        self.register_buffer("nothing", None)
        self.child = nn.Linear(2, 3, dtype="float64")


class TorchTally(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
        self.register_buffer("total", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("nothing", None)
        self.child = torch.nn.Linear(2, 3, dtype=torch.float64)


def test_a_registered_buffer_is_saved_in_torchs_order():
    ours, reference = Tally(), TorchTally()
    assert list(ours.state_dict()) == list(reference.state_dict()) == ["scale", "total", "child.weight", "child.bias"]
    assert ours.nothing is None and [name for name, _ in ours.named_buffers()] == ["total"]
    assert [name for name, _ in ours.named_parameters()] == ["scale", "child.weight", "child.bias"]
    ours.register_buffer("total", numpy.full(2, 3.0))  # registering again replaces the value, keeps one name
    assert list(ours.state_dict()) == ["scale", "total", "child.weight", "child.bias"]
    reference.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    assert reference.total.tolist() == [3.0, 3.0]


def test_to_casts_floating_buffers_and_keeps_the_counter(nn_rng):
    layer = nn.BatchNorm1d(3)
    layer(nn_rng.standard_normal((4, 3)).astype("float32"))
    layer.to(dtype="float64")
    assert layer.running_mean.dtype == layer.running_var.dtype == layer.weight.dtype == numpy.float64
    assert layer.num_batches_tracked.dtype == numpy.int64 and int(layer.num_batches_tracked) == 1
    layer(nn_rng.standard_normal((4, 3)))  # float64 input accepted after the move
    assert int(layer.num_batches_tracked) == 2
    layer.to("cpu")
    assert type(layer.running_mean) is numpy.ndarray


def test_load_state_dict_checks_buffers_all_or_nothing():
    layer = nn.BatchNorm1d(3)
    state = layer.state_dict()
    del state["running_var"]
    state["running_mean"] = numpy.full(3, 5.0)
    with pytest.raises(ValueError, match="missing key 'running_var'"):
        layer.load_state_dict(state)
    assert not layer.running_mean.any()  # nothing was loaded
    state["running_var"] = numpy.ones(4)
    with pytest.raises(ValueError, match=r"key 'running_var' has shape \(4,\)"):
        layer.load_state_dict(state)
    state["running_var"] = numpy.full(3, 2.0)
    running_mean = layer.running_mean
    layer.load_state_dict(state)
    assert layer.running_mean is running_mean and (running_mean == 5.0).all()  # copied into the same array


# --- gradcheck --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"affine": False}, {"momentum": None}, {"track_running_stats": False},
                                     {"bias": False, "eps": 0.5}], ids=str)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batch_norm_passes_gradcheck(kind, options, mode, nn_rng):
    ours_class, _, rank = KINDS[kind]
    shape = (3, 2, 3, 2)[:rank]
    layer = ours_class(2, dtype="float64", **options)
    for _, parameter in layer.named_parameters():
        parameter.data[...] = nn_rng.uniform(-2, 2, parameter.shape)
    layer(nn_rng.standard_normal(shape) * 2 + 1)  # running statistics away from 0 and 1
    getattr(layer, mode)()
    report = nn.gradcheck(layer, nn_rng.standard_normal(shape) * 2, atol=0.0)
    assert len(report.checks) == 1 + len(layer.parameters())


@pytest.mark.parametrize("options", [{}, {"elementwise_affine": False}, {"bias": False}], ids=str)
def test_layer_norm_passes_gradcheck(options, nn_rng):
    layer = nn.LayerNorm((3, 2), dtype="float64", **options)
    for _, parameter in layer.named_parameters():
        parameter.data[...] = nn_rng.uniform(-2, 2, parameter.shape)
    nn.gradcheck(layer, nn_rng.standard_normal((2, 3, 3, 2)), atol=0.0)


def test_the_batch_statistics_backward_is_needed(nn_rng):
    """The eval formula (g * gamma / std) differs from the training one: gradcheck tells them apart."""
    layer = nn.BatchNorm1d(3, dtype="float64", track_running_stats=False)
    x = nn_rng.standard_normal((4, 3))
    layer(x)
    layer._cache = layer._cache[:3] + (False,)  # pretend the statistics were constants
    grad_output = nn_rng.standard_normal((4, 3))
    wrong = layer.backward(grad_output)
    layer(x)
    right = layer.backward(grad_output)
    assert relative_error(wrong, right) > 0.1
    numpy.testing.assert_allclose(right.sum(axis=0), 0, atol=1e-12)  # shifting a channel changes no x_hat


# --- refusals -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("build, error, message", [
    (lambda: nn.BatchNorm1d(0), ValueError, "num_features must be a positive integer, got 0"),
    (lambda: nn.BatchNorm2d(3.0), ValueError, "num_features must be a positive integer"),
    (lambda: nn.BatchNorm1d(3, -1e-5), ValueError, "eps must be a number >= 0, got -1e-05"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, "momentum must be None .* or a number in \\[0, 1\\], got 1.5"),
    (lambda: nn.BatchNorm1d(3, momentum="0.1"), ValueError, "momentum must be None"),
    (lambda: nn.BatchNorm1d(3, affine="yes"), TypeError, "affine must be True or False, got 'yes'"),
    (lambda: nn.BatchNorm2d(3, 1e-5, 0.1, True, True, "float64"), ValueError,
     "BatchNorm2d: device must be None, 'cpu' or 'gpu' \\('cuda'\\), got 'float64'"),
    (lambda: nn.BatchNorm2d(3, dtype="float16"), ValueError, "BatchNorm2d: unsupported dtype 'float16'"),
    (lambda: nn.LayerNorm(0), ValueError, "normalized_shape must be a positive integer or a tuple of them, got 0"),
    (lambda: nn.LayerNorm((3, "4")), ValueError, "normalized_shape must be"),
    (lambda: nn.LayerNorm(3, 1e-5, True, True, "float64"), ValueError, "LayerNorm: device must be"),
    (lambda: nn.LayerNorm(3, elementwise_affine=None), TypeError, "elementwise_affine must be True or False"),
], ids=lambda value: None if callable(value) else str(value)[:40])
def test_bad_arguments_are_refused_by_name(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("layer, shape, message", [
    (nn.BatchNorm1d(3), (4, 3, 2, 2), r"expected input of shape \(N, 3\) or \(N, 3, L\), got \(4, 3, 2, 2\)"),
    (nn.BatchNorm1d(3), (4, 2), r"expected input of shape \(N, 3\)"),
    (nn.BatchNorm2d(3), (4, 3, 2), r"expected input of shape \(N, 3, H, W\), got \(4, 3, 2\)"),
    (nn.BatchNorm1d(3), (1, 3), "expected more than 1 value per channel"),
    (nn.BatchNorm2d(3, track_running_stats=False).eval(), (1, 3, 1, 1), "expected more than 1 value per channel"),
    (nn.LayerNorm((3, 4)), (2, 4, 3), r"expected input of shape \(\*, 3, 4\), got \(2, 4, 3\)"),
    (nn.LayerNorm((3, 4)), (4,), r"expected input of shape \(\*, 3, 4\), got \(4,\)"),
])
def test_bad_inputs_are_refused(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(numpy.zeros(shape, dtype="float32"))


def test_one_sample_is_fine_in_eval_mode():
    layer = nn.BatchNorm1d(3).eval()
    assert layer(numpy.ones((1, 3), dtype="float32")).shape == (1, 3)


@pytest.mark.parametrize("layer, state", [
    (nn.BatchNorm1d(3), "the weights are"), (nn.LayerNorm(3), "the weights are"),  # the gate's check (a weight)
    (nn.BatchNorm1d(3, affine=False), "the layer's state is"),  # no weight: BatchNorm's own, its running statistics
], ids=repr)
def test_a_float64_input_to_float32_state_is_refused(layer, state):
    with pytest.raises(TypeError, match=f"input is float64 but {state} float32"):
        layer(numpy.ones((4, 3)))


@pytest.mark.parametrize("layer", [nn.BatchNorm2d(2), nn.BatchNorm2d(2).eval(), nn.LayerNorm(2)], ids=repr)
def test_a_gradient_of_another_shape_is_refused_not_broadcast(layer, nn_rng):
    layer(nn_rng.standard_normal((3, 2, 2, 2)).astype("float32"))
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 2, 2, 2\) but the output has \(3, 2, 2, 2\)"):
        layer.backward(numpy.ones((1, 2, 2, 2), dtype="float32"))

