"""Elementwise activations. Each backward is dL/dx = g * f'(x), with g = dL/dy of y's shape.

Each caches the one array its derivative needs (the input or the output). Inputs may be 0-d, as
torch takes 0-d tensors; the gate (nn/module.py) checks the gradient's shape, so each backward is
its formula. Fast forms of the Sigmoid and ReLU (fewer passes, in place, fused on the GPU) are in
nn/fast/activations.py and apply through ``nn.fast.compile``.
"""
import math

from . import backend
from .arguments import flag
from .module import Module


def _refuse_inplace(name, inplace):
    if inplace:
        raise ValueError(f"{name}: inplace=True is not supported; use inplace=False (the default)")


class Identity(Module):
    """y = x;  dL/dx = g.  Takes and ignores any arguments, as torch's Identity does."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


class ReLU(Module):
    """y = max(x, 0);   dL/dx = g * [y > 0]   (the slope at x = 0 is 0, as torch's).

    ``inplace=True`` (torch's) writes y into x, so no new array is made: only where nothing else
    needs x afterwards.
    """

    _saved = ("_output",)

    def __init__(self, inplace=False):
        self.inplace = flag("ReLU", "inplace", inplace)

    def forward(self, x):
        xp = backend.get_array_module(x)
        self._output = xp.maximum(x, 0, out=x if self.inplace else None)
        return self._output

    def backward(self, grad_output):
        return grad_output * (self._output > 0)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else a x;   dL/dx = g if x > 0 else a g.   a = negative_slope (0.01)."""

    _saved = ("_input",)

    def __init__(self, negative_slope=0.01, inplace=False):
        _refuse_inplace("LeakyReLU", inplace)
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self._input = x
        return backend.get_array_module(x).where(x > 0, x, x * self.negative_slope)

    def backward(self, grad_output):
        x = self._input
        xp = backend.get_array_module(x)
        return xp.where(x > 0, grad_output, grad_output * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


def sigmoid(x):
    """1 / (1 + e^-x), for any x: where e^-x overflows (x below about -88 in float32, -709 in float64)
    it is inf and the result exactly 0, its correct limit."""
    xp = backend.get_array_module(x)
    with backend.expected_infinities(x):
        return 1 / (1 + xp.exp(-x))


class Sigmoid(Module):
    """y = 1 / (1 + e^-x);   dL/dx = g * y (1 - y)   (the derivative written through the output)."""

    _saved = ("_output",)

    def forward(self, x):
        self._output = sigmoid(x)
        return self._output

    def backward(self, grad_output):
        y = self._output
        return grad_output * (y * (1 - y))


class Tanh(Module):
    """y = tanh(x);   dL/dx = g * (1 - y^2)."""

    _saved = ("_output",)

    def forward(self, x):
        self._output = backend.get_array_module(x).tanh(x)
        return self._output

    def backward(self, grad_output):
        y = self._output
        return grad_output * (1 - y * y)


class ELU(Module):
    """y = x if x >= 0 else a (e^x - 1);   dL/dx = g if x > 0 else g a e^x   (a = alpha, 1.0).

    The forward takes x itself at 0, as torch: its sign then stays (-0 gives -0, whatever alpha's sign)."""

    _saved = ("_input",)

    def __init__(self, alpha=1.0, inplace=False):
        _refuse_inplace("ELU", inplace)
        self.alpha = float(alpha)

    def forward(self, x):
        xp = backend.get_array_module(x)
        self._input = x
        return xp.where(x >= 0, x, xp.expm1(xp.minimum(x, 0)) * self.alpha)

    def backward(self, grad_output):
        x = self._input
        xp = backend.get_array_module(x)
        return xp.where(x > 0, grad_output, grad_output * xp.exp(xp.minimum(x, 0)) * self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    """y = log(1 + e^(b x)) / b, and y = x where b x > threshold (as torch: beta 1, threshold 20).

    dL/dx = g * sigmoid(b x), and g where b x > threshold.
    """

    _saved = ("_input",)

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        xp = backend.get_array_module(x)
        self._input = x
        scaled = x * self.beta
        # Capping at the threshold keeps exp from overflowing where the linear branch is taken anyway.
        soft = xp.log1p(xp.exp(xp.minimum(scaled, self.threshold))) / self.beta
        return xp.where(scaled > self.threshold, x, soft)

    def backward(self, grad_output):
        x = self._input
        xp = backend.get_array_module(x)
        scaled = x * self.beta
        return xp.where(scaled > self.threshold, grad_output, grad_output * sigmoid(scaled))

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """y = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2.

    dL/dx = g * (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3),
    whose derivative is (1 + t)/2 + x (1 - t^2) u' / 2 with t = tanh(u), u' = sqrt(2/pi)(1 + 3*0.044715 x^2).
    """

    _saved = ("_input",)

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        xp = backend.get_array_module(x)
        self._input = x
        if self.approximate == "tanh":
            return x * (1 + xp.tanh(self._tanh_argument(x))) * 0.5
        return x * (1 + backend.erf(x * (1 / math.sqrt(2)))) * 0.5

    @staticmethod
    def _tanh_argument(x):
        return (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)

    def backward(self, grad_output):
        x = self._input
        xp = backend.get_array_module(x)
        if self.approximate == "tanh":
            t = xp.tanh(self._tanh_argument(x))
            du_dx = (1 + x * x * (3 * 0.044715)) * math.sqrt(2 / math.pi)
            return grad_output * ((1 + t) * 0.5 + x * (1 - t * t) * du_dx * 0.5)
        cdf = (1 + backend.erf(x * (1 / math.sqrt(2)))) * 0.5
        pdf = xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
        return grad_output * (cdf + x * pdf)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"
