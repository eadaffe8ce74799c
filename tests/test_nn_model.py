"""A whole model against torch (the seed autoencoder: forward, loss, every gradient, Adam steps), and
state dicts: torch's names and shapes, weights copied both ways, all-or-nothing loading."""
import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import BACKENDS, autoencoder, copy_torch_into_ours

ADAM_SETTINGS = [pytest.param(dict(lr=1e-3), id="lr=1e-3"),
                 pytest.param(dict(lr=0.1, weight_decay=1e-8), id="lr=0.1-weight_decay=1e-8")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("adam_options", ADAM_SETTINGS)
def test_autoencoder_trains_as_torch(adam_options, backend, nn_rng):
    """At lr 0.1 Adam divides near-zero gradient entries (|g| << eps, pure float64 rounding) by eps,
    so the two libraries' different summation orders grow by up to lr / eps = 1e7 per step: over
    ten seeds the worst parameter differed from 1e-13 to 7e-9 after 10 steps (at lr 1e-3, 3e-15
    for every seed). The initial weights are therefore seeded, not left to whatever ran before."""
    torch.manual_seed(0)
    reference = autoencoder(torch.nn, dtype=torch.float64)
    model = autoencoder(nn, dtype="float64")
    copy_torch_into_ours(reference, model)
    backend.module(model)
    optimizer = nn.Adam(model.parameters(), **adam_options)
    torch_optimizer = torch.optim.Adam(reference.parameters(), **adam_options)
    loss, torch_loss = nn.MSELoss(), torch.nn.MSELoss()
    torch_parameters = dict(reference.named_parameters())
    assert list(dict(model.named_parameters())) == list(torch_parameters)

    for step in range(10):
        batch = nn_rng.uniform(0, 1, (32, 784))
        optimizer.zero_grad()
        torch_optimizer.zero_grad()
        output = model(backend.array(batch))
        value = loss(output, backend.array(batch))
        model.backward(loss.backward())
        torch_output = reference(torch.from_numpy(batch))
        torch_value = torch_loss(torch_output, torch.from_numpy(batch))
        torch_value.backward()
        if step == 0:
            assert_close(output, torch_output, 1e-9, "output")
            assert_close(value, torch_value, 1e-9, "loss")
            for name, parameter in model.named_parameters():
                assert backend.owns(parameter.grad)
                assert_close(parameter.grad, torch_parameters[name].grad, 1e-9, f"gradient of {name}")
        optimizer.step()
        torch_optimizer.step()
    for name, parameter in model.named_parameters():
        assert backend.owns(parameter.data) and parameter.data.dtype == numpy.float64
        assert_close(parameter.data, torch_parameters[name], 1e-9, f"{name} after 10 Adam steps")
    assert_close(value, torch_value, 1e-9, "loss at step 10")


# --- state dicts -----------------------------------------------------------------------------------------
STATE_DICT_MODELS = [  # (build(library, **linear options), input shape)
    pytest.param(lambda library, **options: library.Linear(5, 3, **options), (4, 5), id="Linear"),
    pytest.param(lambda library, **options: library.Linear(5, 3, bias=False, **options), (4, 5), id="Linear-nobias"),
    pytest.param(lambda library, **options: library.Sequential(
        library.Flatten(), library.Linear(12, 8, **options), library.ReLU(), library.Dropout(0.2),
        library.Linear(8, 4, bias=False, **options), library.Sigmoid()), (4, 3, 4), id="Sequential"),
    pytest.param(lambda library, **options: autoencoder(library, **options), (4, 784), id="autoencoder"),
]


@pytest.mark.parametrize("build, input_shape", STATE_DICT_MODELS)
def test_state_dict_has_torchs_keys_and_shapes(build, input_shape):
    ours = build(nn).state_dict()
    reference = build(torch.nn).state_dict()
    assert list(ours) == list(reference)
    assert [tuple(value.shape) for value in ours.values()] == [tuple(value.shape) for value in reference.values()]


@pytest.mark.parametrize("build, input_shape", STATE_DICT_MODELS)
def test_weights_copy_both_ways(build, input_shape, nn_rng):
    x = torch.from_numpy(nn_rng.uniform(0, 1, input_shape))
    reference = build(torch.nn, dtype=torch.float64).eval()
    ours = build(nn, dtype="float64").eval()
    copy_torch_into_ours(reference, ours)  # torch -> ours
    assert_close(ours(x.numpy()), reference(x), 1e-10, "output with torch's weights")

    nn.manual_seed(5)
    ours = build(nn, dtype="float64").eval()  # ours -> torch
    reference.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    for name, value in reference.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), ours.state_dict()[name])
    assert_close(ours(x.numpy()), reference(x), 1e-10, "torch's output with our weights")


def test_state_dict_is_a_copy():
    layer = nn.Linear(3, 2)
    state = layer.state_dict()
    state["weight"][...] = 0
    assert layer.weight.data.any()


def test_load_state_dict_casts_and_copies_in_place():
    layer = nn.Linear(3, 2)  # float32
    weight = layer.weight.data
    layer.load_state_dict({"weight": numpy.ones((2, 3)), "bias": numpy.arange(2.0)})
    assert layer.weight.data is weight and weight.dtype == numpy.float32  # views held by optimizers stay valid
    numpy.testing.assert_array_equal(layer.weight.data, numpy.ones((2, 3)))


def test_load_state_dict_is_all_or_nothing(nn_rng):
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    before = model.state_dict()
    state = {name: value + 1 for name, value in before.items()}  # loading any of these would show
    del state["0.bias"]
    state["2.weight"] = numpy.zeros((3, 4), dtype="float32")
    state["9.weight"] = numpy.zeros((2, 2), dtype="float32")
    with pytest.raises(ValueError) as caught:
        model.load_state_dict(state)
    message = str(caught.value)
    for text in ("missing key '0.bias'", "(4,)", "unexpected key '9.weight'", "'2.weight'", "(3, 4)", "(2, 4)",
                 "nothing was loaded"):
        assert text in message
    for name, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value, before[name], err_msg=f"{name} changed")


def test_load_state_dict_rejects_non_numbers():
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="'bias' holds"):
        layer.load_state_dict({"weight": numpy.zeros((2, 2)), "bias": numpy.array(["a", "b"])})
