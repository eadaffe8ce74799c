"""Smoke test of the throughput benchmark: ``python -m benchmarks.throughput --quick`` runs, prints
its table, and writes a JSON file whose numbers agree with each other and a readable PNG.

Benchmarks are scripts that nothing imports, so this runs them as a user would, in a subprocess.
No test asserts a speed: the numbers depend on the machine and on whatever else runs on it.
"""
import importlib.util
import statistics

import pytest

import nn

from helpers_benchmarks import (assert_machine_described, assert_readable_png, assert_unavailable_backends_skipped,
                                assert_usage_error, close, quick_run, rows_of)

QUICK_MODELS = ("deep", "simple")
QUICK_BATCH_SIZES = (32, 256)
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """(completed process, parsed JSON or None, PNG path) of one --quick run, shared by the tests."""
    return quick_run("benchmarks.throughput", tmp_path_factory.mktemp("throughput"), "x")


def test_quick_run_succeeds_and_prints_the_table(quick):
    done, _, _ = quick
    assert done.returncode == 0, f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    header = next((line for line in lines if line.startswith("model") and "backend" in line), None)
    assert header is not None, done.stdout
    for column in ("batch", "train samples/s", "ms/step", "vs torch", "% ceiling", "fwd samples/s", "peak RSS MiB"):
        assert column in header
    backends = ["engine-numpy"] + (["torch-cpu"] if TORCH_INSTALLED else [])
    for model in QUICK_MODELS:
        for batch_size in QUICK_BATCH_SIZES:
            for backend in backends:
                assert any(line.split()[:3] == [model, str(batch_size), backend] for line in lines), \
                    f"no table row for {model} {batch_size} {backend}:\n{done.stdout}"
    assert "targets" in done.stdout


def test_unavailable_backends_are_skipped_with_a_reason(quick):
    done, results, _ = quick
    assert_unavailable_backends_skipped(done, results, TORCH_INSTALLED, len(QUICK_MODELS) * len(QUICK_BATCH_SIZES))


def test_json_describes_machine_method_and_models(quick):
    _, results, _ = quick
    for key in ("machine", "method", "config", "skipped", "models", "ceiling", "measurements", "gpu_speedup",
                "targets", "errors"):
        assert key in results, key
    assert_machine_described(results, TORCH_INSTALLED)
    assert "input gradients" in results["method"]["flops"]
    assert results["config"]["models"] == list(QUICK_MODELS)
    assert results["config"]["batch_sizes"] == list(QUICK_BATCH_SIZES)
    # The FLOP count of the docstring: forward 2S, weight gradients 2S, input gradients 2(S - first layer).
    deep = results["models"]["deep"]
    products = [size_in * size_out for size_in, size_out in deep["linear_layers"]]
    assert deep["linear_layers"][0] == [784, 128] and len(products) == 10
    assert deep["forward_flops_per_sample"] == 2 * sum(products)
    assert deep["train_flops_per_sample"] == 6 * sum(products) - 2 * products[0] == 1_139_192
    ceiling = results["ceiling"]["cpu"]
    assert ceiling["library"] == "numpy"
    rates = ceiling["flops_per_second"]
    assert all(rate > 0 for rate in rates["per_repeat"])
    assert close(rates["median"], statistics.median(rates["per_repeat"]))
    assert ceiling["median_at_start"] > 0 and ceiling["median_at_end"] > 0  # timed before and after the models


def test_every_measurement_is_positive_and_consistent(quick):
    _, results, _ = quick
    rows = rows_of(results)
    assert rows
    for row in rows:
        where = f"{row['model']} {row['batch_size']} {row['backend']}"
        for kind in ("train", "forward"):
            phase = row[kind]
            steps, seconds = phase["steps_per_block"], phase["block_seconds"]
            assert steps >= 1 and len(seconds) == results["config"]["repeats"], where
            assert all(value > 0 for value in seconds), where
            rates = phase["samples_per_second"]
            assert all(close(rate, row["batch_size"] * steps / value)
                       for rate, value in zip(rates["per_repeat"], seconds)), where
            assert close(rates["median"], statistics.median(rates["per_repeat"])), where
            assert rates["min"] <= rates["median"] <= rates["max"], where
            milliseconds = [1000 * value / steps for value in seconds]
            assert close(phase["ms_per_step"]["median"], statistics.median(milliseconds)), where
        ceiling = row["ceiling_samples_per_second"]
        flops = results["models"][row["model"]]["train_flops_per_sample"]
        assert close(ceiling, results["ceiling"][row["device"]]["flops_per_second"]["median"] / flops), where
        assert close(row["fraction_of_ceiling"], row["train"]["samples_per_second"]["median"] / ceiling), where
        memory = row["memory"]
        if "peak_rss_mib" in memory:
            assert memory["peak_rss_mib"] >= memory["rss_after_imports_mib"] > 0, where
        else:
            assert memory.get("skipped"), where
    assert any("peak_rss_mib" in row["memory"] for row in rows), "no configuration had its memory measured"


@pytest.mark.skipif(not TORCH_INSTALLED, reason="PyTorch is not installed: no torch rows to compare with")
def test_ratios_are_paired_repeat_by_repeat_and_models_start_equal(quick):
    _, results, _ = quick
    torch_rows = {(row["model"], row["batch_size"]): row for row in rows_of(results, "torch-cpu")}
    for row in rows_of(results, "engine-numpy"):
        theirs = torch_rows[(row["model"], row["batch_size"])]
        ratio = row["ratio_to_torch"]
        assert ratio["against"] == "torch-cpu"
        for kind in ("train", "forward"):
            pairs = [ours / other for ours, other in zip(row[kind]["samples_per_second"]["per_repeat"],
                                                       theirs[kind]["samples_per_second"]["per_repeat"])]
            assert all(close(a, b) for a, b in zip(ratio[kind]["per_repeat"], pairs))
            assert close(ratio[kind]["median"], statistics.median(pairs))
            assert min(pairs) <= ratio[kind]["median"] <= max(pairs)
        # Same weights, same batch: the loss before the first step agrees to float32 rounding.
        assert close(row["initial_loss"], theirs["initial_loss"], rtol=1e-4)
        assert theirs["ratio_to_torch"] is None
    assert not any("not the same" in warning for warning in results["warnings"])


def test_targets_are_reported_and_never_fail_the_run(quick):
    done, results, _ = quick
    targets = results["targets"]
    assert [(target["batch_size"], target["against"]) for target in targets] == [
        (32, "torch-cpu"), (256, "torch-cpu"), (2048, "torch-cpu"), (2048, "numpy-plain"),
        (32, "jax-cpu"), (256, "jax-cpu"), (2048, "jax-cpu"), (32, "dezero"), (256, "dezero"), (2048, "dezero")]
    for target in targets:
        assert target["status"] in ("PASS", "MISS", "not measured")
        assert (target["status"] == "not measured") == (target["value"] is None)
        if target["value"] is not None:
            assert target["status"] == ("PASS" if target["value"] >= target["threshold"] else "MISS")
    assert all(target["status"] == "not measured" for target in targets if target["batch_size"] == 2048)
    assert done.returncode == 0


def test_plot_is_a_readable_png(quick):
    _, _, png_path = quick
    assert_readable_png(png_path)


@pytest.mark.parametrize("options, message", [
    (("--models", "deep,wide"), "unknown model 'wide'"),
    (("--batch-sizes", "32,-1"), "must be positive"),
    (("--backends", "engine-numpy,tpu"), "unknown backend 'tpu'"),
    (("--repeats", "0"), "--repeats"),
])
def test_bad_options_are_one_line_errors_with_status_2(options, message):
    assert_usage_error("benchmarks.throughput", options, message)


@pytest.mark.parametrize("options, message", [
    (("--models", "deep,wide"), "unknown model 'wide'"),
    (("--batch-sizes", "0"), "must be positive"),
    (("--repeats", "0"), "must be >= 1, got 0"),
])
def test_gpu_overhead_bad_options_are_one_line_errors(options, message):
    assert_usage_error("benchmarks.gpu_overhead", options, message)


@pytest.mark.skipif(nn.gpu_available(), reason="a GPU is usable here: the probe runs instead of refusing")
def test_gpu_overhead_without_a_gpu_says_so_in_one_line():
    assert_usage_error("benchmarks.gpu_overhead", ("--models", "deep", "--batch-sizes", "256"),
                       "run it on a machine with an NVIDIA GPU")
