"""The gate of nn/module.py in the details mutation testing found unchecked: the order and removal of
hooks of every kind (held against torch's where torch has the same hook), backward pre-hooks, outputs
that are not arrays, keyword arguments, and every refusal's whole line with the class it names."""
import re

import numpy
import pytest
import torch

import nn

KINDS = ["register_forward_pre_hook", "register_forward_hook", "register_full_backward_pre_hook",
         "register_full_backward_hook"]


def one_pass(layer, x, grad):
    layer(x)
    return layer.backward(grad)


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_of_every_kind_run_in_registration_order_and_prepend_puts_one_first(kind):
    layer = nn.Linear(3, 2, dtype="float64")
    order = []

    def hook(label):
        return lambda *args: order.append(label)  # returns None: changes nothing

    first = getattr(layer, kind)(hook("a"))
    getattr(layer, kind)(hook("b"))
    getattr(layer, kind)(hook("c"), prepend=True)
    one_pass(layer, numpy.ones((1, 3)), numpy.ones((1, 2)))
    assert order == ["c", "a", "b"]
    # The same with torch's module and the same calls.
    theirs = torch.nn.Linear(3, 2).double()
    torch_order = []
    getattr(theirs, kind)(lambda *args: torch_order.append("a"))
    getattr(theirs, kind)(lambda *args: torch_order.append("b"))
    getattr(theirs, kind)(lambda *args: torch_order.append("c"), prepend=True)
    theirs(torch.ones(1, 3, dtype=torch.float64, requires_grad=True)).sum().backward()
    assert torch_order == order
    # Removing one hook leaves the others; removing it twice is harmless (as torch's handle).
    first.remove()
    first.remove()
    order.clear()
    one_pass(layer, numpy.ones((1, 3)), numpy.ones((1, 2)))
    assert order == ["c", "b"]
    with first:  # a handle is a context manager that removes on exit
        pass
    assert layer.backward is not None


def test_backward_pre_hooks_see_and_replace_grad_output_as_torchs_do():
    nn.manual_seed(0)
    ours = nn.Linear(4, 3, dtype="float64")
    theirs = torch.nn.Linear(4, 3).double()
    theirs.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in ours.state_dict().items()})
    x = numpy.random.default_rng(1).standard_normal((5, 4))
    grad = numpy.random.default_rng(2).standard_normal((5, 3))
    seen = {}

    def recorder(side):
        def hook(module, grad_output):
            seen[side] = (module, len(grad_output), numpy.array(grad_output[0] if side == "ours"
                                                                else grad_output[0].numpy()))
            return (grad_output[0] * 3,)
        return hook

    ours.register_full_backward_pre_hook(recorder("ours"))
    ours.register_full_backward_pre_hook(lambda module, grad_output: None)  # None keeps the gradient
    theirs.register_full_backward_pre_hook(recorder("theirs"))
    theirs.register_full_backward_pre_hook(lambda module, grad_output: None)
    grad_input = one_pass(ours, x, grad)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    theirs(x_torch).backward(torch.from_numpy(grad))
    assert seen["ours"][0] is ours and seen["theirs"][0] is theirs and seen["ours"][1] == seen["theirs"][1] == 1
    numpy.testing.assert_array_equal(seen["ours"][2], grad)
    numpy.testing.assert_allclose(grad_input, x_torch.grad.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(grad_input, 3 * grad @ ours.weight.data, rtol=1e-12)


def test_a_loss_backward_without_arguments_gives_its_hooks_none_for_grad_output():
    loss = nn.MSELoss()
    seen = []
    loss.register_full_backward_pre_hook(lambda module, grad_output: seen.append(("pre", grad_output)))
    loss.register_full_backward_hook(lambda module, grad_input, grad_output: seen.append(("post", grad_output)))
    loss(numpy.ones((2, 3)), numpy.zeros((2, 3)))
    gradient = loss.backward()
    numpy.testing.assert_allclose(gradient, numpy.full((2, 3), 2 / 6))
    assert seen == [("pre", (None,)), ("post", (None,))]


def test_a_forward_pre_hook_sees_the_module_and_may_return_one_input_or_a_tuple():
    layer = nn.Linear(3, 2, dtype="float64")
    x = numpy.arange(6.0).reshape(2, 3)
    calls = []
    handle = layer.register_forward_pre_hook(lambda module, args: calls.append(module) or args[0] + 1)
    numpy.testing.assert_allclose(layer(x), (x + 1) @ layer.weight.data.T + layer.bias.data)
    assert calls == [layer]
    handle.remove()
    layer.register_forward_hook(lambda module, args, output: calls.append(args))
    layer(x)
    assert len(calls[1]) == 1 and calls[1][0] is x


class Scaled(nn.Module):
    """A module defined here, in a test: its class is made (and its backward gated) while the test runs."""

    def forward(self, x, scale=1.0):
        self._scale = scale
        return x * scale

    def backward(self, grad_output):
        return grad_output * self._scale


def test_a_module_class_made_at_run_time_is_gated_and_forward_takes_keyword_arguments():
    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x

        def backward(self, grad_output):
            return 2 * grad_output

    module = Twice()
    with pytest.raises(RuntimeError, match="^Twice.backward called before forward: call the module on an input "
                                           "first$"):
        module.backward(numpy.ones(2))
    module(numpy.ones(2))
    module.backward(numpy.ones(2))
    second = ("Twice.backward called a second time after one forward: the forward's cache was used by the first "
              "backward (torch refuses this too); run forward again, or pass retain_graph=True to the first backward")
    with pytest.raises(RuntimeError, match="^" + re.escape(second) + "$"):
        module.backward(numpy.ones(2))
    scaled = Scaled()
    numpy.testing.assert_array_equal(scaled(numpy.ones(2), scale=3.0), [3.0, 3.0])
    numpy.testing.assert_array_equal(scaled.backward(numpy.ones(2)), [3.0, 3.0])


def test_outputs_that_are_not_arrays_pass_the_gate_and_backward_takes_what_the_module_takes():
    class Pair(nn.Module):
        def forward(self, x):
            return x, 2 * x

        def backward(self, grad_output):
            return grad_output[0] + 2 * grad_output[1]

    pair = Pair()
    pair(numpy.ones(3))
    numpy.testing.assert_array_equal(pair.backward((numpy.ones(3), numpy.ones(3))), [3.0, 3.0, 3.0])

    class Box:
        shape = (2,)  # a shape but no dtype: not an array

    class Boxed(nn.Module):
        def forward(self, x):
            return Box()

        def backward(self, grad_output):
            return grad_output

    boxed = Boxed()
    assert isinstance(boxed(numpy.ones(2)), Box)
    assert boxed.backward("anything") == "anything"

    class Constant(nn.Module):
        def forward(self):
            return numpy.float64(3.0)  # a NumPy scalar with no input to take the library from

        def backward(self, grad_output):
            return None

    value = Constant()()
    assert type(value) is numpy.ndarray and value.shape == () and value == 3.0


def test_a_number_for_a_0d_float32_output_becomes_a_float32_gradient():
    class Total(nn.Module):
        def forward(self, x):
            self._shape = x.shape
            return x.sum()

        def backward(self, grad_output):
            return numpy.broadcast_to(grad_output, self._shape) * numpy.ones(self._shape, dtype="float32")

    total = Total()
    total(numpy.ones((2, 3), dtype="float32"))
    gradient = total.backward(1.0)
    assert gradient.dtype == numpy.float32 and gradient.shape == (2, 3)


def test_a_gradient_that_is_not_an_array_is_one_line_naming_the_module():
    class Identity(nn.Module):
        def forward(self, x):
            return x

        def backward(self, grad_output):
            return grad_output

    module = Identity()
    module(numpy.ones(2))
    with pytest.raises(TypeError, match=r"^Identity\.backward: grad_output is a str; pass dL/dy as an array of the "
                                        r"output's shape$"):
        module.backward("one")


def test_inputs_of_the_wrong_kind_are_one_line_naming_the_module():
    message = ("Linear: the input is a torch.Tensor; the engine takes NumPy (or CuPy) arrays: pass "
               "x.detach().cpu().numpy()")
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        nn.Linear(3, 2)(torch.ones(1, 3))
    message = "ReLU: the input is a Python tuple, not an array; convert it with numpy.asarray(x, dtype='float32')"
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        nn.ReLU()((1.0, -1.0))


@pytest.mark.parametrize("kind", KINDS)
def test_a_hook_that_is_not_callable_names_the_method(kind):
    with pytest.raises(TypeError, match=rf"^Linear\.{kind}: hook must be callable, got str$"):
        getattr(nn.Linear(3, 2), kind)("not a function")


def test_the_other_refusals_name_the_class_and_the_fix():
    with pytest.raises(TypeError, match=r"^Parameter: requires_grad must be True or False, got 'yes'$"):
        nn.Parameter(numpy.zeros(2), requires_grad="yes")
    with pytest.raises(TypeError, match=r"^Linear\.half\(\): float16 is not supported; use \.float\(\) \(float32\) "
                                        r"or \.double\(\) \(float64\)$"):
        nn.Linear(3, 2).half()
    with pytest.raises(ValueError, match=r"^Linear\.cuda: device=1; the engine uses one GPU: call \.cuda\(\)$"):
        nn.Linear(3, 2).cuda(1)

    class Plain(nn.Module):
        def forward(self, x):
            return x

    plain = Plain()
    plain(numpy.ones(1))
    message = ("Plain must implement backward(grad_output): given dL/dy, add each parameter's gradient with "
               "parameter.accumulate_grad(...) and return dL/dx, e.g. by calling its submodules' backward in "
               "reverse order; a model that is a chain of modules can be an nn.Sequential, which needs none")
    with pytest.raises(NotImplementedError, match="^" + re.escape(message) + "$"):
        plain.backward(numpy.ones(1))


def _has_gpu():
    try:
        nn.Linear(1, 1).to("gpu")
    except Exception:
        return False
    return True


@pytest.mark.parametrize("device", [None, 0, "cuda", "cuda:0"])
def test_cuda_names_the_one_gpu_and_moves_there_or_says_why_it_cannot(device):
    layer = nn.Linear(3, 2)
    if _has_gpu():
        assert nn.backend.device_of(layer.cuda(device).weight.data) == "gpu"
        return
    with pytest.raises(Exception) as refused:
        nn.Linear(3, 2).to("gpu")
    with pytest.raises(type(refused.value), match="^" + re.escape(str(refused.value)) + "$"):
        layer.cuda(device)
    assert nn.backend.device_of(layer.cpu().weight.data) == "cpu"


def test_a_backward_pre_hook_replaces_only_grad_output_and_keeps_the_other_arguments():
    class Weighted(nn.Module):
        def forward(self, x):
            return x

        def backward(self, grad_output, weight):
            return grad_output * weight

    module = Weighted()
    module.register_full_backward_pre_hook(lambda module, grad_output: (grad_output[0] + 1,))
    module(numpy.ones(2))
    numpy.testing.assert_array_equal(module.backward(numpy.ones(2), 3.0), [6.0, 6.0])
