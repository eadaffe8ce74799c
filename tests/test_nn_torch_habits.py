"""Every torch habit a ported program reaches (docs/from-pytorch.md, "Every habit, audited"): each one does
what torch does, or fails at once with one line that names the engine's way. Where both libraries can run
the habit, torch runs it beside the engine on the same numbers (float64)."""
import importlib
import math

import numpy
import pytest
import torch

import nn
from helpers_nn import GPU
from nn.losses import LossValue


def pair(seed=0):
    """The same small model in both libraries (float64, the engine's weights copied into torch's)."""
    nn.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 3), nn.Tanh())).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())).double()
    theirs.load_state_dict({name: torch.from_numpy(array) for name, array in ours.state_dict().items()})
    return ours, theirs


def data(seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal((6, 5)), rng.standard_normal((6, 3))


def backward_both(ours, theirs, x, target):
    criterion = nn.MSELoss()
    value = criterion(ours(x), target)
    ours.backward(criterion.backward())
    torch_value = torch.nn.functional.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(target))
    torch_value.backward()
    return value, torch_value


# --- the loss value ---------------------------------------------------------------------------------------
def test_item_float_detach_cpu_numpy_on_a_loss_value_give_torchs_numbers():
    ours, theirs = pair()
    x, target = data()
    value, torch_value = backward_both(ours, theirs, x, target)
    assert type(value.item()) is float and value.item() == pytest.approx(torch_value.item(), rel=1e-14)
    assert float(value) == value.item()
    for detached in (value.detach(), value.cpu(), value.detach().cpu()):
        assert type(detached) is LossValue and numpy.shares_memory(detached, value)  # no copy, as torch's
        assert detached.item() == value.item()
        with pytest.raises(RuntimeError, match="backward is explicit"):  # still no autograd on it
            detached.backward()
    plain = value.detach().cpu().numpy()                                   # torch's whole chain
    torch_plain = torch_value.detach().cpu().numpy()
    assert type(plain) is numpy.ndarray and plain.shape == torch_plain.shape == ()
    assert numpy.shares_memory(plain, value)
    numpy.testing.assert_allclose(plain, torch_plain, rtol=1e-14)


def test_a_models_output_is_a_plain_array_so_detach_is_not_needed():
    ours, _ = pair()
    output = ours(data()[0])
    assert type(output) is numpy.ndarray  # what torch's output.detach().cpu().numpy() gives, already
    with pytest.raises(AttributeError, match="'numpy.ndarray' object has no attribute 'detach'"):
        output.detach()


def test_torch_no_grad_around_the_engine_changes_nothing():
    ours, _ = pair()
    x, target = data()
    criterion = nn.MSELoss()
    with torch.no_grad():  # torch's context: the engine records no graph either way
        inside = ours(x)
        criterion(inside, target)
        ours.backward(criterion.backward())
    gradients = [parameter.grad.copy() for parameter in ours.parameters()]
    ours.zero_grad()
    numpy.testing.assert_array_equal(ours(x), inside)
    criterion(ours(x), target)
    ours.backward(criterion.backward())
    for parameter, gradient in zip(ours.parameters(), gradients):
        numpy.testing.assert_array_equal(parameter.grad, gradient)


# --- torch names on nn ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, says", [
    ("no_grad", "records no graph"), ("enable_grad", "records no graph"), ("inference_mode", "records no graph"),
    ("set_grad_enabled", "records no graph"), ("functional", "nn.ReLU()"), ("init", "layer.weight.data[...]"),
    ("ModuleList", "nn.Sequential(*modules)"), ("Tensor", "numpy.asarray"), ("tensor", "numpy.asarray"),
    ("from_numpy", "pass the array itself"), ("save", "numpy.savez"), ("load", "numpy.load(path)"),
    ("cuda", "nn.gpu_available()"), ("device", "'cpu' and 'gpu'"),
])
def test_a_torch_name_on_nn_names_the_engines_way(name, says):
    with pytest.raises(AttributeError) as caught:
        getattr(nn, name)
    message = str(caught.value)
    assert message.startswith(f"module 'nn' has no attribute {name!r} (torch's): ") and says in message
    assert "\n" not in message
    assert not hasattr(nn, name)  # duck-typing checks still see a missing name


def test_any_other_missing_name_is_pythons_usual_error():
    with pytest.raises(AttributeError) as caught:
        nn.Conv3d
    assert str(caught.value) == "module 'nn' has no attribute 'Conv3d'"
    assert nn.Parameter is nn.module.Parameter and nn.utils.clip_grad_norm_ is not None
    with pytest.raises(ModuleNotFoundError, match="No module named 'nn.functional'"):  # the import form: Python's
        importlib.import_module("nn.functional")


def test_a_sequential_as_a_module_list_has_torchs_keys():
    nn.manual_seed(0)
    blocks = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))               # torch: nn.ModuleList([...])
    torch_blocks = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)])
    assert list(blocks.state_dict()) == list(torch_blocks.state_dict())
    assert len(blocks) == 2 and [type(block).__name__ for block in blocks] == ["Linear", "Linear"]


def test_the_save_advice_round_trips_a_state_dict(tmp_path):
    ours, _ = pair()
    numpy.savez(tmp_path / "model.npz", **ours.state_dict())
    other, _ = pair(seed=1)
    assert not numpy.array_equal(other[0].weight.data, ours[0].weight.data)
    with numpy.load(tmp_path / "model.npz") as saved:
        other.load_state_dict(saved)
    for (name, array), (other_name, other_array) in zip(ours.state_dict().items(), other.state_dict().items()):
        assert name == other_name
        numpy.testing.assert_array_equal(array, other_array)


def test_torch_save_of_an_engine_state_dict_loads_back_only_with_weights_only_false(tmp_path):
    ours, _ = pair()
    torch.save(ours.state_dict(), tmp_path / "model.pt")
    with pytest.raises(Exception, match="weights_only"):  # torch's safe default refuses NumPy arrays
        torch.load(tmp_path / "model.pt")
    other, _ = pair(seed=1)
    other.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=False))
    numpy.testing.assert_array_equal(other[0].weight.data, ours[0].weight.data)


# --- state dicts, both ways ---------------------------------------------------------------------------------
def test_state_dicts_cross_both_ways_with_one_conversion_each():
    x = data()[0]
    ours, theirs = pair()                                              # engine -> torch: torch.from_numpy
    numpy.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-14)
    with pytest.raises(RuntimeError, match="expected torch.Tensor"):    # torch wants tensors: the conversion is needed
        theirs.load_state_dict(ours.state_dict())
    nn.manual_seed(5)
    fresh = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 3), nn.Tanh())).double()
    fresh.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    numpy.testing.assert_allclose(fresh(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-14)


def test_a_torch_state_dict_given_as_it_is_is_refused_with_the_conversion():
    ours, theirs = pair()
    before = ours.state_dict()
    with pytest.raises(TypeError) as caught:
        ours.load_state_dict(theirs.state_dict())
    message = str(caught.value)
    assert "\n" not in message and "'0.weight' holds a torch.Tensor (and 3 more)" in message
    assert "{name: value.detach().cpu().numpy() for name, value in state_dict.items()}" in message
    for name, array in ours.state_dict().items():
        numpy.testing.assert_array_equal(array, before[name])  # nothing loaded


def test_an_optimizer_state_dict_round_trips_and_torchs_layout_is_refused():
    x, target = data()
    results = []
    for reload in (False, True):
        ours, _ = pair()
        optimizer = nn.Adam(ours.parameters(), lr=0.01)
        criterion = nn.MSELoss()
        for step in range(4):
            if step == 2 and reload:
                saved = {name: value.copy() if hasattr(value, "copy") else value
                         for name, value in optimizer.state_dict().items()}
                optimizer = nn.Adam(ours.parameters(), lr=0.5)
                optimizer.load_state_dict(saved)                      # lr comes back with the state, as torch
            criterion(ours(x), target)
            optimizer.zero_grad()
            ours.backward(criterion.backward())
            optimizer.step()
        results.append(ours[0].weight.data.copy())
    numpy.testing.assert_array_equal(results[0], results[1])
    _, theirs = pair()
    torch_state = torch.optim.Adam(theirs.parameters()).state_dict()
    with pytest.raises(ValueError) as caught:
        nn.Adam(pair()[0].parameters()).load_state_dict(torch_state)
    assert "\n" not in str(caught.value) and "torch.optim's layout ('state', 'param_groups')" in str(caught.value)


# --- the model's methods --------------------------------------------------------------------------------------
def test_train_and_eval_set_every_module_as_torch():
    ours, theirs = pair()
    for call in (lambda model: model.eval(), lambda model: model.train(), lambda model: model.train(False)):
        assert call(ours) is ours and call(theirs) is theirs
        assert [module.training for module in ours.modules()] == [module.training for module in theirs.modules()]
    dropout = nn.Dropout(0.5).eval()
    x = data()[0]
    numpy.testing.assert_array_equal(dropout(x), x)  # eval: the identity, as torch's


def test_parameters_is_a_list_in_torchs_order_that_can_be_walked_twice():
    ours, theirs = pair()
    parameters = ours.parameters()
    assert isinstance(parameters, list)  # torch: a generator, empty after one pass; here reusable
    assert [p.shape for p in parameters] == [tuple(p.shape) for p in theirs.parameters()]
    assert [p.shape for p in parameters] == [p.shape for p in parameters]
    assert parameters[0] is next(iter(ours.parameters()))  # torch's next(model.parameters())
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 39
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]


def test_modules_named_modules_children_and_apply_walk_as_torchs():
    ours, theirs = pair()
    assert [(name, type(module).__name__) for name, module in ours.named_modules()] == \
        [(name, type(module).__name__) for name, module in theirs.named_modules()]
    assert [name for name, _ in ours.named_modules(prefix="model")] == \
        [name for name, _ in theirs.named_modules(prefix="model")]
    assert [type(module).__name__ for module in ours.modules()] == \
        [type(module).__name__ for module in theirs.modules()]
    assert [type(module).__name__ for module in ours.children()] == \
        [type(module).__name__ for module in theirs.children()]
    seen, torch_seen = [], []
    assert ours.apply(lambda module: seen.append(type(module).__name__)) is ours
    theirs.apply(lambda module: torch_seen.append(type(module).__name__))
    assert seen == torch_seen and seen[-1] == "Sequential" and seen[0] == "Linear"  # children first


def test_a_module_reached_twice_is_walked_once_as_torch():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    torch_shared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(torch_shared, torch.nn.ReLU(), torch_shared)
    assert [name for name, _ in model.named_modules()] == [name for name, _ in theirs.named_modules()] == ["", "0", "1"]
    every = len(list(model.named_modules(remove_duplicate=False)))
    assert every == len(list(theirs.named_modules(remove_duplicate=False))) == 4


def test_a_child_reached_twice_is_a_child_once_and_apply_visits_it_once_as_torch():
    """torch's named_children gives a module held under two names once, so apply(fn) calls fn on it once (an
    init that scales, weight.data *= 0.5, is not applied twice); the state dict and the printout keep both
    names, as torch's."""
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    torch_shared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(torch_shared, torch.nn.ReLU(), torch_shared)
    assert [name for name, _ in model.named_children()] == [name for name, _ in theirs.named_children()] == ["0", "1"]
    assert len(model.children()) == len(list(theirs.children())) == 2
    calls, torch_calls = [], []
    model.apply(lambda module: calls.append(type(module).__name__))
    theirs.apply(lambda module: torch_calls.append(type(module).__name__))
    assert calls == torch_calls == ["Linear", "ReLU", "Sequential"]
    before = shared.weight.data.copy()
    model.apply(lambda module: module.weight.data.__imul__(0.5) if isinstance(module, nn.Linear) else None)
    numpy.testing.assert_array_equal(shared.weight.data, before * 0.5)
    assert list(model.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert repr(model).count("Linear(") == repr(theirs).count("Linear(") == 2


def test_a_shared_batchnorms_buffers_are_listed_once_as_torch():
    """named_buffers walks as named_parameters does: a module held twice gives its buffers once (torch's
    remove_duplicate), and a prefix is joined with a dot, as torch's."""
    norm, torch_norm = nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    model, theirs = nn.Sequential(norm, norm), torch.nn.Sequential(torch_norm, torch_norm)
    for options in ({}, {"prefix": "model"}, {"remove_duplicate": False}, {"recurse": False}):
        assert [name for name, _ in model.named_buffers(**options)] == \
            [name for name, _ in theirs.named_buffers(**options)], options
    assert len(model.buffers()) == len(list(theirs.buffers())) == 3
    assert list(model.state_dict()) == list(theirs.state_dict())  # both names, as torch's


def test_parameters_and_buffers_take_torchs_recurse():
    """parameters(recurse=False) and buffers(recurse=False), as torch's: this module's own only."""
    class Scaled(nn.Module):
        def __init__(self):
            self.norm = nn.BatchNorm1d(2)
            self.scale = nn.Parameter(numpy.ones(2))
            self.register_buffer("count", numpy.zeros(1))

    class TorchScaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(2)
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.register_buffer("count", torch.zeros(1))

    ours, theirs = Scaled(), TorchScaled()
    for recurse in (True, False):
        assert [p.shape for p in ours.parameters(recurse=recurse)] == \
            [tuple(p.shape) for p in theirs.parameters(recurse=recurse)]
        assert [b.shape for b in ours.buffers(recurse=recurse)] == \
            [tuple(b.shape) for b in theirs.buffers(recurse=recurse)]
    assert ours.parameters(False)[0] is ours.scale and ours.buffers(False)[0] is ours.count


def test_apply_initialises_as_torch_users_write_it():
    ours, _ = pair()

    def init(module):
        if isinstance(module, nn.Linear):
            module.weight.data[...] = 0.5
            module.bias.data[...] = 0.0

    ours.apply(init)
    assert all(numpy.all(module.weight.data == 0.5) for module in ours.modules() if isinstance(module, nn.Linear))


def test_devices_cpu_cuda_and_to_on_data():
    ours, _ = pair()
    assert ours.cpu() is ours and ours.to("cpu") is ours and ours.to(torch.device("cpu")) is ours
    x = data()[0]
    assert nn.to_device(x, "cpu") is x  # torch's x.to(device) for an array
    if not GPU:
        with pytest.raises(nn.BackendError, match=r"needs CuPy.*pip install -e \.\[gpu\]") as caught:
            ours.cuda()
        assert "\n" not in str(caught.value)
        assert ours.device == "cpu"


@pytest.mark.skipif(not GPU, reason="CuPy with a GPU not available")
def test_on_the_gpu_a_loss_value_is_a_plain_cupy_array():
    ours, _ = pair()
    ours.cuda()
    criterion = nn.MSELoss()
    x, target = (nn.to_device(array, "gpu") for array in data())
    value = criterion(ours(x), target)
    assert nn.device_of(value) == "gpu" and not isinstance(value, LossValue)
    assert isinstance(value.item(), float)
    with pytest.raises(AttributeError):
        value.backward()


# --- gradient clipping, as torch.nn.utils -------------------------------------------------------------------
def gradients_both(seed=0):
    ours, theirs = pair(seed)
    backward_both(ours, theirs, *data(seed))
    ours[0].bias.grad = None                                     # a parameter without a gradient is skipped
    theirs[0].bias.grad = None
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        if parameter.grad is not None:  # the same gradients to the last bit: only the clipping is compared
            numpy.testing.assert_allclose(parameter.grad, torch_parameter.grad.numpy(), rtol=1e-12, atol=1e-15)
            parameter.grad = torch_parameter.grad.numpy().copy()
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf", -math.inf])
@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = gradients_both()
    total = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type=norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type=norm_type)
    assert total.shape == () and total.dtype == numpy.float64
    numpy.testing.assert_allclose(total, torch_total.numpy(), rtol=1e-13)
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        if torch_parameter.grad is None:
            assert parameter.grad is None
            continue
        numpy.testing.assert_allclose(parameter.grad, torch_parameter.grad.numpy(), rtol=1e-13, atol=1e-300)
    if max_norm < 1:  # clipped: the new total is max_norm (less the 1e-6 guard)
        after = nn.utils.clip_grad_norm_(ours.parameters(), 1e9, norm_type=norm_type)
        if norm_type not in (-math.inf,):
            assert after == pytest.approx(max_norm * float(total) / (float(total) + 1e-6), rel=1e-12)


def test_clip_grad_norm_edges_as_torch():
    ours, theirs = gradients_both()
    one = ours[0].weight
    total = nn.utils.clip_grad_norm_(one, 0.1)                 # one parameter, not a list
    torch_total = torch.nn.utils.clip_grad_norm_(theirs[0].weight, 0.1)
    numpy.testing.assert_allclose(total, torch_total.numpy(), rtol=1e-13)
    empty = nn.utils.clip_grad_norm_([nn.Parameter(numpy.zeros(3))], 1.0)
    assert float(empty) == 0.0 and empty.dtype == numpy.float32     # torch.tensor(0.0)
    one.grad[0, 0] = numpy.inf
    with pytest.raises(RuntimeError, match="total norm of order 2.0 is inf") as caught:
        nn.utils.clip_grad_norm_(ours.parameters(), 1.0, error_if_nonfinite=True)
    assert "\n" not in str(caught.value)
    with pytest.raises(TypeError, match=r"clip_grad_norm_: item 0 is a torch\.nn\.parameter\.Parameter, not an "
                                        r"nn\.Parameter; pass model\.parameters\(\)"):
        nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    with pytest.raises(TypeError, match="clip_grad_norm_: max_norm must be a number, got None"):
        nn.utils.clip_grad_norm_(ours.parameters(), None)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 0, math.inf])
def test_clip_grad_norm_returns_a_0d_array_as_its_docstring_says(norm_type):
    """The norm comes back as a 0-d array (torch's 0-d tensor), whatever the norm and whether or not a
    gradient was there: not a NumPy scalar for some calls and an array for others."""
    ours, _ = gradients_both()
    total = nn.utils.clip_grad_norm_(ours.parameters(), 1.0, norm_type=norm_type)
    assert type(total) is numpy.ndarray and total.shape == () and total.dtype == numpy.float64
    empty = nn.utils.clip_grad_norm_([nn.Parameter(numpy.zeros(3))], 1.0, norm_type=norm_type)
    assert type(empty) is numpy.ndarray and empty.shape == ()


@pytest.mark.parametrize("name", ["clip_grad_norm_", "clip_grad_value_"])
def test_an_exhausted_generator_of_parameters_is_warned_about_as_torch_warns(name):
    """A generator already walked (the one an optimizer was built from) clips nothing: torch's
    clip_grad_norm_ warns, and so do both clipping functions here, in one line with the fix; an empty
    list is no mistake and passes quietly, as in torch."""
    ours, _ = gradients_both()
    parameters = (parameter for parameter in ours.parameters())
    nn.SGD(parameters, lr=0.1)                                   # walks the generator to its end
    with pytest.warns(UserWarning, match=r"^" + name + r": parameters is an empty generator \(one already walked"):
        getattr(nn.utils, name)(parameters, 1.0)
    if name == "clip_grad_norm_":
        with pytest.warns(UserWarning, match="empty generator"):
            torch.nn.utils.clip_grad_norm_((p for p in []), 1.0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(nn.utils, name)([], 1.0)


def test_clip_grad_value_matches_torch():
    ours, theirs = gradients_both()
    assert nn.utils.clip_grad_value_(ours.parameters(), 0.05) is None
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.05)
    clipped = 0
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        if torch_parameter.grad is not None:
            numpy.testing.assert_array_equal(parameter.grad, torch_parameter.grad.numpy())
            clipped += int(numpy.sum(numpy.abs(parameter.grad) == 0.05))
    assert clipped > 0  # some gradients were at the bound: the test saw clipping


@pytest.mark.parametrize("name", ["clip_grad_norm_", "clip_grad_value_"])
def test_the_clipping_functions_take_torchs_arguments(name):
    import inspect

    def described(function):
        return [(parameter.name, parameter.default) for parameter in inspect.signature(function).parameters.values()]

    assert described(getattr(nn.utils, name)) == described(getattr(torch.nn.utils, name))


# --- the rows checked elsewhere too, here beside the others -------------------------------------------------
def test_requires_grad_and_zero_grad_as_torch():
    ours, theirs = pair()
    x, target = data()
    assert ours.requires_grad_(False) is ours and theirs.requires_grad_(False) is theirs
    ours[2].requires_grad_(True)
    theirs[2].requires_grad_(True)
    criterion = nn.MSELoss()
    criterion(ours(x), target)
    input_gradient = ours.backward(criterion.backward())
    torch_x = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.mse_loss(theirs(torch_x), torch.from_numpy(target)).backward()
    numpy.testing.assert_allclose(input_gradient, torch_x.grad.numpy(), rtol=1e-12, atol=1e-15)  # still flows
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        assert (parameter.grad is None) == (torch_parameter.grad is None)   # frozen: no gradient, as torch
        if parameter.grad is not None:
            numpy.testing.assert_allclose(parameter.grad, torch_parameter.grad.numpy(), rtol=1e-12, atol=1e-15)
    ours.zero_grad(set_to_none=False)
    theirs.zero_grad(set_to_none=False)
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        assert (parameter.grad is None) == (torch_parameter.grad is None)
        if parameter.grad is not None:
            assert not parameter.grad.any() and not torch_parameter.grad.any()


def test_a_parameter_holds_an_array_as_torchs_holds_a_tensor():
    parameter = nn.Parameter(numpy.ones((2, 3)))
    assert parameter.requires_grad and parameter.grad is None and parameter.numel() == 6 == parameter.size
    assert type(parameter.data) is numpy.ndarray


@pytest.mark.parametrize("habit, error, says", [
    (lambda model, x: model(torch.from_numpy(x)), TypeError, r"pass x\.detach\(\)\.cpu\(\)\.numpy\(\)"),
    (lambda model, x: model.half(), TypeError, r"float16 is not supported; use \.float\(\)"),
    (lambda model, x: (model(x), model.backward(numpy.ones((6, 3))), model.backward(numpy.ones((6, 3)))),
     RuntimeError, "pass retain_graph=True to the first backward"),
])
def test_what_is_refused_is_one_line_with_the_fix(habit, error, says):
    ours, _ = pair()
    with pytest.raises(error, match=says) as caught:
        habit(ours, data()[0])
    assert "\n" not in str(caught.value)


# --- named_parameters: torch's order, tied weights once ---------------------------------------------------
class _OwnAndChildren:
    """A module that assigns a child, then a parameter of its own, then another child."""

    @staticmethod
    def build(library):
        class Model(library.Module):
            def __init__(self):
                super().__init__()
                self.encoder = library.Linear(3, 2)
                self.scale = library.Parameter(torch.ones(2) if library is torch.nn else numpy.ones(2, numpy.float32))
                self.decoder = library.Linear(2, 3)
        return Model()


@pytest.mark.parametrize("keywords", [{}, {"prefix": "model"}, {"recurse": False}, {"prefix": "m", "recurse": False}])
def test_named_parameters_gives_torchs_names_in_torchs_order(keywords):
    ours, theirs = _OwnAndChildren.build(nn), _OwnAndChildren.build(torch.nn)
    assert [name for name, _ in ours.named_parameters(**keywords)] == \
        [name for name, _ in theirs.named_parameters(**keywords)]


@pytest.mark.parametrize("remove_duplicate", [True, False])
def test_a_tied_parameter_is_listed_as_torch_lists_it(remove_duplicate):
    shared, torch_shared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours, theirs = nn.Sequential(shared, nn.ReLU(), shared), torch.nn.Sequential(torch_shared, torch.nn.ReLU(), torch_shared)
    assert [name for name, _ in ours.named_parameters(remove_duplicate=remove_duplicate)] == \
        [name for name, _ in theirs.named_parameters(remove_duplicate=remove_duplicate)]
    assert len(ours.parameters()) == len(list(theirs.parameters())) == 2


def test_an_optimizer_steps_a_tied_parameter_once_as_torch():
    """Two modules sharing one Parameter (tied weights): each backward adds its share into the one .grad,
    and the optimizer, given the parameter once by parameters(), steps it once, as torch does."""
    nn.manual_seed(0)
    first, second = nn.Linear(3, 3).double(), nn.Linear(3, 3).double()
    second.weight = first.weight
    ours = nn.Sequential(first, nn.Tanh(), second)
    torch_first, torch_second = torch.nn.Linear(3, 3).double(), torch.nn.Linear(3, 3).double()
    torch_second.weight = torch_first.weight
    theirs = torch.nn.Sequential(torch_first, torch.nn.Tanh(), torch_second)
    theirs.load_state_dict({name: torch.from_numpy(array) for name, array in ours.state_dict().items()})
    assert len(ours.parameters()) == len(list(theirs.parameters())) == 3
    optimizer = nn.Adam(ours.parameters(), lr=0.1)
    torch_optimizer = torch.optim.Adam(theirs.parameters(), lr=0.1)
    x, target = numpy.random.default_rng(1).standard_normal((4, 3)), numpy.random.default_rng(2).standard_normal((4, 3))
    for _ in range(3):
        optimizer.zero_grad()
        torch_optimizer.zero_grad()
        backward_both(ours, theirs, x, target)
        optimizer.step()
        torch_optimizer.step()
    for name, array in ours.state_dict().items():
        numpy.testing.assert_allclose(array, theirs.state_dict()[name].numpy(), rtol=1e-12, err_msg=name)


def test_one_module_at_two_places_is_refused_naming_tied_weights():
    """The engine keeps one cache per module, so a module called twice in one forward can be differentiated
    for its last call only; the second backward says so and names the way to tie weights."""
    shared = nn.Linear(3, 3).double()
    model = nn.Sequential(shared, nn.Tanh(), shared)
    criterion = nn.MSELoss()
    x = numpy.ones((2, 3))
    criterion(model(x), x)
    with pytest.raises(RuntimeError) as error:
        model.backward(criterion.backward())
    message = str(error.value)
    assert "ran forward 2 times before that backward" in message
    assert "second.weight = first.weight" in message and "\n" not in message
    # an ordinary second backward after one forward keeps torch's message
    layer = nn.Linear(3, 3).double()
    layer(x)
    layer.backward(numpy.ones((2, 3)))
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        layer.backward(numpy.ones((2, 3)))


def test_a_second_backward_after_evaluation_forwards_offers_the_second_backwards_fixes():
    """Forwards with no backward (an evaluation in the loop) are counted too, so the count alone cannot tell
    a module used at two places from a plain second backward: the message offers both fixes, and says
    truthfully when the forwards ran (before the first backward, not after it)."""
    model = nn.Sequential(nn.Linear(3, 3).double(), nn.Tanh())
    criterion = nn.MSELoss()
    x = numpy.ones((2, 3))
    model.eval()
    model(x)                                                    # the test loss, computed without a backward
    model.train()
    criterion(model(x), x)
    gradient = criterion.backward()
    model.backward(gradient)
    with pytest.raises(RuntimeError) as error:
        model.backward(gradient)                                # the user's mistake: a second backward
    message = str(error.value)
    assert "ran forward 2 times before that backward" in message and "since" not in message
    assert "run forward again, or pass retain_graph=True to the first backward" in message
    assert "second.weight = first.weight" in message and "\n" not in message


def test_one_activation_at_two_places_is_refused_asking_for_one_per_place():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 3).double(), relu, nn.Linear(3, 3).double(), relu)
    criterion = nn.MSELoss()
    x = numpy.ones((2, 3))
    criterion(model(x), x)
    with pytest.raises(RuntimeError, match=r"use one ReLU\(\) per place"):
        model.backward(criterion.backward())


@pytest.mark.parametrize("prefix", ["", "m", "m.", "boX."])
@pytest.mark.parametrize("recurse", [True, False])
def test_named_parameters_and_buffers_join_a_prefix_as_torch_does(prefix, recurse):
    """torch joins prefix and name with a dot whatever the prefix ends with ("m." gives "m..0.weight")."""
    ours = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    for mine, reference in ((ours, theirs), (ours[1], theirs[1])):
        assert [name for name, _ in mine.named_parameters(prefix=prefix, recurse=recurse)] == \
            [name for name, _ in reference.named_parameters(prefix=prefix, recurse=recurse)]
        assert [name for name, _ in mine.named_buffers(prefix=prefix, recurse=recurse)] == \
            [name for name, _ in reference.named_buffers(prefix=prefix, recurse=recurse)]


def test_a_buffer_shared_by_two_modules_is_listed_once_and_saved_under_both_names():
    """Dedup is by the array, as torch's is by the tensor: one array registered in two modules is one buffer,
    while the state dict keeps every name (a shared module's, too)."""
    ours = nn.Sequential(nn.BatchNorm1d(2), nn.BatchNorm1d(2))
    ours[1].register_buffer("running_mean", ours[0].running_mean)
    theirs = torch.nn.Sequential(torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2))
    theirs[1].register_buffer("running_mean", theirs[0].running_mean)
    for keywords in ({}, {"remove_duplicate": False}):
        assert [name for name, _ in ours.named_buffers(**keywords)] == \
            [name for name, _ in theirs.named_buffers(**keywords)]
    shared, torch_shared = nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    assert list(nn.Sequential(shared, shared).state_dict()) == \
        list(torch.nn.Sequential(torch_shared, torch_shared).state_dict())


def test_a_module_registering_a_none_buffer_before_others_lists_the_others():
    layer, torch_layer = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for module, array in ((layer, numpy.zeros(2)), (torch_layer, torch.zeros(2))):
        module.register_buffer("empty", None)
        module.register_buffer("kept", array)
    assert [name for name, _ in layer.named_buffers()] == [name for name, _ in torch_layer.named_buffers()] == ["kept"]


def test_after_a_full_forward_and_backward_a_second_backward_gets_torchs_message():
    """The count of forwards starts again after a backward: forward, backward, forward, backward, backward
    is torch's plain 'second backward' case, not a module used at two places."""
    layer, x = nn.Linear(3, 3).double(), numpy.ones((2, 3))
    for _ in range(2):
        layer(x)
        layer.backward(numpy.ones((2, 3)))
    with pytest.raises(RuntimeError) as error:
        layer.backward(numpy.ones((2, 3)))
    assert "after one forward" in str(error.value) and "two places" not in str(error.value)
