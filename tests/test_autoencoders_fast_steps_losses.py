"""autoencoders.fast_steps.FastSteps' loss read-back, in-process: ``last_loss`` and ``epoch_losses`` give
each step's loss plus the model's code penalty of that step (a model with no ``penalty`` adds nothing),
the same numbers the plain forward gives before the step; and the notice of a capture CUDA refused
says why without the CapturedStep prefix."""
import numpy
import pytest

import nn
from autoencoders import DeepAutoencoder, OvercompleteAutoencoder
from autoencoders.fast_steps import FastSteps

from helpers_fused import FakeGraphs


def batches(count=3):
    rng = numpy.random.default_rng(5)
    return [rng.random((4, 16)) for _ in range(count)]


MODELS = {
    "overcomplete (a code penalty)": lambda: OvercompleteAutoencoder(input_dim=16, latent_dim=20, dtype="float64"),
    "deep (no penalty)": lambda: DeepAutoencoder(input_dim=16, hidden=(8,), latent_dim=3, dtype="float64"),
    "a Sequential (no penalty attribute)": lambda: nn.Sequential(
        nn.Linear(16, 3, dtype="float64"), nn.ReLU(), nn.Linear(3, 16, dtype="float64"), nn.Sigmoid()),
}


@pytest.mark.parametrize("kind", MODELS)
def test_each_steps_loss_is_the_plain_loss_plus_that_steps_penalty(kind):
    nn.manual_seed(3)
    model, loss = MODELS[kind](), nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=0.05)
    steps = FastSteps(model, loss, optimizer, cuda_graph=False)
    expected, last = [], []
    for x in batches():
        value = float(loss(model(x), x)) + getattr(model, "penalty", 0.0)  # the plain forward, before the step
        expected.append(value)
        steps.step(x)
        last.append(steps.last_loss())
    assert len(set(expected)) == 3  # three different steps: an index off by one would show
    if kind.startswith("overcomplete"):
        assert model.penalty > 0
    numpy.testing.assert_allclose(last, expected, rtol=1e-12)
    numpy.testing.assert_allclose(steps.epoch_losses(), expected, rtol=1e-12)
    assert steps.epoch_losses() == []  # read once, then forgotten


class RefusingGraphs(FakeGraphs):
    def capture(self, stream, body):
        raise RuntimeError("operation not permitted when stream is capturing")


def test_a_refused_capture_turns_the_graph_off_and_its_notice_drops_the_capturedstep_prefix(capsys):
    nn.manual_seed(3)
    model = MODELS["deep (no penalty)"]()
    steps = FastSteps(model, nn.MSELoss(), nn.Adam(model.parameters(), foreach=True), graphs=RefusingGraphs())
    assert steps.cuda_graph is True
    for x in batches(8):  # the capture comes after the warm-up steps
        steps.step(x)
    assert steps.cuda_graph is False
    assert steps.notice.startswith("training with eager GPU steps, not a CUDA graph: CUDA could not capture the "
                                   "step (RuntimeError: operation not permitted"), steps.notice
    assert capsys.readouterr().err == f"autoencoders: {steps.notice}\n"


def test_eager_steps_keep_a_foreach_adams_state_rescaled_inside_each_epoch_and_a_graphs_as_it_is():
    """Inside FastSteps.epoch() eager steps hold Adam's state in nn.fast.rescaled_state's units (two passes
    fewer a step), and torch's units come back when it ends; a CUDA graph's steps use torch's units throughout."""
    for cuda_graph, rescaled in ((False, True), (True, False)):
        nn.manual_seed(3)
        model = MODELS["deep (no penalty)"]()
        optimizer = nn.Adam(model.parameters(), lr=0.05, foreach=True)
        steps = FastSteps(model, nn.MSELoss(), optimizer, cuda_graph=cuda_graph, graphs=FakeGraphs())
        with steps.epoch():
            for x in batches(2):
                steps.step(x)
            inside = [optimizer.state[p]["exp_avg_sq"].copy() for p in model.parameters()]
        after = [optimizer.state[p]["exp_avg_sq"] for p in model.parameters()]
        same = all(numpy.array_equal(a, b) for a, b in zip(inside, after))
        assert same is not rescaled, (cuda_graph, same)
