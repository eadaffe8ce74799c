"""The engine's GPU branches, run on the CPU through a stand-in for CuPy (tests/helpers_fake_cupy.py).

Each test installs the fake ``cupy`` for itself only. On it the engine takes the paths it takes on a
GPU (fused kernels through ``backend.compile_elementwise``, the fused Adam kernel, the host-to-device
copy of a batch, ``.to("gpu")``), and each result is held to the plain NumPy path's.
"""
import sys

import numpy
import pytest

import nn
from nn import backend
from nn.fast import kernels as fused_gpu
from nn.fast import optim as optim_fast

from helpers_c_kernels import COMPILER
from helpers_fake_cupy import FakeCupyArray, device, install_fake_cupy
from helpers_nn import autoencoder

pytestmark = pytest.mark.skipif(COMPILER is None, reason="no C compiler to build the kernel bodies")
DTYPES = ["float32", "float64"]


@pytest.fixture
def cupy(monkeypatch):
    return install_fake_cupy(monkeypatch)


def host(array):
    """The values of a fake device array as NumPy (refusing anything that is not on the device)."""
    assert type(array) is FakeCupyArray, f"expected a device array, got {type(array).__name__}"
    return array.get()


# --- the fake itself ---------------------------------------------------------------------------------
def test_the_fake_is_seen_as_a_gpu_and_keeps_cupys_rules(cupy):
    assert backend.gpu_available() and backend.array_module("gpu") is cupy
    x = device(numpy.arange(3.0))
    assert backend.device_of(x) == "gpu" and backend.get_array_module(x) is cupy
    with pytest.raises(TypeError, match="mix host and device"):
        x + numpy.ones(3)
    with pytest.raises(TypeError, match="mix host and device"):
        cupy.maximum(x, numpy.ones(3))
    moved = cupy.asarray(numpy.arange(3.0))
    assert type(moved) is FakeCupyArray and cupy.asarray(moved) is moved
    assert type(cupy.asnumpy(moved)) is numpy.ndarray


def test_the_fake_leaves_with_its_test():
    with pytest.MonkeyPatch.context() as patch:
        install_fake_cupy(patch)
        assert getattr(sys.modules["cupy"], "is_fake", False)
        backend.default_generator("gpu")
    assert not getattr(sys.modules.get("cupy"), "is_fake", False)
    assert "gpu" not in backend._generators and not fused_gpu._compiled and not optim_fast._adam_kernels
    real = sys.modules.get("cupy")
    assert backend.gpu_available() == (real is not None and backend.gpu_available())


def test_set_takes_only_a_host_array_of_the_same_shape_and_dtype(cupy):
    buffer = cupy.zeros((2, 3), dtype="float32")
    buffer.set(numpy.full((2, 3), 2.0, dtype="float32"))
    numpy.testing.assert_array_equal(host(buffer), 2.0)
    with pytest.raises(TypeError, match="dtype"):
        buffer.set(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        buffer.set(numpy.zeros((3, 2), dtype="float32"))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        buffer.set(device(numpy.zeros((2, 3), dtype="float32")))


# --- nn/fast/kernels.py: run and fused, through backend.compile_elementwise ---------------------------------
def kernel_arguments(name, dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-6, 6, (7, 5)).astype(dtype)
    y = rng.uniform(0, 1, (7, 5)).astype(dtype)
    return {"sigmoid_forward": (x,), "sigmoid_backward": (y, x), "mse_sigmoid_backward": (y, x, 2 / 35),
            "bias_relu": (x, rng.uniform(-1, 1, 5).astype(dtype)),
            "bias_relu_in_place": (x, rng.uniform(-1, 1, 5).astype(dtype))}[name]


def on_device(arguments):
    return tuple(device(a) if isinstance(a, numpy.ndarray) else a for a in arguments)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(fused_gpu.PLAIN_FORMS))
def test_run_takes_the_compiled_kernel_on_the_device_and_equals_the_plain_form(cupy, name, dtype):
    arguments = kernel_arguments(name, dtype)
    expected = fused_gpu.PLAIN_FORMS[name](*(a.copy() if isinstance(a, numpy.ndarray) else a for a in arguments))
    given = on_device(arguments)
    result = fused_gpu.run(name, *given)
    kernel_name = fused_gpu.FUSED_NAMES.get(name, name)
    assert list(fused_gpu._compiled) == [kernel_name] and fused_gpu._compiled[kernel_name].launches == 1
    assert fused_gpu._compiled[kernel_name].name == f"nn_fused_{kernel_name}"
    assert result.dtype == numpy.dtype(dtype) and result.shape == expected.shape
    ulp = numpy.finfo(dtype).eps
    numpy.testing.assert_allclose(host(result), expected, rtol=8 * ulp, atol=8 * ulp)
    for before, after in zip(arguments, given):  # the kernel writes a new array; its inputs are kept
        if isinstance(before, numpy.ndarray):
            numpy.testing.assert_array_equal(host(after), before)
    again = fused_gpu.run(name, *given)  # compiled once, launched again
    assert fused_gpu._compiled[kernel_name].launches == 2 and again is not result
    numpy.testing.assert_array_equal(host(again), host(result))


@pytest.mark.parametrize("name", ["sigmoid_backward", "bias_relu"])
def test_unfused_runs_the_plain_form_on_the_device(cupy, name):
    given = on_device(kernel_arguments(name, "float64"))
    with fused_gpu.unfused():
        assert not fused_gpu.on_gpu(given[0])
        result = fused_gpu.run(name, *given)
    assert fused_gpu.on_gpu(given[0]) and not fused_gpu.on_gpu(numpy.zeros(2))
    assert not fused_gpu._compiled and type(result) is FakeCupyArray
    expected = fused_gpu.PLAIN_FORMS[name](*(a.get() if isinstance(a, FakeCupyArray) else a for a in given))
    numpy.testing.assert_array_equal(host(result), expected)


def test_a_number_is_passed_in_the_arrays_precision(cupy):
    y, target, _ = on_device(kernel_arguments("mse_sigmoid_backward", "float32"))
    scale = 1 / 3  # not exact in float32: cast once, as the plain form rounds it
    result = fused_gpu.fused("mse_sigmoid_backward", y, target, scale)
    expected = fused_gpu.mse_sigmoid_backward(y.get(), target.get(), numpy.float32(scale))
    numpy.testing.assert_allclose(host(result), expected, rtol=4e-7, atol=1e-8)


# --- nn/fast/optim.py: the fused Adam kernel and the flat buffers on the device ------------------------------
ADAMS = {"adam": lambda p, **fast: nn.Adam(p, lr=1e-2, **fast),
         "adamw-amsgrad": lambda p, **fast: nn.AdamW(p, lr=1e-2, weight_decay=0.1, amsgrad=True, **fast),
         "adam-l2-maximize": lambda p, **fast: nn.Adam(p, lr=1e-2, weight_decay=0.05, maximize=True, **fast),
         "adam-betas": lambda p, **fast: nn.Adam(p, lr=3e-3, betas=(0.8, 0.95), eps=1e-6, **fast)}
SGDS = {"sgd-nesterov-decay": lambda p, **fast: nn.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01,
                                                       **fast),
        "sgd-dampening-maximize": lambda p, **fast: nn.SGD(p, lr=0.1, momentum=0.5, dampening=0.3, maximize=True,
                                                           **fast)}


def small_model(dtype="float64"):
    nn.manual_seed(5)
    return nn.Sequential(nn.Linear(12, 6, dtype=dtype), nn.ReLU(), nn.Linear(6, 12, dtype=dtype), nn.Sigmoid())


def train(model, optimizer, batches, to_device=lambda x: x):
    loss = nn.MSELoss()
    values = []
    for x in batches:
        x = to_device(x)
        value = loss(model(x), x)
        optimizer.zero_grad()
        model.backward(loss.backward())
        optimizer.step()
        values.append(float(value))
    return values


def batches(count, size=4, width=12, dtype="float64", seed=1):
    rng = numpy.random.default_rng(seed)
    return [rng.random((size, width)).astype(dtype) for _ in range(count)]


def assert_same_parameters(gpu_model, cpu_model, rtol):
    for ours, theirs in zip(gpu_model.parameters(), cpu_model.parameters()):
        assert type(ours.data) is FakeCupyArray and type(theirs.data) is numpy.ndarray
        numpy.testing.assert_allclose(ours.data.get(), theirs.data, rtol=rtol, atol=0)


@pytest.mark.parametrize("fast", ["fused", "foreach"])
@pytest.mark.parametrize("name", list(ADAMS))
def test_adam_on_the_device_takes_the_plain_numpy_steps(cupy, name, fast):
    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    gpu_optimizer = ADAMS[name](gpu_model.parameters(), **{fast: True})
    cpu_optimizer = ADAMS[name](cpu_model.parameters())
    assert isinstance(gpu_optimizer._fast, optim_fast.FusedForm if fast == "fused" else optim_fast.FlatForm)
    data = batches(4)
    ours = train(gpu_model, gpu_optimizer, data, lambda x: nn.to_device(x, "gpu"))
    theirs = train(cpu_model, cpu_optimizer, data)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-12)
    if fast == "fused":
        kernel = optim_fast._adam_kernels[name == "adamw-amsgrad"]
        assert list(optim_fast._adam_kernels) == [name == "adamw-amsgrad"]
        assert kernel.name == "nn_fused_adam" and kernel.launches == 4
    else:
        assert not optim_fast._adam_kernels
    for theirs_state, ours_state in zip(cpu_optimizer.state.values(), gpu_optimizer.state.values()):
        assert ours_state["step"] == theirs_state["step"] == 4
        for key in ("exp_avg", "exp_avg_sq"):
            numpy.testing.assert_allclose(ours_state[key].get(), theirs_state[key], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", list(SGDS))
def test_sgd_on_the_device_flat_buffers_takes_the_plain_numpy_steps(cupy, name):
    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    gpu_optimizer, cpu_optimizer = SGDS[name](gpu_model.parameters(), foreach=True), SGDS[name](cpu_model.parameters())
    data = batches(3)
    train(gpu_model, gpu_optimizer, data, lambda x: nn.to_device(x, "gpu"))
    train(cpu_model, cpu_optimizer, data)
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-12)


def test_the_rescaled_block_on_the_device_takes_the_plain_steps(cupy):
    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    gpu_optimizer = nn.Adam(gpu_model.parameters(), lr=1e-2, foreach=True)
    cpu_optimizer = nn.Adam(cpu_model.parameters(), lr=1e-2)
    data = batches(3)
    with optim_fast.rescaled_state(gpu_optimizer):
        train(gpu_model, gpu_optimizer, data, lambda x: nn.to_device(x, "gpu"))
    train(cpu_model, cpu_optimizer, data)
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-12)


def test_fused_needs_the_parameters_on_the_device(cupy):
    with pytest.raises(ValueError, match=r"needs the parameters on the GPU.*model.to\('gpu'\)"):
        nn.Adam(small_model().parameters(), fused=True)


@pytest.mark.parametrize("moved,first,other", [(0, "gpu", "cpu"), (2, "cpu", "gpu")])
@pytest.mark.parametrize("fast", ["foreach", "fused"])
def test_flat_buffers_refuse_parameters_on_two_devices(cupy, moved, first, other, fast):
    model = small_model()
    model[moved].to("gpu")
    message = "needs the parameters on the GPU" if fast == "fused" else f"mix float64 on '{first}' with float64 on '{other}'"
    with pytest.raises(ValueError, match=message):
        nn.Adam(model.parameters(), **{fast: True})


# --- nn/fast/cuda_graph.py: the captured step on the device, CUDA replaced by FakeGraphs ---------------------
@pytest.mark.parametrize("optimizer_name", ["adam", "adamw-amsgrad", "adam-l2-maximize", "sgd-nesterov-decay"])
@pytest.mark.parametrize("batch_on", ["host", "device"])
def test_a_captured_step_on_the_device_takes_the_eager_numpy_steps(cupy, optimizer_name, batch_on):
    from nn.fast import cuda_graph

    from helpers_fused import FakeGraphs

    factory = {**ADAMS, **SGDS}[optimizer_name]
    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    gpu_optimizer, cpu_optimizer = factory(gpu_model.parameters()), factory(cpu_model.parameters())
    graphs = FakeGraphs()
    captured = cuda_graph.CapturedStep(gpu_model, nn.MSELoss(), gpu_optimizer, (4, 12), warmup_steps=2,
                                       graphs=graphs)
    assert type(captured.input) is FakeCupyArray and captured.input.dtype == numpy.float64
    buffer = captured.input
    data = batches(5)
    for index, x in enumerate(data):
        value = captured.step(x if batch_on == "host" else device(x))
        assert captured.input is buffer and captured.captured == (index >= 2)
        numpy.testing.assert_array_equal(buffer.get(), x)
        expected = train(cpu_model, cpu_optimizer, [x])[0]
        assert type(value) is FakeCupyArray
        numpy.testing.assert_allclose(float(value), expected, rtol=1e-12)
    assert graphs.calls.count("capture") == 1 and graphs.calls.count("launch") == 3
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-10)
    # each step ran the fused forms, each once: Linear + ReLU, the Sigmoid, the Sigmoid + MSE backward
    assert {name: kernel.launches for name, kernel in fused_gpu._compiled.items()} == {
        "bias_relu": 5, "sigmoid_forward": 5, "mse_sigmoid_backward": 5}
    if not optimizer_name.startswith("adam"):
        assert not cuda_graph._kernels  # SGD: its flat rule, no device counter, no Adam kernel
    else:
        amsgrad = optimizer_name == "adamw-amsgrad"
        assert {name: (kernel.name, kernel.launches) for name, kernel in cuda_graph._kernels.items()} == {
            "nn_step_counter": ("nn_step_counter", 5), f"nn_fused_adam_{amsgrad}": (f"nn_fused_adam_{amsgrad}", 5)}
        assert float(captured._counters[0]["t"]) == 5
        for key, theirs in (("bias_correction1", 1 - 0.9 ** 5), ("bias_correction2", 1 - 0.999 ** 5)):
            numpy.testing.assert_allclose(float(captured._counters[0][key]), theirs, rtol=1e-14)
    partial = data[0][:3]
    captured.eager_step(device(partial))
    train(cpu_model, cpu_optimizer, [partial])
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-10)


def test_a_captured_step_copies_a_float32_batch_into_a_float64_buffer(cupy):
    from nn.fast import cuda_graph

    from helpers_fused import FakeGraphs

    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    gpu_optimizer, cpu_optimizer = nn.Adam(gpu_model.parameters(), lr=1e-2), nn.Adam(cpu_model.parameters(), lr=1e-2)
    captured = cuda_graph.CapturedStep(gpu_model, nn.MSELoss(), gpu_optimizer, (4, 12), warmup_steps=1,
                                       graphs=FakeGraphs())
    x = numpy.asfortranarray(batches(1, dtype="float32")[0])  # another dtype and layout: cast on the host, then copied
    for _ in range(3):
        captured.step(x)
        train(cpu_model, cpu_optimizer, [x.astype("float64")])
    numpy.testing.assert_array_equal(captured.input.get(), x.astype("float64"))
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-10)


def test_a_captured_step_casts_a_host_batch_to_a_float32_buffer(cupy):
    from nn.fast import cuda_graph

    from helpers_fused import FakeGraphs

    gpu_model, cpu_model = small_model("float32").to("gpu"), small_model("float32")
    gpu_optimizer, cpu_optimizer = nn.Adam(gpu_model.parameters(), lr=1e-2), nn.Adam(cpu_model.parameters(), lr=1e-2)
    captured = cuda_graph.CapturedStep(gpu_model, nn.MSELoss(), gpu_optimizer, (4, 12), warmup_steps=1,
                                       graphs=FakeGraphs())
    for x in batches(3):  # float64 on the host: cast to the buffer's float32 before the copy
        captured.step(x)
        numpy.testing.assert_array_equal(captured.input.get(), x.astype("float32"))
        train(cpu_model, cpu_optimizer, [x.astype("float32")])
    assert captured.input.dtype == numpy.float32
    for ours, theirs in zip(gpu_model.parameters(), cpu_model.parameters()):  # float32: relative to the largest
        assert numpy.max(numpy.abs(ours.data.get() - theirs.data)) <= 1e-5 * numpy.max(numpy.abs(theirs.data))


# --- nn/fast/activations.py and nn/fast/step.py on the device ----------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_fast_sigmoid_runs_its_kernels_on_the_device(cupy, dtype):
    from nn.fast import activations as fast_activations

    rng = numpy.random.default_rng(4)
    x, g = rng.uniform(-8, 8, (5, 3)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    ulp = numpy.finfo(dtype).eps
    y = fast_activations.sigmoid_fast(device(x))
    assert fused_gpu._compiled["sigmoid_forward"].launches == 1
    numpy.testing.assert_allclose(host(y), fast_activations.sigmoid_in_place_passes(x), rtol=8 * ulp)
    grad = fast_activations.sigmoid_backward_fast(y, device(g))
    assert fused_gpu._compiled["sigmoid_backward"].launches == 1
    expected = fast_activations.sigmoid_backward_in_place_passes(y.get(), g)
    numpy.testing.assert_allclose(host(grad), expected, rtol=8 * ulp, atol=8 * ulp)
    other = "float64" if dtype == "float32" else "float32"  # another dtype: the passes, not the kernel (T is one type)
    grad = fast_activations.sigmoid_backward_fast(y, device(g.astype(other)))
    assert fused_gpu._compiled["sigmoid_backward"].launches == 1 and type(grad) is FakeCupyArray
    with fused_gpu.unfused():
        assert type(fast_activations.sigmoid_fast(device(x))) is FakeCupyArray
    assert fused_gpu._compiled["sigmoid_forward"].launches == 1


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_compiled_step_on_the_device_equals_the_numpy_one(cupy, reduction):
    from nn.fast import step as fast_step

    x = batches(1)[0]
    results = {}
    for where in ("gpu", "cpu"):
        model = small_model().to(where)
        loss = nn.MSELoss(reduction=reduction)
        plan = fast_step.compile(model, loss)
        value = plan.forward(nn.to_device(x, where), nn.to_device(x, where))
        grad = plan.backward(need_input_grad=True)
        results[where] = (value, grad, [parameter.grad for parameter in model.parameters()])
    assert {name: kernel.launches for name, kernel in fused_gpu._compiled.items()} == {
        "bias_relu": 1, "sigmoid_forward": 1, "mse_sigmoid_backward": 1}
    (value, grad, grads), (cpu_value, cpu_grad, cpu_grads) = results["gpu"], results["cpu"]
    numpy.testing.assert_allclose(host(value), cpu_value, rtol=1e-14)
    numpy.testing.assert_allclose(host(grad), cpu_grad, rtol=1e-12, atol=1e-17)
    for ours, theirs in zip(grads, cpu_grads):
        numpy.testing.assert_allclose(host(ours), theirs, rtol=1e-12, atol=1e-17)


# --- nn/module.py and nn/backend.py: moving, the gate's device checks -------------------------------------
def test_to_gpu_and_back_keeps_every_value(cupy):
    model = small_model()
    values = [parameter.data.copy() for parameter in model.parameters()]
    assert model.to("gpu") is model and model.device == "gpu"
    for parameter, value in zip(model.parameters(), values):
        numpy.testing.assert_array_equal(host(parameter.data), value)
        assert "device='gpu'" in repr(parameter)
    model.to("cpu")
    assert model.device == "cpu"
    for parameter, value in zip(model.parameters(), values):
        assert type(parameter.data) is numpy.ndarray
        numpy.testing.assert_array_equal(parameter.data, value)
    model.cuda()
    assert model.device == "gpu"
    model.cpu()
    assert model.device == "cpu"


def test_state_dicts_move_between_host_and_device_models(cupy):
    gpu_model, cpu_model = small_model().to("gpu"), small_model()
    for parameter in cpu_model.parameters():
        parameter.data[...] += 1.0
    gpu_model.load_state_dict(cpu_model.state_dict())  # host values into device parameters, in place
    for ours, theirs in zip(gpu_model.parameters(), cpu_model.parameters()):
        numpy.testing.assert_array_equal(host(ours.data), theirs.data)
    saved = gpu_model.state_dict()
    assert all(type(value) is FakeCupyArray for value in saved.values())
    fresh = small_model("float32")
    fresh.load_state_dict(saved)  # device values into a host model of another dtype: copied and cast
    for ours, theirs in zip(fresh.parameters(), cpu_model.parameters()):
        assert type(ours.data) is numpy.ndarray and ours.dtype == numpy.float32
        numpy.testing.assert_array_equal(ours.data, theirs.data.astype("float32"))


def test_to_device_copies_between_host_and_device(cupy):
    x = numpy.arange(6.0).reshape(2, 3)
    on = nn.to_device(x, "gpu")
    assert type(on) is FakeCupyArray and backend.device_of(on) == "gpu"
    on[0, 0] = 7.0  # a copy: the host array is untouched
    assert x[0, 0] == 0.0
    assert nn.to_device(on, "cuda") is on
    back = nn.to_device(on, "cpu")
    assert type(back) is numpy.ndarray and back[0, 0] == 7.0
    assert backend.to_numpy(on) is not on and type(backend.to_numpy(on)) is numpy.ndarray


def test_the_gate_refuses_an_input_of_the_other_device_in_one_line(cupy):
    model = small_model().to("gpu")
    with pytest.raises(backend.BackendError) as error:
        model(numpy.zeros((2, 12)))
    message = str(error.value)
    assert "\n" not in message and "to_device" in message
    assert message.startswith("Linear(in_features=12") and "input is on 'cpu' but the parameters are on 'gpu'" in message
    cpu_model = small_model()
    with pytest.raises(backend.BackendError, match=r"input is on 'gpu' but the parameters are on 'cpu'"):
        cpu_model(device(numpy.zeros((2, 12))))


def test_the_gate_takes_a_gradient_on_the_outputs_device(cupy):
    model = small_model().to("gpu")
    y = model(device(numpy.zeros((2, 12))))
    with pytest.raises(backend.BackendError, match=r"grad_output is on 'cpu' but the output is on 'gpu'"):
        model.backward(numpy.ones((2, 12)))
    model.zero_grad()
    cpu_model = small_model()
    cpu_model(numpy.zeros((2, 12)))
    with pytest.raises(backend.BackendError, match=r"grad_output is on 'gpu' but the output is on 'cpu'"):
        cpu_model.backward(device(numpy.ones((2, 12))))
    grad = model.backward(device(numpy.ones((2, 12))))
    assert type(grad) is FakeCupyArray and grad.shape == y.shape
    assert all(type(parameter.grad) is FakeCupyArray for parameter in model.parameters())


def test_a_number_as_the_gradient_of_a_loss_is_put_on_the_device(cupy):
    loss = nn.MSELoss()
    x = device(numpy.linspace(0.1, 0.9, 12).reshape(3, 4))
    target = device(numpy.full((3, 4), 0.5))
    value = loss(x, target)
    assert type(value) is FakeCupyArray and value.shape == ()
    grad = loss.backward(2.0)
    assert type(grad) is FakeCupyArray
    numpy.testing.assert_allclose(grad.get(), 2.0 * 2 * (x.get() - 0.5) / 12, rtol=1e-15)


def test_the_device_generator_draws_device_arrays(cupy):
    nn.manual_seed(0)
    generator = backend.default_generator("gpu")
    assert backend.default_generator("cuda") is generator
    draw = generator.random((3,))
    assert type(draw) is FakeCupyArray
    assert type(backend.new_generator(1, "gpu").standard_normal(2)) is FakeCupyArray


def test_erf_on_the_device_is_scipys(cupy):
    import scipy.special
    x = numpy.linspace(-3, 3, 11)
    result = backend.erf(device(x))
    assert type(result) is FakeCupyArray
    numpy.testing.assert_array_equal(result.get(), scipy.special.erf(x))
    assert type(backend.erf(x)) is numpy.ndarray
    assert isinstance(backend.expected_infinities(device(x)), type(__import__("contextlib").nullcontext()))


# --- the seed model, trained on the device -------------------------------------------------------------------
def test_the_seed_model_trains_on_the_device_as_on_numpy(cupy):
    def seed_model():
        nn.manual_seed(0)
        return autoencoder(nn, dtype="float64")

    gpu_model, cpu_model = seed_model().to("gpu"), seed_model()
    gpu_optimizer = nn.Adam(gpu_model.parameters(), lr=1e-3)
    cpu_optimizer = nn.Adam(cpu_model.parameters(), lr=1e-3)
    data = batches(3, size=8, width=784, seed=2)
    ours = train(gpu_model, gpu_optimizer, data, lambda x: nn.to_device(x, "gpu"))
    theirs = train(cpu_model, cpu_optimizer, data)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[-1] < ours[0]
    assert_same_parameters(gpu_model, cpu_model, rtol=1e-10)
