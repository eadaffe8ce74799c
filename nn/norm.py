"""Normalization layers: BatchNorm1d, BatchNorm2d, LayerNorm.

Both kinds standardize x over some axes, then scale and shift it:

    mu = mean(x),   var = mean((x - mu)^2)   (biased),   x_hat = (x - mu) / sqrt(var + eps),
    y = gamma * x_hat + beta

BatchNorm takes mean and variance per channel over the batch (and length, height, width), LayerNorm
per sample over its last dimensions. The backward, shared by both, is derived in ``_normalize_backward``.
"""
import numbers

import numpy

from . import backend
from .arguments import factory_options, flag, input_dtype_error, new_parameter, positive_int
from .module import Module


def _normalize_backward(grad_x_hat, x_hat, inv_std, axes):
    """dL/dx when x_hat = (x - mu) * inv_std is normalized with the statistics of x itself.

    Shapes: grad_x_hat = dL/dx_hat (that is gamma * dL/dy) and x_hat are the shape of x; mu, var and
    inv_std = 1 / sqrt(var + eps) have size 1 along ``axes``, the M values each statistic is taken over.

    Each x_j reaches every x_hat_i of its group three ways: directly, through mu, and through var.
    With d mu/dx_j = 1/M and d var/dx_j = 2 (x_j - mu) / M (the mu-term of d var vanishes, as the
    deviations sum to zero), the chain rule d inv_std/dx_j = -inv_std^2 x_hat_j / M gives

        d x_hat_i / d x_j = inv_std * (delta_ij  -  1/M  -  x_hat_i x_hat_j / M)

    and summing grad_x_hat_i times this over the group:

        dL/dx = inv_std * (grad_x_hat                        direct
                           - mean(grad_x_hat)                through mu
                           - x_hat * mean(grad_x_hat * x_hat))   through var

    every term the shape of x (the two means, of size 1 along ``axes``, broadcast). Their sum over a
    group is zero: moving all of a group's x by the same amount changes no x_hat.
    """
    mean_grad = grad_x_hat.mean(axis=axes, keepdims=True)
    mean_grad_x_hat = (grad_x_hat * x_hat).mean(axis=axes, keepdims=True)
    return inv_std * (grad_x_hat - mean_grad - x_hat * mean_grad_x_hat)


def _standardize(x, axes):
    """(x - mu, mu, var): the statistics of x over ``axes`` (var biased), kept as size-1 axes."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    return centered, mean, (centered * centered).mean(axis=axes, keepdims=True)


def _scale_and_shift(layer, x_hat, shape):
    """y = gamma * x_hat + beta, with gamma and beta (either may be None) viewed as ``shape``."""
    y = x_hat * layer.weight.data.reshape(shape) if layer.weight is not None else x_hat
    return y + layer.bias.data.reshape(shape) if layer.bias is not None else y


def _scale_and_shift_backward(layer, grad_output, x_hat, sum_axes, shape):
    """Add dL/dgamma = sum g * x_hat and dL/dbeta = sum g (over ``sum_axes``) into the parameters;
    return dL/dx_hat = gamma * g."""
    if layer.bias is not None and layer.bias.requires_grad:
        layer.bias.accumulate_grad(grad_output.sum(axis=sum_axes))
    if layer.weight is None:
        return grad_output
    if layer.weight.requires_grad:
        layer.weight.accumulate_grad((grad_output * x_hat).sum(axis=sum_axes))
    return grad_output * layer.weight.data.reshape(shape)


def _eps(owner, eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{owner}: eps must be a number >= 0, got {eps!r}")
    return float(eps)


def _check_dtype_and_device(module, x, reference):
    if reference is None:
        return
    if x.dtype != reference.dtype:
        raise input_dtype_error(module, x.dtype, reference.dtype, held="the layer's state is")
    backend.check_same_device(module, reference, x)


class _BatchNorm(Module):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, per channel c (dimension 1 of x).

    x: (N, C, *)   gamma, beta, running_mean, running_var: (C,)   y: like x

    Training mode (or ``track_running_stats=False``): mu and var are the batch's, over the M = N * prod(*)
    values of each channel (var biased), and the running estimates move towards them (unbiased var):

        running_mean <- (1 - f) running_mean + f mu        running_var <- (1 - f) running_var + f var M/(M-1)

    with f = momentum, or f = 1 / num_batches_tracked (a plain average of every batch) when momentum is
    None. Eval mode: mu and var are the running estimates, constants of the forward.

    Backward, with g = dL/dy (like x), x_hat = (x - mu) / sqrt(var + eps) and sums over all axes but 1:

        dL/dgamma = sum g * x_hat   (C,)        dL/dbeta = sum g   (C,)        dL/dx_hat = gamma * g   (like x)
        dL/dx = dL/dx_hat / sqrt(var + eps)                  running statistics (eval): mu, var are constants
        dL/dx = _normalize_backward(dL/dx_hat, x_hat, ...)   batch statistics: three terms, derived there
    """

    _ranks = ()
    _saved = ("_cache",)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, bias=True):
        owner = type(self).__name__
        self.num_features = positive_int(owner, "num_features", num_features)
        self.eps = _eps(owner, eps)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{owner}: momentum must be None (a cumulative average) or a number in [0, 1], "
                             f"got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = flag(owner, "affine", affine)
        self.track_running_stats = flag(owner, "track_running_stats", track_running_stats)
        device, dtype = factory_options(owner, device, dtype)
        with_bias = flag(owner, "bias", bias)
        self.weight = new_parameter(numpy.ones(num_features), device, dtype) if affine else None
        self.bias = new_parameter(numpy.zeros(num_features), device, dtype) if affine and with_bias else None
        tracked = track_running_stats
        xp = backend.array_module(device)
        self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype) if tracked else None)
        self.register_buffer("running_var", xp.ones(num_features, dtype=dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype="int64") if tracked else None)

    def _channel_shape(self, x):
        return (1, self.num_features) + (1,) * (x.ndim - 2)

    def forward(self, x):
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            shapes = " or ".join(f"(N, {self.num_features}{', L' * (rank == 3)}{', H, W' * (rank == 4)})"
                                 for rank in self._ranks)
            raise ValueError(f"{self!r}: expected input of shape {shapes}, got {tuple(x.shape)}")
        _check_dtype_and_device(self, x, self.weight.data if self.weight is not None else self.running_mean)
        axes = (0,) + tuple(range(2, x.ndim))
        batch_statistics = self.training or self.running_mean is None
        if batch_statistics:
            count = x.size // self.num_features
            if count <= 1:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when using batch statistics, "
                                 f"got input of shape {tuple(x.shape)}; use a larger batch or .eval()")
            centered, mean, var = _standardize(x, axes)
            if self.training and self.running_mean is not None:
                self._update_running_statistics(mean.reshape(-1), var.reshape(-1) * (count / (count - 1)))
        else:
            centered = x - self.running_mean.reshape(self._channel_shape(x))
            var = self.running_var.reshape(self._channel_shape(x))
        inv_std = 1.0 / backend.get_array_module(x).sqrt(var + self.eps)
        x_hat = centered * inv_std
        self._cache = (x_hat, inv_std, axes, batch_statistics)
        return _scale_and_shift(self, x_hat, self._channel_shape(x))

    def _update_running_statistics(self, mean, unbiased_var):
        self.num_batches_tracked += 1
        factor = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        # In place: the buffers stay the same arrays (and on the same device) for whoever holds them.
        self.running_mean *= 1.0 - factor
        self.running_mean += factor * mean
        self.running_var *= 1.0 - factor
        self.running_var += factor * unbiased_var

    def backward(self, grad_output):
        x_hat, inv_std, axes, batch_statistics = self._cache
        grad_x_hat = _scale_and_shift_backward(self, grad_output, x_hat, axes, self._channel_shape(x_hat))
        if batch_statistics:
            return _normalize_backward(grad_x_hat, x_hat, inv_std, axes)
        return grad_x_hat * inv_std

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    __doc__ = "Batch normalization of (N, C) or (N, C, L) inputs, per channel C.\n" + _BatchNorm.__doc__
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    __doc__ = "Batch normalization of (N, C, H, W) images, per channel C.\n" + _BatchNorm.__doc__
    _ranks = (4,)


class LayerNorm(Module):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, mu and var over the last dimensions of each sample.

    x: (*, *normalized_shape)   gamma, beta: normalized_shape   y: like x

    mu and var (biased) are taken over the M = prod(normalized_shape) values of each sample, in training
    and eval alike (no running statistics). Backward, with g = dL/dy and sums over the leading dims (*):

        dL/dgamma = sum g * x_hat      dL/dbeta = sum g      dL/dx = _normalize_backward(gamma * g, x_hat, ...)
        (gamma, beta: normalized_shape; the three terms of dL/dx are derived in _normalize_backward)
    """

    _saved = ("_cache",)

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if not isinstance(shape, (tuple, list)) or not shape or any(
                isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive integer or a tuple of them, "
                             f"got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = _eps("LayerNorm", eps)
        self.elementwise_affine = flag("LayerNorm", "elementwise_affine", elementwise_affine)
        with_bias = flag("LayerNorm", "bias", bias)
        device, dtype = factory_options("LayerNorm", device, dtype)
        affine = self.elementwise_affine
        self.weight = new_parameter(numpy.ones(self.normalized_shape), device, dtype) if affine else None
        self.bias = new_parameter(numpy.zeros(self.normalized_shape), device, dtype) if affine and with_bias else None

    def forward(self, x):
        count = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - count:]) != self.normalized_shape or x.ndim < count:
            raise ValueError(f"{self!r}: expected input of shape (*, {', '.join(map(str, self.normalized_shape))}), "
                             f"got {tuple(x.shape)}")
        _check_dtype_and_device(self, x, self.weight.data if self.weight is not None else None)
        axes = tuple(range(x.ndim - count, x.ndim))
        centered, _, var = _standardize(x, axes)
        inv_std = 1.0 / backend.get_array_module(x).sqrt(var + self.eps)
        x_hat = centered * inv_std
        self._cache = (x_hat, inv_std, axes)
        return _scale_and_shift(self, x_hat, self.normalized_shape)

    def backward(self, grad_output):
        x_hat, inv_std, axes = self._cache
        leading = tuple(range(x_hat.ndim - len(axes)))
        grad_x_hat = _scale_and_shift_backward(self, grad_output, x_hat, leading, self.normalized_shape)
        return _normalize_backward(grad_x_hat, x_hat, inv_std, axes)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
