"""One's own images: `datasets.load_images` (folders of PNG/JPEG, .npy arrays), its scaling rules, the
seeded split, limits and bad files; and `python -m autoencoders train --images` end to end."""
import json

import numpy as np
import pytest
from PIL import Image

from datasets import DataError, images as images_module, load_images, words
from helpers_autoencoders import cli_sandbox_without_data, error_lines, run_cli


def write_folder(folder, count=12, side=20, seed=0, suffix=".png", mode="L"):
    """`count` random square images; returns their uint8 grayscale pixels in file-name order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (count, side, side), dtype=np.uint8)
    for index, image in enumerate(pixels):
        picture = Image.fromarray(image)
        if mode != "L":
            picture = picture.convert(mode)
        picture.save(folder / f"img{index:03d}{suffix}")
    return pixels


def all_rows(train, test):
    return np.concatenate([train.images, test.images])


def test_folder_of_pngs_is_scaled_by_255_and_split_by_the_seed(tmp_path):
    pixels = write_folder(tmp_path / "faces", count=30)
    (tmp_path / "faces" / "notes.txt").write_text("ignored")
    train, test = load_images(tmp_path / "faces", seed=3)
    assert (len(train), len(test)) == (27, 3) and train.labels is None and test.labels is None
    assert train.images.dtype == np.float32 and train.images.shape == (27, 400)
    expected = {row.tobytes() for row in (pixels.reshape(30, -1) / np.float32(255)).astype(np.float32)}
    got = [row.tobytes() for row in all_rows(train, test)]
    assert set(got) == expected and len(set(got)) == 30  # every image once: train and test are disjoint
    again_train, again_test = load_images(tmp_path / "faces", seed=3)
    np.testing.assert_array_equal(again_test.images, test.images)
    other_train, other_test = load_images(tmp_path / "faces", seed=4)
    assert not np.array_equal(other_test.images, test.images)
    assert load_images(tmp_path / "faces", flatten=False)[0].images.shape == (27, 20, 20)


def test_color_jpeg_becomes_grayscale(tmp_path):
    write_folder(tmp_path / "photos", count=4, side=16, suffix=".JPG", mode="RGB")
    train, test = load_images(tmp_path / "photos")
    assert train.images.shape[1] == 256 and 0 <= all_rows(train, test).min() and all_rows(train, test).max() <= 1


@pytest.mark.parametrize("array, expected", [
    (np.array([[[0, 255], [51, 102]]] * 3, dtype=np.uint8), [0, 1, 0.2, 0.4]),
    (np.array([[[0, 65535], [13107, 0]]] * 3, dtype=np.uint16), [0, 1, 0.2, 0]),
    (np.array([[[0, 255], [51, 102]]] * 3, dtype=np.int64), [0, 1, 0.2, 0.4]),
    (np.array([[[False, True], [True, False]]] * 3), [0, 1, 1, 0]),
    (np.array([[[0.0, 1.0], [0.25, 0.5]]] * 3), [0, 1, 0.25, 0.5]),
    (np.array([[0.0, 1.0, 0.25, 0.5]] * 3, dtype=np.float32), [0, 1, 0.25, 0.5]),  # (N, H*W)
], ids=["uint8", "uint16", "int64", "bool", "float64", "flat-float32"])
def test_npy_scaling_rules(tmp_path, array, expected):
    np.save(tmp_path / "a.npy", array)
    train, test = load_images(tmp_path / "a.npy")
    assert train.images.dtype == np.float32
    np.testing.assert_allclose(train.images[0], expected, rtol=1e-6)


@pytest.mark.parametrize("array, fragment", [
    (np.full((3, 2, 2), 2.0), r"float values must be finite and in \[0, 1\] \(found 2..2\)"),
    (np.array([[[np.nan, 0.5]] * 2] * 3), "and NaN or inf"),
    (np.full((3, 2, 2), 300, dtype=np.int32), "outside 0..255"),
    (np.zeros((3, 2, 3)), r"shape \(3, 2, 3\) is not \(N, H, W\) with H == W"),
    (np.zeros((3, 5)), r"shape \(3, 5\) is not"),
    (np.zeros((1, 2, 2)), "holds 1 image"),
    (np.zeros((3, 2, 2), dtype=complex), "dtype complex128 is not pixel values"),
    (np.array([None] * 3), "not a readable .npy array"),
], ids=["float-range", "nan", "int-range", "not-square", "flat-not-square", "one-image", "complex", "pickle"])
def test_bad_npy_arrays_are_one_line_naming_the_file(tmp_path, array, fragment):
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    with pytest.raises(DataError, match=fragment) as caught:
        load_images(tmp_path / "bad.npy")
    assert str(tmp_path / "bad.npy") in str(caught.value) and "\n" not in str(caught.value)


def test_truncated_npy_is_one_line(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((50, 8, 8), np.uint8))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-100])
    with pytest.raises(DataError, match="not a readable .npy array"):
        load_images(tmp_path / "a.npy")


@pytest.mark.parametrize("damage, fragment", [
    ("garbage", "not a PNG or JPEG image Pillow can read"),
    ("size", "12x12 pixels, but img000.png is 20x20"),
    ("truncated", "cannot be decoded as an image"),
], ids=["garbage", "other-size", "truncated"])
def test_bad_image_files_are_one_line_naming_the_file(tmp_path, damage, fragment):
    write_folder(tmp_path / "f", count=4)
    bad = tmp_path / "f" / "img002.png"
    if damage == "garbage":
        bad.write_bytes(b"not an image at all")
    elif damage == "size":
        Image.fromarray(np.zeros((12, 12), np.uint8)).save(bad)
    else:
        bad.write_bytes(bad.read_bytes()[:120])
    with pytest.raises(DataError, match=fragment) as caught:
        load_images(tmp_path / "f")
    assert str(caught.value).startswith(str(bad)) and "\n" not in str(caught.value)


def test_folder_problems(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .png, .jpg or .jpeg files") as caught:
        load_images(tmp_path / "empty")
    assert "load_images(path)" in str(caught.value) and "--images PATH" in caught.value.say(words.CLI)
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "wide.png")
    (tmp_path / "wide").mkdir()
    (tmp_path / "wide.png").rename(tmp_path / "wide" / "a.png")
    with pytest.raises(DataError, match="10 pixels, not square|12x10 pixels, not square"):
        load_images(tmp_path / "wide")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match="neither a folder of PNG/JPEG files nor a .npy file"):
        load_images(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        load_images(tmp_path / "absent")


def test_limit_decodes_only_what_it_keeps(tmp_path, monkeypatch):
    write_folder(tmp_path / "f", count=40)
    opened = []
    real = images_module._ImageFolder._read_one
    monkeypatch.setattr(images_module._ImageFolder, "_read_one", lambda self, path: opened.append(path) or real(self, path))
    train, test = load_images(tmp_path / "f", limit=3)
    assert (len(train), len(test)) == (3, 3) and len(opened) == 6
    full_train, full_test = load_images(tmp_path / "f")
    np.testing.assert_array_equal(test.images, full_test.images[:3])  # the held-out set does not move


def test_size_limits_are_stated_and_checked_before_decoding(tmp_path, monkeypatch):
    np.save(tmp_path / "a.npy", np.zeros((100, 8, 8), np.uint8))
    monkeypatch.setattr(images_module, "MAX_PIXELS", 64 * 50)
    with pytest.raises(DataError, match="100 images of 8x8 pixels are 6,400 pixels, more than the 3,200") as caught:
        load_images(tmp_path / "a.npy")
    assert "pass limit=N" in str(caught.value) and "add --limit N" in caught.value.say(words.CLI)
    assert len(load_images(tmp_path / "a.npy", limit=20)[0]) == 20
    monkeypatch.setattr(images_module, "MAX_IMAGES", 99)
    with pytest.raises(DataError, match="holds 100 images, more than the 99 accepted"):
        load_images(tmp_path / "a.npy")
    monkeypatch.setattr(images_module, "MAX_SIDE", 4)
    with pytest.raises(DataError, match="images of 8x8 pixels; sides from 1 to 4"):
        load_images(tmp_path / "a.npy")


@pytest.mark.parametrize("arguments, fragment", [
    ({"test_fraction": 0.0}, "test_fraction must be a float in"),
    ({"test_fraction": 1.0}, "test_fraction must be a float in"),
    ({"test_fraction": "0.1"}, "test_fraction must be a float in"),
    ({"limit": 0}, "limit must be a positive integer"),
    ({"limit": True}, "limit must be a positive integer"),
])
def test_bad_arguments(tmp_path, arguments, fragment):
    np.save(tmp_path / "a.npy", np.zeros((4, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=fragment):
        load_images(tmp_path / "a.npy", **arguments)


# --- the command line ------------------------------------------------------------------------------------
@pytest.fixture
def sandbox(tmp_path):
    with cli_sandbox_without_data(tmp_path) as downloads:
        yield tmp_path
    assert downloads == []


@pytest.mark.parametrize("model, source", [("deep", "folder"), ("conv", "npy"), ("vae", "npy")])
def test_train_evaluate_plot_on_own_images(sandbox, model, source):
    if source == "folder":
        write_folder(sandbox / "mine", count=24, side=20)
        path = sandbox / "mine"
    else:
        np.save(sandbox / "mine.npy", np.random.default_rng(1).random((24, 16 * 16)))
        path = sandbox / "mine.npy"
    out = sandbox / "run"
    code, stdout, stderr = run_cli(["train", "--images", path, "--model", model, "--epochs", 1, "--limit", 16,
                                    "--quiet", "--out", out])
    assert code == 0, stderr
    assert "train: 16 images from" in stdout and " test: 3 images from" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    side = 20 if source == "folder" else 16
    assert metrics["config"]["image_size"] == side and metrics["config"]["dataset"] == "images"
    assert "per_digit_test_mse" not in metrics and metrics["final_test_mse"] > 0
    assert {"loss.png", "reconstructions.png", "latent.png"} <= {p.name for p in out.iterdir()}
    code, stdout, stderr = run_cli(["evaluate", out / "checkpoint.npz"])
    assert code == 0, stderr
    assert "test MSE:" in stdout and "digit" not in stdout
    code, _, stderr = run_cli(["plot", out / "checkpoint.npz", "--out", sandbox / "plots"])
    assert code == 0 and (sandbox / "plots" / "latent.png").is_file(), stderr
    np.save(sandbox / "other.npy", np.zeros((5, 12, 12), np.uint8))
    code, _, stderr = run_cli(["evaluate", out / "checkpoint.npz", "--images", sandbox / "other.npy"])
    assert code == 2 and error_lines(stderr) == [
        f"autoencoders: error: --images {sandbox / 'other.npy'} are 12x12 pixels, but the model takes "
        f"{side}x{side} images; give images of that size"]


@pytest.mark.parametrize("setup, options, fragment", [
    ("folder-bad", [], "img001.png: not a PNG or JPEG image Pillow can read"),
    ("npy-18", ["--model", "conv"], "--model conv halves the image twice, so its side must be a multiple of 4; "
                                    "the --images are 18x18"),
    ("none", [], "--images {path}: no such file or folder"),
    ("npy-18", ["--dataset", "mnist"], "--dataset mnist and --images {path} both choose the data"),
    ("npy-floats", [], "float values must be finite and in [0, 1]"),
])
def test_bad_images_on_the_command_line_are_one_line(sandbox, setup, options, fragment):
    path = sandbox / "in"
    if setup == "folder-bad":
        write_folder(path, count=4)
        (path / "img001.png").write_bytes(b"junk")
    elif setup == "npy-18":
        path = sandbox / "in.npy"
        np.save(path, np.zeros((5, 18, 18), np.uint8))
    elif setup == "npy-floats":
        path = sandbox / "in.npy"
        np.save(path, np.full((5, 4, 4), 7.0))
    code, _, stderr = run_cli(["train", "--images", path, *options, "--epochs", 1, "--quiet", "--out", sandbox / "o"])
    lines = error_lines(stderr)
    assert code == 2 and len(lines) == 1, stderr
    assert fragment.format(path=path) in lines[0]
    assert not (sandbox / "o" / "checkpoint.npz").exists()
