"""Losses: ``value = loss(pred, target)`` is a 0-d array; ``loss.backward()`` is dL/dpred.

Every loss is l = R(elementwise(pred, target)) with R the reduction: "mean" (divide the sum by
the number of elements M) or "sum". So dL/dpred = d elementwise / d pred, divided by M for "mean".
The target is a constant: it gets no gradient, and is cast to the prediction's dtype.
"""
from . import backend
from .activations import sigmoid
from .layers import _require_forward
from .module import Module

REDUCTIONS = ("mean", "sum")
# torch clamps p (1 - p) at a C++ float 1e-12, i.e. 9.99999996e-13: the same number keeps float64 parity.
_BCE_EPSILON = 9.999999960041972e-13


class Loss(Module):
    """Shared checks and the reduction; subclasses write ``_forward`` and ``_backward``."""

    def __init__(self, reduction="mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    def forward(self, pred, target):
        if tuple(pred.shape) != tuple(target.shape):
            raise ValueError(f"{type(self).__name__}: prediction has shape {tuple(pred.shape)} but target has "
                             f"{tuple(target.shape)}; they must match exactly (no broadcasting)")
        backend.check_same_device(self, pred, target)
        target = target.astype(pred.dtype, copy=False)
        total, self._cache = self._forward(pred, target)
        self._scale = 1.0 / pred.size if self.reduction == "mean" else 1.0
        return backend.get_array_module(pred).asarray(total * self._scale)

    def backward(self, grad_output=1.0):
        """dL/dpred; ``grad_output`` scales it (the gradient flowing into the loss value)."""
        cache = _require_forward(self, self._cache)
        return self._backward(cache, float(grad_output) * self._scale)

    def _clear_cache(self):
        self._cache = None

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(Loss):
    """l = R((pred - target)^2);   dl/dpred = 2 (pred - target) [/ M]."""

    def _forward(self, pred, target):
        xp = backend.get_array_module(pred)
        difference = (pred - target).ravel()
        return xp.dot(difference, difference), difference.reshape(pred.shape)  # dot: one BLAS call, no square array

    def _backward(self, difference, scale):
        return difference * (2.0 * scale)


class L1Loss(Loss):
    """l = R(|pred - target|);   dl/dpred = sign(pred - target) [/ M]   (0 where they are equal, as torch)."""

    def _forward(self, pred, target):
        xp = backend.get_array_module(pred)
        difference = pred - target
        return xp.abs(difference).sum(), difference

    def _backward(self, difference, scale):
        return backend.get_array_module(difference).sign(difference) * scale


class BCELoss(Loss):
    """Binary cross-entropy of probabilities p in [0, 1] against targets t:

        l = R(-(t log p + (1 - t) log(1 - p))),  each log clamped at -100 as torch does (so p = 0 or 1 is finite)
        dl/dp = (p - t) / max(p (1 - p), eps) [/ M],  eps = 1e-12 rounded to float32, as torch's
    """

    def _forward(self, pred, target):
        xp = backend.get_array_module(pred)
        low, high = float(pred.min()), float(pred.max())
        if not (low >= 0 and high <= 1):  # written so that NaN (min and max are NaN) fails too, as in torch
            raise ValueError(f"BCELoss: predictions must lie in [0, 1], got values in [{low:g}, {high:g}]; "
                             "apply Sigmoid first, or use BCEWithLogitsLoss on the raw outputs")
        with backend.expected_infinities(pred):  # log(0) = -inf, then clamped to -100
            log_p = xp.maximum(xp.log(pred), -100)
            log_one_minus_p = xp.maximum(xp.log1p(-pred), -100)
        total = -(target * log_p + (1 - target) * log_one_minus_p).sum()
        return total, (pred, target)

    def _backward(self, cache, scale):
        pred, target = cache
        xp = backend.get_array_module(pred)
        return (pred - target) / xp.maximum(pred * (1 - pred), _BCE_EPSILON) * scale


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy of logits x (p = sigmoid(x)), stable for any x:

        l = R(max(x, 0) - x t + log(1 + e^-|x|))
        dl/dx = (sigmoid(x) - t) [/ M]
    """

    def _forward(self, logits, target):
        xp = backend.get_array_module(logits)
        total = (xp.maximum(logits, 0) - logits * target + xp.log1p(xp.exp(-xp.abs(logits)))).sum()
        return total, (logits, target)

    def _backward(self, cache, scale):
        logits, target = cache
        return (sigmoid(logits) - target) * scale
