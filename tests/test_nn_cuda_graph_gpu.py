"""On a real GPU (skipped without one): the fused kernels against their plain forms on CuPy, and a
captured, replayed training step against the engine's eager steps from the same weights."""
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder
from nn.fast import cuda_graph
from nn.fast import kernels as fused_gpu

pytestmark = pytest.mark.skipif(not nn.gpu_available(), reason="needs CuPy and a CUDA GPU")
DTYPES = [("float64", 1e-12), ("float32", 2e-5)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(fused_gpu.KERNELS))
def test_fused_kernel_equals_the_plain_form_on_cupy(name, dtype):
    rng = numpy.random.default_rng(0)
    x = numpy.concatenate([[-1000.0, -88.5, 0.0, 1000.0, numpy.nan], rng.uniform(-20, 20, 995)]).astype(dtype)
    x = nn.to_device(x.reshape(50, 20), "gpu")
    y = fused_gpu.sigmoid_forward(x)
    other = nn.to_device(rng.random((50, 20)).astype(dtype), "gpu")
    inputs = {"sigmoid_forward": (x,), "sigmoid_backward": (y, other), "mse_sigmoid_backward": (y, other, 2.0 / x.size),
              "bias_relu": (x, other[0])}[name]
    plain, fused = nn.to_numpy(getattr(fused_gpu, name)(*inputs)), nn.to_numpy(fused_gpu.fused(name, *inputs))
    numpy.testing.assert_array_equal(numpy.isnan(fused), numpy.isnan(plain))
    finite = ~numpy.isnan(plain)
    tolerance = 4 * numpy.maximum(numpy.spacing(numpy.abs(plain[finite])), numpy.finfo(dtype).smallest_normal)
    assert numpy.all(numpy.abs(fused[finite] - plain[finite]) <= tolerance)


def _pair(dtype, optimizer_class):
    models = []
    for _ in range(2):
        nn.manual_seed(5)
        models.append(DeepAutoencoder(input_dim=64, hidden=(32, 16), latent_dim=4, dtype=dtype).to("gpu"))
    return models, [optimizer_class(model.parameters(), lr=1e-2) for model in models]


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("optimizer_class", [nn.Adam, nn.SGD])
def test_captured_step_follows_the_eager_steps_on_the_gpu(dtype, rtol, optimizer_class):
    (model, reference), (optimizer, reference_optimizer) = _pair(dtype, optimizer_class)
    captured = cuda_graph.CapturedStep(model, nn.MSELoss(), optimizer, (16, 64), warmup_steps=2)
    loss = nn.MSELoss()
    rng = numpy.random.default_rng(1)
    for index, size in enumerate((16, 16, 16, 16, 7, 16, 16)):
        host = rng.random((size, 64))
        x = nn.to_device(host.astype(dtype), "gpu")
        if size != 16:
            value = captured.eager_step(x)
        else:  # a host batch (float64, as loaders give) is copied in on the step's stream
            value = captured.step(host if index == 5 else x)
        expected = loss(reference(x), x)
        reference_optimizer.zero_grad()
        reference.backward(loss.backward(), need_input_grad=False)
        reference_optimizer.step()
        assert abs(float(value) - float(expected)) <= rtol * abs(float(expected))
    assert captured.captured
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        ours, theirs = nn.to_numpy(ours.data), nn.to_numpy(theirs.data)
        assert numpy.max(numpy.abs(ours - theirs)) <= rtol * numpy.max(numpy.abs(theirs))
    assert optimizer.state_dict()["step"] == reference_optimizer.state_dict()["step"] == 7
