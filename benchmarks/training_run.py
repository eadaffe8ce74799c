"""Whole training runs of the main job on this engine and on PyTorch eager, epoch by epoch.

    python -m benchmarks.training_run                  # 3 runs of 20 epochs each: about a minute, quiet
    python -m benchmarks.training_run --quick          # a smoke test: seconds
    python -m benchmarks.training_run --json benchmarks/results/training-run.json \\
                                      --plot benchmarks/results/training-run.png
    python -m benchmarks.training_run --background 2 --threads auto,1,2   # under load, thread counts compared

The main job is ``python -m autoencoders train`` with the default preset: the seed's deep
autoencoder (784-128-64-36-18-9 and back, ReLU between, Sigmoid last), MSE, Adam lr 1e-3, batch 32,
20 epochs, subnormal floats flushed to zero (``nn.fast.set_flush_denormal(True)``, as the command line
sets it; --engine-flush off computes with them; PyTorch runs at its own default, off), on MNIST's training images as ``datasets.load`` finds them (offline, the 4,000-image
sample; the first --limit images in any case, so runs on different machines train on as many).

What is measured: each run builds the engine model from one seed and a torch model with the same
structure and weights (torch.nn.Sequential, state dict copied), and two DataLoaders with one
shuffle seed, so both see the same batches in the same order. The epochs are paired and
interleaved: epoch e of the engine, then epoch e of torch (torch first on even epochs), so machine
noise lands on both alike. An engine epoch is autoencoders.training.fit for one epoch (what the
command line runs: the step, the loss read back every step, the finite-weights check); a torch
epoch is the same loop written in torch (opt.zero_grad(); v = lf(m(x), x); v.backward();
opt.step(); v.item()). Per run and backend: the epoch seconds, the whole-run seconds (their sum),
the late/early ratio (mean of the last 5 epochs / mean of epochs 2-6; with fewer than 11 epochs,
the last half of epochs 2..N against the first half; epoch 1 is warm-up), the train loss of each epoch, and,
at the end, how many entries of the parameters and the optimizer state are subnormal floats (the
values that make float arithmetic slow on x86). After each epoch pair a fixed piece of float32
work is timed (MachineSpeed); the late/early ratio of epoch times divided by it ("adjusted") takes
out a machine that slowed down or sped up during the run (another process, a busy host); the
target is judged on the plain ratio, the adjusted one says whether a miss was the machine's. Ratios are torch seconds / engine seconds: above 1
the engine is faster; the median over runs is the reported number.

Under load (--background N): N busy processes (benchmarks.background: pure-Python loops, or NumPy
loops with --background-kind numpy) spin for the whole measurement, started before the first run
and killed after the last (on an error or Ctrl-C too), so every epoch of every backend runs beside
them. --threads names the engine's BLAS thread counts, each a run of its own in the same interleaved
order: "auto" is what the command line would choose (runfolder.threads, chosen once when the run is
built), a number a fixed count; the first one is "engine-numpy" (the ratio's), the others
"engine-numpy@<count>". PyTorch runs with --torch-threads threads (default: NumPy's BLAS count at the
start, as every benchmark here gives it). The JSON records the load average and the busy share of
the cores at the start (after the background started) and the end, and each engine run's thread choice.
"""
import gc
import statistics
import sys
import time
import warnings as python_warnings

import argparse

import numpy

import datasets
import nn
from nn.fast.floats import flush_denormal
from runfolder import threads as blas_threads
from runfolder.arguments import number_type
from autoencoders.fast_steps import FastSteps
from autoencoders.training import History, choose_threads, fit

from . import background, machine, options, report, timing, workloads

PROG = "python -m benchmarks.training_run"
BACKENDS = ("engine-numpy", "torch-cpu")
FULL = {"epochs": 20, "runs": 3, "limit": 4000}
QUICK = {"epochs": 3, "runs": 1, "limit": 512}
BATCH_SIZE, SEED, SHUFFLE_SEED = 32, 0, 0
LATE = 5  # epochs 2..6 against the last 5
TARGETS = (("whole-run engine speedup over torch-cpu", "ratio", ">=", 2.0),
           ("engine late/early epoch time", "engine_late_over_early", "<=", 1.2),
           ("engine (first --threads) whole run / the best fixed thread count's", "auto_over_best_fixed", "<=", 1.1))
QUIET_RATIO_TARGET = 2.3  # with no --background: the whole-run speedup asked for on a quiet machine


def thread_counts(text):
    """--threads: a comma-separated list of distinct "auto" or positive counts."""
    counts = []
    for item in text.split(","):
        item = item.strip()
        if item != "auto":
            try:
                item = int(item)
            except ValueError:
                raise argparse.ArgumentTypeError(f"thread count {item!r} in {text!r} is neither auto nor a number") from None
            if item < 1:
                raise argparse.ArgumentTypeError(f"thread count {item} in {text!r} must be at least 1")
        counts.append(item)
    if len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"a thread count is listed twice in {text!r}")
    return counts


def engine_name(index, threads):
    return "engine-numpy" if index == 0 else f"engine-numpy@{threads}"


def build_parser():
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                            epilog="Defaults: " + ", ".join(f"{k}={v}" for k, v in FULL.items()) + "; --quick: "
                            + ", ".join(f"{k}={v}" for k, v in QUICK.items()) + ". Options given explicitly override --quick.")
    parser.add_argument("--epochs", type=number_type(int, at_least=1), help="epochs per run")
    parser.add_argument("--runs", type=number_type(int, at_least=1), help="runs, each from the same initial weights")
    parser.add_argument("--limit", type=number_type(int, at_least=0),
                        help="train on the first LIMIT images (0: the whole training split)")
    parser.add_argument("--backends", type=options.names(BACKENDS, "backend"), default=list(BACKENDS),
                        help=f"comma-separated, from {','.join(BACKENDS)}")
    parser.add_argument("--engine-flush", choices=("on", "off"), default="on",
                        help="the engine's epochs with subnormal floats flushed to zero (on: as the command line "
                             "trains) or computed with; PyTorch's epochs always run with the thread's setting "
                             "restored (torch's default: off)")
    parser.add_argument("--background", type=number_type(int, at_least=0, at_most=64), default=0,
                        help="busy processes spinning beside the whole measurement (default 0: none)")
    parser.add_argument("--background-kind", choices=background.KINDS, default="python",
                        help="what each background process spins: a pure-Python loop or NumPy passes")
    parser.add_argument("--threads", type=thread_counts, default=["auto"],
                        help="the engine's BLAS threads, comma-separated, each a run of its own: auto (the command "
                             "line's rule, runfolder.threads) or a count (default: auto)")
    parser.add_argument("--torch-threads", type=number_type(int, at_least=1),
                        help="torch.set_num_threads for PyTorch's epochs (default: NumPy's BLAS count at the start)")
    parser.add_argument("--quick", action="store_true", help="few epochs on few images (a smoke test for CI)")
    parser.add_argument("--json", metavar="PATH", help="write every epoch time, the method and the machine here")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of epoch time against epoch")
    return parser


# --- data -------------------------------------------------------------------------------------------------
def load_images(limit):
    """(float32 images (N, 784), where they came from); the dataset's own warning becomes a note."""
    with python_warnings.catch_warnings(record=True) as caught:
        python_warnings.simplefilter("always")
        train = datasets.load("mnist", "train", quiet=True)
    for warning in caught:
        options.log(f"note: {warning.message}")
    images = train.images if not limit else train.images[:limit]
    return numpy.ascontiguousarray(images, dtype=numpy.float32), train.source


def loader(images):
    return datasets.DataLoader(images, batch_size=BATCH_SIZE, shuffle=True, seed=SHUFFLE_SEED)


# --- one epoch of each backend ---------------------------------------------------------------------------
class EngineRun:
    """The engine as the command line trains it: autoencoders.training.fit, one epoch per call,
    with subnormal floats flushed to zero as the command line sets it (``flush``), and the thread's
    previous setting restored after each epoch so that PyTorch's epochs run with torch's default."""

    backend = "engine-numpy"

    def __init__(self, images, flush, threads="auto", name="engine-numpy"):
        self.flush, self.backend = flush, name
        self.model = workloads.build_engine_model(workloads.MODELS["deep"], SEED)
        # As the command line trains: the fast forms (nn.fast.compile, Adam foreach=True) through FastSteps.
        self.loss = nn.MSELoss()
        self.optimizer = nn.Adam(self.model.parameters(), lr=workloads.LEARNING_RATE, foreach=True)
        self.steps = FastSteps(self.model, self.loss, self.optimizer, cuda_graph=False)
        self.loader, self.history = loader(images), History()
        # Chosen once, as the command line chooses once for its run, and applied in every epoch's fit.
        # A fixed count is applied even where a thread variable is set (the benchmark compares counts; the
        # command line and fit(threads="auto") leave a user's variable alone).
        self.threads = choose_threads(self.model, self.loader, "auto") if threads == "auto" else \
            blas_threads.ThreadChoice(threads, "given", f"{threads} asked for (--threads)")

    def epoch(self):
        """(seconds, mean train loss) of one more epoch."""
        with nn.fast.flushing_denormals(self.flush):
            started = time.perf_counter()
            fit(self.model, self.loader, self.loss, self.optimizer, 1, progress=False, history=self.history,
                steps=self.steps, threads=self.threads)
            return time.perf_counter() - started, self.history.train_loss[-1]

    def arrays(self):
        state = self.optimizer.state_dict()
        return [parameter.data for parameter in self.model.parameters()] + \
            [value for value in state.values() if isinstance(value, numpy.ndarray) and value.ndim]


class TorchRun:
    """PyTorch eager: the same loop in torch, from the engine model's initial weights."""

    backend = "torch-cpu"

    def __init__(self, images, torch):
        engine = workloads.build_engine_model(workloads.MODELS["deep"], SEED)
        self.torch, self.model = torch, workloads.torch_mirror(engine, torch)
        workloads.load_into_torch(self.model, engine.state_dict(), torch)
        self.loss = torch.nn.MSELoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=workloads.LEARNING_RATE)
        self.loader = loader(images)

    def epoch(self):
        torch, model, loss, optimizer = self.torch, self.model, self.loss, self.optimizer
        started = time.perf_counter()
        model.train()
        total, samples = 0.0, 0
        for batch in self.loader:
            x = torch.from_numpy(batch)
            optimizer.zero_grad()
            value = loss(model(x), x)
            value.backward()
            optimizer.step()
            total += value.item() * x.shape[0]
            samples += x.shape[0]
        return time.perf_counter() - started, total / samples

    def arrays(self):
        state = [tensor for entry in self.optimizer.state.values() for tensor in entry.values() if tensor.ndim]
        return [tensor.detach().numpy() for tensor in list(self.model.parameters()) + state]


_EXPONENT_AND_FRACTION = {numpy.dtype(numpy.float32): (numpy.uint32, 0x7F800000, 0x007FFFFF),
                          numpy.dtype(numpy.float64): (numpy.uint64, 0x7FF0000000000000, 0x000FFFFFFFFFFFFF)}


def count_subnormals(arrays):
    """(subnormal entries, all entries) over float arrays: 0 < |a| < the dtype's smallest normal, told from
    the bits (exponent field 0, fraction not 0), so that a thread with denormals-are-zero on (the engine's
    flush, nn.fast.set_flush_denormal) still sees them: its comparisons would read them as 0."""
    subnormal = total = 0
    for array in arrays:
        unsigned, exponent, fraction = _EXPONENT_AND_FRACTION[numpy.dtype(array.dtype)]
        bits = numpy.ascontiguousarray(array).view(unsigned)
        subnormal += int(numpy.count_nonzero(((bits & exponent) == 0) & ((bits & fraction) != 0)))
        total += array.size
    return subnormal, total



# --- runs, summaries -----------------------------------------------------------------------------------------
def late_over_early(seconds):
    """mean of the last LATE epochs / mean of the first LATE after epoch 1 (warm-up, never counted):
    epochs 2-6 against the last 5 with 11 epochs or more; with fewer, the first half of epochs 2..N
    against the last half. None with fewer than 3 epochs."""
    rest = seconds[1:]
    count = LATE if len(rest) >= 2 * LATE else len(rest) // 2
    if count == 0:
        return None
    return statistics.mean(rest[-count:]) / statistics.mean(rest[:count])


class MachineSpeed:
    """A fixed piece of float32 work (matrix products on one BLAS thread and an exponential, no subnormals) timed
    after every epoch pair: its time tracks how fast the machine is running just then, so that epoch
    times divided by it show a slowdown of the training itself rather than of a busy machine."""

    def __init__(self):
        generator = numpy.random.default_rng(0)
        self.a, self.b = (generator.random((384, 384), dtype=numpy.float32) for _ in range(2))
        self.out, self.big = numpy.empty_like(self.a), generator.random(400_000, dtype=numpy.float32)
        self.seconds()  # the first call pays for page faults and the BLAS threads' start

    def _once(self):
        # One BLAS thread: the speed of a core, not how a second thread fares against other processes
        # (which the engine's --threads runs measure themselves).
        with blas_threads.using(blas_threads.ThreadChoice(1, "given", "the reference work")):
            started = time.perf_counter()
            for _ in range(4):
                numpy.matmul(self.a, self.b, out=self.out)
                numpy.exp(self.big, out=self.big)
                self.big *= 1e-3  # back to small normal numbers: exp(1e-3 x) stays near 1
            return time.perf_counter() - started

    def seconds(self):
        """The fastest of three timings (a slow one is an interruption, not the machine's speed)."""
        return min(self._once() for _ in range(3))


def one_run(index, backends, images, epochs, torch, flush, threads=("auto",)):
    runs = []
    for backend in backends:
        if backend == "engine-numpy":
            runs += [EngineRun(images, flush, count, engine_name(position, count)) for position, count in enumerate(threads)]
        else:
            runs.append(TorchRun(images, torch))
    record = {run.backend: {"epoch_seconds": [], "epoch_cpu_seconds": [], "train_loss": []} for run in runs}
    for run in runs:
        if isinstance(run, EngineRun):
            record[run.backend]["threads"] = None if run.threads is None else run.threads.as_dict()
    record["reference_seconds"], reference = [], MachineSpeed()
    for epoch in range(1, epochs + 1):
        turn = (epoch - 1) % len(runs)  # each backend takes each place in the order in turn (two: alternate)
        for run in runs[turn:] + runs[:turn]:
            gc.collect()  # the collector's debt of one backend's epoch is not paid in the other's
            cpu_started = time.process_time()
            seconds, loss = run.epoch()
            record[run.backend]["epoch_cpu_seconds"].append(time.process_time() - cpu_started)
            record[run.backend]["epoch_seconds"].append(seconds)
            record[run.backend]["train_loss"].append(loss)
        record["reference_seconds"].append(reference.seconds())
        options.log(f"run {index} epoch {epoch}/{epochs}: " + ", ".join(
            f"{run.backend} {record[run.backend]['epoch_seconds'][-1]:.3f} s" for run in runs))
    for run in runs:
        entry = record[run.backend]
        entry["whole_run_seconds"] = sum(entry["epoch_seconds"])
        entry["whole_run_cpu_seconds"] = sum(entry["epoch_cpu_seconds"])
        entry["late_over_early_cpu"] = late_over_early(entry["epoch_cpu_seconds"])
        entry["late_over_early"] = late_over_early(entry["epoch_seconds"])
        entry["late_over_early_machine_adjusted"] = late_over_early(
            [seconds / speed for seconds, speed in zip(entry["epoch_seconds"], record["reference_seconds"])])
        entry["subnormals_at_end"], entry["state_entries"] = count_subnormals(run.arrays())
    if "engine-numpy" in record and "torch-cpu" in record:
        engine, other = record["engine-numpy"], record["torch-cpu"]
        record["ratio"] = other["whole_run_seconds"] / engine["whole_run_seconds"]
        record["epoch_ratios"] = timing.paired_ratios(other["epoch_seconds"], engine["epoch_seconds"])
        record["cpu_ratio"] = other["whole_run_cpu_seconds"] / engine["whole_run_cpu_seconds"]
    return record


def summarize(runs, backends):
    summary = {}
    for backend in backends:
        if "threads" in runs[0][backend]:
            summary.setdefault("engine_threads", {})[backend] = runs[0][backend]["threads"]
        summary[backend] = {
            "whole_run_seconds": timing.summary([run[backend]["whole_run_seconds"] for run in runs]),
            "epoch_seconds_median": [statistics.median(values) for values in
                                     zip(*(run[backend]["epoch_seconds"] for run in runs))],
        }
        for key in ("late_over_early", "late_over_early_machine_adjusted", "late_over_early_cpu"):
            ratios = [run[backend][key] for run in runs]
            summary[backend][key] = timing.summary(ratios) if None not in ratios else None
    if all("ratio" in run for run in runs):
        summary["ratio"] = timing.summary([run["ratio"] for run in runs])
        summary["cpu_ratio"] = timing.summary([run["cpu_ratio"] for run in runs])
    choices = summary.get("engine_threads") or {}
    fixed = [backend for backend, choice in choices.items() if choice and choice["source"] == "given"]
    if "engine-numpy" in fixed:
        fixed = []  # the first run is itself a fixed count: there is no rule to compare with the best one
    if choices.get("engine-numpy") and fixed:
        best = min(fixed, key=lambda backend: summary[backend]["whole_run_seconds"]["median"])
        summary["best_fixed_threads"] = {"backend": best, "threads": summary["engine_threads"][best]["threads"],
                                         "whole_run_seconds": summary[best]["whole_run_seconds"]["median"]}
        summary["auto_over_best_fixed"] = summary["engine-numpy"]["whole_run_seconds"]["median"] / \
            summary["best_fixed_threads"]["whole_run_seconds"]
    return summary


def evaluate_targets(summary, background_count=0):
    values = {"ratio": (summary.get("ratio") or {}).get("median"),
              "engine_late_over_early": ((summary.get("engine-numpy") or {}).get("late_over_early") or {}).get("median"),
              "auto_over_best_fixed": summary.get("auto_over_best_fixed")}
    targets = list(TARGETS)
    if background_count == 0:  # quiet: the engine is asked for more than under load
        targets[0] = (f"{targets[0][0]} (quiet)", "ratio", ">=", QUIET_RATIO_TARGET)
    else:
        targets[0] = (f"{targets[0][0]} under {background_count} busy process(es)", "ratio", ">=", targets[0][3])
    outcomes = []
    for description, key, relation, threshold in targets:
        value = values[key]
        passed = value is not None and (value >= threshold if relation == ">=" else value <= threshold)
        outcomes.append({"description": f"{description} {relation} {threshold}", "value": value, "threshold": threshold,
                         "status": "not measured" if value is None else ("PASS" if passed else "MISS")})
    return outcomes


METHOD = {
    "runs": __doc__.split("\n\n", 3)[3].strip().replace("\n", " "),
    "engine_epoch": "nn.fast.set_flush_denormal(engine_flush); autoencoders.training.fit(model, loader, MSELoss(), "
                    "Adam(lr=1e-3, foreach=True), 1, progress=False, steps=FastSteps(...)); the thread's previous flush setting restored",
    "torch_epoch": "for x in loader: opt.zero_grad(); v = lf(m(x), x); v.backward(); opt.step(); v.item()",
    "threads": timing.METHOD["threads"],
    "reference": MachineSpeed.__doc__.strip().replace("\n", " "),
    "subnormals": "entries a with 0 < |a| < finfo(float32).tiny among the parameters and the optimizer's "
                  "per-element state after the last epoch",
}


def run(settings):
    started = time.perf_counter()
    available, skipped, torch, _, description, warnings = machine.prepare(settings["backends"], options.log)
    available = [backend for backend in BACKENDS if backend in available]  # the engine first: ratios read so
    if torch is not None and settings.get("torch_threads"):
        torch.set_num_threads(settings["torch_threads"])
    images, source = load_images(settings["limit"])
    options.log(f"{len(images):,} images from {source}")
    description["flush_denormal_at_start"] = flush_denormal()
    description["torch_threads"] = torch.get_num_threads() if torch is not None else None
    threads = settings.get("threads", ["auto"])
    count, kind = settings.get("background", 0), settings.get("background_kind", "python")
    runs = []
    with background.Busy(count, kind) as busy:
        if count:
            options.log(f"{count} busy background process(es) ({kind} loops) running")
        load = {"background": count, "background_kind": kind, "background_pids": [p.pid for p in busy.processes],
                "load_average_at_start": machine.load_average(), "busy_cores_at_start": blas_threads.busy_cores()}
        for index in range(1, settings["runs"] + 1):
            runs.append(one_run(index, available, images, settings["epochs"], torch, settings["engine_flush"], threads))
        load.update(background_alive_at_end=busy.alive(), load_average_at_end=machine.load_average(),
                    busy_cores_at_end=blas_threads.busy_cores())
    available = [backend for backend in runs[0] if backend.startswith("engine-numpy")] + \
        [backend for backend in available if backend != "engine-numpy"]
    summary = summarize(runs, available)
    description["flush_denormal_at_end"] = flush_denormal()
    description["load_average_at_end"] = machine.load_average()
    results = {
        "schema": "benchmarks.training_run/1",
        "command": [PROG] + sys.argv[1:],
        "machine": description,
        "method": {**METHOD, "timing": "wall seconds (time.perf_counter) and process CPU seconds (time.process_time) of each "
                                         "epoch, gc collected before each"},
        "config": {**settings, "batch_size": BATCH_SIZE, "seed": SEED, "shuffle_seed": SHUFFLE_SEED,
                   "model": workloads.MODELS["deep"].description, "lr": workloads.LEARNING_RATE,
                   "images": len(images), "data_source": source},
        "load": load,
        "skipped": skipped,
        "available": available,
        "runs": runs,
        "summary": summary,
        "warnings": warnings,
    }
    results["targets"] = evaluate_targets(summary, count)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


# --- output -----------------------------------------------------------------------------------------------
def format_results(results):
    lines = [f"skipped {backend}: {reason}" for backend, reason in results["skipped"].items()]
    config, summary = results["config"], results["summary"]
    lines.append(f"deep autoencoder, batch {config['batch_size']}, {config['images']:,} images, "
                 f"{config['epochs']} epochs, {config['runs']} run(s); median over runs")
    load = results["load"]
    lines.append(f"{load['background']} busy background process(es); load average {load['load_average_at_start']} "
                 f"at the start, {load['load_average_at_end']} at the end; torch threads {results['machine']['torch_threads']}")
    for backend, choice in (summary.get("engine_threads") or {}).items():
        if choice is not None:
            lines.append(f"{backend}: {choice['threads']} BLAS thread(s) ({choice['source']}: {choice['reason']})")
    backends = results["available"]
    header = ("epoch", *(f"{backend} s" for backend in backends)) + (("torch / engine",) if "ratio" in summary else ())
    rows = []
    medians = [summary[backend]["epoch_seconds_median"] for backend in backends]
    for epoch, seconds in enumerate(zip(*medians), start=1):
        row = [str(epoch), *(f"{value:.3f}" for value in seconds)]
        if "ratio" in summary:
            row.append(f"{seconds[backends.index('torch-cpu')] / seconds[backends.index('engine-numpy')]:.2f}x")
        rows.append(row)
    whole = ["whole run", *(f"{summary[backend]['whole_run_seconds']['median']:.2f}" for backend in backends)]
    if "ratio" in summary:
        whole.append(f"{summary['ratio']['median']:.2f}x")
    rows.append(whole)
    late = ["late/early", *(f"{summary[b]['late_over_early']['median']:.2f}" if summary[b]["late_over_early"] else "-"
                            for b in backends)]
    rows.append(late + ([""] if "ratio" in summary else []))
    adjusted = ["  adjusted", *(f"{summary[b]['late_over_early_machine_adjusted']['median']:.2f}"
                                if summary[b]["late_over_early_machine_adjusted"] else "-" for b in backends)]
    rows.append(adjusted + ([""] if "ratio" in summary else []))
    cpu = ["  CPU time", *(f"{summary[b]['late_over_early_cpu']['median']:.2f}"
                           if summary[b]["late_over_early_cpu"] else "-" for b in backends)]
    rows.append(cpu + ([""] if "ratio" in summary else []))
    lines += ["", report.format_table(header, rows, left=(0,))]
    if "ratio" in summary:
        ratio = summary["ratio"]
        lines.append(f"whole run: the engine is {ratio['median']:.2f}x PyTorch eager "
                     f"(median of {len(results['runs'])} run(s), {ratio['min']:.2f}-{ratio['max']:.2f}); "
                     f"by CPU time {summary['cpu_ratio']['median']:.2f}x")
    last = results["runs"][-1]
    for backend in backends:
        lines.append(f"{backend}: {last[backend]['subnormals_at_end']:,} of {last[backend]['state_entries']:,} "
                     "parameter and optimizer-state entries subnormal at the end")
    lines += ["", "targets (a MISS is reported, not an error):"]
    for target in results["targets"]:
        value = "not measured" if target["value"] is None else f"{target['value']:.2f}"
        lines.append(f"  {target['status']:<12} {target['description']}: {value}")
    lines += [f"warning: {warning}" for warning in results["warnings"]]
    return "\n".join(lines)


def write_plot(results, path):
    """Epoch seconds against epoch, a line per backend and run: wall seconds, and process CPU
    seconds dotted (the two part when the machine is busy with other work)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(7.5, 4.6))
    for backend in results["available"]:
        color, style = report.PLOT_STYLE.get(backend, (None, "-"))
        for index, entry in enumerate(results["runs"]):
            seconds, cpu = entry[backend]["epoch_seconds"], entry[backend]["epoch_cpu_seconds"]
            epochs = range(1, len(seconds) + 1)
            axis.plot(epochs, seconds, color=color, linestyle=style, marker="o", markersize=3,
                      alpha=0.9 if index == 0 else 0.45, label=f"{backend}, wall" if index == 0 else None)
            axis.plot(epochs, cpu, color=color, linestyle=":", linewidth=1, alpha=0.8 if index == 0 else 0.4,
                      label=f"{backend}, process CPU" if index == 0 else None)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("epoch seconds")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    summary, config = results["summary"], results["config"]
    ratio = f"; whole run: engine {summary['ratio']['median']:.2f}x torch" if "ratio" in summary else ""
    axis.set_title(f"Main job, deep autoencoder, batch {config['batch_size']}, {config['images']:,} images{ratio}\n"
                   f"{results['machine']['cpu']['model']}, BLAS threads: {results['machine']['blas_threads']}",
                   fontsize=9)
    figure.tight_layout()
    report.save_figure(figure, path)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    options.check_output_path(parser, "--json", args.json)
    options.check_output_path(parser, "--plot", args.plot)
    settings = options.settings_from(args, FULL, QUICK, ("epochs", "runs", "limit"))
    settings.update(backends=args.backends, quick=args.quick, engine_flush=args.engine_flush == "on",
                    background=args.background, background_kind=args.background_kind, threads=args.threads,
                    torch_threads=args.torch_threads)
    results = run(settings)
    print(format_results(results), flush=True)
    if args.json:
        report.write_json(results, args.json)
        options.log(f"wrote {args.json}")
    if args.plot:
        write_plot(results, args.plot)
        options.log(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
