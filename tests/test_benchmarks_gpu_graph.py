"""benchmarks.gpu_graph on the CPU: without a GPU it skips in one line; its options fail in one line;
and its measuring, table, targets and JSON run end to end with CPU runners standing in for the GPU ones."""
import json
import os
import re
import subprocess
import sys

import pytest

import nn
from benchmarks import backends, gpu_graph, workloads

from helpers_benchmarks import ROOT, assert_skips_in_one_line, run_script


@pytest.mark.skipif(nn.gpu_available(), reason="a GPU is usable here: the benchmark runs instead of skipping")
def test_without_a_gpu_it_skips_in_one_line():
    assert_skips_in_one_line("benchmarks.gpu_graph")


def session(tmp_path, **variables):
    environment = dict(os.environ, OUT=str(tmp_path), **variables,
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    return subprocess.run(["bash", "benchmarks/gpu_session.sh"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(nn.gpu_available(), reason="a GPU is usable here: the session script would measure")
def test_the_session_script_runs_its_phases_and_they_skip(tmp_path):
    done = session(tmp_path, PHASES="tests graph cli", GRAPH_CONFIGS="deep:32",
                   GPU_TESTS="tests/test_nn_cuda_graph_gpu.py")
    assert "skipped: " in (tmp_path / "gpu-graph.txt").read_text()
    assert "skipped: " in (tmp_path / "gpu-training.txt").read_text()
    assert " skipped" in (tmp_path / "pytest.txt").read_text() and "failed" not in done.stdout
    assert sum(line.startswith("== ") for line in done.stdout.splitlines()) == 4 and "== done in" in done.stdout


def test_the_session_fits_one_device_command_and_cuts_phases_to_its_budget(tmp_path):
    """The dry run's schedule: every phase the issue asks for, in at most 540 s (a device command may
    last 600 s); a smaller budget shortens the phase that reaches it and skips the rest."""
    done = session(tmp_path, DRY_RUN="1")
    assert done.returncode == 0 and list(tmp_path.iterdir()) == []
    lines = done.stdout.splitlines()
    limits = [int(re.search(r"at most (\d+) s", line).group(1)) for line in lines if line.startswith("== ")
              and "at most" in line and "planned" not in line]
    assert len(limits) == 4 and sum(limits) <= 540 and lines[-1] == f"== planned: at most {sum(limits)} s"
    for expected in ("pytest", "benchmarks.gpu_graph --configs deep:32,deep:256,deep:2048,deep-x4:8192",
                     "benchmarks.conv", "benchmarks.gpu_training_check", "tests/test_nn_fused_step.py"):
        assert expected in done.stdout, expected
    short = session(tmp_path, DRY_RUN="1", SESSION_SECONDS="200").stdout
    assert "== GPU tests (at most 150 s)" in short and "engine and torch (at most 50 s)" in short
    assert short.count("skipped, the session's 200 s are spent") == 2


@pytest.mark.parametrize("text,message", [("deep:0", "'deep:0' is not MODEL:BATCH"),
                                          ("wide:32", "'wide:32' is not MODEL:BATCH"),
                                          ("deep", "'deep' is not MODEL:BATCH")])
def test_bad_configs_are_one_line_errors(text, message):
    done = run_script("benchmarks.gpu_graph", "--configs", text, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_measuring_and_reporting_run_with_cpu_stand_ins(monkeypatch, tmp_path, capsys):
    torch = pytest.importorskip("torch")

    def cpu_runners(spec, batch_size, torch):
        runners = [backends.make_runner("engine-numpy", spec, batch_size, seed=0) for _ in gpu_graph.ROWS]
        for runner, name in zip(runners, gpu_graph.ROWS):
            runner.backend = name
        return runners

    monkeypatch.setattr(gpu_graph, "gpu_unavailable", lambda torch: None)
    monkeypatch.setattr(gpu_graph, "gpu_array_module", lambda: None)
    monkeypatch.setattr(gpu_graph, "runners_for", cpu_runners)
    monkeypatch.setattr(gpu_graph, "check_against_eager", lambda spec, batch_size: 0.0)
    monkeypatch.setattr(gpu_graph, "fused_rows", lambda sizes, repeats: [
        {"kernel": "sigmoid_forward", "batch_size": size, "plain_ms": 0.02, "fused_ms": 0.01} for size in sizes])
    path = tmp_path / "graph.json"
    status = gpu_graph.main(["--configs", "deep:8,deep-x4:8", "--repeats", "2", "--warmup", "1",
                             "--block-seconds", "0.001", "--json", str(path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "engine-cupy-graph ms" in out and out.count("PASS") + out.count("MISS") == 2
    assert "sigmoid_forward" in out and "2.00x" in out
    results = json.loads(path.read_text())
    assert [(row["model"], row["batch_size"]) for row in results["rows"]] == [("deep", 8), ("deep-x4", 8)]
    for row in results["rows"]:
        assert set(row["rates"]) == set(gpu_graph.ROWS)
        assert all(value > 0 for value in row["ratios"].values())
    assert results["fused"][0]["batch_size"] == 8
    assert [target["target"] for target in results["targets"]] == ["engine graph >= 2x torch eager",
                                                                    "engine graph >= 1.0x torch graph"]


def test_fused_rows_time_every_kernel_with_a_cpu_stand_in(monkeypatch):
    from types import SimpleNamespace

    from nn.fast import kernels as fused_gpu
    calls = []
    device = SimpleNamespace(synchronize=lambda: calls.append("sync"))
    cupy = SimpleNamespace(cuda=SimpleNamespace(Device=lambda: device))
    monkeypatch.setattr(gpu_graph, "gpu_array_module", lambda: cupy)
    monkeypatch.setattr(nn, "to_device", lambda array, where: array)
    monkeypatch.setattr(fused_gpu, "fused", lambda name, *arguments: getattr(fused_gpu, name)(*arguments))
    rows = gpu_graph.fused_rows([4, 16], repeats=2, calls=3)
    assert [(row["kernel"], row["batch_size"]) for row in rows] == [
        (name, size) for size in (4, 16) for name in fused_gpu.KERNELS]
    assert all(row["plain_ms"] > 0 and row["fused_ms"] > 0 for row in rows) and "sync" in calls


def test_the_engine_rows_take_the_same_step_on_numpy(monkeypatch):
    """Unfused, fused and captured (CUDA replaced by FakeGraphs): the same training, bit for bit on NumPy,
    with the fused branch running (the plain forms standing in for the kernels) where it should."""
    import numpy

    from helpers_fused import FakeGraphs, StandInGPU
    gpu = StandInGPU().install(monkeypatch)
    spec, x = workloads.MODELS["deep"], workloads.batch_of(8, seed=0)
    runners = [gpu_graph.EngineUnfusedRunner("engine-numpy", workloads.build_engine_model(spec, 0), x.copy()),
               gpu_graph.EngineFusedRunner(workloads.build_engine_model(spec, 0), x.copy()),
               gpu_graph.EngineGraphRunner(workloads.build_engine_model(spec, 0), x.copy(), graphs=FakeGraphs())]
    for _ in range(5):
        for runner in runners:
            runner.train_step()
    assert runners[2].captured.captured
    assert gpu.calls["bias_relu"] == 2 * 5 * 8 and gpu.calls["mse_sigmoid_backward"] == 2 * 5
    for fused, graphed, plain in zip(*(runner.model.parameters() for runner in runners[1:] + runners[:1])):
        numpy.testing.assert_array_equal(fused.data, plain.data)
        numpy.testing.assert_array_equal(graphed.data, plain.data)
