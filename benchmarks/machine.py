"""What machine a benchmark ran on: CPU, cores, memory, BLAS and its threads, GPU, library versions.

Every function returns plain JSON-ready values and answers None (or leaves a field out) for what
it cannot find out, never an error: a benchmark should not fail for want of a CPU model name.
"""
import datetime
import os
import platform
import sys

import numpy

import nn


def cpu_model():
    """The CPU's name from /proc/cpuinfo (Linux), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def cores():
    """Logical cores, the ones this process may use, and physical cores (psutil, when installed)."""
    result = {"logical": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        result["usable"] = len(os.sched_getaffinity(0))
    try:
        import psutil
        result["physical"] = psutil.cpu_count(logical=False)
        result["memory_gib"] = round(psutil.virtual_memory().total / 2 ** 30, 1)
    except ImportError:
        pass
    return result


def blas_libraries():
    """The BLAS libraries loaded in this process, as threadpoolctl reports them ([] without it)."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    keys = ("internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")
    return [{key: info.get(key) for key in keys}
            for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]


def numpy_blas_threads():
    """(threads NumPy's BLAS uses, where the number came from).

    Read with threadpoolctl, preferring the BLAS that NumPy ships (its path lies inside numpy);
    without threadpoolctl, the number of usable cores.
    """
    libraries = blas_libraries()
    own = [library for library in libraries if "numpy" in (library.get("filepath") or "")]
    for library in own or libraries:
        if library.get("num_threads"):
            return int(library["num_threads"]), f"threadpoolctl ({library['internal_api']})"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return usable, "usable cores (threadpoolctl is not installed or found no BLAS)"


def load_average():
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def torch_details(torch):
    details = {"version": torch.__version__, "threads": torch.get_num_threads(),
               "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}}
    for name, probe in (("mkl", lambda: torch.backends.mkl.is_available()),
                        ("mkldnn", lambda: torch.backends.mkldnn.is_available()),
                        ("cpu_capability", lambda: torch.backends.cpu.get_cpu_capability())):
        try:
            details[name] = probe()
        except Exception:  # older or unusual builds lack some of these
            pass
    return details


def gpu_details(cupy=None, torch=None):
    """Name and memory of GPU 0, from CuPy or else from torch; None without a usable GPU."""
    if cupy is not None:
        try:
            properties = cupy.cuda.runtime.getDeviceProperties(0)
            name = properties["name"]
            return {"name": name.decode() if isinstance(name, bytes) else name,
                    "memory_gib": round(properties["totalGlobalMem"] / 2 ** 30, 1),
                    "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                    "source": "cupy"}
        except Exception:
            pass
    if torch is not None:
        try:
            if torch.cuda.is_available():
                properties = torch.cuda.get_device_properties(0)
                return {"name": properties.name, "memory_gib": round(properties.total_memory / 2 ** 30, 1),
                        "cuda_runtime": torch.version.cuda, "source": "torch"}
        except Exception:
            pass
    return None


def describe(torch=None, cupy=None):
    """Everything above, plus versions, platform and the date (UTC)."""
    import matplotlib

    versions = {"python": platform.python_version(), "numpy": numpy.__version__,
                "matplotlib": matplotlib.__version__,
                "torch": getattr(torch, "__version__", None), "cupy": getattr(cupy, "__version__", None)}
    threads, threads_source = numpy_blas_threads()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cpu": {"model": cpu_model(), **cores()},
        "blas": blas_libraries(),
        "blas_threads": threads,
        "blas_threads_source": threads_source,
        "torch": torch_details(torch) if torch is not None else None,
        "gpu": gpu_details(cupy, torch),
        "versions": versions,
        "load_average_at_start": load_average(),
    }


def prepare(backends, log):
    """What every benchmark does first: find the backends (logging each skipped one with its reason),
    give torch as many threads as NumPy's BLAS and full float32 on the GPU (no TF32), describe the
    machine, and warn when it is busy.
    Returns (available, skipped, torch, cupy, description, warnings)."""
    from . import backends as backend_runners
    available, skipped, torch, cupy = backend_runners.probe_backends(backends)
    for backend, reason in skipped.items():
        log(f"skipping {backend}: {reason}")
    threads, _ = numpy_blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)
        # float32 against float32: cuDNN convolutions default to TF32 (a 10-bit mantissa) on Ampere and
        # later GPUs, which is faster and differs from the engine by ~3e-4 (seen on an H100). Off for both.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    description = describe(torch, cupy)
    description["keep_freed_memory"] = nn.keep_freed_memory()  # as training runs: see nn.keep_freed_memory
    warnings = []
    load, usable = description["load_average_at_start"], description["cpu"].get("usable") or os.cpu_count()
    if load and load[0] > 0.5 * usable:
        warnings.append(f"the machine was busy at the start (load average {load[0]} on {usable} usable cores): "
                        "timings are noisy, and multithreaded BLAS slows down badly when its threads wait for a core")
    return available, skipped, torch, cupy, description, warnings
