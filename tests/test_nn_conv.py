"""Conv2d and ConvTranspose2d: finite differences in float64, torch parity (forward, input and parameter
gradients, random upstream gradients) over strides 1-3, paddings 0-2 and 'same'/'valid', kernels 1-5,
dilations, groups (depthwise too), padding modes, output paddings, rectangular and unbatched inputs,
with and without bias, in float32 and float64 on every backend; torch's default initialization; clear
errors; accumulation; speed. Pooling and upsampling: test_nn_pooling.py; signatures: test_nn_conv_api.py."""
import math
import time
from dataclasses import dataclass

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import BACKENDS, DTYPES, TORCH_DTYPES, check_against_torch, copy_torch_into_ours


# --- the cases -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvCase:
    """A convolution layer's arguments and its input's spatial size (H, W)."""
    kind: str            # "Conv2d" or "ConvTranspose2d"
    in_channels: int
    out_channels: int
    kernel_size: object
    stride: object = 1
    padding: object = 0
    output_padding: object = 0
    bias: bool = True
    size: tuple = (6, 6)
    dilation: object = 1
    groups: int = 1
    padding_mode: str = "zeros"
    unbatched: bool = False

    def arguments(self):
        arguments = dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, bias=self.bias,
                         dilation=self.dilation, groups=self.groups, padding_mode=self.padding_mode)
        if self.kind == "ConvTranspose2d":
            arguments["output_padding"] = self.output_padding
        return arguments

    def ours(self, dtype="float64", rng=None):
        return getattr(nn, self.kind)(self.in_channels, self.out_channels, dtype=dtype, rng=rng, **self.arguments())

    def reference(self, dtype="float64"):
        return getattr(torch.nn, self.kind)(self.in_channels, self.out_channels, dtype=TORCH_DTYPES[dtype],
                                            **self.arguments())

    def input_shape(self, batch):
        return (() if self.unbatched else (batch,)) + (self.in_channels,) + self.size

    def __str__(self):
        text = f"{self.kind}({self.in_channels},{self.out_channels},k{self.kernel_size},s{self.stride},p{self.padding}"
        if self.kind == "ConvTranspose2d":
            text += f",op{self.output_padding}"
        for short, value, default in (("d", self.dilation, 1), ("g", self.groups, 1), ("", self.padding_mode, "zeros")):
            text += f",{short}{value}" if value != default else ""
        size = f"{self.size[0]}x{self.size[1]}" + (",unbatched" if self.unbatched else "")
        return text + ("" if self.bias else ",nobias") + f")@{size}"


CONV_CASES = [
    ConvCase("Conv2d", 1, 4, 3, size=(8, 8)),
    ConvCase("Conv2d", 1, 16, 3, stride=2, padding=1, size=(28, 28)),        # the MNIST encoder's first layer
    ConvCase("Conv2d", 3, 5, 3, stride=2, padding=1, size=(9, 7)),
    ConvCase("Conv2d", 2, 3, 5, padding=2, bias=False, size=(6, 9)),
    ConvCase("Conv2d", 4, 2, 1, size=(5, 4)),
    ConvCase("Conv2d", 2, 6, 2, stride=2, size=(8, 6)),                        # windows that tile the input
    ConvCase("Conv2d", 3, 4, (3, 2), stride=(3, 1), padding=(2, 0), size=(10, 7)),
    ConvCase("Conv2d", 2, 2, 5, stride=3, padding=2, bias=False, size=(11, 13)),
    ConvCase("Conv2d", 5, 3, (1, 3), stride=(2, 3), padding=(0, 1), size=(7, 9)),
    ConvCase("Conv2d", 2, 3, 5, stride=2, size=(5, 5)),                        # kernel = input: a 1x1 output
    ConvCase("Conv2d", 1, 2, 3, stride=3, padding=1, size=(1, 2)),             # an input smaller than the kernel
    ConvCase("Conv2d", 3, 2, (3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), size=(9, 8)),
    ConvCase("Conv2d", 2, 4, 3, dilation=(3, 1), padding=(2, 1), size=(10, 5)),
    ConvCase("Conv2d", 4, 6, 3, padding=1, groups=2, size=(6, 7)),
    ConvCase("Conv2d", 6, 6, 3, stride=2, padding=1, groups=6, bias=False, size=(7, 7)),        # depthwise
    ConvCase("Conv2d", 3, 6, (2, 3), stride=(1, 2), groups=3, dilation=2, size=(7, 9)),        # channel multiplier 2
    ConvCase("Conv2d", 2, 3, 4, padding="same", size=(7, 6)),                 # even kernel: the extra pixel at the end
    ConvCase("Conv2d", 2, 3, (3, 5), padding="same", dilation=(2, 1), size=(6, 8)),
    ConvCase("Conv2d", 2, 3, 3, padding="valid", stride=2, size=(7, 6)),
    ConvCase("Conv2d", 3, 4, 3, padding=1, size=(5, 6), unbatched=True),
    ConvCase("Conv2d", 2, 4, 3, stride=4, padding=1, groups=2, size=(9, 11), unbatched=True),   # stride > kernel
    *[ConvCase("Conv2d", 2, 3, k, stride=s, padding=p, padding_mode=mode, size=(5, 6))
      for mode in ("reflect", "replicate", "circular")
      for k, s, p in ((3, 1, 1), (5, 2, (2, 1)), (2, 1, "same"), ((3, 4), 3, (1, 2)))],
    ConvCase("Conv2d", 4, 2, 3, padding=2, dilation=2, groups=2, padding_mode="reflect", size=(6, 5)),
    ConvCase("Conv2d", 2, 2, 3, padding=(3, 4), padding_mode="circular", size=(4, 4)),   # padding = input size
    ConvCase("ConvTranspose2d", 4, 1, 3, stride=2, padding=1, output_padding=1, size=(7, 7)),  # MNIST decoder
    ConvCase("ConvTranspose2d", 3, 2, 3, size=(5, 6)),
    ConvCase("ConvTranspose2d", 2, 3, 2, stride=2, bias=False, size=(4, 3)),
    ConvCase("ConvTranspose2d", 2, 4, 5, stride=3, padding=2, output_padding=2, size=(3, 4)),
    ConvCase("ConvTranspose2d", 3, 3, (3, 5), stride=(2, 3), padding=(1, 2), output_padding=(1, 0), size=(4, 5)),
    ConvCase("ConvTranspose2d", 1, 2, 1, size=(6, 5)),
    ConvCase("ConvTranspose2d", 2, 2, 3, stride=3, padding=2, output_padding=1, bias=False, size=(4, 4)),
    ConvCase("ConvTranspose2d", 3, 1, (2, 3), stride=(1, 2), padding=(0, 1), output_padding=(0, 1), size=(5, 3)),
    ConvCase("ConvTranspose2d", 2, 3, 3, stride=2, padding=2, size=(3, 3)),   # padding eats most of the output
    ConvCase("ConvTranspose2d", 4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, size=(4, 5)),
    ConvCase("ConvTranspose2d", 4, 4, 3, stride=2, groups=4, bias=False, size=(3, 3)),        # depthwise
    ConvCase("ConvTranspose2d", 3, 2, 3, stride=2, padding=2, dilation=2, output_padding=1, size=(4, 3)),
    ConvCase("ConvTranspose2d", 2, 3, (2, 3), stride=1, dilation=(3, 2), output_padding=(2, 1), size=(3, 4)),  # op < D
    ConvCase("ConvTranspose2d", 2, 4, 3, stride=4, padding=1, groups=2, dilation=(1, 2), size=(3, 2), unbatched=True),
]


# --- torch parity --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_convolution_matches_torch(case, dtype, backend, nn_rng):
    reference = case.reference(dtype)
    ours = case.ours(dtype)
    copy_torch_into_ours(reference, ours)
    ours = backend.module(ours)
    x = nn_rng.standard_normal(case.input_shape(int(nn_rng.integers(1, 5)))).astype(dtype)
    check_against_torch(ours, reference, x, backend, dtype, nn_rng)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_autoencoder_chain_matches_torch(backend, nn_rng):
    """Layers fed each other's outputs (whose memory is channels-last) and gradients, through Sequential,
    with in-place ReLUs on the convolutions' outputs as the convolutional autoencoder has them."""
    def build(library, **dtype):
        return library.Sequential(
            library.Conv2d(1, 4, 3, stride=2, padding=1, **dtype), library.ReLU(inplace=True),
            library.MaxPool2d(2),
            library.Conv2d(4, 6, 3, padding=1, bias=False, **dtype), library.Tanh(),
            library.Upsample(scale_factor=2),
            library.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1, **dtype),
            library.ReLU(inplace=True),
            library.Conv2d(3, 2, (2, 3), stride=(1, 2), **dtype), library.Flatten())

    reference = build(torch.nn, dtype=torch.float64)
    ours = build(nn, dtype="float64")
    copy_torch_into_ours(reference, ours)
    x = nn_rng.standard_normal((3, 1, 12, 16))
    check_against_torch(backend.module(ours), reference, x, backend, "float64", nn_rng)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
def test_weights_of_ours_load_into_torch(kind, groups, nn_rng):
    case = ConvCase(kind, 4, 6, (3, 2), stride=2, padding=1, output_padding=1 if kind == "ConvTranspose2d" else 0,
                    dilation=(1, 2), groups=groups)
    ours = case.ours("float64", rng=numpy.random.default_rng(7))
    reference = case.reference("float64")
    reference.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    x = nn_rng.standard_normal(case.input_shape(2))
    assert_close(ours(x), reference(torch.from_numpy(x)), 1e-12, "output")
    assert [(n, v.shape) for n, v in ours.state_dict().items()] == [
        (n, tuple(v.shape)) for n, v in reference.state_dict().items()]


def test_non_contiguous_input(nn_rng):
    """A transposed view (any strides) is read as the array it shows."""
    case = ConvCase("Conv2d", 3, 2, 3, stride=2, padding=1)
    reference = case.reference()
    ours = case.ours()
    copy_torch_into_ours(reference, ours)
    x = nn_rng.standard_normal((6, 6, 3, 2)).transpose(3, 2, 1, 0)
    assert not x.flags.c_contiguous
    assert_close(ours(x), reference(torch.from_numpy(numpy.ascontiguousarray(x))), 1e-12, "output")


# --- finite differences ------------------------------------------------------------------------------------
GRADCHECK_CONV_CASES = [
    ConvCase("Conv2d", 2, 3, 3, stride=2, padding=1, size=(5, 4)),
    ConvCase("Conv2d", 2, 2, (2, 3), stride=(1, 3), padding=(2, 0), bias=False, size=(3, 5)),
    ConvCase("ConvTranspose2d", 2, 3, 3, stride=2, padding=1, output_padding=1, size=(3, 2)),
    ConvCase("ConvTranspose2d", 3, 2, (3, 2), stride=(1, 3), padding=(0, 1), output_padding=(0, 2), size=(2, 3)),
    ConvCase("Conv2d", 4, 2, 3, padding=2, dilation=2, groups=2, padding_mode="reflect", size=(4, 5)),
    ConvCase("Conv2d", 2, 2, (2, 3), padding="same", groups=2, padding_mode="circular", size=(3, 4), unbatched=True),
    ConvCase("Conv2d", 2, 3, 3, stride=2, padding=1, padding_mode="replicate", size=(4, 3)),
    ConvCase("ConvTranspose2d", 4, 2, 3, stride=2, padding=1, output_padding=1, dilation=2, groups=2, size=(2, 3)),
]
BIG_CONV_CASES = [
    ConvCase("Conv2d", 3, 8, 5, stride=2, padding=2, size=(16, 13)),
    ConvCase("ConvTranspose2d", 8, 3, 4, stride=3, padding=1, output_padding=2, size=(6, 7)),
]


def assert_gradcheck(module, x, mode):
    report = nn.gradcheck(module, x, mode=mode, directions=6, atol=0.0)
    assert [check.name for check in report.checks] == ["input 0"] + [n for n, _ in module.named_parameters()]
    for check in report.checks:
        assert check.relative_error <= 1e-6, str(report)


@pytest.mark.parametrize("case, mode", [(case, "elementwise") for case in GRADCHECK_CONV_CASES]
                         + [(case, "directional") for case in BIG_CONV_CASES], ids=str)
def test_convolution_passes_gradcheck(case, mode, nn_rng):
    module = case.ours("float64", rng=nn_rng)
    batch = 2 if mode == "elementwise" else 4
    assert_gradcheck(module, nn_rng.standard_normal(case.input_shape(batch)), mode)


# --- initialization ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, in_channels, out_channels, kernel, fan_in", [
    ("Conv2d", 8, 16, (3, 5), 8 * 15),
    ("ConvTranspose2d", 16, 6, (3, 3), 6 * 9),  # torch's fan_in for the transpose: weight.shape[1] = out_channels
])
def test_default_initialization_follows_torch(kind, in_channels, out_channels, kernel, fan_in):
    ours = getattr(nn, kind)(in_channels, out_channels, kernel, rng=numpy.random.default_rng(0))
    reference = getattr(torch.nn, kind)(in_channels, out_channels, kernel)
    bound = 1 / math.sqrt(fan_in)
    torch_fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(reference.weight)
    assert torch_fan_in == fan_in
    for name, torch_value in reference.state_dict().items():
        value = ours.state_dict()[name]
        assert value.shape == tuple(torch_value.shape) and value.dtype == numpy.float32
        for sample in (value, torch_value.numpy()):  # both uniform on (-bound, bound)
            assert numpy.abs(sample).max() <= bound
        if name == "weight":  # >= 864 draws: the extremes come close to the bound, the spread is bound/sqrt(3)
            assert numpy.abs(value).max() > 0.98 * bound
            assert abs(value.std() - bound / math.sqrt(3)) < 0.1 * bound
            assert abs(value.mean()) < 0.1 * bound


def test_initialization_uses_the_seedable_generator():
    nn.manual_seed(3)
    first = nn.Conv2d(2, 3, 3).state_dict()
    nn.manual_seed(3)
    again = nn.Conv2d(2, 3, 3).state_dict()
    other = nn.Conv2d(2, 3, 3).state_dict()
    assert all(numpy.array_equal(first[name], again[name]) for name in first)
    assert not numpy.array_equal(first["weight"], other["weight"])
    seeded = nn.ConvTranspose2d(2, 3, 3, rng=numpy.random.default_rng(5)).state_dict()
    assert numpy.array_equal(seeded["weight"], nn.ConvTranspose2d(2, 3, 3, rng=numpy.random.default_rng(5)).weight.data)


def test_parameter_shapes_names_and_dtypes():
    conv = nn.Conv2d(3, 5, (2, 4), bias=False, dtype="float64")
    transpose = nn.ConvTranspose2d(3, 5, 3)
    assert [(name, p.shape, p.dtype) for name, p in conv.named_parameters()] == [("weight", (5, 3, 2, 4), "float64")]
    assert [(name, p.shape, p.dtype) for name, p in transpose.named_parameters()] == [
        ("weight", (3, 5, 3, 3), "float32"), ("bias", (5,), "float32")]
    

# --- dtypes, accumulation, caching -------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1),
                                  lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
                                  lambda: nn.MaxPool2d(2), lambda: nn.Upsample(scale_factor=3),
                                  lambda: nn.AvgPool2d(3, 2, 1)],
                         ids=["Conv2d", "ConvTranspose2d", "MaxPool2d", "Upsample", "AvgPool2d"])
def test_float32_stays_float32(make, nn_rng):
    module = make()
    x = nn_rng.standard_normal((2, 2, 6, 5)).astype("float32")
    y = module(x)
    grad_input = module.backward(nn_rng.standard_normal(y.shape).astype("float32"))
    assert y.dtype == grad_input.dtype == numpy.float32
    assert all(p.data.dtype == p.grad.dtype == numpy.float32 for p in module.parameters())


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
def test_gradients_accumulate_over_backward_calls(kind, nn_rng):
    module = ConvCase(kind, 2, 3, 3, stride=2, padding=1).ours("float64", rng=nn_rng)
    x = nn_rng.standard_normal((2, 2, 6, 6))
    y = module(x)
    grad_output = nn_rng.standard_normal(y.shape)
    first_input_grad = module.backward(grad_output, retain_graph=True)  # a second backward needs it, as torch
    once = {name: p.grad.copy() for name, p in module.named_parameters()}
    second_input_grad = module.backward(grad_output)
    numpy.testing.assert_array_equal(first_input_grad, second_input_grad)
    for name, parameter in module.named_parameters():
        numpy.testing.assert_allclose(parameter.grad, 2 * once[name], rtol=1e-14)
    module.zero_grad()
    assert all(p.grad is None for p in module.parameters())  # set_to_none, as torch
    module.zero_grad(set_to_none=False)
    module(x)
    module.backward(grad_output)
    module.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in module.parameters())


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
def test_needs_input_grad_false_skips_only_the_input_gradient(kind, nn_rng):
    module = ConvCase(kind, 2, 3, 3, stride=2, padding=1).ours("float64", rng=nn_rng)
    x = nn_rng.standard_normal((2, 2, 5, 5))
    grad_output = nn_rng.standard_normal(module(x).shape)
    module.backward(grad_output)
    expected = [p.grad.copy() for p in module.parameters()]
    module.zero_grad()
    module.needs_input_grad = False
    module(x)
    assert module.backward(grad_output) is None
    for parameter, grad in zip(module.parameters(), expected):
        numpy.testing.assert_array_equal(parameter.grad, grad)


def test_backward_differentiates_the_latest_forward(nn_rng):
    module = nn.Conv2d(1, 2, 3, dtype="float64", rng=nn_rng)
    first, second = nn_rng.standard_normal((2, 1, 5, 5)), nn_rng.standard_normal((3, 1, 6, 4))
    module(first)
    y = module(second)
    grad_output = nn_rng.standard_normal(y.shape)
    assert module.backward(grad_output).shape == second.shape


# --- errors --------------------------------------------------------------------------------------------------
def test_kernel_larger_than_the_padded_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 5x4 \(input 3x2, padding"):
        nn.Conv2d(1, 1, 5, padding=1)(numpy.zeros((1, 1, 3, 2), dtype="float32"))
    with pytest.raises(ValueError, match="kernel 3x3 is larger than the padded input 2x4"):
        nn.MaxPool2d(3)(numpy.zeros((1, 1, 2, 4), dtype="float32"))


def test_channel_and_rank_mismatch_name_expected_and_given_shapes():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4.*expected input of shape \(N, 3, H, W\) or \(3, H, W\), got \(2, 2, 5, 5\)"):
        conv(numpy.zeros((2, 2, 5, 5), dtype="float32"))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\) or \(3, H, W\), got \(2, 5, 5\)"):
        conv(numpy.zeros((2, 5, 5), dtype="float32"))
    with pytest.raises(ValueError, match=r"got \(1, 1, 3, 5, 5\)"):
        conv(numpy.zeros((1, 1, 3, 5, 5), dtype="float32"))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2, 1.*expected input of shape \(N, 2, H, W\) or \(2, H, W\), got \(1, 3,"):
        nn.ConvTranspose2d(2, 1, 3)(numpy.zeros((1, 3, 4, 4), dtype="float32"))
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Upsample(scale_factor=2)):
        with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"):
            layer(numpy.zeros((4, 4), dtype="float32"))


def test_output_padding_must_be_smaller_than_stride_or_dilation():
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than the stride \(2, 2\) or the "
                                         r"dilation \(1, 1\)"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    assert nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2, dilation=3).output_size((4, 4)) == (15, 15)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=(2, 1), output_padding=(1, 1))
    with pytest.raises(RuntimeError, match="output padding must be smaller"):  # torch's rule too, at call time
        torch.nn.ConvTranspose2d(1, 1, 3, stride=(2, 1), output_padding=(1, 1))(torch.zeros(1, 1, 3, 3))


def test_transposed_output_that_would_be_empty_is_a_clear_error():
    with pytest.raises(ValueError, match=r"an input of size \(1, 1\) gives an output of size \(-1, -1\)"):
        nn.ConvTranspose2d(1, 1, 3, padding=2)(numpy.zeros((1, 1, 1, 1), dtype="float32"))


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="input is float64 but the weights are float32"):
        nn.Conv2d(1, 1, 3)(numpy.zeros((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="input is float32 but the weights are float64"):
        nn.ConvTranspose2d(1, 1, 3, dtype="float64")(numpy.zeros((1, 1, 4, 4), dtype="float32"))


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(1, 1, 3), lambda: nn.ConvTranspose2d(1, 1, 3),
                                  lambda: nn.MaxPool2d(2), lambda: nn.Upsample(scale_factor=2),
                                  lambda: nn.AvgPool2d(2), lambda: nn.Upsample((5, 7), mode="bilinear")],
                         ids=["Conv2d", "ConvTranspose2d", "MaxPool2d", "Upsample", "AvgPool2d", "Upsample-bilinear"])
def test_backward_before_forward_and_wrong_gradient_shape(make):
    layer = make()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(numpy.zeros((1, 1, 4, 4), dtype="float32"))
    layer(numpy.zeros((1, 1, 6, 6), dtype="float32"))
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 1, 1, 1\) but the output has \(1, 1, \d+, \d+\)"):
        layer.backward(numpy.zeros((1, 1, 1, 1), dtype="float32"))


@pytest.mark.parametrize("build, message", [
    (lambda: nn.Conv2d(1, 1, 0), "kernel_size must be an integer >= 1"),
    (lambda: nn.Conv2d(1, 1, (3, 3, 3)), "kernel_size must be an integer >= 1 or a pair"),
    (lambda: nn.Conv2d(1, 1, 3, stride=0), "stride must be an integer >= 1"),
    (lambda: nn.Conv2d(1, 1, 3, padding=-1), "padding must be an integer >= 0"),
    (lambda: nn.Conv2d(0, 1, 3), "in_channels must be a positive integer"),
    (lambda: nn.ConvTranspose2d(1, 2.5, 3), "out_channels must be a positive integer"),
    (lambda: nn.Conv2d(1, 1, 3, dilation=0), "dilation must be an integer >= 1"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), "out_channels=6 must be divisible by groups=4"),
    (lambda: nn.Conv2d(3, 6, 3, groups=2), "in_channels=3 must be divisible by groups=2"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, groups=0), "groups must be a positive integer"),
    (lambda: nn.Conv2d(1, 1, 3, padding="full"), "padding must be 'valid', 'same', an integer"),
    (lambda: nn.Conv2d(1, 1, 3, stride=2, padding="same"), "padding='same' is not supported for strided"),
    (lambda: nn.Conv2d(1, 1, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect"), "padding_mode='reflect' is not supported"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding="same"), "padding must be an integer >= 0"),
    (lambda: nn.Conv2d(1, 1, 3, device="tpu"), "unknown device 'tpu'"),
])
def test_bad_arguments_are_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_flag_that_is_not_a_bool_is_a_type_error():
    with pytest.raises(TypeError, match=r"^Conv2d: bias must be True or False, got \(2, 2\)$"):
        nn.Conv2d(1, 1, 3, bias=(2, 2))


@pytest.mark.skipif(not nn.gpu_available(), reason="CuPy with a GPU not available")
def test_device_mismatch_is_a_clear_error():
    with pytest.raises(nn.BackendError, match="input is on 'gpu' but the parameters are on 'cpu'"):
        nn.Conv2d(1, 1, 3)(nn.to_device(numpy.zeros((1, 1, 4, 4), dtype="float32"), "gpu"))


# --- speed -----------------------------------------------------------------------------------------------------
def test_convolution_is_vectorized():
    """A guard against per-pixel Python loops: batch 256 of 1x28x28 through a strided Conv2d and back
    takes milliseconds (a loop over pixels or images would take seconds)."""
    conv = nn.Conv2d(1, 16, 3, stride=2, padding=1)
    transpose = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)
    x = numpy.random.default_rng(0).random((256, 1, 28, 28), dtype="float32")
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        y = transpose(conv(x))
        conv.backward(transpose.backward(y))
        best = min(best, time.perf_counter() - start)
    assert y.shape == x.shape
    assert best < 1.0, f"Conv2d + ConvTranspose2d forward and backward on 256x1x28x28 took {best:.2f} s"
