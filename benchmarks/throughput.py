"""Training throughput of the autoencoders on this engine (NumPy, CuPy) and on PyTorch, against
the machine's matrix-multiply limit.

    python -m benchmarks.throughput                 # all models and batch sizes: a few minutes
    python -m benchmarks.throughput --quick         # a smoke test: seconds
    python -m benchmarks.throughput --json benchmarks/results/cpu.json --plot benchmarks/results/cpu.png
    python -m benchmarks.throughput --models deep --backends engine-numpy,torch-cpu,numpy-plain,jax-cpu,dezero

What is measured, per model, batch size and backend (engine-numpy, torch-cpu, engine-cupy,
torch-cuda, and the CPU peers numpy-plain, jax-cpu, dezero of benchmarks.peers; a backend that
cannot run here is skipped, with the reason printed):

- training steps per second, as samples/s and ms per step. One step, float32, Adam (lr 1e-3), MSE:
    engine:  value = loss(model(x), x); optimizer.zero_grad();
             model.backward(loss.backward(), need_input_grad=False); optimizer.step()
    torch:   opt.zero_grad(); v = lf(m(x), x); v.backward(); opt.step()
  The torch model has the engine model's structure and starts from its weights; both see the same
  batch. torch-cpu runs with as many threads as NumPy's BLAS (read with threadpoolctl).
- forward passes per second (the engine in eval mode, torch in eval mode under no_grad).
- the ratio engine / torch of samples/s, per pair of repeats (repeat i of each), and its median;
  the same ratio of engine-numpy to each CPU peer (ratio_to_peers).
- the fraction of the ceiling: ceiling = (float32 GEMM FLOP/s of a 2048 x 2048 @ 2048 x 2048
  product, median of a few timed before and after the models, NumPy for CPU rows and CuPy for GPU
  rows) / (training FLOPs per sample),
  where for a dense model with Linear layers of sizes (in_k, out_k), S = sum_k in_k * out_k:
      forward 2 S  +  weight gradients 2 S  +  input gradients 2 (S - in_1 out_1)
  (the first layer's input gradient is skipped by both engines; biases, activations, the loss and
  the optimizer are elementwise and not counted).
- peak resident memory of each CPU configuration, in a separate process (this script with a hidden
  --child option) that builds the model and runs a few steps: VmHWM on Linux (else ru_maxrss), MiB.
- with a GPU: the speedup of engine-cupy over engine-numpy per batch size.

Method: warm-up steps; block sizes chosen so that a block lasts >= --block-seconds; repeats
interleaved across backends (engine, torch, engine, torch, ...) so drift hits all alike; medians
with min and max over repeats; GPU work synchronized before each clock read. Targets for the deep
model are printed PASS or MISS; a miss never changes the exit status (which is 1 only when a
measurement failed, 2 for bad options).
"""
import argparse
import concurrent.futures
import gc
import json
import os
import subprocess
import sys
import time

from . import machine, options, report, timing, workloads
from .backends import make_runner
from .peers import PEERS
from .workloads import BACKENDS, DEVICE_OF_BACKEND, MODELS, TORCH_COUNTERPART

PROG = "python -m benchmarks.throughput"
GEMM_SIZE = 2048
SEED = 0
FULL = {"models": list(MODELS), "batch_sizes": [32, 256, 2048, 8192], "repeats": 7, "warmup": 5,
        "block_seconds": 0.2, "gemm_repeats": 5, "memory_steps": 3}
QUICK = {"models": ["deep", "simple"], "batch_sizes": [32, 256], "repeats": 3, "warmup": 2,
         "block_seconds": 0.02, "gemm_repeats": 3, "memory_steps": 2}
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- options -------------------------------------------------------------------------------------------
def build_parser():
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                     epilog="Defaults: " + ", ".join(f"{key}={value}" for key, value in FULL.items())
                     + "; --quick: " + ", ".join(f"{key}={value}" for key, value in QUICK.items())
                     + ". Options given explicitly override --quick.")
    parser.add_argument("--models", type=options.names(list(MODELS), "model"),
                        help=f"comma-separated, from {','.join(MODELS)}")
    options.add_timing_options(parser, "backend and configuration",
                               quick_help="tiny sizes and few repeats (a smoke test for CI)",
                               plot_help="write a PNG of training throughput against batch size",
                               backends=BACKENDS)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "BATCH", "BACKEND", "STEPS"), help=argparse.SUPPRESS)
    return parser


def resolve_settings(args):
    """The options with --quick or the full defaults filled in where none was given."""
    settings = options.settings_from(args, FULL, QUICK, ("models", "batch_sizes", "repeats", "warmup", "block_seconds"))
    settings.update(backends=args.backends, quick=args.quick, memory=not args.no_memory, seed=SEED,
                    gemm_size=GEMM_SIZE)
    return settings


# --- peak memory, one process per configuration -----------------------------------------------------------
def peak_rss_mib():
    """(the largest resident set size this process has had, in MiB; how it was read).

    On Linux, VmHWM of /proc/self/status: ru_maxrss would not do, because a child process keeps
    the peak of the parent it was forked from (the kernel carries it across fork and exec).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2 ** 10, "VmHWM"  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows: psutil's peak working set
        import psutil
        return psutil.Process().memory_info().peak_wset / 2 ** 20, "peak_wset"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 2 ** 20 if sys.platform == "darwin" else 2 ** 10  # bytes on macOS, KiB elsewhere
    return peak / scale, "ru_maxrss"


def run_child(model, batch_size, backend, steps):
    """The --child mode: build one configuration, run a few training steps and a forward pass,
    print {"peak_rss_mib", "rss_after_imports_mib", "steps", "measure"} as one JSON line."""
    torch = None
    if backend.startswith("torch"):
        torch, reason = workloads.import_torch()
        if torch is None:
            print(reason, file=sys.stderr)
            return 1
        torch.set_num_threads(machine.numpy_blas_threads()[0])
    after_imports, _ = peak_rss_mib()
    workloads.nn.keep_freed_memory()  # as the parent process (machine.prepare) and training do
    runner = make_runner(backend, MODELS[model], int(batch_size), SEED, torch)
    runner.time_block("train", int(steps))
    runner.time_block("forward", 1)
    peak, source = peak_rss_mib()
    print(json.dumps({"peak_rss_mib": peak, "rss_after_imports_mib": after_imports, "steps": int(steps),
                      "measure": source}))
    return 0


def measure_memory(model, batch_size, backend, steps):
    """Run one configuration in a fresh process (``--child``) and return what it reports, or {"error": ...}."""
    command = [sys.executable, "-m", "benchmarks.throughput", "--child", model, str(batch_size), backend, str(steps)]
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, environment.get("PYTHONPATH")]))
    try:
        done = subprocess.run(command, cwd=REPOSITORY_ROOT, env=environment, capture_output=True, text=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "the memory subprocess ran for more than 600 s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the memory subprocess exited with status {done.returncode}: {tail}"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"the memory subprocess printed no JSON line: {done.stdout[-200:]!r}"}


# --- the measurements -------------------------------------------------------------------------------------
def _ratio(numerator_row, denominator_row):
    result = {}
    for kind in ("train", "forward"):
        pairs = timing.paired_ratios(numerator_row[kind]["samples_per_second"]["per_repeat"],
                                     denominator_row[kind]["samples_per_second"]["per_repeat"])
        result[kind] = {**timing.summary(pairs), "per_repeat": pairs}
    return result


def measure_configuration(spec, batch_size, backends, settings, torch, errors, warnings):
    """Rows of one model and batch size, one per backend that could be built and run."""
    runners = []
    for backend in backends:
        try:
            runners.append(make_runner(backend, spec, batch_size, settings["seed"], torch))
        except Exception as error:
            errors.append(f"{spec.name} batch {batch_size} {backend}: could not build: {type(error).__name__}: {error}")
    if not runners:
        return []
    initial_loss = {runner.backend: runner.loss_value() for runner in runners}
    timed = {}
    for kind in ("train", "forward"):
        timed[kind] = timing.measure_interleaved(runners, kind, settings["repeats"], settings["warmup"],
                                                 settings["block_seconds"])
    rows = {}
    for runner in runners:
        device = DEVICE_OF_BACKEND[runner.backend]
        row = {"model": spec.name, "batch_size": batch_size, "backend": runner.backend, "device": device,
               "initial_loss": initial_loss[runner.backend]}
        for kind in ("train", "forward"):
            steps, seconds = timed[kind]
            row[kind] = timing.rates(batch_size, steps[runner.backend], seconds[runner.backend])
        row["ratio_to_torch"] = None
        row["ratio_to_peers"] = {}
        row["memory"] = None
        rows[runner.backend] = row
    for engine, torch_backend in TORCH_COUNTERPART.items():
        if engine in rows and torch_backend in rows:
            rows[engine]["ratio_to_torch"] = {"against": torch_backend, **_ratio(rows[engine], rows[torch_backend])}
            ours, theirs = initial_loss[engine], initial_loss[torch_backend]
            if abs(ours - theirs) > 1e-4 * abs(theirs):
                warnings.append(f"{spec.name} batch {batch_size}: initial loss {ours!r} on {engine} but {theirs!r} "
                                f"on {torch_backend}: the models are not the same")
    if "engine-numpy" in rows:
        engine = rows["engine-numpy"]
        for peer in PEERS:
            if peer in rows:
                engine["ratio_to_peers"][peer] = {"against": peer, **_ratio(engine, rows[peer])}
                ours, theirs = initial_loss["engine-numpy"], initial_loss[peer]
                if abs(ours - theirs) > 1e-4 * abs(theirs):
                    warnings.append(f"{spec.name} batch {batch_size}: initial loss {ours!r} on engine-numpy but "
                                    f"{theirs!r} on {peer}: the models are not the same")
    del runners
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return list(rows.values())


def gemm_entry(library, settings, torch, cupy):
    rates = workloads.gemm_flops(library, settings["gemm_size"], settings["gemm_repeats"], settings["seed"],
                                 torch=torch, cupy=cupy)
    return {"library": library, "matrix_size": settings["gemm_size"], "dtype": "float32",
            "flops_per_second": {**timing.summary(rates), "per_repeat": rates}}


def ceiling_libraries(available, cupy):
    """{device: the array library whose GEMM is that device's ceiling}: NumPy for the CPU, CuPy for
    the GPU (torch's GEMM when torch-cuda runs without CuPy: the nearest measure there is)."""
    devices = {DEVICE_OF_BACKEND[backend] for backend in available}
    libraries = {}
    if "cpu" in devices:
        libraries["cpu"] = "numpy"
    if "gpu" in devices:
        libraries["gpu"] = "cupy" if cupy is not None else "torch-cuda"
    return libraries


def combine_ceilings(at_start, at_end, warnings):
    """One ceiling per device from the GEMMs timed before and after the model measurements (the
    median of all of them), with a warning when the machine's speed changed in between."""
    ceilings = {"cpu": None, "gpu": None}
    for device, start in at_start.items():
        end = at_end[device]
        rates = start["flops_per_second"]["per_repeat"] + end["flops_per_second"]["per_repeat"]
        ceilings[device] = {**start, "flops_per_second": {**timing.summary(rates), "per_repeat": rates},
                            "median_at_start": start["flops_per_second"]["median"],
                            "median_at_end": end["flops_per_second"]["median"]}
        before, after = start["flops_per_second"]["median"], end["flops_per_second"]["median"]
        if abs(after - before) > 0.15 * before:
            warnings.append(f"the {device} GEMM ran at {before / 1e9:.1f} GFLOP/s before the models and "
                            f"{after / 1e9:.1f} after: the machine's speed changed during the run, so fractions "
                            "of the ceiling (and every other number) are unreliable")
    return ceilings


def apply_ceilings(rows, ceilings, summaries):
    for row in rows:
        ceiling = ceilings.get(row["device"])
        if ceiling is None:
            continue
        row["ceiling_samples_per_second"] = (ceiling["flops_per_second"]["median"]
                                             / summaries[row["model"]]["train_flops_per_sample"])
        row["fraction_of_ceiling"] = row["train"]["samples_per_second"]["median"] / row["ceiling_samples_per_second"]


def gpu_speedups(rows):
    by_key = {(row["model"], row["batch_size"], row["backend"]): row for row in rows}
    speedups = []
    for row in rows:
        if row["backend"] == "engine-numpy" and (row["model"], row["batch_size"], "engine-cupy") in by_key:
            gpu = by_key[(row["model"], row["batch_size"], "engine-cupy")]
            speedups.append({"model": row["model"], "batch_size": row["batch_size"],
                             "numerator": "engine-cupy", "denominator": "engine-numpy", **_ratio(gpu, row)})
    return speedups


METHOD = {
    "train_step": {
        "engine": "value = loss(model(x), x); optimizer.zero_grad(); "
                  "model.backward(loss.backward(), need_input_grad=False); optimizer.step()",
        "torch": "opt.zero_grad(); v = lf(m(x), x); v.backward(); opt.step()"},
    "forward_step": {"engine": "model.eval(); model(x)", "torch": "m.eval(); with torch.no_grad(): m(x)"},
    "model_and_data": "float32; Adam lr 1e-3 (other settings the libraries' defaults); MSE (mean); the torch "
                      "model is a torch.nn.Sequential with the engine model's structure and state-dict names, "
                      "loaded with its initial weights; one batch of uniform [0, 1) values, 784 per sample, the "
                      "same for every backend, reused every step; the loss is never read back inside a block",
    "flops": workloads.flops_per_sample.__doc__.strip(),
    "ceiling": "float32 GEMM (n x n) @ (n x n), 2 n^3 FLOPs, one untimed then a few timed, before the models and "
               "again after them; the median of all timed ones; NumPy for CPU rows, CuPy for GPU rows; "
               "ceiling samples/s = GEMM FLOP/s / training FLOPs per sample; "
               "fraction_of_ceiling = median training samples/s / ceiling samples/s",
    "memory": "peak resident set size (VmHWM of /proc/self/status on Linux, else ru_maxrss) of a separate "
              "process per CPU configuration that imports the libraries, builds the model, optimizer and "
              "batch, runs a few training steps and one forward pass; rss_after_imports_mib is the same measure "
              "before the model is built",
    **timing.METHOD,
}


def run(settings):
    started = time.perf_counter()
    available, skipped, torch, cupy, description, warnings = machine.prepare(settings["backends"], options.log)
    errors = []
    summaries = {name: workloads.model_summary(MODELS[name]) for name in settings["models"]}
    libraries = ceiling_libraries(available, cupy)
    if libraries:
        options.log(f"measuring the GEMM ceiling ({settings['gemm_size']}^3, float32) ...")
    ceilings_at_start = {device: gemm_entry(library, settings, torch, cupy) for device, library in libraries.items()}
    reference = {"torch-cpu": gemm_entry("torch-cpu", settings, torch, cupy)} if "torch-cpu" in available else {}
    configurations = [(name, batch_size) for name in settings["models"] for batch_size in settings["batch_sizes"]]
    rows = timing.measure_each(
        configurations if available else [],
        lambda name, batch_size: measure_configuration(MODELS[name], batch_size, available, settings, torch,
                                                       errors, warnings),
        errors, options.log)
    if libraries:
        options.log("measuring the GEMM ceiling again ...")
    ceilings_at_end = {device: gemm_entry(library, settings, torch, cupy) for device, library in libraries.items()}
    ceilings = combine_ceilings(ceilings_at_start, ceilings_at_end, warnings)
    apply_ceilings(rows, ceilings, summaries)
    cpu_rows = [row for row in rows if row["device"] == "cpu"]
    if settings["quick"]:  # each child imports the libraries anew (torch: seconds); a smoke test needs one batch size
        largest = max(settings["batch_sizes"])
        for row in cpu_rows:
            if row["batch_size"] != largest:
                row["memory"] = {"skipped": f"--quick measures memory at the largest batch size ({largest}) only"}
        cpu_rows = [row for row in cpu_rows if row["batch_size"] == largest]
    if settings["memory"] and cpu_rows:
        options.log(f"measuring peak memory in {len(cpu_rows)} subprocesses ...")
        workers = max(1, min(4, description["cpu"].get("usable") or 1))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            memories = pool.map(lambda row: measure_memory(row["model"], row["batch_size"], row["backend"],
                                                           settings["memory_steps"]), cpu_rows)
            for row, memory in zip(cpu_rows, memories):
                row["memory"] = memory
                if "error" in memory:
                    errors.append(f"{row['model']} batch {row['batch_size']} {row['backend']}: "
                                  f"memory: {memory['error']}")
    for row in rows:
        if row["memory"] is None:
            row["memory"] = {"skipped": "--no-memory was given" if row["device"] == "cpu"
                             else "peak memory is measured for CPU rows only"}
    description["load_average_at_end"] = machine.load_average()
    results = {
        "schema": "benchmarks.throughput/1",
        "command": [PROG] + sys.argv[1:],
        "machine": description,
        "method": METHOD,
        "config": {key: settings[key] for key in ("models", "batch_sizes", "backends", "repeats", "warmup",
                                                  "block_seconds", "gemm_size", "gemm_repeats", "memory",
                                                  "memory_steps", "quick", "seed")},
        "skipped": skipped,
        "available": available,
        "models": summaries,
        "ceiling": ceilings,
        "gemm_reference": reference,
        "measurements": rows,
        "gpu_speedup": gpu_speedups(rows),
        "errors": errors,
        "warnings": warnings,
        "seconds": None,
    }
    results["targets"] = report.evaluate_targets(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        return run_child(*args.child)
    options.check_output_path(parser, "--json", args.json)
    options.check_output_path(parser, "--plot", args.plot)
    settings = resolve_settings(args)
    results = run(settings)
    print(report.format_results(results), flush=True)
    if args.json:
        report.write_json(results, args.json)
        options.log(f"wrote {args.json}")
    if args.plot:
        if results["measurements"]:
            report.write_plot(results, args.plot)
            options.log(f"wrote {args.plot}")
        else:
            options.log(f"no measurements: {args.plot} not written")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
