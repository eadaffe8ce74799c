"""What the 2-D layers (convolutions, pooling, upsampling) share: argument checks, and one place
that accepts unbatched (C, H, W) inputs and refuses upstream gradients of the wrong shape.

A layer subclasses ``Spatial2d`` and writes ``_forward(x)`` and ``_backward(grad_output)`` on
batched (N, C, H, W) arrays; ``forward`` adds the batch axis to a (C, H, W) input and takes it off
again, and ``backward`` checks that dL/dy has exactly the output's shape (never broadcast).
"""
from . import backend
from .layers import _require_forward
from .module import Module


def pair(owner, name, value, minimum):
    """An int or a pair of ints, each >= minimum -> a pair of ints (kernel_size=3 means (3, 3))."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return values


def flag(owner, name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return value


def symmetric(padding):
    """(P_h, P_w) -> ((top, bottom), (left, right)) with P on both sides."""
    return ((padding[0], padding[0]), (padding[1], padding[1]))


class Spatial2d(Module):
    """Base of the 2-D layers: batched and unbatched inputs, gradient shapes (see the module docstring)."""

    _output_shape = None
    _unbatched = False

    def _expected_channels(self):
        """The channel count the input must have (None: any)."""
        return None

    def _check(self, x, weight=None):
        channels = self._expected_channels()
        if x.ndim not in (3, 4) or (channels is not None and x.shape[-3] != channels):
            c = channels if channels is not None else "C"
            raise ValueError(f"{self!r}: expected input of shape (N, {c}, H, W) or ({c}, H, W), got {tuple(x.shape)}")
        if weight is not None:
            if x.dtype != weight.dtype:
                raise TypeError(f"{self!r}: input is {x.dtype} but the weights are {weight.dtype}; convert the input "
                                f"with x.astype('{weight.dtype}') or the model with .to(dtype='{x.dtype}')")
            backend.check_same_device(repr(self), weight, x)

    def forward(self, x):
        self._check(x, self.weight.data if getattr(self, "weight", None) is not None else None)
        self._unbatched = x.ndim == 3
        result = self._forward(x[None] if self._unbatched else x)
        if self._unbatched:
            result = tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]
        self._output_shape = tuple((result[0] if isinstance(result, tuple) else result).shape)
        return result

    def backward(self, grad_output):
        expected = _require_forward(self, self._output_shape)
        if tuple(grad_output.shape) != expected:
            raise ValueError(f"{self!r}.backward: grad_output has shape {tuple(grad_output.shape)}, expected {expected}")
        grad_input = self._backward(grad_output[None] if self._unbatched else grad_output)
        return grad_input[0] if self._unbatched and grad_input is not None else grad_input

    def _clear_cache(self):
        self._output_shape = None


def windowed_size(layer, size, kernel, stride, dilation, pads):
    """(H_out, W_out) of a kernel slid over an (H, W) input padded by pads = ((top, bottom), (left, right)):
    (H + top + bottom - D (K - 1) - 1) // S + 1; a ValueError when the kernel's reach exceeds the padded input."""
    padded = tuple(s + before + after for s, (before, after) in zip(size, pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(r > p for r, p in zip(reach, padded)):
        dilated = f" dilated by {tuple(dilation)} (reach {reach[0]}x{reach[1]})" if tuple(dilation) != (1, 1) else ""
        raise ValueError(f"{layer!r}: kernel {kernel[0]}x{kernel[1]}{dilated} is larger than the padded input "
                         f"{padded[0]}x{padded[1]} (input {size[0]}x{size[1]}, padding {tuple(pads)}); "
                         "use a larger input, a smaller kernel or more padding")
    return tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, stride))
