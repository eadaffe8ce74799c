"""MaxPool2d, AvgPool2d and Upsample against torch in float64 (forward, input gradient, random upstream
gradients) over grids of their options: kernel, stride (above the kernel too), padding up to half the
kernel, dilation, ceil_mode (with dilation), return_indices, count_include_pad, divisor_override; sizes,
scale factors (whole and fractional, up and down), nearest and bilinear with and without align_corners;
odd and unbatched inputs; on NumPy and strict arrays. Ties and NaN as torch; finite differences."""
import itertools
import math
import re
from dataclasses import dataclass

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import BACKENDS, DTYPES, check_against_torch

NUMPY_AND_STRICT = BACKENDS[:2]


@dataclass(frozen=True)
class LayerCase:
    """A parameter-free layer: its class name, positional arguments (torch's order) and the input shape."""
    kind: str
    arguments: tuple
    shape: tuple

    def ours(self):
        return getattr(nn, self.kind)(*self.arguments)

    def reference(self):
        return getattr(torch.nn, self.kind)(*self.arguments)

    def __str__(self):
        return f"{self.kind}{self.arguments}@{'x'.join(map(str, self.shape))}"


def max_pool_accepts(kernel, stride, padding, dilation):
    """torch's limit: padding at most half the dilated kernel's reach."""
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    return all(padding <= (dilation * (k - 1) + 1) // 2 for k in kernel)


SHAPES = [(2, 3, 7, 9), (3, 6, 5)]   # odd sizes, and an unbatched (C, H, W) input
MAX_POOL_CASES = [
    LayerCase("MaxPool2d", (kernel, stride, padding, dilation, False, ceil_mode), shape)
    for kernel, stride, padding, dilation, ceil_mode, shape in itertools.product(
        [2, 3, (2, 3)], [None, 1, 4], [0, 1], [1, 2], [False, True], SHAPES)
    if max_pool_accepts(kernel, stride, padding, dilation)
]
AVG_POOL_CASES = [
    LayerCase("AvgPool2d", (kernel, stride, padding, ceil_mode, count_include_pad, divisor), shape)
    for kernel, stride, padding, ceil_mode, count_include_pad, divisor, shape in itertools.product(
        [2, 3, (3, 2)], [None, 1, 4], [0, 1], [False, True], [True, False], [None, 3], SHAPES[:1])
    if max_pool_accepts(kernel, stride, padding, 1)
] + [LayerCase("AvgPool2d", (3, 2, 1, True, False), (3, 6, 5)), LayerCase("AvgPool2d", (5, 2, 2), (2, 2, 9, 8))]
UPSAMPLE_CASES = [
    LayerCase("Upsample", (size, scale, mode, align_corners), shape)
    for (size, scale), mode, align_corners, shape in itertools.product(
        [(None, 2), (None, 3), (None, (2, 3)), (None, 1.5), (None, (0.5, 2.7)), (None, 0.6), ((9, 5), None), (4, None)],
        ["nearest", "bilinear"], [None, False, True], [(2, 3, 4, 5), (1, 2, 2, 3)])
    if mode == "bilinear" or align_corners is None
] + [LayerCase("Upsample", (None, 2.5, "bilinear", False, True), (2, 2, 5, 3)),   # recompute_scale_factor
     LayerCase("Upsample", (None, 2.5, "nearest", None, True), (2, 2, 5, 3))]
CASES = MAX_POOL_CASES + AVG_POOL_CASES + UPSAMPLE_CASES


def distinct_values(rng, shape):
    """Inputs whose values all differ by at least 0.01: no ties, so max pooling is differentiable there
    (finite differences with eps = 1e-6 never change a window's maximum)."""
    return (rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) / 2) * 0.01


@pytest.mark.parametrize("backend", NUMPY_AND_STRICT)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch_in_float64(case, backend, nn_rng):
    check_against_torch(case.ours(), case.reference(), nn_rng.standard_normal(case.shape), backend, "float64", nn_rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [MAX_POOL_CASES[-1], AVG_POOL_CASES[-1], UPSAMPLE_CASES[0], UPSAMPLE_CASES[-3]],
                         ids=str)
def test_matches_torch_in_each_dtype_and_backend(case, dtype, backend, nn_rng):
    x = nn_rng.standard_normal(case.shape).astype(dtype)
    check_against_torch(case.ours(), case.reference(), x, backend, dtype, nn_rng)


@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=str)
def test_max_pool_indices_match_torch(case, nn_rng):
    kernel, stride, padding, dilation, _, ceil_mode = case.arguments
    arguments = (kernel, stride, padding, dilation, True, ceil_mode)
    x = nn_rng.integers(0, 3, case.shape).astype("float64")   # ties everywhere: the first maximum is the index
    y, indices = nn.MaxPool2d(*arguments)(x)
    y_torch, indices_torch = torch.nn.MaxPool2d(*arguments)(torch.from_numpy(x))
    assert indices.dtype == numpy.int64 and indices.shape == tuple(indices_torch.shape)
    numpy.testing.assert_array_equal(indices, indices_torch.numpy())
    numpy.testing.assert_array_equal(y, y_torch.numpy())


@pytest.mark.parametrize("backend", NUMPY_AND_STRICT)
@pytest.mark.parametrize("case", [case for case in MAX_POOL_CASES if case.shape == SHAPES[0]], ids=str)
def test_max_pool_ties_match_torch(case, backend, nn_rng):
    """Values from {0, 1, 2}: most windows hold several maxima; the gradient goes to the first, as in torch."""
    x = nn_rng.integers(0, 3, case.shape).astype("float64")
    check_against_torch(case.ours(), case.reference(), x, backend, "float64", nn_rng)


def test_max_pool_with_padding_never_picks_the_padding():
    """A window of -inf pixels and padding: the maximum is -inf and its index an input pixel, as torch."""
    x = numpy.full((1, 1, 3, 3), -numpy.inf)
    y, indices = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    y_torch, indices_torch = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.from_numpy(x))
    numpy.testing.assert_array_equal(indices, indices_torch.numpy())
    numpy.testing.assert_array_equal(y, y_torch.numpy())


def test_max_pool_propagates_nan_like_torch(nn_rng):
    """A NaN is its window's maximum: the output is NaN and the gradient goes to the NaN."""
    x = numpy.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = numpy.nan
    pool = nn.MaxPool2d(2)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y, y_torch = pool(x), torch.nn.MaxPool2d(2)(x_torch)
    grad_output = nn_rng.standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(grad_output))
    assert numpy.isnan(y[0, 0, 0, 0]) and torch.isnan(y_torch[0, 0, 0, 0])
    assert_close(y[..., 1:, :], y_torch[..., 1:, :], 0.0)
    assert_close(pool.backward(grad_output), x_torch.grad, 0.0, "input gradient")


def test_nearest_upsampling_keeps_infinities():
    x = numpy.array([[[[1.0, numpy.inf, -2.0]]]])
    for arguments in ((None, 1.5), ((2, 4), None)):
        expected = torch.nn.Upsample(*arguments)(torch.from_numpy(x)).numpy()
        numpy.testing.assert_array_equal(nn.Upsample(*arguments)(x), expected)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.MaxPool2d(2), (2, 2, 5, 4)), (lambda: nn.MaxPool2d(3, 2), (2, 2, 5, 4)),
    (lambda: nn.MaxPool2d((2, 3), 1), (2, 2, 5, 4)), (lambda: nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True), (2, 2, 6, 7)),
    (lambda: nn.MaxPool2d(2, 3, 1, ceil_mode=True), (3, 5, 6)),
    (lambda: nn.AvgPool2d(3, 2, 1, True, False), (2, 2, 6, 5)), (lambda: nn.AvgPool2d(2, 1, 1, divisor_override=3), (2, 2, 3, 4)),
    (lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 4)), (lambda: nn.Upsample(scale_factor=(3, 2)), (2, 2, 3, 4)),
    (lambda: nn.Upsample((5, 3)), (2, 2, 3, 4)),
    (lambda: nn.Upsample(scale_factor=1.7, mode="bilinear"), (2, 2, 3, 4)),
    (lambda: nn.Upsample((5, 2), mode="bilinear", align_corners=True), (2, 2, 3, 4)),
], ids=["MaxPool2d(2)", "MaxPool2d(3,2)", "MaxPool2d((2,3),1)", "MaxPool2d-dilation-ceil", "MaxPool2d-unbatched",
        "AvgPool2d-ceil-exclude-pad", "AvgPool2d-divisor", "Upsample(2)", "Upsample((3,2))", "Upsample-size",
        "Upsample-bilinear", "Upsample-bilinear-align_corners"])
def test_pass_gradcheck(make, shape, nn_rng):
    report = nn.gradcheck(make(), distinct_values(nn_rng, shape), mode="elementwise", atol=0.0)
    assert report.checks and all(check.relative_error <= 1e-6 for check in report.checks), str(report)


@pytest.mark.parametrize("build, message", [
    (lambda: nn.MaxPool2d("2"), "kernel_size must be an integer >= 1"),
    (lambda: nn.MaxPool2d(2, 0), "stride must be an integer >= 1"),
    (lambda: nn.MaxPool2d(3, 1, 2), r"padding \(2, 2\) must be at most half the kernel's reach \(3, 3\)"),
    (lambda: nn.MaxPool2d(2, dilation=0), "dilation must be an integer >= 1"),
    (lambda: nn.AvgPool2d(2, 2, 2), "padding"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), "divisor_override must be a non-zero integer"),
    (lambda: nn.Upsample(), "give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(4, 2), "give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(scale_factor=-1.5), "scale_factor must be a positive number"),
    (lambda: nn.Upsample((2, 0)), "size must be a positive integer"),
    (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), "mode='bicubic' is not supported"),
    (lambda: nn.Upsample(scale_factor=2, align_corners=True), "align_corners=True can only be"),
    (lambda: nn.Upsample(4, recompute_scale_factor=True), "recompute_scale_factor=True is not meaningful"),
])
def test_bad_arguments_are_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: nn.MaxPool2d(2, ceil_mode=1), "MaxPool2d: ceil_mode must be True or False, got 1"),
    (lambda: nn.AvgPool2d(2, count_include_pad="yes"), "AvgPool2d: count_include_pad must be True or False, got 'yes'"),
])
def test_a_flag_that_is_not_a_bool_is_a_type_error(build, message):
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        build()


def test_inputs_torch_refuses_are_clear_errors():
    with pytest.raises(ValueError, match=r"kernel 3x3 is larger than the padded input 2x4"):
        nn.MaxPool2d(3)(numpy.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError, match=r"kernel 2x2 dilated by \(3, 3\) \(reach 4x4\) is larger"):
        nn.MaxPool2d(2, dilation=3)(numpy.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r"3-D input \(2, 3, 4\), which torch reads as \(N, C, L\)"):
        nn.Upsample(scale_factor=2)(numpy.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"an input of size \(1, 1\) gives an output of size \(0, 0\)"):
        nn.Upsample(scale_factor=0.5)(numpy.zeros((1, 1, 1, 1)))
    for layer, shape in ((nn.MaxPool2d(2), (3, 4, 4)), (nn.AvgPool2d(2), (1, 3, 4, 4)), (nn.Upsample(5), (1, 1, 2, 2))):
        y = layer(numpy.zeros(shape))
        with pytest.raises(ValueError, match=r"grad_output has shape .* but the output has " + re_shape(y.shape)):
            layer.backward(numpy.zeros((1,) + y.shape[1:]) if y.shape[0] != 1 else numpy.zeros((2,) + y.shape[1:]))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("kind, arguments", [
    ("MaxPool2d", (3, 2, 1, 1, False, True)), ("MaxPool2d", ((2, 3),)), ("AvgPool2d", (2,)),
    ("AvgPool2d", (3, 1, 1, True, False, 2)), ("Upsample", (None, 2)), ("Upsample", ((4, 5), None, "bilinear")),
    ("Upsample", (3, None, "bilinear", True)), ("Upsample", (None, (1.5, 2), "nearest")),
    ("Conv2d", (4, 6, 3)), ("Conv2d", (4, 6, (3, 2), 2, 1, 2, 2, False, "reflect")),
    ("Conv2d", (4, 6, 3, 1, "same")), ("ConvTranspose2d", (4, 6, 3, 2, 1, 1, 2, False, 2)),
], ids=str)
def test_repr_is_torchs(kind, arguments):
    assert repr(getattr(nn, kind)(*arguments)) == repr(getattr(torch.nn, kind)(*arguments))
