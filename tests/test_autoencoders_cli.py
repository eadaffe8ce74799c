"""The command line end to end, on small IDX files written here (never the network): training each
model, evaluate and plot, presets, resuming bit for bit, bad input (one line on stderr, exit code 2,
nothing overwritten), the NaN guard, and the real ``python -m autoencoders`` entry point.

The IDX files hold real MNIST test digits when /work/shared/data/mnist has them (256 as "train", the
next 128 as "test"), else generated digit-like images.
"""
import json
import os
import re
import subprocess
import sys

import matplotlib.image
import numpy
import pytest

import autoencoders.cli
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (REPO, cli_sandbox, error_lines, load_npz, run_cli, snapshot, subprocess_env,
                                  write_data_dir)

LIMIT = 96          # images of each split a run uses: 3 batches of 32
EPOCHS = 2
FIGURES = {"loss.png", "reconstructions.png", "latent.png", "gradients.png"}
RUN_FILES = FIGURES | {"metrics.json", "checkpoint.npz"}
DRAW_FIGURES = autoencoders.cli.draw_figures
MODELS = {  # name: extra options
    "simple": ["--model", "simple"],
    "deep": ["--model", "deep"],
    "overcomplete": ["--model", "overcomplete"],
    "denoising-gaussian": ["--model", "denoising", "--noise", "gaussian"],
    "denoising-masking": ["--model", "denoising", "--noise", "masking"],
    "denoising-salt-pepper": ["--model", "denoising", "--noise", "salt-pepper"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    write_data_dir(directory, train_count=256, test_count=128)
    return directory


@pytest.fixture(scope="module")
def module_scratch(tmp_path_factory, data_dir):
    """A sandbox shared by the module-scoped runs below."""
    scratch = tmp_path_factory.mktemp("runs")
    with cli_sandbox(data_dir, scratch) as downloads:
        yield scratch
    assert downloads == []


@pytest.fixture
def sandbox(data_dir, tmp_path):
    """Each test's own working directory, cache and refused downloads (the list of attempts)."""
    with cli_sandbox(data_dir, tmp_path) as downloads:
        yield downloads
    assert downloads == [], f"the command line tried to download {downloads}"


@pytest.fixture
def no_figures(monkeypatch):
    """Skip drawing (about a second a run) in tests about something else; figures have their own tests."""
    monkeypatch.setattr(autoencoders.cli, "draw_figures", lambda *args, **kwargs: [])


def train(out, *options, epochs=EPOCHS, limit=LIMIT):
    return run_cli(["train", "--quiet", "--limit", limit, "--epochs", epochs, "--out", out, *options])


@pytest.fixture(scope="module")
def runs(module_scratch):
    """Each model trained once for the module: name -> (out directory, exit code, stdout, stderr)."""
    cache = {}

    def get(name):
        if name not in cache:
            out = module_scratch / name
            with pytest.MonkeyPatch.context() as patch:  # full runs, even when first asked for under no_figures
                patch.setattr(autoencoders.cli, "draw_figures", DRAW_FIGURES)
                cache[name] = (out, *train(out, *MODELS[name]))
        return cache[name]
    return get


def metrics_of(out):
    return json.loads((out / "metrics.json").read_text())


def checkpoint_of(out):
    return load_npz(out / "checkpoint.npz")


def history_of(out):
    return json.loads(str(checkpoint_of(out)["history"]))


# --- training each model ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_train_writes_every_output(runs, name):
    out, code, stdout, stderr = runs(name)
    assert code == 0, stderr
    expected = RUN_FILES | ({"denoising.png"} if name.startswith("denoising") else set())
    assert set(os.listdir(out)) == expected  # and no temporary file left behind
    assert "Traceback" not in stderr
    assert "wrote:" in stdout and all(str(out / file) in stdout for file in expected)
    for figure in expected & (FIGURES | {"denoising.png"}):
        pixels = matplotlib.image.imread(out / figure)
        height, width = pixels.shape[:2]
        assert width > 300 and height > 100, f"{figure} is {width}x{height}"
        assert pixels.std() > 0, f"{figure} is blank"


@pytest.mark.parametrize("name", list(MODELS))
def test_metrics_agree_with_the_checkpoint(runs, name):
    out, code, _, _ = runs(name)
    assert code == 0
    metrics, checkpoint, history = metrics_of(out), checkpoint_of(out), history_of(out)
    config = json.loads(str(checkpoint["config"]))
    assert metrics["config"] == config
    assert int(checkpoint["epoch"]) == EPOCHS
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == list(range(1, EPOCHS + 1))
    assert [epoch["train_loss"] for epoch in metrics["epochs"]] == history["train_loss"]
    assert [epoch["test_loss"] for epoch in metrics["epochs"]] == history["test_loss"]
    assert [epoch["seconds"] for epoch in metrics["epochs"]] == history["epoch_seconds"]
    assert len(history["iteration_loss"]) == EPOCHS * 3
    assert metrics["data"]["train"]["images"] == LIMIT and metrics["data"]["test"]["images"] == LIMIT
    assert 0 < metrics["final_test_mse"] < 0.5
    assert metrics["final_test_mse"] == pytest.approx(history["test_loss"][-1], rel=1e-4)  # float32 sums
    assert metrics["test_psnr_db"] > 0
    # The BLAS threads it trained with (runfolder.threads), chosen once and printed in one line.
    threads = metrics["blas_threads"]
    assert threads["source"] in ("rule", "environment") and threads["largest_product"] == 32 * 784 * (
        {"overcomplete": 1024}.get(name, 128))
    lines = [line for line in runs(name)[2].splitlines() if "BLAS thread" in line]
    assert len(lines) == 1 and lines[0].startswith(f"threads: {threads['threads']} BLAS thread"), lines
    assert set(metrics["per_digit_test_mse"]) <= {str(digit) for digit in range(10)}
    assert len(metrics["per_digit_test_mse"]) >= 5
    expected_model = "deep" if name.startswith("denoising") else name
    model_keys = {key for key in checkpoint if key.startswith("model/")}
    if expected_model in ("deep",):
        assert "model/encoder.8.bias" in model_keys and len(model_keys) == 20
    else:
        assert len(model_keys) == 4
    assert config["model"] == name.split("-")[0]
    if name.startswith("denoising"):
        noise = name.split("-", 1)[1]
        assert config["noise"] == noise
        assert config["noise_level"] == {"gaussian": 0.3, "masking": 0.3, "salt-pepper": 0.2}[noise]
        assert "state/noise" in checkpoint
    else:
        assert config["noise"] is None and "state/noise" not in checkpoint
    assert config["latent_dim"] == {"simple": 128, "deep": 9, "overcomplete": 1024, "denoising": 9}[config["model"]]


@pytest.mark.parametrize("name", ["deep", "denoising-gaussian"])
def test_evaluate_prints_the_runs_test_mse_psnr_and_a_per_digit_table(runs, name, sandbox):
    out, code, _, _ = runs(name)
    assert code == 0
    metrics = metrics_of(out)
    code, stdout, stderr = run_cli(["evaluate", out / "checkpoint.npz", "--limit", LIMIT])
    assert code == 0, stderr
    assert f"test MSE:  {metrics['final_test_mse']:.6f}" in stdout
    assert f"test PSNR: {metrics['test_psnr_db']:.2f} dB" in stdout
    assert f"{EPOCHS} epochs" in stdout
    rows = re.findall(r"^\s*(\d)\s+(\d+)\s+([0-9.]+)$", stdout, flags=re.MULTILINE)
    assert {digit for digit, _, _ in rows} == set(metrics["per_digit_test_mse"])
    assert sum(int(count) for _, count, _ in rows) == LIMIT
    for digit, _, value in rows:
        assert value == f"{metrics['per_digit_test_mse'][digit]:.6f}"


@pytest.mark.parametrize("name", ["deep", "denoising-gaussian"])
def test_plot_draws_the_figures_again(runs, name, sandbox, tmp_path):
    out, code, _, _ = runs(name)
    assert code == 0
    plots = tmp_path / "plots"
    code, stdout, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", plots, "--limit", LIMIT])
    assert code == 0, stderr
    expected = FIGURES | ({"denoising.png"} if name.startswith("denoising") else set())
    assert set(os.listdir(plots)) == expected
    for figure in expected:
        assert matplotlib.image.imread(plots / figure).shape[1] > 300
        assert str(plots / figure) in stdout


def test_evaluate_and_plot_need_only_the_test_split(runs, data_dir, no_figures, tmp_path):
    """A folder with only the t10k files is enough: no train files are looked for, nothing downloaded."""
    out, code, _, _ = runs("deep")
    assert code == 0
    test_only = tmp_path / "test-only"
    test_only.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (test_only / name).write_bytes((data_dir / name).read_bytes())
    with cli_sandbox(test_only, tmp_path) as downloads:
        code, stdout, stderr = run_cli(["evaluate", out / "checkpoint.npz", "--limit", LIMIT])
        assert code == 0, stderr
        assert f"test MSE:  {metrics_of(out)['final_test_mse']:.6f}" in stdout
        code, _, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", tmp_path / "plots", "--limit", LIMIT])
        assert code == 0, stderr
        assert downloads == []
        assert "download" not in stderr and "offline sample" not in stderr


# --- presets -----------------------------------------------------------------------------------------
def test_seed_preset_is_recorded(sandbox, no_figures, tmp_path):
    code, _, stderr = train(tmp_path / "seed", "--preset", "seed", epochs=1, limit=64)
    assert code == 0, stderr
    config = metrics_of(tmp_path / "seed")["config"]
    assert (config["preset"], config["model"], config["lr"], config["weight_decay"], config["batch_size"]) == \
        ("seed", "deep", 0.1, 1e-8, 32)
    optimizer_lr = float(checkpoint_of(tmp_path / "seed")["optimizer/lr"])
    assert optimizer_lr == 0.1


def test_explicit_options_override_the_preset(sandbox, no_figures, tmp_path):
    code, _, stderr = train(tmp_path / "override", "--preset", "seed", "--lr", "0.002", "--batch-size", "16",
                            "--model", "simple", "--latent-dim", "20", "--seed", "3", epochs=1, limit=64)
    assert code == 0, stderr
    config = metrics_of(tmp_path / "override")["config"]
    assert (config["model"], config["lr"], config["batch_size"], config["latent_dim"], config["seed"]) == \
        ("simple", 0.002, 16, 20, 3)
    assert config["weight_decay"] == 1e-8 and config["preset"] == "seed"  # what was not given comes from it
    checkpoint = checkpoint_of(tmp_path / "override")
    assert checkpoint["model/encoder.weight"].shape == (20, 784)
    assert len(history_of(tmp_path / "override")["iteration_loss"]) == 4  # 64 images in batches of 16


def test_default_preset(runs):
    out, code, _, _ = runs("deep")
    assert code == 0
    config = metrics_of(out)["config"]
    assert (config["preset"], config["lr"], config["weight_decay"], config["batch_size"], config["dtype"]) == \
        ("default", 1e-3, 0.0, 32, "float32")


# --- resuming ----------------------------------------------------------------------------------------
def assert_same_run(straight, resumed):
    a, b = checkpoint_of(straight), checkpoint_of(resumed)
    assert set(a) == set(b)
    assert int(a["epoch"]) == int(b["epoch"]) == 4
    for key in a:
        if key.startswith(("model/", "optimizer/")):
            assert a[key].dtype == b[key].dtype and numpy.array_equal(a[key], b[key]), key
    history_a, history_b = history_of(straight), history_of(resumed)
    for name in ("iteration_loss", "train_loss", "test_loss"):
        assert history_a[name] == history_b[name], name
    assert len(history_b["iteration_loss"]) == 4 * 3 and len(history_b["epoch_seconds"]) == 4
    assert json.loads(str(a["state/loader"])) == json.loads(str(b["state/loader"]))
    assert [epoch["epoch"] for epoch in metrics_of(resumed)["epochs"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", ["deep", "denoising-gaussian"])
def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(runs, sandbox, no_figures, tmp_path, name):
    """4 epochs straight == the module's 2-epoch run of the same options, resumed for 2 more."""
    first_half, code, _, _ = runs(name)
    assert code == 0 and int(checkpoint_of(first_half)["epoch"]) == 2
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "checkpoint.npz").write_bytes((first_half / "checkpoint.npz").read_bytes())
    assert train(straight, *MODELS[name], epochs=4)[0] == 0
    code, stdout, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", resumed / "checkpoint.npz",
                                    "--epochs", 2, "--out", resumed])
    assert code == 0, stderr
    assert "resuming" in stdout and "after epoch 2" in stdout
    assert_same_run(straight, resumed)
    if name.startswith("denoising"):
        # Without the saved noise state the noise restarts from its seed and the run differs: the
        # equality above really depends on the noise generator resuming.
        arrays = checkpoint_of(first_half)
        arrays["state/noise"] = numpy.array("null")
        (tmp_path / "no-noise-state").mkdir()
        numpy.savez(tmp_path / "no-noise-state" / "edited.npz", **arrays)
        code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume",
                                   tmp_path / "no-noise-state" / "edited.npz", "--epochs", 2,
                                   "--out", tmp_path / "no-noise-state"])
        assert code == 0, stderr
        differs = checkpoint_of(tmp_path / "no-noise-state")
        assert not numpy.array_equal(differs["model/encoder.0.weight"],
                                     checkpoint_of(straight)["model/encoder.0.weight"])


def test_resume_into_another_directory_keeps_the_original(runs, sandbox, no_figures, tmp_path):
    out, code, _, _ = runs("simple")
    assert code == 0
    before = snapshot(out)
    code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", out / "checkpoint.npz", "--epochs", 1,
                               "--out", tmp_path / "more"])
    assert code == 0, stderr
    assert snapshot(out) == before
    assert int(checkpoint_of(tmp_path / "more")["epoch"]) == EPOCHS + 1
    assert metrics_of(tmp_path / "more")["config"]["model"] == "simple"


# --- bad input -----------------------------------------------------------------------------------------
@pytest.fixture
def occupied(tmp_path):
    """An output directory holding an earlier run's files, dated in the past."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"earlier": "run"}')
    (out / "checkpoint.npz").write_bytes(b"an earlier checkpoint")
    (out / "loss.png").write_bytes(b"an earlier figure")
    for path in out.iterdir():
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return out


def assert_one_line_error(code, stderr, *fragments):
    assert code == 2, f"exit code {code}, stderr {stderr!r}"
    lines = error_lines(stderr)
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert "Traceback" not in stderr
    assert "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


BAD_OPTIONS = [
    (["--model", "bogus"], ["--model", "bogus"]),
    (["--dataset", "cifar10"], ["--dataset", "cifar10"]),
    (["--epochs", "0"], ["--epochs", "positive"]),
    (["--epochs", "-3"], ["--epochs"]),
    (["--epochs", "1.5"], ["--epochs"]),
    (["--batch-size", "0"], ["--batch-size", "positive"]),
    (["--lr", "0"], ["--lr", "positive"]),
    (["--lr", "-0.001"], ["--lr"]),
    (["--lr", "nan"], ["--lr"]),
    (["--weight-decay", "-1"], ["--weight-decay"]),
    (["--noise", "masking", "--noise-level", "1.5"], ["--noise-level", "1.5"]),
    (["--noise", "speckle"], ["--noise", "speckle"]),
    (["--latent-dim", "0"], ["--latent-dim"]),
    (["--seed", "-1"], ["--seed", "-1"]),
]


@pytest.mark.parametrize("options,fragments", BAD_OPTIONS, ids=[" ".join(options) for options, _ in BAD_OPTIONS])
def test_bad_options(sandbox, occupied, options, fragments):
    before = snapshot(occupied)
    code, stdout, stderr = run_cli(["train", "--quiet", "--out", occupied, *options])
    assert_one_line_error(code, stderr, *fragments)
    assert snapshot(occupied) == before


def test_no_command_and_unknown_command(sandbox):
    for argv in ([], ["fly"]):
        code, _, stderr = run_cli(argv)
        assert_one_line_error(code, stderr)


def test_output_directory_that_cannot_be_written(runs, sandbox, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, stderr = train(blocker / "out")
    assert_one_line_error(code, stderr, "cannot be written", str(blocker / "out"), "--out")
    code, _, stderr = train(blocker)
    assert_one_line_error(code, stderr, f"--out {blocker} exists and is a file, not a folder", "choose another --out")
    out, code, _, _ = runs("deep")
    assert code == 0
    code, _, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", blocker / "plots", "--limit", LIMIT])
    assert_one_line_error(code, stderr, "cannot be written", str(blocker / "plots"))
    assert blocker.read_text() == "not a directory"


def test_gpu_without_a_usable_gpu_is_one_line(sandbox, occupied):
    import nn
    if nn.gpu_available():
        pytest.skip("a GPU is usable here: --device gpu is not an error")
    before = snapshot(occupied)
    code, _, stderr = train(occupied, "--device", "gpu")
    assert_one_line_error(code, stderr, "--device gpu")
    assert "device=" not in stderr  # the command line's words, not the Python API's
    assert snapshot(occupied) == before


@pytest.mark.parametrize("command", ["evaluate", "plot", "resume"])
def test_missing_checkpoint(sandbox, occupied, command, tmp_path):
    missing = tmp_path / "nowhere" / "checkpoint.npz"
    before = snapshot(occupied)
    code, _, stderr = run_checkpoint_command(command, missing, occupied)
    assert_one_line_error(code, stderr, "does not exist", str(missing))
    assert snapshot(occupied) == before


def run_checkpoint_command(command, path, out):
    if command == "resume":
        return run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", path, "--out", out])
    if command == "plot":
        return run_cli(["plot", path, "--out", out, "--limit", LIMIT])
    return run_cli(["evaluate", path, "--limit", LIMIT])


def bad_checkpoints(directory, good):
    """name -> path of each kind of bad checkpoint, built from a good one where it helps."""
    import pickle
    paths = {}
    paths["random-bytes"] = directory / "random.npz"
    paths["random-bytes"].write_bytes(numpy.random.default_rng(0).bytes(5000))
    paths["truncated"] = directory / "truncated.npz"
    paths["truncated"].write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    paths["npy"] = directory / "array.npz"
    with open(paths["npy"], "wb") as handle:
        numpy.save(handle, numpy.zeros(3))
    paths["whole-pickle"] = directory / "pickle.npz"
    paths["whole-pickle"].write_bytes(pickle.dumps({"model": [1, 2, 3]}))
    paths["foreign"] = directory / "foreign.npz"
    numpy.savez(paths["foreign"], weights=numpy.ones((3, 3)), labels=numpy.arange(3))
    return paths


@pytest.mark.parametrize("kind,fragment", [("random-bytes", "not a readable .npz"),
                                           ("truncated", "not a readable .npz"),
                                           ("npy", "not a readable .npz"),
                                           ("whole-pickle", "not a readable .npz"),
                                           ("foreign", "not a checkpoint of this project")])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_unreadable_or_foreign_checkpoints(runs, sandbox, occupied, tmp_path, kind, fragment, command):
    out, code, _, _ = runs("deep")
    assert code == 0
    path = bad_checkpoints(tmp_path, out / "checkpoint.npz")[kind]
    before = snapshot(occupied)
    code, _, stderr = run_checkpoint_command(command, path, occupied)
    assert_one_line_error(code, stderr, fragment, str(path))
    assert snapshot(occupied) == before


@pytest.mark.parametrize("command", ["evaluate", "plot", "resume"])
def test_mis_shaped_checkpoint_names_the_key_and_both_shapes(runs, sandbox, occupied, tmp_path, command):
    out, code, _, _ = runs("deep")
    assert code == 0
    arrays = checkpoint_of(out)
    arrays["model/decoder.2.weight"] = numpy.zeros((36, 17), numpy.float32)  # the model's is (36, 18)
    path = tmp_path / "misshaped.npz"
    numpy.savez(path, **arrays)
    before = snapshot(occupied)
    code, _, stderr = run_checkpoint_command(command, path, occupied)
    assert_one_line_error(code, stderr, "decoder.2.weight", "(36, 17)", "(36, 18)", str(path))
    assert snapshot(occupied) == before


class WritesMarker:
    """Unpickling this creates the marker file: the side effect that loading must never cause."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_malicious_checkpoint_is_refused_without_unpickling(runs, sandbox, occupied, tmp_path, command):
    out, code, _, _ = runs("deep")
    assert code == 0
    marker = tmp_path / "pwned"
    arrays = checkpoint_of(out)
    arrays["model/encoder.0.weight"] = numpy.array([WritesMarker(marker)], dtype=object)
    path = tmp_path / "malicious.npz"
    numpy.savez(path, **arrays)  # pickles the object array into the zip
    before = snapshot(occupied)
    code, _, stderr = run_checkpoint_command(command, path, occupied)
    assert_one_line_error(code, stderr, "pickled", str(path))
    assert not marker.exists()
    assert snapshot(occupied) == before
    with numpy.load(path, allow_pickle=True) as archive:  # the payload works when unpickled
        archive["model/encoder.0.weight"]
    assert marker.exists()


def test_missing_data_is_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with cli_sandbox(empty, tmp_path):
        code, _, stderr = run_cli(["train", "--quiet", "--dataset", "fashion-mnist", "--out", tmp_path / "out"])
    assert_one_line_error(code, stderr, "fashion-mnist", "NN_DATA_DIR")
    assert "root=" not in stderr and "download=True" not in stderr
    assert not (tmp_path / "out").exists()  # a folder the failed run made is removed again


# --- the NaN guard --------------------------------------------------------------------------------------
def diverged(stderr):
    lines = [line for line in error_lines(stderr) if line.startswith("autoencoders: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    match = re.search(r"epoch (\d+), iteration (\d+)", lines[0])
    assert match, lines[0]
    assert "lower the learning rate (--lr)" in lines[0]
    return int(match.group(1)), int(match.group(2)), lines[0]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_after_an_epoch_keeps_the_last_good_checkpoint(sandbox, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = train(out, "--lr", "1e3", epochs=3, limit=64)
    assert code == 1
    epoch, iteration, line = diverged(stderr)
    assert epoch >= 2, "lr 1e3 used to diverge in epoch 2: pick another learning rate for this test"
    assert iteration >= 1
    assert f"last good checkpoint (epoch {epoch - 1}) is {out / 'last-good.npz'}" in line
    assert set(os.listdir(out)) == {"last-good.npz"}  # no metrics, figures or checkpoint.npz of a failed run
    checkpoint = load_npz(out / "last-good.npz")
    assert int(checkpoint["epoch"]) == epoch - 1
    assert all(numpy.isfinite(checkpoint[key]).all() for key in checkpoint if key.startswith("model/"))
    assert len(json.loads(str(checkpoint["history"]))["train_loss"]) == epoch - 1


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_in_the_first_epoch_writes_nothing_and_keeps_an_earlier_runs_files(sandbox, occupied):
    before = snapshot(occupied)
    code, _, stderr = train(occupied, "--lr", "1e4", epochs=3, limit=64)
    assert code == 1
    epoch, _, line = diverged(stderr)
    assert epoch == 1
    # The checkpoint.npz already there is an earlier run's, not a good state of this one.
    assert "no epoch finished" in line and "last good checkpoint" not in line
    assert snapshot(occupied) == before


def test_interrupt_saves_the_state_to_resume_from(sandbox, tmp_path, monkeypatch):
    import autoencoders.cli as cli
    real_fit = cli.fit

    def fit_interrupted_after_one_epoch(*args, on_epoch_end, **kwargs):
        def then_interrupt(epoch, history):
            on_epoch_end(epoch, history)
            raise KeyboardInterrupt
        return real_fit(*args, on_epoch_end=then_interrupt, **kwargs)

    monkeypatch.setattr(cli, "fit", fit_interrupted_after_one_epoch)
    out = tmp_path / "out"
    code, _, stderr = train(out, epochs=3, limit=64)
    assert code == 130
    assert "interrupted.npz" in stderr and "--resume" in stderr
    assert os.listdir(out) == ["interrupted.npz"]  # an unfinished run commits nothing else
    assert int(load_npz(out / "interrupted.npz")["epoch"]) == 1


# --- the real entry point --------------------------------------------------------------------------------
def run_module(args, data_dir, scratch):
    env = subprocess_env(data_dir, scratch)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "autoencoders", *map(str, args)], cwd=scratch, env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_dash_m_autoencoders(runs, data_dir, tmp_path):
    out, code, _, _ = runs("deep")
    assert code == 0
    assert (REPO / "autoencoders" / "__main__.py").is_file()
    result = run_module(["evaluate", out / "checkpoint.npz", "--limit", LIMIT], data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"test MSE:  {metrics_of(out)['final_test_mse']:.6f}" in result.stdout

    missing = tmp_path / "missing.npz"
    result = run_module(["evaluate", missing], data_dir, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert result.stderr.startswith("autoencoders: error: ") and str(missing) in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""

    result = run_module(["train", "--epochs", "0", "--out", tmp_path / "never"], data_dir, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--epochs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "never").exists()


# --- mistakes found in review: each once a traceback or a silent wrong run -------------------------------
@pytest.mark.parametrize("option,value", [("--lr", 5), ("--batch-size", 7), ("--model", "simple"), ("--limit", 64),
                                          ("--seed", 3)])
def test_resume_refuses_options_that_contradict_the_run(runs, sandbox, occupied, option, value):
    """A resumed run keeps its configuration; an option that says otherwise is refused, not ignored."""
    out, code, _, _ = runs("deep")
    assert code == 0
    before = snapshot(occupied)
    code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", out / "checkpoint.npz",
                               "--out", occupied, option, value] if option != "--limit" else
                              ["train", "--quiet", "--resume", out / "checkpoint.npz", "--out", occupied, option, value])
    assert_one_line_error(code, stderr, option, "resumed run")
    assert snapshot(occupied) == before


def test_resume_without_limit_reuses_the_runs_limit(runs, sandbox, no_figures, tmp_path):
    out, code, _, _ = runs("deep")
    assert code == 0
    code, stdout, stderr = run_cli(["train", "--quiet", "--resume", out / "checkpoint.npz", "--epochs", 1,
                                    "--out", tmp_path / "more"])
    assert code == 0, stderr
    assert f"{LIMIT:,} images" in stdout


def test_corrupt_data_file_is_a_one_line_error(sandbox, occupied, tmp_path):
    broken = tmp_path / "broken-data"
    write_data_dir(broken, train_count=64, test_count=32)
    (broken / "train-images-idx3-ubyte").write_bytes(b"not an IDX file at all")
    before = snapshot(occupied)
    code, _, stderr = run_cli(["train", "--quiet", "--data-root", broken, "--out", occupied])
    assert_one_line_error(code, stderr, "could not be read", "train-images-idx3-ubyte")
    assert snapshot(occupied) == before


@pytest.mark.parametrize("edit,fragment", [
    (lambda arrays: arrays.__setitem__("config", _edited_config(arrays, noise="speckle")), "unknown noise"),
    (lambda arrays: arrays.__setitem__("config", _edited_config(arrays, lr=-1)), "--lr"),
    (lambda arrays: arrays.__setitem__("format_version", numpy.array("one")), "format_version"),
    (lambda arrays: arrays.__setitem__("optimizer/betas", numpy.array([0.9, 0.99, 0.5])), "betas"),
], ids=["unknown-noise", "negative-lr", "text-version", "three-betas"])
def test_tampered_checkpoints_are_one_line_errors(runs, sandbox, occupied, tmp_path, edit, fragment):
    out, code, _, _ = runs("deep")
    assert code == 0
    arrays = checkpoint_of(out)
    edit(arrays)
    path = tmp_path / "tampered.npz"
    numpy.savez(path, **arrays)
    before = snapshot(occupied)
    code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", path, "--out", occupied])
    assert_one_line_error(code, stderr, fragment)
    assert snapshot(occupied) == before


def _edited_config(arrays, **changes):
    return numpy.array(json.dumps(dict(json.loads(str(arrays["config"])), **changes)))


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_train_flushes_subnormals_for_its_run_and_leaves_the_thread_as_it_was(sandbox, tmp_path, no_figures, program):
    """Training flushes subnormal floats to zero (they would slow every pass), and a main() called from Python
    gives the thread back with its own mode: later arithmetic in the caller (a test's subnormal counts and
    finite differences) is not changed behind its back."""
    import nn
    from gans.cli import main as gans_main
    seen = []
    if not nn.fast.set_flush_denormal(False):
        pytest.skip("flushing subnormals is not supported on this CPU or C library")
    spy = pytest.MonkeyPatch()
    fit_name = "fit" if program == "autoencoders" else "fit_gan"
    module = autoencoders.cli if program == "autoencoders" else __import__("gans.cli", fromlist=["cli"])
    original = getattr(module, fit_name)

    def watched(*args, **kwargs):
        seen.append(nn.fast.flush_denormal())
        return original(*args, **kwargs)
    spy.setattr(module, fit_name, watched)
    try:
        argv = ["train", "--quiet", "--limit", "32", "--epochs", "1", "--out", tmp_path / "run"]
        code, _, stderr = run_cli(argv) if program == "autoencoders" else run_cli(argv + ["--batch-size", "16"], gans_main)
    finally:
        spy.undo()
    assert code == 0, stderr
    assert seen == [True] and nn.fast.flush_denormal() is False
