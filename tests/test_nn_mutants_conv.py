"""Convolution, pooling and upsampling checks that mutation testing found unreached (tests/mutation/mutants.py,
target nn.conv): each refusal's whole message, torch's defaults and boundaries (a transposed output of
exactly 0, reflect and circular padding), backward before forward or after a move, accumulated and
float32 gradients, and one Upsample used on inputs of several sizes."""
import numpy
import pytest
import torch

import nn
from conftest import assert_close


def _raises(error, message, function, *args, **kwargs):
    with pytest.raises(error) as caught:
        function(*args, **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize("build, error, message", [
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect"), ValueError,
     "ConvTranspose2d: padding_mode='reflect' is not supported (torch too supports only 'zeros')"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding=-1), ValueError,
     "ConvTranspose2d: padding must be an integer >= 0 or a pair of them, got -1"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, output_padding=(0, -1)), ValueError,
     "ConvTranspose2d: output_padding must be an integer >= 0 or a pair of them, got (0, -1)"),
    (lambda: nn.AvgPool2d(2, count_include_pad=1), TypeError,  # a flag's wrong type, as every layer's
     "AvgPool2d: count_include_pad must be True or False, got 1"),
    (lambda: nn.AvgPool2d(2, divisor_override=2.5), ValueError,
     "AvgPool2d: divisor_override must be a non-zero integer or None, got 2.5"),
    (lambda: nn.AvgPool2d(2, divisor_override=True), ValueError,
     "AvgPool2d: divisor_override must be a non-zero integer or None, got True"),
    (lambda: nn.Upsample(), ValueError, "Upsample: give exactly one of size and scale_factor, got size=None, "
     "scale_factor=None"),
    (lambda: nn.Upsample(scale_factor=2, align_corners=True), ValueError,
     "Upsample: align_corners=True can only be True or False with mode='bilinear' (leave it None for 'nearest')"),
    (lambda: nn.Upsample(scale_factor=2, recompute_scale_factor="yes"), ValueError,
     "Upsample: recompute_scale_factor must be True, False or None, got 'yes'"),
    (lambda: nn.Upsample(size=4, recompute_scale_factor=True), ValueError,
     "Upsample: recompute_scale_factor=True is not meaningful with an explicit size"),
    (lambda: nn.Upsample(scale_factor=(2, True)), ValueError,
     "Upsample: scale_factor must be a positive number or a pair of them, got (2, True)"),
])
def test_every_refusal_is_one_line_naming_the_value(build, error, message):
    _raises(error, message, build)


def test_upsample_takes_recompute_scale_factor_false_and_a_list_size():
    assert nn.Upsample(scale_factor=2, recompute_scale_factor=False).recompute_scale_factor is False
    assert nn.Upsample(size=[4, 6]).size == (4, 6)


def test_upsample_refuses_a_3d_input_saying_why():
    layer = nn.Upsample(scale_factor=2)
    _raises(ValueError, "Upsample(scale_factor=2.0, mode='nearest'): got a 3-D input (1, 2, 3), which torch reads as "
            "(N, C, L) for 1-D resizing; give a 4-D (N, C, H, W) image (x[None] adds the batch axis)",
            layer, numpy.ones((1, 2, 3)))


def test_transposed_default_stride_is_torchs():
    ours, theirs = nn.ConvTranspose2d(2, 3, 3), torch.nn.ConvTranspose2d(2, 3, 3)
    for option in ("stride", "padding", "output_padding", "dilation", "groups"):
        assert tuple(numpy.atleast_1d(getattr(ours, option))) == tuple(numpy.atleast_1d(getattr(theirs, option)))


def test_a_transposed_output_of_exactly_zero_is_refused_and_one_is_taken():
    layer = nn.ConvTranspose2d(1, 1, 3, padding=2, dtype="float64")  # (H - 1) - 4 + 2 + 1 = H - 2
    _raises(ValueError, "ConvTranspose2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2)): an input of "
            "size (2, 5) gives an output of size (0, 3); use less padding or a larger input",
            layer, numpy.ones((1, 1, 2, 5)))
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.nn.ConvTranspose2d(1, 1, 3, padding=2)(torch.ones(1, 1, 2, 5))
    assert layer(numpy.ones((1, 1, 3, 5))).shape == (1, 1, 1, 3)


@pytest.mark.parametrize("mode, padding, size, message", [
    ("reflect", 3, 3, "padding_mode='reflect' needs a padding smaller than the input size; padding (3, 3) "
     "on an axis of size 3: use less padding or 'replicate'"),
    ("circular", 4, 3, "padding_mode='circular' needs a padding at most the input size; padding (4, 4) on "
     "an axis of size 3: use less padding"),
])
def test_padding_modes_refuse_what_torch_refuses(mode, padding, size, message):
    layer = nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode, dtype="float64")
    _raises(ValueError, f"{layer!r}: {message}", layer, numpy.ones((1, 1, size, size)))


@pytest.mark.parametrize("mode, padding, size", [("reflect", 2, 3), ("circular", 3, 3), ("zeros", 5, 2),
                                                 ("replicate", 5, 2)])
def test_padding_modes_take_what_torch_takes(mode, padding, size, nn_rng):
    ours = nn.Conv2d(1, 2, 3, padding=padding, padding_mode=mode, dtype="float64")
    theirs = torch.nn.Conv2d(1, 2, 3, padding=padding, padding_mode=mode, dtype=torch.float64)
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    x = nn_rng.standard_normal((2, 1, size, size))
    assert_close(ours(x), theirs(torch.from_numpy(x)), 1e-12)


SPATIAL = {
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, dtype="float64"), (2, 2, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, dtype="float64"), (2, 2, 4, 4)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2, padding=1), (2, 2, 5, 5)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 5, 5)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 2, 3, 4)),
}


@pytest.mark.parametrize("name", SPATIAL)
def test_backward_before_forward_or_after_a_move_says_to_call_forward(name, nn_rng):
    build, shape = SPATIAL[name]
    layer = build()
    message = f"{name}.backward called before forward: call the module on an input first"
    _raises(RuntimeError, message, layer.backward, numpy.ones(shape))
    y = layer(nn_rng.standard_normal(shape))
    layer.to(dtype="float32")
    _raises(RuntimeError, message, layer.backward, numpy.ones(y.shape, dtype="float32"))


@pytest.mark.parametrize("name", SPATIAL)
def test_float32_stays_float32_forward_and_backward(name, nn_rng):
    build, shape = SPATIAL[name]
    layer = build().to(dtype="float32")
    y = layer(nn_rng.standard_normal(shape).astype("float32"))
    grad = layer.backward(numpy.ones(y.shape, dtype="float32"))
    assert y.dtype == grad.dtype == numpy.float32
    for parameter in layer.parameters():
        assert parameter.grad.dtype == numpy.float32


@pytest.mark.parametrize("transposed", [False, True])
def test_grouped_rectangular_kernels_accumulate_gradients_as_torch(transposed, nn_rng):
    ours_class, torch_class = (nn.ConvTranspose2d, torch.nn.ConvTranspose2d) if transposed else \
        (nn.Conv2d, torch.nn.Conv2d)
    ours = ours_class(4, 6, (2, 3), stride=(2, 1), groups=2, dtype="float64")
    theirs = torch_class(4, 6, (2, 3), stride=(2, 1), groups=2, dtype=torch.float64)
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    for _ in range(2):  # two backward passes add up, as torch's do
        x = nn_rng.standard_normal((2, 4, 5, 6))
        y = ours(x)
        g = nn_rng.standard_normal(y.shape)
        theirs(torch.from_numpy(x)).backward(torch.from_numpy(g))
        ours.backward(g)
    assert_close(ours.weight.grad, theirs.weight.grad, 1e-10)
    assert_close(ours.bias.grad, theirs.bias.grad, 1e-10)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_one_upsample_serves_inputs_of_several_sizes_as_torch(mode, nn_rng):
    ours, theirs = nn.Upsample(scale_factor=2, mode=mode), torch.nn.Upsample(scale_factor=2, mode=mode)
    for shape in [(1, 2, 3, 3), (2, 1, 4, 5), (1, 2, 3, 3)]:
        x = nn_rng.standard_normal(shape)
        assert_close(ours(x), theirs(torch.from_numpy(x)), 1e-12)


@pytest.mark.parametrize("build, fan_in", [(lambda: nn.Conv2d(6, 400, (1, 2), groups=2,
                                                               rng=numpy.random.default_rng(0)), 3 * 2),
                                           (lambda: nn.ConvTranspose2d(4, 400, (1, 2), groups=2,
                                                                       rng=numpy.random.default_rng(0)), 200 * 2)])
def test_default_initialization_follows_torchs_distribution(build, fan_in):
    """Weight and bias uniform on (-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's fan_in (weight.shape[1] * kH * kW)."""
    layer = build()
    theirs = getattr(torch.nn, type(layer).__name__)(layer.in_channels, layer.out_channels, layer.kernel_size,
                                                     groups=layer.groups)
    bound = 1 / numpy.sqrt(fan_in)
    for name, value in layer.state_dict().items():
        for sample in (value, theirs.state_dict()[name].numpy()):
            assert numpy.abs(sample).max() <= bound
        # 400 biases, 1200 to 1600 weights: the extremes near the bound, the spread bound / sqrt(3), centred
        assert numpy.abs(value).max() > 0.95 * bound
        assert abs(value.std() - bound / numpy.sqrt(3)) < 0.1 * bound
        assert abs(value.mean()) < 0.1 * bound


@pytest.mark.parametrize("build, message", [
    (lambda: nn.MaxPool2d(0), "MaxPool2d: kernel_size must be an integer >= 1 or a pair of them, got 0"),
    (lambda: nn.AvgPool2d(2, stride=(1, 0)), "AvgPool2d: stride must be an integer >= 1 or a pair of them, got (1, 0)"),
    (lambda: nn.MaxPool2d(2, padding=-1), "MaxPool2d: padding must be an integer >= 0 or a pair of them, got -1"),
    (lambda: nn.MaxPool2d(2, dilation=0), "MaxPool2d: dilation must be an integer >= 1 or a pair of them, got 0"),
    (lambda: nn.Conv2d(0, 1, 3), "Conv2d: in_channels must be a positive integer, got 0"),
    (lambda: nn.ConvTranspose2d(1, 0, 3), "ConvTranspose2d: out_channels must be a positive integer, got 0"),
    (lambda: nn.Conv2d(1, 1, 0), "Conv2d: kernel_size must be an integer >= 1 or a pair of them, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, stride=0), "Conv2d: stride must be an integer >= 1 or a pair of them, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, dilation=(1, 0)),
     "Conv2d: dilation must be an integer >= 1 or a pair of them, got (1, 0)"),
    (lambda: nn.Conv2d(1, 1, 3, groups=0), "Conv2d: groups must be a positive integer, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, padding=(1, -1)), "Conv2d: padding must be an integer >= 0 or a pair of them, "
     "got (1, -1)"),
])
def test_constructor_refusals_name_the_layer_and_the_value(build, message):
    _raises(ValueError, message, build)


@pytest.mark.parametrize("build, message", [
    (lambda: nn.MaxPool2d(2, ceil_mode=1), "MaxPool2d: ceil_mode must be True or False, got 1"),
    (lambda: nn.MaxPool2d(2, return_indices="yes"), "MaxPool2d: return_indices must be True or False, got 'yes'"),
    (lambda: nn.Conv2d(1, 1, 3, bias=1), "Conv2d: bias must be True or False, got 1"),
])
def test_a_flag_of_another_type_is_a_type_error_naming_the_layer_and_the_value(build, message):
    _raises(TypeError, message, build)


def test_pooling_padding_beyond_half_the_kernel_is_refused_as_torch():
    with pytest.raises(ValueError) as caught:
        nn.MaxPool2d(3, padding=2)
    assert str(caught.value).startswith("MaxPool2d: padding (2, 2) must be at most half the kernel's reach")
    assert str(caught.value).endswith("(torch's limit); use less padding or a larger kernel")


def test_a_kernel_larger_than_the_input_names_its_reach():
    layer = nn.Conv2d(1, 1, (3, 2), dilation=(2, 1), dtype="float64")
    _raises(ValueError, f"{layer!r}: kernel 3x2 dilated by (2, 1) (reach 5x2) is larger than the padded input 4x4 "
            "(input 4x4, padding ((0, 0), (0, 0))); use a larger input, a smaller kernel or more padding",
            layer, numpy.ones((1, 1, 4, 4)))


def test_an_unbatched_input_without_an_input_gradient_gives_none():
    layer = nn.Conv2d(2, 3, 3, dtype="float64")
    layer.needs_input_grad = False
    y = layer(numpy.ones((2, 5, 5)))
    assert layer.backward(numpy.ones(y.shape)) is None and layer.weight.grad.any()


@pytest.mark.parametrize("layer", ["MaxPool2d", "AvgPool2d-include", "AvgPool2d-exclude"])
@pytest.mark.parametrize("size", [5, 6, 7])
def test_ceil_mode_with_padding_is_torchs(layer, size, nn_rng):
    options = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    if layer != "MaxPool2d":
        options["count_include_pad"] = layer.endswith("include")
    name = layer.split("-")[0]
    ours, theirs = getattr(nn, name)(**options), getattr(torch.nn, name)(**options)
    x = nn_rng.standard_normal((2, 3, size, size + 1))
    reference = torch.from_numpy(x).requires_grad_()
    expected = theirs(reference)
    g = nn_rng.standard_normal(tuple(expected.shape))
    expected.backward(torch.from_numpy(g))
    assert_close(ours(x), expected, 1e-12)
    assert_close(ours.backward(g), reference.grad, 1e-12)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (2, 7), (7, 3), (6, 8)])
def test_bilinear_to_any_size_is_torchs(size, align_corners, nn_rng):
    x = nn_rng.standard_normal((1, 2, 3, 4))
    ours = nn.Upsample(size=size, mode="bilinear", align_corners=align_corners)
    theirs = torch.nn.Upsample(size=size, mode="bilinear", align_corners=align_corners)
    assert_close(ours(x), theirs(torch.from_numpy(x)), 1e-12)


@pytest.mark.parametrize("size", [(3, 4), (6, 8), (5, 9), (2, 3), (9, 12)])
def test_nearest_to_any_size_is_torchs(size, nn_rng):
    x = nn_rng.standard_normal((1, 2, 3, 4))
    assert_close(nn.Upsample(size=size)(x), torch.nn.Upsample(size=size)(torch.from_numpy(x)), 0)
