"""Adam's step on a state full of subnormal floats, against a fresh state, with and without flushing.

Late in a real run, Adam's m of every parameter whose gradient has become zero (dead ReLU units)
decays by beta1 each step into the subnormal range (below 1.18e-38 in float32), where x86
processors compute tens of times slower. This measures one optimizer step of the seed's deep model
(224,601 float32 parameters, Adam lr 1e-3 with foreach=True, as the command line trains) in four
conditions, interleaved, each timed block starting from the same saved state:

    fresh       m and v of a few steps of random gradients (all normal numbers)
    subnormal   the same, with --dead entries (54,000 by default, as measured after the main job's
                20 epochs) getting zero gradients and an m in the subnormal range
    x flush off / on: nn.fast.set_flush_denormal(False / True)

    python -m benchmarks.subnormal [--repeats 21] [--steps 10] [--json PATH]

Measurement only: it prints microseconds per step (medians) and the subnormal/fresh ratio per
flush mode, and writes them as JSON when asked.
"""
import argparse
import statistics
import time

import numpy

import nn

from . import machine, report, workloads


def _optimizer_and_snapshot(dead, subnormal, seed=0):
    """An Adam over the deep model after 5 steps of random gradients; with ``subnormal``, about ``dead``
    entries (chosen at random) then hold a subnormal m and get zero gradients from then on.
    Returns (optimizer, snapshot, gradients), per parameter."""
    rng = numpy.random.default_rng(seed)
    parameters = list(workloads.MODELS["deep"].build().parameters())
    optimizer = nn.Adam(parameters, lr=workloads.LEARNING_RATE, foreach=True)  # as the command line trains
    for _ in range(5):
        for parameter in parameters:
            gradient = (rng.standard_normal(parameter.shape) * 1e-2).astype(parameter.dtype)
            if parameter.grad is None:  # None until a backward (or this) writes it
                parameter.grad = gradient
            else:
                parameter.grad[...] = gradient
        optimizer.step()
    fraction = dead / sum(parameter.size for parameter in parameters)
    gradients, snapshot = [], []
    for parameter in parameters:
        gradient = (rng.standard_normal(parameter.shape) * 1e-2).astype(parameter.dtype)
        state = optimizer.state[parameter]
        if subnormal:
            chosen = rng.random(parameter.shape) < fraction
            smallest_normal = numpy.finfo(parameter.dtype).tiny
            state["exp_avg"][chosen] = smallest_normal * rng.uniform(0.01, 0.9, int(chosen.sum()))
            gradient[chosen] = 0
        gradients.append(gradient)
        snapshot.append({"data": parameter.data.copy(), "exp_avg": state["exp_avg"].copy(),
                         "exp_avg_sq": state["exp_avg_sq"].copy()})
    return optimizer, snapshot, gradients


def _restore(optimizer, snapshot, gradients):
    for parameter, saved, gradient in zip(optimizer.param_groups[0]["params"], snapshot, gradients):
        state = optimizer.state[parameter]  # views of the optimizer's buffers: written in place
        parameter.data[...], parameter.grad[...] = saved["data"], gradient
        state["exp_avg"][...], state["exp_avg_sq"][...] = saved["exp_avg"], saved["exp_avg_sq"]


def count_subnormal(array):
    magnitude = numpy.abs(array)
    return int(numpy.count_nonzero((magnitude > 0) & (magnitude < numpy.finfo(array.dtype).tiny)))


def measure(dead, repeats, steps, log=print):
    conditions = {name: _optimizer_and_snapshot(dead, name == "subnormal") for name in ("fresh", "subnormal")}
    subnormal_entries = {name: sum(count_subnormal(saved["exp_avg"]) for saved in snapshot)
                         for name, (_, snapshot, _) in conditions.items()}
    times = {(state, flush): [] for state in conditions for flush in (False, True)}
    supported = nn.fast.set_flush_denormal(False)
    try:
        for repeat in range(repeats + 1):  # the first round warms up and is not kept
            for (state, flush) in times:
                optimizer, snapshot, gradients = conditions[state]
                _restore(optimizer, snapshot, gradients)
                nn.fast.set_flush_denormal(flush)
                start = time.perf_counter()
                for _ in range(steps):
                    optimizer.step()
                elapsed = (time.perf_counter() - start) / steps * 1e6
                nn.fast.set_flush_denormal(False)
                if repeat:
                    times[state, flush].append(elapsed)
    finally:
        nn.fast.set_flush_denormal(False)
    rows = []
    for flush in (False, True):
        fresh, subnormal = times["fresh", flush], times["subnormal", flush]
        ratios = [s / f for s, f in zip(subnormal, fresh)]
        rows.append({"flush_denormal": flush, "fresh_us": statistics.median(fresh),
                     "subnormal_us": statistics.median(subnormal), "subnormal_over_fresh": statistics.median(ratios)})
        log(f"flush {'on ' if flush else 'off'}: fresh {rows[-1]['fresh_us']:8.1f} µs/step   subnormal "
            f"{rows[-1]['subnormal_us']:8.1f} µs/step   subnormal/fresh {rows[-1]['subnormal_over_fresh']:.2f}x")
    return {"flush_supported": supported, "parameters": sum(saved["data"].size for saved in conditions["fresh"][1]),
            "subnormal_entries_of_m": subnormal_entries, "steps_per_block": steps, "repeats": repeats, "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.subnormal", description=__doc__.split("\n")[0])
    parser.add_argument("--dead", type=int, default=54000, help="entries with a subnormal m (54000)")
    parser.add_argument("--repeats", type=int, default=21, help="timed blocks per condition (21)")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per timed block (10)")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    keep_freed_memory = nn.keep_freed_memory()  # as in training: see nn.keep_freed_memory
    results = measure(args.dead, args.repeats, args.steps)
    if not results["flush_supported"]:
        print("nn.fast.set_flush_denormal is not supported here: both flush rows ran without flushing")
    if args.json:
        report.write_json({"machine": machine.describe(), "keep_freed_memory": keep_freed_memory,
                           **results}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
