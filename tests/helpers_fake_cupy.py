"""A CPU stand-in for CuPy, so that the engine's GPU branches run in the tests of a machine without a GPU.

``install_fake_cupy(monkeypatch)`` puts a module named ``cupy`` (and ``cupyx.scipy.special``) into
``sys.modules`` for one test; monkeypatch takes it out again afterwards, with the engine's caches of
compiled kernels and per-device generators, so nothing made with the fake outlives the test (the real
GPU tests still skip where CuPy sees no GPU). Through it the engine's own GPU code runs unchanged:

- ``backend._cupy()`` imports it and counts one GPU (``cuda.runtime.getDeviceCount``);
- its arrays, ``FakeCupyArray``, are NumPy arrays whose class lives in module ``cupy``, so
  ``backend.device_of`` calls them "gpu" and ``backend.get_array_module`` returns the fake module;
- like CuPy's they refuse to meet a plain NumPy array in any operation (TypeError), and like CuPy
  they are copied to the host only by ``.get()`` / ``cupy.asnumpy`` and from it by ``cupy.asarray`` /
  ``.set()`` (which takes a NumPy array of the same shape and dtype, as CuPy's does);
- ``ElementwiseKernel`` compiles the kernel's CUDA C body as C (tests/helpers_c_kernels.py) and runs it
  over the arrays, so the engine's fused kernels compute here what they compute on a GPU: T is bound by
  the arrays (of one dtype, or TypeError), numbers are cast to their parameter's type, outputs not
  passed are allocated with the broadcast shape;
- ``cupyx.scipy.special.erf`` is SciPy's, on the arrays.

What it cannot stand in for: CUDA itself (streams, memory pools, graph capture: the tests of
nn/fast/cuda_graph.py use helpers_fused.FakeGraphs for those), and ``numpy.asarray(array)``, which for
a NumPy subclass silently gives a NumPy view where CuPy would refuse.
"""
import atexit
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy
import scipy.special

from helpers_c_kernels import c_elementwise
from helpers_nn import plain_views, refuse_other_arrays, views_as

CONVERSIONS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})


def _refuse_host(value, where):
    refuse_other_arrays(value, where, FakeCupyArray, "a (fake) cupy array",
                        "CuPy refuses to mix host and device arrays")


def _host_views(value):
    return plain_views(value, FakeCupyArray)


def _on_device(value):
    return views_as(value, FakeCupyArray)


class FakeCupyArray(numpy.ndarray):
    """A "device" array: NumPy memory, CuPy's rules (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse_host((inputs, kwargs), f"ufunc {ufunc.__name__}")
        result = getattr(ufunc, method)(*_host_views(inputs), **_host_views(kwargs))
        outputs = kwargs.get("out")
        if outputs is not None:
            return outputs[0] if len(outputs) == 1 else outputs
        return _on_device(result)

    def __array_function__(self, func, types, args, kwargs):
        _refuse_host((args, kwargs), f"numpy.{func.__name__}")
        return _on_device(func(*_host_views(args), **_host_views(kwargs)))

    def get(self):
        """A NumPy copy (device to host)."""
        return numpy.array(self.view(numpy.ndarray), copy=True)

    def set(self, host):
        """Copy a NumPy array of this shape and dtype into this array (host to device), as CuPy's set."""
        if type(host) is not numpy.ndarray:
            raise TypeError(f"set: a numpy.ndarray is needed, got {type(host).__name__}")
        if host.dtype != self.dtype:
            raise TypeError(f"set: dtype {host.dtype} differs from the array's {self.dtype}")
        if host.shape != self.shape:
            raise ValueError(f"set: shape {host.shape} differs from the array's {self.shape}")
        self.view(numpy.ndarray)[...] = host

    def __repr__(self):
        return f"cupy.{numpy.ndarray.__repr__(self.view(numpy.ndarray))}"

    __str__ = __repr__


FakeCupyArray.__module__ = "cupy"  # what backend.device_of reads: the array's class is cupy's
FakeCupyArray.__qualname__ = FakeCupyArray.__name__ = "ndarray"


def _wrapped(name, function):
    def on_device(*args, **kwargs):
        if name not in CONVERSIONS:
            _refuse_host((args, kwargs), f"cupy.{name}")
            return _on_device(function(*_host_views(args), **_host_views(kwargs)))
        source = args[0] if args else kwargs.get("a", kwargs.get("obj"))
        if isinstance(source, FakeCupyArray):
            if name == "asarray" and kwargs.get("dtype", args[1] if len(args) > 1 else None) in (None, source.dtype):
                return source  # already on the device, of that dtype: the array itself, as CuPy's asarray
            return _on_device(function(*_host_views(args), **_host_views(kwargs)))
        return _on_device(numpy.array(function(*args, **kwargs), copy=True))  # host to device: a copy
    on_device.__name__ = name
    return on_device


class FakeGenerator:
    """cupy.random.Generator: NumPy's generator, its draws on the device."""

    def __init__(self, seed):
        self._host = numpy.random.default_rng(seed)

    def __getattr__(self, name):
        return _wrapped(name, getattr(self._host, name))


# --- ElementwiseKernel: the body as C ----------------------------------------------------------------------
_BUILD = Path(tempfile.mkdtemp(prefix="fake-cupy-kernels-"))
atexit.register(shutil.rmtree, _BUILD, True)
_built = {}


def _parameters(text):
    """[(type name, name)] of "T x, float64 t"."""
    return [tuple(part.split()) for part in text.split(",")]


class ElementwiseKernel:
    """cupy.ElementwiseKernel on the CPU; ``launches`` counts the calls."""

    def __init__(self, in_params, out_params, operation, name="kernel"):
        self.in_params, self.out_params, self.operation, self.name = in_params, out_params, operation, name
        self.inputs, self.outputs = _parameters(in_params), _parameters(out_params)
        self.launches = 0

    def __call__(self, *arguments):
        if len(arguments) not in (len(self.inputs), len(self.inputs) + len(self.outputs)):
            raise TypeError(f"{self.name}: {len(self.inputs)} inputs (and optionally {len(self.outputs)} outputs) "
                            f"expected, got {len(arguments)} arguments")
        _refuse_host(list(arguments), f"ElementwiseKernel {self.name}")
        parameters = self.inputs + self.outputs
        arrays = [(parameter, argument) for parameter, argument in zip(parameters, arguments)
                  if isinstance(argument, FakeCupyArray)]
        bound = {argument.dtype for (kind, _), argument in arrays if kind == "T"}
        if len(bound) > 1:
            raise TypeError(f"{self.name}: type is mismatched: T is bound to {sorted(map(str, bound))}")
        if bound:
            dtype = bound.pop()
        else:
            dtype = next(numpy.asarray(argument).dtype for (kind, _), argument in zip(parameters, arguments)
                         if kind == "T")
        for (kind, name), argument in arrays:
            if kind != "T" and argument.dtype != numpy.dtype(kind):
                raise TypeError(f"{self.name}: {name} is {argument.dtype}, the kernel declares {kind}")
        shape = numpy.broadcast_shapes(*(argument.shape for _, argument in arrays))
        given = list(arguments)
        if len(given) == len(self.inputs):
            given += [numpy.empty(shape, dtype=dtype if kind == "T" else kind).view(FakeCupyArray)
                      for kind, _ in self.outputs]
        scalars = tuple(name for (kind, name), argument in zip(self.inputs, given)
                        if not isinstance(argument, FakeCupyArray))
        key = (self.in_params, self.out_params, self.operation, numpy.dtype(dtype).name, scalars)
        if key not in _built:
            _built[key] = c_elementwise(self.in_params, self.out_params, self.operation, dtype, scalars,
                                        _BUILD / f"kernel-{len(_built)}")
        self.launches += 1
        _built[key](*_host_views(given))
        written = given[len(self.inputs):]
        return written[0] if len(written) == 1 else tuple(written)


# --- the modules ---------------------------------------------------------------------------------------
def _module_getattr(name):
    value = getattr(numpy, name)
    if callable(value) and not isinstance(value, type):
        return _wrapped(name, value)
    return value  # dtypes, constants


def asnumpy(array):
    return array.get() if isinstance(array, FakeCupyArray) else numpy.asarray(array)


def build_modules():
    """{module name: module} of the fake cupy, cupyx, cupyx.scipy and cupyx.scipy.special."""
    cupy = types.ModuleType("cupy", "A CPU stand-in for CuPy (tests/helpers_fake_cupy.py).")
    cupy.__getattr__ = _module_getattr
    cupy.ndarray = FakeCupyArray
    cupy.asnumpy = asnumpy
    cupy.get_array_module = lambda *arrays: cupy if any(isinstance(a, FakeCupyArray) for a in arrays) else numpy
    cupy.ElementwiseKernel = ElementwiseKernel
    cupy.random = types.SimpleNamespace(default_rng=FakeGenerator)
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    cupy.is_fake = True
    special = types.ModuleType("cupyx.scipy.special")

    def erf(x):
        _refuse_host(x, "cupyx.scipy.special.erf")
        return _on_device(scipy.special.erf(_host_views(x)))
    special.erf = erf
    scipy_part = types.ModuleType("cupyx.scipy")
    scipy_part.special = special
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = scipy_part
    return {"cupy": cupy, "cupyx": cupyx, "cupyx.scipy": scipy_part, "cupyx.scipy.special": special}


def install_fake_cupy(monkeypatch):
    """The fake cupy in sys.modules for this test, with the engine's caches emptied (and restored after)."""
    from nn import backend
    from nn.fast import cuda_graph, kernels
    from nn.fast import optim as optim_fast

    modules = build_modules()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backend, "_generators", {})
    monkeypatch.setattr(kernels, "_compiled", {})
    monkeypatch.setattr(optim_fast, "_adam_kernels", {})
    monkeypatch.setattr(cuda_graph, "_kernels", {})
    return modules["cupy"]


def device(array):
    """A NumPy array copied onto the fake device."""
    return numpy.array(array, copy=True).view(FakeCupyArray)
