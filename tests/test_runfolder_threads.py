"""runfolder.threads: the BLAS thread count a run trains with (one thread for small products, a thread
per free core for large ones, the user's environment always first), applied for a block and restored,
printed in one line and recorded in metrics.json by both command lines."""
import json

import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder, SimpleAutoencoder
from autoencoders.training import choose_threads, fit
from datasets import DataLoader
from runfolder import threads
from runfolder.threads import SMALL_PRODUCT, ThreadChoice, choose, largest_product

threadpoolctl = pytest.importorskip("threadpoolctl")
LARGE = 2048 * 784 * 128


@pytest.fixture
def no_thread_variables(monkeypatch):
    for name in threads.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_the_seed_models_largest_product_is_its_784_by_128_layer_times_the_batch():
    model = DeepAutoencoder()
    assert largest_product([model], 32) == 32 * 784 * 128
    assert largest_product([model], 2048) == LARGE
    assert largest_product([SimpleAutoencoder(latent_dim=64)], 10) == 10 * 784 * 64
    assert largest_product([nn.Sequential(nn.ReLU())], 32) == 0


def test_a_convolution_counts_kernel_channels_and_positions():
    conv = nn.Conv2d(1, 16, 3, stride=2, padding=1)
    assert largest_product([nn.Sequential(conv)], 8, sample_features=784) == 8 * 1 * 16 * 9 * (784 // 4)


def test_a_small_product_takes_one_thread_whatever_the_machine():
    choice = choose(SMALL_PRODUCT - 1, environ={}, cores=16, busy=0.0, load=(0.0, 0.0, 0.0))
    assert (choice.threads, choice.source) == (1, "rule")
    assert f"{SMALL_PRODUCT:,}" in choice.reason


@pytest.mark.parametrize("cores, busy, load, expected", [
    (2, 0.0, (0.3, 0.3, 0.3), 2),   # quiet: both cores
    (2, 0.05, (1.2, 1, 1), 2),      # this process itself in the load average
    (2, 1.0, (0.5, 0.5, 0.5), 1),   # one core busy now
    (2, 0.0, (3.0, 3, 3), 1),       # busy over the last minute though idle this instant
    (2, 2.0, (6.0, 6, 6), 1),       # never fewer than one
    (16, 6.8, (7.5, 7, 7), 9),      # a larger machine: the free cores
    (1, 0.0, (0.0, 0, 0), 1),
])
def test_a_large_product_takes_a_thread_per_free_core(cores, busy, load, expected):
    choice = choose(LARGE, environ={}, cores=cores, busy=busy, load=load)
    assert (choice.threads, choice.source) == (expected, "rule")
    assert choice.usable_cores == cores and choice.largest_product == LARGE


@pytest.mark.parametrize("name", threads.ENVIRONMENT)
def test_the_users_variable_always_wins(name):
    for threads_asked in ("auto", 2):
        choice = choose(LARGE, threads=threads_asked, environ={name: "3"}, cores=2, busy=0.0, load=(0, 0, 0))
        assert choice.source == "environment" and f"{name}=3" in choice.reason
    assert choose(LARGE, environ={name: ""}, cores=2, busy=0.0, load=(0, 0, 0)).source == "rule"  # empty: not set


def test_a_given_count_is_applied_and_a_bad_one_refused():
    assert choose(10, threads=2, environ={}).threads == 2
    for bad in (0, -1, "two", 1.5, True):
        with pytest.raises(ValueError, match="threads must be 'auto' or a positive count"):
            choose(10, threads=bad, environ={})


def test_the_line_and_the_record():
    choice = choose(LARGE, environ={}, cores=2, busy=1.0, load=(1.5, 1.0, 0.5))
    line = choice.line()
    assert line.startswith("threads: 1 BLAS thread: ") and "\n" not in line and "1.0 of 2 cores busy" in line
    record = json.loads(json.dumps(choice.as_dict()))
    assert record["threads"] == 1 and record["source"] == "rule" and record["load_average"] == [1.5, 1.0, 0.5]
    assert record["busy_cores"] == 1.0 and record["small_product"] == SMALL_PRODUCT


def test_busy_cores_reads_a_share_of_the_usable_cores():
    busy = threads.busy_cores(0.02)
    if busy is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= busy <= threads.usable_cores()


def test_using_sets_the_count_for_the_block_and_restores_it():
    before = threads.blas_threads()
    if before is None:
        pytest.skip("threadpoolctl finds no BLAS")
    other = 1 if before != 1 else 2
    with threads.using(ThreadChoice(other, "given", "test")):
        assert threads.blas_threads() == other
    assert threads.blas_threads() == before
    with threads.using(ThreadChoice(other, "environment", "test")):  # the user's setting: left alone
        assert threads.blas_threads() == before
    with threads.using(None):
        assert threads.blas_threads() == before


def _tiny_run(threads_argument):
    nn.manual_seed(0)
    model = SimpleAutoencoder(latent_dim=8)
    images = numpy.random.default_rng(0).random((64, 784), dtype=numpy.float32)
    loader = DataLoader(images, batch_size=32, seed=0)
    seen = []
    fit(model, loader, nn.MSELoss(), nn.Adam(model.parameters(), lr=1e-3), 1, progress=False,
        on_epoch_end=lambda *_: seen.append(threads.blas_threads()), threads=threads_argument)
    return model, loader, seen


def test_fit_trains_with_the_count_and_restores_the_previous_one(no_thread_variables):
    before = threads.blas_threads()
    if before is None:
        pytest.skip("threadpoolctl finds no BLAS")
    other = 1 if before != 1 else 2
    assert _tiny_run(other)[2] == [other] and threads.blas_threads() == before
    assert _tiny_run(None)[2] == [before]
    model, loader, seen = _tiny_run("auto")  # batch 32 of a 784x8 layer: a small product, one thread
    assert seen == [1] and threads.blas_threads() == before
    choice = choose_threads(model, loader)
    assert choice.threads == 1 and choice.largest_product == 32 * 784 * 8


def test_fit_leaves_the_users_variable_alone(monkeypatch):
    if threads.blas_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # as the variable would have started it
        if threads.blas_threads() != 2:
            pytest.skip("this BLAS cannot take two threads")
        model, loader, seen = _tiny_run("auto")  # the rule alone would take one thread here
        assert seen == [2]
        assert choose_threads(model, loader).source == "environment"
