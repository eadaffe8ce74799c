"""More checks of nn/module.py that mutation testing found unreached (tests/mutation/mutants.py, target
nn.module): a torch.nn.Parameter, what a torch model's named_parameters() and attributes hold, refused by
name as a tensor wherever the engine refuses a torch.Tensor (its type lives in torch.nn.parameter)."""
import numpy
import pytest
import torch

import nn


def _raises(error, message, function, *args):
    with pytest.raises(error) as caught:
        function(*args)
    assert str(caught.value) == message


def test_a_torch_parameter_as_input_is_named_as_a_tensor_with_its_fix():
    layer = nn.Linear(2, 3)
    parameter = torch.nn.Parameter(torch.ones(1, 2))
    message = ("Linear: the input is a torch.Tensor; the engine takes NumPy (or CuPy) arrays: pass "
               "x.detach().cpu().numpy()")
    _raises(TypeError, message, layer, parameter)
    _raises(TypeError, message.replace("Linear", "ReLU"), nn.ReLU(), parameter)


def test_a_torch_models_named_parameters_are_refused_as_tensors_and_nothing_is_loaded():
    ours, theirs = nn.Linear(2, 3), torch.nn.Linear(2, 3)
    before = [ours.weight.data.copy(), ours.bias.data.copy()]
    fix = "the engine takes NumPy arrays: pass {name: value.detach().cpu().numpy() for name, value in state_dict.items()}"
    _raises(TypeError, f"Linear.load_state_dict: 'weight' holds a torch.Tensor (and 1 more); {fix}",
            ours.load_state_dict, dict(theirs.named_parameters()))
    mixed = {"weight": theirs.weight.detach().numpy(), "bias": theirs.bias}  # one Parameter left in
    _raises(TypeError, f"Linear.load_state_dict: 'bias' holds a torch.Tensor; {fix}", ours.load_state_dict, mixed)
    assert numpy.array_equal(ours.weight.data, before[0]) and numpy.array_equal(ours.bias.data, before[1])
    # The fix the message gives loads torch's values.
    ours.load_state_dict({name: value.detach().cpu().numpy() for name, value in theirs.named_parameters()})
    assert numpy.array_equal(ours.weight.data, theirs.weight.detach().numpy())


@pytest.mark.parametrize("dtype", [torch.nn.Parameter(torch.ones(1)), "float32, float32 ("])
def test_to_refuses_what_is_not_a_dtype_in_one_line_of_its_own(dtype):
    """A torch Parameter in dtype's place, or a string NumPy reads as a list of fields, is refused by the
    engine's own one-line message (NumPy's ValueError leaked before)."""
    layer = nn.Linear(2, 3)
    with pytest.raises(ValueError) as caught:
        layer.to(dtype=dtype)
    message = str(caught.value)
    assert message.startswith("unsupported dtype '") and message.endswith("': use one of ('float32', 'float64')")
    assert "\n" not in message
    assert layer.weight.dtype == numpy.float32


def test_integer_state_values_are_rounded_once_to_the_models_dtype_as_torch_does():
    """load_state_dict takes integer arrays (torch's copy_ does): each value is rounded straight to float32.
    2^60 + 2^36 + 1 lies just above the halfway point between two float32 numbers; through float64 first it
    would lose its + 1, land on the halfway point and round to the even neighbour below."""
    big = 2 ** 60 + 2 ** 36 + 1
    state = {"weight": numpy.array([[big, -big], [3, 4]], dtype=numpy.int64), "bias": numpy.array([big, 7])}
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours.load_state_dict(state)
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()})
    for name, value in theirs.state_dict().items():
        assert ours.state_dict()[name].dtype == numpy.float32
        assert numpy.array_equal(ours.state_dict()[name], value.numpy())
