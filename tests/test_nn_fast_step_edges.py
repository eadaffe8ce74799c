"""nn.fast.step and nn.fast.kernels.run at their edges: which models are chains, which pairs fuse (a
pair at the very end, a 1-D or 3-D input), what describe() says word for word, and what backward
asks of the model about the input gradient."""
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder, OvercompleteAutoencoder
from nn.fast import kernels as fused_gpu
from nn.fast.step import FastLinear, layer_sequence
from nn.fast.step import compile as plan_fused_step

from helpers_fused import StandInGPU


def deep(dtype="float64"):
    nn.manual_seed(4)
    return DeepAutoencoder(input_dim=10, hidden=(6,), latent_dim=3, dtype=dtype)


def test_a_chain_needs_both_sequentials_forward_and_backward():
    class OwnBackward(nn.Sequential):
        def backward(self, grad_output):
            return super().backward(grad_output)

    class OwnForward(nn.Sequential):
        def forward(self, x):
            return super().forward(x)

    for kind in (OwnBackward, OwnForward):
        assert layer_sequence(kind(nn.Linear(3, 3), nn.ReLU())) is None
    assert plan_fused_step(OwnBackward(nn.Linear(3, 3), nn.ReLU()), nn.MSELoss()).stages is None


def test_a_part_that_is_no_chain_makes_the_whole_no_chain():
    inner = OvercompleteAutoencoder(input_dim=4, latent_dim=6)
    assert inner.layer_sequence() is None
    assert layer_sequence(nn.Sequential(nn.Linear(4, 4), inner)) is None


def test_a_model_with_its_own_layer_sequence_is_flattened_inside_a_sequential():
    model = deep()
    outer = nn.Sequential(model, nn.ReLU())
    assert layer_sequence(outer) == model.layer_sequence() + [outer[1]]
    assert plan_fused_step(outer, nn.MSELoss()).describe() == ["bias_relu: Linear(10->6) + ReLU",
                                                               "bias_relu: Linear(3->6) + ReLU"]


def test_a_linear_relu_pair_at_the_very_end_fuses():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    plan = plan_fused_step(model, nn.MSELoss())
    assert len(plan.stages) == 1 and isinstance(plan.stages[0], FastLinear)
    assert plan.describe() == ["bias_relu: Linear(3->4) + ReLU"]


def test_without_fusion_the_plan_has_no_fused_output():
    for model, fuse in ((nn.Sequential(nn.Linear(3, 3), nn.Sigmoid()), False),
                        (OvercompleteAutoencoder(input_dim=4, latent_dim=6), True)):
        plan = plan_fused_step(model, nn.MSELoss(), fuse=fuse)
        assert plan.stages is None and plan.fuse_output is False


def test_describe_says_each_case_in_full():
    overcomplete = plan_fused_step(OvercompleteAutoencoder(input_dim=4, latent_dim=6), nn.MSELoss())
    assert overcomplete.describe() == ["no fusion: OvercompleteAutoencoder's forward is more than a chain of layers"]
    nothing = plan_fused_step(nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU()), nn.MSELoss())
    assert nothing.describe() == ["no fusion: no Linear + ReLU pair and no Sigmoid + MSELoss at the output"]
    summed = plan_fused_step(nn.Sequential(nn.Linear(3, 3, bias=False), nn.Sigmoid()), nn.MSELoss(reduction="sum"))
    assert summed.fuse_output is True
    assert summed.describe() == ["mse_sigmoid_backward: Sigmoid + MSELoss(reduction='sum')"]


def test_the_summed_loss_runs_the_fused_output_kernel(monkeypatch):
    gpu = StandInGPU().install(monkeypatch)
    nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 5, dtype="float64"), nn.Sigmoid())
    plan = plan_fused_step(model, nn.MSELoss(reduction="sum"))
    x = numpy.random.default_rng(0).random((3, 5))
    plan.forward(x, x)
    plan.backward()
    assert gpu.calls["mse_sigmoid_backward"] == 1


@pytest.mark.parametrize("shape", [(5,), (2, 3, 5)])
def test_a_1d_or_3d_input_takes_the_fused_pair(monkeypatch, shape):
    gpu = StandInGPU().install(monkeypatch)
    nn.manual_seed(2)
    linear, relu = nn.Linear(5, 4, dtype="float64"), nn.ReLU()
    x = numpy.random.default_rng(3).standard_normal(shape)
    y = FastLinear(linear, relu)(x)
    assert gpu.calls["bias_relu"] == 1
    with fused_gpu.unfused():
        numpy.testing.assert_array_equal(y, relu(linear(x)))


def test_backward_asks_the_models_own_backward_for_the_input_gradient_as_told():
    model = OvercompleteAutoencoder(input_dim=4, latent_dim=6)
    plan = plan_fused_step(model, nn.MSELoss())
    asked, own = [], model.backward

    def spy(grad_output, **options):
        asked.append(options)
        return own(grad_output, **options)

    model.backward = spy
    x = numpy.random.default_rng(0).random((2, 4)).astype(model.encoder[0].weight.data.dtype)
    for need in (False, True):
        plan.forward(x, x)
        plan.backward(need_input_grad=need)
    plan.forward(x, x)
    assert plan.backward() is not None  # the default: dL/dx computed
    assert asked == [{"need_input_grad": False}, {"need_input_grad": True}, {"need_input_grad": True}]


def test_a_chain_plan_sets_the_data_layer_as_the_models_backward_does():
    model = deep()
    plan = plan_fused_step(model, nn.MSELoss())
    first = model.layer_sequence()[0]
    x = numpy.random.default_rng(0).random((2, 10))
    plan.forward(x, x)
    assert plan.backward(need_input_grad=False) is None and first.needs_input_grad is False
    plan.forward(x, x)
    grad = plan.backward()  # the default: dL/dx computed, as the model's own backward computes it
    assert first.needs_input_grad is True
    reference, loss = deep(), nn.MSELoss()
    loss(reference(x), x)
    numpy.testing.assert_array_equal(grad, reference.backward(loss.backward()))


def test_a_sequential_plan_leaves_its_first_layer_alone():
    """Sequential.backward takes no need_input_grad: the plan neither passes it nor sets the layer."""
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 3, dtype="float64"))
    plan = plan_fused_step(model, nn.MSELoss())
    x = numpy.random.default_rng(0).random((2, 3))
    plan.forward(x, x)
    grad = plan.backward(need_input_grad=False)
    assert model[0].needs_input_grad is True and grad is not None and grad.shape == x.shape


def test_an_output_sigmoid_alone_is_the_fused_kernel_alone():
    model = nn.Sequential(nn.Sigmoid())
    plan = plan_fused_step(model, nn.MSELoss())
    assert plan.fuse_output and plan.stages == [model[0]]
    x = numpy.random.default_rng(0).random((2, 3))
    loss = nn.MSELoss()
    expected_value = loss(model(x), x)
    expected = model.backward(loss.backward())
    numpy.testing.assert_array_equal(plan.forward(x, x), expected_value)
    numpy.testing.assert_array_equal(plan.backward(), expected)


def test_run_chooses_by_the_first_array(monkeypatch):
    """fused_gpu.run takes the fused kernel when its first array is on the GPU, whatever the others."""
    on_device = numpy.zeros(3)
    monkeypatch.setattr(fused_gpu.backend, "device_of", lambda array: "gpu" if array is on_device else "cpu")
    launched = []
    monkeypatch.setattr(fused_gpu, "fused", lambda name, *arguments: launched.append(name) or "kernel")
    host = numpy.ones(3)
    assert fused_gpu.run("bias_relu", on_device, host) == "kernel"
    assert fused_gpu.run("sigmoid_forward", on_device) == "kernel"
    numpy.testing.assert_array_equal(fused_gpu.run("bias_relu", host, on_device), host)
    assert launched == ["bias_relu", "sigmoid_forward"]
    with fused_gpu.unfused():
        numpy.testing.assert_array_equal(fused_gpu.run("bias_relu", on_device, host), host)
    assert len(launched) == 2
