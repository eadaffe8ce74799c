"""nn.fast against the plain step where the two give the same numbers by different paths: which path
ran (the loss's own forward or the fused one), what each module's gate records after a compiled
forward, what describe() says of a chain it leaves unfused, the refusal of a second backward, a 0-d
output, Adam's rescaled block over two groups, and a frozen parameter's gradient after a captured
step. Written for the survivors of a mutation run (tests/mutation/mutants.py, target nn.fast)."""
import numpy
import pytest

import nn
from nn.fast import cuda_graph, rescaled_state
from nn.fast import optim as optim_fast
from nn.fast.step import FastLinear, FastReLU, FastSigmoid
from nn.fast.step import compile as plan_fused_step

from test_nn_cuda_graph import FakeGraphs


def chain(hook_second=False):
    """Linear+ReLU, Linear, ReLU, Linear, Sigmoid; with ``hook_second`` the second Linear has a forward
    hook (returning None), so that its ReLU is a FastReLU of its own."""
    nn.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 5, dtype="float64"), nn.ReLU(), nn.Linear(5, 4, dtype="float64"), nn.ReLU(),
                          nn.Linear(4, 6, dtype="float64"), nn.Sigmoid())
    if hook_second:
        model[2].register_forward_hook(lambda module, args, output: None)
    return model


def batch():
    return numpy.random.default_rng(2).random((3, 6)) - 0.25


class CountingForward:
    """Wraps a loss's forward (as an instance attribute, which Module.__call__ reads) and counts calls."""

    def __init__(self, loss):
        self.calls, self.forward = 0, loss.forward
        loss.forward = self

    def __call__(self, *inputs):
        self.calls += 1
        return self.forward(*inputs)


# --- the gate's records: each module left as its own forward leaves it ---------------------------------------
@pytest.mark.parametrize("hook_second", [False, True])
def test_a_compiled_forward_leaves_every_modules_gate_record_as_the_plain_forward(hook_second):
    plain, fast = chain(hook_second), chain(hook_second)
    plain_loss, fast_loss = nn.MSELoss(), nn.MSELoss()
    step = plan_fused_step(fast, fast_loss)
    kinds = [type(stage) for stage in step.stages]
    expected_kinds = [FastLinear, FastLinear, FastReLU, FastLinear, FastSigmoid] if hook_second else \
        [FastLinear, FastLinear, FastLinear, FastSigmoid]
    assert kinds == expected_kinds and step.fuse_output
    x = batch()
    value = step.forward(x, x)
    numpy.testing.assert_array_equal(value, plain_loss(plain(x), x))
    for ours, theirs in zip(fast, plain):
        assert theirs._gate[0] is not None  # a real record: shape, dtype, array type
        assert ours._gate == theirs._gate, type(ours).__name__
    assert fast_loss._gate == plain_loss._gate and plain_loss._gate[0] == ()
    # the record is what the gate checks dL/dy against: a wrongly shaped one is refused as after the plain forward
    for module in (plain[-1], fast[-1], plain[2], fast[2]):
        with pytest.raises(ValueError, match="pass dL/dy with exactly the output's shape"):
            module.backward(numpy.ones((2, 6)) if isinstance(module, nn.Sigmoid) else numpy.ones((2, 4)))
    with pytest.raises(ValueError, match="grad_output has shape"):
        fast_loss.backward(numpy.ones(3))


# --- which forward the loss took ----------------------------------------------------------------------------
def test_the_fused_forward_computes_the_mse_itself_and_the_gradients_are_the_plain_steps():
    """Two NumPy float arrays of one shape and dtype, no checks, no hooks: the step computes MSELoss's formula
    itself (the loss's own forward is not called), with the plain step's value and gradients."""
    plain, fast = chain(), chain()
    plain_loss, fast_loss = nn.MSELoss(), nn.MSELoss()
    counter = CountingForward(fast_loss)
    step = plan_fused_step(fast, fast_loss)
    x = batch()
    target = numpy.random.default_rng(9).random((3, 6))
    value = step.forward(x, target)
    assert counter.calls == 0
    expected = plain_loss(plain(x), target)
    numpy.testing.assert_array_equal(value, expected)
    step.backward(need_input_grad=False)
    plain.backward(plain_loss.backward())
    for ours, theirs in zip(fast.parameters(), plain.parameters()):
        numpy.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", ["float32 target", "check_input", "forward hook"])
def test_the_loss_takes_its_own_forward_when_the_fused_one_does_not_apply(case):
    """A target of another dtype, a loss with its own input checks or a hook added after compile: the loss's
    own forward (through its gate) runs, once, and the gradients are the plain step's."""
    plain, fast = chain(), chain()
    plain_loss, fast_loss = nn.MSELoss(), nn.MSELoss()
    step = plan_fused_step(fast, fast_loss)
    assert step.fuse_output
    x = target = batch()
    checked = []
    if case == "float32 target":
        target = x.astype("float32")
    elif case == "check_input":
        fast_loss.check_input = lambda *inputs: checked.append(len(inputs))
    else:
        fast_loss.register_forward_hook(lambda module, args, output: checked.append(len(args)))
    counter = CountingForward(fast_loss)
    value = step.forward(x, target)
    assert counter.calls == 1
    assert checked == ([] if case == "float32 target" else [2])
    numpy.testing.assert_allclose(value, plain_loss(plain(x), target), rtol=1e-15)
    step.backward(need_input_grad=False)
    plain.backward(plain_loss.backward())
    for ours, theirs in zip(fast.parameters(), plain.parameters()):
        numpy.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-15)


# --- a chain with one module at two places: not fused at all ------------------------------------------------
def test_a_chain_with_one_module_at_two_places_runs_the_models_and_the_losss_own_forward():
    nn.manual_seed(0)
    linear = nn.Linear(4, 4, dtype="float64")
    model = nn.Sequential(linear, nn.ReLU(), linear, nn.Sigmoid())
    loss = nn.MSELoss()
    step = plan_fused_step(model, loss)
    assert step.stages is None
    assert step.describe() == ["no fusion: Sequential has one module at two places in its chain (a module keeps the "
                               "cache of its last call only): its own forward and backward, which refuse that"]
    counter = CountingForward(loss)
    x = numpy.random.default_rng(0).random((3, 4))
    step.forward(x, x)
    assert counter.calls == 1  # the loss's own forward, as the model's own step calls it


# --- backward without a forward to differentiate --------------------------------------------------------------
@pytest.mark.parametrize("loss_kind", [nn.MSELoss, nn.L1Loss])  # the output fused with the loss, or not
def test_a_compiled_backward_without_its_forward_is_refused_as_the_losss_own_backward(loss_kind):
    """Before any forward, and a second time after one forward: the loss's own refusal, as the plain step's
    loss.backward() gives it, and no gradient is accumulated a second time."""
    model, loss = chain(), loss_kind()
    step = plan_fused_step(model, loss)
    assert step.fuse_output == (loss_kind is nn.MSELoss)
    with pytest.raises(RuntimeError, match=f"{loss_kind.__name__}.backward called before forward"):
        step.backward(need_input_grad=False)
    x = batch()
    step.forward(x, x)
    step.backward(need_input_grad=False)
    kept = [parameter.grad.copy() for parameter in model.parameters()]
    with pytest.raises(RuntimeError, match=f"{loss_kind.__name__}.backward called a second time after one forward"):
        step.backward(need_input_grad=False)
    for parameter, grad in zip(model.parameters(), kept):
        numpy.testing.assert_array_equal(parameter.grad, grad)
    step.forward(x, x)  # a new forward: differentiated again
    step.backward(need_input_grad=False)
    numpy.testing.assert_allclose(model[0].weight.grad, 2 * kept[0], rtol=1e-12)


# --- a 0-d output: a 0-d array back, as the plain step gives -------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_0d_sigmoid_output_fused_with_mse_gives_a_0d_array_as_the_plain_step(dtype):
    plain, fast = nn.Sequential(nn.Sigmoid()), nn.Sequential(nn.Sigmoid())
    plain_loss, fast_loss = nn.MSELoss(), nn.MSELoss()
    step = plan_fused_step(fast, fast_loss)
    assert step.fuse_output
    x, target = numpy.asarray(0.3, dtype=dtype), numpy.asarray(0.9, dtype=dtype)
    numpy.testing.assert_array_equal(step.forward(x, target), plain_loss(plain(x), target))
    grad = step.backward()
    expected = plain.backward(plain_loss.backward())
    assert type(grad) is type(expected) is numpy.ndarray
    assert grad.shape == () and grad.dtype == expected.dtype == numpy.dtype(dtype)
    numpy.testing.assert_allclose(grad, expected, rtol=1e-6 if dtype == "float32" else 1e-15)


# --- Adam's rescaled block --------------------------------------------------------------------------------------
def test_inside_the_rescaled_block_every_group_steps_and_the_state_stays_in_the_fast_units():
    """Two groups, both rescaled: each step inside the block takes the rescaled rule for both (the state shows
    m / (1 - beta1) and v / (1 - beta2) until the block ends), and both move as the plain Adam moves them."""
    rng = numpy.random.default_rng(4)
    starts = [rng.standard_normal(shape) for shape in ((4, 3), (3,), (2, 4))]
    plain_parameters = [nn.Parameter(start.copy()) for start in starts]
    fast_parameters = [nn.Parameter(start.copy()) for start in starts]
    options = dict(lr=0.01, betas=(0.8, 0.95))
    plain = nn.Adam([dict(params=plain_parameters[:2]), dict(params=plain_parameters[2:], lr=0.02)], **options)
    fast = nn.Adam([dict(params=fast_parameters[:2]), dict(params=fast_parameters[2:], lr=0.02)], foreach=True,
                   **options)
    assert isinstance(fast._fast, optim_fast.FlatForm)
    with rescaled_state(fast):
        for _ in range(3):
            for ours, theirs in zip(fast_parameters, plain_parameters):
                grad = rng.standard_normal(ours.shape)
                ours.grad, theirs.grad = grad.copy(), grad.copy()
            plain.step()
            fast.step()
            assert sorted(fast._fast._rescaled) == [0, 1]
            for ours, theirs in zip(fast_parameters, plain_parameters):
                numpy.testing.assert_allclose(ours.data, theirs.data, rtol=1e-13, atol=1e-15)
                for name, beta in (("exp_avg", 0.8), ("exp_avg_sq", 0.95)):
                    numpy.testing.assert_allclose(fast.state[ours][name], plain.state[theirs][name] / (1 - beta),
                                                  rtol=1e-12, atol=1e-300, err_msg=name)


# --- a captured step's frozen parameter -------------------------------------------------------------------------
def test_a_captured_steps_frozen_parameter_is_stepped_with_a_zero_gradient_and_keeps_it():
    """The graph steps a parameter no backward reached with a zero gradient (its values and state are put back
    after): its .grad afterwards is that zero, no other number."""
    nn.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 6, dtype="float64"), nn.Sigmoid())
    model[2].bias.requires_grad = False
    optimizer = nn.Adam(model.parameters(), lr=1e-2, foreach=True)
    captured = cuda_graph.CapturedStep(model, nn.MSELoss(), optimizer, (5, 6), warmup_steps=1, graphs=FakeGraphs())
    rng = numpy.random.default_rng(0)
    for _ in range(3):
        captured.step(rng.random((5, 6)))
        numpy.testing.assert_array_equal(model[2].bias.grad, numpy.zeros(6))
    assert captured.captured


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_output_backward_from_the_losss_difference_gives_a_0d_array_for_a_0d_output(dtype):
    """On 0-d arrays NumPy's ufuncs give a scalar unless they write into an array: the reusing form writes
    into a new 0-d array, bit for bit the kernel's plain form."""
    from nn.fast import kernels
    from nn.fast.activations import mse_sigmoid_backward_reusing
    y, target = numpy.asarray(0.7, dtype=dtype), numpy.asarray(0.2, dtype=dtype)
    difference = numpy.subtract(y, target, out=numpy.empty_like(y))
    grad = mse_sigmoid_backward_reusing(y, difference, 2.0)
    assert type(grad) is numpy.ndarray and grad.shape == () and grad.dtype == y.dtype
    numpy.testing.assert_array_equal(grad, kernels.mse_sigmoid_backward(y, target, 2.0))


def test_a_relu_of_its_own_writes_in_place_into_the_array_the_step_made():
    """A ReLU after a hooked Linear is a FastReLU: y = max(x, 0) written into x (the Linear's output, an array
    the step made), dL/dx into dL/dy; the numbers are the plain ReLU's."""
    fast, plain = chain(hook_second=True), chain(hook_second=True)
    step = plan_fused_step(fast, nn.MSELoss())
    relu = step.stages[2]
    assert isinstance(relu, FastReLU) and relu.relu is fast[3]
    x = numpy.random.default_rng(1).standard_normal((3, 4))
    expected = plain[3](x.copy())
    y = relu.forward(x)
    assert y is x
    numpy.testing.assert_array_equal(y, expected)
    g = numpy.random.default_rng(2).standard_normal((3, 4))
    expected_grad = plain[3].backward(g.copy())
    grad = relu.backward(g, True)
    assert grad is g
    numpy.testing.assert_array_equal(grad, expected_grad)
