"""nn.backend on the CPU: device and dtype names, array modules, the seeded generators, erf and the
expected-infinities context. Found by mutation testing (python -m tests.mutation.mutants --targets
nn.backend): each test kills mutants the module and strict-array tests missed."""
import json
import math
import warnings

import numpy
import pytest

import nn
from nn import backend


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CPU", "cpu"), ("gpu", "gpu"), ("GPU", "gpu"),
                                            ("cuda", "gpu"), ("cuda:0", "gpu"), ("CUDA:1", "gpu")])
def test_device_names(name, expected):
    assert backend.normalize_device(name) == expected


@pytest.mark.parametrize("name", ["tpu", "", "cudax", "cpu:0", None])
def test_an_unknown_device_names_the_value_and_the_choices(name):
    with pytest.raises(ValueError, match=rf"^unknown device {name!r}: use one of \('cpu', 'gpu'\)$"):
        backend.normalize_device(name)


@pytest.mark.parametrize("dtype", ["float32", "float64", numpy.float32, numpy.dtype("float64")])
def test_supported_dtypes_resolve_to_numpy_dtypes(dtype):
    resolved = backend.normalize_dtype(dtype)
    assert isinstance(resolved, numpy.dtype) and resolved == numpy.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "int64", "no such type", object()])
def test_an_unsupported_dtype_names_the_value_and_the_choices(dtype):
    with pytest.raises(ValueError, match=r"^unsupported dtype .*: use one of \('float32', 'float64'\)$") as caught:
        backend.normalize_dtype(dtype)
    assert repr(dtype) in str(caught.value)


def test_the_cpu_array_module_is_numpy():
    assert backend.array_module("cpu") is numpy and backend.array_module("CPU") is numpy


@pytest.mark.parametrize("value", [numpy.float64(2.0), numpy.int32(3), 2.5, [1.0, 2.0], numpy.zeros(2)])
def test_numpy_scalars_python_numbers_and_lists_belong_to_numpy(value):
    assert nn.get_array_module(value) is numpy
    assert nn.device_of(value) == "cpu"


def test_an_array_with_its_own_namespace_is_given_that_namespace():
    class Namespaced:
        def __array_namespace__(self):
            return json  # any module: the array names its own

    assert nn.get_array_module(Namespaced()) is json


def test_to_numpy_and_to_device_cpu_give_numpy_arrays_with_the_values():
    for convert in (nn.to_numpy, lambda values: nn.to_device(values, "cpu")):
        converted = convert([[1.0, 2.0]])
        assert type(converted) is numpy.ndarray
        numpy.testing.assert_array_equal(converted, [[1.0, 2.0]])


def test_arrays_on_one_device_pass_the_device_check():
    backend.check_same_device("Linear(2, 2)", numpy.zeros(2), numpy.ones(3))  # no error


def test_the_same_seed_gives_the_same_stream_and_reseeding_restarts_it():
    nn.manual_seed(123)
    first = backend.default_generator().standard_normal(4)
    assert backend.default_generator("cpu") is backend.default_generator()  # one shared generator
    nn.manual_seed(123)
    numpy.testing.assert_array_equal(backend.default_generator().standard_normal(4), first)
    numpy.testing.assert_array_equal(backend.new_generator(123).standard_normal(4), first)
    nn.manual_seed(124)
    assert not numpy.array_equal(backend.default_generator().standard_normal(4), first)


def test_a_modules_generators_save_and_restore_their_state():
    generators = backend.SeededGenerators(seed=7)
    assert generators.state() == "null"  # nothing drawn yet
    assert generators.on("cpu") is generators.on("CPU")
    generators.on("cpu").standard_normal(3)
    saved = generators.state()
    expected = generators.on("cpu").standard_normal(5)

    resumed = backend.SeededGenerators(seed=7)
    resumed.set_state(saved)
    numpy.testing.assert_array_equal(resumed.on("cpu").standard_normal(5), expected)

    fresh = backend.SeededGenerators(seed=7)
    fresh.set_state("null")  # a state saved before any draw: start from the seed
    numpy.testing.assert_array_equal(fresh.on("cpu").standard_normal(3),
                                     numpy.random.default_rng(7).standard_normal(3))


def test_erf_matches_the_math_module():
    x = numpy.array([-2.0, -0.5, 0.0, 0.3, 1.0, 3.0])
    numpy.testing.assert_allclose(backend.erf(x), [math.erf(value) for value in x], rtol=1e-15, atol=1e-16)


def test_infinities_are_expected_inside_the_context_but_nan_still_warns():
    x = numpy.array([0.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with backend.expected_infinities(x):
            assert numpy.log(x[:1])[0] == -numpy.inf
            assert numpy.exp(x[1:])[0] == numpy.inf
        with backend.expected_infinities(x), pytest.raises(RuntimeWarning):
            numpy.log(numpy.array([-1.0]))
    with pytest.warns(RuntimeWarning):
        numpy.log(x[:1])  # outside the context NumPy warns as usual


# --- the GPU paths, with a stand-in for CuPy (the real one is tested on a GPU machine) ----------------------
class FakeCupyArray:
    """Recognized as a CuPy array by its module's name, as the backend does."""
    __module__ = "cupy._core.core"

    def __init__(self, values):
        self.values = numpy.asarray(values)

    def get(self):
        return self.values.copy()


class FakeCupy:
    def __init__(self, devices):
        runtime = type("runtime", (), {"getDeviceCount": staticmethod(devices)})
        self.cuda = type("cuda", (), {"runtime": runtime})
        self.random = type("random", (), {"default_rng": staticmethod(lambda seed: ("cupy generator", seed))})

    @staticmethod
    def asarray(values):
        return FakeCupyArray(values)

    @staticmethod
    def ElementwiseKernel(*arguments):
        return ("kernel", arguments)


def with_fake_cupy(monkeypatch, devices):
    real_import = backend.importlib.import_module
    fake = FakeCupy(devices)
    special = type("special", (), {"erf": staticmethod(lambda values: ("cupy erf", values))})
    modules = {"cupy": fake, "cupyx.scipy.special": special}
    monkeypatch.setattr(backend.importlib, "import_module",
                        lambda name: modules[name] if name in modules else real_import(name))
    return fake


def test_a_visible_gpu_is_used(monkeypatch):
    fake = with_fake_cupy(monkeypatch, lambda: 1)
    assert nn.gpu_available() is True
    assert backend.array_module("gpu") is fake and backend.array_module("cpu") is numpy
    moved = nn.to_device(numpy.arange(3.0), "cuda")
    assert type(moved) is FakeCupyArray and nn.device_of(moved) == "gpu"
    numpy.testing.assert_array_equal(moved.values, [0.0, 1.0, 2.0])
    back = nn.to_numpy(moved)
    assert type(back) is numpy.ndarray and back is not moved.values
    numpy.testing.assert_array_equal(back, [0.0, 1.0, 2.0])


def test_gpu_generators_come_from_cupy_with_the_same_seed(monkeypatch):
    with_fake_cupy(monkeypatch, lambda: 1)
    generators = backend.SeededGenerators(seed=5)
    assert generators.on("gpu") == ("cupy generator", 5) and generators.on("cuda:0") is generators.on("gpu")
    assert isinstance(generators.on("cpu"), numpy.random.Generator)
    assert backend.new_generator(9, "gpu") == ("cupy generator", 9)


def test_cupy_arrays_belong_to_cupy_and_get_its_erf(monkeypatch):
    fake = with_fake_cupy(monkeypatch, lambda: 1)
    on_gpu = FakeCupyArray([0.5])
    assert nn.get_array_module(on_gpu) is fake
    assert backend.erf(on_gpu) == ("cupy erf", on_gpu)


def test_the_shared_gpu_generator_is_seeded_by_manual_seed(monkeypatch):
    with_fake_cupy(monkeypatch, lambda: 1)
    try:
        nn.manual_seed(4)
        assert backend.default_generator("gpu") == ("cupy generator", 4)
        assert isinstance(backend.default_generator(), numpy.random.Generator)
    finally:
        nn.manual_seed(4)  # forget the stand-in generator


def test_a_fused_kernel_is_compiled_by_cupy_with_the_given_parts(monkeypatch):
    with_fake_cupy(monkeypatch, lambda: 1)
    assert backend.compile_elementwise("T x", "T y", "y = 2 * x", "double") == (
        "kernel", ("T x", "T y", "y = 2 * x", "double"))


def test_mixing_devices_names_the_layer_both_devices_and_both_fixes():
    on_gpu = FakeCupyArray([1.0])
    with pytest.raises(nn.BackendError) as caught:
        backend.check_same_device("Linear(2, 2)", numpy.zeros(2), on_gpu)
    assert str(caught.value) == ("Linear(2, 2): input is on 'gpu' but the parameters are on 'cpu'; move the input "
                                 "with nn.to_device(x, 'cpu') or the model with .to('gpu')")
    with pytest.raises(nn.BackendError) as caught:
        backend.check_same_device("Linear(2, 2)", on_gpu, numpy.zeros(2))
    assert str(caught.value) == ("Linear(2, 2): input is on 'cpu' but the parameters are on 'gpu'; move the input "
                                 "with nn.to_device(x, 'gpu') or the model with .to('cpu')")


def test_on_the_gpu_the_infinities_context_leaves_numpy_alone():
    """CuPy never warns, so there is nothing to silence: NumPy's own settings stay as they are."""
    with backend.expected_infinities(FakeCupyArray([0.0])), pytest.warns(RuntimeWarning):
        numpy.log(numpy.zeros(1))


def raise_runtime_error():
    raise RuntimeError("cudaErrorNoDevice")


@pytest.mark.parametrize("devices, message", [
    (lambda: 0, "device 'gpu': CuPy is installed but no CUDA GPU is visible; check CUDA_VISIBLE_DEVICES and "
                "the driver, or use device='cpu'"),
    (raise_runtime_error, "device 'gpu': CuPy is installed but no CUDA GPU is usable (cudaErrorNoDevice); run on "
                          "a machine with an NVIDIA GPU and driver, or use device='cpu'")])
def test_cupy_without_a_usable_gpu_says_what_to_do(monkeypatch, devices, message):
    with_fake_cupy(monkeypatch, devices)
    assert nn.gpu_available() is False
    with pytest.raises(nn.BackendError) as caught:
        nn.to_device(numpy.zeros(2), "gpu")
    assert str(caught.value) == message


# --- keep_freed_memory, with a stand-in for glibc's mallopt --------------------------------------------------
class FakeLibc:
    def __init__(self, accepts_a_gigabyte=True):
        self.calls = []
        self.accepts_a_gigabyte = accepts_a_gigabyte

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return int(self.accepts_a_gigabyte or value != 1 << 30)


def tune(monkeypatch, libc, platform="linux", setting=None, library="/lib/found/libc.so"):
    monkeypatch.setattr(backend, "_allocator_tuned", False)
    monkeypatch.setattr(backend.sys, "platform", platform)
    if setting is None:
        monkeypatch.delenv("NN_KEEP_FREED_MEMORY", raising=False)
    else:
        monkeypatch.setenv("NN_KEEP_FREED_MEMORY", setting)
    opened = []
    monkeypatch.setattr(backend.ctypes.util, "find_library", lambda name: library if name == "c" else None)
    monkeypatch.setattr(backend.ctypes, "CDLL", lambda name: opened.append(name) or libc)
    return backend.keep_freed_memory(), opened


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def test_freed_memory_is_kept_by_raising_glibcs_thresholds_once(monkeypatch):
    libc = FakeLibc()
    assert tune(monkeypatch, libc) == (True, ["/lib/found/libc.so"])
    assert libc.calls == [(M_MMAP_THRESHOLD, 1 << 30), (M_TRIM_THRESHOLD, (1 << 31) - 1)]
    assert backend.keep_freed_memory() is True  # in effect; done once per process
    assert len(libc.calls) == 2


def test_an_older_glibc_gets_its_largest_mmap_threshold(monkeypatch):
    libc = FakeLibc(accepts_a_gigabyte=False)
    assert tune(monkeypatch, libc)[0] is True
    assert libc.calls == [(M_MMAP_THRESHOLD, 1 << 30), (M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, (1 << 31) - 1)]


def test_without_find_library_the_usual_name_is_opened(monkeypatch):
    assert tune(monkeypatch, FakeLibc(), library=None) == (True, ["libc.so.6"])


@pytest.mark.parametrize("platform, setting", [("linux", "0"), ("darwin", None), ("win32", "1")])
def test_memory_is_left_alone_when_asked_or_off_linux(monkeypatch, platform, setting):
    libc = FakeLibc()
    assert tune(monkeypatch, libc, platform=platform, setting=setting) == (False, [])
    assert libc.calls == []
    assert backend.keep_freed_memory() is False  # and it stays off


def test_a_libc_without_mallopt_is_left_alone(monkeypatch):
    assert tune(monkeypatch, object()) == (False, ["/lib/found/libc.so"])  # no error: nothing to tune
