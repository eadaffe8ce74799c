"""The argument checks of nn/arguments.py that mutation testing found unreached (target nn.layers): what a
loss's forward refuses when it is called directly (past the gate), each refusal's whole line, and NumPy
scalars taken as 0-d arrays."""
import sys
import warnings

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


# --- nn.arguments.warn -----------------------------------------------------------------------------

def _warned_from(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, "said")]
    return caught[0].filename, caught[0].lineno


def test_a_warning_raised_in_a_subpackage_of_nn_names_the_line_outside_nn():
    """Every frame whose module is nn or under it is skipped, a subpackage's (nn.fast.*) too."""
    namespace = {"__name__": "nn.fast.probe", "warn": nn.arguments.warn}
    exec(compile("def deep():\n    warn('said')\n", "nn/fast/probe.py", "exec"), namespace)
    assert _warned_from(lambda: namespace["deep"]()) == (__file__, sys._getframe().f_lineno)


def test_a_warning_from_code_whose_globals_have_no_name_names_that_code():
    """exec'd code may run without a __name__: it is outside nn, and it does not break the walk."""
    namespace = {"warn": nn.arguments.warn}
    exec(compile("def outer():\n    warn('said')\n", "<user code>", "exec"), namespace)
    assert _warned_from(namespace["outer"]) == ("<user code>", 2)
