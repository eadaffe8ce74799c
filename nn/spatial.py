"""What the 2-D layers (convolutions, pooling, upsampling) share: argument checks, and one place
that accepts unbatched (C, H, W) inputs and refuses upstream gradients of the wrong shape.

A layer subclasses ``Spatial2d`` and writes ``_forward(x)`` and ``_backward(grad_output)`` on
batched (N, C, H, W) arrays; ``forward`` adds the batch axis to a (C, H, W) input and takes it off
again, and ``backward`` checks that dL/dy has exactly the output's shape (never broadcast).
"""
from . import backend
from .arguments import flag  # noqa: F401  (the 2-D layers take it from here)
from .module import Module


def pair(owner, name, value, minimum):
    """An int or a pair of ints, each >= minimum -> a pair of ints (kernel_size=3 means (3, 3))."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return values


def symmetric(padding):
    """(P_h, P_w) -> ((top, bottom), (left, right)) with P on both sides."""
    return ((padding[0], padding[0]), (padding[1], padding[1]))


class Spatial2d(Module):
    """Base of the 2-D layers: batched and unbatched inputs, gradient shapes (see the module docstring)."""

    _saved = ("_unbatched", "_output_shape")
    _output_shape = None
    _unbatched = False

    def _expected_channels(self):
        """The channel count the input must have (None: any)."""
        return None

    def _check(self, x):
        """x must be (N, C, H, W) or (C, H, W), with the layer's channel count where it has one."""
        channels = self._expected_channels()
        if x.ndim not in (3, 4) or (channels is not None and x.shape[-3] != channels):
            c = channels if channels is not None else "C"
            raise ValueError(f"{self!r}: expected input of shape (N, {c}, H, W) or ({c}, H, W), got {tuple(x.shape)}")

    def forward(self, x):
        self._check(x)
        self._unbatched = unbatched = x.ndim == 3
        result = self._forward(x[None] if unbatched else x)
        if unbatched:
            result = tuple(r[0] for r in result) if type(result) is tuple else result[0]
        self._output_shape = (result[0] if type(result) is tuple else result).shape
        return result

    def backward(self, grad_output):
        if self._unbatched:
            grad_input = self._backward(grad_output[None])
            return grad_input[0] if grad_input is not None else None
        return self._backward(grad_output)


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
