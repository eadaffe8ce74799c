"""DataLoader: coverage of each epoch, seeded order, batching options, transforms, resuming, devices."""

import json
import sys
import types

import numpy as np
import pytest

from datasets import DataLoader

N = 103


def numbered(count=N):
    """Images whose first pixel is their row number, and labels that are 10x it: pairing is checkable."""
    images = np.zeros((count, 2, 3), dtype=np.float32)
    images[:, 0, 0] = np.arange(count)
    return images, np.arange(count) * 10


def paired(count=N, **options):
    """A loader of `numbered` images and labels."""
    images, labels = numbered(count)
    return DataLoader(images, labels=labels, **options)


def epoch_rows(loader):
    """Row numbers per batch for one epoch, checking that every label still matches its image."""
    batches = []
    for images, labels in loader:
        rows = images[:, 0, 0].astype(int)
        np.testing.assert_array_equal(labels, rows * 10)
        batches.append(rows)
    return batches


def test_each_sample_exactly_once_per_epoch():
    loader = paired(batch_size=10, seed=0)
    for _ in range(3):
        batches = epoch_rows(loader)
        assert [len(b) for b in batches] == [10] * 10 + [3]
        assert sorted(np.concatenate(batches)) == list(range(N))
    assert loader.epoch == 3


def test_same_seed_same_orders_and_each_epoch_new():
    first, second = (paired(batch_size=16, seed=7) for _ in range(2))
    orders = [np.concatenate(epoch_rows(first)) for _ in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.concatenate(epoch_rows(second)), order)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    other = np.concatenate(epoch_rows(paired(batch_size=16, seed=8)))
    assert not np.array_equal(other, orders[0])


def test_without_shuffle_keeps_the_stored_order():
    loader = paired(batch_size=25, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(loader)), np.arange(N))


@pytest.mark.parametrize("count, batch_size, drop_last, expected", [
    (103, 10, False, 11), (103, 10, True, 10), (100, 10, False, 10), (100, 10, True, 10),
    (5, 10, False, 1), (5, 10, True, 0), (0, 4, False, 0),
])
def test_len_counts_batches(count, batch_size, drop_last, expected):
    loader = paired(count, batch_size=batch_size, drop_last=drop_last, seed=1)
    assert len(loader) == expected
    batches = epoch_rows(loader)
    assert len(batches) == expected
    if drop_last:
        assert all(len(b) == batch_size for b in batches)
        assert len(set(np.concatenate(batches or [[]]))) == expected * batch_size


def test_without_labels_batches_are_plain_arrays():
    images, _ = numbered()
    batches = list(DataLoader(images, batch_size=50, shuffle=False))
    assert all(isinstance(batch, np.ndarray) for batch in batches)
    np.testing.assert_array_equal(np.concatenate(batches), images)


def test_transform_applies_to_each_image_batch_only():
    calls = []

    def add_noise(batch):
        calls.append(batch.shape)
        return batch + 0.5

    images, labels = numbered()
    loader = DataLoader(images, labels=labels, batch_size=40, seed=2, transform=add_noise)
    for noisy, batch_labels in loader:
        np.testing.assert_array_equal(noisy[:, 0, 0] - 0.5, batch_labels / 10)
    assert calls == [(40, 2, 3), (40, 2, 3), (23, 2, 3)]
    np.testing.assert_array_equal(images, numbered()[0])  # the stored data is untouched


def test_state_dict_resumes_the_same_next_epoch():
    loader = paired(batch_size=8, seed=3)
    for _ in range(2):
        epoch_rows(loader)
    state = json.loads(json.dumps(loader.state_dict()))  # plain data: fits in a JSON checkpoint
    expected = [epoch_rows(loader) for _ in range(2)]

    resumed = paired(batch_size=8, seed=999)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2
    for batches in expected:
        np.testing.assert_array_equal(np.concatenate(epoch_rows(resumed)), np.concatenate(batches))
    assert resumed.epoch == 4


@pytest.mark.parametrize("arguments, phrase", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": -3}, "got -3"),
    ({"batch_size": 2.5}, "got 2.5"),
    ({"batch_size": True}, "got True"),
    ({"batch_size": "8"}, "got '8'"),
    ({"labels": np.zeros(7)}, "103 images, 7 labels"),
    ({"device": "cuda"}, "device must be 'cpu' or 'gpu', got 'cuda'"),
    ({"transform": "noise"}, "transform must be a callable"),
])
def test_bad_arguments_raise_one_line_errors(arguments, phrase):
    images, _ = numbered()
    with pytest.raises(ValueError, match=phrase) as caught:
        DataLoader(images, **arguments)
    assert "\n" not in str(caught.value)


def test_load_state_dict_rejects_a_foreign_dict():
    with pytest.raises(ValueError, match=r"lacks \['epoch', 'generator'\]"):
        paired().load_state_dict({"weights": 1})


def test_gpu_copies_the_data_once_through_cupy(monkeypatch):
    moved = []

    def asarray(array):
        moved.append(array.shape)
        return np.array(array)

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(asarray=asarray))
    images, labels = numbered()
    loader = DataLoader(images, labels=labels, batch_size=10, seed=4, device="gpu")
    assert moved == [(N, 2, 3), (N,)]
    moved.clear()
    assert sorted(np.concatenate(epoch_rows(loader))) == list(range(N))
    assert moved == [(N,)]  # only the epoch's order, never a batch


def test_gpu_batches_are_cupy_arrays():
    nn = pytest.importorskip("nn", reason="the engine is needed for device='gpu'")
    if not getattr(nn, "gpu_available", lambda: False)():
        pytest.skip("no GPU: CuPy missing or no device")
    import cupy

    images, labels = numbered()
    loader = DataLoader(images, labels=labels, batch_size=10, seed=5, device="gpu")
    seen = []
    for batch_images, batch_labels in loader:
        assert isinstance(batch_images, cupy.ndarray) and isinstance(batch_labels, cupy.ndarray)
        rows = cupy.asnumpy(batch_images[:, 0, 0]).astype(int)
        np.testing.assert_array_equal(cupy.asnumpy(batch_labels), rows * 10)
        seen.extend(rows)
    assert sorted(seen) == list(range(N))
