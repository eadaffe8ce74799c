"""autoencoders.fast_steps.FastSteps in fit, without a GPU: CUDA replaced by tests/helpers_fused.FakeGraphs.

On NumPy the planned, captured and replayed steps must train exactly as fit's own loop (the history
and the weights bit for bit, a partial last batch included); the losses are read once an epoch; a
model whose step a graph cannot replay trains eagerly with a one-line notice saying why; divergence
is still reported with its epoch and iteration.
"""
import math

import numpy
import pytest

import nn
from autoencoders import (DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, OvercompleteAutoencoder,
                          TrainingDiverged, fit)
from autoencoders.fast_steps import FastSteps
from datasets import DataLoader

from helpers_fused import FakeGraphs

TRAIN = 23  # batches of 5: four full ones and one of 3


def images(seed=0, count=TRAIN):
    return numpy.random.default_rng(seed).random((count, 16)).astype("float64")


MODELS = {"deep": lambda: DeepAutoencoder(input_dim=16, hidden=(8,), latent_dim=3, dtype="float64"),
          "denoising": lambda: DenoisingAutoencoder(DeepAutoencoder(input_dim=16, hidden=(8,), latent_dim=3,
                                                                    dtype="float64"), GaussianNoise(0.2, seed=1)),
          "overcomplete": lambda: OvercompleteAutoencoder(input_dim=16, latent_dim=20, dtype="float64")}


def train(kind, steps_options=None, loss=None, data=None, epochs=2, lr=1e-2, foreach=False):
    """(model, history, steps) after ``epochs`` of fit; with FastSteps when ``steps_options`` is a dict.
    ``foreach``: the optimizer's flat buffers (the command line's Adam; a CUDA graph takes them anyway)."""
    nn.manual_seed(4)
    model = MODELS[kind]()
    optimizer = nn.Adam(model.parameters(), lr=lr, foreach=foreach)
    loss = loss or nn.MSELoss()
    steps = FastSteps(model, loss, optimizer, **steps_options) if steps_options is not None else None
    data = images() if data is None else data
    history = fit(model, DataLoader(data, batch_size=5, shuffle=True, seed=2), loss, optimizer, epochs,
                  test_data=images(seed=9, count=7), progress=False, steps=steps)
    return model, history, steps


def assert_same_training(ours, theirs, rescaled=False):
    """The same losses and weights, bit for bit; with ``rescaled`` (FastSteps keeps a foreach Adam's state
    rescaled through each epoch, nn.fast.rescaled_state: the same rule in other units, which changes the
    last bits of the float64 state), to 1e-12 relative."""
    (model, history, _), (reference, reference_history, _) = ours, theirs
    assert history.to_dict().keys() == reference_history.to_dict().keys()
    for name in ("iteration_loss", "train_loss", "test_loss"):
        if rescaled:
            numpy.testing.assert_allclose(getattr(history, name), getattr(reference_history, name), rtol=1e-12,
                                          err_msg=name)
        else:
            assert getattr(history, name) == getattr(reference_history, name), name
    for parameter, expected in zip(model.parameters(), reference.parameters()):
        if rescaled:
            numpy.testing.assert_allclose(parameter.data, expected.data, rtol=1e-12, atol=1e-15)
        else:
            numpy.testing.assert_array_equal(parameter.data, expected.data)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("cuda_graph", [True, False])
@pytest.mark.parametrize("kind", list(MODELS))
def test_fit_with_fast_steps_trains_as_fit_bit_for_bit(kind, cuda_graph, foreach):
    """Against fit's own loop with the optimizer in the same form: a captured step holds the flat buffers
    (the optimizer takes foreach=True when the graph is built), so there the reference has them too."""
    graphs = FakeGraphs()
    ours = train(kind, {"cuda_graph": cuda_graph, "graphs": graphs}, foreach=foreach)
    captured = cuda_graph and ours[2].notice is None
    assert_same_training(ours, train(kind, foreach=foreach or captured), rescaled=foreach and not captured)
    steps = ours[2]
    if cuda_graph and kind == "deep":  # 2 epochs of 4 full batches: 3 warm-up steps, 1 capture, 5 replays
        assert steps.notice is None
        assert graphs.calls.count("capture") == 1 and graphs.calls.count("launch") == 5
    else:
        assert graphs.calls.count("capture") == 0
    assert steps.epoch_losses() == []  # read at each epoch's end: nothing left over


def test_where_a_graph_cannot_replay_the_step_the_notice_says_why():
    assert "draws random numbers in its step" in train("denoising", {"graphs": FakeGraphs()})[2].notice
    assert "code penalty" in train("overcomplete", {"graphs": FakeGraphs()})[2].notice
    bce = train("deep", {"graphs": FakeGraphs()}, loss=nn.BCELoss())[2]
    assert bce.notice.startswith("training with eager GPU steps, not a CUDA graph: BCELoss checks its input")
    assert train("deep", {"cuda_graph": False})[2].notice is None  # turned off: nothing to explain


def test_a_model_that_samples_in_its_step_is_not_captured():
    from autoencoders import VariationalAutoencoder
    model = VariationalAutoencoder(input_dim=16, hidden=8, latent_dim=2, dtype="float64")
    steps = FastSteps(model, nn.MSELoss(), nn.Adam(model.parameters()), graphs=FakeGraphs())
    assert not steps.cuda_graph and "draws random numbers in its step" in steps.notice


def test_losses_left_by_an_interrupted_epoch_are_not_the_next_epochs():
    nn.manual_seed(4)
    model, loss = MODELS["deep"](), nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-2)
    steps = FastSteps(model, loss, optimizer, graphs=FakeGraphs())
    steps.step(images()[:5])  # a step whose epoch never ended
    history = fit(model, DataLoader(images(), batch_size=5, shuffle=False), loss, optimizer, 1, progress=False,
                  steps=steps)
    assert len(history.iteration_loss) == 5


def test_losses_are_read_once_an_epoch(monkeypatch):
    reads = []
    original = FastSteps.epoch_losses

    def counted(self):
        reads.append(len(self._values))
        return original(self)

    monkeypatch.setattr(FastSteps, "epoch_losses", counted)
    _, history, _ = train("deep", {"graphs": FakeGraphs()}, epochs=3)
    assert reads == [0, 5, 0, 5, 0, 5] and len(history.iteration_loss) == 15  # (0: nothing left over)


def test_a_nan_batch_is_reported_with_its_epoch_and_iteration():
    data = images()
    data[12, 3] = numpy.nan
    found = []
    for options in (None, {"graphs": FakeGraphs()}, {"cuda_graph": False}):
        with pytest.raises(TrainingDiverged) as caught:
            train("deep", options, data=data)
        assert math.isnan(caught.value.value)
        found.append((caught.value.epoch, caught.value.iteration))
    assert found[0][0] == 1 and found == [found[0]] * 3


class RefusingGraphs(FakeGraphs):
    """CUDA refusing the capture, as it does when the step holds an operation it cannot record."""

    def capture(self, stream, body):
        raise RuntimeError("operation not permitted when stream is capturing")


def test_a_capture_cuda_refuses_falls_back_to_eager_steps_with_nothing_lost(capsys):
    ours = train("deep", {"graphs": RefusingGraphs()})
    assert_same_training(ours, train("deep", foreach=True), rescaled=True)  # CapturedStep gave the optimizer its flat buffers
    assert "CUDA could not capture the step (RuntimeError: operation not permitted" in ours[2].notice
    assert capsys.readouterr().err.count("autoencoders: training with eager GPU steps, not a CUDA graph") == 1


# --- the command line: --plain, --cuda-graph / --no-cuda-graph ----------------------------------------------
def test_the_command_line_takes_fast_steps_on_the_cpu_unless_plain_and_on_the_gpu_only_with_cuda_graph(capsys):
    """On the CPU FastSteps (eager) unless --plain; on the GPU fit's plain CuPy steps unless --cuda-graph;
    a model with its own training step always plain. The choice is one line of the output; a notice
    (why no graph) one line on stderr."""
    from argparse import Namespace

    from autoencoders import AdversarialAutoencoder
    from autoencoders.cli import _fast_steps
    nn.manual_seed(0)
    model, loss = MODELS["deep"](), nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), foreach=True)
    fast = "steps: fast (nn.fast.compile and Adam foreach=True; --plain trains with the formulas as written)"

    def choose(model, device, optimizer=optimizer, plain=False, cuda_graph=None):
        steps = _fast_steps(model, loss, optimizer, {"device": device}, Namespace(plain=plain, cuda_graph=cuda_graph))
        out, err = capsys.readouterr()
        return steps, out.splitlines(), err.splitlines()

    steps, out, err = choose(model, "cpu")
    assert isinstance(steps, FastSteps) and not steps.cuda_graph and steps.notice is None
    assert (out, err) == ([fast], [])
    assert choose(model, "cpu", plain=True) == (None, ["steps: plain, every formula as written (--plain)"], [])
    for flag in (None, False):
        assert choose(model, "gpu", cuda_graph=flag) == (
            None, ["steps: plain, every formula as written (eager CuPy steps)"], [])
    steps, out, err = choose(model, "gpu", cuda_graph=True)
    assert isinstance(steps, FastSteps) and steps.cuda_graph and steps.notice is None
    assert (out, err) == ([fast], [])
    assert choose(model, "gpu", plain=True, cuda_graph=True)[0] is None  # --plain wins
    adversarial = AdversarialAutoencoder(input_dim=16, hidden=(8,), latent_dim=2)  # its own two-part step
    for device, flag in (("cpu", None), ("gpu", True)):
        assert choose(adversarial, device, cuda_graph=flag) == (
            None, ["steps: plain, every formula as written (the model takes its own steps)"], [])
    denoising = MODELS["denoising"]()
    steps, out, err = choose(denoising, "gpu", nn.Adam(denoising.parameters(), foreach=True), cuda_graph=True)
    assert not steps.cuda_graph and out == [fast]
    assert err == ["autoencoders: training with eager GPU steps, not a CUDA graph: the model draws random "
                   "numbers in its step (input noise, a sampled code), which a graph would replay unchanged"]


def test_cuda_graph_on_the_cpu_is_a_one_line_usage_error(tmp_path):
    from helpers_autoencoders import error_lines, run_cli
    code, out, err = run_cli(["train", "--cuda-graph", "--out", tmp_path / "run"])
    assert code == 2 and out == ""
    assert error_lines(err) == ["autoencoders: error: --cuda-graph needs --device gpu (this run is on cpu); add "
                                "--device gpu or leave --cuda-graph out"]
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not nn.gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("cuda_graph", [True, False])
def test_on_the_gpu_fit_with_fast_steps_follows_fit_on_the_cpu(cuda_graph):
    """float64 on the GPU, captured and replayed for real (or eager), against NumPy's fit from the same weights."""
    nn.manual_seed(4)
    model = MODELS["deep"]().to("gpu")
    optimizer, loss = nn.Adam(model.parameters(), lr=1e-2), nn.MSELoss()
    steps = FastSteps(model, loss, optimizer, cuda_graph=cuda_graph)
    data = images(count=43)  # 8 full batches of 5 and one of 3 an epoch: warm-up, capture, replays
    history = fit(model, DataLoader(nn.to_device(data, "gpu"), batch_size=5, shuffle=True, seed=2, device="gpu"),
                  loss, optimizer, 2, test_data=nn.to_device(images(seed=9, count=7), "gpu"), progress=False,
                  steps=steps)
    reference, reference_history, _ = train("deep", data=data)
    assert steps.notice is None and (steps._captured is not None) == cuda_graph
    if cuda_graph:
        assert steps._captured.captured
    # cuBLAS and NumPy's BLAS sum in other orders: agreement to rounding, far below what a wrong step changes
    numpy.testing.assert_allclose(history.iteration_loss, reference_history.iteration_loss, rtol=1e-9)
    numpy.testing.assert_allclose(history.test_loss, reference_history.test_loss, rtol=1e-9)
    for parameter, expected in zip(model.parameters(), reference.parameters()):
        difference = numpy.max(numpy.abs(nn.to_numpy(parameter.data) - expected.data))
        assert difference <= 1e-8 * max(numpy.max(numpy.abs(expected.data)), 1.0)


def test_with_foreach_adam_each_epoch_keeps_the_fast_units_inside_it_and_torchs_at_its_end():
    """Adam foreach=True as the command line trains: each epoch's steps in nn.fast.rescaled_state. The
    training follows fit's plain loop up to rounding, and what each epoch's end sees (a checkpoint) is
    the state in torch's units."""
    runs = []
    for fast in (False, True):
        nn.manual_seed(4)
        model = MODELS["deep"]()
        optimizer = nn.Adam(model.parameters(), lr=1e-2, foreach=fast)
        loss = nn.MSELoss()
        steps = FastSteps(model, loss, optimizer, cuda_graph=False) if fast else None
        seen = []
        history = fit(model, DataLoader(images(), batch_size=5, shuffle=True, seed=2), loss, optimizer, 3,
                      progress=False, steps=steps, on_epoch_end=lambda *_: seen.append(
                          [optimizer.state[p]["exp_avg_sq"].copy() for p in model.parameters()]))
        runs.append((model, history, seen))
    (plain, plain_history, plain_seen), (ours, history, seen) = runs
    numpy.testing.assert_allclose(history.iteration_loss, plain_history.iteration_loss, rtol=1e-12)
    for parameter, expected in zip(ours.parameters(), plain.parameters()):
        numpy.testing.assert_allclose(parameter.data, expected.data, rtol=1e-12, atol=1e-14)
    for epoch, expected in zip(seen, plain_seen):
        for ours_state, theirs in zip(epoch, expected):
            numpy.testing.assert_allclose(ours_state, theirs, rtol=1e-12, atol=1e-300)
