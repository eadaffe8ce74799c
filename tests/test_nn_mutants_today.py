"""Survivors of the day's new code (tests/mutation/results): gradient clipping's norms and refusals
(nn/utils.py), the optimizer's saved step counts and step hooks (nn/optimizer.py), the message for an input
of a dtype the engine does not compute in (nn/arguments.py), and a module's state read by name
(nn/module.py). Values are held to torch's in float64; messages whole."""
import math
import sys
import warnings

import numpy
import pytest
import torch

import nn


# --- nn.utils: clip_grad_norm_ and clip_grad_value_ -----------------------------------------------------

def pairs(values):
    """The same gradients as engine parameters and as torch parameters (float64)."""
    ours, theirs = [], []
    for value in values:
        array = numpy.asarray(value, dtype="float64")
        parameter = nn.Parameter(numpy.zeros_like(array))
        parameter.grad = array.copy()
        reference = torch.nn.Parameter(torch.zeros(array.shape, dtype=torch.float64))
        reference.grad = torch.tensor(array)
        ours.append(parameter)
        theirs.append(reference)
    return ours, theirs


def assert_clipped_as_torch(values, max_norm, ours_norm_type, torch_norm_type, **options):
    ours, theirs = pairs(values)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=ours_norm_type, **options)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=torch_norm_type, **options)
    numpy.testing.assert_allclose(total, expected.numpy(), rtol=1e-12, atol=0)
    for parameter, reference in zip(ours, theirs):
        numpy.testing.assert_allclose(parameter.grad, reference.grad.numpy(), rtol=1e-12, atol=0)
    return float(total)


def test_clip_grad_norm_of_order_zero_counts_the_non_zero_entries_as_torch():
    # per gradient 2, 2, 1 non-zeros; all three counts non-zero: a total of 3 (zeros counted: 1; != 1: 2)
    total = assert_clipped_as_torch([[0.0, 1.0, 2.0], [3.0, 4.0], [1.0, 0.0]], 2.0, 0, 0)
    assert total == 3.0


def test_clip_grad_norm_takes_the_string_minus_inf_as_torch_takes_the_number():
    values = [[0.5, -3.0, 2.0], [-4.0, 1.5]]
    total = assert_clipped_as_torch(values, 0.25, "-inf", -math.inf)
    assert total == 0.5  # the smallest |g| of all: the smaller per-gradient minimum
    assert assert_clipped_as_torch(values, 0.25, " -INF ", -math.inf) == 0.5


def test_clip_grad_norm_scales_a_non_finite_norm_by_default_as_torch():
    ours, theirs = pairs([[math.inf, 1.0], [2.0]])
    with numpy.errstate(invalid="ignore"):  # inf * 0: NumPy's RuntimeWarning, where torch says nothing
        total = nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert float(total) == float(expected) == math.inf
    for parameter, reference in zip(ours, theirs):
        numpy.testing.assert_array_equal(parameter.grad, reference.grad.numpy())  # NaN where inf * 0, else 0


def test_clip_grad_norm_with_error_if_nonfinite_clips_finite_gradients_as_torch():
    assert_clipped_as_torch([[3.0, 4.0], [12.0]], 1.0, 2.0, 2.0, error_if_nonfinite=True)


def test_clip_grad_norm_refuses_a_non_finite_norm_when_asked_in_one_line():
    ours, _ = pairs([[math.inf, 1.0]])
    with pytest.raises(RuntimeError) as caught:
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert str(caught.value) == (
        "clip_grad_norm_: the gradients' total norm of order 2.0 is inf, so they cannot be clipped; find the "
        "non-finite gradient, or pass error_if_nonfinite=False to scale anyway")
    assert ours[0].grad.tolist() == [math.inf, 1.0]  # nothing scaled


@pytest.mark.parametrize("norm_type", ["two", None, float("nan"), True])
def test_clip_grad_norm_refuses_a_norm_type_that_is_not_a_number(norm_type):
    ours, _ = pairs([[1.0]])
    with pytest.raises(TypeError) as caught:
        nn.utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    assert str(caught.value) == f"clip_grad_norm_: norm_type must be a number, got {norm_type!r}"


@pytest.mark.parametrize("clip_value", ["1", None, float("nan"), False])
def test_clip_grad_value_refuses_a_clip_value_that_is_not_a_number(clip_value):
    ours, _ = pairs([[1.0]])
    with pytest.raises(TypeError) as caught:
        nn.utils.clip_grad_value_(ours, clip_value)
    assert str(caught.value) == f"clip_grad_value_: clip_value must be a number, got {clip_value!r}"


@pytest.mark.parametrize("function, arguments", [(nn.utils.clip_grad_norm_, (1.0,)), (nn.utils.clip_grad_value_, (1.0,))])
def test_clipping_refuses_a_foreach_that_is_not_a_switch_and_takes_both_switches(function, arguments):
    name = function.__name__
    ours, _ = pairs([[3.0, -4.0]])
    with pytest.raises(TypeError) as caught:
        function(ours, *arguments, foreach="yes")
    assert str(caught.value) == f"{name}: foreach must be None, True or False, got 'yes'"
    for foreach in (True, False, None):
        values = [[3.0, -4.0], [0.5]]
        mine, theirs = pairs(values)
        result = function(mine, *arguments, foreach=foreach)
        expected = getattr(torch.nn.utils, name)(theirs, *arguments, foreach=foreach)
        if expected is None:
            assert result is None
        else:
            numpy.testing.assert_allclose(result, expected.numpy(), rtol=1e-12, atol=0)
        for parameter, reference in zip(mine, theirs):
            numpy.testing.assert_allclose(parameter.grad, reference.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("function, arguments", [(nn.utils.clip_grad_norm_, (1.0,)), (nn.utils.clip_grad_value_, (1.0,))])
def test_the_empty_generator_warning_points_at_the_callers_line(function, arguments):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function((p for p in []), *arguments), (line := sys._getframe().f_lineno)
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, (
        f"{function.__name__}: parameters is an empty generator (one already walked, such as the one an optimizer "
        "was built from), so nothing is clipped; pass model.parameters(), a list"))]
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)


# --- nn.arguments.input_dtype_error ----------------------------------------------------------------

def test_an_input_of_a_dtype_the_engine_does_not_compute_in_is_offered_only_the_input_conversion():
    layer = nn.Linear(2, 3, dtype="float32")
    with pytest.raises(TypeError) as caught:
        layer(numpy.ones((1, 2), dtype="int64"))
    assert str(caught.value) == (
        f"{layer!r}: input is int64 but the weights are float32; convert the input with x.astype('float32') "
        "(the engine computes in float32 or float64 only)")


def test_an_input_of_the_other_engine_dtype_is_offered_both_conversions():
    layer = nn.Linear(2, 3, dtype="float32")
    with pytest.raises(TypeError) as caught:
        layer(numpy.ones((1, 2), dtype="float64"))
    assert str(caught.value) == (
        f"{layer!r}: input is float64 but the weights are float32; convert the input with x.astype('float32') "
        "or the model with .to(dtype='float64')")


# --- nn.optimizer: saved step counts, torch's layout, step hooks ---------------------------------------

def optimizer_over(count=3, groups=False):
    model = nn.Sequential(nn.Linear(2, 2, dtype="float64"), nn.Linear(2, 1, bias=False, dtype="float64"))
    params = list(model.parameters())[:count]
    if groups:
        return nn.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    return nn.SGD(params, lr=0.1)


def refusal(optimizer, state):
    before = [parameter.data.copy() for group in optimizer.param_groups for parameter in group["params"]]
    with pytest.raises(ValueError) as caught:
        optimizer.load_state_dict(state)
    assert optimizer.step_count == 0
    assert all(numpy.array_equal(a, p.data) for a, p in
               zip(before, [p for group in optimizer.param_groups for p in group["params"]]))
    return str(caught.value)


STEP_FIX = ("but a step count is a whole number >= 0 (the steps taken so far): load a state_dict() an optimizer "
            "saved, or skip load_state_dict to start the optimizer afresh")


@pytest.mark.parametrize("value", [-1, 2.5, math.inf, -math.inf, math.nan, True, "3", None])
def test_a_saved_step_count_that_is_not_a_whole_number_is_refused_by_value(value):
    optimizer = optimizer_over()
    state = {**optimizer.state_dict(), "step": value}
    assert refusal(optimizer, state) == f"SGD.load_state_dict: key 'step' holds {value!r}, {STEP_FIX}; nothing was loaded"


def test_a_bad_step_count_among_one_per_parameter_is_named_by_its_parameter():
    optimizer = optimizer_over()
    for steps, bad, index in (([4, -2, 5], -2, 1), (numpy.array([4.0, 0.5, -1.0]), 0.5, 1), ((1, 2, True), True, 2)):
        state = {**optimizer.state_dict(), "step": steps}
        assert refusal(optimizer, state) == \
            f"SGD.load_state_dict: key 'step' holds {bad!r} (parameter {index}), {STEP_FIX}; nothing was loaded"


def test_a_step_count_of_zero_loads_as_a_fresh_optimizers():
    optimizer = optimizer_over()
    optimizer.load_state_dict({**optimizer.state_dict(), "step": 0})
    assert optimizer.step_count == 0
    optimizer.load_state_dict({**optimizer.state_dict(), "step": [0, 1, 0]})
    assert [optimizer.state[p]["step"] for p in optimizer.param_groups[0]["params"]] == [0, 1, 0]
    optimizer.load_state_dict({**optimizer.state_dict(), "step": numpy.array([3, 0, 2])})
    assert [optimizer.state[p]["step"] for p in optimizer.param_groups[0]["params"]] == [3, 0, 2]


def test_a_bad_step_count_of_a_second_group_names_the_groups_key():
    optimizer = optimizer_over(groups=True)
    state = {**optimizer.state_dict(), "1.step": [1, -1]}
    assert refusal(optimizer, state) == \
        f"SGD.load_state_dict: key '1.step' holds -1 (parameter 1), {STEP_FIX}; nothing was loaded"


@pytest.mark.parametrize("steps, shape", [([1, 2], (2,)), ((1, 2, 3, 4), (4,)), (numpy.ones((2, 3), "int64"), (2, 3)),
                                          (numpy.ones((3, 1), "int64"), (3, 1))])
def test_one_step_count_per_parameter_of_another_shape_is_refused_by_shape(steps, shape):
    optimizer = optimizer_over()
    state = {**optimizer.state_dict(), "step": steps}
    assert refusal(optimizer, state) == (f"SGD.load_state_dict: key 'step' has shape {shape}, expected (3,) (one step "
                                         "count per parameter); nothing was loaded")


def test_torch_optims_layout_is_refused_in_one_line():
    optimizer = optimizer_over()
    layout = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1).state_dict()
    assert refusal(optimizer, layout) == (
        "SGD.load_state_dict: this is torch.optim's layout ('state', 'param_groups'); the engine's optimizer state "
        "dict is flat (optimizer.state_dict()) and the two do not convert: load one saved from the engine, or start "
        "the optimizer afresh")
    adam = nn.Adam(optimizer.param_groups[0]["params"])
    with pytest.raises(ValueError, match=r"^Adam\.load_state_dict: this is torch\.optim's layout "):
        adam.load_state_dict(layout)


def test_step_hooks_run_before_and_after_each_step_with_torchs_arguments():
    calls = []

    def runs(optimizer, name):
        (parameter,) = optimizer.param_groups[0]["params"]
        order = []
        handles = [optimizer.register_step_pre_hook(
                       lambda *arguments: order.append(("pre 1", arguments, parameter.data.tolist()))),
                   optimizer.register_step_pre_hook(
                       lambda *arguments: order.append(("pre 2", arguments, parameter.data.tolist()))),
                   optimizer.register_step_post_hook(
                       lambda *arguments: order.append(("post", arguments, parameter.data.tolist())))]
        parameter.grad = parameter.data * 0 + 1
        optimizer.step()
        calls.append((name, order))
        return handles, order

    mine = nn.SGD([nn.Parameter(numpy.zeros(2))], lr=0.5)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], lr=0.5)
    handles, order = runs(mine, "ours")
    (reference,) = theirs.param_groups[0]["params"]
    expected = []
    theirs.register_step_pre_hook(lambda *arguments: expected.append(("pre 1", arguments, reference.tolist())))
    theirs.register_step_pre_hook(lambda *arguments: expected.append(("pre 2", arguments, reference.tolist())))
    theirs.register_step_post_hook(lambda *arguments: expected.append(("post", arguments, reference.tolist())))
    reference.grad = torch.ones(2, dtype=torch.float64)
    theirs.step()
    # the same order and the parameter's values around the step as torch's (whose hooks get the wrapped
    # step's own arguments, (optimizer,), where this step has none: () and {} as the docstring says)
    assert [(name, values) for name, _, values in order] == [(name, values) for name, _, values in expected] == \
        [("pre 1", [0.0, 0.0]), ("pre 2", [0.0, 0.0]), ("post", [-0.5, -0.5])]
    assert [arguments[1:] for _, arguments, _ in order] == [((), {})] * 3
    assert all(len(arguments) == 3 and arguments[0] is theirs for _, arguments, _ in expected)
    assert all(arguments[0] is mine for _, arguments, _ in order)
    # removed, a hook runs no more; the others stay
    handles[0].remove()
    handles[2].remove()
    order.clear()
    mine.step()
    assert [name for name, _, _ in order] == ["pre 2"]
    handles[1].remove()
    mine.step()
    assert [name for name, _, _ in order] == ["pre 2"]
    assert mine.param_groups[0]["params"][0].data.tolist() == [-1.5, -1.5]  # three steps of -0.5


@pytest.mark.parametrize("register", ["register_step_pre_hook", "register_step_post_hook"])
def test_a_step_hook_that_is_not_callable_is_refused_in_one_line(register):
    optimizer = nn.Adam([nn.Parameter(numpy.zeros(2))])
    with pytest.raises(TypeError) as caught:
        getattr(optimizer, register)(3)
    assert str(caught.value) == f"Adam.{register}: hook must be callable, got int"


def test_step_hooks_are_the_optimizers_own():
    first, second = (nn.SGD([nn.Parameter(numpy.zeros(1))], lr=1.0) for _ in range(2))
    seen = []
    first.register_step_post_hook(lambda optimizer, *_: seen.append(optimizer))
    second.step()
    first.step()
    assert seen == [first]


# --- nn.module: buffers held under two names; torch tensors in a state dict -------------------------------

class TwoNames(nn.Module):
    """One array registered as two buffers (as torch allows: both names are saved and both are moved)."""

    def __init__(self):
        super().__init__()
        shared = numpy.arange(3.0)
        self.register_buffer("first", shared)
        self.register_buffer("second", shared)

    def forward(self, x):
        return x


class TorchTwoNames(torch.nn.Module):
    def __init__(self):
        super().__init__()
        shared = torch.arange(3.0, dtype=torch.float64)
        self.register_buffer("first", shared)
        self.register_buffer("second", shared)


def test_a_buffer_held_under_two_names_is_saved_under_both_as_torch():
    model = nn.Sequential(TwoNames(), TwoNames())
    expected = torch.nn.Sequential(TorchTwoNames(), TorchTwoNames()).state_dict()
    state = model.state_dict()
    assert list(state) == list(expected) == ["0.first", "0.second", "1.first", "1.second"]
    for name in state:
        numpy.testing.assert_array_equal(state[name], expected[name].numpy())
    model.load_state_dict({name: value + 1 for name, value in state.items()})


def test_a_buffer_held_under_two_names_is_moved_under_both_as_torch():
    model = TwoNames().to(dtype="float32")
    reference = TorchTwoNames().to(dtype=torch.float32)
    assert (model.first.dtype.name, model.second.dtype.name) == ("float32", "float32")
    assert (reference.first.dtype, reference.second.dtype) == (torch.float32, torch.float32)
    # cast one by one, the two names hold two arrays afterwards, in torch too
    assert [name for name, _ in model.named_buffers()] == [name for name, _ in reference.named_buffers()] == \
        ["first", "second"]


def test_torch_tensors_in_a_state_dict_are_refused_naming_the_first_and_counting_the_others():
    model = nn.Linear(2, 3)
    reference = torch.nn.Linear(2, 3).state_dict()
    fix = ("; the engine takes NumPy arrays: pass {name: value.detach().cpu().numpy() for name, value in "
           "state_dict.items()}")
    for state, named in ((dict(reference), "'weight' holds a torch.Tensor (and 1 more)"),
                         ({"weight": reference["weight"], "bias": reference["bias"].numpy()},
                          "'weight' holds a torch.Tensor"),
                         ({"weight": reference["weight"].numpy(), "bias": reference["bias"]},
                          "'bias' holds a torch.Tensor")):
        with pytest.raises(TypeError) as caught:
            model.load_state_dict(state)
        assert str(caught.value) == f"Linear.load_state_dict: {named}{fix}"
    three = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    state = {name: torch.tensor(value) for name, value in three.state_dict().items()}
    with pytest.raises(TypeError) as caught:
        three.load_state_dict(state)
    assert str(caught.value) == f"Sequential.load_state_dict: '0.weight' holds a torch.Tensor (and 3 more){fix}"
