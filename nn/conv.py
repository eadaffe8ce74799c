"""Convolutional layers on NCHW images: Conv2d, ConvTranspose2d, MaxPool2d, Upsample.

A convolution is a Linear layer applied to every window of the image. ``_im2col`` copies the
windows (a strided view, ``_windows``) into the rows of one matrix, so that the forward pass is one
matrix multiply:

    columns[(n, i, j), (p, q, c)] = x_pad[n, c, i*S + p, j*S + q]      (N*H_out*W_out, kH*kW*C)

Its adjoint, ``_col2im``, adds each window's gradient back onto the pixels it was read from, with a
loop over the kH*kW kernel offsets only (each iteration a strided slice-add over the whole batch).
The transposed convolution is the same pair used the other way round: its forward is a Conv2d's
input gradient (col2im) and its backward is a Conv2d's forward (im2col).

Columns are ordered (p, q, c), channels last, because a channels-last copy of the input makes every
row kH runs of kW*C adjacent numbers; the weight is reordered to match (``_weight_matrix``). Layer
outputs are NCHW arrays whose memory is channels-last, which the next im2col reads fastest.

Shapes, with K the kernel size, S the stride, P the padding (each per axis):

    Conv2d           H_out = (H + 2P - K) // S + 1
    ConvTranspose2d  H_out = (H - 1) S - 2P + K + output_padding
    MaxPool2d        H_out = (H - K) // S + 1
    Upsample         H_out = H * scale
"""
import math

from . import backend
from .layers import _positive_int, _require_forward
from .module import Module, Parameter


def _pair(owner, name, value, minimum):
    """An int or a pair of ints, each >= minimum -> a pair of ints (kernel_size=3 means (3, 3))."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return pair


def _check_input(layer, x, channels, weight=None):
    """x must be (N, channels, H, W); with a weight, also of its dtype and device."""
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        expected = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise ValueError(f"{layer!r}: expected input of shape {expected}, got {tuple(x.shape)}")
    if weight is not None:
        if x.dtype != weight.dtype:
            raise TypeError(f"{layer!r}: input is {x.dtype} but the weights are {weight.dtype}; convert the input "
                            f"with x.astype('{weight.dtype}') or the model with .to(dtype='{x.dtype}')")
        backend.check_same_device(repr(layer), weight, x)


def _check_grad_output(layer, grad_output, expected):
    if tuple(grad_output.shape) != tuple(expected):
        raise ValueError(f"{layer!r}.backward: grad_output has shape {tuple(grad_output.shape)}, "
                         f"expected {tuple(expected)}")


def _windowed_size(layer, size, kernel, stride, padding):
    """(H_out, W_out) of a kernel slid over an (H, W) input padded by P on each side."""
    padded = tuple(s + 2 * p for s, p in zip(size, padding))
    if any(k > s for k, s in zip(kernel, padded)):
        raise ValueError(f"{layer!r}: kernel {kernel[0]}x{kernel[1]} is larger than the padded input "
                         f"{padded[0]}x{padded[1]} (input {size[0]}x{size[1]}, padding {padding}); "
                         "use a larger input, a smaller kernel or more padding")
    return tuple((s - k) // st + 1 for s, k, st in zip(padded, kernel, stride))


def _windows(x, kernel, stride):
    """A strided view of every window, no copy: (N, C, H, W) -> (N, C, H_out, W_out, kH, kW),

    windows[n, c, i, j, p, q] = x[n, c, i*S + p, j*S + q]      (x of any memory layout)
    """
    xp = backend.get_array_module(x)
    (kernel_h, kernel_w), (stride_h, stride_w) = kernel, stride
    n, c, h, w = x.shape
    out_h, out_w = (h - kernel_h) // stride_h + 1, (w - kernel_w) // stride_w + 1
    step_n, step_c, step_h, step_w = x.strides
    # as_strided rather than sliding_window_view: it is in every CuPy version (strides in bytes in both).
    windows = xp.lib.stride_tricks.as_strided(
        x, (n, c, out_h, out_w, kernel_h, kernel_w),
        (step_n, step_c, step_h * stride_h, step_w * stride_w, step_h, step_w))
    # NumPy's as_strided returns the base ndarray for an array subclass; asarray gives back x's own array
    # type (a no-op for NumPy and CuPy arrays).
    return xp.asarray(windows)


def _col2im(window_grads, input_shape, stride, padding, channels_last=True):
    """The adjoint of taking windows: sum (N, C, H_out, W_out, kH, kW) window gradients onto (N, C, H, W).

    dx_pad[n, c, i*S + p, j*S + q] += window_grads[n, c, i, j, p, q]   for every (i, j, p, q),
    then the padding is cut off. A pixel read by several windows gets the sum of their gradients.
    The kH*kW slice-adds are fastest when the result's memory order matches window_grads[..., p, q]:
    channels-last for the convolutions' column layout, channels-first for pooling.
    """
    xp = backend.get_array_module(window_grads)
    n, c, out_h, out_w, kernel_h, kernel_w = window_grads.shape
    (stride_h, stride_w), (pad_h, pad_w) = stride, padding
    height, width = input_shape[2] + 2 * pad_h, input_shape[3] + 2 * pad_w
    if channels_last:
        grad_pad = xp.zeros((n, height, width, c), dtype=window_grads.dtype).transpose(0, 3, 1, 2)
    else:
        grad_pad = xp.zeros((n, c, height, width), dtype=window_grads.dtype)
    overlapping = stride_h < kernel_h or stride_w < kernel_w
    for p in range(kernel_h):
        for q in range(kernel_w):
            pixels = grad_pad[:, :, p:p + stride_h * (out_h - 1) + 1:stride_h,
                              q:q + stride_w * (out_w - 1) + 1:stride_w]
            if overlapping:
                pixels += window_grads[:, :, :, :, p, q]
            else:  # each pixel is in at most one window: assigning is the same sum, and a faster loop
                pixels[...] = window_grads[:, :, :, :, p, q]
    return grad_pad[:, :, pad_h:height - pad_h, pad_w:width - pad_w]


def _im2col(x, kernel, stride, padding):
    """(N, C, H, W) -> columns (N*H_out*W_out, kH*kW*C), one row per window, in one copy:

    columns[(n, i, j), (p, q, c)] = x_pad[n, c, i*S + p, j*S + q]
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    (kernel_h, kernel_w), (pad_h, pad_w) = kernel, padding
    x_pad = x
    if pad_h or pad_w or not x.transpose(0, 2, 3, 1).flags.c_contiguous:
        # Channels-last memory makes each row kH runs of kW*C adjacent numbers: the copy below is fast.
        x_pad = xp.zeros((n, h + 2 * pad_h, w + 2 * pad_w, c), dtype=x.dtype).transpose(0, 3, 1, 2)
        x_pad[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    windows = _windows(x_pad, kernel, stride)
    out_h, out_w = windows.shape[2:4]
    return windows.transpose(0, 2, 3, 4, 5, 1).reshape(n * out_h * out_w, kernel_h * kernel_w * c)


def _columns_to_windows(columns, n, out_size, channels, kernel):
    """Undo the layout of ``_im2col`` (a view): (N*H_out*W_out, kH*kW*C) -> (N, C, H_out, W_out, kH, kW)."""
    return columns.reshape((n,) + tuple(out_size) + tuple(kernel) + (channels,)).transpose(0, 5, 1, 2, 3, 4)


def _weight_matrix(weight):
    """(A, B, kH, kW) -> (A, kH*kW*B), columns in the (p, q, b) order of ``_im2col``'s columns."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def _weight_from_matrix(matrix, shape):
    """The inverse of ``_weight_matrix``: (A, kH*kW*B) -> (A, B, kH, kW)."""
    a, b, kernel_h, kernel_w = shape
    return matrix.reshape(a, kernel_h, kernel_w, b).transpose(0, 3, 1, 2)


def _to_rows(x):
    """(N, C, H, W) -> (N*H*W, C): one row per pixel (a view when x came from ``_from_rows``)."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _from_rows(rows, n, size):
    """(N*H*W, C) -> (N, C, H, W), a view (its memory stays pixel-major, channels last)."""
    return rows.reshape((n,) + tuple(size) + (rows.shape[1],)).transpose(0, 3, 1, 2)


class _ConvBase(Module):
    """Arguments, parameters and repr shared by Conv2d and ConvTranspose2d."""

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, bias, dtype, rng, transposed):
        name = type(self).__name__
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.kernel_size = _pair(name, "kernel_size", kernel_size, 1)
        self.stride = _pair(name, "stride", stride, 1)
        self.padding = _pair(name, "padding", padding, 0)
        dtype = backend.normalize_dtype(dtype or backend.DEFAULT_DTYPE)
        rng = rng if rng is not None else backend.default_generator("cpu")
        channels = (in_channels, out_channels) if transposed else (out_channels, in_channels)
        weight_shape = channels + self.kernel_size
        # torch's default init: kaiming-uniform with a = sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
        # bias uses the same bound; fan_in = weight.shape[1] * kH * kW (out_channels for the transpose).
        bound = 1.0 / math.sqrt(weight_shape[1] * self.kernel_size[0] * self.kernel_size[1])
        self.weight = Parameter(rng.uniform(-bound, bound, weight_shape).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)).astype(dtype)) if bias else None
        self.needs_input_grad = True

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            text += f", output_padding={self.output_padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvBase):
    """y[n,o,i,j] = b[o] + sum_{c,p,q} W[o,c,p,q] x_pad[n, c, i*S + p, j*S + q]

    x: (N, C_in, H, W)   W: (C_out, C_in, kH, kW)   b: (C_out,)   y: (N, C_out, H_out, W_out)
    H_out = (H + 2P - kH) // S + 1 (W_out likewise); x_pad is x with P zeros on each side.

    With X = im2col(x) of shape (N*H_out*W_out, kH*kW*C_in) and W as a (C_out, kH*kW*C_in) matrix,
    the layer is a Linear on the windows: Y = X W^T + b, Y of shape (N*H_out*W_out, C_out).

    Backward, with G = dL/dy in the same row layout (N*H_out*W_out, C_out):
        dL/dW = G^T X      dL/db = sum_rows G      dL/dx = col2im(G W)

    Forward caches X, what dL/dW needs (kH*kW/S^2 times the input's size), and the input's shape.
    The output is Y reshaped, a view whose memory is channels-last: the next layer's im2col and this
    layer's backward then read it without a copy.

    Initialization as torch: W and b uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in*kH*kW.
    ``needs_input_grad = False`` skips dL/dx (a first layer fed with data) and backward returns None.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, dtype=None, rng=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, dtype, rng, transposed=False)
        self._columns = None
        self._input_shape = None

    def forward(self, x):
        _check_input(self, x, self.in_channels, self.weight.data)
        out_size = _windowed_size(self, x.shape[2:], self.kernel_size, self.stride, self.padding)
        columns = _im2col(x, self.kernel_size, self.stride, self.padding)
        self._columns, self._input_shape = columns, x.shape
        y = columns @ _weight_matrix(self.weight.data).T
        if self.bias is not None:
            y += self.bias.data
        return _from_rows(y, x.shape[0], out_size)

    def backward(self, grad_output):
        columns = _require_forward(self, self._columns)
        n = self._input_shape[0]
        out_size = _windowed_size(self, self._input_shape[2:], self.kernel_size, self.stride, self.padding)
        _check_grad_output(self, grad_output, (n, self.out_channels) + out_size)
        grad_rows = _to_rows(grad_output)
        self.weight.grad += _weight_from_matrix(grad_rows.T @ columns, self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_rows.sum(axis=0)
        if not self.needs_input_grad:
            return None
        grad_columns = grad_rows @ _weight_matrix(self.weight.data)
        window_grads = _columns_to_windows(grad_columns, n, out_size, self.in_channels, self.kernel_size)
        return _col2im(window_grads, self._input_shape, self.stride, self.padding)

    def _clear_cache(self):
        self._columns = self._input_shape = None


class ConvTranspose2d(_ConvBase):
    """The adjoint of a Conv2d: every input pixel spreads a kernel-weighted copy onto the output,

        y_pad[n, o, i*S + p, j*S + q] += sum_c x[n,c,i,j] W[c,o,p,q]      y = y_pad without P, + b[o]

    x: (N, C_in, H, W)   W: (C_in, C_out, kH, kW)   b: (C_out,)   y: (N, C_out, H_out, W_out)
    H_out = (H - 1) S - 2P + kH + output_padding (W_out likewise); output_padding < S picks one of
    the S input sizes a Conv2d with this stride maps to H (the extra rows get only the bias).

    With X the rows of x, (N*H*W, C_in), and W as a (C_in, kH*kW*C_out) matrix, the forward pass is
    y = col2im(X W) + b, exactly the input gradient of a Conv2d. Backward is that Conv2d's forward:
    with G = im2col(dL/dy) of shape (N*H*W, kH*kW*C_out),
        dL/dW = X^T G      dL/db = sum_{n,i,j} dL/dy      dL/dx = G W^T
    Forward caches X, what dL/dW needs, and the input's shape.

    Initialization as torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in = weight.shape[1]*kH*kW
    = C_out*kH*kW (torch reads the fan from dimension 1, which here holds the output channels).
    ``needs_input_grad = False`` skips dL/dx and backward returns None.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True,
                 dtype=None, rng=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, bias, dtype, rng, transposed=True)
        self.output_padding = _pair("ConvTranspose2d", "output_padding", output_padding, 0)
        if any(o >= s for o, s in zip(self.output_padding, self.stride)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than the "
                             f"stride {self.stride} in each dimension")
        self._input_rows = None
        self._input_shape = None

    def output_size(self, size):
        """(H_out, W_out) for an (H, W) input; a ValueError when it would not be positive."""
        out = tuple((s - 1) * st - 2 * p + k + o for s, st, p, k, o
                    in zip(size, self.stride, self.padding, self.kernel_size, self.output_padding))
        if min(out) <= 0:
            raise ValueError(f"{self!r}: an input of size {tuple(size)} gives an output of size {out}; "
                             "use less padding or a larger input")
        return out

    def forward(self, x):
        _check_input(self, x, self.in_channels, self.weight.data)
        n = x.shape[0]
        out_size = self.output_size(x.shape[2:])
        rows = _to_rows(x)
        self._input_rows, self._input_shape = rows, x.shape
        columns = rows @ _weight_matrix(self.weight.data)
        window_grads = _columns_to_windows(columns, n, x.shape[2:], self.out_channels, self.kernel_size)
        y = _col2im(window_grads, (n, self.out_channels) + out_size, self.stride, self.padding)
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        return y

    def backward(self, grad_output):
        rows = _require_forward(self, self._input_rows)
        n, _, height, width = self._input_shape
        _check_grad_output(self, grad_output, (n, self.out_channels) + self.output_size((height, width)))
        # Exactly (H, W) windows fit: the trailing output_padding rows are read by none of them.
        grad_columns = _im2col(grad_output, self.kernel_size, self.stride, self.padding)
        self.weight.grad += _weight_from_matrix(rows.T @ grad_columns, self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=(0, 2, 3))
        if not self.needs_input_grad:
            return None
        grad_rows = grad_columns @ _weight_matrix(self.weight.data).T
        return _from_rows(grad_rows, n, (height, width))

    def _clear_cache(self):
        self._input_rows = self._input_shape = None


class MaxPool2d(Module):
    """y[n,c,i,j] = max_{p,q} x[n, c, i*S + p, j*S + q]      (N, C, H, W) -> (N, C, H_out, W_out)

    H_out = (H - K) // S + 1, S = K by default. Backward sends each output's gradient to the one
    input that was its window's maximum, the first in row-major order on ties (as torch), summing
    where overlapping windows (S < K) chose the same input:
        dL/dx[n, c, i*S + p*, j*S + q*] += dL/dy[n,c,i,j],   (p*, q*) = argmax of window (i, j)
    A NaN in a window is its maximum, as in torch. The cache is the one-hot position of each maximum.
    """

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _pair("MaxPool2d", "kernel_size", kernel_size, 1)
        self.stride = _pair("MaxPool2d", "stride", stride if stride is not None else kernel_size, 1)
        self._is_max = None
        self._input_shape = None

    def forward(self, x):
        _check_input(self, x, None)
        _windowed_size(self, x.shape[2:], self.kernel_size, self.stride, (0, 0))
        xp = backend.get_array_module(x)
        windows = _windows(x, self.kernel_size, self.stride)
        # One contiguous plane per kernel offset, (kH*kW, N, C, H_out, W_out): the reductions over that first
        # axis are then elementwise work on whole planes (xp.argmax over it is many times slower on the CPU).
        planes = windows.transpose(4, 5, 0, 1, 2, 3).reshape((-1,) + windows.shape[:4])
        maximum = planes.max(axis=0)
        is_max = (planes == maximum) | xp.isnan(planes)
        # Keep only the first maximum of each window in row-major order: torch's rule on ties.
        seen = is_max[0].copy()
        for k in range(1, is_max.shape[0]):
            is_max[k] &= ~seen
            seen |= is_max[k]
        self._is_max, self._input_shape = is_max, x.shape
        return maximum

    def backward(self, grad_output):
        is_max = _require_forward(self, self._is_max)
        _check_grad_output(self, grad_output, is_max.shape[1:])
        # (kH*kW, N, C, H_out, W_out): each window's gradient, zero but at its maximum.
        planes = is_max * grad_output
        window_grads = planes.reshape(self.kernel_size + is_max.shape[1:]).transpose(2, 3, 4, 5, 0, 1)
        return _col2im(window_grads, self._input_shape, self.stride, (0, 0), channels_last=False)

    def _clear_cache(self):
        self._is_max = self._input_shape = None

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Upsample(Module):
    """Nearest-neighbour upsampling by integer factors: y[n, c, i, j] = x[n, c, i // sH, j // sW].

    (N, C, H, W) -> (N, C, H*sH, W*sW). Backward sums each sH x sW block of the gradient:
        dL/dx[n,c,i,j] = sum_{a<sH, b<sW} dL/dy[n, c, i*sH + a, j*sW + b]
    """

    def __init__(self, scale_factor, mode="nearest"):
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is implemented, got {mode!r}")
        self.scale_factor = _pair("Upsample", "scale_factor", scale_factor, 1)
        self.mode = mode
        self._input_shape = None

    def forward(self, x):
        _check_input(self, x, None)
        scale_h, scale_w = self.scale_factor
        self._input_shape = x.shape
        return x.repeat(scale_h, axis=2).repeat(scale_w, axis=3)

    def backward(self, grad_output):
        n, c, height, width = _require_forward(self, self._input_shape)
        scale_h, scale_w = self.scale_factor
        _check_grad_output(self, grad_output, (n, c, height * scale_h, width * scale_w))
        # A sum of sH*sW strided slices: reshape-and-sum over the two short block axes is far slower in NumPy.
        grad_input = grad_output[:, :, 0::scale_h, 0::scale_w].copy()
        for a in range(scale_h):
            for b in range(scale_w):
                if a or b:
                    grad_input += grad_output[:, :, a::scale_h, b::scale_w]
        return grad_input

    def _clear_cache(self):
        self._input_shape = None

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
