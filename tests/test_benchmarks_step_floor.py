"""Smoke test of the step-floor micro-benchmark: it runs, counts the seed model's products and
parameters right, and its floor is the sum of its parts. No test asserts a speed."""
import json

from helpers_benchmarks import assert_usage_error, close, run_script


def test_floor_is_products_plus_adam(tmp_path):
    path = tmp_path / "floor.json"
    done = run_script("benchmarks.step_floor", "--calls", "3", "--repeats", "2", "--clock", "thread",
                      "--json", str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    # 10 Linear layers: 10 forward products, 10 weight gradients, 9 input gradients (not the first layer's).
    assert result["products"] == 29
    assert result["parameters"] == 224_601
    assert result["products_ms"] > 0 and result["adam_ms"] > 0
    assert close(result["floor_ms"], result["products_ms"] + result["adam_ms"])
    assert "floor of a NumPy step" in done.stdout


def test_bad_batch_size_is_one_line():
    assert_usage_error("benchmarks.step_floor", ("--batch-size", "0"), "--batch-size")
