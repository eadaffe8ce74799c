"""DataLoader at its edges: its defaults, every refusal's whole sentence, plain lists taken as arrays,
each state key missing alone, the epoch counter, and the GPU path's words when the engine is missing.
Found by mutation testing (python -m tests.mutation.mutants --targets datasets)."""
import sys

import numpy as np
import pytest

from datasets import DataLoader


def test_the_defaults_are_batches_of_32_shuffled_and_the_short_last_one_kept():
    images = np.arange(100)
    loader = DataLoader(images, seed=0)
    batches = list(loader)
    assert [len(batch) for batch in batches] == [32, 32, 32, 4] and len(loader) == 4
    assert sorted(np.concatenate(batches).tolist()) == list(range(100))
    assert not np.array_equal(np.concatenate(batches), images)  # shuffled
    assert (loader.batch_size, loader.shuffle, loader.drop_last, loader.transform, loader.device) == (
        32, True, False, None, "cpu")


def test_a_batch_size_of_one_and_of_exactly_n():
    assert [batch.tolist() for batch in DataLoader([5, 6, 7], batch_size=1, shuffle=False)] == [[5], [6], [7]]
    assert [batch.tolist() for batch in DataLoader([5, 6, 7], batch_size=3, shuffle=False, drop_last=True)] == [
        [5, 6, 7]]


def test_lists_are_taken_as_arrays_and_paired_row_for_row():
    loader = DataLoader([[1, 2], [3, 4], [5, 6]], labels=[10, 30, 50], batch_size=2, shuffle=False)
    (first_images, first_labels), (last_images, last_labels) = list(loader)
    assert isinstance(first_images, np.ndarray) and isinstance(first_labels, np.ndarray)
    assert first_images.tolist() == [[1, 2], [3, 4]] and first_labels.tolist() == [10, 30]
    assert last_images.tolist() == [[5, 6]] and last_labels.tolist() == [50]
    assert loader.batch_size == 2 and type(loader.batch_size) is int


def test_numpy_integers_are_batch_sizes():
    loader = DataLoader(np.arange(10), batch_size=np.int64(4), shuffle=False)
    assert type(loader.batch_size) is int and [len(batch) for batch in loader] == [4, 4, 2]


@pytest.mark.parametrize("arguments, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.0}, "batch_size must be a positive integer, got 2.0"),
    ({"batch_size": False}, "batch_size must be a positive integer, got False"),
    ({"labels": [1, 2]}, "images and labels differ in length: 3 images, 2 labels"),
    ({"device": "cuda"}, "device must be 'cpu' or 'gpu', got 'cuda'"),
    ({"device": None}, "device must be 'cpu' or 'gpu', got None"),
    ({"transform": 3}, "transform must be a callable applied to each image batch, got 3"),
])
def test_refusals_are_whole_sentences_naming_the_value(arguments, message):
    with pytest.raises(ValueError) as caught:
        DataLoader(np.zeros((3, 2)), **arguments)
    assert str(caught.value) == message


def test_a_scalar_is_not_a_batch_of_images():
    with pytest.raises(ValueError) as caught:
        DataLoader(np.float32(3.0))
    assert str(caught.value) == f"images must be an array with a batch axis first, got a scalar {np.float32(3.0)!r}"
    with pytest.raises(ValueError, match="got a scalar array\\(7\\)"):
        DataLoader(7)


@pytest.mark.parametrize("missing", ["epoch", "generator"])
def test_a_state_missing_one_key_names_it(missing):
    loader = DataLoader(np.arange(10), seed=1)
    state = loader.state_dict()
    del state[missing]
    with pytest.raises(ValueError) as caught:
        loader.load_state_dict(state)
    assert str(caught.value) == (f"DataLoader state lacks ['{missing}']; pass the dict DataLoader.state_dict() "
                                 "returned")


def test_the_epoch_counts_iterations_and_is_restored_as_an_int():
    loader = DataLoader(np.arange(10), batch_size=4, seed=2)
    assert loader.epoch == 0
    iter(loader)
    iter(loader)
    assert loader.epoch == 2 and set(loader.state_dict()) == {"epoch", "generator"}
    state = loader.state_dict()
    state["epoch"] = np.int64(7)
    other = DataLoader(np.arange(10), batch_size=4, seed=99)
    other.load_state_dict(state)
    assert other.epoch == 7 and type(other.epoch) is int
    assert [b.tolist() for b in other] == [b.tolist() for b in loader]


def test_without_shuffle_the_generator_is_not_drawn():
    loader = DataLoader(np.arange(10), shuffle=False, seed=3)
    before = loader.state_dict()["generator"]
    list(loader)
    assert loader.state_dict()["generator"] == before and loader.epoch == 1


def test_gpu_without_cupy_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # "import cupy" now fails as if CuPy were not installed
    with pytest.raises(ImportError) as caught:
        DataLoader(np.zeros((3, 2)), device="gpu")
    assert str(caught.value).startswith("device='gpu' needs CuPy, which is not installed (")
    assert str(caught.value).endswith("); install the GPU extra with: pip install -e .[gpu]")


class ShapedLabels:
    """Labels that are already an array of some library (they have a shape) and refuse NumPy's conversion,
    as CuPy arrays do: the loader must keep them as they are."""

    shape = (3,)

    def __len__(self):
        return 3

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def test_labels_with_a_shape_are_kept_as_they_are():
    labels = ShapedLabels()
    assert DataLoader(np.zeros((3, 2)), labels=labels).labels is labels


def test_gpu_without_labels_moves_only_the_images(monkeypatch):
    import types
    moved = []
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(asarray=lambda array: moved.append(
        array.shape) or array))
    loader = DataLoader(np.zeros((4, 2)), batch_size=2, shuffle=False, device="gpu")
    assert loader.labels is None and moved == [(4, 2)]
