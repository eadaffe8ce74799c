"""The throughput benchmark's peers: the plain NumPy loop computes the engine's training step, the
JAX and DeZero adapters start from the engine's weights, and the benchmark runs them (or skips each
absent one with a reason) with ratios paired repeat by repeat. No test asserts a speed.
"""
import statistics

import numpy
import pytest

import nn
from autoencoders.models import DeepAutoencoder, SimpleAutoencoder
from benchmarks import backends, peers, workloads
from benchmarks.plain_loop import PlainLoop
from conftest import relative_error
from helpers_benchmarks import close, rows_of, run_script

PEERS = ("numpy-plain", "jax-cpu", "dezero")


@pytest.mark.parametrize("build", [DeepAutoencoder, SimpleAutoencoder])
def test_plain_loop_trains_exactly_as_the_engine_in_float64(build):
    nn.manual_seed(3)
    model = build(dtype="float64")
    x = numpy.random.default_rng(4).random((16, 784))
    loop = PlainLoop(model, 16)
    loss, optimizer = nn.MSELoss(), nn.Adam(model.parameters(), lr=workloads.LEARNING_RATE)
    for _ in range(4):
        ours = float(loss(model(x), x))
        optimizer.zero_grad()
        model.backward(loss.backward(), need_input_grad=False)
        optimizer.step()
        theirs = loop.train_step(x)
        assert abs(ours - theirs) <= 1e-12 * abs(ours)
    engine = [parameter.data for parameter in model.parameters()]
    plain = [array for weight, bias, _, _ in loop.layers for array in (weight, bias)]
    assert len(engine) == len(plain)
    for a, b in zip(engine, plain):
        numpy.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)


def test_plain_loop_equals_the_engines_fast_step_in_float32():
    """The rearranged loop (bias in the products, the loss's 2 / M in Adam's eps, rescaled Adam state)
    against the step the command line takes (nn.fast.compile, Adam foreach=True), batch after batch."""
    nn.manual_seed(5)
    model = DeepAutoencoder()
    loop = PlainLoop(model, 32)
    loss, optimizer = nn.MSELoss(), nn.Adam(model.parameters(), lr=workloads.LEARNING_RATE, foreach=True)
    step = nn.fast.compile(model, loss)
    generator = numpy.random.default_rng(6)
    for _ in range(6):
        x = generator.random((32, 784), dtype=numpy.float32)
        ours = float(step.forward(x, x))
        optimizer.zero_grad()
        step.backward(need_input_grad=False)
        optimizer.step()
        assert close(loop.train_step(x), ours, rtol=1e-5)
    for parameter, plain in zip(model.parameters(), loop.views(loop.params)):
        assert relative_error(plain, parameter.data) <= 1e-5
    for parameter, (exp_avg, exp_avg_sq) in zip(model.parameters(), loop.adam_state()):
        assert relative_error(exp_avg, optimizer.state[parameter]["exp_avg"]) <= 1e-4
        assert relative_error(exp_avg_sq, optimizer.state[parameter]["exp_avg_sq"]) <= 1e-4


def test_dezero_import_leaves_numpy_without_the_int_alias():
    library, reason = peers.import_peer("dezero")
    assert (library is None) == bool(reason)
    assert not hasattr(numpy, "int")


@pytest.mark.parametrize("backend", PEERS)
def test_each_peer_starts_from_the_engine_weights_and_trains(backend):
    library, reason = peers.import_peer(backend)
    if library is None:
        pytest.skip(reason)
    engine = backends.make_runner("engine-numpy", workloads.MODELS["deep"], 32, 0)
    peer = backends.make_runner(backend, workloads.MODELS["deep"], 32, 0)
    before = engine.loss_value()
    assert close(peer.loss_value(), before, rtol=1e-6)
    engine.time_block("train", 5)
    peer.time_block("train", 5)
    after = peer.loss_value()
    assert after < before
    if backend != "dezero":  # the same Adam rule as torch's and the engine's; DeZero's places eps otherwise
        assert close(after, engine.loss_value(), rtol=1e-5)


@pytest.fixture(scope="module")
def with_peers(tmp_path_factory):
    import json
    path = tmp_path_factory.mktemp("peers") / "peers.json"
    done = run_script("benchmarks.throughput", "--quick", "--models", "deep", "--batch-sizes", "32", "--no-memory",
                      "--backends", "engine-numpy," + ",".join(PEERS), "--json", str(path), timeout=300)
    return done, json.loads(path.read_text()) if path.exists() else None


def test_throughput_runs_or_skips_each_peer_with_paired_ratios(with_peers):
    done, results = with_peers
    assert done.returncode == 0, done.stderr
    engine, = rows_of(results, "engine-numpy")
    for peer in PEERS:
        if peer in results["skipped"]:
            assert f"skipped {peer}: {results['skipped'][peer]}" in done.stdout
            assert not rows_of(results, peer) and peer not in engine["ratio_to_peers"]
            continue
        theirs, = rows_of(results, peer)
        ratio = engine["ratio_to_peers"][peer]
        pairs = [ours / other for ours, other in zip(engine["train"]["samples_per_second"]["per_repeat"],
                                                   theirs["train"]["samples_per_second"]["per_repeat"])]
        assert ratio["against"] == peer and all(close(a, b) for a, b in zip(ratio["train"]["per_repeat"], pairs))
        assert close(ratio["train"]["median"], statistics.median(pairs))
        assert close(theirs["initial_loss"], engine["initial_loss"], rtol=1e-4)
    assert not any("not the same" in warning for warning in results["warnings"])
    targets = {(target["batch_size"], target["against"]): target for target in results["targets"]}
    for peer in PEERS:
        if (32, peer) in targets:
            assert (targets[(32, peer)]["value"] is None) == (peer in results["skipped"])


def test_absent_peers_are_skipped_in_one_line_each(tmp_path):
    """JAX and DeZero made unimportable (a package of each name that raises ImportError, first on
    the path): the run still succeeds, each peer skipped with its reason and the install hint."""
    import os
    import subprocess
    import sys
    from helpers_benchmarks import ROOT
    for name in ("jax", "dezero"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('no module named {name} (hidden by the test)')\n")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--quick", "--models", "deep",
                           "--batch-sizes", "32", "--no-memory", "--backends", "engine-numpy,jax-cpu,dezero"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for peer in ("jax-cpu", "dezero"):
        skipped = [line for line in done.stdout.splitlines() if line.startswith(f"skipped {peer}: ")]
        assert len(skipped) == 1 and "hidden by the test" in skipped[0] and "pip install -e .[peers]" in skipped[0]
    assert any(line.split()[:3] == ["deep", "32", "engine-numpy"] for line in done.stdout.splitlines())
