"""A GAN training step of this checkout against the same step at a git ref, each in its own worker
process, timed in alternating blocks: a speed ratio that machine noise affects both sides of alike.

    python -m tests.before_after.gans_before_after --ref main [--models gan,cgan,dcgan] [--repeats 9]

Batch 64, float32, Adam lr 2e-4, betas (0.5, 0.999), one fixed real batch; a step is ``gans.gan_step``
where the tree has it, and otherwise the older pair of calls (``discriminator_step`` with its own
G(z), then ``generator_step`` with another). The ref's tree is unpacked with ``git archive`` into a
temporary folder, so ``nn``, ``gans`` and ``autoencoders`` all come from it. Printed per model: the
median over repeats of (ref's seconds per step) / (this checkout's), above 1 when this checkout is
faster, and each side's median milliseconds per step.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.gans import model_names

HERE = Path(__file__).resolve().parents[2]  # the repository root

WORKER = r'''
import sys, time, numpy, nn, gans
name, batch = sys.argv[1], 64
nn.manual_seed(0)
if name == "dcgan":
    generator, discriminator = gans.DCGANGenerator(), gans.DCGANDiscriminator()
else:
    classes = 10 if name == "cgan" else 0
    generator, discriminator = gans.Generator(classes=classes), gans.Discriminator(classes=classes)
g_optimizer = nn.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
d_optimizer = nn.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
source = gans.NoiseSource(100, generator.classes, 0)
rng = numpy.random.default_rng(0)
real = rng.uniform(-1, 1, (batch, 784)).astype(numpy.float32)
labels = rng.integers(0, 10, batch) if generator.classes else None
nn.keep_freed_memory()
nn.fast.set_flush_denormal(True)
if hasattr(gans, "gan_step"):
    def step():
        gans.gan_step(generator, discriminator, g_optimizer, d_optimizer, real, source.noise(batch, real), labels,
                      source.labels(batch, real))
else:
    def step():
        gans.discriminator_step(generator, discriminator, d_optimizer, real, source.noise(batch, real), labels,
                                source.labels(batch, real))
        gans.generator_step(generator, discriminator, g_optimizer, source.noise(batch, real), source.labels(batch, real))
for line in sys.stdin:
    started = time.perf_counter()
    for _ in range(int(line)):
        step()
    print(time.perf_counter() - started, flush=True)
'''


class Worker:
    """One tree's GAN step in a child process: ``block(steps)`` returns the seconds they took."""

    def __init__(self, tree, name):
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, name], cwd=tree, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env={**os.environ, "PYTHONPATH": str(tree)})

    def block(self, steps):
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker stopped (exit status {self.process.wait()})")
        return float(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def compare(ref_tree, name, repeats, block_seconds):
    workers = {"ref": Worker(ref_tree, name), "now": Worker(HERE, name)}
    try:
        first = {side: worker.block(1) for side, worker in workers.items()}          # warm-up
        steps = max(1, round(block_seconds / max(first.values())))
        seconds = {"ref": [], "now": []}
        for repeat in range(repeats):
            for side in (("ref", "now") if repeat % 2 == 0 else ("now", "ref")):
                seconds[side].append(workers[side].block(steps) / steps)
    finally:
        for worker in workers.values():
            worker.close()
    ratios = [before / after for before, after in zip(seconds["ref"], seconds["now"])]
    return ratios, {side: statistics.median(values) * 1000 for side, values in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.before_after.gans_before_after",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="main", help="git ref to compare with (main)")
    parser.add_argument("--models", type=model_names, default=["gan", "cgan", "dcgan"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--block-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", args.ref], cwd=HERE, capture_output=True)
        if archive.returncode:
            parser.error(f"--ref {args.ref!r}: git archive failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        for name in args.models:
            ratios, ms = compare(folder, name, args.repeats, args.block_seconds)
            print(f"{name} step at batch 64: now / {args.ref} = {statistics.median(ratios):.2f}x faster "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {args.repeats} repeats); "
                  f"{ms['ref']:.1f} -> {ms['now']:.1f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
