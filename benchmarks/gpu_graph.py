"""The GPU training step eager, fused and replayed as a CUDA graph, on this engine and on PyTorch.

    python -m benchmarks.gpu_graph [--configs deep:32,deep:256,deep:2048,deep-x4:8192] [--json PATH]

Five rows per model and batch size, the same step (Adam lr 1e-3, MSE, float32, TF32 off), the same
initial weights and batch:

    engine-cupy         the engine's eager step with no fused kernel (``fused_gpu.unfused()``: the
                        plain forms on the GPU; the engine before the kernels were wired in)
    engine-cupy-fused   the eager step as nn.fast.step plans it: the fused kernels, no graph
    engine-cupy-graph   nn.fast.cuda_graph.CapturedStep over the fused step: x copied into its input buffer,
                        one replay
    torch-cuda          PyTorch eager
    torch-cuda-graph    torch.cuda.CUDAGraph over the same step (Adam(capturable=True)), x copied into a
                        static input, one replay

Timing as in benchmarks.timing (warm-up, calibrated blocks, interleaved repeats, medians, the device
synchronized before each clock read). Before timing, 10 captured (fused) steps are checked against 10
unfused eager steps of the engine from the same weights (the largest parameter difference relative
to the largest parameter is printed). Targets of issue 12, printed PASS or MISS (never the exit status): on the seed
model, engine graph >= 2x torch eager and >= 1.0x torch graph at every batch size; on deep-x4 at 8192,
the engine's faster row >= 1.0x torch eager. Without CuPy, PyTorch or a GPU: one line saying which,
exit status 0.

Then, per batch size of the seed model, each fused kernel of nn/fast/kernels.py against its plain form
on CuPy (ms per call, median of repeats; float32, the shapes the seed model's last layer and first
ReLU see): what fusing each chain buys outside a graph.
"""
import argparse
import statistics
import sys
import time

import numpy

import nn
from runfolder.arguments import number_type
from nn.fast import kernels as fused_gpu
from nn.fast.cuda_graph import CapturedStep
from nn.fast.step import compile as plan_fused_step

from . import machine, options, report, timing, workloads
from .backends import make_runner

PROG = "python -m benchmarks.gpu_graph"
ROWS = ("engine-cupy", "engine-cupy-fused", "engine-cupy-graph", "torch-cuda", "torch-cuda-graph")
DEFAULT_CONFIGS = [("deep", 32), ("deep", 256), ("deep", 2048), ("deep-x4", 8192)]
CHECK_STEPS = 10


def configs(text):
    """'deep:32,deep-x4:8192' -> [('deep', 32), ('deep-x4', 8192)]."""
    result = []
    for item in text.split(","):
        name, _, size = item.strip().partition(":")
        if name not in workloads.MODELS or not size.isdigit() or int(size) <= 0:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not MODEL:BATCH with MODEL one of {','.join(workloads.MODELS)} and BATCH a "
                "positive integer")
        result.append((name, int(size)))
    return result


def _device_synchronize(x):
    """The GPU's synchronize for a CuPy x (timing waits for the device); None on the CPU (the tests' stand-in)."""
    return nn.get_array_module(x).cuda.Device().synchronize if nn.device_of(x) == "gpu" else None


class EngineUnfusedRunner(workloads.EngineRunner):
    """The engine's eager step with the plain forms on the GPU too: the baseline the kernels are measured against."""

    def train_step(self):
        with fused_gpu.unfused():
            super().train_step()


class EngineFusedRunner(workloads.EngineRunner):
    """The engine's eager step as nn.fast.step plans it: the fused kernels, each launched eagerly."""

    def __init__(self, model, x):
        super().__init__("engine-cupy-fused", model, x)
        self._synchronize = _device_synchronize(x)
        self.plan = plan_fused_step(model, self.loss)

    def train_step(self):
        self.plan.forward(self.x, self.x)
        self.optimizer.zero_grad()
        self.plan.backward(need_input_grad=False)
        self.optimizer.step()


class EngineGraphRunner(workloads.EngineRunner):
    """The engine's step, captured by CapturedStep and replayed."""

    def __init__(self, model, x, graphs=None):
        super().__init__("engine-cupy-graph", model, x)
        self._synchronize = _device_synchronize(x)
        self.captured = CapturedStep(model, self.loss, self.optimizer, x.shape, graphs=graphs)

    def train_step(self):
        self.captured.step(self.x)


class TorchGraphRunner(workloads.TorchRunner):
    """PyTorch's step captured with torch.cuda.graph, the recipe of its documentation: warm-up on a
    side stream, gradients set to None before capture, a static input copied into before each replay."""

    def __init__(self, model, x, torch):
        super().__init__("torch-cuda-graph", model, x, torch)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=workloads.LEARNING_RATE, capturable=True)
        self.static_x = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._eager(self.static_x)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.loss(model(self.static_x), self.static_x).backward()
            self.optimizer.step()

    def _eager(self, x):
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model(x), x).backward()
        self.optimizer.step()

    def train_step(self):
        self.static_x.copy_(self.x)
        self.graph.replay()


def engine_runner(kind, spec, batch_size):
    """An engine runner of ``kind`` (a row of ROWS) on the GPU, with the weights and batch of seed 0."""
    model = workloads.build_engine_model(spec, seed=0).to("gpu")
    x = nn.to_device(workloads.batch_of(batch_size, seed=0), "gpu")
    if kind == "engine-cupy":
        return EngineUnfusedRunner(kind, model, x)
    return EngineFusedRunner(model, x) if kind == "engine-cupy-fused" else EngineGraphRunner(model, x)


def runners_for(spec, batch_size, torch):
    engines = [engine_runner(kind, spec, batch_size) for kind in ROWS[:3]]
    torch_eager = make_runner("torch-cuda", spec, batch_size, seed=0, torch=torch)
    mirror = make_runner("torch-cuda", spec, batch_size, seed=0, torch=torch)
    torch_graph = TorchGraphRunner(mirror.model, mirror.x, torch)
    return engines + [torch_eager, torch_graph]


def check_against_eager(spec, batch_size):
    """Largest |captured - eager| over the parameters after CHECK_STEPS steps, relative to the largest parameter."""
    eager, graph = engine_runner("engine-cupy", spec, batch_size), engine_runner("engine-cupy-graph", spec, batch_size)
    for _ in range(CHECK_STEPS):
        eager.train_step()
        graph.train_step()
    ours = [nn.to_numpy(p.data) for p in graph.model.parameters()]
    theirs = [nn.to_numpy(p.data) for p in eager.model.parameters()]
    largest = max(float(numpy.max(numpy.abs(array))) for array in theirs)
    return max(float(numpy.max(numpy.abs(a - b))) for a, b in zip(ours, theirs)) / largest


def measure(spec, batch_size, torch, settings):
    runners = runners_for(spec, batch_size, torch)
    steps, seconds = timing.measure_interleaved(runners, "train", settings["repeats"], settings["warmup"],
                                                settings["block_seconds"])
    rates = {name: timing.rates(batch_size, steps[name], seconds[name]) for name in ROWS}
    per_repeat = {name: rates[name]["samples_per_second"]["per_repeat"] for name in ROWS}

    def ratio(numerator, denominator):
        return timing.summary(timing.paired_ratios(per_repeat[numerator], per_repeat[denominator]))["median"]

    return {"model": spec.name, "batch_size": batch_size, "rates": rates,
            "check_relative_difference": check_against_eager(spec, batch_size),
            "ratios": {"graph_vs_torch_eager": ratio("engine-cupy-graph", "torch-cuda"),
                       "graph_vs_torch_graph": ratio("engine-cupy-graph", "torch-cuda-graph"),
                       "eager_vs_torch_eager": ratio("engine-cupy", "torch-cuda"),
                       "fused_vs_torch_eager": ratio("engine-cupy-fused", "torch-cuda"),
                       "fused_vs_eager": ratio("engine-cupy-fused", "engine-cupy"),
                       "graph_vs_eager": ratio("engine-cupy-graph", "engine-cupy")}}


def fused_rows(batch_sizes, repeats, calls=50):
    """[{kernel, batch_size, plain_ms, fused_ms}] of each fused kernel against its plain form."""
    from nn.fast import kernels as fused_gpu
    cupy = gpu_array_module()
    synchronize = cupy.cuda.Device().synchronize
    rng = numpy.random.default_rng(0)
    rows = []
    for batch_size in batch_sizes:
        pixels = nn.to_device(rng.random((batch_size, workloads.INPUT_DIM), dtype=numpy.float32), "gpu")
        hidden = nn.to_device(rng.standard_normal((batch_size, 128), dtype=numpy.float32), "gpu")
        bias = hidden[0].copy()
        inputs = {"sigmoid_forward": (pixels,), "sigmoid_backward": (pixels, pixels),
                  "mse_sigmoid_backward": (pixels, pixels, 2.0 / pixels.size), "bias_relu": (hidden, bias)}
        for name, arguments in inputs.items():
            times = {}
            for form, function in (("plain", getattr(fused_gpu, name)),
                                   ("fused", lambda *a, name=name: fused_gpu.fused(name, *a))):
                function(*arguments)
                seconds = []
                for _ in range(repeats):
                    synchronize()
                    started = time.perf_counter()
                    for _ in range(calls):
                        function(*arguments)
                    synchronize()
                    seconds.append((time.perf_counter() - started) / calls)
                times[form] = 1000 * statistics.median(seconds)
            rows.append({"kernel": name, "batch_size": batch_size, "plain_ms": times["plain"],
                         "fused_ms": times["fused"]})
    return rows


def targets(row):
    ratios = row["ratios"]
    if row["model"] == "deep":
        return [("engine graph >= 2x torch eager", ratios["graph_vs_torch_eager"] >= 2.0),
                ("engine graph >= 1.0x torch graph", ratios["graph_vs_torch_graph"] >= 1.0)]
    if row["model"] == "deep-x4" and row["batch_size"] == 8192:
        best = max(ratios["graph_vs_torch_eager"], ratios["fused_vs_torch_eager"], ratios["eager_vs_torch_eager"])
        return [("engine >= 1.0x torch eager", best >= 1.0)]
    return []


def gpu_array_module():
    """CuPy, found through the engine (only nn.backend imports it); BackendError without a GPU."""
    return nn.get_array_module(nn.to_device(numpy.zeros(1, dtype=numpy.float32), "gpu"))


def gpu_unavailable(torch):
    """Why this cannot run here, or None."""
    if torch is None:
        return None
    try:
        gpu_array_module()
    except nn.BackendError as error:
        return str(error)
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False)"
    return None


def main(argv=None):
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=configs, default=DEFAULT_CONFIGS,
                        help="comma-separated MODEL:BATCH (deep:32,deep:256,deep:2048,deep-x4:8192)")
    parser.add_argument("--repeats", type=number_type(int, at_least=1), default=5, help="timed blocks (5)")
    parser.add_argument("--warmup", type=number_type(int, at_least=0), default=5,
                        help="untimed steps before calibration (5)")
    parser.add_argument("--block-seconds", type=number_type(float, above=0, at_most=60), default=0.1,
                        help="the shortest a timed block may last (0.1)")
    parser.add_argument("--json", metavar="PATH", help="write every measurement, the method and the machine here")
    args = parser.parse_args(argv)
    options.check_output_path(parser, "--json", args.json)
    torch, reason = workloads.import_torch()
    reason = reason or gpu_unavailable(torch)
    if reason:
        print(f"{PROG}: skipped: {reason}")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, as in the other benchmarks
    torch.backends.cudnn.allow_tf32 = False
    settings = {"repeats": args.repeats, "warmup": args.warmup, "block_seconds": args.block_seconds}
    rows, errors = [], []
    header = ["model", "batch"] + [f"{name} ms" for name in ROWS] + ["fused/eager", "graph/torch", "graph/torch-graph",
                                                                      "check"]
    table = []
    for name, batch_size in args.configs:
        try:
            row = measure(workloads.MODELS[name], batch_size, torch, settings)
        except Exception as error:  # one configuration failing (capture refused, memory) leaves the others
            errors.append(f"{name} batch {batch_size}: {type(error).__name__}: {error}")
            options.log(errors[-1])
            continue
        rows.append(row)
        table.append([name, str(batch_size)] + [f"{row['rates'][r]['ms_per_step']['median']:.3f}" for r in ROWS]
                     + [f"{row['ratios']['fused_vs_eager']:.2f}x", f"{row['ratios']['graph_vs_torch_eager']:.2f}x",
                        f"{row['ratios']['graph_vs_torch_graph']:.2f}x",
                        f"{row['check_relative_difference']:.1e}"])
    print(report.format_table(header, table, left=(0,)))
    for row in rows:
        for text, met in targets(row):
            print(f"{'PASS' if met else 'MISS'}  {row['model']} batch {row['batch_size']}: {text}")
    fused = []
    try:
        fused = fused_rows(sorted({size for name, size in args.configs if name == "deep"}), args.repeats)
    except Exception as error:
        errors.append(f"fused kernels: {type(error).__name__}: {error}")
        options.log(errors[-1])
    if fused:
        print()
        print(report.format_table(["kernel", "batch", "plain ms", "fused ms", "plain/fused"],
                                  [[row["kernel"], str(row["batch_size"]), f"{row['plain_ms']:.4f}",
                                    f"{row['fused_ms']:.4f}", f"{row['plain_ms'] / row['fused_ms']:.2f}x"]
                                   for row in fused], left=(0,)))
    if args.json:
        report.write_json({"machine": machine.describe(torch, gpu_array_module()), "method": timing.METHOD,
                           "rows": rows, "fused": fused,
                           "targets": [{"model": row["model"], "batch_size": row["batch_size"], "target": text,
                                        "met": met} for row in rows for text, met in targets(row)],
                           "errors": errors}, args.json)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
