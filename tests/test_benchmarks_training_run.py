"""Smoke test of the whole-run benchmark: ``python -m benchmarks.training_run --quick`` trains the
main job's model on the engine and (where installed) on PyTorch, prints the epoch table, and writes
a JSON file whose numbers agree with each other and a readable PNG. No test asserts a speed.
"""
import importlib.util
import statistics

import pytest

import nn
from nn.fast.floats import flush_denormal
from benchmarks.training_run import EngineRun, count_subnormals, late_over_early
from helpers_benchmarks import assert_readable_png, assert_usage_error, close, quick_run

TORCH_INSTALLED = importlib.util.find_spec("torch") is not None
QUICK_EPOCHS = 3


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return quick_run("benchmarks.training_run", tmp_path_factory.mktemp("training_run"), "run")


def test_quick_run_prints_the_epoch_table_and_targets(quick):
    done, results, _ = quick
    assert done.returncode == 0, f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    for epoch in range(1, QUICK_EPOCHS + 1):
        assert any(line.split()[:1] == [str(epoch)] for line in lines), done.stdout
    assert any(line.startswith("whole run") for line in lines)
    assert "targets" in done.stdout
    if TORCH_INSTALLED:
        assert "whole run: the engine is" in done.stdout
    else:
        assert results["skipped"]["torch-cpu"] in done.stdout


def test_json_epochs_sums_and_paired_ratios_agree(quick):
    _, results, _ = quick
    assert results["config"]["epochs"] == QUICK_EPOCHS and len(results["runs"]) == results["config"]["runs"] == 1
    assert results["available"][0] == "engine-numpy"
    assert results["config"]["images"] == 512 and results["config"]["batch_size"] == 32
    assert results["config"]["engine_flush"] is True  # as the command line trains
    for run in results["runs"]:
        for backend in results["available"]:
            entry = run[backend]
            seconds = entry["epoch_seconds"]
            assert len(seconds) == len(entry["train_loss"]) == QUICK_EPOCHS
            assert all(value > 0 for value in seconds)
            assert close(entry["whole_run_seconds"], sum(seconds))
            assert len(entry["epoch_cpu_seconds"]) == QUICK_EPOCHS
            assert close(entry["whole_run_cpu_seconds"], sum(entry["epoch_cpu_seconds"]))
            assert close(entry["late_over_early"], seconds[2] / seconds[1])  # 3 epochs: epoch 3 against epoch 2
            speed = run["reference_seconds"]
            assert len(speed) == QUICK_EPOCHS and all(value > 0 for value in speed)
            assert close(entry["late_over_early_machine_adjusted"], (seconds[2] / speed[2]) / (seconds[1] / speed[1]))
            assert 0 <= entry["subnormals_at_end"] <= entry["state_entries"]
            assert entry["train_loss"][-1] < entry["train_loss"][0]  # it trains
        if TORCH_INSTALLED:
            engine, torch = run["engine-numpy"], run["torch-cpu"]
            assert close(run["ratio"], torch["whole_run_seconds"] / engine["whole_run_seconds"])
            assert close(run["cpu_ratio"], torch["whole_run_cpu_seconds"] / engine["whole_run_cpu_seconds"])
            assert all(close(ratio, theirs / ours) for ratio, theirs, ours
                       in zip(run["epoch_ratios"], torch["epoch_seconds"], engine["epoch_seconds"]))
            # Same weights, same batches in the same order, the same arithmetic: the same losses up
            # to float32 rounding, and the same number of parameters and Adam state entries.
            for ours, theirs in zip(engine["train_loss"], torch["train_loss"]):
                assert close(ours, theirs, rtol=1e-4), (engine["train_loss"], torch["train_loss"])
            assert engine["state_entries"] == torch["state_entries"] == 3 * 224_601
    if TORCH_INSTALLED:
        ratios = [run["ratio"] for run in results["runs"]]
        assert close(results["summary"]["ratio"]["median"], statistics.median(ratios))
    statuses = {target["status"] for target in results["targets"]}
    assert statuses <= {"PASS", "MISS", "not measured"}


def test_plot_is_a_readable_png(quick):
    assert_readable_png(quick[2])


@pytest.mark.parametrize("flush", [True, False])
def test_an_engine_epoch_flushes_as_asked_and_restores_the_thread_setting(flush, monkeypatch):
    import numpy
    if not nn.fast.set_flush_denormal(False):
        pytest.skip("this platform cannot switch subnormal flushing")
    seen = []
    from benchmarks import training_run
    monkeypatch.setattr(training_run, "fit", lambda *arguments, **keywords: (
        seen.append(flush_denormal()), keywords["history"].train_loss.append(0.0)))
    run = EngineRun(numpy.zeros((64, 784), dtype=numpy.float32), flush)
    run.epoch()
    assert seen == [flush] and flush_denormal() is False  # PyTorch's epochs run at torch's default


def test_late_over_early_compares_epochs_2_to_6_with_the_last_5():
    seconds = [9.0] + [1.0] * 5 + [5.0] * 9 + [2.0] * 5  # 20 epochs; epoch 1 is warm-up
    assert late_over_early(seconds) == 2.0
    assert late_over_early([9.0, 1.0, 3.0, 3.0]) == 3.0  # 4 epochs: epoch 4 against epoch 2
    assert late_over_early([9.0, 1.0]) is None


def test_count_subnormals_counts_only_values_below_the_smallest_normal():
    import numpy
    tiny = numpy.finfo(numpy.float32).tiny
    array = numpy.array([0.0, tiny, tiny / 2, -tiny / 4, 1.0, numpy.float32(1e-45)], dtype=numpy.float32)
    assert count_subnormals([array]) == (3, 6)


@pytest.mark.parametrize("options, message", [
    (("--epochs", "0"), "--epochs"),
    (("--backends", "engine-numpy,jax-cpu"), "unknown backend 'jax-cpu'"),
    (("--limit", "-1"), "--limit"),
])
def test_bad_options_are_one_line_errors_with_status_2(options, message):
    assert_usage_error("benchmarks.training_run", options, message)


# --- under load: --background, --threads ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One --quick run beside a busy background process, the engine at the rule's count and at one thread."""
    from helpers_benchmarks import run_script
    import json
    path = tmp_path_factory.mktemp("training_run_loaded") / "loaded.json"
    done = run_script("benchmarks.training_run", "--quick", "--background", "1", "--threads", "auto,1",
                      "--json", str(path), timeout=300)
    return done, json.loads(path.read_text()) if path.exists() else None


def test_a_loaded_run_records_the_load_and_each_engine_runs_thread_choice(loaded):
    done, results = loaded
    assert done.returncode == 0, done.stderr
    load = results["load"]
    assert load["background"] == 1 and len(load["background_pids"]) == 1
    assert load["background_alive_at_end"] == 1  # the load lasted the whole measurement
    assert len(load["load_average_at_start"]) == 3 and len(load["load_average_at_end"]) == 3
    assert results["available"][:2] == ["engine-numpy", "engine-numpy@1"]
    choices = results["summary"]["engine_threads"]
    # the smoke runs with OPENBLAS_NUM_THREADS=1 (helpers_benchmarks): the user's variable wins over the rule
    assert choices["engine-numpy"]["source"] in ("rule", "environment")
    assert choices["engine-numpy@1"]["source"] == "given" and choices["engine-numpy@1"]["threads"] == 1
    summary = results["summary"]
    assert summary["best_fixed_threads"]["backend"] == "engine-numpy@1"
    assert close(summary["auto_over_best_fixed"], summary["engine-numpy"]["whole_run_seconds"]["median"]
                 / summary["engine-numpy@1"]["whole_run_seconds"]["median"])
    run = results["runs"][0]
    for entry in (run["engine-numpy"], run["engine-numpy@1"]):  # both train the same: same batches, same step
        assert entry["train_loss"][-1] < entry["train_loss"][0]
    for ours, other in zip(run["engine-numpy"]["train_loss"], run["engine-numpy@1"]["train_loss"]):
        assert close(ours, other, rtol=1e-5)
    assert "1 busy background process(es)" in done.stdout
    assert any("under 1 busy process(es)" in target["description"] for target in results["targets"])


def test_the_background_processes_are_gone_after_the_run(loaded):
    import os
    _, results = loaded
    for pid in results["load"]["background_pids"]:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie_or_other(pid)


def _is_zombie_or_other(pid):
    """A /proc entry of that pid that is not a busy child of ours any more (pids are reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"getppid" not in cmdline.read()
    except OSError:
        return True


@pytest.mark.parametrize("options, message", [
    (("--threads", "0"), "--threads"),
    (("--threads", "auto,auto"), "listed twice"),
    (("--threads", "many"), "neither auto nor a number"),
    (("--background", "-1"), "--background"),
])
def test_bad_load_options_are_one_line_errors(options, message):
    assert_usage_error("benchmarks.training_run", options, message)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_count_subnormals_sees_them_with_denormals_read_as_zero(dtype):
    """The count is taken from the bits: with the engine's flush on (denormals-are-zero, where the CPU
    has it), comparisons read a subnormal as 0, and the count must not."""
    import numpy
    from nn.fast import set_flush_denormal
    tiny = numpy.finfo(dtype).tiny
    array = numpy.array([0.0, -0.0, tiny, tiny / 2, -tiny / 4, 1.0, numpy.inf, numpy.nan], dtype=dtype)
    if not set_flush_denormal(True):
        pytest.skip("flushing subnormals is not supported on this CPU or C library")
    try:
        assert count_subnormals([array]) == (2, 8)
    finally:
        set_flush_denormal(False)
