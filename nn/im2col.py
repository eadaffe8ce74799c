"""im2col and col2im as their formulas read: the plain forms of the convolutions' windows.

A convolution is a Linear layer applied to every window of the image. ``im2col`` copies every
window into one row of a matrix, so that the whole convolution is one matrix multiply:

    columns[(n, i, j), (c, p, q)] = x_pad[n, c, i*S + p*D, j*S + q*D]      (N*H_out*W_out, C*kH*kW)

with S the stride, D the dilation (the gap between the kernel's taps: D = 2 reads every other pixel)
and x_pad the input already padded. The columns are ordered (c, p, q), which is how a torch weight
(C_out, C, kH, kW) reads once reshaped to (C_out, C*kH*kW): then y = columns @ W^T.

``col2im`` is its adjoint: every window's gradient is added back onto the pixels it was read from,

    dx_pad[n, c, i*S + p*D, j*S + q*D] += dcolumns[(n, i, j), (c, p, q)]      for every (i, j, p, q),

so a pixel read by several windows receives the sum of their gradients.

Groups. With ``groups = G`` the C input channels are cut into G blocks of C/G, the C_out outputs
into G blocks of C_out/G, and block g of the output only sees block g of the input:

    y[:, block g] = conv(x[:, block g], W[block g])        W: (C_out, C/G, kH, kW)

In im2col terms: take the columns of each input block apart (C/G channels each) and multiply each
with its own (C_out/G, C/G*kH*kW) slice of the weight. G = 1 is the ordinary convolution;
G = C = C_out ("depthwise") filters every channel on its own with a single kH x kW kernel.

These are the plain forms: short loops over the kH*kW kernel offsets, written for reading. The
layers run the channels-last forms of ``nn.im2col_fast``, which compute the same numbers (a test
holds them equal).
"""
from . import backend


def output_size(size, kernel, stride, dilation):
    """How many windows fit along each axis of an (already padded) (H, W) input:
    (H - D (K - 1) - 1) // S + 1; the reach of a dilated kernel is D (K - 1) + 1 pixels."""
    return tuple((s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(size, kernel, stride, dilation))


def im2col(x_pad, kernel, stride, dilation):
    """(N, C, H, W) padded input -> columns (N*H_out*W_out, C*kH*kW), ordered (c, p, q)."""
    xp = backend.get_array_module(x_pad)
    n, c = x_pad.shape[:2]
    (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = kernel, stride, dilation
    out_h, out_w = output_size(x_pad.shape[2:], kernel, stride, dilation)
    columns = xp.empty((n, out_h, out_w, c, kernel_h, kernel_w), dtype=x_pad.dtype)
    for p in range(kernel_h):
        for q in range(kernel_w):
            # the pixel at kernel offset (p, q) of every window: rows p*D, p*D + S, p*D + 2S, ...
            top, left = p * dilation_h, q * dilation_w
            taps = x_pad[:, :, top:top + stride_h * (out_h - 1) + 1:stride_h,
                         left:left + stride_w * (out_w - 1) + 1:stride_w]
            columns[:, :, :, :, p, q] = taps.transpose(0, 2, 3, 1)
    return columns.reshape(n * out_h * out_w, c * kernel_h * kernel_w)


def col2im(columns, padded_shape, kernel, stride, dilation):
    """The adjoint of ``im2col``: columns (N*H_out*W_out, C*kH*kW) -> dx_pad of ``padded_shape``."""
    xp = backend.get_array_module(columns)
    n, c = padded_shape[:2]
    (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = kernel, stride, dilation
    out_h, out_w = output_size(padded_shape[2:], kernel, stride, dilation)
    windows = columns.reshape(n, out_h, out_w, c, kernel_h, kernel_w)
    grad_pad = xp.zeros(padded_shape, dtype=columns.dtype)
    for p in range(kernel_h):
        for q in range(kernel_w):
            top, left = p * dilation_h, q * dilation_w
            grad_pad[:, :, top:top + stride_h * (out_h - 1) + 1:stride_h,
                     left:left + stride_w * (out_w - 1) + 1:stride_w] += windows[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return grad_pad


def conv2d(x_pad, weight, stride, dilation, groups):
    """y = conv(x_pad, W) without bias, group by group: (N, C, H, W) -> (N, C_out, H_out, W_out)."""
    xp = backend.get_array_module(x_pad)
    n = x_pad.shape[0]
    out_channels, group_channels = weight.shape[:2]
    group_outputs = out_channels // groups
    out_h, out_w = output_size(x_pad.shape[2:], weight.shape[2:], stride, dilation)
    outputs = []
    for g in range(groups):
        columns = im2col(x_pad[:, g * group_channels:(g + 1) * group_channels], weight.shape[2:], stride, dilation)
        weight_g = weight[g * group_outputs:(g + 1) * group_outputs].reshape(group_outputs, -1)
        outputs.append(columns @ weight_g.T)                                  # (N*H_out*W_out, C_out/G)
    y = xp.concatenate(outputs, axis=1)
    return y.reshape(n, out_h, out_w, out_channels).transpose(0, 3, 1, 2)


def conv2d_backward(x_pad, weight, grad_output, stride, dilation, groups):
    """The gradients of ``conv2d``: (dL/dx_pad, dL/dW), group by group, with G = dL/dy as rows
    (N*H_out*W_out, C_out/G) and X = im2col(x_pad block):   dL/dW = G^T X,   dL/dx_pad = col2im(G W)."""
    xp = backend.get_array_module(x_pad)
    out_channels, group_channels = weight.shape[:2]
    group_outputs = out_channels // groups
    grad_rows = grad_output.transpose(0, 2, 3, 1).reshape(-1, out_channels)
    block_shape = (x_pad.shape[0], group_channels) + tuple(x_pad.shape[2:])
    grad_inputs, grad_weights = [], []
    for g in range(groups):
        columns = im2col(x_pad[:, g * group_channels:(g + 1) * group_channels], weight.shape[2:], stride, dilation)
        weight_g = weight[g * group_outputs:(g + 1) * group_outputs].reshape(group_outputs, -1)
        grad_g = grad_rows[:, g * group_outputs:(g + 1) * group_outputs]
        grad_weights.append((grad_g.T @ columns).reshape((group_outputs,) + tuple(weight.shape[1:])))
        grad_inputs.append(col2im(grad_g @ weight_g, block_shape, weight.shape[2:], stride, dilation))
    return xp.concatenate(grad_inputs, axis=1), xp.concatenate(grad_weights, axis=0)
