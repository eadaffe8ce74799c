"""runfolder/gradient_stats.py: the gradient norms, update ratios and dead ReLU units it collects equal
what a plain step computed by hand gives, on the plain step and on the compiled one; the optimizer's
step hooks; gradients.png and metrics.json from both command lines, and none with --no-gradient-stats."""
import json
import os

import matplotlib.image
import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder
from runfolder.gradient_stats import GradientStats, summary_line

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, run_cli, write_data_dir


def _model_and_batches(seed=3):
    nn.manual_seed(seed)
    model = DeepAutoencoder(input_dim=20, hidden=(12, 8), latent_dim=3, dtype="float64")
    batches = numpy.random.default_rng(seed).random((4, 6, 20))
    return model, batches


def _by_hand(model, batches, lr):
    """Per step: ||dL/dy|| entering each Linear, and ||p_after - p_before|| / ||p_before|| of each of their
    parameters, from a plain step taken module by module (no hooks anywhere)."""
    optimizer = nn.Adam(model.parameters(), lr=lr)
    loss = nn.MSELoss()
    layers = model.layer_sequence()
    norms, ratios = [], []
    for x in batches:
        y = x
        for layer in layers:
            y = layer(y)
        loss(y, x)
        optimizer.zero_grad()
        grad, step_norms = loss.backward(), []
        for layer in reversed(layers):
            if isinstance(layer, nn.Linear):
                step_norms.append(float(numpy.sqrt((grad ** 2).sum())))
            grad = layer.backward(grad)
        norms.append(step_norms[::-1])
        parameters = [p for layer in layers if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)]
        before = [p.data.copy() for p in parameters]
        optimizer.step()
        ratios.append([numpy.linalg.norm(p.data - b) / numpy.linalg.norm(b) for p, b in zip(parameters, before)])
    return numpy.array(norms), numpy.array(ratios)


@pytest.mark.parametrize("fast", [False, True], ids=["plain step", "compiled step, foreach"])
def test_norms_and_update_ratios_equal_a_plain_step_by_hand(fast):
    model, batches = _model_and_batches()
    expected_norms, expected_ratios = _by_hand(model, batches, lr=0.01)

    model, batches = _model_and_batches()
    optimizer = nn.Adam(model.parameters(), lr=0.01, foreach=fast)
    stats = GradientStats(model, optimizer, every=1, sample_every=1, update_every=1)  # a window per step, each measured
    loss = nn.MSELoss()
    step = nn.fast.compile(model, loss) if fast else None
    for x in batches:
        if fast:
            step.forward(x, x)
            optimizer.zero_grad()
            step.backward(need_input_grad=False)
        else:
            loss(model(x), x)
            optimizer.zero_grad()
            model.backward(loss.backward(), need_input_grad=False)
        optimizer.step()
    stats.end_epoch(1)
    record = stats.to_dict()
    assert [layer["name"] for layer in record["layers"]] == ["encoder.0", "encoder.2", "encoder.4", "decoder.0",
                                                              "decoder.2", "decoder.4"]
    assert record["windows"]["step"] == [1, 2, 3, 4]
    norms = numpy.array([record["windows"]["grad_norm"][layer["name"]] for layer in record["layers"]]).T
    numpy.testing.assert_allclose(norms, expected_norms, rtol=1e-12)
    ratios = numpy.array([record["windows"]["update_ratio"][name] for name in record["parameters"]]).T
    numpy.testing.assert_allclose(ratios, expected_ratios, rtol=1e-9)
    if fast:  # backward hooks only: every Linear is still paired with its ReLU
        assert sum("+ ReLU" in line for line in step.describe()) == 4


def test_a_window_is_the_mean_of_its_sampled_steps():
    model, batches = _model_and_batches()
    expected_norms, expected_ratios = _by_hand(model, batches, lr=0.01)
    model, batches = _model_and_batches()
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    stats = GradientStats(model, optimizer, every=4, sample_every=2, update_every=2)  # steps 1 and 3 measured
    loss = nn.MSELoss()
    for x in batches:
        loss(model(x), x)
        optimizer.zero_grad()
        model.backward(loss.backward())
        optimizer.step()
    record = stats.to_dict()
    assert record["windows"]["step"] == [4]
    norms = [record["windows"]["grad_norm"][layer["name"]][0] for layer in record["layers"]]
    numpy.testing.assert_allclose(norms, expected_norms[[0, 2]].mean(axis=0), rtol=1e-12)
    ratios = [record["windows"]["update_ratio"][name][0] for name in record["parameters"]]
    numpy.testing.assert_allclose(ratios, expected_ratios[[0, 2]].mean(axis=0), rtol=1e-9)


def _constructed(fast):
    """Linear(3, 4) -> ReLU -> Linear(4, 2) -> ReLU -> Linear(2, 3): unit 0 of the first ReLU is never
    positive (weights 0, bias -1), unit 1 only for inputs whose first entry is above 0.9, units 2 and 3
    for every input; the second ReLU's unit 0 never (bias -100), unit 1 always (bias 100)."""
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 2, dtype="float64"), nn.ReLU(),
                          nn.Linear(2, 3, dtype="float64"))
    first, second = model[0], model[2]
    first.weight.data[...] = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    first.bias.data[...] = [-1, -0.9, 0.5, 0.5]
    second.weight.data[...] = 0
    second.bias.data[...] = [-100, 100]
    optimizer = nn.SGD(model.parameters(), lr=0.0)  # the weights stay as built: the case stays what it is
    stats = GradientStats(model, optimizer, every=10, sample_every=10)
    loss = nn.MSELoss()
    step = nn.fast.compile(model, loss) if fast else None

    def train_on(x):
        model.train()
        target = numpy.zeros((x.shape[0], 3))
        if fast:
            step.forward(x, target)
            optimizer.zero_grad()
            step.backward()
        else:
            loss(model(x), target)
            optimizer.zero_grad()
            model.backward(loss.backward())
        optimizer.step()
    return model, stats, train_on


@pytest.mark.parametrize("rows", [1, 3, 32], ids=lambda count: f"added up every {count} steps")
@pytest.mark.parametrize("fast", [False, True], ids=["plain step", "compiled step"])
def test_dead_units_are_counted_on_a_constructed_case(fast, rows, monkeypatch):
    monkeypatch.setattr("runfolder.gradient_stats.ROWS", rows)
    model, stats, train_on = _constructed(fast)
    quiet = numpy.full((5, 3), 0.5)       # the first entry 0.5: unit 1 stays 0
    awake = quiet.copy()
    awake[2, 0] = 0.95                    # one image of one batch wakes unit 1
    train_on(quiet)
    train_on(quiet)
    stats.end_epoch(1)                    # epoch 1: units 0 and 1 of the first ReLU dead, unit 0 of the second
    train_on(quiet)
    train_on(awake)
    model.eval()
    model(numpy.full((2, 3), 0.99))       # an eval pass (a test loss) wakes unit 1 too: it must not count
    stats.end_epoch(2)                    # epoch 2: unit 1 woke on one training image
    train_on(quiet)
    model.eval()
    model(numpy.full((2, 3), 0.99))
    stats.end_epoch(3)                    # epoch 3: dead again (the epoch's sums start from 0)
    record = stats.to_dict()
    assert [relu["name"] for relu in record["relus"]] == ["1", "3"]
    assert [relu["units"] for relu in record["relus"]] == [4, 2]
    assert record["relus"][0]["seen_as"] == "input of 2"  # read from the next Linear, no hook on the ReLU
    assert record["relus"][1]["seen_as"] == "input of 4"
    assert record["epochs"]["dead_units"] == {"1": [2, 1, 2], "3": [1, 1, 1]}
    assert record["epochs"]["dead_fraction"] == {"1": [0.5, 0.25, 0.5], "3": [0.5, 0.5, 0.5]}
    assert record["epochs"]["step"] == [2, 4, 5]


def test_a_relu_not_followed_by_a_linear_is_watched_by_its_own_forward_hook():
    model = nn.Sequential(nn.Linear(2, 3, dtype="float64"), nn.ReLU())
    model[0].weight.data[...] = [[1, 0], [0, 1], [0, 0]]
    model[0].bias.data[...] = [0, 0, -1]
    optimizer = nn.Adam(model.parameters())
    stats = GradientStats(model, optimizer, every=5)
    loss = nn.MSELoss()
    x = numpy.array([[1.0, -1.0], [-1.0, -1.0]])  # unit 0 on the first image; units 1 and 2 never
    loss(model(x), numpy.zeros((2, 3)))
    optimizer.zero_grad()
    model.backward(loss.backward())
    optimizer.step()
    stats.end_epoch(1)
    record = stats.to_dict()
    assert record["relus"] == [{"name": "1", "seen_as": "output", "units": 3}]
    assert record["epochs"]["dead_units"]["1"] == [2]
    assert "2 of 3 ReLU units dead in the last epoch (67%)" in summary_line(record)


def test_a_frozen_network_is_not_counted_and_remove_takes_every_hook_off():
    model, batches = _model_and_batches()
    optimizer = nn.Adam(model.parameters())
    stats = GradientStats(model, optimizer, every=100, sample_every=1)
    loss = nn.MSELoss()
    model.requires_grad_(False)  # a GAN's discriminator in the generator's step: gradients pass, nothing trains
    loss(model(batches[0]), batches[0])
    model.backward(loss.backward())
    assert stats._norm_counts == [0] * 6 and all(sums is None for sums in stats._alive)
    stats.remove()
    for module in model.modules():
        assert not module._forward_hooks and not module._backward_hooks
    assert not optimizer._step_pre_hooks and not optimizer._step_post_hooks


def test_the_optimizer_step_hooks_run_around_the_step_in_order_and_come_off():
    parameter = nn.Parameter(numpy.ones(3))
    optimizer = nn.SGD([parameter], lr=0.5)
    seen = []
    pre = optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(("pre", float(parameter.data[0]), args, kwargs)))
    post = optimizer.register_step_post_hook(lambda opt, args, kwargs: seen.append(("post", float(parameter.data[0]), opt is optimizer)))
    parameter.grad = numpy.ones(3)
    optimizer.step()
    assert seen == [("pre", 1.0, (), {}), ("post", 0.5, True)]
    pre.remove()
    post.remove()
    optimizer.step()
    assert len(seen) == 2
    with pytest.raises(TypeError, match="hook must be callable"):
        optimizer.register_step_post_hook(3)


def test_a_compiled_step_pairs_a_linear_with_only_backward_hooks_and_hands_them_its_gradient():
    """nn.fast.compile pairs a Linear whose hooks are backward hooks with its ReLU; the hook sees the same
    dL/dy (the ReLU's backward taken) as in the plain step."""
    x = numpy.random.default_rng(5).random((6, 20))
    seen = []
    for fast in (False, True):
        model, _ = _model_and_batches(seed=7)
        record = {}
        for index, layer in enumerate(model.layer_sequence()):
            if isinstance(layer, nn.Linear):
                layer.register_full_backward_hook(
                    lambda m, gin, gout, index=index: record.__setitem__(index, gout[0].copy()))
        loss = nn.MSELoss()
        if fast:
            step = nn.fast.compile(model, loss)
            assert "Linear(20->12) + ReLU: FastLinear" in step.describe()
            step.forward(x, x)
            step.backward()
        else:
            loss(model(x), x)
            model.backward(loss.backward())
        seen.append(record)
    assert set(seen[0]) == set(seen[1]) and len(seen[0]) == 6
    for key in seen[0]:
        numpy.testing.assert_array_equal(seen[1][key], seen[0][key])


# --- the command lines ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_data_dir(folder, train_count=96, test_count=64)
    return folder


def test_a_train_run_writes_gradients_png_and_the_numbers_and_plot_draws_it_again(data, tmp_path):
    out = tmp_path / "run"
    with cli_sandbox(data, tmp_path):
        code, stdout, stderr = run_cli(["train", "--quiet", "--limit", 96, "--epochs", 2, "--out", out])
        assert code == 0, stderr
        assert matplotlib.image.imread(out / "gradients.png").std() > 0
        stats = json.loads((out / "metrics.json").read_text())["gradient_stats"]
        assert stats["steps_per_epoch"] == 3 and stats["epochs"]["epoch"] == [1, 2]
        assert len(stats["layers"]) == 10 and len(stats["relus"]) == 8
        assert all(len(values) == len(stats["windows"]["step"]) and all(v is not None and v > 0 for v in values)
                   for values in stats["windows"]["grad_norm"].values())
        assert "gradients: " in stdout and "(gradients.png)" in stdout
        plots = tmp_path / "plots"
        code, stdout, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", plots, "--limit", 64])
        assert code == 0, stderr
        assert str(plots / "gradients.png") in stdout and matplotlib.image.imread(plots / "gradients.png").std() > 0


def test_no_gradient_stats_writes_none_and_a_new_run_removes_the_old_figure(data, tmp_path):
    out = tmp_path / "run"
    with cli_sandbox(data, tmp_path):
        code, _, stderr = run_cli(["train", "--quiet", "--limit", 64, "--epochs", 1, "--out", out])
        assert code == 0, stderr
        assert (out / "gradients.png").exists()
        code, stdout, stderr = run_cli(["train", "--quiet", "--limit", 64, "--epochs", 1, "--out", out,
                                        "--no-gradient-stats"])
        assert code == 0, stderr
        assert not (out / "gradients.png").exists()
        assert "gradient_stats" not in json.loads((out / "metrics.json").read_text())
        assert "gradients:" not in stdout
        plots = tmp_path / "plots"
        code, _, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", plots, "--limit", 64])
        assert code == 0, stderr
        assert "gradients.png" not in os.listdir(plots)


def test_a_gan_run_watches_both_networks_and_no_gradient_stats_writes_none(data, tmp_path):
    from gans.cli import main
    with cli_sandbox(data, tmp_path):
        code, stdout, stderr = run_cli(["train", "--model", "dcgan", "--epochs", 1, "--limit", 64, "--batch-size", 32,
                                        "--out", tmp_path / "gan", "--quiet"], main)
        assert code == 0, stderr
        stats = json.loads((tmp_path / "gan" / "metrics.json").read_text())["gradient_stats"]
        assert set(stats) == {"generator", "discriminator"}
        assert [relu["units"] for relu in stats["generator"]["relus"]] == [2 * 64 * 7 * 7, 64]  # features, channels
        assert stats["discriminator"]["relus"] == []  # LeakyReLU: never dead
        # the discriminator takes one step per batch, with two backward passes (real, fake) in it
        assert stats["discriminator"]["steps_per_epoch"] == stats["generator"]["steps_per_epoch"] == 2
        assert matplotlib.image.imread(tmp_path / "gan" / "gradients.png").std() > 0
        assert "generator gradients: " in stdout and "discriminator gradients: " in stdout
        code, _, stderr = run_cli(["train", "--epochs", 1, "--limit", 64, "--batch-size", 32, "--out",
                                   tmp_path / "plain", "--quiet", "--no-gradient-stats"], main)
        assert code == 0, stderr
        assert not (tmp_path / "plain" / "gradients.png").exists()
        assert "gradient_stats" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())


def test_norms_and_update_ratios_are_measured_on_their_own_steps():
    """sample_every=2, update_every=3, windows of 6 steps: norms from steps 1, 3, 5; update ratios from 1 and 4."""
    model, batches = _model_and_batches()
    batches = numpy.concatenate([batches, batches[::-1]])  # 8 steps
    expected_norms, expected_ratios = _by_hand(model, batches, lr=0.01)
    model, _ = _model_and_batches()
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    stats = GradientStats(model, optimizer, every=6, sample_every=2, update_every=3)
    loss = nn.MSELoss()
    for x in batches:
        loss(model(x), x)
        optimizer.zero_grad()
        model.backward(loss.backward())
        optimizer.step()
    stats.end_epoch(1)  # closes the second window: steps 7 and 8, each kind measured on step 7
    record = stats.to_dict()
    assert record["windows"]["step"] == [6, 8]
    norms = numpy.array([record["windows"]["grad_norm"][layer["name"]] for layer in record["layers"]]).T
    numpy.testing.assert_allclose(norms, [expected_norms[[0, 2, 4]].mean(axis=0), expected_norms[6]], rtol=1e-12)
    ratios = numpy.array([record["windows"]["update_ratio"][name] for name in record["parameters"]]).T
    numpy.testing.assert_allclose(ratios, [expected_ratios[[0, 3]].mean(axis=0), expected_ratios[6]], rtol=1e-9)
