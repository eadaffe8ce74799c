"""python -m gans end to end on a small data folder (never the network): train, resume, sample,
evaluate; its mistakes are one line with exit code 2 and change nothing."""
import json
import os

import numpy
import pytest

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, error_lines, load_npz, run_cli, snapshot, write_data_dir


def gans_cli(argv):
    from gans.cli import main
    return run_cli(argv, main)


@pytest.fixture(scope="module")
def pinned_blas_threads():
    """The BLAS thread count left as the process has it for every run of this module (the rule's choice
    follows the machine's load, and float32 sums from one thread or two differ in their last bits), so
    that a resumed run can be compared with a straight one bit for bit (docs/cli.md, --resume)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pinned_blas_threads):
    """One run of each GAN, 1 epoch on 128 images, shared by the tests that only read them."""
    scratch = tmp_path_factory.mktemp("gans")
    data = scratch / "data"
    write_data_dir(data, train_count=128, test_count=128)
    runs, stdouts = {}, {}
    with cli_sandbox(data, scratch):
        for model in ("gan", "cgan", "dcgan"):
            out = scratch / model
            code, stdout, stderr = gans_cli(["train", "--model", model, "--epochs", "1", "--limit", "128",
                                              "--batch-size", "32", "--out", out, "--quiet"])
            assert code == 0, stderr
            runs[model], stdouts[model] = out, stdout  # the run's header lines (threads:, ...) are stdout's
    trained.stdouts = stdouts
    return scratch, data, runs


def trained_stdout(model):
    return trained.stdouts[model]


def test_train_writes_figures_metrics_and_checkpoint(trained):
    _, _, runs = trained
    for model, out in runs.items():
        names = {path.name for path in out.iterdir() if not path.name.startswith(".")}
        expected = {"checkpoint.npz", "metrics.json", "losses.png", "progress.png", "progress.gif",
                    "samples.png", "interpolation.png", "gradients.png"} | ({"digits.png"} if model == "cgan" else set())
        assert names == expected
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["model"] == model and len(metrics["epochs"]) == 1
        assert 0 < metrics["final"]["d_real"] < 1 and 0 < metrics["final"]["d_fake"] < 1
        # The BLAS thread count: chosen once (runfolder.threads), printed in one line, recorded.
        lines = [line for line in trained_stdout(model).splitlines() if "BLAS thread" in line]
        assert len(lines) == 1 and lines[0].startswith(f"threads: {metrics['blas_threads']['threads']} BLAS thread")
        assert metrics["blas_threads"]["source"] in ("rule", "environment")
        assert metrics["blas_threads"]["largest_product"] > 0
        arrays = load_npz(out / "checkpoint.npz")
        assert "model/generator.model.0.weight" in arrays and any(name.startswith("model/discriminator.") for name in arrays)
        assert any(name.startswith("optimizer/generator/") for name in arrays)


def test_resume_continues_the_run(trained, tmp_path):
    scratch, data, runs = trained
    with cli_sandbox(data, scratch):
        code, stdout, stderr = gans_cli(["train", "--resume", runs["gan"] / "checkpoint.npz", "--epochs", "1",
                                         "--out", tmp_path / "more", "--quiet"])
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "more" / "metrics.json").read_text())
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == [1, 2]
    assert "resuming" in stdout


def test_resume_refuses_a_changed_configuration(trained, tmp_path):
    scratch, data, runs = trained
    with cli_sandbox(data, scratch):
        code, _, stderr = gans_cli(["train", "--resume", runs["gan"] / "checkpoint.npz", "--lr", "0.1",
                                    "--out", tmp_path / "x"])
    assert code == 2 and len(error_lines(stderr)) == 1 and "leave out --lr" in stderr


def test_a_dcgan_checkpoint_with_batchnorm_buffers_samples(trained, tmp_path):
    _, _, runs = trained
    code, _, stderr = gans_cli(["sample", runs["dcgan"] / "checkpoint.npz", "--n", "4", "--out", tmp_path / "d.png"])
    assert code == 0, stderr


def test_sample_draws_the_asked_for_digit_rows(trained, tmp_path):
    _, _, runs = trained
    out = tmp_path / "sevens.png"
    code, stdout, stderr = gans_cli(["sample", runs["cgan"] / "checkpoint.npz", "--digit", "7", "--n", "9", "--out", out])
    assert code == 0, stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, stderr = gans_cli(["sample", runs["gan"] / "checkpoint.npz", "--digit", "7", "--out", tmp_path / "x.png"])
    assert code == 2 and "--digit needs a conditional GAN" in stderr and not (tmp_path / "x.png").exists()


def test_evaluate_prints_the_quality_numbers(trained):
    scratch, data, runs = trained
    with cli_sandbox(data, scratch):
        code, stdout, stderr = gans_cli(["evaluate", runs["cgan"] / "checkpoint.npz", "--n", "200"])
    assert code == 0, stderr
    assert "Frechet distance" in stdout and "class entropy" in stdout and "asked-for digit" in stdout


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "wgan"], "invalid choice"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--beta1", "1"], "--beta1"),
    (["sample", "missing.npz"], "does not exist"),
    (["sample", "CKPT", "--digit", "10"], "--digit"),
])
def test_mistakes_are_one_line(trained, tmp_path, argv, message):
    _, _, runs = trained
    argv = [str(runs["gan"] / "checkpoint.npz") if arg == "CKPT" else arg for arg in argv]
    before = snapshot(runs["gan"])
    code, _, stderr = gans_cli(argv + (["--out", str(tmp_path / "out")] if argv[0] == "train" else []))
    assert code == 2 and len(error_lines(stderr)) == 1 and message in stderr
    assert snapshot(runs["gan"]) == before


def test_an_autoencoder_checkpoint_is_refused(tmp_path):
    numpy.savez(tmp_path / "ae.npz", format_version=numpy.array(1), epoch=numpy.array(1),
                config=numpy.array(json.dumps({"model": "deep"})), history=numpy.array("{}"))
    code, _, stderr = gans_cli(["sample", tmp_path / "ae.npz", "--out", tmp_path / "s.png"])
    assert code == 2 and "not a GAN checkpoint" in stderr


def test_a_crafted_history_is_one_line(trained, tmp_path):
    _, _, runs = trained
    arrays = load_npz(runs["gan"] / "checkpoint.npz")
    history = json.loads(str(arrays["history"]))
    for name, bad in (("frames", ["AAAA"]), ("d_loss", "x"), ("epoch_seconds", [1.0, 2.0])):
        crafted = dict(arrays, history=numpy.array(json.dumps(dict(history, **{name: bad}))))
        numpy.savez(tmp_path / "bad.npz", **crafted)
        code, _, stderr = gans_cli(["sample", tmp_path / "bad.npz", "--out", tmp_path / "s.png"])
        assert code == 2 and len(error_lines(stderr)) == 1 and "history" in stderr, (name, stderr)


def test_resumed_run_equals_an_uninterrupted_one(trained, tmp_path):
    """1 epoch, then 1 more resumed, gives the weights and Adam state of 2 epochs straight: the batch
    order, the noise and D's dropout masks all continue where the checkpoint left them."""
    scratch, data, runs = trained
    with cli_sandbox(data, scratch):
        code, _, stderr = gans_cli(["train", "--epochs", "2", "--limit", "128", "--batch-size", "32",
                                    "--out", tmp_path / "two", "--quiet"])
        assert code == 0, stderr
        code, _, stderr = gans_cli(["train", "--resume", runs["gan"] / "checkpoint.npz", "--epochs", "1",
                                    "--out", tmp_path / "resumed", "--quiet"])
        assert code == 0, stderr
    straight, resumed = load_npz(tmp_path / "two" / "checkpoint.npz"), load_npz(tmp_path / "resumed" / "checkpoint.npz")
    weights = [name for name in straight if name.startswith(("model/", "optimizer/"))]
    assert weights and sorted(weights) == sorted(name for name in resumed if name.startswith(("model/", "optimizer/")))
    for name in weights:
        numpy.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


PCG64_TOO_BIG = {"bit_generator": "PCG64", "state": {"state": 2**200, "inc": 1}, "has_uint32": 0, "uinteger": 0}


@pytest.mark.parametrize("entry, value, message", [
    ("state/noise", json.dumps(PCG64_TOO_BIG), "noise generator state"),
    ("state/loader", json.dumps({"epoch": 1, "generator": PCG64_TOO_BIG}), "loader generator state"),
    ("state/evil", json.dumps(None), "unknown generator states"),
    ("optimizer/generator/step", -3, "optimizer generator step -3"),
    ("optimizer/discriminator/lr", 10.0, "optimizer discriminator lr 10.0 but the run's is 0.0002"),
    ("optimizer/evil", 1.0, "neither network"),
])
def test_a_crafted_stream_or_optimizer_is_one_line(trained, tmp_path, entry, value, message):
    """What a resumed run would use is checked before it is used: no traceback, no run at another lr."""
    scratch, data, runs = trained
    crafted = dict(load_npz(runs["gan"] / "checkpoint.npz"), **{entry: numpy.array(value)})
    numpy.savez(tmp_path / "bad.npz", **crafted)
    with cli_sandbox(data, scratch):
        code, _, stderr = gans_cli(["train", "--resume", tmp_path / "bad.npz", "--epochs", "1", "--out", tmp_path / "out",
                                    "--quiet"])
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], stderr
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_writing_the_report_keeps_the_trained_state(trained, tmp_path, monkeypatch):
    import gans.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(gans.cli, "_report", interrupted)
    scratch, data, _ = trained
    with cli_sandbox(data, scratch):
        code, _, stderr = gans_cli(["train", "--epochs", "1", "--limit", "64", "--batch-size", "32",
                                    "--out", tmp_path / "out", "--quiet"])
    assert code == 130 and "the trained state is saved to" in stderr, stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir() if not path.name.startswith(".")) == ["interrupted.npz"]
    assert int(load_npz(tmp_path / "out" / "interrupted.npz")["epoch"]) == 1


def test_ctrl_c_between_an_epochs_time_and_its_frame_saves_whole_epochs():
    from gans.cli import _whole_epochs
    from gans.training import GANHistory
    history = GANHistory(d_loss=[1.0] * 6, g_loss=[1.0] * 6, d_real=[0.5] * 6, d_fake=[0.5] * 6, epoch_seconds=[1.0, 1.0])
    _whole_epochs(history, per_epoch=3, epochs=1)  # epoch 2 finished its steps and its time, not its frame
    assert history.epochs == 1 and len(history.d_loss) == len(history.d_fake) == 3


def test_sample_into_a_folder_that_takes_no_files_is_refused_in_out_words(trained):
    _, _, runs = trained
    code, _, stderr = gans_cli(["sample", runs["gan"] / "checkpoint.npz", "--out", "/proc/s.png"])  # no files there
    lines = error_lines(stderr)
    assert code == 2 and len(lines) == 1 and "choose another with --out" in lines[0] and ".tmp-" not in lines[0], stderr


def test_a_resumed_run_that_diverges_is_not_told_to_pass_lr(trained, tmp_path, monkeypatch):
    import gans.cli
    from runfolder.record import TrainingDiverged

    def diverged(*args, **kwargs):
        raise TrainingDiverged(2, 1, float("nan"))
    monkeypatch.setattr(gans.cli, "fit_gan", diverged)
    scratch, data, runs = trained
    with cli_sandbox(data, scratch):
        code, _, stderr = gans_cli(["train", "--resume", runs["gan"] / "checkpoint.npz", "--out", tmp_path / "out", "--quiet"])
    assert code == 1 and "start a new run (without --resume) with a lower --lr" in stderr, stderr


def test_a_bar_counts_every_step_on_stderr_and_the_epoch_lines_stay_on_stdout(trained, tmp_path):
    """The first epoch on the full set takes a minute: a bar over the run's steps (not its epochs), on
    stderr as autoencoders train shows it, with the running losses; the line per epoch on stdout. --quiet: neither."""
    scratch, data, _ = trained
    with cli_sandbox(data, scratch):
        code, stdout, stderr = gans_cli(["train", "--epochs", "2", "--limit", "64", "--batch-size", "16",
                                         "--no-gradient-stats", "--out", tmp_path / "shown"])
        assert code == 0, stderr
        quiet = gans_cli(["train", "--epochs", "1", "--limit", "64", "--batch-size", "16", "--no-gradient-stats",
                          "--quiet", "--out", tmp_path / "quiet"])
    drawn = stderr.replace("\r", "\n").splitlines()  # tqdm redraws its line with \r
    assert any(line.startswith("  0%|") and " 0/8 [" in line for line in drawn), stderr  # 2 epochs of 4 steps
    last = [line for line in drawn if " 8/8 [" in line]
    assert last and "batch/s" in last[-1] and "epoch=2" in last[-1] and "L_D=" in last[-1] and "L_G=" in last[-1]
    assert [line.split(":")[0] for line in stdout.splitlines() if line.startswith("epoch ")] == ["epoch 1", "epoch 2"]
    assert "batch/s" not in stdout and "%|" not in stdout
    code, stdout, stderr = quiet
    assert code == 0 and "batch/s" not in stderr and "%|" not in stderr, stderr
    assert not any(line.startswith("epoch ") for line in stdout.splitlines())
