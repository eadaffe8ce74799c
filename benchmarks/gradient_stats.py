"""What collecting gradient statistics (runfolder/gradient_stats.py, a run's gradients.png) costs a
training step: the same step timed with and without the collector's hooks.

    python -m benchmarks.gradient_stats                           # deep model, batch 32: a minute
    python -m benchmarks.gradient_stats --models deep,simple --batch-sizes 32,256 --json out.json

Per model and batch size, one engine model trains on one batch as the command line trains
(nn.fast.compile's step, Adam foreach=True, lr 1e-3), watched by a GradientStats with the command
line's settings for a full MNIST epoch (windows of ``--every`` steps, the gradient norms and update
ratios measured on one step in ``--sample-every`` and ``--update-every``, the dead units counted on every step; an epoch's
end, which reads the dead units, every ``--epoch-steps`` steps). The hooks are attached before the step is
compiled, as the command line does; the compiled plan is the same with and without them (both are
written). Blocks of steps are timed with the hooks on and off in turn (on, off, off, on, ...: the
same model and arrays both ways, since two model instances can differ by a percent or more from
their memory layout alone), the garbage collector off, and the cost is, per repeat i, watched ms per
step / plain ms per step - 1; the median, min and max over repeats are printed and written (and the cost of the fastest
watched block over the fastest plain one, the blocks least disturbed), for two clocks: wall time
and the CPU time of this thread (``time.thread_time``; the BLAS should have one thread,
OPENBLAS_NUM_THREADS=1, for it to hold all the work), which a busy machine disturbs far less than
wall time: its time slices taken by other processes do not count.
"""
import gc
import json
import sys
import time

import nn
from runfolder.gradient_stats import GradientStats

from . import options, timing
from .workloads import MODELS, EngineRunner, batch_of, build_engine_model

PROG = "python -m benchmarks.gradient_stats"


class WatchedRunner(EngineRunner):
    """EngineRunner's fast step, and a GradientStats on its model and optimizer whose hooks are on only
    while ``watching``; ``steps_per_epoch`` watched steps make an epoch (its end reads the dead units,
    as a run's does). The hooks are attached before the step is compiled, as the command line does."""

    def __init__(self, backend, model, x, every, sample_every, update_every, steps_per_epoch):
        self.backend, self.model, self.x = backend, model, x
        self.loss = nn.MSELoss()
        self.plain = False
        self.optimizer = nn.Adam(model.parameters(), lr=1e-3, foreach=True)
        self.stats = GradientStats(model, self.optimizer, every=every, sample_every=sample_every,
                                   update_every=update_every)
        self.step = nn.fast.compile(model, self.loss)  # after the hooks: the plan sees them
        self._synchronize = None
        self.steps_per_epoch, self.taken, self.watching = steps_per_epoch, 0, True

    def watch(self, on):
        (self.stats.attach if on else self.stats.remove)()
        self.watching = on

    def train_step(self):
        super().train_step()
        if self.watching:
            self.taken += 1
            if self.taken % self.steps_per_epoch == 0:
                self.stats.end_epoch(self.taken // self.steps_per_epoch)


def time_blocks(runner, repeats, steps):
    """{"plain": [...], "watched": [...]} of wall and of this thread's CPU seconds of ``repeats`` blocks of
    ``steps`` steps each way, on the one runner: the hooks on, then off, then off, then on, ... (the
    same model and arrays both ways, so no difference of memory layout between two models shows up as
    a cost), the garbage collector off."""
    wall, cpu = {"plain": [], "watched": []}, {"plain": [], "watched": []}
    gc.collect()
    gc.disable()
    try:
        for repeat in range(repeats):
            for watched in ((True, False) if repeat % 2 == 0 else (False, True)):
                runner.watch(watched)
                kind = "watched" if watched else "plain"
                with runner.mode("train"):
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    for _ in range(steps):
                        runner.train_step()
                    cpu[kind].append(time.thread_time() - started_cpu)
                    wall[kind].append(time.perf_counter() - started)
    finally:
        gc.enable()
        runner.watch(True)
    return wall, cpu


def measure(model_name, batch_size, settings):
    x = batch_of(batch_size, 0)
    runner = WatchedRunner("engine-numpy", build_engine_model(MODELS[model_name], 0), x, settings.every,
                           settings.sample_every, settings.update_every, settings.epoch_steps)
    plain_plan = nn.fast.compile(build_engine_model(MODELS[model_name], 0), nn.MSELoss()).describe()
    runner.time_block("train", settings.warmup)
    steps = timing.calibrate(runner, "train", settings.block_seconds)
    wall, cpu = time_blocks(runner, settings.repeats, steps)
    row = {"model": model_name, "batch_size": batch_size, "steps_per_block": steps,
           "compiled_plan_watched": runner.step.describe(), "compiled_plan_unwatched_model": plain_plan}
    for clock, seconds in (("wall", wall), ("cpu", cpu)):
        plain_ms = [1000 * s / steps for s in seconds["plain"]]
        watched_ms = [1000 * s / steps for s in seconds["watched"]]
        costs = [w / p - 1 for w, p in zip(watched_ms, plain_ms)]
        row[clock] = {"plain_ms_per_step": timing.summary(plain_ms), "watched_ms_per_step": timing.summary(watched_ms),
                      "cost": {**timing.summary(costs), "per_repeat": costs},
                      # the fastest block of each: the one least disturbed by other processes
                      "cost_of_fastest_blocks": min(watched_ms) / min(plain_ms) - 1}
    return row


def main(argv=None):
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=options.names(list(MODELS), "model"), default=["deep"])
    parser.add_argument("--batch-sizes", type=options.batch_sizes, default=[32])
    parser.add_argument("--repeats", type=int, default=41, help="paired blocks (41)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed steps of each first (100)")
    parser.add_argument("--block-seconds", type=float, default=0.25, help="length of a block (0.25 s)")
    parser.add_argument("--every", type=int, default=187, help="steps per window (a run on 60,000 images at batch 32: 187)")
    parser.add_argument("--sample-every", type=int, default=10, help="one step in N has its gradient norms measured (10)")
    parser.add_argument("--update-every", type=int, default=50, help="one step in N has its update ratios measured (50)")
    parser.add_argument("--epoch-steps", type=int, default=1875, help="steps per epoch (60,000 / 32)")
    parser.add_argument("--json", help="write the results to this JSON file")
    settings = parser.parse_args(argv)
    rows = []
    for model_name in settings.models:
        for batch_size in settings.batch_sizes:
            row = measure(model_name, batch_size, settings)
            rows.append(row)
            for clock in ("cpu", "wall"):
                numbers, cost = row[clock], row[clock]["cost"]
                print(f"{model_name} batch {batch_size}, {clock} time: plain {numbers['plain_ms_per_step']['median']:.3f} "
                      f"ms/step, with gradient stats {numbers['watched_ms_per_step']['median']:.3f} ms/step; cost "
                      f"{100 * cost['median']:+.2f}% (median of {settings.repeats} paired blocks of "
                      f"{row['steps_per_block']} steps; min {100 * cost['min']:+.2f}%, max {100 * cost['max']:+.2f}%); "
                      f"fastest block against fastest block {100 * numbers['cost_of_fastest_blocks']:+.2f}%")
    if settings.json:
        with open(settings.json, "w", encoding="utf-8") as handle:
            json.dump({"method": __doc__.strip(), "settings": vars(settings), "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
