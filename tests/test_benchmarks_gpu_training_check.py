"""benchmarks.gpu_training_check on the CPU: without a GPU it skips in one line; its runs, comparison
and verdicts work with CPU runs standing in for the GPU ones, and a run that differs or fails is named."""
import pytest

import nn
from benchmarks import gpu_training_check

from helpers_benchmarks import assert_skips_in_one_line


@pytest.mark.skipif(nn.gpu_available(), reason="a GPU is usable here: the check runs instead of skipping")
def test_without_a_gpu_it_skips_in_one_line():
    assert_skips_in_one_line("benchmarks.gpu_training_check")


def test_runs_and_verdicts_with_cpu_stand_ins(tmp_path):
    images = gpu_training_check.write_images(tmp_path, 70)
    settings = {"epochs": 2, "batch_size": 16}
    runs = [gpu_training_check.train(name, ["--device", "cpu", *extra], images, tmp_path, settings)
            for name, extra in (("cpu", []), ("again", []), ("other-seed", ["--seed", "1"]),
                                ("refused", ["--cuda-graph"]))]
    assert [run["status"] for run in runs] == [0, 0, 0, 2] and len(runs[0]["epochs"]) == 2
    lines = gpu_training_check.summarize(runs)
    assert lines[1].startswith("PASS  again against cpu: largest relative loss difference 0.0e+00")
    assert lines[2].startswith("MISS  other-seed against cpu")
    assert lines[3].startswith("FAIL  refused: exit status 2: autoencoders: error: --cuda-graph needs --device gpu")
    assert "cpu" in lines[0] and "train loss" in lines[0]
