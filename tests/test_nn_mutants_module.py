"""Module and Sequential edges that mutation testing found unreached (tests/mutation/mutants.py, target
nn.module): torch's repr, private attributes, what ``to`` leaves alone, buffers moved and cast, and
state dicts given as lists or with several problems."""
import numpy
import pytest
import torch

import nn


class WithPrivate(nn.Module):
    """A parameter, a private one (a shortcut to share, say), then another: only the public ones count."""

    def __init__(self):
        self.weight = nn.Parameter(numpy.ones(2))
        self._shared = nn.Parameter(numpy.zeros(3))
        self.bias = nn.Parameter(numpy.zeros(1))


def test_the_repr_of_nested_modules_is_torchs():
    ours = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)), nn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 1)),
                                 torch.nn.Sigmoid())
    assert repr(ours) == repr(theirs)
    assert repr(nn.Module()) == "Module()"


def test_a_module_without_forward_or_backward_says_so():
    with pytest.raises(NotImplementedError, match=r"^WithPrivate must implement forward\(x\), which returns the output$"):
        WithPrivate()(numpy.ones(2))
    with pytest.raises(NotImplementedError, match=r"^WithPrivate must implement backward\(grad_output\): given dL/dy, add each parameter's gradient "
                                                r"with parameter.accumulate_grad\(...\) and return dL/dx"):
        WithPrivate().backward(numpy.ones(2))


def test_private_attributes_are_skipped_and_the_ones_after_them_kept():
    module = WithPrivate()
    assert [name for name, _ in module.named_parameters()] == ["weight", "bias"]
    assert list(module.state_dict()) == ["weight", "bias"]


def test_eval_and_train_set_booleans_on_every_module():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout()))
    assert model.eval() is model
    assert [module.training for module in model.modules()] == [False] * 4
    assert [module.training for module in model.train().modules()] == [True] * 4


def test_a_sequential_iterates_over_its_modules():
    layers = [nn.Linear(2, 2), nn.ReLU()]
    model = nn.Sequential(*layers)
    assert list(model) == layers and len(model) == 2 and model[1] is layers[1]


class Counted(nn.ReLU):
    """A module whose __call__ does more than forward: Sequential must go through it."""

    calls = 0

    def __call__(self, x):
        Counted.calls += 1
        return super().__call__(x)


def test_a_sequential_calls_a_module_that_overrides_call():
    Counted.calls = 0
    nn.Sequential(Counted(), Counted())(numpy.ones(3))
    assert Counted.calls == 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_moving_to_the_device_it_is_on_changes_nothing(dtype):
    model = nn.Sequential(nn.Linear(3, 2, dtype=dtype), nn.BatchNorm1d(2, dtype=dtype))
    optimizer = nn.SGD(model.parameters(), lr=0.1)  # it rebinds the parameters to views of its buffers
    model.backward(numpy.ones(model(numpy.ones((4, 3), dtype)).shape, dtype))  # gradients (None before) and caches

    def arrays():
        return [array for p in model.parameters() for array in (p.data, p.grad)] + list(model.buffers())

    before = arrays()
    attributes = [sorted(set(vars(module)) - set(module._saved)) for module in model.modules()]  # less the caches
    model.to("cpu")
    model.to(dtype=dtype)  # the dtype it has: no copy, so the optimizer's views stay the parameters
    assert all(now is then for now, then in zip(arrays(), before)) and len(arrays()) == len(before) == 11
    assert model.dtype == dtype and [sorted(vars(module)) for module in model.modules()] == attributes
    optimizer.step()  # still the same arrays: no "replaced after the optimizer was built"


def test_a_cast_casts_float_buffers_and_keeps_the_step_counter_an_integer():
    model = nn.Sequential(nn.Linear(3, 2, dtype="float32"), nn.BatchNorm1d(2, dtype="float32"))
    model(numpy.ones((4, 3), dtype="float32"))
    running_mean = model[1].running_mean.copy()
    model.to("cpu", dtype="float64")
    assert model[1].running_mean.dtype == numpy.float64 and model[1].running_var.dtype == numpy.float64
    numpy.testing.assert_array_equal(model[1].running_mean, running_mean)
    assert model[1].num_batches_tracked.dtype == numpy.int64 and model[1].num_batches_tracked == 1
    assert [name for name, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]


def test_a_state_dict_of_lists_loads():
    """As from JSON: plain lists, their shape and numbers read by NumPy."""
    model = nn.Linear(2, 2, dtype="float64")
    model.load_state_dict({"weight": [[1.0, 2.0], [3.0, 4.0]], "bias": [0.5, -0.5]})
    numpy.testing.assert_array_equal(model.weight.data, [[1.0, 2.0], [3.0, 4.0]])
    numpy.testing.assert_array_equal(model.bias.data, [0.5, -0.5])


def test_every_problem_of_a_state_dict_is_named_and_nothing_loaded():
    model = nn.Linear(2, 2, dtype="float64")
    before = model.state_dict()
    with pytest.raises(ValueError) as caught:
        model.load_state_dict({"extra": numpy.zeros(1), "weight": numpy.zeros((3, 2)), "bias": ["a", "b"]})
    assert str(caught.value) == ("Linear.load_state_dict: unexpected key 'extra'; key 'weight' has shape (3, 2) but "
                                 "the model's is (2, 2); key 'bias' holds list, not real numbers; nothing was loaded")
    for name, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value, before[name])


class DeviceArray:
    """An array of another library that numpy.asarray cannot read (as CuPy's): only shape and dtype."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, numpy.dtype(dtype)

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion to a NumPy array is not allowed")


def test_an_array_numpy_cannot_read_is_judged_by_its_own_dtype():
    model = nn.Linear(2, 2, dtype="float64")
    with pytest.raises(ValueError) as caught:
        model.load_state_dict({"weight": DeviceArray((2, 2), "float32"), "bias": DeviceArray((2,), "complex64")})
    assert str(caught.value) == ("Linear.load_state_dict: key 'bias' holds complex64, not real numbers; "
                                 "nothing was loaded")


def test_state_dict_names_and_order_of_nested_buffers_are_torchs():
    ours = nn.Sequential(nn.Linear(3, 2), nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 2)))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.BatchNorm1d(2),
                                                                            torch.nn.Linear(2, 2)))
    assert list(ours.state_dict()) == list(theirs.state_dict())


class WithPrivateChild(nn.Module):
    """A public child and a private one (say, a shortcut to a layer held elsewhere): only the public counts."""

    def __init__(self):
        self.norm = nn.BatchNorm1d(2)
        self._shortcut = nn.BatchNorm1d(3)


def test_private_children_are_skipped():
    module = WithPrivateChild()
    assert [name for name, _ in module.named_children()] == ["norm"]
    assert len(list(module.modules())) == 2 and list(module.state_dict())[0] == "norm.weight"
    assert repr(module) == "WithPrivateChild(\n  (norm): BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, " \
                           "bias=True, track_running_stats=True)\n)"


def test_an_extra_repr_of_several_lines_prints_one_line_each_as_torch():
    class Ours(nn.Module):
        def __init__(self, child):
            super().__init__()
            self.child = child

        def extra_repr(self):
            return "first=1\nsecond=2"

    class Theirs(torch.nn.Module):
        def __init__(self, child):
            super().__init__()
            self.child = child

        def extra_repr(self):
            return "first=1\nsecond=2"

    for ours, theirs in ((Ours(nn.ReLU()), Theirs(torch.nn.ReLU())), (Ours(None), Theirs(None))):
        assert repr(ours).replace("Ours", "X") == repr(theirs).replace("Theirs", "X")
    assert repr(Ours(None)) == "Ours(\n  first=1\n  second=2\n)"
