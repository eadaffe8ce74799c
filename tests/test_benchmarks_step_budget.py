"""Smoke test of the step-budget micro-benchmark: it runs, its phases add up to the step, and every
leaf module of the model has a forward and a backward time. No test asserts a speed."""
import json

import pytest

from helpers_benchmarks import assert_usage_error, close, run_script


@pytest.mark.parametrize("clock", ["wall", "thread"])
def test_budget_covers_every_phase_and_module(tmp_path, clock):
    path = tmp_path / "budget.json"
    done = run_script("benchmarks.step_budget", "--steps", "20", "--clock", clock, "--json", str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    assert list(result["phases_us"]) == ["forward", "loss", "zero_grad", "backward", "optimizer"]
    assert all(value > 0 for value in result["phases_us"].values())
    assert close(result["step_us"], sum(result["phases_us"].values()))
    # The deep model: 10 Linear, 8 ReLU and a Sigmoid, each timed both ways.
    names = {name.rsplit(" ", 1)[0] for name in result["modules_us"]}
    assert len(names) == 19 and "encoder.0" in names and "decoder.9" in names
    assert len(result["modules_us"]) == 38
    assert all(result["sequential_dispatch_ns_per_module"][kind] > 0 for kind in ("forward", "backward"))
    assert "Sequential's own cost per child" in done.stdout


def test_bad_batch_size_is_one_line():
    assert_usage_error("benchmarks.step_budget", ("--batch-size", "0"), "--batch-size")
