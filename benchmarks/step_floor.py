"""The floor under any NumPy training step of a model: its matrix products and Adam's passes alone.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.step_floor                 # the deep model at batch 32
    python -m benchmarks.step_floor --batch-size 256 --json benchmarks/results/floor-256.json

A training step of a stack of Linear layers needs, whatever code runs it, every layer's forward
product x W^T, every weight gradient g^T x and every input gradient g W but the first layer's; and
Adam needs passes over all the parameters (the tightest form, with its state rescaled, takes ten:
see benchmarks/plain_loop.py). This script times exactly those, on preallocated buffers written in
place (``out=``), with nothing else: no activations, no loss, no Python around them. What it prints
is a bound: a step written with NumPy calls cannot be faster than products + passes, so the ratio
of PyTorch's step to that sum bounds the speed-up NumPy can reach over PyTorch on this machine.

``--clock thread`` reads this thread's CPU time, which counts the work and not the waiting for a
core on a busy machine (with one BLAS thread; more threads' work is missed).
"""
import statistics

import numpy as np

from runfolder.arguments import number_type

from . import machine, options, report
from .step_budget import CLOCKS  # the same two clocks, read the same way
from .workloads import MODELS, build_engine_model, linear_shapes

PROG = "python -m benchmarks.step_floor"
ADAM_PASSES = 10      # the rescaled-state Adam of benchmarks/plain_loop.py and nn.fast.rescaled_state


def build_parser():
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="deep", choices=list(MODELS))
    parser.add_argument("--batch-size", type=number_type(int, at_least=1), default=32)
    parser.add_argument("--calls", type=number_type(int, at_least=1), default=500,
                        help="calls per timed repeat")
    parser.add_argument("--repeats", type=number_type(int, at_least=1), default=11)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--json", metavar="PATH", help="write the result here")
    return parser


def products(shapes, batch_size, rng):
    """A function running the step's matrix products once, on preallocated float32 buffers."""
    widths = [shapes[0][0]] + [size_out for _, size_out in shapes]
    weights = [rng.standard_normal((size_out, size_in), dtype=np.float32) for size_in, size_out in shapes]
    activations = [rng.standard_normal((batch_size, width), dtype=np.float32) for width in widths]
    gradients = [np.empty((batch_size, width), np.float32) for width in widths]
    weight_grads = [np.empty_like(weight) for weight in weights]

    def run():
        for layer, weight in enumerate(weights):                      # forward: y = x W^T
            np.matmul(activations[layer], weight.T, out=activations[layer + 1])
        for layer in reversed(range(len(weights))):                   # backward
            np.matmul(activations[layer + 1].T, activations[layer], out=weight_grads[layer])   # g^T x
            if layer:
                np.matmul(activations[layer + 1], weights[layer], out=gradients[layer])        # g W
    return run


def adam_passes(count, rng):
    """A function making ADAM_PASSES elementwise passes over ``count`` float32 parameters."""
    param, grad, m, v, scratch = (rng.standard_normal(count, dtype=np.float32) for _ in range(5))
    np.abs(v, out=v)

    def run():
        np.multiply(m, 0.9, out=m)
        np.add(m, grad, out=m)                      # rescaled first moment: m <- b1 m + g
        np.multiply(grad, grad, out=scratch)
        np.multiply(v, 0.999, out=v)
        np.add(v, scratch, out=v)                   # rescaled second moment: v <- b2 v + g^2
        np.sqrt(v, out=scratch)
        np.add(scratch, 1e-8, out=scratch)
        np.divide(m, scratch, out=scratch)
        np.multiply(scratch, -1e-3, out=scratch)
        np.add(param, scratch, out=param)
    return run


def median_ms(function, calls, repeats, clock):
    for _ in range(max(10, calls // 5)):
        function()
    times = []
    for _ in range(repeats):
        started = clock()
        for _ in range(calls):
            function()
        times.append(1e3 * (clock() - started) / calls)
    return statistics.median(times)


def measure(model_name, batch_size, calls, repeats, clock_name="wall"):
    clock, rng = CLOCKS[clock_name], np.random.default_rng(0)
    model = build_engine_model(MODELS[model_name], 0)
    shapes = linear_shapes(model)
    count = sum(parameter.data.size for parameter in model.parameters())
    result = {"model": model_name, "batch_size": batch_size, "clock": clock_name, "parameters": count,
              "products": 2 * len(shapes) + len(shapes) - 1, "adam_passes": ADAM_PASSES,
              "machine": machine.describe()}
    result["products_ms"] = median_ms(products(shapes, batch_size, rng), calls, repeats, clock)
    result["adam_ms"] = median_ms(adam_passes(count, rng), calls, repeats, clock)
    result["floor_ms"] = result["products_ms"] + result["adam_ms"]
    return result


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json:
        options.check_output_path(parser, "--json", args.json)
    result = measure(args.model, args.batch_size, args.calls, args.repeats, args.clock)
    print(f"{args.model} model, batch {args.batch_size}, {result['parameters']:,} parameters, "
          f"{args.clock} clock, median of {args.repeats} repeats of {args.calls} calls")
    print(f"  {result['products']} matrix products: {result['products_ms']:.3f} ms")
    print(f"  {ADAM_PASSES} passes of Adam:     {result['adam_ms']:.3f} ms")
    print(f"  floor of a NumPy step: {result['floor_ms']:.3f} ms (no activations, loss or Python around them)")
    if args.json:
        report.write_json(result, args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
