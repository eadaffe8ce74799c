"""The fast forms of ``nn.im2col``: the same columns and sums, laid out channels-last, built from
strided views instead of loops over pixels. The layers run these; ``tests/test_nn_im2col.py`` holds
each equal to its plain form.

    windows                ->  a view of every window (no copy); the plain form reads it tap by tap
    im2col_channels_last   ->  im2col(pad(x)), its columns ordered (p, q, c) instead of (c, p, q)
    col2im_windows         ->  col2im, then the padding cut off (the adjoint of the two above)
    group_columns, weight_matrices, ...   the per-group slices of conv2d's loop, as stacked matrices

Why channels-last: with the input in (N, H, W, C) memory, each row of the columns is kH runs of
kW*C adjacent numbers, one fast copy; the weight is reordered to match (``weight_matrices``). A
convolution's output is then a (N*H_out*W_out, C_out) matrix, returned as an NCHW view whose memory
is channels-last, which the next layer's im2col reads without a copy.
"""
from . import backend
from .im2col import output_size


def windows(x, kernel, stride, dilation, out_size=None):
    """A strided view, no copy: (N, C, H, W) -> (N, C, H_out, W_out, kH, kW),

        windows[n, c, i, j, p, q] = x[n, c, i*S + p*D, j*S + q*D]      (x of any memory layout)

    ``out_size`` keeps only the first (H_out, W_out) windows (default: all that fit).
    """
    xp = backend.get_array_module(x)
    (kernel_h, kernel_w), (stride_h, stride_w), (dilation_h, dilation_w) = kernel, stride, dilation
    n, c = x.shape[:2]
    out_h, out_w = out_size or output_size(x.shape[2:], kernel, stride, dilation)
    step_n, step_c, step_h, step_w = x.strides
    # as_strided rather than sliding_window_view: it is in every CuPy version (strides in bytes in both).
    view = xp.lib.stride_tricks.as_strided(
        x, (n, c, out_h, out_w, kernel_h, kernel_w),
        (step_n, step_c, step_h * stride_h, step_w * stride_w, step_h * dilation_h, step_w * dilation_w))
    # NumPy's as_strided returns the base ndarray for an array subclass; asarray gives back x's own array
    # type (a no-op for NumPy and CuPy arrays).
    return xp.asarray(view)


def im2col_channels_last(x, kernel, stride, dilation, pads, out_size=None):
    """(N, C, H, W) -> columns (N*H_out*W_out, kH*kW*C), one copy; pads = ((top, bottom), (left, right))
    of zeros.  columns[(n, i, j), (p, q, c)] = x_pad[n, c, i*S + p*D, j*S + q*D]."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    (top, bottom), (left, right) = pads
    x_pad = x
    if top or bottom or left or right or not x.transpose(0, 2, 3, 1).flags.c_contiguous:
        x_pad = xp.zeros((n, top + h + bottom, left + w + right, c), dtype=x.dtype).transpose(0, 3, 1, 2)
        x_pad[:, :, top:top + h, left:left + w] = x
    view = windows(x_pad, kernel, stride, dilation, out_size)
    out_h, out_w = view.shape[2:4]
    return view.transpose(0, 2, 3, 4, 5, 1).reshape(n * out_h * out_w, kernel[0] * kernel[1] * c)


def col2im_windows(window_grads, input_shape, stride, dilation, pads, channels_last=True):
    """The adjoint of ``windows`` on a padded input: (N, C, H_out, W_out, kH, kW) -> (N, C, H, W),

        dx_pad[n, c, i*S + p*D, j*S + q*D] += window_grads[n, c, i, j, p, q],   then the padding cut off.

    A loop over the kH*kW kernel offsets only, each a strided slice-add over the whole batch; fastest
    when the result's memory order matches window_grads[..., p, q]: channels-last for the convolutions'
    column layout, channels-first for pooling.
    """
    xp = backend.get_array_module(window_grads)
    n, c, out_h, out_w, kernel_h, kernel_w = window_grads.shape
    (stride_h, stride_w), (dilation_h, dilation_w), ((top, bottom), (left, right)) = stride, dilation, pads
    height, width = top + input_shape[2] + bottom, left + input_shape[3] + right
    if channels_last:
        grad_pad = xp.zeros((n, height, width, c), dtype=window_grads.dtype).transpose(0, 3, 1, 2)
    else:
        grad_pad = xp.zeros((n, c, height, width), dtype=window_grads.dtype)
    overlapping = stride_h < (kernel_h - 1) * dilation_h + 1 or stride_w < (kernel_w - 1) * dilation_w + 1
    for p in range(kernel_h):
        for q in range(kernel_w):
            pixels = grad_pad[:, :, p * dilation_h:p * dilation_h + stride_h * (out_h - 1) + 1:stride_h,
                              q * dilation_w:q * dilation_w + stride_w * (out_w - 1) + 1:stride_w]
            if overlapping:
                pixels += window_grads[:, :, :, :, p, q]
            else:  # each pixel is in at most one window: assigning is the same sum, and a faster loop
                pixels[...] = window_grads[:, :, :, :, p, q]
    return grad_pad[:, :, top:height - bottom, left:width - right]


def columns_to_windows(columns, n, out_size, channels, kernel):
    """Undo the layout of ``im2col_channels_last`` (a view): (N*H_out*W_out, kH*kW*C) -> (N, C, H_out, W_out, kH, kW)."""
    return columns.reshape((n,) + tuple(out_size) + tuple(kernel) + (channels,)).transpose(0, 5, 1, 2, 3, 4)


def weight_matrix(weight):
    """(A, B, kH, kW) -> (A, kH*kW*B), columns in the (p, q, b) order of the channels-last columns."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def weight_from_matrix(matrix, shape):
    """The inverse of ``weight_matrix``: (A, kH*kW*B) -> (A, B, kH, kW)."""
    a, b, kernel_h, kernel_w = shape
    return matrix.reshape(a, kernel_h, kernel_w, b).transpose(0, 3, 1, 2)


def weight_matrices(weight, groups):
    """(A, B, kH, kW) -> (G, A/G, kH*kW*B): ``weight_matrix`` of each group's block of A."""
    a, b, kernel_h, kernel_w = weight.shape
    return weight.reshape(groups, a // groups, b, kernel_h, kernel_w).transpose(0, 1, 3, 4, 2).reshape(
        groups, a // groups, kernel_h * kernel_w * b)


def weight_from_matrices(matrices, shape):
    """The inverse of ``weight_matrices``: (G, A/G, kH*kW*B) -> (A, B, kH, kW)."""
    a, b, kernel_h, kernel_w = shape
    return matrices.reshape(a, kernel_h, kernel_w, b).transpose(0, 3, 1, 2)


def group_columns(columns, kernel_area, groups):
    """(R, kH*kW*C) in (p, q, c) order -> (G, R, kH*kW*C/G): each group's channels' columns (a copy)."""
    rows = columns.shape[0]
    return columns.reshape(rows, kernel_area, groups, -1).transpose(2, 0, 1, 3).reshape(groups, rows, -1)


def ungroup_columns(grouped, kernel_area):
    """The inverse of ``group_columns``: (G, R, kH*kW*C/G) -> (R, kH*kW*C) in (p, q, c) order."""
    groups, rows, width = grouped.shape
    return grouped.reshape(groups, rows, kernel_area, width // kernel_area).transpose(1, 2, 0, 3).reshape(rows, -1)


def group_rows(rows, groups):
    """(R, C) -> (G, R, C/G), a view: one matrix of each group's channels."""
    return rows.reshape(rows.shape[0], groups, -1).transpose(1, 0, 2)


def ungroup_rows(grouped):
    """(G, R, C/G) -> (R, C) (a copy)."""
    return grouped.transpose(1, 0, 2).reshape(grouped.shape[1], -1)
