"""nn.fast.cuda_graph.CapturedStep at its edges, without a GPU: the losses and models it takes (a summed
loss, a loss with no reduction attribute, a model of one parameter, float32), the stream each call
runs on, what a failed capture leaves behind, and its messages word for word. The captured step takes
the optimizer's flat buffers (foreach=True), so each eager twin steps with foreach=True too."""
import numpy
import pytest

import nn
from nn import backend
from nn.fast import cuda_graph
from nn.fast.cuda_graph import CapturedStep, CaptureFailed, capture_refusal

from helpers_fused import FakeGraph, FakeGraphs
from test_nn_cuda_graph import FrozenStepCountGraphs, batches, eager_step, small_model


class StreamGraphs(FakeGraphs):
    """FakeGraphs that also record which stream each hand-over, capture and launch was given."""

    def __init__(self):
        super().__init__()
        self.streams = []

    def hand_over(self, source, target):
        self.streams.append(("hand_over", source, target))
        super().hand_over(source, target)

    def capture(self, stream, body):
        self.streams.append(("capture", stream))
        graph = super().capture(stream, body)
        streams = self.streams

        class Recorded(FakeGraph):
            def launch(self, stream):
                streams.append(("launch", stream))
                super().launch(stream)
        return Recorded(graph.body, graph.calls)


def train_both(model, reference, loss, optimizers, steps=4, graphs=None, warmup_steps=1, shape=(5, 20)):
    captured = CapturedStep(model, loss, optimizers[0], shape, warmup_steps=warmup_steps,
                            graphs=graphs or FakeGraphs())
    rng = numpy.random.default_rng(0)
    dtype = next(iter(model.parameters())).data.dtype
    for _ in range(steps):
        x = rng.random(shape).astype(dtype)
        value = captured.step(x)
        expected = eager_step(reference, loss, optimizers[1], x)
        numpy.testing.assert_array_equal(value, expected)
        for ours, theirs in zip(model.parameters(), reference.parameters()):
            numpy.testing.assert_array_equal(ours.data, theirs.data)
    assert captured.captured
    return captured


def test_a_summed_loss_is_captured_and_trains_as_eager_steps():
    model, reference = small_model("sequential", "float64"), small_model("sequential", "float64")
    loss = nn.MSELoss(reduction="sum")
    assert capture_refusal(model, loss, nn.Adam(model.parameters())) is None
    captured = train_both(model, reference, loss,
                          [nn.Adam(m.parameters(), lr=1e-2, foreach=True) for m in (model, reference)])
    assert captured.plan.fuse_output


class PlainSquares(nn.Module):
    """A loss module with no ``reduction`` attribute: taken as a mean (one loss value to train on)."""

    def __init__(self):
        super().__init__()
        self.mse = nn.MSELoss()

    def forward(self, prediction, target):
        return self.mse(prediction, target)

    def backward(self, grad_output=1.0):
        return self.mse.backward(grad_output)


def test_a_loss_without_a_reduction_attribute_is_taken_as_a_mean():
    model, reference = small_model("sequential", "float64"), small_model("sequential", "float64")
    loss = PlainSquares()
    assert not hasattr(loss, "reduction")
    assert capture_refusal(model, loss, nn.SGD(model.parameters(), lr=0.1)) is None
    train_both(model, reference, loss, [nn.SGD(m.parameters(), lr=0.1, foreach=True) for m in (model, reference)])


def test_a_model_of_one_parameter_in_float32():
    models = []
    for _ in range(2):
        nn.manual_seed(5)
        models.append(nn.Linear(6, 6, bias=False, dtype="float32"))
    captured = train_both(*models, nn.MSELoss(), [nn.Adam(m.parameters(), lr=1e-2, foreach=True) for m in models],
                          shape=(3, 6))
    assert captured.loss_value.dtype == numpy.float32 and captured.input.dtype == numpy.float32


def test_fuse_false_plans_the_models_own_step():
    model = small_model("sequential", "float64")
    captured = CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (5, 20), graphs=FakeGraphs(), fuse=False)
    assert captured.plan.stages is None
    assert CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (5, 20), graphs=FakeGraphs()).plan.stages


def test_the_training_step_skips_the_input_gradient():
    model = small_model("deep", "float64")
    captured = CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (5, 20), warmup_steps=1,
                            graphs=FakeGraphs())
    asked, returned, own = [], [], captured.plan.backward
    captured.plan.backward = lambda **options: asked.append(options) or returned.append(own(**options))
    for x in batches(3, 5, "float64"):
        captured.step(x)
    captured.eager_step(batches(1, 2, "float64")[0])
    assert asked == [{"need_input_grad": False}] * 4 and returned == [None] * 4
    assert model.layer_sequence()[0].needs_input_grad is True  # skipped by the plan, the flag left alone


def test_the_step_count_is_the_steps_own_not_the_hosts():
    """On NumPy too, Adam's t comes from the step's counter: a replay that sees the host's counts as
    they were at capture (as a real graph would) still takes the eager steps bit for bit."""
    model, reference = small_model("deep", "float64"), small_model("deep", "float64")
    optimizers = [nn.Adam(m.parameters(), lr=1e-2, foreach=True) for m in (model, reference)]
    train_both(model, reference, nn.MSELoss(), optimizers, steps=5,
               graphs=FrozenStepCountGraphs(list(optimizers[0].state.values())))


def test_every_call_runs_on_the_steps_own_stream():
    model = small_model("sequential", "float64")
    graphs = StreamGraphs()
    captured = CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (5, 20), warmup_steps=1, graphs=graphs)
    for x in batches(3, 5, "float64") + batches(1, 2, "float64"):
        (captured.step if x.shape == captured.batch_shape else captured.eager_step)(x)
    mine, caller = captured.stream, graphs.current_stream()
    assert mine is not None
    step_calls = [("hand_over", caller, mine), ("hand_over", mine, caller)]
    assert graphs.streams == (step_calls + [step_calls[0], ("capture", mine), ("launch", mine), step_calls[1]]
                              + [step_calls[0], ("launch", mine), step_calls[1]] + step_calls)


def test_without_test_graphs_it_asks_cuda():
    if nn.gpu_available():
        pytest.skip("a GPU is here: CudaGraphs would work")
    model = small_model("sequential", "float64")
    with pytest.raises(backend.BackendError, match="device 'gpu'"):
        CapturedStep(model, nn.MSELoss(), nn.Adam(model.parameters()), (5, 20))


class RefusingGraphs(FakeGraphs):
    def capture(self, stream, body):
        raise OSError("operation not permitted when stream is capturing")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_failed_capture_takes_no_step(optimizer):
    model, reference = small_model("sequential", "float64"), small_model("sequential", "float64")
    make = (lambda p: nn.Adam(p, lr=1e-2, foreach=True)) if optimizer == "adam" else \
        (lambda p: nn.SGD(p, lr=0.1, momentum=0.9, foreach=True))
    optimizers = [make(m.parameters()) for m in (model, reference)]
    captured = CapturedStep(model, nn.MSELoss(), optimizers[0], (5, 20), warmup_steps=2, graphs=RefusingGraphs())
    xs = batches(4, 5, "float64")
    for x in xs[:2]:
        captured.step(x)
        eager_step(reference, nn.MSELoss(), optimizers[1], x)
    before = [dict(state) for state in optimizers[0].state.values()]
    with pytest.raises(CaptureFailed) as caught:
        captured.step(xs[2])
    assert str(caught.value) == ("CapturedStep: CUDA could not capture the step (OSError: operation not permitted "
                                 "when stream is capturing); no step was taken: take it with eager_step")
    assert isinstance(caught.value.__cause__, OSError)
    assert [state["step"] for state in optimizers[0].state.values()] == [state["step"] for state in before] == [2] * 4
    for x in xs[2:]:  # eager steps go on from where the warm-up left off
        numpy.testing.assert_array_equal(captured.eager_step(x), eager_step(reference, nn.MSELoss(), optimizers[1], x))
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        numpy.testing.assert_array_equal(ours.data, theirs.data)
    assert optimizers[0].state_dict()["step"] == optimizers[1].state_dict()["step"] == 4


def test_a_changed_hyperparameter_is_refused_in_full():
    model = small_model("sequential", "float64")
    optimizer = nn.Adam(model.parameters(), lr=1e-2)
    captured = CapturedStep(model, nn.MSELoss(), optimizer, (5, 20), warmup_steps=1, graphs=FakeGraphs())
    for x in batches(2, 5, "float64"):
        captured.step(x)
    optimizer.param_groups[0]["eps"] = 1e-6
    with pytest.raises(RuntimeError) as caught:
        captured.step(batches(1, 5, "float64")[0])
    assert str(caught.value) == ("CapturedStep: eps of parameter group 0 changed from 1e-08 to 1e-06 after capture, "
                                 "and the graph holds the old value; build a new CapturedStep after changing "
                                 "hyperparameters")
