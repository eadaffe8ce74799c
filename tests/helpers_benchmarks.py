"""Shared by the benchmark scripts' smoke tests: run a script once with --quick, read its rows."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_BACKENDS = ("engine-cupy", "torch-cuda")


def run_script(module, *options, timeout):
    # One BLAS / OpenMP thread: the smoke test shares the machine with other tests, and a
    # multithreaded BLAS whose threads wait for a busy core makes every step many times slower.
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", module, *options], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def assert_usage_error(module, options, message):
    """``python -m module *options`` exits with status 2, nothing on stdout, and one line on stderr
    that contains ``message``."""
    done = run_script(module, *options, timeout=120)
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def assert_skips_in_one_line(module):
    """``python -m module`` without a GPU: exit status 0 and one line saying it skipped, and why."""
    done = run_script(module, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"python -m {module}: skipped: "), done.stdout
    assert "GPU" in lines[0] or "CuPy" in lines[0] or "PyTorch" in lines[0]


def quick_run(module, folder, name):
    """(completed process, parsed JSON or None, PNG path) of one --quick run of ``module``."""
    json_path, png_path = folder / "out" / f"{name}.json", folder / "out" / f"{name}.png"
    done = run_script(module, "--quick", "--json", str(json_path), "--plot", str(png_path), timeout=300)
    results = json.loads(json_path.read_text()) if json_path.exists() else None
    return done, results, png_path


def assert_readable_png(png_path):
    """A PNG of sane size that matplotlib reads back, and no temporary file left beside it."""
    import struct
    from matplotlib import image
    data = png_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 300 <= width <= 5000 and 200 <= height <= 5000, (width, height)
    assert 5_000 < len(data) < 5_000_000
    assert image.imread(png_path).shape[:2] == (height, width)
    assert not [name for name in os.listdir(png_path.parent) if name.endswith(".tmp")]  # atomic writes left nothing


def rows_of(results, backend=None):
    return [row for row in results["measurements"] if backend is None or row["backend"] == backend]


def close(a, b, rtol=1e-9):
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def assert_unavailable_backends_skipped(done, results, torch_installed, rows_when_measured):
    """Each GPU backend (and torch-cpu without torch) is either skipped, with its reason in the JSON,
    on stdout and on stderr and no row anywhere, or, where it can run, measured in every configuration."""
    assert results is not None, done.stderr
    for backend in GPU_BACKENDS + (() if torch_installed else ("torch-cpu",)):
        if backend in results["skipped"]:
            reason = results["skipped"][backend]
            assert isinstance(reason, str) and len(reason) > 10
            assert f"skipped {backend}: {reason}" in done.stdout
            assert f"skipping {backend}: {reason}" in done.stderr
            assert not rows_of(results, backend)
            assert not any(line.split()[2:3] == [backend] for line in done.stdout.splitlines())
        else:  # a machine with the library and the GPU: then it is measured
            assert len(rows_of(results, backend)) == rows_when_measured


def assert_machine_described(results, torch_installed):
    """The machine block both benchmarks write, and the method entries they share (timing.METHOD)."""
    assert results["errors"] == []
    machine = results["machine"]
    assert machine["cpu"]["model"] and machine["cpu"]["logical"] >= 1
    assert machine["blas_threads"] >= 1
    assert machine["keep_freed_memory"] in (True, False)  # recorded: it changes the speed of every step
    assert machine["versions"]["numpy"] and machine["versions"]["python"] and machine["date"]
    assert "gpu" in machine and "torch" in machine["versions"] and "cupy" in machine["versions"]
    if torch_installed:  # torch got NumPy's BLAS thread count, and computes in full float32 on a GPU
        assert machine["torch"]["threads"] == machine["blas_threads"]
        assert machine["torch"]["tf32"] == {"matmul": False, "cudnn": False}
    for key in ("timing", "synchronization", "samples_per_second", "ratio", "threads"):
        assert isinstance(results["method"][key], str) and len(results["method"][key]) > 40, key
