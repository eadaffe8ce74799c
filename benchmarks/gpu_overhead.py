"""Where one GPU training step's time goes: the host issuing kernels, or the device running them.

    python -m benchmarks.gpu_overhead [--models deep,simple] [--batch-sizes 256,2048,8192]

For the engine on CuPy and for PyTorch on CUDA, per model and batch size, ``cupyx.profiler.benchmark``
times each call of the training step twice: on the host (from the call to its return, no
synchronization) and on the device (CUDA events around the call on the null stream, which both
libraries use). When host time is close to device time the step is launch-bound: the GPU waits for
Python to issue the next kernel, and fewer or cheaper launches are what speeds it up. Also counts the
kernels of one step (torch.profiler for both, as it sees every CUDA launch in the process); the count
varies a little with the batch size, as cuBLAS picks other kernels (one or two per product) per shape.
Needs CuPy, PyTorch and a GPU; prints a table (milliseconds per step, medians over the repeats).
"""
import statistics
import sys

import nn
from runfolder.arguments import number_type

from . import options, workloads
from .backends import make_runner

PROG = "python -m benchmarks.gpu_overhead"


def _kernels_per_step(torch, step):
    """CUDA kernel launches during one call of ``step`` (torch.profiler sees CuPy's launches too)."""
    from torch.profiler import ProfilerActivity, profile
    step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        step()
        torch.cuda.synchronize()
    return sum(1 for event in profiler.events() if event.device_type.name == "CUDA")


def main(argv=None):
    parser = options.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=options.names(list(workloads.MODELS), "model"), default=["deep", "simple"],
                        help="comma-separated, from " + ",".join(workloads.MODELS) + " (deep,simple)")
    parser.add_argument("--batch-sizes", type=options.batch_sizes, default=[256, 2048, 8192],
                        help="comma-separated positive integers (256,2048,8192)")
    parser.add_argument("--repeats", type=number_type(int, at_least=1), default=200, help="timed calls per row (200)")
    args = parser.parse_args(argv)
    try:
        import cupyx.profiler
        import torch
    except ImportError as error:
        print(f"{PROG}: needs CuPy and PyTorch with a GPU ({error}); run it on a machine with an NVIDIA GPU",
              file=sys.stderr)
        return 2
    if not nn.gpu_available() or not torch.cuda.is_available():
        print(f"{PROG}: CuPy or PyTorch {torch.__version__} sees no CUDA GPU; run it on a machine with an NVIDIA GPU",
              file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, as in the other benchmarks
    torch.backends.cudnn.allow_tf32 = False
    print(f"{'model':8} {'batch':>6} {'backend':12} {'host ms':>9} {'device ms':>10} {'kernels':>8}")
    for name in args.models:
        spec = workloads.MODELS[name]
        for batch_size in args.batch_sizes:
            for backend in ("engine-cupy", "torch-cuda"):
                runner = make_runner(backend, spec, batch_size, seed=0, torch=torch)
                with runner.mode("train"):
                    result = cupyx.profiler.benchmark(runner.train_step, n_repeat=args.repeats, n_warmup=20)
                    try:
                        kernels = _kernels_per_step(torch, runner.train_step)
                    except Exception as error:  # a profiler that cannot start leaves the times standing
                        print(f"kernel count failed: {type(error).__name__}: {error}", file=sys.stderr)
                        kernels = -1
                host = 1000 * statistics.median(result.cpu_times.tolist())
                device = 1000 * statistics.median(result.gpu_times[0].tolist())
                print(f"{name:8} {batch_size:6d} {backend:12} {host:9.3f} {device:10.3f} {kernels:8d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
