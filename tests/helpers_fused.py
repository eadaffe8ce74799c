"""Stand-ins for the GPU, on the CPU.

StandInGPU: ``fused_gpu.run`` takes its fused branch on NumPy arrays, and ``fused`` runs either the
plain form of the same name (to check the wiring: which chain runs where) or the kernel's CUDA C
body compiled as C (to check the kernels in place).

FakeGraphs: nn.fast.cuda_graph.CudaGraphs' interface, recording calls; its capture records the step's
Python callable without running it (as CUDA records kernels without running them), and each launch
runs it again.
"""
import numpy

from nn.fast import kernels as fused_gpu

from helpers_c_kernels import c_elementwise


class StandInGPU:
    """Installed with ``install(monkeypatch)``; ``calls`` counts each kernel launched."""

    def __init__(self, kernels="plain", directory=None):
        self.kernels, self.directory, self.calls, self._compiled = kernels, directory, {}, {}

    def install(self, monkeypatch):
        monkeypatch.setattr(fused_gpu, "on_gpu", lambda array: fused_gpu._enabled)
        monkeypatch.setattr(fused_gpu, "fused", self.fused)
        return self

    def fused(self, name, *arguments):
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.kernels == "plain":
            return fused_gpu.PLAIN_FORMS[name](*arguments)
        dtype = next(argument.dtype for argument in arguments if hasattr(argument, "dtype"))
        key = (name, dtype.name)
        if key not in self._compiled:
            kernel = fused_gpu.KERNELS[name]
            self._compiled[key] = c_elementwise(kernel.inputs, kernel.outputs, kernel.body, dtype, kernel.scalars,
                                                self.directory / f"{name}-{dtype.name}")
        shape = numpy.broadcast_shapes(*(argument.shape for argument in arguments if hasattr(argument, "shape")))
        return self._compiled[key](*arguments, numpy.empty(shape, dtype=dtype))


class FakeStream:
    def __init__(self, calls):
        self.calls = calls

    def __enter__(self):
        self.calls.append("enter")
        return self

    def __exit__(self, *exception):
        self.calls.append("exit")


class FakeGraph:
    def __init__(self, body, calls):
        self.body, self.calls = body, calls

    def launch(self, stream):
        self.calls.append("launch")
        self.body()


class FakeGraphs:
    """CudaGraphs' interface, recording calls; capture keeps the callable and does not run it."""

    def __init__(self):
        self.calls = []

    def stream(self):
        return FakeStream(self.calls)

    def allocations(self):
        return FakeStream(self.calls)

    def current_stream(self):
        return "caller"

    def hand_over(self, source, target):
        self.calls.append(f"{'caller' if source == 'caller' else 'step'} to "
                          f"{'caller' if target == 'caller' else 'step'}")

    def capture(self, stream, body):
        self.calls.append("capture")
        return FakeGraph(body, self.calls)
