"""The seed deep autoencoder's training step with the engine of a git ref against this checkout's,
interleaved in one process: a speed ratio that machine noise affects both sides of alike.

    python -m tests.before_after.step_before_after --ref main            # batch 32, 256, 2048; float32

Model 784-128-64-36-18-9 mirrored with ReLU between and Sigmoid out, MSELoss, Adam lr 1e-3; one step
is zero_grad, forward, loss, backward, step. Each repeat times a block of steps of each engine in
turn. Printed: the median over repeats of (steps/s now) / (steps/s at the ref), and the ratio of the
best blocks (other processes only ever slow a block down, so on a busy machine the best blocks are the
steadier figure); above 1 the checkout is faster.
"""
import argparse
import importlib
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

import nn

SIZES = (784, 128, 64, 36, 18, 9)


def engine_at(ref, folder):
    """The nn package of a git ref, importable as ``nn_at_ref``."""
    target = pathlib.Path(folder) / "nn_at_ref"
    target.mkdir()
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:nn"], check=True, capture_output=True,
                           text=True).stdout.split()
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(["git", "show", f"{ref}:nn/{name}"], check=True, capture_output=True,
                                  text=True).stdout
            (target / name).write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("nn_at_ref")


def deep_model(engine):
    layers = []
    for sizes, last in ((SIZES, False), (SIZES[::-1], True)):
        for index, (inputs, outputs) in enumerate(zip(sizes, sizes[1:])):
            layers.append(engine.Linear(inputs, outputs, rng=numpy.random.default_rng(index)))
            if index < len(sizes) - 2:
                layers.append(engine.ReLU())
        if last:
            layers.append(engine.Sigmoid())
    return engine.Sequential(*layers)


def stepper(engine, batch):
    model = deep_model(engine)
    loss = engine.MSELoss()
    optimizer = engine.Adam(model.parameters(), lr=1e-3)
    x = numpy.random.default_rng(0).random((batch, 784), dtype=numpy.float32)

    def step():
        optimizer.zero_grad()
        loss(model(x), x)
        model.backward(loss.backward())
        optimizer.step()
    return step


def rate(step, seconds):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="main", help="git ref of the engine to compare with (default main)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256, 2048])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--block-seconds", type=float, default=0.4)
    options = parser.parse_args()
    if hasattr(nn.backend, "keep_freed_memory"):
        nn.backend.keep_freed_memory()  # as the training command does; applies to both engines alike
    with tempfile.TemporaryDirectory() as folder:
        before = engine_at(options.ref, folder)
        for batch in options.batches:
            steps = {"ref": stepper(before, batch), "now": stepper(nn, batch)}
            for step in steps.values():
                rate(step, options.block_seconds)  # warm-up
            ratios, best = [], {"ref": 0.0, "now": 0.0}
            for repeat in range(options.repeats):
                order = ("ref", "now") if repeat % 2 == 0 else ("now", "ref")
                rates = {name: rate(steps[name], options.block_seconds) for name in order}
                ratios.append(rates["now"] / rates["ref"])
                best = {name: max(best[name], rates[name]) for name in best}
            print(f"batch {batch:5d}: now / {options.ref}: median {statistics.median(ratios):.3f} "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f}), best blocks {best['now'] / best['ref']:.3f} "
                  f"({best['ref']:.0f} -> {best['now']:.0f} steps/s, {options.repeats} repeats)", flush=True)


if __name__ == "__main__":
    main()
