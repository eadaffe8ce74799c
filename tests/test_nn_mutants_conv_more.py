"""More convolution, padding, pooling and upsampling checks that mutation testing found unreached
(tests/mutation/mutants.py, target nn.conv): float32 in the plain im2col forms, padding on one side or one
axis only, the memory layout each layer hands on, refusals in full, max pooling's indices with
per-axis padding and dilation, and the resizing cases torch treats specially."""
import numpy
import pytest
import torch
import torch.nn.functional as F

import nn
from conftest import assert_close
from nn import im2col, im2col_fast, padding, upsampling


def _raises(message, function, *args):
    with pytest.raises(ValueError) as caught:
        function(*args)
    assert str(caught.value) == message


def _channels_last(x):
    """The same (N, C, H, W) values with channels-last memory, as a convolution's output has."""
    return numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _is_channels_last(x):
    return x.transpose(0, 2, 3, 1).flags.c_contiguous


def test_plain_im2col_and_col2im_keep_float32(nn_rng):
    x_pad = nn_rng.standard_normal((2, 3, 5, 4)).astype("float32")
    columns = im2col.im2col(x_pad, (2, 2), (1, 1), (1, 1))
    assert columns.dtype == numpy.float32
    assert im2col.col2im(columns, x_pad.shape, (2, 2), (1, 1), (1, 1)).dtype == numpy.float32


@pytest.mark.parametrize("pads", [((1, 0), (0, 0)), ((0, 1), (0, 0)), ((0, 0), (1, 0)), ((0, 0), (0, 1))], ids=str)
def test_channels_last_columns_pad_an_input_on_one_side_only(pads, nn_rng):
    """A channels-last input is read in place only when there is no padding at all."""
    x = _channels_last(nn_rng.standard_normal((2, 3, 4, 5)))
    plain = im2col.im2col(numpy.pad(x, ((0, 0), (0, 0)) + pads), (2, 2), (1, 1), (1, 1))
    fast = im2col_fast.im2col_channels_last(x, (2, 2), (1, 1), (1, 1), pads)
    assert_close(fast, plain.reshape(-1, 3, 4).transpose(0, 2, 1).reshape(plain.shape), 0.0, "columns")


def test_convolutions_hand_on_channels_last_memory(nn_rng):
    """A convolution's input gradient and a transposed convolution's output keep the columns' pixel-major
    layout, which the next convolution reads without a copy."""
    conv = nn.Conv2d(3, 4, 3, dtype="float64")
    y = conv(nn_rng.standard_normal((2, 3, 6, 5)))
    assert _is_channels_last(conv.backward(numpy.ones(y.shape)))
    assert _is_channels_last(nn.ConvTranspose2d(3, 4, 3, stride=2, dtype="float64")(nn_rng.standard_normal((2, 3, 4, 5))))


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2)], ids=repr)
def test_pooling_input_gradients_keep_channels_first_memory(layer, nn_rng):
    y = layer(nn_rng.standard_normal((2, 3, 6, 4)))
    assert layer.backward(numpy.ones(y.shape)).flags.c_contiguous


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_only_the_rows_folds_back_as_torch(mode, nn_rng):
    x = torch.from_numpy(nn_rng.standard_normal((2, 3, 4, 5))).requires_grad_()
    y = F.pad(x, (0, 0, 2, 1), mode=mode)    # torch lists the columns first
    grad_output = nn_rng.standard_normal(tuple(y.shape))
    y.backward(torch.from_numpy(grad_output))
    assert_close(padding.pad_backward(grad_output, ((2, 1), (0, 0)), mode), x.grad, 1e-14)


@pytest.mark.parametrize("mode", padding.MODES)
@pytest.mark.parametrize("size", [1, 2, 3])
def test_source_index_of_a_position_inside_the_input_is_that_pixel(mode, size):
    for before in (0, 1):
        assert [padding.source_index(before + i, before, size, mode) for i in range(size)] == list(range(size))


@pytest.mark.parametrize("layer, shape, message", [
    (nn.MaxPool2d(5, 1, 1), (1, 1, 1, 8), "MaxPool2d(kernel_size=5, stride=1, padding=1, dilation=1, ceil_mode=False): "
     "kernel 5x5 is larger than the padded input 3x10 (input 1x8, padding ((1, 1), (1, 1))); use a larger input, "
     "a smaller kernel or more padding"),
    (nn.AvgPool2d((5, 1), 1, (1, 0)), (1, 1, 2, 3), "AvgPool2d(kernel_size=(5, 1), stride=1, padding=(1, 0)): "
     "kernel 5x1 is larger than the padded input 4x3 (input 2x3, padding ((1, 1), (0, 0))); use a larger input, "
     "a smaller kernel or more padding"),
], ids=["MaxPool2d", "AvgPool2d"])
def test_pooling_refuses_a_kernel_beyond_the_padded_input_naming_the_layer(layer, shape, message):
    _raises(message, layer, numpy.zeros(shape))
    with pytest.raises(RuntimeError):  # torch refuses it too
        getattr(torch.nn, type(layer).__name__)(layer.kernel_size, layer.stride, layer.padding)(torch.zeros(shape))


def test_avg_pool_ceil_mode_reaching_past_the_rows_only_matches_torch(nn_rng):
    """5 rows, windows of 2: ceil_mode adds a window over the last row and one past it; 4 columns fit exactly."""
    x = nn_rng.standard_normal((2, 2, 5, 4))
    layer, reference = nn.AvgPool2d(2, ceil_mode=True), torch.nn.AvgPool2d(2, ceil_mode=True)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y, y_torch = layer(x), reference(x_torch)
    grad_output = nn_rng.standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(grad_output))
    assert_close(y, y_torch, 1e-14, "output")
    assert_close(layer.backward(grad_output), x_torch.grad, 1e-14, "input gradient")


def test_max_pool_indices_with_padding_and_dilation_on_the_rows_only(nn_rng):
    arguments = ((3, 2), 1, (1, 0), (2, 1), True)
    x = nn_rng.standard_normal((2, 2, 7, 5))
    y, indices = nn.MaxPool2d(*arguments)(x)
    y_torch, indices_torch = torch.nn.MaxPool2d(*arguments)(torch.from_numpy(x))
    numpy.testing.assert_array_equal(indices, indices_torch.numpy())
    numpy.testing.assert_array_equal(y, y_torch.numpy())


def test_bilinear_copies_an_axis_whose_size_is_unchanged_whatever_the_scale(nn_rng):
    """floor(4 * 1.2) = 4 rows: torch copies them rather than sampling at 1 / 1.2 steps."""
    x = nn_rng.standard_normal((1, 2, 4, 5))
    ours = nn.Upsample(scale_factor=(1.2, 2.0), mode="bilinear")(x)
    assert_close(ours, torch.nn.Upsample(scale_factor=(1.2, 2.0), mode="bilinear")(torch.from_numpy(x)), 1e-14)


def test_upsample_refuses_a_mode_torch_lacks_too():
    _raises("Upsample: mode='cubic' is not supported; use one of ('nearest', 'bilinear')",
            nn.Upsample, None, 2, "cubic")


def test_upsample_to_an_empty_image_is_refused_in_full():
    layer = nn.Upsample(scale_factor=0.2)
    _raises("Upsample(scale_factor=0.2, mode='nearest'): an input of size (4, 6) gives an output of size (0, 1); "
            "use a larger scale_factor or size", layer, numpy.zeros((1, 1, 4, 6)))


def test_nearest_whole_factor_backward_keeps_an_infinite_gradient_at_its_source():
    """The block sum adds an inf to one input pixel only, as torch (a product with the one-hot matrices
    would spread 0 * inf = NaN over its row and column)."""
    layer = nn.Upsample(scale_factor=2)
    x = torch.zeros((1, 1, 3, 3), dtype=torch.float64, requires_grad=True)
    grad_output = numpy.ones((1, 1, 6, 6))
    grad_output[0, 0, 2, 3] = numpy.inf
    layer(x.detach().numpy())
    torch.nn.Upsample(scale_factor=2)(x).backward(torch.from_numpy(grad_output))
    numpy.testing.assert_array_equal(layer.backward(grad_output), x.grad.numpy())


@pytest.mark.parametrize("arguments, shape", [((None, 1.5), (1, 1, 4, 3)), ((None, 0.6), (1, 1, 5, 7)),
                                              (((7, 2), None), (1, 1, 3, 5))], ids=str)
def test_nearest_backward_keeps_an_infinite_gradient_at_its_source(arguments, shape):
    """Any ratio, up or down: an input pixel sums its copies' gradients, and no other pixel sees the inf."""
    layer = nn.Upsample(*arguments)
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    y = layer(x.detach().numpy())
    grad_output = numpy.arange(float(y.size)).reshape(y.shape)   # whole numbers: every sum is exact
    grad_output[0, 0, -1, 0] = numpy.inf
    torch.nn.Upsample(*arguments)(x).backward(torch.from_numpy(grad_output))
    numpy.testing.assert_array_equal(layer.backward(grad_output), x.grad.numpy())


@pytest.mark.parametrize("size, out", [(4, 6), (5, 3), (3, 7), (2, 2), (1, 3)])
def test_source_sum_is_the_transposed_one_hot_product(size, out, nn_rng):
    matrix = upsampling.nearest_matrix(size, out, size / out)
    grad = nn_rng.standard_normal((2, 3, out, 4))
    assert_close(upsampling._source_sum(grad, matrix.argmax(axis=1), size, 2),
                 numpy.einsum("is,ncij->ncsj", matrix, grad), 1e-15)


def test_nearest_backward_at_a_fractional_ratio_stays_float32(nn_rng):
    layer = nn.Upsample(scale_factor=1.5)
    y = layer(nn_rng.standard_normal((1, 2, 4, 3)).astype("float32"))
    assert layer.backward(numpy.ones(y.shape, dtype="float32")).dtype == numpy.float32


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
def test_initialization_draws_from_the_generator_given(kind):
    def build(seed):
        return getattr(nn, kind)(2, 3, 3, rng=numpy.random.default_rng(seed)).state_dict()
    first, again, other = build(11), build(11), build(12)
    for name in first:  # the same seed gives the same weights whatever the shared generator did in between
        numpy.testing.assert_array_equal(first[name], again[name])
        assert not numpy.array_equal(first[name], other[name])


@pytest.mark.parametrize("size, axis", [((2, 5), 2), ((5, 2), 3)])
def test_reflect_padding_too_large_along_either_axis_alone_is_refused(size, axis):
    layer = nn.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")
    with pytest.raises(ValueError) as caught:
        layer(numpy.zeros((1, 1) + size, dtype="float32"))
    assert str(caught.value) == (f"{layer!r}: padding_mode='reflect' needs a padding smaller than the input size; "
                                 "padding (2, 2) on an axis of size 2: use less padding or 'replicate'")
    with pytest.raises(RuntimeError, match=f"at dimension {axis}"):  # torch refuses the same input
        torch.nn.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(torch.zeros((1, 1) + size))
