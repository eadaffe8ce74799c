"""DataLoader's collate of a map-style dataset's items, its refusals of torch-only arguments, and the
16-bit gray reader of datasets/images.py: exact batches and exact one-line messages."""
import numpy as np
import pytest

from datasets import DataLoader
from datasets.dataloader import _short
from datasets.images import _gray


class Items:
    """A map-style dataset of the given items."""

    def __init__(self, *items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def one_batch(*items):
    batches = list(DataLoader(Items(*items), batch_size=len(items), shuffle=False))
    assert len(batches) == 1
    return batches[0]


class OnlyArray:
    """Has __array__ and nothing else NumPy reads (no shape)."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


def test_strings_batch_as_a_list_beside_their_labels():
    words, labels = one_batch(("one", 1), ("two", 2))
    assert words == ["one", "two"] and labels.tolist() == [1, 2]


def test_items_numpy_reads_through_array_or_a_buffer_are_stacked():
    np.testing.assert_array_equal(one_batch(OnlyArray([1, 2]), OnlyArray([3, 4])), [[1, 2], [3, 4]])
    batch = one_batch(memoryview(bytes([1, 2])), memoryview(bytes([3, 4])))  # a shape, but no __array__
    assert batch.dtype == np.uint8 and batch.tolist() == [[1, 2], [3, 4]]
    mixed = one_batch(1, np.int64(2))  # a Python int beside a NumPy one: both numbers
    assert mixed.tolist() == [1, 2]


def test_an_item_that_is_not_an_array_or_a_number_is_refused_naming_it():
    with pytest.raises(TypeError) as caught:
        one_batch(1, "two")
    assert str(caught.value) == ("cannot batch item 1: a str; items must be arrays or numbers, "
                                 "or tuples/lists of them")


def test_a_list_of_rows_is_one_array_and_the_loader_keeps_it_as_its_dataset():
    loader = DataLoader([[1, 2], [3, 4], [5, 6]], batch_size=2, shuffle=False)
    assert [batch.tolist() for batch in loader] == [[[1, 2], [3, 4]], [[5, 6]]]
    images = np.arange(6).reshape(3, 2)
    assert DataLoader(images).dataset is images


@pytest.mark.parametrize("name,value,message", [
    ("num_workers", 2, "(got 2); leave it at 0; batches are made in this process"),
    ("pin_memory", True, "(got True); leave it at False"),
    ("pin_memory_device", 0, "(got 0); leave it at ''"),                   # not a string where torch's is one
    ("in_order", np.array([True, True]), "(got array([ True,  True])); leave it at True"),  # == has no one truth
])
def test_a_torch_only_argument_off_its_default_is_refused_in_one_line(name, value, message):
    with pytest.raises(ValueError) as caught:
        DataLoader(np.zeros((2, 2)), **{name: value})
    assert str(caught.value) == f"DataLoader does not implement torch's {name}= {message}"


def test_short_shows_a_repr_on_one_line_and_cuts_it_at_80_characters():
    assert _short(np.zeros((2, 2))) == repr(np.zeros((2, 2))).replace("\n", " ")
    assert _short("a" * 78) == repr("a" * 78)  # 80 characters: whole
    assert _short("a" * 79) == "'" + "a" * 76 + "..."  # 81: cut to 77 and the dots
    assert len(_short("a" * 200)) == 80


def gray_image(values):
    from PIL import Image
    return Image.fromarray(np.asarray(values, dtype=np.int32), mode="I")


def test_32_bit_gray_pixels_from_0_to_65535_read_as_uint16():
    pytest.importorskip("PIL")
    values = _gray(gray_image([[0, 65535], [1, 300]]))
    assert values.dtype == np.uint16 and values.tolist() == [[0, 65535], [1, 300]]


@pytest.mark.parametrize("low,high", [(-1, 5), (0, 65536)])
def test_32_bit_gray_pixels_outside_0_to_65535_are_refused_with_their_span(low, high):
    pytest.importorskip("PIL")
    with pytest.raises(ValueError) as caught:
        _gray(gray_image([[low, high]]))
    assert str(caught.value) == f"32-bit integer pixels span {low}..{high}, outside 0..65535"


def test_an_empty_32_bit_gray_image_reads_as_an_empty_uint16_array():
    Image = pytest.importorskip("PIL.Image")
    values = _gray(Image.new("I", (0, 0)))
    assert values.shape == (0, 0) and values.dtype == np.uint16


def test_a_file_that_cannot_be_opened_is_named_so(tmp_path):
    pytest.importorskip("PIL")
    from datasets.images import _real_format
    assert _real_format(tmp_path) == "it cannot be read"  # a folder: open() refuses it


def test_a_signature_test_that_raises_does_not_end_the_search_for_the_real_format(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    from datasets.images import _real_format

    def cannot_judge(prefix):
        raise ValueError("too short for this plugin")

    Image.init()
    monkeypatch.setattr(Image, "OPEN", {"BROKEN": (None, cannot_judge), **Image.OPEN})
    path = tmp_path / "digit.png"
    path.write_bytes(b"GIF89a" + bytes(20))
    assert _real_format(path) == "it is really GIF"


@pytest.mark.parametrize("value,shown", [(5, "array(5)"), ("digits", "array('digits', dtype='<U6')")])
def test_a_scalar_or_a_string_is_refused_naming_it(value, shown):
    with pytest.raises(ValueError) as caught:
        DataLoader(value)
    assert str(caught.value) == f"images must be an array with a batch axis first, got a scalar {shown}"
