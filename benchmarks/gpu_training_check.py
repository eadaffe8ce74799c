"""The command line's training on the GPU, with and without a CUDA graph, against the same run on the CPU.

    python -m benchmarks.gpu_training_check [--epochs 2] [--images 4096] [--batch-size 32] [--json PATH]

Runs ``python -m autoencoders train`` in this process (the figures left out: not what is checked) on
the same synthetic images (a .npy of uniform 28x28 images, written to a temporary folder), the same
seed and the deep model, in float64 so that rounding stays far below what a wrong step would change:

    cpu          --device cpu
    gpu-graph    --device gpu                      fused steps replayed as a CUDA graph (the default)
    gpu-eager    --device gpu --no-cuda-graph      the same fused steps, eager

It prints each run's train and test loss and seconds per epoch, and the largest relative difference
of each GPU run's losses from the CPU run's, PASS when below 1e-8 (MISS is printed, the exit status
stays 0 unless a run failed). Without CuPy or a GPU: one line saying so, exit status 0.
"""
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy

import nn
from runfolder.arguments import number_type

from . import options, report

PROG = "python -m benchmarks.gpu_training_check"
RUNS = {"cpu": ["--device", "cpu"], "gpu-graph": ["--device", "gpu"],
        "gpu-eager": ["--device", "gpu", "--no-cuda-graph"]}
TOLERANCE = 1e-8


def write_images(folder, count, seed=0):
    """A .npy of ``count`` uniform 28x28 uint8 images; returns its path."""
    path = Path(folder) / "images.npy"
    numpy.save(path, numpy.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=numpy.uint8))
    return path


def train(name, device_options, images, folder, settings):
    """One command-line run; returns {"name", "status", "epochs": [...], "message"}."""
    from autoencoders import cli
    out = Path(folder) / name
    argv = ["train", "--images", str(images), "--model", "deep", "--dtype", "float64", "--seed", "0", "--quiet",
            "--epochs", str(settings["epochs"]), "--batch-size", str(settings["batch_size"]), "--out", str(out),
            *device_options]
    printed, errors = io.StringIO(), io.StringIO()
    figures = cli.draw_figures
    cli.draw_figures = lambda *arguments, **keywords: None
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            status = cli.main(argv)
    finally:
        cli.draw_figures = figures
    epochs = json.loads((out / "metrics.json").read_text())["epochs"] if status == 0 else []
    return {"name": name, "status": status, "epochs": epochs, "message": errors.getvalue().strip()}


def largest_difference(run, reference):
    """max |loss - reference loss| / |reference loss| over the epochs' train and test losses."""
    pairs = [(ours[key], theirs[key]) for ours, theirs in zip(run["epochs"], reference["epochs"])
             for key in ("train_loss", "test_loss")]
    return max(abs(ours - theirs) / abs(theirs) for ours, theirs in pairs) if pairs else float("nan")


def summarize(runs):
    """The table's lines and the PASS/MISS lines of the GPU runs against the first (the CPU) run."""
    rows = [[run["name"], str(epoch["epoch"]), f"{epoch['train_loss']:.8f}", f"{epoch['test_loss']:.8f}",
             f"{epoch['seconds']:.2f}"] for run in runs for epoch in run["epochs"]]
    lines = [report.format_table(["run", "epoch", "train loss", "test loss", "seconds"], rows, left=(0,))]
    reference = runs[0]
    for run in runs[1:]:
        if run["status"] != 0:
            lines.append(f"FAIL  {run['name']}: exit status {run['status']}: {run['message']}")
            continue
        difference = largest_difference(run, reference)
        verdict = "PASS" if difference < TOLERANCE else "MISS"
        lines.append(f"{verdict}  {run['name']} against {reference['name']}: largest relative loss difference "
                     f"{difference:.1e} (below {TOLERANCE:.0e} wanted)")
        if run["message"]:
            lines.append(f"      its messages: {run['message']}")
    return lines


def main(argv=None):
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=number_type(int, above=0), default=2, help="epochs per run (2)")
    parser.add_argument("--images", type=number_type(int, above=1), default=4096, help="synthetic images (4096)")
    parser.add_argument("--batch-size", type=number_type(int, above=0), default=32, help="images per step (32)")
    parser.add_argument("--json", metavar="PATH", help="write the runs' epochs and the verdicts here")
    args = parser.parse_args(argv)
    options.check_output_path(parser, "--json", args.json)
    if not nn.gpu_available():
        try:
            nn.to_device(numpy.zeros(1), "gpu")
        except nn.BackendError as error:
            print(f"{PROG}: skipped: {error}")
            return 0
    settings = {"epochs": args.epochs, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(prefix="gpu-training-check-") as folder:
        images = write_images(folder, args.images)
        runs = [train(name, device_options, images, folder, settings) for name, device_options in RUNS.items()]
    lines = summarize(runs)
    print("\n".join(lines))
    if args.json:
        report.write_json({"runs": runs, "verdicts": lines[1:]}, args.json)
    return 0 if all(run["status"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
