"""nn.fast.step: the planned training step (Linear + ReLU and Sigmoid + MSELoss fused) against the
engine's unfused step, without a GPU.

On NumPy the plan runs the plain forms and must take the unfused step bit for bit: the loss, every
gradient, and the weights after the optimizer. With a CPU standing in for the GPU (helpers_fused) the
fused branch runs: with the plain forms in place of the kernels it must still be bit for bit, and
launch each kernel where the plan says; with the kernels' C bodies it must agree to rounding.
"""
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder, Deep2006Autoencoder, OvercompleteAutoencoder, SimpleAutoencoder
from nn.fast import kernels as fused_gpu
from nn.fast.step import FastLinear, layer_sequence
from nn.fast.step import compile as plan_fused_step

from helpers_c_kernels import COMPILER
from helpers_fused import StandInGPU


def nested_sequential(dtype):
    return nn.Sequential(nn.Sequential(nn.Linear(20, 9, dtype=dtype), nn.ReLU()), nn.Linear(9, 6, dtype=dtype),
                         nn.Tanh(), nn.Linear(6, 20, dtype=dtype), nn.ReLU(inplace=True),
                         nn.Linear(20, 20, dtype=dtype), nn.Sigmoid())


MODELS = {"deep": lambda dtype: DeepAutoencoder(input_dim=20, hidden=(12, 8), latent_dim=3, dtype=dtype),
          "sigmoid-hidden": lambda dtype: Deep2006Autoencoder(input_dim=20, hidden=(10,), latent_dim=4, dtype=dtype),
          "nested": nested_sequential}


def model_pair(kind, dtype):
    models = []
    for _ in range(2):
        nn.manual_seed(7)
        models.append(MODELS[kind](dtype))
    return models


def unfused_step(model, loss, optimizer, x):
    value = loss(model(x), x)
    optimizer.zero_grad()
    options = {} if isinstance(model, nn.Sequential) else {"need_input_grad": False}
    model.backward(loss.backward(), **options)
    gradients = [parameter.grad.copy() for parameter in model.parameters()]
    optimizer.step()
    return value, gradients


def fused_step(step, optimizer, x):
    value = step.forward(x, x)
    optimizer.zero_grad()
    step.backward(need_input_grad=False)
    gradients = [parameter.grad.copy() for parameter in step.model.parameters()]
    optimizer.step()
    return value, gradients


def compare_steps(kind, dtype, loss_factory, steps=4, assert_equal=numpy.testing.assert_array_equal, foreach=None):
    ours, theirs = model_pair(kind, dtype)
    step = plan_fused_step(ours, loss_factory())
    optimizers = [nn.Adam(model.parameters(), lr=1e-2, foreach=foreach) for model in (ours, theirs)]
    loss = loss_factory()
    rng = numpy.random.default_rng(1)
    for _ in range(steps):
        x = rng.random((6, 20)).astype(dtype)
        value, gradients = fused_step(step, optimizers[0], x)
        expected, expected_gradients = unfused_step(theirs, loss, optimizers[1], x)
        assert_equal(value, expected)
        for ours_grad, theirs_grad in zip(gradients, expected_gradients):
            assert_equal(ours_grad, theirs_grad)
        for ours_parameter, theirs_parameter in zip(ours.parameters(), theirs.parameters()):
            assert_equal(ours_parameter.data, theirs_parameter.data)
    return step


LOSSES = {"mse-mean": nn.MSELoss, "mse-sum": lambda: nn.MSELoss(reduction="sum"), "l1": nn.L1Loss}


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_on_numpy_the_plan_takes_the_unfused_step_bit_for_bit(kind, dtype, loss_name):
    compare_steps(kind, dtype, LOSSES[loss_name])


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradients_written_into_the_flat_buffers_are_the_unfused_steps(kind, dtype, loss_name):
    """With foreach=True (both sides) the plan writes dW and db straight into the optimizer's flat gradient
    buffer: the same gradients and the same updates as the unfused step, whose gradients are copied in."""
    step = compare_steps(kind, dtype, LOSSES[loss_name], foreach=True)
    linears = [stage.linear for stage in step.stages if isinstance(stage, FastLinear)]
    assert linears and all(linear.weight.grad is linear.weight._flat_grad for linear in linears)


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("kind", list(MODELS))
def test_the_fused_branch_with_plain_forms_is_the_unfused_step(monkeypatch, kind, loss_name):
    """The wiring, in float64 through the plain forms: the same step, and every kernel where the plan puts it."""
    gpu = StandInGPU().install(monkeypatch)
    step = compare_steps(kind, "float64", LOSSES[loss_name], steps=3)
    pairs = sum(isinstance(stage, FastLinear) and stage.relu is not None for stage in step.stages)
    sigmoids = sum(type(module) is nn.Sigmoid for module in layer_sequence(step.model))
    output = 1 if step.fuse_output else 0
    # Per step, in the fused model only (the unfused twin's modules run their own plain formulas, no kernel)
    assert pairs == {"deep": 4, "sigmoid-hidden": 0, "nested": 2}[kind]
    assert gpu.calls.get("bias_relu", 0) == 3 * pairs
    assert gpu.calls.get("mse_sigmoid_backward", 0) == 3 * output
    assert gpu.calls.get("sigmoid_forward", 0) == 3 * sigmoids
    assert gpu.calls.get("sigmoid_backward", 0) == 3 * (sigmoids - output)


@pytest.mark.skipif(COMPILER is None, reason="no C compiler to build the kernel bodies")
@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-13), ("float32", 2e-6)])
@pytest.mark.parametrize("kind", list(MODELS))
def test_the_kernels_in_place_follow_the_unfused_step(monkeypatch, tmp_path, kind, dtype, tolerance):
    StandInGPU("c", tmp_path).install(monkeypatch)

    def close(ours, theirs):
        scale = max(float(numpy.max(numpy.abs(theirs))), numpy.finfo(dtype).tiny)
        assert float(numpy.max(numpy.abs(ours - theirs))) <= tolerance * scale

    ours, theirs = model_pair(kind, dtype)
    step = plan_fused_step(ours, nn.MSELoss())
    optimizers = [nn.Adam(model.parameters(), lr=1e-2) for model in (ours, theirs)]
    rng = numpy.random.default_rng(2)
    for _ in range(3):
        x = rng.random((6, 20)).astype(dtype)
        value, gradients = fused_step(step, optimizers[0], x)
        with fused_gpu.unfused():  # the reference: plain forms everywhere, the twin's Sigmoids too
            expected, expected_gradients = unfused_step(theirs, nn.MSELoss(), optimizers[1], x)
        close(value, expected)
        for ours_grad, theirs_grad in zip(gradients, expected_gradients):
            close(ours_grad, theirs_grad)
    for ours_parameter, theirs_parameter in zip(ours.parameters(), theirs.parameters()):
        close(ours_parameter.data, theirs_parameter.data)


def test_a_wrong_kernel_is_caught(monkeypatch):
    """The comparison bites: a fused output gradient missing the Sigmoid's (1 - y) factor fails."""
    gpu = StandInGPU().install(monkeypatch)
    monkeypatch.setitem(fused_gpu.PLAIN_FORMS, "mse_sigmoid_backward",
                        lambda y, target, scale: y * ((y - target) * scale))
    with pytest.raises(AssertionError):
        compare_steps("deep", "float64", nn.MSELoss, steps=1)
    assert gpu.calls["mse_sigmoid_backward"] == 1


def test_the_plan_pairs_what_it_should():
    nn.manual_seed(0)
    deep = plan_fused_step(DeepAutoencoder(dtype="float64"), nn.MSELoss())
    assert deep.describe()[0] == "Linear(784->128) + ReLU: FastLinear"
    assert deep.describe()[4] == "Linear(18->9): FastLinear"  # the code layer: no ReLU follows it
    assert deep.describe()[-2:] == ["Sigmoid: FastSigmoid", "mse_sigmoid_backward: Sigmoid + MSELoss(reduction='mean')"]
    assert len(deep.describe()) == 12  # 10 Linear (8 with their ReLU), the Sigmoid, the fused output
    no_bias = nn.Sequential(nn.Linear(4, 4, bias=False), nn.ReLU(), nn.ReLU(), nn.Linear(4, 4), nn.Sigmoid())
    plan = plan_fused_step(no_bias, nn.BCELoss())
    assert [(type(stage).__name__, repr(stage)) for stage in plan.stages] == [
        ("FastLinear", "Linear(4->4) + ReLU"), ("FastReLU", "ReLU"), ("FastLinear", "Linear(4->4)"),
        ("FastSigmoid", "Sigmoid")]
    assert not plan.fuse_output
    assert plan_fused_step(no_bias, nn.MSELoss(reduction="none")).fuse_output is False
    overcomplete = plan_fused_step(OvercompleteAutoencoder(input_dim=8, latent_dim=16), nn.MSELoss())
    assert overcomplete.stages is None and "more than a chain" in overcomplete.describe()[0]
    assert plan_fused_step(DeepAutoencoder(), nn.MSELoss(), fuse=False).stages is None
    simple = SimpleAutoencoder(input_dim=8, latent_dim=3)  # bare Linear halves: one layer each
    stages = plan_fused_step(simple, nn.MSELoss()).stages
    assert [type(stage) for stage in stages] == [FastLinear, FastLinear]
    assert [(stage.linear, stage.relu) for stage in stages] == [(simple.encoder, None), (simple.decoder, None)]
    assert layer_sequence(nn.Linear(3, 3)) is None  # a lone module runs its own forward and backward


def test_a_wrong_input_gets_the_linear_layers_own_error():
    nn.manual_seed(0)
    step = plan_fused_step(DeepAutoencoder(input_dim=20, hidden=(12,), latent_dim=3, dtype="float64"), nn.MSELoss())
    with pytest.raises(TypeError, match="input is float32 but the weights are float64"):
        step.forward(numpy.zeros((2, 20), dtype="float32"), numpy.zeros((2, 20), dtype="float32"))
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 20\), got \(2, 7\)"):
        step.forward(numpy.zeros((2, 7)), numpy.zeros((2, 7)))


@pytest.mark.skipif(not nn.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("kind", list(MODELS))
def test_on_the_gpu_the_fused_step_follows_the_numpy_step(monkeypatch, kind, dtype, tolerance):
    """The real kernels, counted: the planned CuPy step against the unfused NumPy step from the same weights."""
    launched, real = {}, fused_gpu.fused

    def counted(name, *arguments):
        launched[name] = launched.get(name, 0) + 1
        return real(name, *arguments)

    monkeypatch.setattr(fused_gpu, "fused", counted)
    ours, theirs = model_pair(kind, dtype)
    ours.to("gpu")
    step = plan_fused_step(ours, nn.MSELoss())
    optimizers = [nn.Adam(model.parameters(), lr=1e-2) for model in (ours, theirs)]
    rng = numpy.random.default_rng(5)
    for _ in range(3):
        x = rng.random((6, 20)).astype(dtype)
        value, _ = fused_step(step, optimizers[0], nn.to_device(x, "gpu"))
        expected, _ = unfused_step(theirs, nn.MSELoss(), optimizers[1], x)
        assert abs(float(value) - float(expected)) <= tolerance * abs(float(expected))
    for ours_parameter, theirs_parameter in zip(ours.parameters(), theirs.parameters()):
        difference = numpy.max(numpy.abs(nn.to_numpy(ours_parameter.data) - theirs_parameter.data))
        assert difference <= tolerance * max(numpy.max(numpy.abs(theirs_parameter.data)), 1.0)
    pairs = sum(isinstance(stage, FastLinear) and stage.relu is not None and stage.linear.bias is not None
                for stage in step.stages)
    assert launched.get("bias_relu", 0) == 3 * pairs and launched.get("mse_sigmoid_backward", 0) == 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_cpu_output_backward_from_the_losss_difference_is_the_kernels_plain_form_bit_for_bit(dtype):
    from nn.fast import kernels
    from nn.fast.activations import mse_sigmoid_backward_reusing
    generator = numpy.random.default_rng(7)
    y, target = (generator.random((5, 9)).astype(dtype) for _ in range(2))
    scale = 2.0 / y.size
    expected = kernels.mse_sigmoid_backward(y, target, scale)
    numpy.testing.assert_array_equal(mse_sigmoid_backward_reusing(y, y - target, scale), expected)


def test_the_compiled_step_spends_the_losss_cache_as_its_backward_would():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 6), nn.Sigmoid())
    loss = nn.MSELoss()
    step = nn.fast.compile(model, loss)
    x = numpy.random.default_rng(0).random((3, 6), dtype=numpy.float32)
    step.forward(x, x)
    step.backward(need_input_grad=False)
    assert loss._difference is None  # scaled in place into dL/dz, then dropped
    with pytest.raises(RuntimeError):
        loss.backward()  # spent, as after its own backward


def test_the_compiled_losss_value_record_and_errors_are_the_losss_own():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 6), nn.Sigmoid())
    loss, twin = nn.MSELoss(), nn.MSELoss()
    step = nn.fast.compile(model, loss)
    x = numpy.random.default_rng(0).random((3, 6), dtype=numpy.float32)
    value = step.forward(x, x)
    expected = twin(model(x), x)
    assert type(value) is type(expected) and isinstance(value, numpy.ndarray)  # a LossValue, as the loss gives
    assert value.shape == () and value.dtype == numpy.float32
    numpy.testing.assert_array_equal(value, expected)
    numpy.testing.assert_array_equal(loss.backward(), twin.backward())  # its gate recorded the forward
    with pytest.raises(ValueError, match="prediction has shape"):
        step.forward(x, x[:2])  # the loss's own one-line error, through its gate


@pytest.mark.parametrize("shared", ["linear", "relu"])
def test_a_module_at_two_places_in_the_chain_is_not_fused_and_refused_as_the_plain_step_refuses_it(shared):
    """A fast stage keeps its module's cache in the module (the Linear's input, the ReLU's output), so one
    module at two places of the chain would have its first use differentiated with the second's cache:
    wrong gradients with no error (or NumPy's broadcast error). Such a chain is not fused: the compiled
    step is the model's own, whose gate refuses the second backward with the fix, as the plain step does."""
    nn.manual_seed(0)
    linear, relu = nn.Linear(4, 4, dtype="float64"), nn.ReLU()
    second_linear = linear if shared == "linear" else nn.Linear(4, 4, dtype="float64")
    second_relu = relu if shared == "relu" else nn.ReLU()
    model = nn.Sequential(linear, relu, second_linear, second_relu, nn.Linear(4, 4, dtype="float64"), nn.Sigmoid())
    plan = plan_fused_step(model, nn.MSELoss())
    assert plan.stages is None and "at two places" in plan.describe()[0]
    x = numpy.random.default_rng(0).random((3, 4)) - 0.5
    plan.forward(x, x)
    fix = "second.weight = first.weight" if shared == "linear" else r"use one ReLU\(\) per place"
    with pytest.raises(RuntimeError, match=fix):
        plan.backward(need_input_grad=False)
