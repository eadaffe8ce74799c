"""Layers with parameters or shapes: Linear, Flatten, Unflatten, Dropout. Their arguments are checked
in nn/arguments.py, their inputs and gradients at the gate (nn/module.py)."""
import math
import numbers

from . import backend
from .arguments import dimension, factory_options, flag, generator, integer, new_parameter, positive_int
from .module import Module


class Linear(Module):
    """y = x W^T + b.    x: (*, in)   W: (out, in)   b: (out,)   y: (*, out)

    ``*`` is any number of leading dimensions, none included: a 1-D x of shape (in,) is one sample.
    With the leading dimensions flattened into one of size M (x: (M, in), g = dL/dy: (M, out)):

        dL/dW = g^T x   (out, in)      dL/db = sum_m g   (out,)      dL/dx = g W   (M, in)

    Initialization as torch: W and b uniform in (-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with
    a = sqrt(5)), drawn from ``rng`` or the seedable default CPU generator (``nn.manual_seed``),
    then cast to ``dtype`` and moved to ``device``.

    ``needs_input_grad = False`` makes backward skip dL/dx and return None: a first layer fed
    with data needs no input gradient, and it costs as much as dL/dW. A parameter frozen with
    ``requires_grad_(False)`` gets no gradient, and dL/dx still comes back.
    """

    _saved = ("_input",)

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *, rng=None):
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        bias = flag("Linear", "bias", bias)
        device, dtype = factory_options("Linear", device, dtype)
        rng = generator("Linear", rng)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = new_parameter(rng.uniform(-bound, bound, (out_features, in_features)), device, dtype)
        self.bias = new_parameter(rng.uniform(-bound, bound, (out_features,)), device, dtype) if bias else None
        self.needs_input_grad = True

    def check_input(self, x):
        """Called by the gate before forward: x must end in in_features."""
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (*, {self.in_features}), got {tuple(x.shape)}")

    def forward(self, x):
        self._input = x
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output):
        x = self._input.reshape(-1, self.in_features)      # (M, in): the leading dimensions as one batch
        g = grad_output.reshape(-1, self.out_features)     # (M, out)
        self.weight.accumulate_grad(g.T @ x)               # dL/dW = g^T x
        if self.bias is not None:
            self.bias.accumulate_grad(g.sum(axis=0))       # dL/db = sum_m g
        if self.needs_input_grad:
            return grad_output @ self.weight.data          # dL/dx = g W
        return None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default.

    Backward reshapes the gradient back to the input's shape.
    """

    _saved = ("_input_shape",)

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim = integer("Flatten", "start_dim", start_dim)
        self.end_dim = integer("Flatten", "end_dim", end_dim)
        if (start_dim < 0) == (end_dim < 0) and start_dim > end_dim:  # same sign: wrong for every input
            raise ValueError(f"Flatten: start_dim={start_dim} comes after end_dim={end_dim}; "
                             "give start_dim <= end_dim")

    def forward(self, x):
        start = dimension(self, "start_dim", self.start_dim, max(x.ndim, 1), x.shape)
        end = dimension(self, "end_dim", self.end_dim, max(x.ndim, 1), x.shape)
        if start > end:
            raise ValueError(f"{self!r}: start_dim comes after end_dim for an input of shape {tuple(x.shape)}")
        self._input_shape = x.shape
        return x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(self._input_shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28).

    One entry of ``unflattened_size`` may be -1: it is inferred from the others, as in torch.
    """

    _saved = ("_input_shape",)

    def __init__(self, dim, unflattened_size):
        self.dim = integer("Unflatten", "dim", dim)
        if not isinstance(unflattened_size, (tuple, list)) or any(
                isinstance(n, bool) or not isinstance(n, numbers.Integral) or (n <= 0 and n != -1)
                for n in unflattened_size) or list(unflattened_size).count(-1) > 1 or not unflattened_size:
            raise ValueError(f"Unflatten: unflattened_size must be a tuple of positive integers (one may be -1), "
                             f"got {unflattened_size!r}")
        self.unflattened_size = tuple(int(n) for n in unflattened_size)

    def forward(self, x):
        dim = dimension(self, "dim", self.dim, x.ndim, x.shape)
        try:  # reshape infers the -1, and refuses sizes whose product is not the dimension's
            y = x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])
        except ValueError:
            raise ValueError(f"{self!r}: dimension {self.dim} of shape {tuple(x.shape)} has {x.shape[dim]} "
                             f"elements, which unflattened_size {self.unflattened_size} does not split") from None
        self._input_shape = x.shape
        return y

    def backward(self, grad_output):
        return grad_output.reshape(self._input_shape)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p), in training mode only; any shape.

    Backward: dL/dx = g * m / (1 - p). In eval mode y = x and dL/dx = g. With ``inplace=True`` the
    output is written into x itself (as torch); otherwise the caller's x is never written. The mask is
    drawn from the device's default generator, or from this layer's own when ``seed`` is given.
    """

    _saved = ("_scaled_mask",)

    def __init__(self, p=0.5, inplace=False, *, seed=None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1] (the probability of zeroing an element), got {p!r}")
        inplace = flag("Dropout", "inplace", inplace)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"Dropout: seed must be None or an integer, got {seed!r}")
        self.p = float(p)
        self.inplace = inplace
        self.seed = seed
        self._generators = backend.SeededGenerators(seed) if seed is not None else None

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
        if self.inplace:
            x *= self._scaled_mask
            return x
        return x * self._scaled_mask

    def backward(self, grad_output):
        return grad_output * self._scaled_mask

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
