"""DataLoader over a torch-style map-style dataset (`__len__` + `__getitem__(i)`): batches, order and dtypes
compared with torch's own DataLoader; only indices 0..len-1 are ever read; the refusals, one line each;
torch's positional order; and datasets/ importing nothing from the engine."""
import ast
import inspect
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from datasets import DataLoader

REPO = Path(__file__).resolve().parent.parent


class Pairs:
    """(image, label) items: float32 images of shape (2, 3) whose first value is the index, Python int labels."""

    def __init__(self, count=11):
        self.count = count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        image = np.full((2, 3), 0.5, dtype=np.float32)
        image[0, 0] = index
        return image, index * 10


class Singles(Pairs):
    """One float32 array per item."""

    def __getitem__(self, index):
        return super().__getitem__(index)[0]


class Mixed(Pairs):
    """A list per item: a float32 vector, a NumPy int32, a Python float and a Python bool."""

    def __getitem__(self, index):
        return [np.arange(4, dtype=np.float32) + index, np.int32(index), index / 4, index % 2 == 0]


class Numbers(Pairs):
    """A plain Python int per item."""

    def __getitem__(self, index):
        return index * 3


def as_numpy(batch):
    """torch's batch as NumPy: a tensor as its array, a list (torch collates tuples into lists) as a tuple."""
    if isinstance(batch, (list, tuple)):
        return tuple(as_numpy(part) for part in batch)
    return batch.numpy()


def assert_same_batches(ours, theirs):
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs):
        other = as_numpy(other)
        mine, other = (mine, other) if isinstance(mine, tuple) else ((mine,), (other,))
        assert isinstance(mine, tuple) and len(mine) == len(other)
        for array, expected in zip(mine, other):
            assert isinstance(array, np.ndarray)
            assert array.dtype == expected.dtype and array.shape == expected.shape
            np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("dataset", [Pairs(), Singles(), Mixed(), Numbers(), Pairs(0), Pairs(1)],
                         ids=["pairs", "singles", "mixed", "numbers", "empty", "one"])
@pytest.mark.parametrize("batch_size, drop_last", [(4, False), (4, True), (1, False), (11, True), (20, False)])
def test_batches_match_torchs_dataloader_without_shuffling(dataset, batch_size, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    theirs = list(torch_data.DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=drop_last))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=drop_last)
    ours = list(loader)
    assert len(loader) == len(theirs)
    assert_same_batches(ours, theirs)


def test_dtypes_follow_torchs_default_collate():
    (vectors, int32s, floats, bools), = list(DataLoader(Mixed(3), batch_size=3, shuffle=False))
    assert (vectors.dtype, int32s.dtype, floats.dtype, bools.dtype) == (np.float32, np.int32, np.float64, np.bool_)
    images, labels = next(iter(DataLoader(Pairs(), batch_size=5, shuffle=False)))
    assert images.dtype == np.float32 and images.shape == (5, 2, 3) and labels.dtype == np.int64
    assert labels.tolist() == [0, 10, 20, 30, 40]


def test_a_tensor_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset
    dataset = TensorDataset(torch.arange(30, dtype=torch.float32).reshape(10, 3), torch.arange(10))
    assert_same_batches(list(DataLoader(dataset, 3, False)), list(TorchLoader(dataset, 3, False)))
    assert_same_batches(list(DataLoader(dataset, 3, False, drop_last=True)),
                        list(TorchLoader(dataset, 3, False, drop_last=True)))


def test_a_list_of_pairs_is_a_map_style_dataset():
    torch_data = pytest.importorskip("torch.utils.data")
    pairs = [Pairs()[index] for index in range(7)]
    assert_same_batches(list(DataLoader(pairs, batch_size=3, shuffle=False)),
                        list(torch_data.DataLoader(pairs, batch_size=3, shuffle=False)))


def test_positional_arguments_are_torchs():
    torch_data = pytest.importorskip("torch.utils.data")
    ours = list(inspect.signature(DataLoader).parameters.values())
    theirs = list(inspect.signature(torch_data.DataLoader).parameters.values())
    positional = [p.name for p in ours if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == [p.name for p in theirs if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert {p.name for p in theirs} <= {p.name for p in ours}
    assert_same_batches(list(DataLoader(Pairs(), 4, False, None, None, 0, None, False, True)),
                        list(torch_data.DataLoader(Pairs(), 4, False, None, None, 0, None, False, True)))


def test_shuffling_draws_from_the_seeded_generator_as_for_arrays():
    dataset = Pairs(23)
    images = np.stack([dataset[index][0] for index in range(23)])
    by_items, by_arrays = DataLoader(dataset, batch_size=5, seed=3), DataLoader(images, batch_size=5, seed=3)
    for _ in range(3):
        rows = [batch[0][:, 0, 0].astype(int) for batch in by_items]
        assert [len(r) for r in rows] == [5, 5, 5, 5, 3]
        np.testing.assert_array_equal(np.concatenate(rows), np.concatenate([b[:, 0, 0] for b in by_arrays]))
        assert sorted(np.concatenate(rows)) == list(range(23))
    for batch_images, batch_labels in DataLoader(dataset, batch_size=5, seed=3):
        np.testing.assert_array_equal(batch_labels, batch_images[:, 0, 0] * 10)
    assert by_items.epoch == 3
    assert [len(b[0]) for b in DataLoader(dataset, batch_size=5, seed=3, drop_last=True)] == [5, 5, 5, 5]


def test_shuffle_none_means_no_shuffle_as_in_torch():
    loader = DataLoader(Numbers(6), batch_size=6, shuffle=None, seed=1)
    assert next(iter(loader)).tolist() == [0, 3, 6, 9, 12, 15] and loader.shuffle is False


class Endless:
    """A __getitem__ that never raises IndexError, with a __len__ of 10: walking it by the old sequence
    protocol (list(), numpy.asarray, iter()) would never stop. Every index read is recorded."""

    def __init__(self):
        self.read = []

    def __len__(self):
        return 10

    def __getitem__(self, index):
        self.read.append(index)
        if len(self.read) > 1000:
            raise AssertionError("the loader walked past __len__")
        return np.float32(index), index


@pytest.mark.parametrize("shuffle", [False, True])
def test_only_indices_below_len_are_read(shuffle):
    dataset = Endless()
    loader = DataLoader(dataset, batch_size=3, shuffle=shuffle, seed=0)
    assert dataset.read == [] and len(loader) == 4
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [3, 3, 3, 1]
    assert sorted(dataset.read) == list(range(10)) and all(type(index) is int for index in dataset.read)
    assert sorted(np.concatenate([labels for _, labels in batches]).tolist()) == list(range(10))
    assert len(list(DataLoader(dataset, batch_size=4, drop_last=True))) == 2


class Lengthy(Pairs):
    def __init__(self, length):
        super().__init__()
        self.length = length

    def __len__(self):
        return self.length


@pytest.mark.parametrize("length, error, message", [
    (-1, ValueError, "Lengthy.__len__() must return a non-negative integer, got -1"),
    (2.5, TypeError, "Lengthy.__len__() must return a non-negative integer, got 2.5"),
    (True, TypeError, "Lengthy.__len__() must return a non-negative integer, got True"),
    ("10", TypeError, "Lengthy.__len__() must return a non-negative integer, got '10'"),
])
def test_a_bad_len_is_one_line(length, error, message):
    with pytest.raises(error) as caught:
        DataLoader(Lengthy(length))
    assert str(caught.value) == message


def test_a_numpy_integer_len_is_taken():
    assert len(DataLoader(Lengthy(np.int64(5)), batch_size=2)) == 3


class OnlyIter:
    def __iter__(self):
        return iter(range(3))


class OldStyle:
    def __getitem__(self, index):
        return np.zeros(2)


@pytest.mark.parametrize("dataset, name", [(OnlyIter(), "OnlyIter"), (OldStyle(), "OldStyle"),
                                           ((i for i in range(3)), "generator")])
def test_an_iterable_without_len_is_refused_in_one_line(dataset, name):
    with pytest.raises(TypeError) as caught:
        DataLoader(dataset)
    assert str(caught.value) == (f"DataLoader needs a map-style dataset (with __len__ and __getitem__) or arrays; "
                                 f"{name} has no __len__ (iterable-style datasets are not supported)")


class Items:
    """A map-style dataset over given items."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


class Ragged(Pairs):
    def __getitem__(self, index):
        return np.zeros(4 if index == 5 else 3, dtype=np.float32), index


def test_items_of_different_shapes_name_the_first_that_differs():
    with pytest.raises(ValueError) as caught:
        list(DataLoader(Ragged(), batch_size=4, shuffle=False))
    assert str(caught.value) == ("dataset items differ in shape in field 0: item 4 has (3,), item 5 has (4,); "
                                 "items of one batch must have one shape")
    singles = [np.zeros(3), np.zeros(3), np.zeros((3, 1))]
    with pytest.raises(ValueError) as caught:
        list(DataLoader(Items(singles), batch_size=3, shuffle=False))
    assert str(caught.value) == ("dataset items differ in shape: item 0 has (3,), item 2 has (3, 1); "
                                 "items of one batch must have one shape")


@pytest.mark.parametrize("items, message", [
    ([(1, 2), (3,)], "dataset items differ: item 0 is a tuple of 2, item 1 is a tuple of 1"),
    ([(1, 2), np.zeros(2)], "dataset items differ: item 0 is a tuple of 2, item 1 is a ndarray of shape (2,)"),
    ([(1, None), (2, None)], "cannot batch item 0 in field 1: a NoneType; items must be arrays or numbers, "
                             "or tuples/lists of them"),
])
def test_items_that_cannot_be_stacked_are_one_line(items, message):
    with pytest.raises((ValueError, TypeError)) as caught:
        list(DataLoader(Items(items), batch_size=2, shuffle=False))
    assert str(caught.value) == message


def test_labels_go_with_arrays_only():
    with pytest.raises(ValueError) as caught:
        DataLoader(Pairs(), labels=np.arange(11))
    assert str(caught.value) == "labels= goes with arrays; a map-style dataset's items carry their own labels"


def test_the_transform_applies_to_the_first_field():
    batches = list(DataLoader(Pairs(4), batch_size=2, shuffle=False, transform=lambda images: images + 1))
    assert [labels.tolist() for _, labels in batches] == [[0, 10], [20, 30]]
    assert batches[1][0][:, 0, 0].tolist() == [3.0, 4.0]
    assert next(iter(DataLoader(Singles(2), batch_size=2, shuffle=False, transform=np.negative)))[1, 0, 0] == -1


def test_gpu_copies_each_batch_of_a_dataset(monkeypatch):
    moved = []

    def asarray(array):
        moved.append(array.shape)
        return array

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(asarray=asarray))
    batches = list(DataLoader(Pairs(5), batch_size=2, shuffle=False, device="gpu"))
    assert len(batches) == 3 and moved == [(2, 2, 3), (2,), (2, 2, 3), (2,), (1, 2, 3), (1,)]


TORCH_ONLY = [("sampler", [0, 1]), ("batch_sampler", [[0, 1]]), ("num_workers", 2), ("collate_fn", list),
              ("pin_memory", True), ("timeout", 5), ("worker_init_fn", print), ("multiprocessing_context", "spawn"),
              ("generator", object()), ("prefetch_factor", 2), ("persistent_workers", True),
              ("pin_memory_device", "cuda"), ("in_order", False)]


@pytest.mark.parametrize("name, value", TORCH_ONLY, ids=[name for name, _ in TORCH_ONLY])
def test_torch_parameters_not_implemented_are_refused_by_name(name, value):
    with pytest.raises(ValueError) as caught:
        DataLoader(Pairs(), **{name: value})
    text = str(caught.value)
    assert text.startswith(f"DataLoader does not implement torch's {name}= (got ") and "\n" not in text
    if name == "generator":
        assert text.endswith("leave it at None; pass seed= for a reproducible shuffle")


def test_torch_parameters_at_their_defaults_are_accepted():
    torch_data = pytest.importorskip("torch.utils.data")
    defaults = {p.name: p.default for p in inspect.signature(torch_data.DataLoader).parameters.values()
                if p.name in dict(TORCH_ONLY)}
    assert set(defaults) == set(dict(TORCH_ONLY))
    assert len(list(DataLoader(Pairs(), batch_size=4, **defaults))) == 3
    assert len(list(DataLoader(np.zeros((5, 2)), batch_size=2, num_workers=0, pin_memory=False, timeout=0.0))) == 3


def test_labels_given_in_the_old_second_place_say_to_name_them():
    with pytest.raises(ValueError) as caught:
        DataLoader(np.zeros((3, 2)), np.arange(3))
    assert str(caught.value) == ("batch_size must be a positive integer, got array([0, 1, 2]); labels are passed "
                                 "by name, labels=..., since batch_size is the second positional argument as in torch")


def test_datasets_imports_nothing_from_the_engine_anywhere():
    for path in sorted((REPO / "datasets").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not [n for n in names if n.partition(".")[0] == "nn"], f"{path.name}:{node.lineno} imports nn"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                assert not (node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "nn")
