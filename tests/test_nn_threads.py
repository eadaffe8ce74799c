"""nn/threads.py: the optimizers' passes split over threads give the same numbers bit for bit."""
import os
import threading

import numpy as np
import pytest

import nn
from nn import floats, threads


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of a few elements, so that the small test models are split too; one thread after."""
    monkeypatch.setattr(threads, "MIN_SLICE", 3)
    yield
    nn.set_num_threads(1)


def _train(make_optimizer, num_threads, dtype, steps=6):
    nn.set_num_threads(num_threads)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 5, dtype=dtype), nn.ReLU(), nn.Linear(5, 3, dtype=dtype))
    optimizer = make_optimizer(model.parameters())
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x = rng.standard_normal((4, 7)).astype(dtype)
        y = model(x)
        optimizer.zero_grad()
        model.backward(rng.standard_normal(y.shape).astype(dtype))
        optimizer.step()
    return [p.data.copy() for p in model.parameters()], optimizer.state_dict()


OPTIMIZERS = {
    "sgd": lambda params: nn.SGD(params, lr=0.1),
    "sgd-nesterov-decay": lambda params: nn.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-dampening-maximize": lambda params: nn.SGD(params, lr=0.1, momentum=0.5, dampening=0.3, maximize=True),
    "adam": lambda params: nn.Adam(params, lr=0.01),
    "adam-amsgrad-decay": lambda params: nn.Adam(params, lr=0.01, amsgrad=True, weight_decay=0.1),
    "adamw-maximize": lambda params: nn.AdamW(params, lr=0.01, maximize=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("num_threads", [2, 3])
def test_threads_give_the_one_thread_numbers_bit_for_bit(small_slices, name, dtype, num_threads):
    alone, alone_state = _train(OPTIMIZERS[name], 1, dtype)
    split, split_state = _train(OPTIMIZERS[name], num_threads, dtype)
    assert threads.get_num_threads() == num_threads and len(threads._workers) >= num_threads - 1
    for a, b in zip(alone, split):
        np.testing.assert_array_equal(a, b)
    assert alone_state.keys() == split_state.keys()
    for key, value in alone_state.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(split_state[key]))


def test_every_slice_is_run_once_and_together_they_cover_the_buffer(small_slices):
    nn.set_num_threads(3)
    seen, lock = [], threading.Lock()

    def record(where):
        with lock:
            seen.append((where.start, where.stop, threading.get_ident()))

    threads.run_sliced(record, 10)
    assert sorted((start, stop) for start, stop, _ in seen) == [(0, 3), (3, 6), (6, 10)]
    assert len({ident for _, _, ident in seen}) == 3
    seen.clear()
    threads.run_sliced(record, 5)  # 5 // MIN_SLICE = 1: whole, on the calling thread
    assert seen == [(0, 5, threading.get_ident())]


def test_an_error_in_a_worker_reaches_the_caller_and_the_workers_keep_serving(small_slices):
    nn.set_num_threads(2)

    def fail_late(where):
        if where.start > 0:
            raise FloatingPointError(f"slice {where.start}")

    with pytest.raises(FloatingPointError, match="slice 5"):
        threads.run_sliced(fail_late, 10)
    done = []
    threads.run_sliced(lambda where: done.append(where.start), 10)
    assert sorted(done) == [0, 5]


@pytest.mark.skipif(not floats.set_flush_denormal(False), reason="flushing subnormals is not supported here")
def test_workers_flush_subnormals_exactly_when_the_caller_does(small_slices):
    nn.set_num_threads(2)
    found = {}

    def look(where):
        found[where.start] = floats.flush_denormal()

    try:
        for mode in (True, False, True):
            floats.set_flush_denormal(mode)
            threads.run_sliced(look, 10)
            assert found == {0: mode, 5: mode}
    finally:
        floats.set_flush_denormal(False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_workers(small_slices):
    nn.set_num_threads(2)
    threads.run_sliced(lambda where: None, 10)  # the parent's worker exists
    child = os.fork()
    if child == 0:  # the parent's worker thread does not exist here: without new ones this would hang
        done = []
        threads.run_sliced(lambda where: done.append(where.start), 10)
        os._exit(0 if sorted(done) == [0, 5] else 1)
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_an_optimizer_that_is_not_elementwise_gets_the_whole_buffer(small_slices):
    sizes = []

    class Whole(nn.SGD):
        elementwise = False

        def update(self, param, grad, state, scratch, group):
            sizes.append(param.size)

    nn.set_num_threads(2)
    layer = nn.Linear(4, 3)
    Whole(layer.parameters(), lr=0.1).step()
    assert sizes == [15]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_set_num_threads_refuses_what_is_not_a_count(bad):
    with pytest.raises(ValueError, match=f"num_threads={bad!r}.*at least 1"):
        nn.set_num_threads(bad)
    assert nn.get_num_threads() == 1
