"""A CPU standing in for the GPU of nn/fused_gpu.py: ``fused_gpu.run`` then takes its fused branch on
NumPy arrays, and ``fused`` runs either the plain form of the same name (to check the wiring: which
chain runs where) or the kernel's CUDA C body compiled as C (to check the kernels in place)."""
import numpy

from nn import fused_gpu

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
