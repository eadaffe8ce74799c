"""Round 3 of the attackers' findings: each test fails on the code before its fix."""
import os
import subprocess
import sys

import pytest

import runfolder.folder as runfolder
from runfolder.folder import OutputError, RunFolder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- 1. a .lock that is a symbolic link, a FIFO or a folder is refused, never written through -------------
def lock_message(folder, kind):
    return (f"--out {folder}: its lock file {os.path.join(str(folder), '.lock')} is {kind}, not a regular file; "
            f"it is left as it is: remove it, or choose another --out")


@pytest.mark.parametrize("flock", [True, False])
@pytest.mark.parametrize("target", ["precious.txt", "missing.txt"])
def test_a_lock_that_is_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path, monkeypatch, flock, target):
    if not flock:
        monkeypatch.setattr(runfolder, "fcntl", None)
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.symlink(tmp_path / target, folder / ".lock")
    with pytest.raises(OutputError) as caught:
        RunFolder(folder).__enter__()
    assert str(caught.value) == lock_message(folder, "a symbolic link")
    assert (tmp_path / "precious.txt").read_text() == "the user's"
    assert not (tmp_path / "missing.txt").exists()
    assert os.path.islink(folder / ".lock") and sorted(os.listdir(folder)) == [".lock"]


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a FIFO"), (os.mkdir, "a folder")])
def test_a_lock_that_is_a_fifo_or_a_folder_is_refused_by_its_kind(tmp_path, make, kind):
    make(tmp_path / ".lock")
    with pytest.raises(OutputError) as caught:
        RunFolder(tmp_path).__enter__()
    assert str(caught.value) == lock_message(tmp_path, kind)
    assert os.listdir(tmp_path) == [".lock"]


def run_cli(*argv, cwd=ROOT, **kwargs):
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "NN_OFFLINE": "1"}, **kwargs)


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_the_command_line_refuses_a_linked_lock_in_one_line(tmp_path, program):
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.symlink(tmp_path / "precious.txt", folder / ".lock")
    done = run_cli(program, "train", "--out", str(folder), "--offline", "--data-root", str(tmp_path / "nodata"),
                   "--epochs", "1")
    assert done.returncode == 2, done.stderr
    assert (tmp_path / "precious.txt").read_text() == "the user's"
    assert done.stderr.count("\n") == 1 and "is a symbolic link" in done.stderr and "remove it" in done.stderr


# --- 2. only PNG and JPEG are decoded, whatever a file's name says ----------------------------------------
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\n"
       b"newpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n")


def write_png(path, side=8, value=128):
    from PIL import Image
    import numpy as np
    Image.fromarray(np.full((side, side), value, np.uint8)).save(path)


@pytest.mark.parametrize("first", [True, False], ids=["eps-first", "eps-later"])
def test_an_eps_named_png_is_refused_by_its_real_format_and_ghostscript_never_starts(tmp_path, monkeypatch, first):
    from PIL import EpsImagePlugin
    from datasets import load_images
    from datasets.words import DataError

    def no_ghostscript(*args, **kwargs):
        raise AssertionError("Ghostscript was started")
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", no_ghostscript)
    for index in range(4):
        write_png(tmp_path / f"b{index}.png")
    eps = tmp_path / ("a.png" if first else "z.png")
    eps.write_bytes(EPS)
    with pytest.raises(DataError) as caught:
        load_images(tmp_path)
    assert str(caught.value) == (f"{eps}: not a PNG or JPEG image Pillow can read (it is really EPS); only PNG and "
                                 "JPEG files are read: convert it to PNG, or remove it from the folder")


def test_a_gif_named_png_is_refused_as_gif(tmp_path):
    from PIL import Image
    import numpy as np
    from datasets import load_images
    from datasets.words import DataError
    write_png(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "b.png", format="GIF")
    with pytest.raises(DataError, match=r"b\.png: not a PNG or JPEG image Pillow can read \(it is really GIF\)"):
        load_images(tmp_path)


# --- 4. 16-bit PNGs and big-endian .npy arrays load as their values say -------------------------------------
def test_a_16_bit_png_ramp_is_scaled_by_65535_as_the_npy_is(tmp_path):
    from PIL import Image
    import numpy as np
    from datasets import load_images
    ramp = (np.arange(3 * 16 * 16, dtype=np.int64) * 65535 // (3 * 16 * 16 - 1)).astype(np.uint16).reshape(3, 16, 16)
    folder = tmp_path / "png"
    folder.mkdir()
    for index, image in enumerate(ramp):
        Image.fromarray(image).save(folder / f"{index}.png")
    assert Image.open(folder / "0.png").mode.startswith("I")
    np.save(tmp_path / "ramp.npy", ramp)
    from_png = np.concatenate([part.images for part in load_images(folder, seed=3)])
    from_npy = np.concatenate([part.images for part in load_images(tmp_path / "ramp.npy", seed=3)])
    np.testing.assert_array_equal(from_png, from_npy)
    assert (from_png >= 0.99).mean() < 0.02 and from_png.max() == 1 and from_png.min() == 0
    np.testing.assert_allclose(np.sort(from_png.ravel()), ramp.ravel() / 65535, rtol=1e-6)


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">i4", "<u2"])
def test_a_big_endian_npy_loads_its_values(tmp_path, dtype):
    import numpy as np
    from datasets import load_images
    values = np.array([[0, 1], [2, 3]] * 2).reshape(2, 4)
    scaled = {"u2": values * 20000, "f4": values / 3, "i4": values * 80}[dtype[1:]]
    np.save(tmp_path / "x.npy", scaled.astype(dtype))
    images = np.concatenate([part.images for part in load_images(tmp_path / "x.npy")])
    expected = {"u2": scaled / 65535, "f4": scaled, "i4": scaled / 255}[dtype[1:]]
    np.testing.assert_allclose(np.sort(images, axis=0), np.sort(expected, axis=0), rtol=1e-6)


# --- 3. PCA without the D x D covariance; a baseline that cannot fit never costs the trained model ----------
def covariance_pca(images, k):
    """The method PCA.fit used before: the eigendecomposition of the D x D covariance."""
    import numpy as np
    x = images.astype(np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / len(x))
    order = np.argsort(values)[::-1][:k]
    return mean, np.maximum(values[order], 0), vectors[:, order].T


@pytest.mark.parametrize("n, d, k", [(12, 50, 5), (12, 50, 11), (30, 64, 9), (80, 40, 7), (40, 40, 40)])
def test_pca_equals_the_covariance_method_up_to_sign(n, d, k):
    import numpy as np
    from autoencoders.pca import PCA
    rng = np.random.default_rng(n + d)
    images = (rng.standard_normal((n, 6)) * np.linspace(4, 1, 6)) @ rng.standard_normal((6, d)) \
        + 0.3 * rng.standard_normal((n, d)) + rng.uniform(0, 1, d)
    test = rng.standard_normal((7, d))
    mean, variance, components = covariance_pca(images, k)
    fitted = PCA(k).fit(images.astype(np.float32))
    np.testing.assert_allclose(fitted.mean, images.astype(np.float32).astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.explained_variance, variance, rtol=1e-3, atol=1e-6)
    signs = np.sign(np.sum(fitted.components * components, axis=1))
    np.testing.assert_allclose(fitted.components * signs[:, None], components, atol=1e-3)
    reference = (test - mean) @ components.T @ components + mean
    np.testing.assert_allclose(fitted.reconstruct(test), reference, atol=1e-3)
    np.testing.assert_allclose(fitted.components @ fitted.components.T, np.eye(k), atol=1e-10)


def test_more_components_than_images_are_completed_orthonormally_with_zero_variance():
    import numpy as np
    from autoencoders.pca import PCA
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (6, 30))
    fitted = PCA(10).fit(images)
    assert fitted.components.shape == (10, 30)
    np.testing.assert_allclose(fitted.components @ fitted.components.T, np.eye(10), atol=1e-10)
    np.testing.assert_allclose(fitted.explained_variance[6:], 0, atol=1e-12)
    np.testing.assert_allclose(fitted.reconstruct(images), images, atol=1e-10)  # the training images' span is kept
    np.testing.assert_array_equal(PCA(10).fit(images).components, fitted.components)  # reproducible


def test_pca_of_few_large_images_never_builds_the_pixel_by_pixel_covariance():
    import tracemalloc
    import numpy as np
    from autoencoders.pca import PCA
    images = np.random.default_rng(0).uniform(0, 1, (20, 128 * 128)).astype(np.float32)
    tracemalloc.start()
    try:
        fitted = PCA(9).fit(images)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fitted.components.shape == (9, 128 * 128)
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"  # the covariance alone would be 2 GiB


def test_fit_bytes_grows_with_the_smaller_side_squared_only():
    from autoencoders.pca import fit_bytes
    few_large = fit_bytes(20, 3, 256 * 256, 9)
    assert few_large < 2**28  # 256 x 256 images: no 32 GiB covariance
    assert fit_bytes(60000, 10000, 784, 9) > 8 * 784 * 784
    assert fit_bytes(200, 20, 1024 * 1024, 4096) > 8 * 4096 * 1024 * 1024  # the components themselves


@pytest.fixture
def images_npy(tmp_path):
    import numpy as np
    path = tmp_path / "faces.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (24, 8, 8), dtype=np.uint8))
    return path


def test_a_pca_that_cannot_fit_is_skipped_before_training_and_the_model_kept(tmp_path, monkeypatch, images_npy, capsys):
    import json
    import autoencoders.cli as cli
    import autoencoders.pca as pca
    monkeypatch.setattr(pca, "available_bytes", lambda: 1000)
    monkeypatch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])
    out = tmp_path / "run"
    code = cli.main(["train", "--images", str(images_npy), "--epochs", "1", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "the PCA baseline (21 images of 64 pixels, 9 components) needs about" in captured.err
    assert "it is skipped (the model is trained and saved as usual)" in captured.err
    assert json.loads((out / "metrics.json").read_text())["pca"] is None
    assert (out / "checkpoint.npz").is_file() and "PCA baseline: skipped" in captured.out


def test_a_pca_that_runs_out_of_memory_after_training_keeps_the_model(tmp_path, monkeypatch, images_npy, capsys):
    import json
    import autoencoders.cli as cli
    import autoencoders.pca as pca

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 32.0 GiB")
    monkeypatch.setattr(pca, "compare", no_memory)
    monkeypatch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])
    out = tmp_path / "run"
    code = cli.main(["train", "--images", str(images_npy), "--epochs", "1", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "the PCA baseline ran out of memory and is skipped" in captured.err
    assert json.loads((out / "metrics.json").read_text())["pca"] is None and (out / "checkpoint.npz").is_file()


def test_ctrl_c_during_the_pca_keeps_the_trained_state_and_leaves_no_staging_folder(tmp_path, images_npy):
    import signal
    import time
    flag, out = tmp_path / "in-pca", tmp_path / "run"
    script = (f"import sys, time, autoencoders.pca as p\n"
              f"def slow(self, images):\n    open({str(flag)!r}, 'w').close()\n    time.sleep(60)\n"
              f"p.PCA.fit = slow\n"
              f"from autoencoders.cli import main\n"
              f"sys.exit(main(['train', '--images', {str(images_npy)!r}, '--epochs', '1', '--quiet', '--out', {str(out)!r}]))\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": ROOT})
    deadline = time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert sorted(os.listdir(out)) == ["interrupted.npz"], stderr
    assert "interrupted while writing the report" in stderr and "Traceback" not in stderr


def test_a_ctrl_c_during_the_cleanup_waits_until_the_staging_folder_is_gone(tmp_path, monkeypatch):
    import shutil
    import signal
    real = shutil.rmtree

    def interrupted_rmtree(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between two bytecodes: give it the chance
            pass
        return real(*args, **kwargs)
    folder = RunFolder(tmp_path / "run")
    folder.__enter__()
    monkeypatch.setattr(runfolder.shutil, "rmtree", interrupted_rmtree)
    with pytest.raises(KeyboardInterrupt):
        folder.__exit__(None, None, None)
    assert not os.path.exists(tmp_path / "run")


# --- 5. a run of one command line never goes into a folder holding the other's ------------------------------
def snapshot_folder(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    """A finished GAN run and a finished autoencoder run, on a small data folder."""
    import numpy as np
    from helpers_autoencoders import cli_sandbox, run_cli, write_data_dir
    from gans.cli import main as gans_main
    scratch = tmp_path_factory.mktemp("both")
    write_data_dir(scratch / "data", train_count=32, test_count=32)
    np.save(scratch / "faces.npy", np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8))
    with cli_sandbox(scratch / "data", scratch):
        code, _, stderr = run_cli(["train", "--model", "gan", "--epochs", "1", "--limit", "32", "--batch-size", "16",
                                   "--out", scratch / "gan", "--quiet"], gans_main)
        assert code == 0, stderr
        code, _, stderr = run_cli(["train", "--epochs", "1", "--limit", "32", "--out", scratch / "ae", "--quiet"])
        assert code == 0, stderr
    return scratch


def test_a_gan_run_into_an_autoencoder_run_is_refused_in_one_line(both_runs, tmp_path):
    import shutil
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    from gans.cli import main as gans_main
    out = tmp_path / "ae"
    shutil.copytree(both_runs / "ae", out)
    before = snapshot_folder(out)
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(["train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet"], gans_main)
    assert code == 2 and error_lines(stderr) == [
        f"gans: error: --out {out} holds a run of python -m autoencoders (checkpoint.npz), not of python -m gans; "
        "it is left as it is: choose another --out"]
    assert snapshot_folder(out) == before


@pytest.mark.parametrize("command", ["train", "plot"])
def test_an_autoencoder_run_or_plot_into_a_gan_run_is_refused_in_one_line(both_runs, tmp_path, command):
    import shutil
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    out = tmp_path / "gan"
    shutil.copytree(both_runs / "gan", out)
    before = snapshot_folder(out)
    argv = (["train", "--epochs", "1", "--limit", "32"] if command == "train"
            else ["plot", both_runs / "ae" / "checkpoint.npz", "--limit", "32"])
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli([*argv, "--out", out, "--quiet"])
    assert code == 2 and error_lines(stderr) == [
        f"autoencoders: error: --out {out} holds a run of python -m gans (checkpoint.npz), not of python -m "
        "autoencoders; it is left as it is: choose another --out"]
    assert snapshot_folder(out) == before


def test_the_kind_is_read_from_metrics_or_figures_when_no_checkpoint_is_there(both_runs, tmp_path):
    import shutil
    from runfolder.cli import folder_kind
    for kind, run in (("gans", "gan"), ("autoencoders", "ae")):
        folder = tmp_path / run
        shutil.copytree(both_runs / run, folder)
        assert folder_kind(folder) == (kind, "checkpoint.npz")
        (folder / "checkpoint.npz").unlink()
        assert folder_kind(folder) == (kind, "metrics.json")
        (folder / "metrics.json").write_text("not json")
        assert folder_kind(folder)[0] == kind
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "samples.png").write_bytes(b"either kind draws it")
    assert folder_kind(tmp_path / "empty") is None


# --- 6. one line instead of a traceback: DCGAN batches of one, tiny evaluations, labels 255, a full disk ------
@pytest.fixture(scope="module")
def gan_data(tmp_path_factory):
    from helpers_autoencoders import write_data_dir
    scratch = tmp_path_factory.mktemp("gan-data")
    write_data_dir(scratch / "data", train_count=65, test_count=16)
    return scratch / "data"


def gans_cli(argv, data, scratch):
    from helpers_autoencoders import cli_sandbox, run_cli
    from gans.cli import main
    with cli_sandbox(data, scratch):
        return run_cli(argv, main)


def test_a_dcgan_last_batch_of_one_is_left_out_with_a_note(gan_data, tmp_path):
    import json
    code, _, stderr = gans_cli(["train", "--model", "dcgan", "--limit", "65", "--batch-size", "64", "--epochs", "1",
                                "--out", tmp_path / "run", "--quiet"], gan_data, tmp_path)
    assert code == 0, stderr
    assert "note: 65 images in batches of 64 leave a last batch of one image" in stderr
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]) == 1


@pytest.mark.parametrize("options, fragment", [(["--batch-size", "1"], "--batch-size 1: "),
                                               (["--limit", "1", "--batch-size", "4"], "--limit 1 leaves one image: ")])
def test_a_dcgan_batch_size_of_one_is_refused_in_one_line(gan_data, tmp_path, options, fragment):
    from helpers_autoencoders import error_lines
    code, _, stderr = gans_cli(["train", "--model", "dcgan", *options, "--epochs", "1", "--out", tmp_path / "run",
                                "--quiet"], gan_data, tmp_path)
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "--batch-size 2 or more" in lines[0], stderr
    assert not (tmp_path / "run").exists()


def test_evaluating_a_one_image_run_is_refused_in_one_line(gan_data, tmp_path):
    from helpers_autoencoders import error_lines
    code, _, stderr = gans_cli(["train", "--limit", "1", "--epochs", "1", "--out", tmp_path / "run", "--quiet"],
                               gan_data, tmp_path)
    assert code == 0, stderr
    code, _, stderr = gans_cli(["evaluate", tmp_path / "run" / "checkpoint.npz", "--n", "8"], gan_data, tmp_path)
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and lines == ["gans: error: the run's data (--limit 1) gives 1 training and 1 test image(s); "
                                   "the scores need at least 2 and 4: evaluate a run trained on more images"], stderr


@pytest.fixture
def labels_255(gan_data, tmp_path):
    import shutil
    import numpy as np
    from datasets.idx import read_idx, write_idx
    data = tmp_path / "data255"
    shutil.copytree(gan_data, data)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        labels = np.array(read_idx(data / name))
        labels[3] = 255
        write_idx(data / name, labels)
    return data


def test_cgan_labels_outside_0_to_9_are_refused_in_one_line(labels_255, tmp_path):
    from helpers_autoencoders import error_lines
    code, _, stderr = gans_cli(["train", "--model", "cgan", "--epochs", "1", "--out", tmp_path / "run", "--quiet"],
                               labels_255, tmp_path)
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and len(lines) == 1 and "hold 255 (image 3)" in lines[0] and "outside 0..9" in lines[0], stderr
    assert "give labels 0..9, or train --model gan" in lines[0]
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_labels_outside_0_to_9_in_one_line(labels_255, gan_data, tmp_path):
    from helpers_autoencoders import error_lines
    code, _, stderr = gans_cli(["train", "--epochs", "1", "--limit", "32", "--out", tmp_path / "run", "--quiet"],
                               gan_data, tmp_path)
    assert code == 0, stderr
    code, _, stderr = gans_cli(["evaluate", tmp_path / "run" / "checkpoint.npz", "--n", "8"], labels_255, tmp_path)
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and len(lines) == 1 and "hold 255 (image 3)" in lines[0], stderr


def limited_run(argv, limit, data, scratch):
    """``python -m argv...`` with files limited to ``limit`` bytes (SIGXFSZ ignored: a write past it fails with EFBIG)."""
    import resource
    import signal
    import matplotlib
    from helpers_autoencoders import subprocess_env

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-m", *map(str, argv)], cwd=scratch, capture_output=True, text=True,
                          env={**subprocess_env(data, scratch), "NN_OFFLINE": "1",
                               "MPLCONFIGDIR": matplotlib.get_cachedir()},  # its font cache: made already
                          preexec_fn=limited, timeout=300)


def full_disk_line(done, program, what):
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("note:")]
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{program}: error: could not write {what}"), lines[0]
    assert "File too large" in lines[0] and "intact" in lines[0] and "run again" in lines[0]


@pytest.mark.parametrize("program, limit", [("autoencoders", 20_000), ("gans", 100_000)])
def test_a_file_size_limit_at_the_checkpoint_is_one_line_and_the_old_run_intact(both_runs, tmp_path, program, limit):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(both_runs / ("ae" if program == "autoencoders" else "gan"), out)
    before = snapshot_folder(out)
    done = limited_run([program, "train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet"], limit,
                       both_runs / "data", tmp_path)
    full_disk_line(done, program, f"{out / 'checkpoint.npz'} (File too large)")
    assert snapshot_folder(out) == before


@pytest.mark.parametrize("program, limit", [("autoencoders", 20_000), ("gans", 100_000)])
def test_a_file_size_limit_when_resuming_is_one_line_and_the_run_resumed_from_intact(both_runs, tmp_path, program,
                                                                                       limit):
    """--resume from the run's own checkpoint into its own folder: the new checkpoint cannot be written, so
    the run stays the one it was, checkpoint and all."""
    import shutil
    out = tmp_path / "run"
    shutil.copytree(both_runs / ("ae" if program == "autoencoders" else "gan"), out)
    before = snapshot_folder(out)
    done = limited_run([program, "train", "--resume", out / "checkpoint.npz", "--epochs", "1", "--out", out,
                        "--quiet"], limit, both_runs / "data", tmp_path)
    full_disk_line(done, program, f"{out / 'checkpoint.npz'} (File too large)")
    assert snapshot_folder(out) == before


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_evaluate_under_a_file_size_limit_writes_nothing_and_reports(both_runs, tmp_path, program):
    """evaluate only reads: under a 2 KB file-size limit it still ends with its report, and the run's
    folder is as it was."""
    out = both_runs / ("ae" if program == "autoencoders" else "gan")
    before = snapshot_folder(out)
    size = ["--limit", "32"] if program == "autoencoders" else ["--n", "64"]
    done = limited_run([program, "evaluate", out / "checkpoint.npz", *size], 2_000, both_runs / "data", tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr and done.stdout.strip(), done.stderr
    assert snapshot_folder(out) == before


@pytest.mark.parametrize("command", ["plot", "sample"])
def test_a_file_size_limit_at_a_figure_is_one_line_and_the_old_files_intact(both_runs, tmp_path, command):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(both_runs / "ae", out)
    (out / "samples.png").write_bytes(b"the old samples")
    before = snapshot_folder(out)
    if command == "plot":
        argv = ["autoencoders", "plot", out / "checkpoint.npz", "--limit", "32", "--out", out]
        what = str(out / "loss.png")
    else:
        argv = ["gans", "sample", both_runs / "gan" / "checkpoint.npz", "--n", "64", "--out", out / "samples.png"]
        what = str(out / "samples.png")
    done = limited_run(argv, 2_000, both_runs / "data", tmp_path)
    full_disk_line(done, argv[0], what)
    assert snapshot_folder(out) == before


def test_a_full_disk_during_the_report_is_one_line_and_the_old_run_intact(both_runs, tmp_path, monkeypatch):
    import errno
    import shutil
    import autoencoders.cli as cli
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    out = tmp_path / "run"
    shutil.copytree(both_runs / "ae", out)
    before = snapshot_folder(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(cli.figures, "plot_latent", lambda model, images, labels, path, **kwargs: cli.atomic_write(
        path, lambda handle: full()))
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(["train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet"])
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 1 and len(lines) == 1 and "latent.png (No space left on device)" in lines[0], stderr
    assert snapshot_folder(out) == before and not any(name.startswith(".staging") for name in os.listdir(out))


# --- 7. the engine API's three: a list input, an integer input's advice, a step count that divides by zero ---
def test_a_list_input_is_refused_in_one_line_with_the_conversion():
    import numpy as np
    import nn
    with pytest.raises(TypeError) as caught:
        nn.Linear(10, 3)(np.ones((2, 10)).tolist())
    assert str(caught.value) == ("Linear: the input is a Python list, not an array; convert it with "
                                 "numpy.asarray(x, dtype='float32')")


def engine_layers():
    import nn
    return [(nn.Linear(10, 3), (2, 10), "the weights are"), (nn.Conv2d(10, 3, 1), (2, 10, 1, 1), "the weights are"),
            (nn.BatchNorm1d(10, affine=False), (2, 10), "the layer's state is")]


@pytest.mark.parametrize("dtype", ["int64", "bool", "uint8", "float16"])
def test_an_input_of_a_dtype_the_engine_lacks_is_told_only_to_convert_the_input(dtype):
    import numpy as np
    for layer, shape, held in engine_layers():
        with pytest.raises(TypeError) as caught:
            layer(np.ones(shape, dtype))
        assert str(caught.value) == (f"{layer!r}: input is {dtype} but {held} float32; convert the input with "
                                     "x.astype('float32') (the engine computes in float32 or float64 only)")
        with pytest.raises(ValueError):  # the advice left out is the one .to() refuses
            layer.to(dtype=dtype)


def test_a_float64_input_is_offered_both_fixes_and_the_second_one_works():
    import numpy as np
    for layer, shape, held in engine_layers():
        x = np.ones(shape, "float64")
        with pytest.raises(TypeError) as caught:
            layer(x)
        assert str(caught.value).endswith("convert the input with x.astype('float32') or the model with "
                                          ".to(dtype='float64')")
        assert layer.to(dtype="float64")(x).dtype == np.float64


def test_conv_and_batchnorm_keep_their_own_dtype_check_with_the_gate_s_words():
    """Conv2d's _check and BatchNorm's statistics check word the error as the gate does (one helper)."""
    import numpy as np
    import nn
    from nn.arguments import input_dtype_error
    conv = nn.Conv2d(2, 3, 1)
    with pytest.raises(TypeError) as caught:
        conv._check(np.ones((1, 2, 1, 1), "int32"))
    assert str(caught.value) == str(input_dtype_error(conv, np.dtype("int32"), np.dtype("float32")))


def adam_and_its_state():
    import numpy as np
    import nn
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    optimizer = nn.Adam(model.parameters(), lr=0.1)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    loss = nn.MSELoss()
    loss(model(x), np.zeros((4, 1), "float32"))
    model.backward(loss.backward())
    optimizer.step()
    return model, optimizer, x, loss


@pytest.mark.parametrize("step, shown", [
    (-1, "-1"), (-2, "-2"), (2.5, "2.5"), (float("nan"), "nan"), (float("inf"), "inf"), ("3", "'3'"), (True, "True"),
    ("array(-1)", "-1"), ("array([1, -1, 1, 1])", "-1 (parameter 1)"), ("[1, 1, 1.5, 1]", "1.5 (parameter 2)"),
])
def test_an_optimizer_step_that_is_not_a_count_is_refused_at_the_load_and_nothing_changes(step, shown):
    import numpy as np
    model, optimizer, x, loss = adam_and_its_state()
    state = optimizer.state_dict()
    before = {name: np.copy(value) if hasattr(value, "shape") else value for name, value in state.items()}
    weights = [parameter.data.copy() for parameter in model.parameters()]
    state["step"] = eval(step, {"array": np.array}) if isinstance(step, str) and step[0] in "a[" else step
    with pytest.raises(ValueError) as caught:
        optimizer.load_state_dict(state)
    assert str(caught.value) == (f"Adam.load_state_dict: key 'step' holds {shown}, but a step count is a whole number "
                                 ">= 0 (the steps taken so far): load a state_dict() an optimizer saved, or skip "
                                 "load_state_dict to start the optimizer afresh; nothing was loaded")
    after = optimizer.state_dict()
    assert after["step"] == before["step"] == 1
    for name in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(after[name], before[name])
    loss(model(x), np.zeros((4, 1), "float32"))  # and the next step is an ordinary one: no NaN anywhere
    model.backward(loss.backward())
    optimizer.step()
    for parameter, old in zip(model.parameters(), weights):
        assert np.isfinite(parameter.data).all() and not np.array_equal(parameter.data, old)


@pytest.mark.parametrize("step", [0, 7, 7.0, "array(7)", "array([7, 7, 3, 3])", "[7, 7, 3, 3]"])
def test_a_whole_step_count_loads_in_any_form_and_steps_finitely(step):
    import numpy as np
    model, optimizer, x, loss = adam_and_its_state()
    state = optimizer.state_dict()
    state["step"] = eval(step, {"array": np.array}) if isinstance(step, str) else step
    optimizer.load_state_dict(state)
    counts = [optimizer.state[parameter]["step"] for parameter in model.parameters()]
    expected = list(np.broadcast_to(np.asarray(state["step"]), (4,)).astype(int))
    assert counts == expected and all(type(count) is int for count in counts)
    loss(model(x), np.zeros((4, 1), "float32"))
    model.backward(loss.backward())
    optimizer.step()
    assert all(np.isfinite(parameter.data).all() for parameter in model.parameters())


def test_a_later_group_s_step_is_checked_too():
    import nn
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    optimizer = nn.SGD([{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 0.1}], lr=0.01)
    state = optimizer.state_dict()
    state["1.step"] = -4
    with pytest.raises(ValueError, match=r"^SGD.load_state_dict: key '1.step' holds -4, but a step count is a whole "):
        optimizer.load_state_dict(state)


# --- 8. every file a run writes, replaces, reads back or removes in its folder, attacked -------------------
def plant(path, kind, outside):
    """Put at ``path`` what an attacker with write access to the run folder would: a link to the user's file
    (or folder), a FIFO, a folder."""
    if kind == "link to a file":
        os.symlink(outside / "precious.txt", path)
    elif kind == "link to a folder":
        os.symlink(outside, path)
    elif kind == "FIFO":
        os.mkfifo(path)
    else:
        os.mkdir(path)
        (path / "inside.txt").write_text("kept")


def user_files(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("the user's")
    return outside


def outside_as_it_was(outside):
    return sorted(os.listdir(outside)) == ["precious.txt"] and (outside / "precious.txt").read_text() == "the user's"


RUN_FOLDER_FILES = {"autoencoders": ["checkpoint.npz", "metrics.json", "last-good.npz", "interrupted.npz",
                                     "gradients.png", "reconstructions.png"],
                    "gans": ["checkpoint.npz", "metrics.json", "last-good.npz", "interrupted.npz", "gradients.png",
                             "progress.gif"]}
KINDS = ["link to a file", "FIFO", "a folder"]
WHAT = {"link to a file": "a symbolic link", "FIFO": "a FIFO", "a folder": "a folder"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("program, name", [(program, name) for program, names in RUN_FOLDER_FILES.items()
                                           for name in names])
def test_a_run_file_planted_between_runs_is_refused_in_one_line_and_nothing_written(both_runs, tmp_path, program,
                                                                                    name, kind):
    """Each file a new run replaces (or removes, or keeps on Ctrl-C: interrupted.npz, last-good.npz) is
    looked at before any work: something that is not a regular file there is refused, never written
    through, never removed; the folder's other files stay as they were."""
    import shutil
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    from gans.cli import main as gans_main
    outside = user_files(tmp_path)
    out = tmp_path / "run"
    shutil.copytree(both_runs / ("ae" if program == "autoencoders" else "gan"), out)
    if (out / name).exists():
        (out / name).unlink()
    plant(out / name, kind, outside)
    before = {entry: (out / entry).read_bytes() for entry in os.listdir(out) if entry != name}
    argv = ["train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet"]
    if program == "gans":
        argv += ["--batch-size", "16"]
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(argv, gans_main if program == "gans" else None)
    assert code == 2 and error_lines(stderr) == [
        f"{program}: error: --out {out}: the file {out / name} exists and is {WHAT[kind]}, not a regular file; it is "
        "left as it is: choose another --out"], stderr
    assert outside_as_it_was(outside)
    assert {entry: (out / entry).read_bytes() for entry in os.listdir(out) if entry != name} == before
    assert os.path.lexists(out / name) and (kind != "a folder" or os.listdir(out / name) == ["inside.txt"])


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_dead_runs_leftovers_that_are_links_fifos_or_folders_go_by_their_own_name_and_the_run_finishes(
        both_runs, tmp_path, program):
    """.staging-<pid> and .tmp-<pid>-... of dead processes are removed when the next run takes the lock:
    a link as a link (what it points to untouched), a FIFO unopened, a folder with the links inside it."""
    from helpers_autoencoders import cli_sandbox, run_cli
    from gans.cli import main as gans_main
    outside = user_files(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    dead = 4_000_000  # above any pid_max: no process has it
    os.symlink(outside, out / f".staging-{dead}")
    os.symlink(outside / "precious.txt", out / f".tmp-{dead}-aa.npz")
    os.mkfifo(out / f".tmp-{dead + 1}-bb.png")
    (out / f".staging-{dead + 2}").mkdir()
    os.symlink(outside, out / f".staging-{dead + 2}" / "into-outside")
    os.symlink(outside / "precious.txt", out / f".staging-{dead + 2}" / "checkpoint.npz")
    argv = ["train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet", "--no-gradient-stats"]
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(argv + (["--batch-size", "16"] if program == "gans" else []),
                                  gans_main if program == "gans" else None)
    assert code == 0, stderr
    assert outside_as_it_was(outside)
    assert "checkpoint.npz" in os.listdir(out) and not any(name.startswith(".") for name in os.listdir(out))


@pytest.mark.parametrize("kind", ["FIFO", "link to a file", "link to a folder", "a folder"])
def test_plot_reads_a_metrics_json_that_is_not_a_regular_file_never_and_says_so(both_runs, tmp_path, kind):
    """plot reads metrics.json beside the checkpoint for gradients.png: a FIFO there used to hang it for
    ever (open waits for a writer), a link to /dev/zero would read without end. It is read only as a
    regular file; otherwise the figures are drawn without gradients.png, with a note."""
    import shutil
    import matplotlib
    from helpers_autoencoders import subprocess_env
    outside = user_files(tmp_path)
    out = tmp_path / "run"
    shutil.copytree(both_runs / "ae", out)
    (out / "metrics.json").unlink()
    (out / "gradients.png").unlink()
    plant(out / "metrics.json", kind, outside)
    done = subprocess.run([sys.executable, "-m", "autoencoders", "plot", str(out / "checkpoint.npz"), "--limit", "32",
                           "--out", str(tmp_path / "figures")], cwd=tmp_path, capture_output=True, text=True,
                          env={**subprocess_env(both_runs / "data", tmp_path), "NN_OFFLINE": "1",
                               "MPLCONFIGDIR": matplotlib.get_cachedir()}, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    what = {"FIFO": "a FIFO", "a folder": "a folder"}.get(kind, "a symbolic link")
    assert [line for line in done.stderr.splitlines() if "md5" not in line and line.strip()] == [
        f"note: {out / 'metrics.json'} is {what}, not a regular file; it is not read, so gradients.png is not drawn"]
    assert "loss.png" in os.listdir(tmp_path / "figures") and "gradients.png" not in os.listdir(tmp_path / "figures")
    assert outside_as_it_was(outside)


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
@pytest.mark.parametrize("make, what", [(os.mkfifo, "a FIFO"), (os.mkdir, "a folder")])
def test_resuming_from_a_checkpoint_that_is_a_fifo_or_a_folder_says_what_it_is(tmp_path, program, make, what):
    make(tmp_path / "checkpoint.npz")
    done = run_cli(program, "train", "--resume", str(tmp_path / "checkpoint.npz"), "--out", str(tmp_path / "run"),
                   timeout=120)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"{program}: error: checkpoint {str(tmp_path / 'checkpoint.npz')!r} is {what}, not a file; give the .npz "
        "file a run wrote"], done.stderr
    assert not (tmp_path / "run").exists()


def test_folder_kind_reads_neither_through_a_link_nor_from_a_fifo(both_runs, tmp_path):
    """What decides whose run a folder holds is read only from regular files: a checkpoint.npz that links to
    another run's, or a metrics.json that is a FIFO, is not read (and a FIFO does not hang it)."""
    from runfolder.cli import folder_kind
    out = tmp_path / "run"
    out.mkdir()
    os.symlink(both_runs / "gan" / "checkpoint.npz", out / "checkpoint.npz")
    os.mkfifo(out / "metrics.json")
    os.symlink(both_runs / "ae" / "loss.png", out / "loss.png")
    assert folder_kind(out) is None
    (out / "losses.png").write_bytes(b"a GAN figure")
    assert folder_kind(out) == ("gans", "losses.png")


@pytest.fixture(scope="module")
def vae_run(both_runs):
    """A finished VAE run beside both_runs' (autoencoders' sample needs a model that draws)."""
    from helpers_autoencoders import cli_sandbox, run_cli
    with cli_sandbox(both_runs / "data", both_runs):
        code, _, stderr = run_cli(["train", "--model", "vae", "--epochs", "1", "--limit", "32", "--out",
                                   both_runs / "vae", "--quiet", "--no-gradient-stats"])
    assert code == 0, stderr
    return both_runs / "vae"


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_sample_beside_the_checkpoint_refuses_a_planted_link_at_its_default_name(both_runs, vae_run, tmp_path,
                                                                                 program):
    import shutil
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    from gans.cli import main as gans_main
    outside = user_files(tmp_path)
    out = tmp_path / "run"
    shutil.copytree(both_runs / ("vae" if program == "autoencoders" else "gan"), out)
    name = "samples-n8-seed0.png"
    os.symlink(outside / "precious.txt", out / name)
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(["sample", out / "checkpoint.npz", "--n", "8", "--seed", "0"],
                                  gans_main if program == "gans" else None)
    assert code == 2 and error_lines(stderr) == [
        f"{program}: error: --out {out / name} exists and is a symbolic link, not a regular file; it is left as it "
        "is: choose another --out"], stderr
    assert outside_as_it_was(outside)


@pytest.mark.parametrize("flock", [True, False])
def test_a_lock_that_is_a_hard_link_to_the_user_s_file_is_refused_and_the_file_untouched(tmp_path, monkeypatch, flock):
    """O_NOFOLLOW stops a symbolic link, not a hard link: a .lock that is another name of the user's file
    would have the pid written into that file. A lock file with more than one name is refused."""
    if not flock:
        monkeypatch.setattr(runfolder, "fcntl", None)
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.link(tmp_path / "precious.txt", folder / ".lock")
    with pytest.raises(OutputError) as caught:
        RunFolder(folder).__enter__()
    if flock:
        assert str(caught.value) == (f"--out {folder}: its lock file {folder / '.lock'} has 2 names (a hard link to "
                                     "another file), so it is not only the lock; it is left as it is: remove it, or "
                                     "choose another --out")
    else:  # without flock the file's presence is the lock: the user's text is no live run's pid
        assert "is in use by another run" in str(caught.value)
    assert (tmp_path / "precious.txt").read_text() == "the user's"
    assert os.path.samefile(folder / ".lock", tmp_path / "precious.txt")


# --- 9. the remaining cases of the full disk, the linked lock and Ghostscript, end to end -------------------
@pytest.mark.parametrize("figure", ["write_progress_gif", "plot_gan_losses"])
def test_a_full_disk_during_a_gan_report_is_one_line_and_the_old_run_intact(both_runs, tmp_path, monkeypatch, figure):
    import errno
    import shutil
    import gans.cli as cli
    from helpers_autoencoders import cli_sandbox, error_lines, run_cli
    out = tmp_path / "run"
    shutil.copytree(both_runs / "gan", out)
    before = snapshot_folder(out)
    name = {"write_progress_gif": "progress.gif", "plot_gan_losses": "losses.png"}[figure]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(cli.figures, figure, lambda *args, **kwargs: cli.atomic_write(
        os.path.join(os.path.dirname(args[1]), name), lambda handle: full()))
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(["train", "--epochs", "1", "--limit", "32", "--batch-size", "16", "--out", out,
                                   "--quiet"], cli.main)
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 1 and len(lines) == 1 and f"could not write {out / name} (No space left on device)" in lines[0], \
        stderr
    assert snapshot_folder(out) == before and not any(entry.startswith(".") for entry in os.listdir(out))


def test_a_file_size_limit_at_an_autoencoder_sample_is_one_line_and_the_old_file_intact(both_runs, vae_run, tmp_path):
    target = tmp_path / "samples.png"
    target.write_bytes(b"the old samples")
    done = limited_run(["autoencoders", "sample", vae_run / "checkpoint.npz", "--n", "64", "--out", target], 2_000,
                       both_runs / "data", tmp_path)
    full_disk_line(done, "autoencoders", str(target))
    assert target.read_bytes() == b"the old samples" and sorted(os.listdir(tmp_path)) == ["samples.png"]


def test_plot_into_a_folder_whose_lock_is_a_link_is_refused_in_one_line(both_runs, tmp_path):
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.symlink(tmp_path / "precious.txt", folder / ".lock")
    done = run_cli("autoencoders", "plot", str(both_runs / "ae" / "checkpoint.npz"), "--out", str(folder),
                   "--limit", "32", timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is a symbolic link" in done.stderr, done.stderr
    assert (tmp_path / "precious.txt").read_text() == "the user's" and os.listdir(folder) == [".lock"]


def test_an_eps_in_an_images_folder_never_starts_a_ghostscript_found_on_path(tmp_path):
    """End to end, as the attacker did it: a gs on PATH that records its start; train --images on a folder
    with an EPS file named .png refuses it in one line, and gs never ran."""
    bin_dir, ran = tmp_path / "bin", tmp_path / "gs-ran"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(f"#!/bin/sh\necho \"$@\" > {ran}\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    images = tmp_path / "images"
    images.mkdir()
    for index in range(4):
        write_png(images / f"b{index}.png", side=28)
    (images / "a.png").write_bytes(EPS)
    done = subprocess.run([sys.executable, "-m", "autoencoders", "train", "--images", str(images), "--epochs", "1",
                           "--out", str(tmp_path / "run"), "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "NN_OFFLINE": "1",
                               "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "it is really EPS" in done.stderr, done.stderr
    assert not ran.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["loss.png", "interrupted.npz"])
def test_a_link_planted_during_the_run_is_refused_at_the_commit_and_the_trained_state_kept(both_runs, tmp_path,
                                                                                           monkeypatch, name):
    """The files are checked before the work and again at the commit: a link that appears in between (the
    attacker is quick) is refused before any rename, the old run stays, and the trained model is not lost:
    it is kept as interrupted.npz (unless that is the planted name: then the one line says so much)."""
    import shutil
    import autoencoders.cli as cli
    from helpers_autoencoders import cli_sandbox, error_lines, load_npz, run_cli
    outside = user_files(tmp_path)
    out = tmp_path / "run"
    shutil.copytree(both_runs / "ae", out)
    before = snapshot_folder(out)

    def plant_during_the_report(*args, **kwargs):
        if os.path.lexists(out / name):
            os.unlink(out / name)  # the old run's file, swapped for a link
        os.symlink(outside / "precious.txt", out / name)
        return []
    monkeypatch.setattr(cli, "draw_figures", plant_during_the_report)
    with cli_sandbox(both_runs / "data", tmp_path):
        code, _, stderr = run_cli(["train", "--epochs", "1", "--limit", "32", "--out", out, "--quiet"])
    lines = [line for line in error_lines(stderr) if not line.startswith("note:")]
    assert code == 2 and len(lines) == 1 and f"{out / name} exists and is a symbolic link" in lines[0], stderr
    assert outside_as_it_was(outside) and os.path.islink(out / name)
    kept = {entry: data for entry, data in snapshot_folder(out).items() if entry not in (name, "interrupted.npz")}
    assert kept == {entry: data for entry, data in before.items() if entry != name}
    if name == "loss.png":
        assert lines[0].endswith(f"; the trained state is saved to {out / 'interrupted.npz'} (draw the figures with: "
                                 f"python -m autoencoders plot {out / 'interrupted.npz'} --out {out})")
        assert int(load_npz(out / "interrupted.npz")["epoch"]) == 1
    assert not any(entry.startswith(".") for entry in os.listdir(out))
