"""The fused GPU Adam kernel, checked without a GPU.

Its body is CUDA C, but plain C as well: compiled here with the C compiler (T = double) and put in
the place of the CuPy kernel, nn.Adam's GPU path (fused=True: nn.fast.optim.FusedForm, the same
arguments in the same order; the parameters' device is stood in as 'gpu') must take
the same 50 steps as torch.optim.Adam / AdamW. This catches a wrong formula, a misnamed variable
or a swapped argument before the kernel ever meets a GPU.
"""
import ctypes
import re
import shutil
import subprocess

import numpy
import pytest

import nn
from nn.fast import optim as optim_fast

torch = pytest.importorskip("torch")
compiler = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(compiler is None, reason="no C compiler to build the kernel body")


def _names(parameters):
    return [re.fullmatch(r"T (\w+)", part.strip()).group(1) for part in parameters.split(",")]


C_TYPES = {numpy.dtype("float64"): ("double", ctypes.c_double), numpy.dtype("float32"): ("float", ctypes.c_float)}


def build_kernel(tmp_path, amsgrad, dtype=numpy.dtype("float64")):
    """Wrap the kernel body in a C loop, in the argument order CuPy's ElementwiseKernel uses, with
    T the C type of ``dtype``."""
    inputs, outputs, body = optim_fast.adam_kernel_source(amsgrad)
    inputs, outputs = _names(inputs), _names(outputs)
    arrays = ["grad"] + outputs
    arguments = ", ".join(f"T *{name}_array" if name in arrays else f"T {name}" for name in inputs + outputs)
    loads = "\n".join(f"        T {name} = {name}_array[i];" for name in arrays)
    stores = "\n".join(f"        {name}_array[i] = {name};" for name in outputs)
    source = f"""
#include <math.h>
typedef {C_TYPES[dtype][0]} T;
void kernel(long n, {arguments}) {{
    for (long i = 0; i < n; i++) {{
{loads}
{body}
{stores}
    }}
}}
"""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "adam.c").write_text(source)
    library = tmp_path / "adam.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(library), str(tmp_path / "adam.c"), "-lm"],
                   check=True, capture_output=True)
    kernel = ctypes.CDLL(str(library)).kernel
    return kernel, inputs, outputs


def as_fake_gpu_kernel(kernels):
    """A callable taking what CuPy's ElementwiseKernel takes (inputs, then outputs; NumPy arrays
    and NumPy scalars here) and running the body compiled for the arrays' dtype ({dtype: kernel})."""
    def call(*arguments):
        first = next(argument for argument in arguments if isinstance(argument, numpy.ndarray))
        assert all(argument.dtype == first.dtype for argument in arguments), "one type T throughout"
        scalar = C_TYPES[first.dtype][1]
        pointer = ctypes.POINTER(scalar)
        converted = [argument.ctypes.data_as(pointer) if isinstance(argument, numpy.ndarray)
                     else scalar(float(argument)) for argument in arguments]
        kernels[first.dtype](ctypes.c_long(first.size), *converted)
    return call


@pytest.fixture
def fake_gpu(monkeypatch, tmp_path):
    """Route nn.Adam's step through its GPU path, with the kernel body compiled for the CPU."""
    kernels = {amsgrad: as_fake_gpu_kernel({dtype: build_kernel(tmp_path / f"{amsgrad}-{dtype}", amsgrad, dtype)[0]
                                            for dtype in C_TYPES})
               for amsgrad in (False, True)}
    monkeypatch.setattr(optim_fast, "_adam_kernels", kernels)
    monkeypatch.setattr(optim_fast.backend, "device_of", lambda array: "gpu")
    calls = []
    original = optim_fast.adam_gpu
    monkeypatch.setattr(optim_fast, "adam_gpu",
                        lambda *arguments, **options: calls.append(1) or original(*arguments, **options))
    return calls


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
@pytest.mark.parametrize("maximize", [False, True], ids=["minimize", "maximize"])
@pytest.mark.parametrize("decoupled,weight_decay", [(False, 0.0), (False, 0.1), (True, 0.01)],
                         ids=["no-decay", "l2", "adamw"])
def test_gpu_adam_path_takes_torchs_steps(fake_gpu, amsgrad, maximize, decoupled, weight_decay, dtype, rtol):
    rng = numpy.random.default_rng(7)
    size, lr, betas, eps = 257, 3e-3, (0.8, 0.95), 1e-6
    parameter = nn.Parameter(rng.standard_normal(size).astype(dtype))
    reference = torch.nn.Parameter(torch.from_numpy(parameter.data.copy()))
    ours_class, torch_class = (nn.AdamW, torch.optim.AdamW) if decoupled else (nn.Adam, torch.optim.Adam)
    options = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
    optimizer = ours_class([parameter], **options, fused=True)
    reference_optimizer = torch_class([reference], **options)
    assert isinstance(optimizer._fast, optim_fast.FusedForm)
    for _ in range(50):
        grad = (rng.standard_normal(size) * rng.uniform(0.01, 3)).astype(dtype)
        parameter.grad = parameter.data * 0 + (grad)
        optimizer.step()
        reference.grad = torch.from_numpy(grad.copy())
        reference_optimizer.step()
    assert len(fake_gpu) == 50  # every step went through the GPU path
    assert parameter.data.dtype == dtype and optimizer.state[parameter]["exp_avg"].dtype == dtype
    expected = reference.detach().numpy()
    assert numpy.max(numpy.abs(parameter.data - expected)) <= rtol * numpy.max(numpy.abs(expected))
    state = reference_optimizer.state[reference]
    for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        ours, theirs = optimizer.state[parameter][name], state[name].numpy()
        assert numpy.max(numpy.abs(ours - theirs)) <= rtol * numpy.max(numpy.abs(theirs))


def test_a_wrong_kernel_body_is_caught(monkeypatch, tmp_path):
    """The check bites: a kernel that forgets the bias correction of the second moment fails."""
    monkeypatch.setattr(optim_fast, "_ADAM_KERNEL",
                        optim_fast._ADAM_KERNEL.replace("V_USED / bias_correction2", "V_USED"))
    monkeypatch.setattr(optim_fast, "_adam_kernels",
                        {False: as_fake_gpu_kernel({numpy.dtype("float64"): build_kernel(tmp_path, False)[0]})})
    monkeypatch.setattr(optim_fast.backend, "device_of", lambda array: "gpu")
    rng = numpy.random.default_rng(1)
    parameter = nn.Parameter(rng.standard_normal(64))
    reference = torch.nn.Parameter(torch.from_numpy(parameter.data.copy()))
    optimizer, reference_optimizer = nn.Adam([parameter], lr=1e-2, fused=True), torch.optim.Adam([reference], lr=1e-2)
    for _ in range(5):
        grad = rng.standard_normal(64)
        parameter.grad = parameter.data * 0 + (grad)
        optimizer.step()
        reference.grad = torch.from_numpy(grad.copy())
        reference_optimizer.step()
    assert numpy.max(numpy.abs(parameter.data - reference.detach().numpy())) > 1e-4
