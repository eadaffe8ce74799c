"""Convolution checks that mutation testing found unreached once the runner could select tests whose ids
hold a backslash (tests/mutation/mutants.py, target nn.conv): the whole one-line refusal of an input of
another dtype than the weights, by the gate and by forward called directly, naming the layer, both dtypes
and both fixes (torch refuses it too)."""
import numpy
import pytest
import torch

import nn


@pytest.mark.parametrize("layer, torch_layer", [(nn.Conv2d, torch.nn.Conv2d),
                                                (nn.ConvTranspose2d, torch.nn.ConvTranspose2d)])
@pytest.mark.parametrize("held, given", [("float32", "float64"), ("float64", "float32")])
def test_input_of_another_dtype_refused_with_both_fixes(layer, torch_layer, held, given):
    module = layer(2, 3, 3).to(dtype=held)
    x = numpy.zeros((1, 2, 5, 5), dtype=given)
    message = (f"{module!r}: input is {given} but the weights are {held}; "
               f"convert the input with x.astype('{held}') or the model with .to(dtype='{given}')")
    for call in (module, module.forward):  # the gate of __call__, and forward called directly (as torch allows)
        with pytest.raises(TypeError) as caught:
            call(x)
        assert str(caught.value) == message
    reference = torch_layer(2, 3, 3).to(getattr(torch, held))
    with pytest.raises(RuntimeError):
        reference(torch.from_numpy(x))
    assert module(x.astype(held)).dtype == numpy.dtype(held)  # the first fix works
