"""Output folders and files under misuse: one run at a time (a lock, refused in one line; a dead run's
lock, staging folder and temporary files recovered), a run's files replaced only when it finishes (a
failed, diverged or interrupted run leaves the finished one as it was; old figures never linger),
permissions kept, nothing that is not a regular file ever replaced, ``sample`` never writing into the
current folder unasked, and what the end of a run says (summary, collapse, labels, strict JSON).
"""
import json
import os
import stat

import numpy
import pytest

import autoencoders.cli as cli
from autoencoders.diagnosis import collapse_note, spread_ratio
from autoencoders.figures import codes_collapsed, project_2d
from runfolder.cli import in_cli_words
from runfolder.folder import OutputError, RunFolder, atomic_write, check_output_file, remove_stale
from helpers_autoencoders import single_threaded_blas, small_data, small_sandbox  # noqa: F401  (fixtures)
from helpers_autoencoders import SMALL, cli_sandbox, error_lines, run_cli, snapshot

LIMIT = SMALL


@pytest.fixture
def no_figures(monkeypatch):
    monkeypatch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])


def train(out, *options, epochs=1, limit=LIMIT):
    return run_cli(["train", "--quiet", "--limit", limit, "--epochs", epochs, "--out", out, *options])


def one_line(code, stderr, *fragments, exit_code=2):
    """One line on stderr besides the data's notes (the data loader's, not this file's subject)."""
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == exit_code and len(lines) == 1 and "Traceback" not in stderr, (code, stderr)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_data):
    """A finished deep run with its figures, and a finished VAE run (for sample)."""
    scratch = tmp_path_factory.mktemp("finished")
    with cli_sandbox(small_data, scratch):
        code, stdout, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--epochs", 1, "--out", scratch / "deep"])
        assert code == 0, stderr
        code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--epochs", 1, "--model", "vae",
                                   "--latent-dim", 2, "--out", scratch / "vae"])
        assert code == 0, stderr
    return {"deep": scratch / "deep", "vae": scratch / "vae", "stdout": stdout}


def copy_run(source, destination):
    destination.mkdir()
    for path in source.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


# --- one run at a time ------------------------------------------------------------------------------
def test_a_held_folder_is_refused_in_one_line_and_left_alone(small_sandbox, no_figures, finished, tmp_path):
    out = copy_run(finished["deep"], tmp_path / "out")
    before = snapshot(out)
    with RunFolder(out):
        code, _, stderr = train(out)
        one_line(code, stderr, f"--out {out} is in use by another run (process {os.getpid()})", "choose another --out")
        code, _, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", out, "--limit", LIMIT])
        one_line(code, stderr, "in use by another run")
    assert snapshot(out) == before
    assert not (out / ".lock").exists()  # released with the folder


def test_a_dead_runs_lock_staging_and_temporary_files_are_recovered(small_sandbox, no_figures, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = 2**22 + 12345  # above the usual pid_max: no such process
    (out / ".lock").write_text(f"{dead}\n")
    (out / f".staging-{dead}").mkdir()
    (out / f".staging-{dead}" / "checkpoint.npz").write_bytes(b"half")
    (out / f".tmp-{dead}-0123456789abcdef.npz").write_bytes(b"half a checkpoint")
    (out / ".tmp-1-0123456789abcdef.png").write_bytes(b"pid 1 is alive: not ours to remove")
    (out / "notes.txt").write_text("the user's")
    code, _, stderr = train(out)
    assert code == 0, stderr
    assert sorted(os.listdir(out)) == [".tmp-1-0123456789abcdef.png", "checkpoint.npz", "metrics.json", "notes.txt"]


def test_without_flock_a_dead_owners_lock_file_is_removed(tmp_path, monkeypatch):
    """Where fcntl is missing (Windows) the lock is the file itself: a dead process's is taken over, a
    live one's refused."""
    import runfolder.folder as folder_module
    monkeypatch.setattr(folder_module, "fcntl", None)
    (tmp_path / ".lock").write_text(f"{2**22 + 12345}\n")
    with RunFolder(tmp_path) as folder:
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n" and os.path.isdir(folder.staging)
    (tmp_path / ".lock").write_text("1\n")  # init: alive
    with pytest.raises(OutputError, match="in use by another run \\(process 1\\)"):
        RunFolder(tmp_path).__enter__()


def test_remove_stale_keeps_live_processes_files(tmp_path):
    (tmp_path / f".tmp-{os.getpid()}-aa.npz").write_bytes(b"")
    (tmp_path / ".tmp-x.npz").write_bytes(b"")  # no pid: not a name we write
    assert remove_stale(tmp_path) == []


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_resumed_run_that_diverges_advises_a_new_run(small_sandbox, no_figures, finished, tmp_path):
    """--resume refuses --lr, so the advice for a resumed run that diverges is a new run."""
    with numpy.load(finished["deep"] / "checkpoint.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["config"] = numpy.array(json.dumps(dict(json.loads(str(arrays["config"])), lr=1e4)))
    arrays["optimizer/lr"] = numpy.array(1e4)
    numpy.savez(tmp_path / "steep.npz", **arrays)
    code, _, stderr = run_cli(["train", "--quiet", "--resume", tmp_path / "steep.npz", "--epochs", 3,
                               "--out", tmp_path / "out"])
    line = one_line(code, stderr, "--resume keeps the run's --lr", "start a new run (without --resume)", exit_code=1)
    assert "last good checkpoint" in line


def test_errors_speak_command_line_options():
    assert in_cli_words("no CUDA GPU is usable; use device='cpu'") == "no CUDA GPU is usable; use --device cpu"


# --- replaced only when finished --------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverging_run_leaves_the_finished_run_untouched(small_sandbox, finished, tmp_path):
    out = copy_run(finished["deep"], tmp_path / "out")
    before = snapshot(out)
    code, _, stderr = train(out, "--model", "simple", "--lr", "1e12", epochs=3)
    assert code == 1
    line = one_line(code, stderr, "lower the learning rate", exit_code=1)
    after = snapshot(out)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) <= {"last-good.npz"}
    assert ("last-good.npz" in after) == ("last good checkpoint (epoch" in line)


@pytest.mark.parametrize("phase", ["step", "test pass", "checkpoint", "figures"])
def test_an_interrupted_run_leaves_the_finished_run_untouched(small_sandbox, finished, tmp_path, monkeypatch, phase):
    """Ctrl-C in each phase: the finished run's files are as they were; only interrupted.npz is added,
    with as many test losses as train losses, and resuming it finishes."""
    out = copy_run(finished["deep"], tmp_path / "out")
    before = snapshot(out)
    if phase != "figures":
        monkeypatch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])
    interrupt_in(monkeypatch, phase)
    code, _, stderr = train(out, epochs=2)
    one_line(code, stderr, "interrupted", exit_code=130)
    after = snapshot(out)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"interrupted.npz"}
    monkeypatch.undo()
    monkeypatch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])  # the resumed run's figures: not the subject
    with numpy.load(out / "interrupted.npz") as archive:
        history = json.loads(str(archive["history"]))
        assert len(history["train_loss"]) == len(history["test_loss"]) == int(archive["epoch"])
    code, _, stderr = run_cli(["train", "--quiet", "--resume", out / "interrupted.npz", "--epochs", 1, "--out", out])
    assert code == 0, stderr
    assert not (out / "interrupted.npz").exists()  # the finished resumed run replaced it


def interrupt_in(monkeypatch, phase):
    """Raise KeyboardInterrupt (what SIGINT raises) the first time ``phase`` runs, in epoch 2 for the
    training phases (so that one epoch is whole)."""
    import autoencoders.training as training
    calls = []

    def wrap(owner, name, when=lambda: True):
        real = getattr(owner, name)

        def interrupted(*args, **kwargs):
            calls.append(name)
            if when():
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, name, interrupted)

    if phase == "step":  # the command line's steps on the CPU: FastSteps, epoch by epoch in _train_epoch_with
        wrap(training, "_train_epoch_with", when=lambda: calls.count("_train_epoch_with") == 2)
    elif phase == "test pass":
        wrap(training, "evaluate", when=lambda: calls.count("evaluate") == 2)
    elif phase == "checkpoint":
        wrap(cli, "save_checkpoint", when=lambda: calls.count("save_checkpoint") == 2)
    else:
        wrap(cli.figures, "plot_latent")


def test_old_figures_do_not_linger_and_other_files_stay(small_sandbox, finished, tmp_path):
    out = copy_run(finished["vae"], tmp_path / "out")
    (out / "interrupted.npz").write_bytes(b"an old interruption")
    (out / "notes.txt").write_text("the user's")
    code, _, stderr = train(out, "--model", "simple")
    assert code == 0, stderr
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "gradients.png", "latent.png", "loss.png", "metrics.json", "notes.txt",
                                       "reconstructions.png"]


def test_plot_into_a_run_folder_replaces_only_figures(small_sandbox, finished, tmp_path):
    out = copy_run(finished["vae"], tmp_path / "out")
    checkpoint, metrics = (out / "checkpoint.npz").read_bytes(), (out / "metrics.json").read_bytes()
    code, _, stderr = run_cli(["plot", finished["deep"] / "checkpoint.npz", "--out", out, "--limit", LIMIT])
    assert code == 0, stderr
    assert (out / "checkpoint.npz").read_bytes() == checkpoint and (out / "metrics.json").read_bytes() == metrics
    assert not (out / "samples.png").exists()  # the VAE's figure, not the deep model's


def test_permissions_of_replaced_files_are_kept(small_sandbox, no_figures, finished, tmp_path):
    out = copy_run(finished["deep"], tmp_path / "out")
    os.chmod(out / "checkpoint.npz", 0o600)
    os.chmod(out / "metrics.json", 0o640)
    code, _, stderr = train(out)
    assert code == 0, stderr
    assert stat.S_IMODE(os.stat(out / "checkpoint.npz").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "metrics.json").st_mode) == 0o640
    path = tmp_path / "private.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write(str(path), lambda handle: handle.write(b"[]"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text() == "[]"


# --- never replace what is not a regular file ----------------------------------------------------------
def special_files(directory):
    """{kind: path} of things that are not regular files."""
    directory.mkdir(exist_ok=True)
    fifo = directory / "fifo.png"
    os.mkfifo(fifo)
    link = directory / "link.png"
    link.symlink_to(directory / "elsewhere.png")
    folder = directory / "folder.png"
    folder.mkdir()
    return {"FIFO": fifo, "symbolic link": link, "folder": folder}


def test_sample_refuses_a_fifo_a_link_or_a_device(small_sandbox, finished, tmp_path):
    targets = special_files(tmp_path / "targets")
    for kind, path in targets.items():
        code, _, stderr = run_cli(["sample", finished["vae"] / "checkpoint.npz", "--out", path])
        one_line(code, stderr, str(path))
    assert stat.S_ISFIFO(os.lstat(targets["FIFO"]).st_mode) and os.path.islink(targets["symbolic link"])
    assert not (tmp_path / "targets" / "elsewhere.png").exists()
    with pytest.raises(OutputError, match="character device"):
        check_output_file("/dev/null")
    with pytest.raises(OutputError, match="FIFO"):
        atomic_write(str(targets["FIFO"]), lambda handle: handle.write(b"x"))


def test_train_refuses_a_fifo_where_a_run_file_goes_before_training(small_sandbox, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "metrics.json")
    monkeypatch.setattr(cli, "build_model", lambda config: pytest.fail("trained before checking the outputs"))
    code, _, stderr = train(out)
    line = one_line(code, stderr, "metrics.json", "FIFO")
    assert line.endswith(f"choose another --out") and line.count(str(out)) == 2, line  # the folder, then its file
    assert stat.S_ISFIFO(os.lstat(out / "metrics.json").st_mode)


def test_train_refuses_a_fifo_as_the_out_folder_by_its_kind(small_sandbox, tmp_path, monkeypatch):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(cli, "build_model", lambda config: pytest.fail("trained before checking the outputs"))
    code, _, stderr = train(fifo)
    one_line(code, stderr, f"--out {fifo} exists and is a FIFO, not a folder", "choose another --out")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_sample_without_out_writes_beside_the_checkpoint_and_says_so(small_sandbox, finished, tmp_path):
    code, stdout, stderr = run_cli(["sample", finished["vae"] / "checkpoint.npz", "--n", 4, "--seed", 3])
    assert code == 0, stderr
    written = finished["vae"] / "samples-n4-seed3.png"
    assert written.is_file() and str(written) in stdout and "no --out given" in stdout
    assert not any(path.suffix == ".png" for path in tmp_path.iterdir())  # the working directory
    written.unlink()


def test_sample_n_over_the_limit_is_refused(small_sandbox, finished):
    code, _, stderr = run_cli(["sample", finished["vae"] / "checkpoint.npz", "--n", 40000])
    one_line(code, stderr, "--n", "1024", "40000")


def test_latent_dim_over_the_limit_is_refused(small_sandbox, tmp_path):
    code, _, stderr = train(tmp_path / "out", "--latent-dim", 400000)
    one_line(code, stderr, "--latent-dim", "4096")


# --- the end of a run -------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["simple", "deep", "overcomplete", "denoising", "conv", "vae", "sparse"])
def test_one_image_one_epoch_draws_every_figure(small_sandbox, tmp_path, model):
    code, stdout, stderr = train(tmp_path / "out", "--model", model, "--batch-size", 1, limit=1)
    assert code == 0, stderr
    assert (tmp_path / "out" / "latent.png").is_file()
    assert "done:" in stdout


def test_the_summary_names_mse_psnr_and_the_folder(finished):
    metrics = json.loads((finished["deep"] / "metrics.json").read_text())
    line = [line for line in finished["stdout"].splitlines() if line.startswith("done:")][0]
    assert f"test MSE {metrics['final_test_mse']:.6f}" in line
    assert f"PSNR {metrics['test_psnr_db']:.2f} dB" in line and str(finished["deep"]) in line


def test_metrics_are_strict_json(finished):
    def refuse(constant):
        raise AssertionError(f"{constant} in metrics.json")
    for name in ("deep", "vae"):
        json.loads((finished[name] / "metrics.json").read_text(), parse_constant=refuse)
    assert cli._json_safe({"a": [float("inf"), 1.0], "b": float("nan")}) == {"a": [None, 1.0], "b": None}


def test_a_collapsed_run_says_so_and_why(small_sandbox, tmp_path):
    code, stdout, stderr = train(tmp_path / "out", "--preset", "seed", epochs=2)
    assert code == 0, stderr
    notes = [line for line in stdout.splitlines() if line.startswith("note: the reconstructions are all")]
    assert len(notes) == 1 and "--lr 0.1" in notes[0] and "try --lr 0.001" in notes[0]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["collapse_note"] == notes[0]


def test_a_run_too_short_to_learn_is_told_to_train_longer(small_sandbox, tmp_path):
    """Two steps at the default lr 1e-3 leave one image for every input: the advice is more epochs, never
    a "lower" --lr equal to the one given."""
    code, stdout, stderr = train(tmp_path / "out", epochs=1)
    assert code == 0, stderr
    notes = [line for line in stdout.splitlines() if line.startswith("note: the reconstructions are all")]
    assert len(notes) == 1 and "--epochs" in notes[0] and "1 epoch at --lr 0.001" in notes[0], notes
    assert "try --lr" not in notes[0] and "too high" not in notes[0]


def test_collapse_is_measured_against_the_images():
    rng = numpy.random.default_rng(0)
    images = rng.random((50, 784))
    mean = numpy.tile(images.mean(axis=0), (50, 1))
    assert spread_ratio(mean, images) < 1e-20
    too_high = collapse_note(mean, images, 0.1, 20)
    assert "(--lr 0.1) is too high" in too_high and "try --lr 0.001" in too_high and "--epochs" not in too_high
    for lr in (1e-3, 1e-5):  # at or below the usual rate, a lower one is no advice: more steps are
        too_short = collapse_note(mean, images, lr, 3)
        assert f"3 epochs at --lr {lr:g}" in too_short and "more --epochs" in too_short
        assert "try --lr" not in too_short and "too high" not in too_short
    assert collapse_note(images * 0.9, images, 1e-3, 1) is None
    assert spread_ratio(images[:1], images[:1]) is None
    assert codes_collapsed(numpy.ones((5, 9))) and not codes_collapsed(rng.random((5, 9)))
    # A dead encoder's float32 codes (--preset seed on the MNIST test set: spread 1.5e-5 around codes of size 2).
    assert codes_collapsed(2 + 1.5e-5 * rng.standard_normal((500, 9)))
    assert project_2d(rng.random((1, 9))).shape == (1, 2)


def test_labels_outside_0_to_9_are_not_digit_rows(small_sandbox, finished, tmp_path):
    errors = numpy.arange(4, dtype=float)
    assert cli._per_digit(errors, numpy.array([0, 1, 1, 200])) == {"0": 0.0, "1": 1.5}
    from datasets.idx import read_idx, write_idx
    data = tmp_path / "odd-labels"
    data.mkdir()
    for name in os.listdir(os.environ["NN_DATA_DIR"]):
        (data / name).write_bytes((os.environ["NN_DATA_DIR"] / __import__("pathlib").Path(name)).read_bytes())
    labels = read_idx(data / "t10k-labels-idx1-ubyte")
    labels[0] = 200
    write_idx(data / "t10k-labels-idx1-ubyte", labels)
    code, stdout, stderr = run_cli(["evaluate", finished["deep"] / "checkpoint.npz", "--data-root", data,
                                    "--limit", LIMIT])
    assert code == 0, stderr
    assert not any(line.split()[:1] == ["200"] for line in stdout.splitlines())
    assert "1 images have labels outside 0..9" in stdout
