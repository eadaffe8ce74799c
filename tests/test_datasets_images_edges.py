"""datasets.load_images at its edges and in whole sentences: the split sizes (ceil, at least two test
images), each limit exactly at its bound, every refusal's full message with the values it names, and
the rows read back in the permuted order. Found by mutation testing (python -m tests.mutation.mutants
--targets datasets): the other image tests match fragments and stay well inside the limits."""
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from datasets import DataError, images as images_module, load_images, words
from datasets.images import image_side, scale


def save(tmp_path, array, name="a.npy"):
    np.save(tmp_path / name, array)
    return tmp_path / name


@pytest.mark.parametrize("count, fraction, test_count", [(2, 0.1, 1), (3, 0.1, 2), (11, 0.1, 2), (30, 0.1, 3),
                                                        (31, 0.1, 4), (20, 0.25, 5), (20, 0.99, 19)])
def test_the_test_set_is_ceil_of_the_fraction_at_least_two_and_leaves_one_for_training(tmp_path, count, fraction,
                                                                                       test_count):
    pixels = np.arange(count * 4, dtype=np.uint8).reshape(count, 2, 2)
    path = save(tmp_path, pixels)
    train, test = load_images(path, test_fraction=fraction, seed=5)
    assert (len(train), len(test)) == (count - test_count, test_count)
    order = np.random.default_rng(5).permutation(count)  # the documented split, row for row
    np.testing.assert_array_equal(test.images, pixels[order[:test_count]].reshape(test_count, 4) / np.float32(255))
    np.testing.assert_array_equal(train.images, pixels[order[test_count:]].reshape(-1, 4) / np.float32(255))
    assert (train.name, train.split, test.split) == ("a.npy", "train", "test")
    assert train.source == test.source == f"{path} ({count:,} images, 2x2, split with seed 5)"


@pytest.mark.parametrize("arguments, message", [
    ({"test_fraction": 0.0}, "test_fraction must be a float in (0, 1), got 0.0"),
    ({"test_fraction": 1.0}, "test_fraction must be a float in (0, 1), got 1.0"),
    ({"test_fraction": 1}, "test_fraction must be a float in (0, 1), got 1"),
    ({"limit": 0}, "limit must be a positive integer or None, got 0"),
    ({"limit": -2}, "limit must be a positive integer or None, got -2"),
    ({"limit": 2.0}, "limit must be a positive integer or None, got 2.0"),
    ({"limit": "2"}, "limit must be a positive integer or None, got '2'"),
])
def test_bad_arguments_are_named_with_their_value(tmp_path, arguments, message):
    path = save(tmp_path, np.zeros((4, 2, 2), np.uint8))
    with pytest.raises(ValueError) as caught:
        load_images(path, **arguments)
    assert str(caught.value) == message


def test_a_limit_of_one_keeps_one_of_each(tmp_path):
    train, test = load_images(save(tmp_path, np.zeros((9, 2, 2), np.uint8)), limit=1)
    assert (len(train), len(test)) == (1, 1)


def test_counts_at_and_past_the_limits(tmp_path, monkeypatch):
    one = save(tmp_path, np.zeros((1, 2, 2), np.uint8), "one.npy")
    with pytest.raises(DataError) as caught:
        load_images(one)
    assert str(caught.value) == f"{one} holds 1 image(s); a train and a test set need at least 2"
    monkeypatch.setattr(images_module, "MAX_IMAGES", 5)
    assert sum(map(len, load_images(save(tmp_path, np.zeros((5, 2, 2), np.uint8), "five.npy")))) == 5
    six = save(tmp_path, np.zeros((6, 2, 2), np.uint8), "six.npy")
    with pytest.raises(DataError) as caught:
        load_images(six)
    assert str(caught.value) == f"{six} holds 6 images, more than the 5 accepted; use a part of them"


def test_pixels_exactly_at_the_limit_load_and_one_image_more_is_refused_in_both_vocabularies(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 4 * 1000)
    assert sum(map(len, load_images(save(tmp_path, np.zeros((1000, 2, 2), np.uint8), "fits.npy")))) == 1000
    path = save(tmp_path, np.zeros((1001, 2, 2), np.uint8))
    with pytest.raises(DataError) as caught:
        load_images(path)
    assert str(caught.value) == (f"{path}: 1,001 images of 2x2 pixels are 4,004 pixels, more than the 4,000 accepted "
                                 "(1 GiB as float32); pass limit=N to keep fewer")
    assert caught.value.say(words.CLI).endswith("; add --limit N to keep fewer")


def test_a_path_that_is_neither_a_folder_nor_npy_or_missing(tmp_path):
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError) as caught:
        load_images(tmp_path / "x.csv")
    assert str(caught.value) == (f"{tmp_path / 'x.csv'} is neither a folder of PNG/JPEG files nor a .npy file; "
                                 "give one of those to load_images(path)")
    assert caught.value.say(words.CLI).endswith("give one of those to --images PATH")
    with pytest.raises(FileNotFoundError) as caught:
        image_side(tmp_path / "absent.npy")
    assert str(caught.value) == f"{tmp_path / 'absent.npy'}: no such file or folder"


@pytest.mark.parametrize("values, message", [
    (np.array([[-1, 300]], np.int16), "integer values span -1..300, outside 0..255; store them as uint8 (0..255) "
                                      "or as floats in [0, 1]"),
    (np.array([[0, 256]], np.int32), "integer values span 0..256, outside 0..255; store them as uint8 (0..255) "
                                     "or as floats in [0, 1]"),
    (np.array([[-0.5, 2.0]]), "float values must be finite and in [0, 1] (found -0.5..2); scale them first, "
                              "e.g. x / x.max()"),
    (np.array([[0.5, np.inf]]), "float values must be finite and in [0, 1] (found 0.5..0.5, and NaN or inf); "
                                "scale them first, e.g. x / x.max()"),
    (np.array([[np.nan, np.nan]]), "float values must be finite and in [0, 1] (found none finite, and NaN or "
                                   "inf); scale them first, e.g. x / x.max()"),
    (np.array([["a", "b"]]), "dtype <U1 is not pixel values; use uint8, uint16, bool or floats in [0, 1]"),
])
def test_scale_refuses_values_it_cannot_place_in_0_1_naming_them(values, message):
    with pytest.raises(DataError) as caught:
        scale(values, "here")
    assert str(caught.value) == f"here: {message}"


@pytest.mark.parametrize("values, expected", [
    (np.array([0, 255], np.int16), [0, 1]), (np.array([0.0, 1.0], np.float64), [0, 1]),
    (np.array([], np.int32), []), (np.array([], np.float64), []),
    (np.array([65535, 0], np.uint16), [1, 0]), (np.array([True, False]), [1, 0]),
])
def test_scale_at_the_edges_of_each_range(values, expected):
    scaled = scale(values, "here")
    assert scaled.dtype == np.float32 and scaled.tolist() == expected


@pytest.mark.parametrize("shape, side", [((3, 4, 4), 4), ((3, 16), 4), ((3, 1, 1), 1), ((2, 1024, 1024), 1024)])
def test_npy_shapes_give_the_side(tmp_path, shape, side):
    assert image_side(save(tmp_path, np.zeros(shape, np.uint8))) == side


@pytest.mark.parametrize("shape, message", [
    ((3, 4, 5), "shape (3, 4, 5) is not (N, H, W) with H == W nor (N, H*W) of square images; reshape it to one of "
                "those"),
    ((3, 15), "shape (3, 15) is not (N, H, W) with H == W nor (N, H*W) of square images; reshape it to one of those"),
    ((3,), "shape (3,) is not (N, H, W) with H == W nor (N, H*W) of square images; reshape it to one of those"),
    ((3, 2, 2, 2), "shape (3, 2, 2, 2) is not (N, H, W) with H == W nor (N, H*W) of square images; reshape it to "
                   "one of those"),
    ((3, 0), "images of 0x0 pixels; sides from 1 to 1024 are accepted"),
    ((2, 1025, 1025), "images of 1025x1025 pixels; sides from 1 to 1024 are accepted"),
])
def test_npy_shapes_refused_name_the_shape(tmp_path, shape, message):
    path = save(tmp_path, np.zeros(shape, np.uint8))
    with pytest.raises(DataError) as caught:
        image_side(path)
    assert str(caught.value) == f"{path}: {message}"


def png(path, side, height=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height or side, side), 7, np.uint8)).save(path)


def test_a_folder_ignores_hidden_files_and_other_suffixes(tmp_path):
    for index in range(3):
        png(tmp_path / "f" / f"{index}.PNG", 4)
    (tmp_path / "f" / ".hidden.png").write_bytes(b"not an image")
    (tmp_path / "f" / "notes.txt").write_text("ignored")
    (tmp_path / "f" / "sub.png").mkdir()
    train, test = load_images(tmp_path / "f")
    assert len(train) + len(test) == 3 and (train.images == np.float32(7 / 255)).all()


def test_folder_messages_name_the_first_file_and_the_one_at_fault(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as caught:
        load_images(tmp_path / "empty")
    assert str(caught.value) == (f"{tmp_path / 'empty'} holds no .png, .jpg or .jpeg files; put images there, or "
                                 "give a .npy array to load_images(path)")
    png(tmp_path / "wide" / "a.png", 6, height=4)
    with pytest.raises(DataError) as caught:
        load_images(tmp_path / "wide")
    assert str(caught.value) == (f"{tmp_path / 'wide' / 'a.png'}: 6x4 pixels, not square; crop or resize the images "
                                 "to one square size")
    png(tmp_path / "huge" / "a.png", 1025)
    with pytest.raises(DataError) as caught:
        image_side(tmp_path / "huge")
    assert str(caught.value) == (f"{tmp_path / 'huge' / 'a.png'}: images of 1025x1025 pixels; sides from 1 to 1024 "
                                 "are accepted")
    for name in ("a", "b", "c"):
        png(tmp_path / "mixed" / f"{name}.png", 4)
    png(tmp_path / "mixed" / "b.png", 5, height=3)
    with pytest.raises(DataError) as caught:
        load_images(tmp_path / "mixed")
    assert str(caught.value) == (f"{tmp_path / 'mixed' / 'b.png'}: 5x3 pixels, but a.png is 4x4; all images must have "
                                 "one square size")
    (tmp_path / "mixed" / "b.png").write_bytes(b"garbage")
    with pytest.raises(DataError) as caught:
        load_images(tmp_path / "mixed")
    assert str(caught.value) == (f"{tmp_path / 'mixed' / 'b.png'}: not a PNG or JPEG image Pillow can read (its format "
                                 "is unknown); only PNG and JPEG files are read: convert it to PNG, or remove it from "
                                 "the folder")


def test_rows_come_back_in_the_order_asked_not_sorted(tmp_path):
    pixels = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    source = images_module._NpyImages(save(tmp_path, pixels))
    rows = np.array([3, 0, 4, 1])
    np.testing.assert_array_equal(source.read(rows), pixels[rows] / np.float32(255))
    assert math.isclose(float(source.read(np.array([2]))[0, 1, 1]), 11 / 255, rel_tol=1e-6)


def png_declaring(width, height):
    """A PNG whose header states `width` x `height` (its pixels are never there): enough for Pillow to
    read the size, and to refuse it as a decompression bomb when it is huge."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_an_image_pillow_refuses_to_open_and_one_it_cannot_decode_are_named(tmp_path):
    folder = tmp_path / "f"
    for name in ("a", "b", "c"):
        png(folder / f"{name}.png", 4)
    (folder / "a.png").write_bytes(png_declaring(30000, 30000))  # the first file: its size is read first
    with pytest.raises(DataError) as caught:
        image_side(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'a.png'}: cannot be read as an image (Image size (900000000 pixels) "
                              "exceeds limit") and message.endswith(")")
    (folder / "a.png").write_bytes(png_declaring(4, 4))  # a valid header, no pixels: fails only when decoded
    with pytest.raises(DataError) as caught:
        load_images(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'a.png'}: cannot be decoded as an image (") and message.endswith(")")


def test_a_damaged_npy_is_named_with_numpys_reason(tmp_path):
    path = tmp_path / "a.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError) as caught:
        load_images(path)
    assert str(caught.value).startswith(f"{path}: not a readable .npy array (") and str(caught.value).endswith(")")


def test_the_default_seed_is_zero(tmp_path):
    path = save(tmp_path, np.arange(40 * 4, dtype=np.uint8).reshape(40, 2, 2))
    assert np.array_equal(load_images(path)[1].images, load_images(path, seed=0)[1].images)
    assert not np.array_equal(load_images(path)[1].images, load_images(path, seed=1)[1].images)


def test_rows_that_cannot_be_read_are_named_with_the_reason(tmp_path):
    source = images_module._NpyImages(save(tmp_path, np.zeros((3, 2, 2), np.uint8)))

    class Gone:
        def __getitem__(self, rows):
            raise OSError("the disk went away")

    source.array = Gone()
    with pytest.raises(DataError) as caught:
        source.read(np.array([0, 1]))
    assert str(caught.value) == f"{tmp_path / 'a.npy'}: cannot be read (the disk went away)"
