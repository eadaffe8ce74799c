"""Elementwise chains fused into one GPU kernel each; the plain forms beside them say what they compute.

On the GPU a chain like the Sigmoid's backward, ``(1 - y) * y * g``, is three kernel launches and
three trips through memory; a small training step is made of such launches (issue 12 counted
120-130 a step). Each chain below is written twice, with the same names:

- the plain form, a NumPy/CuPy function (``sigmoid_forward(x)``, ...) that reads as the formula;
- the fused form, the same formula as one CUDA C statement list (``KERNELS[name].body``), compiled
  by ``backend.compile_elementwise`` into a CuPy ``ElementwiseKernel`` and run by
  ``fused(name, *arguments)``: one launch, one pass.

``run(name, *arguments)`` is what the engine calls: the fused kernel on CuPy arrays, the plain form
on anything else, so NumPy training is untouched. ``unfused()`` runs the plain forms on the GPU too
(a benchmark's baseline, or to rule the kernels out when chasing a difference).

The kernels use only C arithmetic and ``exp``, so their bodies are plain C as well:
tests/test_nn_fused_gpu.py compiles them with the C compiler (float and double) and holds them equal
to the plain forms, edge values (+-1000, 0, NaN) included. NaN goes through each as in the plain form.

    name                   plain formula                                    where
    sigmoid_forward        y = 1 / (1 + e^-x)                               Sigmoid.forward
    sigmoid_backward       dL/dx = (1 - y) y g                              Sigmoid.backward
    mse_sigmoid_backward   dL/dz = (1 - y) y ((y - target) scale),          MSELoss.backward then Sigmoid.backward:
                           scale = 2 / M (mean) or 2 (sum)                  the autoencoder's last layer
    bias_relu              y = max(x + bias, 0), NaN kept                   Linear's bias add, then ReLU
"""
import contextlib
from dataclasses import dataclass

from .. import backend
from ..activations import sigmoid


@dataclass(frozen=True)
class FusedKernel:
    """One kernel: its parameters in ElementwiseKernel's spelling (``"T x, T bias"``), the body in
    CUDA C, and which inputs are scalars (passed as numbers; the rest are arrays, broadcast)."""
    inputs: str
    outputs: str
    body: str
    scalars: tuple = ()


KERNELS = {
    "sigmoid_forward": FusedKernel("T x", "T y", "y = 1 / (1 + exp(-x));"),
    "sigmoid_backward": FusedKernel("T y, T grad_output", "T grad_input", "grad_input = (1 - y) * y * grad_output;"),
    "mse_sigmoid_backward": FusedKernel("T y, T target, T scale", "T grad_input",
                                        "T grad_output = (y - target) * scale; grad_input = (1 - y) * y * grad_output;",
                                        scalars=("scale",)),
    # s < 0 rather than fmax(s, 0): fmax drops a NaN, and max(x, 0) in NumPy (and torch's ReLU) keeps it.
    "bias_relu": FusedKernel("T x, T bias", "T y", "T s = x + bias; y = (s < 0) ? (T)0 : s;"),
}


# --- the plain forms: the formulas as they read ------------------------------------------------------
sigmoid_forward = sigmoid  # y = 1 / (1 + e^-x): nn/activations.py's own


def sigmoid_backward(y, grad_output):
    """dL/dx = (1 - y) y g, from the Sigmoid's output y and g = dL/dy."""
    return (1 - y) * y * grad_output


def mse_sigmoid_backward(y, target, scale):
    """dL/dz of L = R((sigmoid(z) - target)^2) from y = sigmoid(z): (1 - y) y ((y - target) scale),
    with scale = 2 / M for the mean over M elements (2 for the sum): MSELoss.backward, then the
    Sigmoid's backward, in one pass."""
    grad_output = (y - target) * scale
    return (1 - y) * y * grad_output


def bias_relu(x, bias):
    """y = max(x + bias, 0), bias of shape (out,) broadcast over x of shape (N, out); NaN stays NaN."""
    xp = backend.get_array_module(x)
    return xp.maximum(x + bias, 0)


def bias_relu_in_place(y, bias):
    """bias_relu(y, bias) written into y (a product nothing else holds): y += bias; y = max(y, 0)."""
    xp = backend.get_array_module(y)
    y += bias
    return xp.maximum(y, 0, out=y)


def xp_of(array):
    return backend.get_array_module(array)


# --- the fused forms -------------------------------------------------------------------------------
_compiled = {}


def fused(name, *arguments):
    """Run kernel ``name`` on CuPy arrays (and scalars, cast to the arrays' dtype so T is one type):
    the same result as the plain function of that name, in one launch. Returns the output array."""
    if name not in _compiled:
        kernel = KERNELS[name]
        _compiled[name] = backend.compile_elementwise(kernel.inputs, kernel.outputs, kernel.body, f"nn_fused_{name}")
    dtype = next(argument.dtype for argument in arguments if hasattr(argument, "dtype"))
    return _compiled[name](*(argument if hasattr(argument, "dtype") else dtype.type(argument)
                             for argument in arguments))


# --- choosing between them ---------------------------------------------------------------------------
_enabled = True


def on_gpu(array):
    """Whether ``run`` takes the fused kernel for this array: a CuPy array, fused kernels not switched off.
    (Tests stand a CPU in for the GPU by replacing this function and ``fused``.)"""
    return _enabled and backend.device_of(array) == "gpu"


@contextlib.contextmanager
def unfused():
    """Within this block, ``run`` takes the plain forms on the GPU too (restored afterwards)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def run(name, *arguments):
    """The chain ``name`` on ``arguments``: fused into one kernel on the GPU, the plain form elsewhere."""
    if on_gpu(arguments[0]):
        return fused(FUSED_NAMES.get(name, name), *arguments)
    return PLAIN_FORMS[name](*arguments)


PLAIN_FORMS = {"sigmoid_forward": sigmoid_forward, "sigmoid_backward": sigmoid_backward,
               "mse_sigmoid_backward": mse_sigmoid_backward, "bias_relu": bias_relu,
               "bias_relu_in_place": bias_relu_in_place}
FUSED_NAMES = {"bias_relu_in_place": "bias_relu"}  # on the GPU the kernel writes a new array
