"""Softmax and LogSoftmax along one dimension ``dim`` (the class dimension of a classifier).

    softmax(x)_i     = e^(x_i - m) / sum_j e^(x_j - m)          m = max_j x_j: the same value, no overflow
    log_softmax(x)_i = (x_i - m) - log sum_j e^(x_j - m)

Sums run over ``dim``; every other position is an independent vector. Backward, g = dL/dy:

    Softmax:     dy_i/dx_k = y_i ([i = k] - y_k),  so  dL/dx_k = y_k (g_k - sum_i g_i y_i)
    LogSoftmax:  dy_i/dx_k = [i = k] - p_k (p = softmax(x) = e^y),  so  dL/dx_k = g_k - p_k sum_i g_i
"""
import warnings

from . import backend
from .checks import as_array, checked_gradient
from .module import Module


def _resolve_dim(name, dim, ndim):
    """dim as a non-negative axis; dim=None is torch's deprecated implicit choice, kept with its warning."""
    if dim is None:
        warnings.warn(f"{name}: implicit dimension choice is deprecated (as in torch); pass dim explicitly",
                      UserWarning, stacklevel=3)
        dim = 0 if ndim in (0, 1, 3) else 1
    rank = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        raise ValueError(f"{name}: dim={dim!r} is out of range for an input with {ndim} dimensions; "
                         f"use an integer in [{-rank}, {rank - 1}]")
    return dim % rank


def _as_vectors(x):
    """A 0-d input is a vector of one element (its softmax is 1)."""
    return x.reshape(1) if x.ndim == 0 else x


def log_softmax(x, dim):
    """The plain form of log_softmax along axis ``dim`` (an input of at least one dimension)."""
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


def softmax(x, dim):
    """The plain form of softmax along axis ``dim`` (an input of at least one dimension)."""
    xp = backend.get_array_module(x)
    exponentials = xp.exp(x - x.max(axis=dim, keepdims=True))
    return exponentials / exponentials.sum(axis=dim, keepdims=True)


class Softmax(Module):
    """y = softmax(x) along ``dim``;   dL/dx = y * (g - sum_dim(g * y)).   Any shape; y has x's shape."""

    def __init__(self, dim=None):
        self.dim = dim
        self._output = None

    def forward(self, x):
        x = as_array(x)
        dim = _resolve_dim("Softmax", self.dim, x.ndim)
        y = softmax(_as_vectors(x), dim) if x.size else x.copy()
        self._output, self._dim = y.reshape(x.shape), dim
        return self._output

    def backward(self, grad_output):
        y, grad_output = checked_gradient(self, grad_output, self._output)
        y, g = _as_vectors(y), _as_vectors(grad_output)
        grad_input = y * (g - (g * y).sum(axis=self._dim, keepdims=True))
        return grad_input.reshape(self._output.shape)

    def _clear_cache(self):
        self._output = None

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log_softmax(x) along ``dim``;   dL/dx = g - e^y * sum_dim(g).   Any shape; y has x's shape."""

    def __init__(self, dim=None):
        self.dim = dim
        self._output = None

    def forward(self, x):
        x = as_array(x)
        dim = _resolve_dim("LogSoftmax", self.dim, x.ndim)
        y = log_softmax(_as_vectors(x), dim) if x.size else x.copy()
        self._output, self._dim = y.reshape(x.shape), dim
        return self._output

    def backward(self, grad_output):
        y, grad_output = checked_gradient(self, grad_output, self._output)
        xp = backend.get_array_module(y)
        y, g = _as_vectors(y), _as_vectors(grad_output)
        grad_input = g - xp.exp(y) * g.sum(axis=self._dim, keepdims=True)
        return grad_input.reshape(self._output.shape)

    def _clear_cache(self):
        self._output = None

    def extra_repr(self):
        return f"dim={self.dim}"
