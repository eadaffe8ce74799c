"""nn.fast.cuda_graph.CapturedStep, checked without a GPU.

CUDA is replaced by a test double: its capture records the step's Python callable without running
it (as CUDA records kernels without running them) and each launch runs it again. On NumPy arrays a
captured step must then take exactly the engine's eager steps (bit for bit), through warm-up,
capture, replays and a partial batch, always through the same input buffer. The GPU form of the
update (the step counter and Adam kernels, compiled as C) must take torch's Adam steps.
"""
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder
from nn.fast import cuda_graph
from nn.fast import kernels as fused_gpu
from nn.fast import optim as optim_fast

from helpers_c_kernels import COMPILER, c_elementwise
from helpers_fused import FakeGraphs, StandInGPU


class FrozenStepCountGraphs(FakeGraphs):
    """As FakeGraphs, but each replay sees the host's step counts as they were at capture, as the
    kernels of a real graph see every host number: an update that took t from the host would stall."""

    def __init__(self, optimizer_states):
        super().__init__()
        self.states = optimizer_states

    def capture(self, stream, body):
        counts = [state["step"] for state in self.states]

        def replay():
            now = [state["step"] for state in self.states]
            for state, count in zip(self.states, counts):
                state["step"] = count
            try:
                body()
            finally:
                for state, count in zip(self.states, now):
                    state["step"] = count
        return super().capture(stream, replay)


def small_model(kind, dtype):
    nn.manual_seed(3)
    if kind == "deep":
        return DeepAutoencoder(input_dim=20, hidden=(12, 8), latent_dim=3, dtype=dtype)
    return nn.Sequential(nn.Linear(20, 7, dtype=dtype), nn.ReLU(), nn.Linear(7, 20, dtype=dtype), nn.Sigmoid())


OPTIMIZERS = {"adam": lambda p, **fast: nn.Adam(p, lr=1e-2, **fast),
              "adamw-amsgrad": lambda p, **fast: nn.AdamW(p, lr=1e-2, weight_decay=0.1, amsgrad=True, **fast),
              "adam-l2-maximize": lambda p, **fast: nn.Adam(p, lr=1e-2, weight_decay=0.05, maximize=True, **fast),
              "sgd-nesterov": lambda p, **fast: nn.SGD(p, lr=0.1, momentum=0.9, nesterov=True, **fast)}


def batches(count, size, dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.random((size, 20)).astype(dtype) for _ in range(count)]


def eager_step(model, loss, optimizer, x):
    value = loss(model(x), x)
    optimizer.zero_grad()
    model.backward(loss.backward())
    optimizer.step()
    return value


def twins(kind, optimizer_name, dtype, warmup_steps=2, frozen_host=False, foreach=None):
    """(captured step over one model, (model, loss, optimizer) of an identical second one, fake graphs).

    The captured step takes the optimizer's flat buffers (foreach=True; a plain optimizer is switched to
    them), so the eager twin steps with foreach=True as well: the same rule on the same buffers."""
    model, reference = small_model(kind, dtype), small_model(kind, dtype)
    optimizer = OPTIMIZERS[optimizer_name](model.parameters(), foreach=foreach)
    graphs = FrozenStepCountGraphs(list(optimizer.state.values())) if frozen_host else FakeGraphs()
    captured = cuda_graph.CapturedStep(model, nn.MSELoss(), optimizer, (5, 20), warmup_steps=warmup_steps,
                                       graphs=graphs)
    assert optimizer.foreach and isinstance(optimizer._fast, optim_fast.FlatForm) and captured.form is optimizer._fast
    reference_optimizer = OPTIMIZERS[optimizer_name](reference.parameters(), foreach=True)
    return captured, (reference, nn.MSELoss(), reference_optimizer), graphs


def assert_same_training(captured, reference):
    model, _, optimizer = reference
    for ours, theirs in zip(captured.model.parameters(), model.parameters()):
        numpy.testing.assert_array_equal(ours.data, theirs.data)
    ours, theirs = captured.optimizer.state_dict(), optimizer.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        numpy.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("foreach", [None, True], ids=["switched", "foreach"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer_name", list(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["deep", "sequential"])
def test_replays_take_the_eager_steps_bit_for_bit(kind, optimizer_name, dtype, foreach):
    captured, reference, graphs = twins(kind, optimizer_name, dtype, foreach=foreach)
    buffer = captured.input
    for index, x in enumerate(batches(6, 5, dtype)):
        value = captured.step(x)
        expected = eager_step(*reference, x)
        assert captured.captured == (index >= 2)
        assert value is captured.loss_value and captured.input is buffer
        numpy.testing.assert_array_equal(value, expected)
        assert_same_training(captured, reference)
    assert graphs.calls.count("capture") == 1 and graphs.calls.count("launch") == 4
    assert graphs.calls.index("capture") < graphs.calls.index("launch")


def test_the_input_is_copied_into_one_buffer():
    captured, _, _ = twins("sequential", "adam", "float64", warmup_steps=1)
    address = captured.input.ctypes.data
    for x in batches(3, 5, "float64"):
        captured.step(x)
        numpy.testing.assert_array_equal(captured.input, x)
        assert captured.input.ctypes.data == address and captured.input is not x
        x[...] = numpy.nan  # the caller's array may change afterwards: the step kept its own copy
    assert not numpy.isnan(captured.input).any()


def test_a_partial_batch_takes_an_eager_step_and_replays_continue():
    captured, reference, graphs = twins("deep", "adam", "float64")
    for x in batches(3, 5, "float64") + batches(1, 2, "float64", seed=1) + batches(2, 5, "float64", seed=2):
        if x.shape == captured.batch_shape:
            captured.step(x)
        else:
            captured.eager_step(x)
        eager_step(*reference, x)
        assert_same_training(captured, reference)
    assert graphs.calls.count("launch") == 3


def test_each_step_waits_for_the_caller_and_the_caller_for_it():
    """The step's stream does not follow the caller's by itself: every call hands over both ways."""
    captured, _, graphs = twins("sequential", "adam", "float64", warmup_steps=1)
    for x in batches(3, 5, "float64") + batches(1, 2, "float64"):
        graphs.calls.clear()
        (captured.step if x.shape == captured.batch_shape else captured.eager_step)(x)
        assert graphs.calls[0] == "caller to step" and graphs.calls[-1] == "step to caller"
        assert graphs.calls.count("caller to step") == graphs.calls.count("step to caller") == 1
        work = [call for call in graphs.calls if call in ("capture", "launch", "enter")]
        assert work and graphs.calls.index(work[0]) > 0


def test_refusals_name_the_problem_and_the_fix():
    captured, _, _ = twins("sequential", "adam", "float64", warmup_steps=1)
    with pytest.raises(ValueError, match=r"shape \(2, 20\).*\(5, 20\).*eager_step"):
        captured.step(numpy.zeros((2, 20)))
    for _ in range(2):  # one warm-up step, then the captured one
        captured.step(numpy.zeros((5, 20)))
    captured.optimizer.param_groups[0]["lr"] = 5e-3
    with pytest.raises(RuntimeError, match="lr of parameter group 0 changed from 0.01 to 0.005.*new CapturedStep"):
        captured.step(numpy.zeros((5, 20)))
    model = nn.Sequential(nn.Linear(4, 4, dtype="float64"), nn.Dropout(0.5))
    with pytest.raises(ValueError, match="Dropout"):
        cuda_graph.CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (2, 4), graphs=FakeGraphs())
    linear = nn.Linear(4, 4, dtype="float64")
    with pytest.raises(TypeError, match=r"^CapturedStep: optimizer Optimizer is not supported; use nn.Adam, nn.AdamW "
                                        r"or nn.SGD$"):
        cuda_graph.CapturedStep(linear, nn.MSELoss(), nn.optimizer.Optimizer.__new__(nn.optimizer.Optimizer), (2, 4),
                                graphs=FakeGraphs())
    without_dropout = nn.Sequential(linear, nn.Dropout(0.0))  # p = 0 draws no mask: nothing to freeze
    cuda_graph.CapturedStep(without_dropout, nn.MSELoss(), nn.Adam(linear.parameters()), (2, 4), graphs=FakeGraphs())
    with pytest.raises(ValueError, match="BCELoss checks its input on the host.*use MSELoss"):
        cuda_graph.CapturedStep(linear, nn.BCELoss(), nn.Adam(linear.parameters()), (2, 4), graphs=FakeGraphs())
    with pytest.raises(ValueError, match="reduction='none' gives no single loss value.*'mean' or 'sum'"):
        cuda_graph.CapturedStep(linear, nn.MSELoss(reduction="none"), nn.Adam(linear.parameters()), (2, 4),
                                graphs=FakeGraphs())
    with pytest.raises(ValueError, match="warmup_steps must be at least 1, got 0"):
        cuda_graph.CapturedStep(linear, nn.MSELoss(), nn.Adam(linear.parameters()), (2, 4), warmup_steps=0,
                                graphs=FakeGraphs())


# --- the GPU form of the update, its kernels compiled as C -------------------------------------------
@pytest.mark.skipif(COMPILER is None, reason="no C compiler to build the kernel bodies")
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("optimizer_name", ["adam", "adamw-amsgrad", "adam-l2-maximize"])
def test_the_gpu_update_takes_the_cpu_steps(monkeypatch, tmp_path, optimizer_name, dtype, rtol):
    """With the device counter, the fused Adam kernel and the fused step's kernels (as C) in place of
    CuPy's, a captured step follows the eager NumPy steps; the counter reaches the host's step count."""
    def compiled(name, inputs, outputs, body, scalars):
        return lambda *arguments: c_elementwise(inputs, outputs, body, dtype, scalars,
                                                tmp_path / name)(*arguments)

    counter = cuda_graph.STEP_COUNTER
    adam_scalars = ("sign", "l2", "decay", "beta1", "beta2", "lr", "eps")
    kernels = {"nn_step_counter": compiled("counter", counter.inputs, counter.outputs, counter.body, counter.scalars)}
    for amsgrad in (False, True):
        kernels[f"nn_fused_adam_{amsgrad}"] = compiled(f"adam{amsgrad}", *optim_fast.adam_kernel_source(amsgrad),
                                                        adam_scalars)
    captured, reference, graphs = twins("deep", optimizer_name, dtype, frozen_host=True)
    monkeypatch.setattr(cuda_graph, "_kernels", kernels)
    monkeypatch.setattr(cuda_graph.backend, "device_of", lambda array: "gpu")
    gpu = StandInGPU("c", tmp_path).install(monkeypatch)
    for x in batches(8, 5, dtype):
        captured.step(x)
        with monkeypatch.context() as cpu, fused_gpu.unfused():
            cpu.setattr(cuda_graph.backend, "device_of", lambda array: "cpu")
            eager_step(*reference, x)
    assert graphs.calls.count("launch") == 6
    assert gpu.calls["bias_relu"] == 8 * 4 and gpu.calls["mse_sigmoid_backward"] == 8  # deep: 4 pairs, 8 steps
    for ours, theirs in zip(captured.model.parameters(), reference[0].parameters()):
        assert numpy.max(numpy.abs(ours.data - theirs.data)) <= rtol * numpy.max(numpy.abs(theirs.data))
    assert float(captured._counters[0]["t"]) == captured.optimizer.state_dict()["step"] == 8


def test_a_captured_step_stays_on_the_arrays_namespace():
    """On StrictArray (CuPy's refusal to mix with NumPy, on the CPU): no NumPy array leaks into the
    buffers, the counters or the step, and the plain fused forms stay strict too."""
    from helpers_nn import ArrayBackend, StrictArray
    from nn.fast import kernels as fused_gpu

    strict = ArrayBackend("strict")
    model = strict.module(small_model("deep", "float64"))
    captured = cuda_graph.CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters(), lr=1e-2), (5, 20),
                                       warmup_steps=1, graphs=FakeGraphs())
    for x in batches(3, 5, "float64"):
        value = captured.step(strict.array(x))
    assert type(value) is StrictArray and type(captured.input) is StrictArray
    assert all(type(counter) is StrictArray for counter in captured._counters[0].values())
    y = fused_gpu.sigmoid_forward(captured.input)
    results = [y, fused_gpu.sigmoid_backward(y, y), fused_gpu.mse_sigmoid_backward(y, captured.input, 0.1),
               fused_gpu.bias_relu(captured.input, captured.input[0])]
    assert all(type(result) is StrictArray for result in results)


def test_each_refusal_is_one_whole_line_and_three_steps_warm_up_by_default():
    linear = nn.Linear(4, 4, dtype="float64")
    cases = [(nn.Sequential(linear, nn.Dropout(0.5)), nn.MSELoss(), "the model has Dropout, whose random masks a graph "
              "would replay unchanged; train it with eager steps"),
             (linear, nn.BCELoss(), "BCELoss checks its input on the host, which a graph cannot do; use MSELoss and a "
              "model without a penalty, or eager steps"),
             (linear, nn.MSELoss(reduction="none"), "loss reduction='none' gives no single loss value to train on; use "
              "reduction='mean' or 'sum'")]
    for model, loss, message in cases:
        with pytest.raises(ValueError) as caught:
            cuda_graph.CapturedStep(model, loss, nn.Adam(linear.parameters()), (2, 4), graphs=FakeGraphs())
        assert str(caught.value) == "CapturedStep: " + message
    penalized = nn.Linear(4, 4, dtype="float64")
    penalized.code_penalty = 1.0
    with pytest.raises(ValueError) as caught:
        cuda_graph.CapturedStep(penalized, nn.MSELoss(), nn.Adam(penalized.parameters()), (2, 4), graphs=FakeGraphs())
    assert str(caught.value) == ("CapturedStep: the model's code penalty reads its value on the host, which a graph "
                                 "cannot do; use MSELoss and a model without a penalty, or eager steps")
    graphs = FakeGraphs()
    captured = cuda_graph.CapturedStep(linear, nn.MSELoss(), nn.Adam(linear.parameters()), (2, 4), graphs=graphs)
    captures = []
    for _ in range(5):
        captured.step(numpy.zeros((2, 4)))
        captures.append(graphs.calls.count("capture"))
    assert captures == [0, 0, 0, 1, 1]
