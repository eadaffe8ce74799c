"""Elementwise activations. Each backward is dL/dx = g * f'(x), with g = dL/dy of y's shape.

Each caches the one array its derivative needs (the input or the output). Inputs may be 0-d
(a NumPy scalar such as ``numpy.float64(0.3)`` too), as torch takes 0-d tensors; a gradient of
another shape than the output is refused, never broadcast.

Sigmoid and ReLU have their formulas written plainly below (``sigmoid``, ``sigmoid_backward``,
``relu``, ``relu_backward``); the classes run the fast forms of the same formulas from
nn/activations_fast.py, which give the same bits.
"""
import math

from . import activations_fast, backend
from .checks import as_array, checked_gradient
from .module import Module


def _refuse_inplace(name, inplace):
    if inplace:
        raise ValueError(f"{name}: inplace=True is not supported; use inplace=False (the default)")


def _array_result(x, y):
    """Ufuncs turn 0-d arrays into scalars; give a 0-d input a 0-d array back, as for any other shape."""
    return backend.get_array_module(x).asarray(y) if x.ndim == 0 else y


class Identity(Module):
    """y = x;  dL/dx = g.  Takes and ignores any arguments, as torch's Identity does."""

    def __init__(self, *args, **kwargs):
        self._output = None

    def forward(self, x):
        self._output = as_array(x)
        return self._output

    def backward(self, grad_output):
        return checked_gradient(self, grad_output, self._output)[1]

    def _clear_cache(self):
        self._output = None


def relu(x):
    """max(x, 0): the plain form."""
    return backend.get_array_module(x).maximum(x, 0)


def relu_backward(y, grad_output):
    """g * [y > 0] with y = relu(x): the slope is 1 where x > 0 and 0 elsewhere (0 at x = 0, as torch)."""
    return grad_output * (y > 0)


class ReLU(Module):
    """y = max(x, 0);   dL/dx = g * [y > 0].   Formulas: ``relu`` and ``relu_backward`` above.

    ``inplace=True`` (torch's) writes y into x and dL/dx into g: no new arrays per step, at the price
    of the caller's arrays (fast forms ``activations_fast.relu_in_place``, ``relu_backward_in_place``).
    """

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        self._output = None

    def forward(self, x):
        x = as_array(x)
        self._output = activations_fast.relu_in_place(x) if self.inplace else _array_result(x, relu(x))
        return self._output

    def backward(self, grad_output):
        y, grad_output = checked_gradient(self, grad_output, self._output)
        if self.inplace:
            return activations_fast.relu_backward_in_place(y, grad_output)
        return _array_result(y, relu_backward(y, grad_output))

    def _clear_cache(self):
        self._output = None

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else a x;   dL/dx = g if x > 0 else a g.   a = negative_slope (0.01)."""

    def __init__(self, negative_slope=0.01, inplace=False):
        _refuse_inplace("LeakyReLU", inplace)
        self.negative_slope = float(negative_slope)
        self._input = None

    def forward(self, x):
        x = as_array(x)
        self._input = x
        return _array_result(x, backend.get_array_module(x).where(x > 0, x, x * self.negative_slope))

    def backward(self, grad_output):
        x, grad_output = checked_gradient(self, grad_output, self._input)
        xp = backend.get_array_module(x)
        return _array_result(x, xp.where(x > 0, grad_output, grad_output * self.negative_slope))

    def _clear_cache(self):
        self._input = None

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


def sigmoid(x):
    """1 / (1 + e^-x): the plain form. Stable for every x: where e^-x overflows (x below about -88
    in float32, -709 in float64) it is inf and the result exactly 0, its correct limit."""
    xp = backend.get_array_module(x)
    with backend.expected_infinities(x):
        return 1 / (1 + xp.exp(-x))


def sigmoid_backward(y, grad_output):
    """g * y (1 - y) with y = sigmoid(x): the derivative of the sigmoid written through its output."""
    return grad_output * (y * (1 - y))


class Sigmoid(Module):
    """y = 1 / (1 + e^-x);   dL/dx = g * y (1 - y).   Formulas: ``sigmoid`` and ``sigmoid_backward`` above.

    Runs their fast forms, ``activations_fast.sigmoid_fast`` and ``sigmoid_backward_fast``: on the
    CPU the same bits in fewer passes, on the GPU one fused kernel each. Stable for any x.
    """

    def __init__(self):
        self._output = None

    def forward(self, x):
        self._output = activations_fast.sigmoid_fast(as_array(x))
        return self._output

    def backward(self, grad_output):
        y, grad_output = checked_gradient(self, grad_output, self._output)
        return activations_fast.sigmoid_backward_fast(y, grad_output)

    def _clear_cache(self):
        self._output = None


class Tanh(Module):
    """y = tanh(x);   dL/dx = g * (1 - y^2)."""

    def __init__(self):
        self._output = None

    def forward(self, x):
        x = as_array(x)
        self._output = _array_result(x, backend.get_array_module(x).tanh(x))
        return self._output

    def backward(self, grad_output):
        y, grad_output = checked_gradient(self, grad_output, self._output)
        return _array_result(y, grad_output * (1 - y * y))

    def _clear_cache(self):
        self._output = None


class ELU(Module):
    """y = x if x > 0 else a (e^x - 1);   dL/dx = g if x > 0 else g a e^x   (a = alpha, 1.0)."""

    def __init__(self, alpha=1.0, inplace=False):
        _refuse_inplace("ELU", inplace)
        self.alpha = float(alpha)
        self._input = None

    def forward(self, x):
        x = as_array(x)
        xp = backend.get_array_module(x)
        self._input = x
        return _array_result(x, xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * self.alpha))

    def backward(self, grad_output):
        x, grad_output = checked_gradient(self, grad_output, self._input)
        xp = backend.get_array_module(x)
        return _array_result(x, xp.where(x > 0, grad_output, grad_output * xp.exp(xp.minimum(x, 0)) * self.alpha))

    def _clear_cache(self):
        self._input = None

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    """y = log(1 + e^(b x)) / b, and y = x where b x > threshold (as torch: beta 1, threshold 20).

    dL/dx = g * sigmoid(b x), and g where b x > threshold.
    """

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = float(beta), float(threshold)
        self._input = None

    def forward(self, x):
        x = as_array(x)
        xp = backend.get_array_module(x)
        self._input = x
        scaled = x * self.beta
        # Capping at the threshold keeps exp from overflowing where the linear branch is taken anyway.
        soft = xp.log1p(xp.exp(xp.minimum(scaled, self.threshold))) / self.beta
        return _array_result(x, xp.where(scaled > self.threshold, x, soft))

    def backward(self, grad_output):
        x, grad_output = checked_gradient(self, grad_output, self._input)
        xp = backend.get_array_module(x)
        scaled = x * self.beta
        return _array_result(x, xp.where(scaled > self.threshold, grad_output, grad_output * sigmoid(scaled)))

    def _clear_cache(self):
        self._input = None

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """y = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2.

    dL/dx = g * (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3),
    whose derivative is (1 + t)/2 + x (1 - t^2) u' / 2 with t = tanh(u), u' = sqrt(2/pi)(1 + 3*0.044715 x^2).
    """

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._input = None

    def forward(self, x):
        x = as_array(x)
        xp = backend.get_array_module(x)
        self._input = x
        if self.approximate == "tanh":
            return _array_result(x, x * (1 + xp.tanh(self._tanh_argument(x))) * 0.5)
        return _array_result(x, x * (1 + backend.erf(x * (1 / math.sqrt(2)))) * 0.5)

    @staticmethod
    def _tanh_argument(x):
        return (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)

    def backward(self, grad_output):
        x, grad_output = checked_gradient(self, grad_output, self._input)
        xp = backend.get_array_module(x)
        if self.approximate == "tanh":
            t = xp.tanh(self._tanh_argument(x))
            du_dx = (1 + x * x * (3 * 0.044715)) * math.sqrt(2 / math.pi)
            return _array_result(x, grad_output * ((1 + t) * 0.5 + x * (1 - t * t) * du_dx * 0.5))
        cdf = (1 + backend.erf(x * (1 / math.sqrt(2)))) * 0.5
        pdf = xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
        return _array_result(x, grad_output * (cdf + x * pdf))

    def _clear_cache(self):
        self._input = None

    def extra_repr(self):
        return f"approximate={self.approximate!r}"
