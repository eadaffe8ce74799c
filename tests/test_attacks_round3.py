"""Round 3 of the attackers' findings: each test fails on the code before its fix."""
import os
import subprocess
import sys

import pytest

import common.runfolder as runfolder
from common.runfolder import OutputError, RunFolder

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
