"""How many BLAS threads a training run uses: chosen for the work and for the machine, once, here.

Both command lines (``python -m autoencoders train``, ``python -m gans train``) and
``autoencoders.training.fit`` take their count from ``choose``:

1. A user's own setting always wins: when OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS
   is set, the BLAS keeps the count it started with and nothing here changes it.
2. Small matrix products take one thread. Below ``SMALL_PRODUCT`` multiply-adds in the step's largest
   matrix product (``largest_product``: batch x in x out of its largest Linear), handing half of a
   product to a second thread costs more than it saves, on a quiet machine too.
3. Larger products take one thread per free core: the usable cores (os.sched_getaffinity) less the
   ones other programs keep busy, read as the larger of the busy share of those cores over a tenth
   of a second (/proc/stat, Linux) and the 1-minute load average less one (os.getloadavg; the one
   is this process, which may be in it). A BLAS thread without a core of its own does not just wait:
   OpenBLAS's threads spin for the core another process holds, and every product waits for the
   slowest of them; measured below, that made a step 3-27x slower, where one thread on a quiet
   machine costs at most about a quarter. So a doubtful core counts as busy.

``using(choice)`` applies a choice (threadpoolctl) for a block and restores the previous count;
``choice.line(program)`` is the one line a command line prints; ``choice.as_dict()`` goes into
metrics.json. nn itself never imports this: the engine computes; what a run asks of the machine is
decided here, above it.
"""
import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass

import nn

ENVIRONMENT = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SAMPLE_SECONDS = 0.1

# Measured 7 December 2026 on the 2-core virtual machine of benchmarks/README.md "Under load" (AMD
# EPYC, 2 vCPUs, NumPy 2.4.6's OpenBLAS 0.3.31, pthreads, Haswell kernels): the seed model's fast step
# (benchmarks/workloads.py EngineRunner: nn.fast.compile, Adam foreach=True), ms per step with one BLAS
# thread / two, median of 5 interleaved blocks (min in brackets where the median was a spike):
#   "quiet" (other sessions kept the load average at 2.5):
#       batch 32: 0.75 / 11.5 (0.73 / 0.85)   64: 1.06 / 1.18   128: 1.84 / 1.74   256: 3.51 / 2.79
#       512: 6.67 / 4.88   2048: 31.1 / 396 (26.5 / 250: another session's work came back)
#   2 busy background processes (benchmarks.background) beside it:
#       batch 32: 1.60 / 41.9   256: 13.7 / 287   2048: 81 / 812   (two threads 10-26x slower)
#   and at load 10-15 earlier the same day, no background of ours: batch 32: 3.3 / 91, 256: 19.8 / 121,
#       2048: 123 / 429.
# A second thread pays from batch 128 (5%) and clearly from 256 (21%, 27% at 512); at 64 it costs 12%.
# When it waits for a core it costs 3-27x, so the line is drawn where it clearly pays: batch 256 of
# the seed model, whose largest product is B x 784 x 128 multiply-adds (its first Linear and its last).
SMALL_PRODUCT = 256 * 784 * 128


@dataclass(frozen=True)
class ThreadChoice:
    """A run's BLAS thread count and why. ``threads``: the count it runs with (for ``source``
    "environment", the count the BLAS started with; None where no BLAS could be read);
    ``source``: "environment" (the user's variable, left alone), "rule" (``choose``) or "given"
    (a caller's explicit count); the rest: what the rule saw (None where it did not look)."""
    threads: int
    source: str
    reason: str
    largest_product: int = None
    small_product: int = SMALL_PRODUCT
    usable_cores: int = None
    busy_cores: float = None
    load_average: tuple = None

    def line(self):
        """The one line a command line prints with its run's header (stdout)."""
        count = "?" if self.threads is None else self.threads
        return f"threads: {count} BLAS thread{'' if self.threads == 1 else 's'}: {self.reason}"

    def as_dict(self):
        data = asdict(self)
        data["load_average"] = None if self.load_average is None else list(self.load_average)
        return data


def usable_cores():
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cpu_times(cpus):
    """{cpu: (idle ticks, all ticks)} from /proc/stat for ``cpus``; {} where it cannot be read."""
    times = {}
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    ticks = [int(field) for field in fields[:8]]
                    times[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))  # idle + iowait
    except (OSError, ValueError, IndexError):
        return {}
    return times


def busy_cores(seconds=SAMPLE_SECONDS):
    """How many of this process's cores other programs kept busy over ``seconds`` (this process sleeps
    meanwhile), from /proc/stat; None where that cannot be read."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    before = _cpu_times(cpus)
    if not before:
        return None
    time.sleep(seconds)
    after = _cpu_times(cpus)
    busy = 0.0
    for cpu, (idle, total) in after.items():
        if cpu in before and total > before[cpu][1]:
            busy += 1 - (idle - before[cpu][0]) / (total - before[cpu][1])
    return round(busy, 2)


def load_average():
    try:
        return tuple(round(value, 2) for value in os.getloadavg())
    except (AttributeError, OSError):
        return None


def blas_threads():
    """The thread count of NumPy's BLAS now (threadpoolctl), None where it cannot be read."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    libraries = [info for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    own = [info for info in libraries if "numpy" in (info.get("filepath") or "")]
    for info in own or libraries:
        if info.get("num_threads"):
            return int(info["num_threads"])
    return None


def set_in_environment(environ=None):
    """[(name, value)] of the thread variables the user set (a non-empty value)."""
    environ = os.environ if environ is None else environ
    return [(name, environ[name]) for name in ENVIRONMENT if environ.get(name, "").strip()]


def largest_product(modules, batch_size, sample_features=784):
    """Multiply-adds of the largest matrix product of a training step on a batch: for a Linear,
    batch x in x out; for a convolution, batch x (in channels x kernel area x out channels) x the
    output positions, taken as ``sample_features`` / (stride area) (the input's pixels: an
    over-estimate past the first layer, and convolutions are large products anyway)."""
    largest = 0
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                size = layer.in_features * layer.out_features
            elif hasattr(layer, "kernel_size") and hasattr(layer, "in_channels"):
                positions = max(1, sample_features // (layer.stride[0] * layer.stride[1]))
                size = layer.in_channels * layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1] * positions
            else:
                continue
            largest = max(largest, batch_size * size)
    return largest


def choose(product, *, threads="auto", environ=None, cores=None, busy=None, load=None):
    """The ThreadChoice for a step whose largest matrix product is ``product`` multiply-adds.

    ``threads``: "auto" (the rule above) or a count (a caller's explicit choice, applied as given
    unless the user's environment sets one). ``cores``, ``busy``, ``load`` stand in for the machine's
    readings (tests); left out, they are read here (``busy`` costs a tenth of a second)."""
    given = set_in_environment(environ)
    if given:
        names = ", ".join(f"{name}={value}" for name, value in given)
        return ThreadChoice(blas_threads(), "environment", f"{names} is set, so the BLAS keeps its own count",
                            largest_product=product)
    if threads != "auto":
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be 'auto' or a positive count, got {threads!r}")
        return ThreadChoice(threads, "given", f"{threads} asked for", largest_product=product)
    cores = usable_cores() if cores is None else cores
    if product < SMALL_PRODUCT or cores == 1:
        why = (f"one usable core" if cores == 1 else
               f"the largest matrix product, {product:,} multiply-adds, is below {SMALL_PRODUCT:,}, where a second "
               "thread costs more than it saves")
        return ThreadChoice(1, "rule", why, product, usable_cores=cores)
    busy = busy_cores() if busy is None else busy
    load = load_average() if load is None else load
    others = max(busy or 0.0, (load[0] - 1) if load else 0.0, 0.0)
    count = max(1, min(cores, math.floor(cores - others + 0.5)))
    seen = [f"{busy:.1f} of {cores} cores busy now" if busy is not None else None,
            f"load average {load[0]:.1f}" if load else None]
    why = (f"a large matrix product ({product:,} multiply-adds) and {max(cores - others, 0.0):.1f} of {cores} "
           f"cores free ({', '.join(part for part in seen if part)})" +
           ("; one thread all the same" if cores - others < 0.5 else ""))
    return ThreadChoice(count, "rule", why, product, usable_cores=cores, busy_cores=busy,
                        load_average=tuple(load) if load else None)


@contextlib.contextmanager
def using(choice):
    """The BLAS at ``choice.threads`` for the block, the previous count restored after; nothing changed
    for a choice from the user's environment (or where threadpoolctl is not installed)."""
    if choice is None or choice.source == "environment" or choice.threads is None:
        yield
        return
    try:
        import threadpoolctl
    except ImportError:
        yield
        return
    with threadpoolctl.threadpool_limits(limits=choice.threads, user_api="blas"):
        yield
