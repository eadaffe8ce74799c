"""The compiled step (nn.fast.step) held to the plain step in what mutation testing found unchecked: the
gate each module is left in, hooks of every kind (what they see and what they return), gradients that
accumulate over two steps, gradients written straight into the optimizer's flat buffer, a bias-free
Linear before ReLU, 0-d inputs of the in-place sigmoid passes, and the refusals' whole lines."""
import numpy
import pytest

import nn
from nn.fast.activations import sigmoid_backward_in_place_passes, sigmoid_in_place_passes
from nn.fast.step import compile as compile_step


def model(dtype="float64", bias=True):
    nn.manual_seed(5)
    return nn.Sequential(nn.Linear(6, 5, bias=bias, dtype=dtype), nn.ReLU(), nn.Linear(5, 4, dtype=dtype), nn.ReLU(),
                         nn.Linear(4, 6, bias=bias, dtype=dtype), nn.Sigmoid())


def plain_step(net, loss, x):
    value = loss(net(x), x)
    net.backward(loss.backward())
    return value


def compiled_step(step, x):
    value = step.forward(x, x)
    step.backward()
    return value


def leaves(net):
    return [module for module in net]


def refusals(net):
    """Each module's answer to another backward now."""
    answers = []
    for module in leaves(net):
        try:
            module.backward(numpy.ones((3, 6)))
            answers.append(None)
        except Exception as error:  # noqa: BLE001 -- the message is what is compared
            answers.append(f"{type(error).__name__}: {error}")
    return answers


@pytest.mark.parametrize("loss", [nn.MSELoss, nn.L1Loss])  # the output Sigmoid fused with the loss, or alone
def test_after_a_compiled_step_every_module_refuses_another_backward_as_after_a_plain_one(loss):
    x = numpy.random.default_rng(0).random((3, 6))
    plain, fast = model(), model()
    plain_step(plain, loss(), x)
    step = compile_step(fast, loss())
    assert len(step.stages) == 4 and step.fuse_output == (loss is nn.MSELoss)  # Linear+ReLU twice, Linear, Sigmoid
    compiled_step(step, x)
    expected = refusals(plain)
    assert all(answer is not None and "a second time after one forward" in answer for answer in expected)
    assert refusals(fast) == expected
    # A ReLU after a hooked Linear is a FastReLU of its own: it is left in the same state.
    hooked = model()
    hooked[0].register_forward_hook(lambda module, args, output: None)
    step = compile_step(hooked, loss())
    assert "ReLU: FastReLU" in step.describe()
    compiled_step(step, x)
    assert refusals(hooked) == expected


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_compiled_steps_before_one_update_accumulate_as_the_plain_ones(dtype, bias):
    """Gradients of two forward-backward pairs add up; with foreach=True the first is written straight
    into the optimizer's flat buffer (no copy), the second added to it; bias-free Linears take ReLU too."""
    rng = numpy.random.default_rng(1)
    batches = [rng.random((3, 6)).astype(dtype) for _ in range(2)]
    plain, fast = model(dtype, bias), model(dtype, bias)
    # foreach=True on both sides: the same flat update (the plain step's gradients are copied in)
    optimizers = [nn.Adam(net.parameters(), lr=1e-2, foreach=True) for net in (plain, fast)]
    step = compile_step(fast, nn.MSELoss())
    assert step.describe()[0].startswith("Linear(6->5) + ReLU")
    loss = nn.MSELoss()
    for optimizer in optimizers:
        optimizer.zero_grad()
    values = []
    for index, x in enumerate(batches):
        values.append((plain_step(plain, loss, x), compiled_step(step, x)))
        if index == 0:
            for module in (fast[0], fast[2], fast[4]):
                for parameter in module.parameters():
                    assert parameter.grad is parameter._flat_grad  # written in place, before any optimizer step
    for expected, value in values:
        numpy.testing.assert_array_equal(value, expected)
    for theirs, ours in zip(plain.parameters(), fast.parameters()):
        numpy.testing.assert_array_equal(ours.grad, theirs.grad)
    gradients = [parameter.grad.copy() for parameter in plain.parameters()]
    for optimizer in optimizers:
        optimizer.step()
    for theirs, ours, gradient in zip(plain.parameters(), fast.parameters(), gradients):
        numpy.testing.assert_array_equal(ours.data, theirs.data)
        numpy.testing.assert_array_equal(ours.grad, gradient)  # a step leaves .grad as it was, as the plain form
        numpy.testing.assert_array_equal(theirs.grad, gradient)  # also where the flat form copied it in


def test_the_stages_print_as_the_modules_they_run():
    net = nn.Sequential(nn.Linear(6, 5, dtype="float64"), nn.ReLU(), nn.Tanh(), nn.Linear(5, 6, dtype="float64"),
                        nn.Sigmoid())
    step = compile_step(net, nn.MSELoss())
    assert [repr(stage) for stage in step.stages] == ["Linear(6->5) + ReLU", "Tanh", "Linear(5->6)", "Sigmoid"]


def hook_log(net, kinds, log):
    """Hooks of the given kinds on every module of ``net``: each records what it sees (the module's index,
    the arrays' values) and changes the value it may change."""
    modules = leaves(net)
    for kind in kinds:
        for module in modules:
            def hook(module, *arrays, kind=kind):
                index = next(i for i, m in enumerate(modules) if m is module)
                seen = [None if item is None else numpy.array(item) for array in arrays
                        for item in (array if isinstance(array, tuple) else (array,))]
                log.append((kind, index, seen))
                if kind == "register_forward_hook":
                    return arrays[-1] * 1.5
                if kind == "register_full_backward_hook":
                    return (None if arrays[0][0] is None else arrays[0][0] * 0.5,)
                return None
            getattr(module, kind)(hook)


@pytest.mark.parametrize("kinds", [["register_forward_hook"], ["register_full_backward_hook"],
                                   ["register_full_backward_pre_hook"], ["register_forward_pre_hook"],
                                   ["register_forward_hook", "register_full_backward_hook"]])
@pytest.mark.parametrize("where", [0, 1, 5])
def test_hooks_see_and_change_the_same_values_in_a_compiled_step_as_in_a_plain_one(kinds, where):
    """Hooks of one kind on one module (a Linear, a ReLU, the output Sigmoid): the compiled step runs them
    with the same module, the same arrays, and takes the same replacements. (A forward hook that changed
    the output Sigmoid's value once went into the fused Sigmoid + MSE backward as the Sigmoid's own output.)"""
    x = numpy.random.default_rng(2).random((3, 6))
    plain, fast = model(), model()
    logs = ([], [])
    for net, log in zip((plain, fast), logs):
        hook_log(_only(net, where), kinds, log)
    value = plain_step(plain, nn.MSELoss(), x)
    compiled = compiled_step(compile_step(fast, nn.MSELoss()), x)
    numpy.testing.assert_allclose(compiled, value, rtol=1e-12)
    assert [(kind, index) for kind, index, _ in logs[1]] == [(kind, index) for kind, index, _ in logs[0]] != []
    for (_, _, ours), (_, _, theirs) in zip(logs[1], logs[0]):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert (a is None) == (b is None)
            if a is not None:
                numpy.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    for theirs, ours in zip(plain.parameters(), fast.parameters()):
        numpy.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-15)


class _only:
    """The modules of ``net`` with only the one at ``where`` iterated (the hooks' target)."""

    def __init__(self, net, where):
        self.net, self.where = net, where

    def __iter__(self):
        return iter([self.net[self.where]])


def test_compile_refuses_what_is_not_a_module_naming_both():
    with pytest.raises(TypeError, match=r"^nn\.fast\.compile: pass an nn\.Module and its loss, got str and MSELoss$"):
        compile_step("model", nn.MSELoss())
    with pytest.raises(TypeError, match=r"^nn\.fast\.compile: pass an nn\.Module and its loss, got Sequential and "
                                        r"function$"):
        compile_step(model(), lambda y, t: 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_in_place_sigmoid_passes_of_a_0d_input_are_the_plain_sigmoids(dtype):
    x = numpy.array(0.3, dtype=dtype)
    sigmoid = nn.Sigmoid()
    y = sigmoid(x)
    ours = sigmoid_in_place_passes(x)
    assert type(ours) is numpy.ndarray and ours.shape == () and ours.dtype == y.dtype
    numpy.testing.assert_array_equal(ours, y)
    g = numpy.array(2.0, dtype=dtype)
    expected = sigmoid.backward(g)
    grad = sigmoid_backward_in_place_passes(y, g)
    assert type(grad) is numpy.ndarray and grad.shape == () and grad.dtype == expected.dtype
    numpy.testing.assert_array_equal(grad, expected)


def test_fused_adam_on_the_cpu_is_one_line_with_the_fix():
    with pytest.raises(ValueError, match=r"^Adam: fused=True runs one GPU kernel and needs the parameters on the GPU "
                                         r"\(model\.to\('gpu'\) first\); on the CPU use foreach=True$"):
        nn.Adam(nn.Linear(2, 2).parameters(), fused=True)
