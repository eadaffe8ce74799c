"""Which backends can run here, and the runner of each: the one place that knows every backend, the
engine's and PyTorch's (benchmarks.workloads) and the CPU peers' (benchmarks.peers).

The benchmarks' modules import one way: workloads (models, FLOPs, the engine and torch runners) is
the bottom; plain_loop and peers build on it; this module on both.
"""
import numpy

import nn

from . import peers
from .workloads import (BACKENDS, DEVICE_OF_BACKEND, PEER_BACKENDS, EngineRunner, TorchRunner, batch_of,
                        build_engine_model, import_torch, load_into_torch, torch_mirror)


def make_runner(backend, spec, batch_size, seed, torch=None):
    """The runner of ``backend`` for a model and batch size; every backend gets the same initial
    weights (those of ``build_engine_model(spec, seed)``) and the same batch."""
    model = build_engine_model(spec, seed)
    x = batch_of(batch_size, seed)
    if backend in ("engine-numpy", "engine-numpy-plain"):
        return EngineRunner(backend, model, x)
    if backend == "engine-cupy":
        return EngineRunner(backend, model.to("gpu"), nn.to_device(x, "gpu"))
    if backend in ("torch-cpu", "torch-cuda"):
        device = "cpu" if backend == "torch-cpu" else "cuda"
        mirror = torch_mirror(model, torch)
        load_into_torch(mirror, model.state_dict(), torch)
        del model  # only its structure and weights were needed
        return TorchRunner(backend, mirror.to(device), torch.from_numpy(x).to(device), torch)
    if backend in DEVICE_OF_BACKEND:
        library, reason = peers.import_peer(backend)
        if library is None:
            raise RuntimeError(reason)
        return peers.make_peer_runner(backend, model, x, library)
    raise ValueError(f"unknown backend {backend!r}: use one of {BACKENDS}")


def probe_backends(requested):
    """Split the requested backends into those that can run here and those that cannot.

    Returns (available list, {backend: reason} for the skipped ones, torch module or None,
    cupy module or None). Never raises for a missing library or GPU.
    """
    available, skipped = [], {}
    torch, torch_reason = (None, None)
    if any(name.startswith("torch") for name in requested):
        torch, torch_reason = import_torch()
    cupy = None
    if "engine-cupy" in requested:
        try:
            cupy = nn.get_array_module(nn.to_device(numpy.zeros(1, dtype=numpy.float32), "gpu"))
        except nn.BackendError as error:
            skipped["engine-cupy"] = str(error)
        except Exception as error:  # CuPy present but broken (driver, toolkit mismatch, ...)
            skipped["engine-cupy"] = f"CuPy failed on the GPU: {type(error).__name__}: {error}"
    for name in requested:
        if name in skipped:
            continue
        if name in PEER_BACKENDS:
            library, reason = peers.import_peer(name)
            if library is None:
                skipped[name] = reason
            else:
                available.append(name)
            continue
        if name.startswith("torch") and torch is None:
            skipped[name] = torch_reason
        elif name == "torch-cuda" and not torch.cuda.is_available():
            skipped[name] = (f"PyTorch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False)")
        else:
            available.append(name)
    return available, skipped, torch, cupy
