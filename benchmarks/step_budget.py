"""Where the engine's training step spends its time: forward, loss, zero_grad, backward, optimizer,
and each module's forward and backward call, in microseconds.

    python -m benchmarks.step_budget                       # the deep model at batch 32
    python -m benchmarks.step_budget --batch-size 256 --steps 2000 --json benchmarks/results/budget.json

One step is the training step of autoencoders.training, split at its phases; the clock is read
between phases (a read costs well under a microsecond). Per-module times come from a second run
in which every module's forward and backward are wrapped by a timer; they show which modules cost
more than their arithmetic. Each figure is the median over steps after warm-up.

``--clock thread`` reads this thread's CPU time (time.thread_time) instead of the wall clock: on a
machine busy with other work it counts the step's work and not the waiting for a core, exactly
when the BLAS runs in this thread (OPENBLAS_NUM_THREADS=1; with more BLAS threads their share of the
products is missed).
"""
import functools
import statistics
import sys
import time

import nn
from runfolder.arguments import number_type

from . import machine, options, report
from .workloads import MODELS, LEARNING_RATE, batch_of, build_engine_model

PROG = "python -m benchmarks.step_budget"
PHASES = ("forward", "loss", "zero_grad", "backward", "optimizer")
CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


def build_parser():
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="deep", choices=list(MODELS))
    parser.add_argument("--batch-size", type=number_type(int, at_least=1), default=32)
    parser.add_argument("--steps", type=number_type(int, at_least=1), default=1000,
                        help="timed steps (after as many warm-up steps as a tenth of these)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: time.perf_counter; thread: this thread's CPU time (see the description)")
    parser.add_argument("--json", metavar="PATH", help="write the budget here")
    return parser


def phase_times(model, loss, optimizer, x, steps, clock=time.perf_counter):
    """{phase: [microseconds of each step]}."""
    samples = {phase: [] for phase in PHASES}
    for _ in range(steps):
        t0 = clock()
        prediction = model(x)
        t1 = clock()
        loss(prediction, x)
        t2 = clock()
        optimizer.zero_grad()
        t3 = clock()
        model.backward(loss.backward(), need_input_grad=False)
        t4 = clock()
        optimizer.step()
        t5 = clock()
        for phase, begin, end in zip(PHASES, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5)):
            samples[phase].append(1e6 * (end - begin))
    return samples


def module_times(model, loss, optimizer, x, steps, clock=time.perf_counter):
    """{(module name, "forward" | "backward"): [microseconds]} for every leaf module, measured by
    wrapping each leaf's bound methods in a timer (instance attributes, removed afterwards)."""
    samples = {}
    leaves = [(name, module) for name, module in _named_leaves(model)]

    def timed(key, method):
        bucket = samples.setdefault(key, [])

        def wrapper(*arguments, **keywords):
            begin = clock()
            result = method(*arguments, **keywords)
            bucket.append(1e6 * (clock() - begin))
            return result
        return wrapper

    for name, module in leaves:
        module.forward = timed((name, "forward"), module.forward)
        module.backward = timed((name, "backward"), module.backward)
    try:
        phase_times(model, loss, optimizer, x, steps, clock)
    finally:
        for _, module in leaves:
            del module.forward, module.backward
    return samples


class _Nothing(nn.Module):
    """A module whose forward and backward do no work: timing a Sequential of these times the calls."""

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


def dispatch_ns(clock, modules=20, calls=20000):
    """Nanoseconds per module of Sequential.forward and .backward over modules that do nothing:
    what a Sequential costs per child, apart from the child's own work (fastest of 5 repeats)."""
    sequence, token = nn.Sequential(*(_Nothing() for _ in range(modules))), object()
    result = {}
    # backward after the forward calls: many backward calls of one forward, allowed by retain_graph=True
    backward = functools.partial(sequence.backward, retain_graph=True)
    for kind, call in (("forward", sequence), ("backward", backward)):
        best = float("inf")
        for _ in range(5):
            started = clock()
            for _ in range(calls):
                call(token)
            best = min(best, clock() - started)
        result[kind] = 1e9 * best / (calls * modules)
    return result


def _named_leaves(module, prefix=""):
    children = list(module.named_children())
    if not children:
        yield prefix.rstrip(".") or type(module).__name__, module
    for name, child in children:
        yield from _named_leaves(child, prefix + name + ".")


def measure(model_name, batch_size, steps, clock_name="wall"):
    clock = CLOCKS[clock_name]
    model = build_engine_model(MODELS[model_name], 0)
    x = batch_of(batch_size, 0)
    loss, optimizer = nn.MSELoss(), nn.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    phase_times(model, loss, optimizer, x, max(10, steps // 10), clock)
    phases = {phase: statistics.median(values)
              for phase, values in phase_times(model, loss, optimizer, x, steps, clock).items()}
    modules = {f"{name} {kind}": statistics.median(values)
               for (name, kind), values in module_times(model, loss, optimizer, x, steps // 2 or 1, clock).items()}
    return {"model": model_name, "batch_size": batch_size, "steps": steps, "clock": clock_name,
            "machine": machine.describe(), "sequential_dispatch_ns_per_module": dispatch_ns(clock),
            "phases_us": phases, "step_us": sum(phases.values()), "modules_us": modules}


def format_budget(result):
    lines = [f"{result['model']} model, batch {result['batch_size']}, median of {result['steps']} steps "
             f"(µs, {result['clock']} clock):"]
    rows = [(phase, f"{value:.1f}") for phase, value in result["phases_us"].items()]
    rows.append(("step (sum)", f"{result['step_us']:.1f}"))
    lines.append(report.format_table(("phase", "µs"), rows, left=(0,)))
    dispatch = result["sequential_dispatch_ns_per_module"]
    lines.append(f"Sequential's own cost per child (modules that do nothing): forward {dispatch['forward']:.0f} ns, "
                 f"backward {dispatch['backward']:.0f} ns")
    lines.append("")
    rows = [(name, f"{value:.1f}") for name, value in result["modules_us"].items()]
    lines.append(report.format_table(("module call", "µs"), rows, left=(0,)))
    return "\n".join(lines)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    options.check_output_path(parser, "--json", args.json)
    result = measure(args.model, args.batch_size, args.steps, args.clock)
    print(format_budget(result))
    if args.json:
        report.write_json(result, args.json)
        options.log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
