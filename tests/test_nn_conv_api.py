"""The 2-D layers take torch's parameters, in torch's order, with torch's defaults: a torch call,
positional arguments included, builds the same layer here or is refused in one line, never bound to
something else."""
import inspect

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import copy_torch_into_ours

LAYERS = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "Upsample"]
ENGINE_EXTRAS = {"Conv2d": ["rng"], "ConvTranspose2d": ["rng"]}


@pytest.mark.parametrize("name", LAYERS)
def test_signature_is_torchs_then_keyword_only_extras(name):
    ours = list(inspect.signature(getattr(nn, name)).parameters.values())
    theirs = list(inspect.signature(getattr(torch.nn, name)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours[:len(theirs)]] == [(p.name, p.kind, p.default) for p in theirs]
    extras = ours[len(theirs):]
    assert [p.name for p in extras] == ENGINE_EXTRAS.get(name, [])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extras)


@pytest.mark.parametrize("name, arguments, shape", [
    ("Conv2d", (3, 2, (3, 3), (2, 2), (1, 1), (2, 2)), (2, 3, 9, 8)),                # sixth: dilation
    ("Conv2d", (4, 6, 3, 1, 1, 1, 2, False), (2, 4, 5, 5)),                          # groups, then bias
    ("Conv2d", (2, 3, 3, 1, 1, 1, 1, True, "circular"), (1, 2, 4, 5)),               # padding_mode
    ("Conv2d", (2, 3, 3, 1, 1, 1, 1, True, "zeros", "cpu"), (1, 2, 4, 5)),           # device
    ("ConvTranspose2d", (3, 4, 3, (2, 3), 1, (1, 1), 1, False), (2, 3, 4, 4)),       # groups 1, no bias
    ("ConvTranspose2d", (4, 6, 3, 2, 1, 0, 2, True, 2), (2, 4, 3, 3)),               # ninth: dilation
    ("MaxPool2d", (3, 2, 1, 2, False, True), (2, 2, 9, 8)),
    ("AvgPool2d", (3, 2, 1, True, False, 4), (2, 2, 7, 6)),
    ("Upsample", (7,), (1, 2, 3, 4)),                                                # first: size
    ("Upsample", (None, 1.5, "bilinear", True), (1, 2, 3, 4)),
], ids=str)
def test_positional_arguments_bind_as_in_torch(name, arguments, shape, nn_rng):
    reference = getattr(torch.nn, name)(*arguments)
    if name.startswith("Conv"):
        reference = reference.double()
        ours = getattr(nn, name)(*arguments, dtype="float64")
        copy_torch_into_ours(reference, ours)
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    else:
        ours = getattr(nn, name)(*arguments)
    x = nn_rng.standard_normal(shape)
    assert_close(ours(x), reference(torch.from_numpy(x)), 1e-12, "output")
    for attribute in ("stride", "padding", "dilation", "groups", "output_padding", "padding_mode", "ceil_mode",
                      "count_include_pad", "divisor_override", "size", "scale_factor", "mode", "align_corners"):
        if hasattr(reference, attribute):
            assert getattr(ours, attribute) == getattr(reference, attribute), attribute


@pytest.mark.parametrize("build, message", [
    (lambda: nn.Conv2d(1, 1, 3, 1, 0, 1, 1, True, "zeros", None, "float16"), "unsupported dtype 'float16'"),
    (lambda: nn.Conv2d(1, 1, 3, rng=None, seed=1), "unexpected keyword argument 'seed'"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, 1, 0, 0, 1, True, 1, "circular"), "padding_mode='circular' is not supported"),
    (lambda: nn.Upsample(None, 2, "trilinear"), "mode='trilinear' is not supported"),
    (lambda: nn.Upsample(None, 2, "nearest-exact"), "mode='nearest-exact' is not supported"),
], ids=["dtype", "unknown-keyword", "transpose-padding_mode", "trilinear", "nearest-exact"])
def test_what_is_not_implemented_is_refused_by_name(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_device_argument_places_the_parameters():
    layer = nn.Conv2d(2, 3, 3, device="cpu", dtype="float64")
    assert layer.device == "cpu" and layer.weight.data.dtype == numpy.float64
