"""The plain forms (nn.im2col, nn.padding, Upsample's matrices) against torch and against the fast forms
the layers run (nn.im2col_fast, the repeat and block sum of nearest upsampling): equal to rounding."""
import itertools

import numpy
import pytest
import torch
import torch.nn.functional as F

import nn
from conftest import assert_close
from nn import im2col, im2col_fast, padding, upsampling

GEOMETRIES = [  # kernel, stride, dilation, groups, (C_in, C_out), (H, W)
    ((3, 3), (1, 1), (1, 1), 1, (2, 3), (6, 5)),
    ((2, 3), (2, 1), (1, 2), 1, (3, 2), (7, 8)),
    ((3, 2), (3, 2), (2, 1), 2, (4, 6), (9, 7)),
    ((1, 1), (2, 2), (1, 1), 3, (3, 3), (5, 4)),
    ((2, 2), (3, 3), (2, 2), 4, (4, 8), (8, 9)),   # stride larger than the kernel
]


@pytest.mark.parametrize("kernel, stride, dilation, groups, channels, size", GEOMETRIES, ids=str)
def test_plain_conv2d_and_its_backward_match_torch(kernel, stride, dilation, groups, channels, size, nn_rng):
    x = nn_rng.standard_normal((2, channels[0]) + size)
    weight = nn_rng.standard_normal((channels[1], channels[0] // groups) + kernel)
    y = im2col.conv2d(x, weight, stride, dilation, groups)
    x_torch, w_torch = (torch.from_numpy(a).requires_grad_() for a in (x, weight))
    y_torch = F.conv2d(x_torch, w_torch, stride=stride, dilation=dilation, groups=groups)
    grad_output = nn_rng.standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(grad_output))
    grad_x, grad_weight = im2col.conv2d_backward(x, weight, grad_output, stride, dilation, groups)
    assert_close(y, y_torch, 1e-12, "output")
    assert_close(grad_x, x_torch.grad, 1e-12, "input gradient")
    assert_close(grad_weight, w_torch.grad, 1e-12, "weight gradient")


@pytest.mark.parametrize("kernel, stride, dilation, groups, channels, size", GEOMETRIES, ids=str)
def test_fast_forms_equal_the_plain_ones(kernel, stride, dilation, groups, channels, size, nn_rng):
    """im2col_channels_last is im2col with its columns reordered (c, p, q) -> (p, q, c); col2im_windows is
    col2im then the padding cut off; the grouped matrices are the per-group slices of conv2d's loop."""
    pads = ((1, 2), (0, 1))
    x = nn_rng.standard_normal((2, channels[0]) + size)
    x_pad = numpy.pad(x, ((0, 0), (0, 0)) + pads)
    plain = im2col.im2col(x_pad, kernel, stride, dilation)
    fast = im2col_fast.im2col_channels_last(x, kernel, stride, dilation, pads)
    c, area = channels[0], kernel[0] * kernel[1]
    assert_close(fast, plain.reshape(-1, c, area).transpose(0, 2, 1).reshape(plain.shape), 0.0, "columns")

    columns_grad = nn_rng.standard_normal(plain.shape)
    grad_plain = im2col.col2im(columns_grad, x_pad.shape, kernel, stride, dilation)
    n, out_size = x.shape[0], im2col.output_size(x_pad.shape[2:], kernel, stride, dilation)
    window_grads = im2col_fast.columns_to_windows(
        columns_grad.reshape(-1, c, area).transpose(0, 2, 1).reshape(plain.shape), n, out_size, c, kernel)
    for channels_last in (True, False):
        grad_fast = im2col_fast.col2im_windows(window_grads, x.shape, stride, dilation, pads, channels_last)
        assert_close(grad_fast, grad_plain[:, :, 1:-2, 0:-1], 1e-14, "col2im")

    weight = nn_rng.standard_normal((channels[1], c // groups) + kernel)
    grouped = im2col_fast.group_columns(fast, area, groups) @ im2col_fast.weight_matrices(weight, groups).transpose(0, 2, 1)
    y_fast = im2col_fast.ungroup_rows(grouped).reshape((n,) + out_size + (channels[1],)).transpose(0, 3, 1, 2)
    assert_close(y_fast, im2col.conv2d(x_pad, weight, stride, dilation, groups), 1e-13, "grouped product")
    assert_close(im2col_fast.ungroup_columns(im2col_fast.group_columns(fast, area, groups), area), fast, 0.0, "ungroup")
    assert_close(im2col_fast.weight_from_matrices(im2col_fast.weight_matrices(weight, groups), weight.shape), weight, 0.0)


@pytest.mark.parametrize("mode", padding.MODES)
@pytest.mark.parametrize("pads", [((1, 2), (2, 0)), ((3, 3), (1, 1)), ((0, 0), (4, 3))], ids=str)
def test_padding_and_its_adjoint_match_torch(mode, pads, nn_rng):
    x = nn_rng.standard_normal((2, 3, 4, 5))
    torch_mode = "constant" if mode == "zeros" else mode
    torch_pads = pads[1] + pads[0]   # torch lists the last axis first
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = F.pad(x_torch, torch_pads, mode=torch_mode)
    y = padding.pad(x, pads, mode)
    grad_output = nn_rng.standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(grad_output))
    assert_close(y, y_torch, 0.0, "padded")
    assert_close(padding.pad_backward(grad_output, pads, mode), x_torch.grad, 1e-14, "adjoint")


@pytest.mark.parametrize("blocks", [(2, 2), (3, 1), (1, 4)])
def test_nearest_fast_forms_equal_the_matrix_products(blocks, nn_rng):
    x = nn_rng.standard_normal((2, 3, 4, 5))
    rows, cols = (upsampling.nearest_matrix(s, s * b, 1.0 / b) for s, b in zip(x.shape[2:], blocks))
    assert_close(upsampling._repeat_forward(x, blocks), rows @ x @ cols.T, 0.0, "forward")
    grad_output = nn_rng.standard_normal((2, 3) + tuple(s * b for s, b in zip(x.shape[2:], blocks)))
    assert_close(upsampling._block_sum_backward(grad_output, blocks), rows.T @ grad_output @ cols, 1e-14, "backward")


@pytest.mark.parametrize("size, out, align_corners", list(itertools.product([1, 3, 4], [1, 5, 8], [False, True])))
def test_bilinear_matrix_rows_are_the_interpolation_weights(size, out, align_corners):
    """Every row sums to 1 and the matrix equals torch's interpolation of the identity."""
    matrix = upsampling.bilinear_matrix(size, out, size / out, align_corners, numpy.dtype("float64"))
    identity = torch.eye(size, dtype=torch.float64)[None, :, :, None]  # (1, size, size, 1): channel k = e_k
    expected = F.interpolate(identity, size=(out, 1), mode="bilinear", align_corners=align_corners)[0, :, :, 0].T
    numpy.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-15)
    assert_close(matrix, expected, 1e-15, "weights")
