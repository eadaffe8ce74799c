"""MaxPool2d and AvgPool2d on (N, C, H, W) or unbatched (C, H, W) images.

Both slide a kH x kW window (stride S, default S = K) over the input padded by P on each side and
reduce each window to one number. The windows are a strided view (``nn.im2col_fast.windows``), and
each backward sends a window's gradient back onto its pixels with ``col2im_windows``, the adjoint
of taking windows (pixels in several windows add up the gradients of all of them).

Output size, as torch computes it (D: dilation, MaxPool2d only):

    H_out = (H + 2P - D (K - 1) - 1) // S + 1                       ceil_mode=False
    H_out = ceil((H + 2P - D (K - 1) - 1) / S) + 1                  ceil_mode=True, less one when that last
                                                                    window would start in the bottom padding

ceil_mode keeps a last, partial window where floor division drops it: with H = 5, K = 2, S = 2 the
windows start at rows 0 and 2; ceil_mode adds a third at row 4, which covers row 4 and one row past
the input. That row is padding a window may reach but never reads: max pooling fills it with -inf
(never a maximum), average pooling leaves it out of the count. A window must start inside the input
or the left padding, which is the "less one" rule. P is at most half the kernel (torch's limit), so
every window holds at least one pixel of the input.

Dilation (MaxPool2d) spreads the kernel's taps D pixels apart: a 3x3 kernel with D = 2 takes the
maximum of 9 pixels spread over a 5x5 area (rows i*S, i*S + 2, i*S + 4), so it sees further without
more taps. Its reach is D (K - 1) + 1 pixels, which replaces K in the output size; the strided view
simply steps D pixels between taps, and backward sends the gradient back to the tap that won.
"""
import math

import numpy

from . import backend, padding as padding_modes
from .im2col_fast import col2im_windows, windows
from .spatial import Spatial2d, flag, pair, windowed_size


class _Pool2d(Spatial2d):
    """Arguments and output geometry shared by MaxPool2d and AvgPool2d."""

    def _setup(self, kernel_size, stride, padding, dilation, ceil_mode):
        name = type(self).__name__
        # torch keeps the arguments as given (3 stays 3); the pairs the arithmetic uses are private.
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        self._kernel = pair(name, "kernel_size", kernel_size, 1)
        self._stride = pair(name, "stride", stride if stride is not None else kernel_size, 1)
        self._padding = pair(name, "padding", padding, 0)
        self.ceil_mode = flag(name, "ceil_mode", ceil_mode)
        self._dilation = pair(name, "dilation", dilation, 1)
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self._kernel, self._dilation))
        if any(p > r // 2 for p, r in zip(self._padding, reach)):
            raise ValueError(f"{name}: padding {self._padding} must be at most half the kernel's reach {reach} "
                             "(torch's limit); use less padding or a larger kernel")

    def _geometry(self, layer, size):
        """(H_out, W_out) and the padding ((top, bottom), (left, right)) that holds every window:
        P on each side, plus the rows and columns the last ceil_mode window reaches past it."""
        out_size, pads = [], []
        for s, k, st, p, d in zip(size, self._kernel, self._stride, self._padding, self._dilation):
            reach = d * (k - 1) + 1
            out = (s + 2 * p - reach + (st - 1 if self.ceil_mode else 0)) // st + 1
            if self.ceil_mode and (out - 1) * st >= s + p:
                out -= 1
            out_size.append(out)
            pads.append((p, max(p, (out - 1) * st + reach - s - p)))
        if min(out_size) <= 0:
            windowed_size(layer, size, self._kernel, self._stride, self._dilation, pads)  # raises, saying why
        return tuple(out_size), tuple(pads)


class MaxPool2d(_Pool2d):
    """y[n,c,i,j] = max_{p,q} x_pad[n, c, i*S + p*D, j*S + q*D]      (N, C, H, W) -> (N, C, H_out, W_out)

    x_pad is x with P pixels of -inf on each side (they are never a maximum); D, the dilation, spaces
    the kernel's taps (D = 2 looks at every other pixel of a window twice as wide). S = K by default.

    Backward sends each output's gradient to the one input that was its window's maximum, the first
    in row-major order on ties (as torch), summing where overlapping windows (S < K) chose the same input:
        dL/dx[n, c, i*S + p*D - P, j*S + q*D - P] += dL/dy[n,c,i,j],   (p, q) = argmax of window (i, j)
    A NaN in a window is its maximum, as in torch. The cache is the one-hot position of each maximum.

    return_indices=True returns (y, indices) instead of y. indices[n,c,i,j] says which input pixel won
    window (i, j): the pixel (r, s) of the unpadded (H, W) plane, flattened to r * W + s, as torch gives
    them (torch's MaxUnpool2d reads them to put each maximum back in place). They are the backward pass
    written down: dL/dx is dL/dy scattered to those positions, summed where two windows chose the
    same pixel. Here they are computed from the cached one-hot maxima, (p, q) = the first tap that is
    a maximum, r = i*S - P + p*D and s = j*S - P + q*D. Backward still takes dL/dy only: the indices are
    integers and get no gradient.
    """

    _saved = Spatial2d._saved + ("_is_max", "_input_shape", "_pads")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        self._setup(kernel_size, stride, padding, dilation, ceil_mode)
        self.dilation = dilation
        self.return_indices = flag("MaxPool2d", "return_indices", return_indices)

    def _forward(self, x):
        xp = backend.get_array_module(x)
        out_size, pads = self._geometry(self, x.shape[2:])
        padded = pads != ((0, 0), (0, 0))
        x_pad = padding_modes.pad(x, pads, "zeros", fill=-math.inf) if padded else x
        view = windows(x_pad, self._kernel, self._stride, self._dilation, out_size)
        # One contiguous plane per kernel offset, (kH*kW, N, C, H_out, W_out): the reductions over that first
        # axis are then elementwise work on whole planes (xp.argmax over it is many times slower on the CPU).
        planes = view.transpose(4, 5, 0, 1, 2, 3).reshape((-1,) + view.shape[:4])
        maximum = planes.max(axis=0)
        is_max = (planes == maximum) | xp.isnan(planes)
        if padded:  # a window whose pixels are all -inf must still pick a pixel of the input, as torch
            is_max &= self._inside(xp, x.shape[2:], pads, out_size)
        # Keep only the first maximum of each window in row-major order: torch's rule on ties.
        seen = is_max[0].copy()
        for k in range(1, is_max.shape[0]):
            is_max[k] &= ~seen
            seen |= is_max[k]
        self._is_max, self._input_shape, self._pads = is_max, x.shape, pads
        if self.return_indices:
            return maximum, self._indices(xp, x.shape[2:], pads, out_size)
        return maximum

    def _inside(self, xp, size, pads, out_size):
        """(kH*kW, 1, 1, H_out, W_out): whether each window's tap falls inside the input, not its padding."""
        (top, bottom), (left, right) = pads
        inside = xp.zeros((1, 1, top + size[0] + bottom, left + size[1] + right), dtype=bool)
        inside[:, :, top:top + size[0], left:left + size[1]] = True
        view = windows(inside, self._kernel, self._stride, self._dilation, out_size)
        return view.transpose(4, 5, 0, 1, 2, 3).reshape((-1,) + view.shape[:4])

    def _indices(self, xp, size, pads, out_size):
        """The flat position r * W + s in the input plane of each window's (first) maximum."""
        first = xp.argmax(self._is_max, axis=0)           # k = p * kW + q of the maximum, per window
        p, q = first // self._kernel[1], first % self._kernel[1]
        rows = xp.arange(out_size[0])[:, None] * self._stride[0] - pads[0][0] + p * self._dilation[0]
        cols = xp.arange(out_size[1])[None, :] * self._stride[1] - pads[1][0] + q * self._dilation[1]
        return (rows * size[1] + cols).astype("int64")

    def _backward(self, grad_output):
        xp = backend.get_array_module(grad_output)
        # (kH*kW, N, C, H_out, W_out): each window's gradient, zero but at its maximum. A select, not
        # is_max * g: that would put 0 * inf = NaN on every other tap of a window whose gradient is inf.
        planes = xp.where(self._is_max, grad_output, 0)
        window_grads = planes.reshape(self._kernel + planes.shape[1:]).transpose(2, 3, 4, 5, 0, 1)
        return col2im_windows(window_grads, self._input_shape, self._stride, self._dilation, self._pads,
                              channels_last=False)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


def _window_counts(size, out, kernel, stride, padding):
    """Per output row (or column): how many rows its window spans inside [-P, H + P), and inside [0, H)."""
    start = numpy.arange(out) * stride - padding
    end = numpy.minimum(start + kernel, size + padding)
    return end - start, numpy.minimum(end, size) - numpy.maximum(start, 0)


class AvgPool2d(_Pool2d):
    """y[n,c,i,j] = (1 / d[i,j]) sum_{p,q} x_pad[n, c, i*S + p, j*S + q]      (N, C, H, W) -> (N, C, H_out, W_out)

    x_pad is x with P zeros on each side. The divisor d[i,j], as torch:
        count_include_pad=True    the window's size inside the padded input (zeros of P counted,
                                  the rows a ceil_mode window reaches past the padding not)
        count_include_pad=False   the number of input pixels in the window
        divisor_override=d        d for every window
    Both counts are a row count times a column count, so d is an outer product (H_out,) x (W_out,).

    Backward: each pixel of a window receives that window's gradient divided by its divisor,
        dL/dx[n, c, i*S + p - P, j*S + q - P] += dL/dy[n,c,i,j] / d[i,j]      for every (p, q) in the window,
    summed over the windows that hold the pixel (col2im). Nothing but the input's shape is cached.
    """

    _saved = Spatial2d._saved + ("_divisor", "_input_shape", "_pads")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        self._setup(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = flag("AvgPool2d", "count_include_pad", count_include_pad)
        if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(divisor_override, int)
                                             or divisor_override == 0):
            raise ValueError(f"AvgPool2d: divisor_override must be a non-zero integer or None, got {divisor_override!r}")
        self.divisor_override = divisor_override

    def _forward(self, x):
        xp = backend.get_array_module(x)
        out_size, pads = self._geometry(self, x.shape[2:])
        x_pad = padding_modes.pad(x, pads, "zeros") if pads != ((0, 0), (0, 0)) else x
        if self.divisor_override is not None:
            divisor = self.divisor_override
        else:
            (padded_h, inside_h), (padded_w, inside_w) = (
                _window_counts(s, o, k, st, p) for s, o, k, st, p in
                zip(x.shape[2:], out_size, self._kernel, self._stride, self._padding))
            rows, cols = (padded_h, padded_w) if self.count_include_pad else (inside_h, inside_w)
            divisor = xp.asarray(numpy.outer(rows, cols).astype(x.dtype))
        sums = windows(x_pad, self._kernel, self._stride, (1, 1), out_size).sum(axis=(4, 5))
        self._divisor, self._input_shape, self._pads = divisor, x.shape, pads
        return sums / divisor

    def _backward(self, grad_output):
        xp = backend.get_array_module(grad_output)
        share = grad_output / self._divisor
        window_grads = xp.broadcast_to(share[..., None, None], share.shape + self._kernel)
        return col2im_windows(window_grads, self._input_shape, self._stride, (1, 1), self._pads, channels_last=False)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
