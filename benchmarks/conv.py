"""Forward + backward throughput of the engine's convolution layers and of the convolutional
autoencoder's training step, against PyTorch on the same inputs and weights.

    python -m benchmarks.conv                       # batch 32 and 256, 7 repeats: about a minute
    python -m benchmarks.conv --quick               # a smoke test for CI: seconds
    python -m benchmarks.conv --json benchmarks/results/conv.json --plot benchmarks/results/conv.png

The cases (MNIST-sized feature maps, those of ``autoencoders.ConvAutoencoder``):

    conv1        Conv2d(1, 16, 3, stride 2, padding 1) on 1x28x28
    conv2        Conv2d(16, 32, 3, stride 2, padding 1) on 16x14x14
    convt1       ConvTranspose2d(32, 16, 3, stride 2, padding 1, output_padding 1) on 32x7x7
    convt2       ConvTranspose2d(16, 1, 3, stride 2, padding 1, output_padding 1) on 16x14x14
    maxpool      MaxPool2d(2) on 16x28x28
    upsample     Upsample(scale_factor 2, nearest) on 16x14x14
    autoencoder  ConvAutoencoder(): one training step on (N, 784): forward, MSE, backward, Adam

One step of a layer case, float32, the same random input x and upstream gradient g every step:
    engine:  layer.zero_grad(); layer(x); layer.backward(g)       (dL/dW, dL/db and dL/dx)
    torch:   x.grad = None; layer.zero_grad(); layer(x).backward(g)   (x.requires_grad: dL/dx too)
The autoencoder step is that of ``benchmarks.throughput`` (its runners are reused): the torch twin
is a torch.nn.Sequential pair with the engine model's layers and state-dict names, loaded with the
engine model's initial weights; Adam lr 1e-3, MSE against the input.

Backends: engine-numpy and torch-cpu (as many torch threads as NumPy's BLAS has, read with
threadpoolctl), engine-cupy and torch-cuda where a GPU and the libraries are present (otherwise
skipped, with the reason printed). Method: warm-up steps, block sizes such that a timed block lasts
>= --block-seconds, repeats interleaved across backends, GPU work synchronized before each clock
read; samples/s per repeat with median, min and max; the ratio engine / torch of samples/s paired
repeat by repeat (above 1: the engine is faster). Before timing, one step of each engine backend is
compared with its torch counterpart (outputs and every gradient; the autoencoder's initial loss)
and a disagreement is printed as a warning. Exit status: 0; 1 when a measurement failed; 2 for bad
options. No speed is a pass or a fail.
"""
import collections
import contextlib
import gc
import sys
import time
from dataclasses import dataclass

import numpy

import nn
from autoencoders import ConvAutoencoder

from . import machine, options, report, timing, workloads
# The option parsing of the throughput benchmark: one-line errors with status 2, the same checks.
from .workloads import BACKENDS, DEVICE_OF_BACKEND, TORCH_COUNTERPART

PROG = "python -m benchmarks.conv"
SEED = 0
DTYPE = "float32"
AGREEMENT_RTOL = 1e-4   # max|engine - torch| / max|torch| above this is reported as a warning
FULL = {"batch_sizes": [32, 256], "repeats": 7, "warmup": 3, "block_seconds": 0.2}
QUICK = {"batch_sizes": [32], "repeats": 3, "warmup": 2, "block_seconds": 0.02}


# --- the cases ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One benchmark case. ``make(lib)`` builds the layer from ``nn`` or ``torch.nn`` (the same
    constructor call works for both); ``make`` is None for the whole autoencoder."""
    name: str
    description: str
    plot_label: str
    input_shape: tuple          # one sample's shape: (C, H, W), or (784,) for the autoencoder
    make: object = None


CASES = collections.OrderedDict((case.name, case) for case in (
    Case("conv1", "Conv2d(1,16,3,s2,p1) on 1x28x28", "Conv2d 1>16\n1x28x28", (1, 28, 28),
         lambda lib: lib.Conv2d(1, 16, 3, stride=2, padding=1)),
    Case("conv2", "Conv2d(16,32,3,s2,p1) on 16x14x14", "Conv2d 16>32\n16x14x14", (16, 14, 14),
         lambda lib: lib.Conv2d(16, 32, 3, stride=2, padding=1)),
    Case("convt1", "ConvTranspose2d(32,16,3,s2,p1,op1) on 32x7x7", "ConvT 32>16\n32x7x7", (32, 7, 7),
         lambda lib: lib.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)),
    Case("convt2", "ConvTranspose2d(16,1,3,s2,p1,op1) on 16x14x14", "ConvT 16>1\n16x14x14", (16, 14, 14),
         lambda lib: lib.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)),
    Case("maxpool", "MaxPool2d(2) on 16x28x28", "MaxPool2d(2)\n16x28x28", (16, 28, 28),
         lambda lib: lib.MaxPool2d(2)),
    Case("upsample", "Upsample(2, nearest) on 16x14x14", "Upsample(2)\n16x14x14", (16, 14, 14),
         lambda lib: lib.Upsample(scale_factor=2)),
    Case("autoencoder", "ConvAutoencoder() training step on (N, 784): forward, MSE, backward, Adam",
         "ConvAutoencoder\ntrain step", (workloads.INPUT_DIM,)),
))


# --- runners: one backend's layer (or model), input and upstream gradient ----------------------------------
def _relative_error(ours, reference):
    """max|a - b| / max|b| in float64; max|a - b| itself where b is all zeros (a finite number either
    way, which the JSON file can hold)."""
    a, b = numpy.asarray(ours, dtype=numpy.float64), numpy.asarray(reference, dtype=numpy.float64)
    error = float(numpy.max(numpy.abs(a - b), initial=0.0))
    scale = float(numpy.max(numpy.abs(b), initial=0.0))
    return error / scale if scale > 0.0 else error


class EngineLayerRunner(workloads.Runner):
    """An engine layer: a step is zero_grad, forward, backward with the upstream gradient."""

    def __init__(self, backend, layer, x, grad_output):
        self.backend, self.layer, self.x, self.grad_output = backend, layer, x, grad_output
        self._synchronize = None
        if backend == "engine-cupy":
            self._synchronize = nn.get_array_module(x).cuda.Device().synchronize

    def train_step(self):
        layer = self.layer
        layer.zero_grad()
        layer(self.x)
        layer.backward(self.grad_output)

    @contextlib.contextmanager
    def mode(self, kind):
        self.layer.train(True)
        yield

    def reference_values(self):
        """Output, dL/dx and every parameter gradient of one step, as NumPy arrays (not timed)."""
        self.layer.zero_grad()
        # Copies: zero_grad below fills the gradient arrays in place.
        values = {"output": numpy.array(nn.to_numpy(self.layer(self.x)))}
        values["input_grad"] = numpy.array(nn.to_numpy(self.layer.backward(self.grad_output)))
        for name, parameter in self.layer.named_parameters():
            values[f"{name}_grad"] = numpy.array(nn.to_numpy(parameter.grad))
        self.layer.zero_grad()
        return values


class TorchLayerRunner(workloads.Runner):
    """The same layer in PyTorch eager; x requires grad, so dL/dx is computed as by the engine."""

    def __init__(self, backend, layer, x, grad_output, torch):
        self.backend, self.layer, self.x, self.grad_output = backend, layer, x.requires_grad_(True), grad_output
        self._synchronize = torch.cuda.synchronize if backend == "torch-cuda" else None

    def train_step(self):
        self.x.grad = None  # otherwise each backward adds onto the last dL/dx
        self.layer.zero_grad()
        self.layer(self.x).backward(self.grad_output)

    @contextlib.contextmanager
    def mode(self, kind):
        self.layer.train(True)
        yield

    def reference_values(self):
        self.x.grad = None
        self.layer.zero_grad()
        output = self.layer(self.x)
        output.backward(self.grad_output)
        values = {"output": output.detach().cpu().numpy().copy(), "input_grad": self.x.grad.cpu().numpy().copy()}
        for name, parameter in self.layer.named_parameters():
            values[f"{name}_grad"] = parameter.grad.cpu().numpy().copy()
        self.x.grad = None
        self.layer.zero_grad()
        return values


class EngineModelRunner(workloads.EngineRunner):
    def reference_values(self):
        return {"initial_loss": self.loss_value()}


class TorchModelRunner(workloads.TorchRunner):
    def reference_values(self):
        return {"initial_loss": self.loss_value()}


def torch_conv_autoencoder(model, torch):
    """A torch.nn.Sequential(encoder, decoder) with the layers of an engine ConvAutoencoder, its
    state-dict names and its (copied) weights."""
    t = torch.nn
    side = model.image_size // 4
    first, second = model.encoder[1].out_channels, model.encoder[3].out_channels
    latent = model.encoder[6].out_features
    encoder = t.Sequential(
        t.Unflatten(1, (1, model.image_size, model.image_size)),
        t.Conv2d(1, first, 3, stride=2, padding=1), t.ReLU(inplace=True),
        t.Conv2d(first, second, 3, stride=2, padding=1), t.ReLU(inplace=True),
        t.Flatten(), t.Linear(second * side * side, latent))
    decoder = t.Sequential(
        t.Linear(latent, second * side * side), t.ReLU(inplace=True), t.Unflatten(1, (second, side, side)),
        t.ConvTranspose2d(second, first, 3, stride=2, padding=1, output_padding=1), t.ReLU(inplace=True),
        t.ConvTranspose2d(first, 1, 3, stride=2, padding=1, output_padding=1), t.Sigmoid(),
        t.Flatten())
    twin = t.Sequential(collections.OrderedDict(encoder=encoder, decoder=decoder))
    workloads.load_into_torch(twin, model.state_dict(), torch)  # every key and shape must match
    return twin


def case_data(case, batch_size, seed):
    """(x, upstream gradient or None): uniform [0, 1) input, standard-normal gradient, float32, on the CPU."""
    if case.make is None:
        return workloads.batch_of(batch_size, seed), None
    generator = numpy.random.default_rng(seed)
    x = generator.random((batch_size,) + case.input_shape, dtype=numpy.float32)
    nn.manual_seed(seed)
    output_shape = case.make(nn).to(dtype=DTYPE)(x).shape
    grad_output = generator.standard_normal(output_shape, dtype=numpy.float32)
    return x, grad_output


def make_runner(backend, case, x, grad_output, seed, torch=None):
    """The runner of one backend; every backend gets the weights of ``nn.manual_seed(seed)`` followed
    by building the engine layer (or model), and the same x and upstream gradient."""
    nn.manual_seed(seed)
    model = ConvAutoencoder(dtype=DTYPE) if case.make is None else case.make(nn).to(dtype=DTYPE)
    gpu = DEVICE_OF_BACKEND[backend] == "gpu"
    if backend.startswith("engine"):
        if gpu:
            model = model.to("gpu")
            x = nn.to_device(x, "gpu")
            grad_output = None if grad_output is None else nn.to_device(grad_output, "gpu")
        if case.make is None:
            return EngineModelRunner(backend, model, x)
        return EngineLayerRunner(backend, model, x, grad_output)
    device = "cuda" if gpu else "cpu"
    if case.make is None:
        twin = torch_conv_autoencoder(model, torch).to(device)
        return TorchModelRunner(backend, twin, torch.from_numpy(x).to(device), torch)
    twin = case.make(torch.nn)
    workloads.load_into_torch(twin, model.state_dict(), torch)
    return TorchLayerRunner(backend, twin.to(device), torch.from_numpy(x.copy()).to(device),
                            torch.from_numpy(grad_output).to(device), torch)


# --- the measurements -------------------------------------------------------------------------------------
def agreement(engine_runner, torch_runner):
    """{quantity: max|engine - torch| / max|torch|} after one untimed step of each."""
    ours, theirs = engine_runner.reference_values(), torch_runner.reference_values()
    return {key: _relative_error(ours[key], theirs[key]) for key in theirs}


def measure_case(case, batch_size, backends, settings, torch, errors, warnings):
    """Rows of one case and batch size, one per backend that could be built and run."""
    x, grad_output = case_data(case, batch_size, settings["seed"])
    runners = []
    for backend in backends:
        try:
            runners.append(make_runner(backend, case, x, grad_output, settings["seed"], torch))
        except Exception as error:
            errors.append(f"{case.name} batch {batch_size} {backend}: could not build: {type(error).__name__}: {error}")
    if not runners:
        return []
    by_backend = {runner.backend: runner for runner in runners}
    agreements = {}
    for engine, torch_backend in TORCH_COUNTERPART.items():
        if engine in by_backend and torch_backend in by_backend:
            agreements[engine] = agreement(by_backend[engine], by_backend[torch_backend])
            for key, error in agreements[engine].items():
                if not error <= AGREEMENT_RTOL:
                    warnings.append(f"{case.name} batch {batch_size}: {key} differs between {engine} and "
                                    f"{torch_backend} by {error:.2e} (max|a-b|/max|b|): the two do not compute "
                                    "the same thing")
    steps, seconds = timing.measure_interleaved(runners, "train", settings["repeats"], settings["warmup"],
                                                settings["block_seconds"])
    rows = {}
    for runner in runners:
        rows[runner.backend] = {"case": case.name, "batch_size": batch_size, "backend": runner.backend,
                                "device": DEVICE_OF_BACKEND[runner.backend],
                                **timing.rates(batch_size, steps[runner.backend], seconds[runner.backend]),
                                "ratio_to_torch": None, "agreement": agreements.get(runner.backend)}
    for engine, torch_backend in TORCH_COUNTERPART.items():
        if engine in rows and torch_backend in rows:
            pairs = timing.paired_ratios(rows[engine]["samples_per_second"]["per_repeat"],
                                         rows[torch_backend]["samples_per_second"]["per_repeat"])
            rows[engine]["ratio_to_torch"] = {"against": torch_backend, **timing.summary(pairs), "per_repeat": pairs}
    del runners, by_backend
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return list(rows.values())


METHOD = {
    "layer_step": {"engine": "layer.zero_grad(); layer(x); layer.backward(g)",
                   "torch": "x.grad = None; layer.zero_grad(); layer(x).backward(g)  (x.requires_grad is True)"},
    "autoencoder_step": {
        "engine": "value = loss(model(x), x); optimizer.zero_grad(); "
                  "model.backward(loss.backward(), need_input_grad=False); optimizer.step()",
        "torch": "opt.zero_grad(); v = lf(m(x), x); v.backward(); opt.step()"},
    "data": "float32; x uniform [0, 1) of shape (N,) + the case's input shape, g standard normal of the output's "
            "shape, both from a NumPy generator seeded with the config's seed, the same for every backend and "
            "reused every step; the engine layer or model is built after nn.manual_seed(seed) and the torch one "
            "is loaded with its weights; Adam lr 1e-3, MSE (mean), as benchmarks.throughput",
    "agreement": "before timing, one untimed step of each engine backend and of its torch counterpart: "
                 "max|engine - torch| / max|torch| (max|engine - torch| where torch's is all zeros) of the "
                 "output, dL/dx and each parameter gradient (for the autoencoder: the initial loss); a value "
                 f"above {AGREEMENT_RTOL} is reported as a warning",
    **timing.METHOD,
}


def run(settings):
    started = time.perf_counter()
    available, skipped, torch, cupy, description, warnings = machine.prepare(settings["backends"], options.log)
    errors = []
    configurations = [(name, batch_size) for name in settings["cases"] for batch_size in settings["batch_sizes"]]
    rows = timing.measure_each(
        configurations if available else [],
        lambda name, batch_size: measure_case(CASES[name], batch_size, available, settings, torch, errors, warnings),
        errors, options.log)
    description["load_average_at_end"] = machine.load_average()
    return {
        "schema": "benchmarks.conv/1",
        "command": [PROG] + sys.argv[1:],
        "machine": description,
        "method": METHOD,
        "config": {key: settings[key] for key in ("cases", "batch_sizes", "backends", "repeats", "warmup",
                                                  "block_seconds", "quick", "seed")},
        "skipped": skipped,
        "available": available,
        "cases": {name: {"description": CASES[name].description, "input_shape": list(CASES[name].input_shape)}
                  for name in settings["cases"]},
        "measurements": rows,
        "errors": errors,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- showing the results ------------------------------------------------------------------------------------
HEADER = ("case", "batch", "backend", "samples/s [min-max]", "ms/step", "engine/torch [min-max]")


def _rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table_rows(results):
    rows = []
    for row in results["measurements"]:
        rate, ratio = row["samples_per_second"], row["ratio_to_torch"]
        milliseconds = row["ms_per_step"]["median"]
        rows.append((row["case"], str(row["batch_size"]), row["backend"],
                     f"{_rate(rate['median'])} [{_rate(rate['min'])}-{_rate(rate['max'])}]",
                     f"{milliseconds:.3g}" if milliseconds < 100 else f"{milliseconds:.0f}",
                     f"{ratio['median']:.2f}x [{ratio['min']:.2f}-{ratio['max']:.2f}]" if ratio else ""))
    return rows


def format_results(results):
    lines = [f"skipped {backend}: {reason}" for backend, reason in results["skipped"].items()]
    lines.append("cases:")
    lines += [f"  {name:<12} {case['description']}" for name, case in results["cases"].items()]
    lines += ["", report.format_table(HEADER, table_rows(results))]
    lines.append("a step = forward + backward with a random upstream gradient (layers; parameter and input "
                 "gradients) or forward, MSE, backward, Adam (autoencoder); engine/torch = median over repeats of "
                 "(engine samples/s) / (torch samples/s), paired repeat by repeat: above 1 the engine is faster")
    lines += [f"warning: {warning}" for warning in results["warnings"]]
    lines += [f"ERROR {error}" for error in results["errors"]]
    return "\n".join(lines)


PLOT_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def write_plot(results, path, scale="log"):
    """A bar per case, batch size and engine backend: the median engine/torch ratio of samples/s,
    min-max of the paired ratios as error bars, a line at 1 (parity); ``scale`` "log" or "linear"."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = [row for row in results["measurements"] if row["ratio_to_torch"]]
    cases = [name for name in results["config"]["cases"] if any(row["case"] == name for row in rows)]
    series = sorted({(row["backend"], row["batch_size"]) for row in rows},
                    key=lambda key: (BACKENDS.index(key[0]), key[1]))
    width_inches = min(14.0, max(6.4, 1.2 * len(cases) * max(1, len(series)) ** 0.5 + 2))
    figure, axis = pyplot.subplots(figsize=(width_inches, 5.2))
    width = 0.8 / max(1, len(series))
    for index, (backend, batch_size) in enumerate(series):
        by_case = {row["case"]: row["ratio_to_torch"] for row in rows
                   if row["backend"] == backend and row["batch_size"] == batch_size}
        positions = [number + (index - (len(series) - 1) / 2) * width
                     for number, name in enumerate(cases) if name in by_case]
        ratios = [by_case[name] for name in cases if name in by_case]
        medians = [ratio["median"] for ratio in ratios]
        spread = [[ratio["median"] - ratio["min"] for ratio in ratios],
                  [ratio["max"] - ratio["median"] for ratio in ratios]]
        against = ratios[0]["against"]
        # On a log axis the bars start at parity (1) and go up or down; on a linear one they start at 0.
        bottom = 1.0 if scale == "log" else 0.0
        axis.bar(positions, [median - bottom for median in medians], width, bottom=bottom, yerr=spread, capsize=3,
                 color=PLOT_COLORS[index % len(PLOT_COLORS)],
                 hatch="//" if DEVICE_OF_BACKEND[backend] == "gpu" else None,
                 label=f"{backend} / {against}, batch {batch_size}")
        for position, median, ratio in zip(positions, medians, ratios):
            axis.annotate(f"{median:.2f}", (position, ratio["max"]), textcoords="offset points", xytext=(0, 2),
                          ha="center", va="bottom", fontsize=7)
    axis.axhline(1.0, color="black", linewidth=1, linestyle="--")
    axis.set_xticks(range(len(cases)), [CASES[name].plot_label for name in cases], fontsize=8)
    axis.set_yscale(scale)
    if scale == "log":
        from matplotlib.ticker import FuncFormatter
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.5, 2, 10 rather than 5 x 10^-1 ...
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_formatter(plain)
    axis.set_ylabel("engine / torch samples/s (median, min-max)\nabove 1: the engine is faster")
    axis.grid(True, axis="y", which="both", alpha=0.3)
    axis.legend(fontsize=8)
    machine_info = results["machine"]
    torch_info = machine_info.get("torch") or {}
    axis.set_title(f"Conv layers, forward + backward, float32\n{machine_info['cpu']['model']}, BLAS threads "
                   f"{machine_info['blas_threads']}, torch threads {torch_info.get('threads', '-')}"
                   + (f", {machine_info['gpu']['name']}" if machine_info.get("gpu") else ""), fontsize=9)
    figure.tight_layout()
    report.save_figure(figure, path)


# --- options ------------------------------------------------------------------------------------------------
def build_parser():
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                     epilog="Defaults: " + ", ".join(f"{key}={value}" for key, value in FULL.items())
                     + "; --quick: " + ", ".join(f"{key}={value}" for key, value in QUICK.items())
                     + ". Options given explicitly override --quick.")
    parser.add_argument("--cases", type=options.names(list(CASES), "case"), default=list(CASES),
                        help=f"comma-separated, from {','.join(CASES)} (default: all)")
    options.add_timing_options(parser, "backend, case and batch size",
                               quick_help="batch 32 only, 3 repeats, short blocks (for CI)",
                               plot_help="write a PNG bar chart of the engine/torch ratios")
    parser.add_argument("--plot-scale", choices=("log", "linear"), default="log",
                        help="the ratio axis of the plot (default: log)")
    return parser


def resolve_settings(args):
    settings = options.settings_from(args, FULL, QUICK, ("batch_sizes", "repeats", "warmup", "block_seconds"))
    settings.update(cases=args.cases, backends=args.backends, quick=args.quick, seed=SEED)
    return settings


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    options.check_output_path(parser, "--json", args.json)
    options.check_output_path(parser, "--plot", args.plot)
    results = run(resolve_settings(args))
    print(format_results(results), flush=True)
    if args.json:
        report.write_json(results, args.json)
        options.log(f"wrote {args.json}")
    if args.plot:
        if any(row["ratio_to_torch"] for row in results["measurements"]):
            write_plot(results, args.plot, args.plot_scale)
            options.log(f"wrote {args.plot}")
        else:
            options.log(f"no engine/torch pairs measured: {args.plot} not written")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
