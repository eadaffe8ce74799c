"""Convolution, pooling and upsampling checks that mutation testing found unreached (benchmarks/mutants.py,
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
    (lambda: nn.AvgPool2d(2, count_include_pad=1), ValueError,
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
