"""Softmax and LogSoftmax along one dimension ``dim`` (the class dimension of a classifier).

    softmax(x)_i     = e^(x_i - m) / sum_j e^(x_j - m)          m = max_j x_j: the same value, no overflow
    log_softmax(x)_i = (x_i - m) - log sum_j e^(x_j - m)

Sums run over ``dim``; every other position is an independent vector. Backward, g = dL/dy:

    Softmax:     dy_i/dx_k = y_i ([i = k] - y_k),  so  dL/dx_k = y_k (g_k - sum_i g_i y_i)
    LogSoftmax:  dy_i/dx_k = [i = k] - p_k (p = softmax(x) = e^y),  so  dL/dx_k = g_k - p_k sum_i g_i
"""
from . import backend
from .arguments import warn
from .module import Module


def _resolve_dim(name, dim, ndim):
    """dim as a non-negative axis; dim=None is torch's deprecated implicit choice, kept with its warning."""
    if dim is None:
        warn(f"{name}: implicit dimension choice is deprecated (as in torch); pass dim explicitly")
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


class _AlongDim(Module):
    """Shared by Softmax and LogSoftmax: the dim, the 0-d case, and the cached output."""

    _saved = ("_dim", "_output")

    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, x):
        self._dim = _resolve_dim(type(self).__name__, self.dim, x.ndim)
        y = self._formula(_as_vectors(x), self._dim) if x.size else x.copy()
        self._output = y.reshape(x.shape)
        return self._output

    def backward(self, grad_output):
        y = self._output
        return self._gradient(_as_vectors(y), _as_vectors(grad_output)).reshape(y.shape)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """y = softmax(x) along ``dim``;   dL/dx = y * (g - sum_dim(g * y)).   Any shape; y has x's shape."""

    _formula = staticmethod(softmax)

    def __init__(self, dim=None):
        super().__init__(dim)

    def _gradient(self, y, g):
        return y * (g - (g * y).sum(axis=self._dim, keepdims=True))


class LogSoftmax(_AlongDim):
    """y = log_softmax(x) along ``dim``;   dL/dx = g - e^y * sum_dim(g).   Any shape; y has x's shape."""

    _formula = staticmethod(log_softmax)

    def __init__(self, dim=None):
        super().__init__(dim)

    def _gradient(self, y, g):
        return g - backend.get_array_module(y).exp(y) * g.sum(axis=self._dim, keepdims=True)
