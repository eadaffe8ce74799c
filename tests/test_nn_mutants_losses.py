"""Loss, softmax and normalization checks that mutation testing found unreached (benchmarks/mutants.py,
target nn.losses): each refusal's whole message (inputs, constants, gradients, dimensions), backward
before forward or after a move, torch's implicit dimension and default upstream gradient."""
import warnings

import numpy
import pytest
import torch

import nn
from conftest import assert_close

HALF = numpy.full((4, 2), 0.5)


def _raises(error, message, function, *args):
    with pytest.raises(error) as caught:
        function(*args)
    assert str(caught.value) == message


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.BCELoss(weight="a"), TypeError, "BCELoss: weight must be an array of real numbers, got str"),
    (lambda: nn.BCEWithLogitsLoss(weight=["a"]), TypeError,
     "BCEWithLogitsLoss: weight must be an array of real numbers, got list"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=torch.ones(2)), TypeError,
     "BCEWithLogitsLoss: pos_weight is a torch.Tensor; pass an array: pos_weight.detach().cpu().numpy()"),
    (lambda: nn.CrossEntropyLoss(weight=numpy.ones((2, 2))), ValueError,
     "CrossEntropyLoss: weight must be 1-D (one value per class), got shape (2, 2)"),
    (lambda: nn.MSELoss()([1.0], numpy.ones(1)), TypeError, "MSELoss: the prediction is a Python list, not an array; "
     "convert it with numpy.asarray(value, dtype='float32')"),
    (lambda: nn.L1Loss()(torch.ones(1), numpy.ones(1)), TypeError,
     "L1Loss: the prediction is a torch.Tensor, not an array; convert it with .detach().cpu().numpy()"),
    (lambda: nn.MSELoss()(3, numpy.ones(1)), TypeError,
     "MSELoss: the prediction is a int, not an array; pass a NumPy (or CuPy) array"),
    (lambda: nn.MSELoss()(numpy.ones(2, dtype=int), numpy.ones(2)), TypeError,
     "MSELoss: the prediction has dtype int64, but losses need float32 or float64; convert it with .astype('float32')"),
    (lambda: nn.CrossEntropyLoss()(numpy.ones((2, 3)), numpy.ones(2, dtype="float16")), TypeError,
     "CrossEntropyLoss: the target has dtype float16, but losses need float32/float64 (or integer class indices); "
     "convert it with .astype('float32')"),
    (lambda: nn.BCELoss(weight=numpy.ones(3))(HALF, numpy.ones((4, 2))), ValueError,
     "BCELoss: weight has shape (3,), which does not broadcast to the input's shape (4, 2); give it that shape or one "
     "that broadcasts to it"),
    (lambda: nn.BCEWithLogitsLoss(weight=numpy.ones(3))(HALF, numpy.ones((4, 2))), ValueError,
     "BCEWithLogitsLoss: weight has shape (3,), which does not broadcast to the input's shape (4, 2); give it that "
     "shape or one that broadcasts to it"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=numpy.ones(3))(HALF, numpy.ones((4, 2))), ValueError,
     "BCEWithLogitsLoss: pos_weight has shape (3,), which does not broadcast to the input's shape (4, 2); give it that "
     "shape or one that broadcasts to it"),
    (lambda: nn.BCELoss()(numpy.full(2, 1.5), numpy.ones(2)), ValueError, "BCELoss: predictions must lie in [0, 1], "
     "got values in [1.5, 1.5]; apply Sigmoid first, or use BCEWithLogitsLoss on the raw outputs"),
    (lambda: nn.Softmax(dim=5)(numpy.ones((2, 3))), ValueError,
     "Softmax: dim=5 is out of range for an input with 2 dimensions; use an integer in [-2, 1]"),
    (lambda: nn.LogSoftmax(dim=True)(numpy.ones((2, 3))), ValueError,
     "LogSoftmax: dim=True is out of range for an input with 2 dimensions; use an integer in [-2, 1]"),
    (lambda: nn.LayerNorm(0), ValueError, "LayerNorm: normalized_shape must be a positive integer or a tuple of them, "
     "got 0"),
    (lambda: nn.LayerNorm([]), ValueError, "LayerNorm: normalized_shape must be a positive integer or a tuple of them, "
     "got []"),
    (lambda: nn.LayerNorm(3, eps=-1.0), ValueError, "LayerNorm: eps must be a number >= 0, got -1.0"),
    (lambda: nn.LayerNorm(3, elementwise_affine=1), TypeError, "LayerNorm: elementwise_affine must be True or False, "
     "got 1"),
    (lambda: nn.LayerNorm(3, bias=1), TypeError, "LayerNorm: bias must be True or False, got 1"),
    (lambda: nn.LayerNorm(3, dtype="float64")(numpy.ones((2, 3), dtype="float32")), TypeError,
     "LayerNorm((3,), eps=1e-05, elementwise_affine=True): input is float32 but the layer's state is float64; convert "
     "the input with x.astype('float64') or the model with .to(dtype='float32')"),
])
def test_every_refusal_is_one_line_naming_the_value_and_the_fix(call, error, message):
    _raises(error, message, call)


def test_constants_given_as_lists_of_numbers_are_taken():
    loss = nn.BCELoss(weight=[1, 2])
    assert loss.weight.dtype == numpy.float64
    assert float(loss(HALF, numpy.ones((4, 2)))) == pytest.approx(1.5 * numpy.log(2))


def test_numpy_scalars_are_taken_as_zero_dimensional_arrays():
    assert float(nn.MSELoss()(numpy.float64(0.5), numpy.float64(1.0))) == 0.25
    sigmoid = nn.Sigmoid()
    sigmoid(numpy.float64(0.0))
    assert float(sigmoid.backward(numpy.float64(1.0))) == 0.25


def test_a_gradient_of_another_shape_is_refused_and_never_broadcast():
    relu = nn.ReLU()
    relu(numpy.ones((2, 3)))
    for wrong, shape in ((numpy.ones(3), "(3,)"), (1.0, "()"), (numpy.float64(1.0), "()")):
        _raises(ValueError, f"ReLU.backward: grad_output has shape {shape} but the output has (2, 3); pass dL/dy "
                "with exactly the output's shape (it is never broadcast)", relu.backward, wrong)
    _raises(ValueError, "ReLU.backward: grad_output has shape list but the output has (2, 3); pass dL/dy with exactly "
            "the output's shape (it is never broadcast)", relu.backward, [1.0, 2.0])


MODULES = {
    "MSELoss": (nn.MSELoss, lambda rng: (rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, lambda rng: (rng.standard_normal((3, 2)), rng.uniform(0, 1, (3, 2)))),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, lambda rng: (rng.standard_normal((3, 4)), numpy.array([0, 3, 1]))),
    "Softmax": (lambda: nn.Softmax(1), lambda rng: (rng.standard_normal((3, 4)),)),
    "LogSoftmax": (lambda: nn.LogSoftmax(1), lambda rng: (rng.standard_normal((3, 4)),)),
    "LayerNorm": (lambda: nn.LayerNorm(4, dtype="float64"), lambda rng: (rng.standard_normal((3, 4)),)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4, dtype="float64"), lambda rng: (rng.standard_normal((3, 4)),)),
}


@pytest.mark.parametrize("name", MODULES)
def test_backward_before_forward_or_after_a_move_says_to_call_forward(name, nn_rng):
    build, inputs = MODULES[name]
    module = build()
    message = f"{name}.backward called before forward: call the module on an input first"
    is_loss = name.endswith("Loss")
    _raises(RuntimeError, message, module.backward, *(() if is_loss else (numpy.ones((3, 4)),)))
    y = module(*inputs(nn_rng))
    module.to(dtype="float64")
    _raises(RuntimeError, message, module.backward, *(() if is_loss else (numpy.ones(y.shape),)))


def test_a_loss_backward_without_an_argument_is_torchs_backward(nn_rng):
    logits, target = nn_rng.standard_normal((3, 4)), numpy.array([0, 3, 1])
    loss = nn.CrossEntropyLoss()
    loss(logits, target)
    reference = torch.from_numpy(logits).requires_grad_()
    torch.nn.CrossEntropyLoss()(reference, torch.from_numpy(target)).backward()
    assert_close(loss.backward(), reference.grad, 1e-12)


def test_softmax_without_dim_warns_as_torch_and_takes_torchs_dimension():
    for shape, dim in (((), 0), ((3,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)):
        x = numpy.asarray(numpy.arange(float(numpy.prod(shape))).reshape(shape) / 7)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = nn.Softmax()(x)
        assert [(w.category, str(w.message)) for w in caught] == [
            (UserWarning, "Softmax: implicit dimension choice is deprecated (as in torch); pass dim explicitly")]
        assert_close(y, torch.softmax(torch.tensor(x), dim), 1e-12)


def test_softmax_rows_far_apart_do_not_underflow():
    x = numpy.array([[0.0, 1.0], [-1000.0, -999.0]])
    for module, reference in ((nn.Softmax(1), torch.softmax), (nn.LogSoftmax(1), torch.log_softmax)):
        assert_close(module(x), reference(torch.from_numpy(x), 1), 1e-12)


def test_layer_norm_of_size_one_is_taken_as_torch():
    x = numpy.arange(6.0).reshape(6, 1)
    assert_close(nn.LayerNorm(1, dtype="float64")(x), torch.nn.LayerNorm(1, dtype=torch.float64)(torch.from_numpy(x)),
                 1e-12)
