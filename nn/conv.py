"""Conv2d and ConvTranspose2d on (N, C, H, W) or unbatched (C, H, W) images.

A convolution is a Linear layer applied to every window of the image: ``nn.im2col`` writes the
windows as rows of a matrix (the plain form, with the formulas, including groups), and the layers
run its channels-last fast form ``nn.im2col_fast``. The transposed convolution is the same pair used
the other way round: its forward is a Conv2d's input gradient (col2im) and its backward is a
Conv2d's forward (im2col).

Shapes, with K the kernel size, S the stride, P the padding, D the dilation (each per axis):

    Conv2d           H_out = (H + 2P - D (K - 1) - 1) // S + 1
    ConvTranspose2d  H_out = (H - 1) S - 2P + D (K - 1) + output_padding + 1
"""
import math

from . import backend, padding as padding_modes
from .im2col_fast import (col2im_windows, columns_to_windows, group_columns, group_rows, im2col_channels_last,
                          ungroup_columns, ungroup_rows, weight_from_matrices, weight_from_matrix, weight_matrices,
                          weight_matrix)
from .arguments import input_dtype_error, positive_int
from .module import Parameter
from .spatial import Spatial2d, flag, pair, symmetric, windowed_size

NO_PADDING = ((0, 0), (0, 0))


def _to_rows(x):
    """(N, C, H, W) -> (N*H*W, C): one row per pixel (a view when x came from ``_from_rows``)."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _from_rows(rows, n, size):
    """(N*H*W, C) -> (N, C, H, W), a view (its memory stays pixel-major, channels last)."""
    return rows.reshape((n,) + tuple(size) + (rows.shape[1],)).transpose(0, 3, 1, 2)


class _ConvBase(Spatial2d):
    """Arguments, parameters and repr shared by Conv2d and ConvTranspose2d."""

    def _setup(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, padding_mode,
               device, dtype, rng, transposed):
        name = type(self).__name__
        self.in_channels = positive_int(name, "in_channels", in_channels)
        self.out_channels = positive_int(name, "out_channels", out_channels)
        self.kernel_size = pair(name, "kernel_size", kernel_size, 1)
        self.stride = pair(name, "stride", stride, 1)
        self.dilation = pair(name, "dilation", dilation, 1)
        self.groups = positive_int(name, "groups", groups)
        for what, count in (("in_channels", in_channels), ("out_channels", out_channels)):
            if count % groups:
                raise ValueError(f"{name}: {what}={count} must be divisible by groups={groups}")
        flag(name, "bias", bias)
        if padding_mode not in padding_modes.MODES:
            raise ValueError(f"{name}: padding_mode must be one of {padding_modes.MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        dtype = backend.normalize_dtype(dtype or backend.DEFAULT_DTYPE)
        rng = rng if rng is not None else backend.default_generator("cpu")
        channels = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        weight_shape = channels + self.kernel_size
        # torch's default init: kaiming-uniform with a = sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
        # bias uses the same bound; fan_in = weight.shape[1] * kH * kW (out_channels / groups for the transpose).
        bound = 1.0 / math.sqrt(weight_shape[1] * self.kernel_size[0] * self.kernel_size[1])
        self.weight = Parameter(rng.uniform(-bound, bound, weight_shape).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)).astype(dtype)) if bias else None
        self.needs_input_grad = True
        if device is not None:
            self.to(device=device)

    def _expected_channels(self):
        return self.in_channels

    def _check(self, x):
        """The shape check of every 2-D layer, and the input's dtype and device against the weight's."""
        super()._check(x)
        weight = self.weight.data
        if x.dtype != weight.dtype:
            raise input_dtype_error(self, x.dtype, weight.dtype)
        backend.check_same_device(self, weight, x)

    def extra_repr(self):
        """torch's repr: options shown only where they differ from the default."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvBase):
    """y[n,o,i,j] = b[o] + sum_{c,p,q} W[o,c,p,q] x_pad[n, g*C_in/G + c, i*S + p*D, j*S + q*D],  g = o // (C_out/G)

    x: (N, C_in, H, W) or (C_in, H, W)   W: (C_out, C_in/G, kH, kW)   b: (C_out,)   y: (N, C_out, H_out, W_out)
    H_out = (H + 2P - D (kH - 1) - 1) // S + 1 (W_out likewise). x_pad is x with P pixels on each side:
    zeros, or per ``padding_mode`` a reflection, the edge repeated, or the image wrapped (nn.padding).
    padding='valid' is P = 0; padding='same' (stride 1) pads D (K - 1) in all, the odd one at the
    bottom/right as torch, so that H_out = H. G = ``groups`` (nn.im2col explains groups).

    With X = im2col(x_pad) of shape (N*H_out*W_out, kH*kW*C_in) and W as a (C_out, kH*kW*C_in) matrix,
    the layer is a Linear on the windows: Y = X W^T + b, Y of shape (N*H_out*W_out, C_out) (one such
    product per group).

    Backward, with G = dL/dy in the same row layout (N*H_out*W_out, C_out):
        dL/dW = G^T X      dL/db = sum_rows G      dL/dx = pad^T(col2im(G W))
    where pad^T adds the gradient of each padded pixel onto the pixel it copied (nn.padding).

    Forward caches X, what dL/dW needs (kH*kW/S^2 times the input's size), and the input's shape.
    The output is Y reshaped, a view whose memory is channels-last: the next layer's im2col and this
    layer's backward then read it without a copy.

    Initialization as torch: W and b uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in/G*kH*kW.
    ``needs_input_grad = False`` skips dL/dx (a first layer fed with data) and backward returns None.
    """

    _saved = Spatial2d._saved + ("_input_shape", "_columns", "_padded_shape")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None, *, rng=None):
        self._setup(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, padding_mode,
                    device, dtype, rng, transposed=False)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be 'valid', 'same', an integer >= 0 or a pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride}); use stride=1 or a numeric padding")
            self.padding = padding
            totals = [d * (k - 1) if padding == "same" else 0 for k, d in zip(self.kernel_size, self.dilation)]
            self._pads = tuple((total // 2, total - total // 2) for total in totals)
        else:
            self.padding = pair("Conv2d", "padding", padding, 0)
            self._pads = symmetric(self.padding)
        self.output_padding = (0, 0)  # torch's attribute on every convolution; only the transpose uses it

    def _forward(self, x):
        pads, self._input_shape = self._pads, x.shape
        if self.padding_mode != "zeros":  # pad first, then convolve the padded input without padding
            padding_modes.check_fits(repr(self), self.padding_mode, pads, x.shape[2:])
            x, pads = padding_modes.pad(x, pads, self.padding_mode), NO_PADDING
        kernel, groups = self.kernel_size, self.groups
        out_size = windowed_size(self, x.shape[2:], kernel, self.stride, self.dilation, pads)
        columns = im2col_channels_last(x, kernel, self.stride, self.dilation, pads)
        if groups == 1:
            y = columns @ weight_matrix(self.weight.data).T
        else:  # one product per group, stacked: (G, rows, kH*kW*C_in/G) @ (G, kH*kW*C_in/G, C_out/G)
            columns = group_columns(columns, kernel[0] * kernel[1], groups)
            y = ungroup_rows(columns @ weight_matrices(self.weight.data, groups).transpose(0, 2, 1))
        self._columns, self._padded_shape = columns, x.shape
        if self.bias is not None:
            y += self.bias.data
        return _from_rows(y, x.shape[0], out_size)

    def _backward(self, grad_output):
        columns, groups, kernel = self._columns, self.groups, self.kernel_size
        n, out_size = grad_output.shape[0], grad_output.shape[2:]
        grad_rows = _to_rows(grad_output)
        grad_groups = group_rows(grad_rows, groups) if groups != 1 else None
        if self.weight.requires_grad and groups == 1:
            self.weight.accumulate_grad(weight_from_matrix(grad_rows.T @ columns, self.weight.shape))
        elif self.weight.requires_grad:
            self.weight.accumulate_grad(weight_from_matrices(grad_groups.transpose(0, 2, 1) @ columns, self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate_grad(grad_rows.sum(axis=0))
        if not self.needs_input_grad:
            return None
        if groups == 1:
            grad_columns = grad_rows @ weight_matrix(self.weight.data)
        else:
            grad_columns = ungroup_columns(grad_groups @ weight_matrices(self.weight.data, groups), kernel[0] * kernel[1])
        window_grads = columns_to_windows(grad_columns, n, out_size, self.in_channels, kernel)
        if self.padding_mode == "zeros":
            return col2im_windows(window_grads, self._input_shape, self.stride, self.dilation, self._pads)
        grad_pad = col2im_windows(window_grads, self._padded_shape, self.stride, self.dilation, NO_PADDING)
        return padding_modes.pad_backward(grad_pad, self._pads, self.padding_mode)


class ConvTranspose2d(_ConvBase):
    """The adjoint of a Conv2d: every input pixel spreads a kernel-weighted copy onto the output,

        y_pad[n, o, i*S + p*D, j*S + q*D] += sum_c x[n,c,i,j] W[c,o,p,q]      y = y_pad without P, + b[o]

    (with groups G, input channel c reaches only the outputs of its group: W[c, o - g*C_out/G, p, q]).
    x: (N, C_in, H, W) or (C_in, H, W)   W: (C_in, C_out/G, kH, kW)   b: (C_out,)   y: (N, C_out, H_out, W_out)
    H_out = (H - 1) S - 2P + D (kH - 1) + output_padding + 1 (W_out likewise); output_padding, smaller
    than S or D, picks one of the input sizes a Conv2d with this stride maps to H (the extra rows get
    only the bias).

    With X the rows of x, (N*H*W, C_in), and W as a (C_in, kH*kW*C_out) matrix, the forward pass is
    y = col2im(X W) + b, exactly the input gradient of a Conv2d. Backward is that Conv2d's forward:
    with G = im2col(dL/dy) of shape (N*H*W, kH*kW*C_out),
        dL/dW = X^T G      dL/db = sum_{n,i,j} dL/dy      dL/dx = G W^T
    (one such product per group). Forward caches X, what dL/dW needs.

    Initialization as torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in = weight.shape[1]*kH*kW
    = C_out/G*kH*kW (torch reads the fan from dimension 1, which here holds the output channels).
    padding_mode is torch's parameter; torch, and this engine, support only 'zeros'.
    ``needs_input_grad = False`` skips dL/dx and backward returns None.
    """

    _saved = Spatial2d._saved + ("_input_rows", "_input_size")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None, *, rng=None):
        self._setup(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, padding_mode,
                    device, dtype, rng, transposed=True)
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: padding_mode={padding_mode!r} is not supported (torch too supports "
                             "only 'zeros')")
        self.padding = pair("ConvTranspose2d", "padding", padding, 0)
        self.output_padding = pair("ConvTranspose2d", "output_padding", output_padding, 0)
        if any(o >= s and o >= d for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than the "
                             f"stride {self.stride} or the dilation {self.dilation} in each dimension")

    def output_size(self, size):
        """(H_out, W_out) for an (H, W) input; a ValueError when it would not be positive."""
        out = tuple((s - 1) * st - 2 * p + d * (k - 1) + o + 1 for s, st, p, d, k, o
                    in zip(size, self.stride, self.padding, self.dilation, self.kernel_size, self.output_padding))
        if min(out) <= 0:
            raise ValueError(f"{self!r}: an input of size {tuple(size)} gives an output of size {out}; "
                             "use less padding or a larger input")
        return out

    def _forward(self, x):
        n, groups, kernel = x.shape[0], self.groups, self.kernel_size
        out_size = self.output_size(x.shape[2:])
        rows = _to_rows(x)
        self._input_rows, self._input_size = rows, tuple(x.shape[2:])
        if groups == 1:
            columns = rows @ weight_matrix(self.weight.data)
        else:
            columns = ungroup_columns(group_rows(rows, groups) @ weight_matrices(self.weight.data, groups),
                                      kernel[0] * kernel[1])
        window_grads = columns_to_windows(columns, n, x.shape[2:], self.out_channels, kernel)
        y = col2im_windows(window_grads, (n, self.out_channels) + out_size, self.stride, self.dilation,
                           symmetric(self.padding))
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        return y

    def _backward(self, grad_output):
        rows, groups, kernel = self._input_rows, self.groups, self.kernel_size
        n, size = grad_output.shape[0], self._input_size
        # Only the first (H, W) windows: the trailing output_padding rows are read by none of them.
        grad_columns = im2col_channels_last(grad_output, kernel, self.stride, self.dilation,
                                            symmetric(self.padding), out_size=size)
        if groups != 1:
            grad_columns = group_columns(grad_columns, kernel[0] * kernel[1], groups)
        if self.weight.requires_grad and groups == 1:
            self.weight.accumulate_grad(weight_from_matrix(rows.T @ grad_columns, self.weight.shape))
        elif self.weight.requires_grad:
            row_groups = group_rows(rows, groups)
            self.weight.accumulate_grad(weight_from_matrices(row_groups.transpose(0, 2, 1) @ grad_columns, self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate_grad(grad_output.sum(axis=(0, 2, 3)))
        if not self.needs_input_grad:
            return None
        if groups == 1:
            grad_rows = grad_columns @ weight_matrix(self.weight.data).T
        else:
            grad_rows = ungroup_rows(grad_columns @ weight_matrices(self.weight.data, groups).transpose(0, 2, 1))
        return _from_rows(grad_rows, n, size)
