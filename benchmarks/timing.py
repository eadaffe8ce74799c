"""How the throughput benchmark times things: warm-up, block sizes, interleaved repeats, medians.

Each backend first runs its warm-up steps, then a block size is chosen so that one timed block of
steps lasts at least ``target_seconds`` (one step at the least). Then the repeats are interleaved:
repeat 1 of every backend, repeat 2 of every backend, ... so that a slow spell of the machine
(another process, thermal throttling) lands on all of them alike and the pairs (repeat i of the
engine, repeat i of torch) see the same conditions. The garbage collector is off while blocks run.
"""
import gc
import math
import statistics
import time

MAX_CALIBRATION_STEPS = 1 << 20

# The method entries every benchmark's JSON shares (each adds its own steps, data and extras).
METHOD = {
    "timing": __doc__.strip().replace("\n", " "),
    "synchronization": "GPU rows: cupy.cuda.Device().synchronize() / torch.cuda.synchronize() before each clock read",
    "samples_per_second": "batch size * steps per block / block seconds, per repeat; median, min and max over repeats",
    "ratio": "per repeat i: (engine samples/s in repeat i) / (torch samples/s in repeat i), same device; "
             "the median, min and max of those pairs; above 1 the engine is faster",
    "threads": "NumPy's BLAS keeps its own thread count (read with threadpoolctl); torch.set_num_threads is "
               "given the same number; both run in one process, so process-wide settings apply to both",
}


def summary(values):
    """{"median", "min", "max"} of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def paired_ratios(numerators, denominators):
    """numerators[i] / denominators[i] for each repeat i."""
    return [numerator / denominator for numerator, denominator in zip(numerators, denominators)]


def rates(batch_size, steps, block_seconds):
    """Samples per second and milliseconds per step of timed blocks of ``steps`` steps each:
    every repeat, and their median, min and max."""
    per_repeat = [batch_size * steps / seconds for seconds in block_seconds]
    milliseconds = [1000 * seconds / steps for seconds in block_seconds]
    return {"steps_per_block": steps, "block_seconds": block_seconds,
            "samples_per_second": {**summary(per_repeat), "per_repeat": per_repeat},
            "ms_per_step": {**summary(milliseconds), "per_repeat": milliseconds}}


def calibrate(runner, kind, target_seconds):
    """Steps per block so that a block lasts about ``target_seconds``: trial blocks double in
    length until one lasts a quarter of the target, and the count is scaled up from that one."""
    steps = 1
    while True:
        elapsed = runner.time_block(kind, steps)
        if elapsed >= target_seconds / 4 or steps >= MAX_CALIBRATION_STEPS:
            break
        steps *= 2
    return max(1, math.ceil(steps * target_seconds / max(elapsed, 1e-9)))


def measure_interleaved(runners, kind, repeats, warmup, target_seconds, progress=None):
    """Time ``repeats`` blocks of ``kind`` steps ("train" or "forward") of every runner, interleaved.

    Returns ({backend: steps per block}, {backend: [block seconds, one per repeat]}).
    """
    steps = {}
    for runner in runners:
        if warmup:
            runner.time_block(kind, warmup)
        steps[runner.backend] = calibrate(runner, kind, target_seconds)
    seconds = {runner.backend: [] for runner in runners}
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection inside one block and not its pair's would show up as noise
    try:
        for repeat in range(repeats):
            for runner in runners:
                seconds[runner.backend].append(runner.time_block(kind, steps[runner.backend]))
            if progress is not None:
                progress(repeat + 1)
    finally:
        if collecting:
            gc.enable()
    return steps, seconds


def measure_each(configurations, measure, errors, log):
    """The rows of ``measure(name, batch_size)`` for each (name, batch size), in order. An error in one
    configuration is recorded in ``errors`` and the others still run; each one's time is logged."""
    rows = []
    for index, (name, batch_size) in enumerate(configurations, start=1):
        begun = time.perf_counter()
        try:
            rows += measure(name, batch_size)
        except Exception as error:
            errors.append(f"{name} batch {batch_size}: {type(error).__name__}: {error}")
        log(f"[{index}/{len(configurations)}] {name} batch {batch_size}: {time.perf_counter() - begun:.1f} s")
    return rows
