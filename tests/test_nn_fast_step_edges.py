"""nn.fast.step and nn.fast.kernels.run at their edges: which models are chains, which pairs fuse (a
pair at the very end, a 1-D or 3-D input), what describe() says word for word, and what backward
asks of the model about the input gradient."""
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder, OvercompleteAutoencoder
from nn.fast import kernels as fused_gpu
from nn.fast.step import FastLinear, FastSigmoid, Gated, layer_sequence
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
    plan = plan_fused_step(outer, nn.MSELoss())
    assert plan.describe() == ["Linear(10->6) + ReLU: FastLinear", "Linear(6->3): FastLinear",
                               "Linear(3->6) + ReLU: FastLinear", "Linear(6->10): FastLinear", "Sigmoid: FastSigmoid"]
    assert type(plan.stages[-1]) is Gated and plan.stages[-1].module is outer[1]  # a ReLU after a Sigmoid: its own


def test_a_linear_relu_pair_at_the_very_end_fuses():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    plan = plan_fused_step(model, nn.MSELoss())
    assert len(plan.stages) == 1 and isinstance(plan.stages[0], FastLinear)
    assert plan.stages[0].relu is model[1]
    assert plan.describe() == ["Linear(3->4) + ReLU: FastLinear"]


def test_without_fusion_the_plan_has_no_fused_output():
    for model, fuse in ((nn.Sequential(nn.Linear(3, 3), nn.Sigmoid()), False),
                        (OvercompleteAutoencoder(input_dim=4, latent_dim=6), True)):
        plan = plan_fused_step(model, nn.MSELoss(), fuse=fuse)
        assert plan.stages is None and plan.fuse_output is False


def test_describe_says_each_case_in_full():
    overcomplete = plan_fused_step(OvercompleteAutoencoder(input_dim=4, latent_dim=6), nn.MSELoss())
    assert overcomplete.describe() == ["no fusion: OvercompleteAutoencoder's forward is more than a chain of layers"]
    nothing = plan_fused_step(nn.Sequential(nn.Tanh(), nn.ReLU()), nn.MSELoss())
    assert nothing.describe() == ["no fusion: no Linear, Sigmoid or Sigmoid + MSELoss to fuse"]
    no_bias = plan_fused_step(nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU()), nn.MSELoss())
    assert no_bias.describe() == ["Linear(3->3) + ReLU: FastLinear"]
    summed = plan_fused_step(nn.Sequential(nn.Linear(3, 3, bias=False), nn.Sigmoid()), nn.MSELoss(reduction="sum"))
    assert summed.fuse_output is True
    assert summed.describe() == ["Linear(3->3): FastLinear", "Sigmoid: FastSigmoid",
                                 "mse_sigmoid_backward: Sigmoid + MSELoss(reduction='sum')"]


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
def test_a_1d_or_3d_input_takes_the_modules_own_forward_and_backward(monkeypatch, shape):
    """FastLinear's in-place form is for a batch of rows; any other input runs the Linear's and ReLU's own
    forward and then their own backward: the plain step's loss, gradients and dL/dx, bit for bit."""
    gpu = StandInGPU().install(monkeypatch)
    models = []
    for _ in range(2):
        nn.manual_seed(2)
        models.append(nn.Sequential(nn.Linear(5, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 5, dtype="float64")))
    plan, reference, loss = plan_fused_step(models[0], nn.MSELoss()), models[1], nn.MSELoss()
    x = numpy.random.default_rng(3).standard_normal(shape)
    for _ in range(2):  # twice: the gates are released by each backward
        value = plan.forward(x, x)
        grad = plan.backward()
        numpy.testing.assert_array_equal(value, loss(reference(x), x))
        numpy.testing.assert_array_equal(grad, reference.backward(loss.backward()))
        for ours, theirs in zip(models[0].parameters(), reference.parameters()):
            numpy.testing.assert_array_equal(ours.grad, theirs.grad)
    assert "bias_relu" not in gpu.calls
    plan.forward(x, x)
    assert plan.backward(need_input_grad=False) is None and models[0][0].needs_input_grad is True


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


def test_a_chain_plan_skips_the_data_layers_input_gradient_as_the_models_backward_does():
    """need_input_grad=False: None, as the model's own backward returns; the plan passes the wish down its
    stages and leaves the first layer's needs_input_grad flag as it found it."""
    model = deep()
    plan = plan_fused_step(model, nn.MSELoss())
    first = model.layer_sequence()[0]
    x = numpy.random.default_rng(0).random((2, 10))
    plan.forward(x, x)
    assert plan.backward(need_input_grad=False) is None and first.needs_input_grad is True
    plan.forward(x, x)
    grad = plan.backward()  # the default: dL/dx computed, as the model's own backward computes it
    assert first.needs_input_grad is True
    other, loss = deep(), nn.MSELoss()
    loss(other(x), x)
    assert other.backward(loss.backward(), need_input_grad=False) is None
    reference, loss = deep(), nn.MSELoss()
    loss(reference(x), x)
    numpy.testing.assert_array_equal(grad, reference.backward(loss.backward()))


def test_a_sequential_plan_leaves_its_first_layer_alone():
    """Sequential.backward takes no need_input_grad: the plan skips dL/dx when told (its stages take the wish)
    but never sets the layer's flag; by default it returns Sequential's own dL/dx."""
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 3, dtype="float64"))
    plan = plan_fused_step(model, nn.MSELoss())
    x = numpy.random.default_rng(0).random((2, 3))
    plan.forward(x, x)
    assert plan.backward(need_input_grad=False) is None and model[0].needs_input_grad is True
    plan.forward(x, x)
    grad = plan.backward()
    loss = nn.MSELoss()
    loss(model(x), x)
    assert model[0].needs_input_grad is True and grad.shape == x.shape
    numpy.testing.assert_array_equal(grad, model.backward(loss.backward()))


def test_an_output_sigmoid_alone_is_the_fused_kernel_alone():
    model = nn.Sequential(nn.Sigmoid())
    plan = plan_fused_step(model, nn.MSELoss())
    assert plan.fuse_output and [type(stage) for stage in plan.stages] == [FastSigmoid]
    assert plan.stages[0].sigmoid is model[0]
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
