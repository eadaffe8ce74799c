"""The argument checks of nn/arguments.py that mutation testing found unreached (target nn.layers): what a
loss's forward refuses when it is called directly (past the gate), each refusal's whole line, and NumPy
scalars taken as 0-d arrays."""
import numpy
import pytest
import torch

import nn


def _raises(error, message, function, *args):
    with pytest.raises(error) as caught:
        function(*args)
    assert str(caught.value) == message


class DtypeOnly:
    dtype = numpy.dtype("float32")  # a dtype but no shape


class ShapeOnly:
    shape = (2,)  # a shape but no dtype


@pytest.mark.parametrize("value, message", [
    (torch.ones(2), "MSELoss: the prediction is a torch.Tensor, not an array; convert it with .detach().cpu().numpy()"),
    ([1.0, 2.0], "MSELoss: the prediction is a Python list, not an array; convert it with "
                 "numpy.asarray(value, dtype='float32')"),
    (DtypeOnly(), "MSELoss: the prediction is a DtypeOnly, not an array; pass a NumPy (or CuPy) array"),
    (ShapeOnly(), "MSELoss: the prediction is a ShapeOnly, not an array; pass a NumPy (or CuPy) array"),
])
def test_a_loss_forward_called_directly_refuses_what_is_not_an_array_in_one_line(value, message):
    _raises(TypeError, message, nn.MSELoss().forward, value, numpy.ones(2))


def test_a_loss_forward_called_directly_takes_numpy_scalars_as_0d_arrays():
    loss = nn.MSELoss()
    value = loss.forward(numpy.float64(0.25), numpy.float64(1.0))
    assert float(value) == 0.5625
    loss(numpy.asarray(0.25), numpy.asarray(1.0))  # the gate's record, for backward
    numpy.testing.assert_array_equal(loss.backward(), -1.5)


def test_a_weight_of_strings_is_refused_in_one_line():
    _raises(TypeError, "BCELoss: weight must be an array of real numbers, got ndarray",
            nn.BCELoss, numpy.array(["a", "b"]))


def test_a_relu_inplace_that_is_not_a_bool_is_one_line():
    _raises(TypeError, "ReLU: inplace must be True or False, got 'yes'", nn.ReLU, "yes")
