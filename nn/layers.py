"""Layers with parameters or shapes: Linear, Flatten, Unflatten, Dropout."""
import math

from . import backend
from .module import Module, Parameter


def _require_forward(module, cached):
    if cached is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward: call the module on an input first")
    return cached


def _positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


class Linear(Module):
    """y = x W^T + b.      x: (N, in)   W: (out, in)   b: (out,)   y: (N, out)

    Backward, with g = dL/dy of shape (N, out):
        dL/dW = g^T x   (out, in)      dL/db = sum_n g   (out,)      dL/dx = g W   (N, in)

    Initialization as torch: W and b uniform in (-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with
    a = sqrt(5)), drawn from ``rng`` or the seedable default CPU generator (``nn.manual_seed``).

    ``needs_input_grad = False`` makes backward skip dL/dx and return None: a first layer fed
    with data needs no input gradient, and it costs as much as dL/dW.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None, rng=None):
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        dtype = backend.normalize_dtype(dtype or backend.DEFAULT_DTYPE)
        rng = rng if rng is not None else backend.default_generator("cpu")
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, (out_features,)).astype(dtype)) if bias else None
        self.needs_input_grad = True
        self._input = None

    def forward(self, x):
        weight = self.weight.data
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got {tuple(x.shape)}")
        if x.dtype != weight.dtype:
            raise TypeError(f"{self!r}: input is {x.dtype} but the weights are {weight.dtype}; "
                            f"convert the input with x.astype('{weight.dtype}') or the model with .to(dtype='{x.dtype}')")
        backend.check_same_device(self, weight, x)
        self._input = x
        y = x @ weight.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output):
        x = _require_forward(self, self._input)
        if grad_output.shape != (x.shape[0], self.out_features):
            raise ValueError(f"{self!r}.backward: grad_output has shape {tuple(grad_output.shape)}, "
                             f"expected {(x.shape[0], self.out_features)}")
        self.weight.grad += grad_output.T @ x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return grad_output @ self.weight.data

    def _clear_cache(self):
        self._input = None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default.

    Backward reshapes the gradient back to the input's shape.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim
        self._input_shape = None

    def forward(self, x):
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        if start > end:
            raise ValueError(f"{self!r}: cannot flatten dims {self.start_dim}..{self.end_dim} of shape {tuple(x.shape)}")
        self._input_shape = x.shape
        return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(_require_forward(self, self._input_shape))

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim, unflattened_size):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)
        self._input_shape = None

    def forward(self, x):
        dim = self.dim % x.ndim
        if math.prod(self.unflattened_size) != x.shape[dim]:
            raise ValueError(f"{self!r}: dimension {self.dim} of shape {tuple(x.shape)} has {x.shape[dim]} "
                             f"elements, not {math.prod(self.unflattened_size)}")
        self._input_shape = x.shape
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(_require_forward(self, self._input_shape))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p), in training mode only.

    Backward: dL/dx = g * m / (1 - p). In eval mode y = x and dL/dx = g. The mask is drawn from
    the device's default generator, or from this layer's own when ``seed`` is given.
    """

    def __init__(self, p=0.5, seed=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.seed = seed
        self._generators = backend.SeededGenerators(seed) if seed is not None else None
        self._scaled_mask = None

    def _generator(self, device):
        if self._generators is None:
            return backend.default_generator(device)
        return self._generators.on(device)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._scaled_mask = 1.0
            return x
        xp = backend.get_array_module(x)
        uniform = xp.asarray(self._generator(backend.device_of(x)).random(x.shape, dtype=x.dtype))
        keep = uniform >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        # A float mask in x's dtype: a boolean or integer mask would upcast the gradient.
        self._scaled_mask = keep.astype(x.dtype) * scale
        return x * self._scaled_mask

    def backward(self, grad_output):
        return grad_output * _require_forward(self, self._scaled_mask)

    def _clear_cache(self):
        self._scaled_mask = None

    def extra_repr(self):
        return f"p={self.p}"
