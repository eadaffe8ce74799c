"""Smoke test of the convolution benchmark: ``python -m benchmarks.conv --quick`` runs, prints its
table, and writes a JSON file whose numbers agree with each other and a readable PNG; bad options
are one-line errors with exit status 2.

The benchmark is a script that nothing imports, so this runs it as a user would, in a subprocess.
No test asserts a speed: the numbers depend on the machine and on whatever else runs on it.
"""
import importlib.util
import statistics

import pytest

from helpers_benchmarks import (GPU_BACKENDS, assert_machine_described, assert_readable_png,
                                assert_unavailable_backends_skipped, assert_usage_error, close, quick_run, rows_of)

CASES = ("conv1", "conv2", "convt1", "convt2", "maxpool", "upsample", "autoencoder")
QUICK_BATCH_SIZES = (32,)
QUICK_REPEATS = 3
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """(completed process, parsed JSON or None, PNG path) of one --quick run, shared by the tests."""
    return quick_run("benchmarks.conv", tmp_path_factory.mktemp("conv"), "conv")


def _measured_backends(results=None):
    """The CPU backends always measured here, and with ``results`` also the GPU ones it ran."""
    cpu = ["engine-numpy", "engine-numpy-plain"] + (["torch-cpu"] if TORCH_INSTALLED else [])  # fast and plain steps
    if results is None:
        return cpu
    return cpu + [backend for backend in GPU_BACKENDS if backend not in results["skipped"]]


def test_quick_run_succeeds_and_prints_the_table(quick):
    done, _, _ = quick
    assert done.returncode == 0, f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    header = next((line for line in lines if line.startswith("case") and "backend" in line), None)
    assert header is not None, done.stdout
    for column in ("batch", "samples/s [min-max]", "ms/step", "engine/torch"):
        assert column in header
    for case in CASES:
        assert any(line.split()[:1] == [case] and len(line.split()) > 3 for line in lines
                   if line.startswith("  ")), f"{case} missing from the list of cases:\n{done.stdout}"
        for batch_size in QUICK_BATCH_SIZES:
            for backend in _measured_backends():
                assert any(line.split()[:3] == [case, str(batch_size), backend] for line in lines), \
                    f"no table row for {case} {batch_size} {backend}:\n{done.stdout}"
    if TORCH_INSTALLED:  # every engine row carries its ratio, "1.23x [1.01-1.50]"
        for line in lines:
            if line.split()[2:3] in (["engine-numpy"], ["engine-numpy-plain"]):
                assert line.rstrip().endswith("]") and "x [" in line, line
    assert "ERROR" not in done.stdout


def test_gpu_backends_are_skipped_with_a_reason(quick):
    done, results, _ = quick
    assert_unavailable_backends_skipped(done, results, TORCH_INSTALLED, len(CASES) * len(QUICK_BATCH_SIZES))


def test_json_describes_machine_method_and_config(quick):
    _, results, _ = quick
    for key in ("schema", "command", "machine", "method", "config", "skipped", "available", "cases",
                "measurements", "errors", "warnings"):
        assert key in results, key
    assert results["schema"] == "benchmarks.conv/1"
    assert_machine_described(results, TORCH_INSTALLED)
    config = results["config"]
    assert config["quick"] is True and config["cases"] == list(CASES)
    assert config["batch_sizes"] == list(QUICK_BATCH_SIZES) and config["repeats"] == QUICK_REPEATS
    assert list(results["cases"]) == list(CASES)
    assert results["cases"]["conv1"]["input_shape"] == [1, 28, 28]
    assert results["cases"]["autoencoder"]["input_shape"] == [784]
    for key in ("layer_step", "autoencoder_step", "timing", "ratio", "threads", "synchronization"):
        assert key in results["method"], key


def test_every_measurement_is_positive_and_consistent(quick):
    _, results, _ = quick
    rows = rows_of(results)
    assert len(rows) == len(CASES) * len(QUICK_BATCH_SIZES) * len(_measured_backends(results))
    for row in rows:
        where = f"{row['case']} {row['batch_size']} {row['backend']}"
        steps, seconds = row["steps_per_block"], row["block_seconds"]
        assert steps >= 1 and len(seconds) == QUICK_REPEATS, where
        assert all(value > 0 for value in seconds), where
        rates = row["samples_per_second"]
        assert len(rates["per_repeat"]) == QUICK_REPEATS, where
        assert all(close(rate, row["batch_size"] * steps / value)
                   for rate, value in zip(rates["per_repeat"], seconds)), where
        assert close(rates["median"], statistics.median(rates["per_repeat"])), where
        assert close(rates["min"], min(rates["per_repeat"])) and close(rates["max"], max(rates["per_repeat"])), where
        assert 0 < rates["min"] <= rates["median"] <= rates["max"], where
        milliseconds = [1000 * value / steps for value in seconds]
        assert all(close(a, b) for a, b in zip(row["ms_per_step"]["per_repeat"], milliseconds)), where
        assert close(row["ms_per_step"]["median"], statistics.median(milliseconds)), where


@pytest.mark.skipif(not TORCH_INSTALLED, reason="PyTorch is not installed: no torch rows to compare with")
def test_ratios_are_paired_repeat_by_repeat_and_both_sides_compute_the_same(quick):
    _, results, _ = quick
    theirs_by_key = {(row["case"], row["batch_size"]): row for row in rows_of(results, "torch-cpu")}
    for row in [*rows_of(results, "engine-numpy"), *rows_of(results, "engine-numpy-plain")]:
        theirs = theirs_by_key[(row["case"], row["batch_size"])]
        ratio = row["ratio_to_torch"]
        assert ratio["against"] == "torch-cpu"
        pairs = [ours / other for ours, other in zip(row["samples_per_second"]["per_repeat"],
                                                   theirs["samples_per_second"]["per_repeat"])]
        assert len(ratio["per_repeat"]) == len(pairs) == QUICK_REPEATS
        assert all(close(a, b) for a, b in zip(ratio["per_repeat"], pairs))
        assert close(ratio["median"], statistics.median(pairs))
        assert close(ratio["min"], min(pairs)) and close(ratio["max"], max(pairs))
        assert theirs["ratio_to_torch"] is None and theirs["agreement"] is None
        # Same weights, input and upstream gradient: outputs and gradients agree to float32 rounding.
        agreement = row["agreement"]
        expected = {"initial_loss"} if row["case"] == "autoencoder" else {"output", "input_grad"}
        if row["case"] in ("conv1", "conv2", "convt1", "convt2"):
            expected |= {"weight_grad", "bias_grad"}
        assert set(agreement) == expected, (row["case"], agreement)
        assert all(error <= 1e-4 for error in agreement.values()), (row["case"], agreement)
    assert not any("do not compute the same" in warning for warning in results["warnings"])


def test_plot_is_a_readable_png(quick):
    _, _, png_path = quick
    if not TORCH_INSTALLED:
        pytest.skip("without torch there is no ratio to plot")
    assert_readable_png(png_path)


@pytest.mark.parametrize("options, message", [
    (("--batch-sizes", "32,0"), "must be positive"),
    (("--batch-sizes", "32,abc"), "is not an integer"),
    (("--repeats", "0"), "--repeats"),
    (("--block-seconds", "-1"), "--block-seconds"),
    (("--cases", "conv1,conv3"), "unknown case 'conv3'"),
    (("--backends", "engine-numpy,tpu"), "unknown backend 'tpu'"),
    (("--plot-scale", "cubic"), "--plot-scale"),
    (("--json", "."), "is a directory"),
    (("--frobnicate",), "unrecognized arguments"),
])
def test_bad_options_are_one_line_errors_with_status_2(options, message):
    assert_usage_error("benchmarks.conv", options, message)
