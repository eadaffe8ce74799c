"""Loss, softmax and normalization checks that mutation testing found unreached (tests/mutation/mutants.py,
target nn.losses): each refusal's whole message (inputs, constants, gradients, dimensions), backward
before forward or after a move, torch's implicit dimension and default upstream gradient."""
import sys
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
    (lambda: nn.MSELoss()([1.0], numpy.ones(1)), TypeError, "MSELoss: the input is a Python list, not an array; "
     "convert it with numpy.asarray(x, dtype='float32')"),  # the gate's, for any input of any module
    (lambda: nn.L1Loss()(torch.ones(1), numpy.ones(1)), TypeError,
     "L1Loss: the input is a torch.Tensor; the engine takes NumPy (or CuPy) arrays: pass x.detach().cpu().numpy()"),
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
     "LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True): input is float32 but the weights are float64; convert "
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
    _raises(TypeError, "ReLU.backward: grad_output is a list; pass dL/dy as an array of the output's shape",
            relu.backward, [1.0, 2.0])


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


def test_the_implicit_dimension_warning_points_at_the_callers_line():
    """The first line outside nn (in mutation runs too: tests/mutation/mutmut_session.py counts mutmut's
    trampoline frames as the module's they stand in)."""
    x = numpy.ones((2, 3))
    for module in (nn.Softmax(), nn.LogSoftmax()):
        for call in (module, module.forward):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call(x), (line := sys._getframe().f_lineno)  # the line the warning must name
            assert len(caught) == 1
            assert (caught[0].filename, caught[0].lineno) == (__file__, line)


def test_softmax_over_an_empty_dimension_is_empty_as_in_torch():
    for shape, dim in (((2, 0), 1), ((0, 3), 1), ((2, 0, 3), 1)):
        x = numpy.ones(shape)
        for module, reference in ((nn.Softmax(dim), torch.softmax), (nn.LogSoftmax(dim), torch.log_softmax)):
            y = module(x)
            assert y.shape == shape and y.dtype == x.dtype
            assert y.shape == tuple(reference(torch.tensor(x), dim).shape)
            assert module.backward(numpy.ones(shape)).shape == shape


def test_a_torch_parameter_is_named_as_a_tensor_with_its_fix():
    parameter = torch.nn.Parameter(torch.ones(2))  # its type lives in torch.nn.parameter, not in torch
    _raises(TypeError, "MSELoss: the input is a torch.Tensor; the engine takes NumPy (or CuPy) arrays: pass "
            "x.detach().cpu().numpy()", nn.MSELoss(), parameter, numpy.ones(2))


def test_a_ragged_list_as_weight_is_refused_in_one_line():
    _raises(TypeError, "BCELoss: weight must be an array of real numbers, got list",
            nn.BCELoss, [[1.0], [1.0, 2.0]])


def test_a_float64_weight_keeps_a_float32_loss_and_gradient_in_float32(nn_rng):
    x32 = nn_rng.uniform(0.1, 0.9, (4, 3)).astype(numpy.float32)
    weight = numpy.array([0.5, 1.0, 2.0])  # float64, given once for any input dtype
    cases = ((nn.BCELoss(weight=weight), x32, numpy.ones_like(x32)),
             (nn.CrossEntropyLoss(weight=weight), x32, numpy.array([0, 1, 2, 1])),
             (nn.NLLLoss(weight=weight), x32, numpy.array([0, 1, 2, 1])),
             (nn.CrossEntropyLoss(weight=weight, label_smoothing=0.2), x32, numpy.array([0, 1, 2, 1])),
             (nn.CrossEntropyLoss(weight=weight), x32, numpy.full_like(x32, 1 / 3)))
    for loss, x, target in cases:
        assert loss(x, target).dtype == numpy.float32
        assert loss.backward().dtype == numpy.float32, loss


@pytest.mark.parametrize("name, options, target", [
    ("CrossEntropyLoss", {}, [0, 0, -100, 0]),  # kept samples whose class weighs 0: D = 0
    ("NLLLoss", {}, [0, 0, -100, 0]),
    ("CrossEntropyLoss", {"label_smoothing": 0.3}, [0, 0, -100, 0]),
    ("CrossEntropyLoss", {"label_smoothing": 0.3}, [-100, -100, -100, -100]),  # nothing kept
    ("NLLLoss", {}, [-100, -100, -100, -100]),
    ("CrossEntropyLoss", {}, [1, -100, 2, 0]),  # D > 0: the ordinary mean
])
def test_a_mean_over_zero_total_weight_has_torchs_value_and_gradient(name, options, target, nn_rng):
    x, target, weight = nn_rng.standard_normal((4, 3)), numpy.array(target), numpy.array([0.0, 1.0, 2.0])
    loss = getattr(nn, name)(weight=weight, **options)
    value, grad = loss(x, target), loss.backward()
    reference = getattr(torch.nn, name)(weight=torch.tensor(weight), **options)
    x_torch = torch.tensor(x, requires_grad=True)
    expected = reference(x_torch, torch.tensor(target))
    expected.backward()
    numpy.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-12, equal_nan=True)
    numpy.testing.assert_allclose(grad, x_torch.grad.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True)
    assert numpy.array_equal(numpy.isnan(grad), torch.isnan(x_torch.grad).numpy())


def test_a_mean_over_zero_total_weight_per_position_has_torchs_gradient(nn_rng):
    x, target, weight = nn_rng.standard_normal((2, 3, 2)), numpy.array([[0, -100], [0, 0]]), numpy.array([0.0, 1, 2])
    for name in ("CrossEntropyLoss", "NLLLoss"):
        loss = getattr(nn, name)(weight=weight)
        loss(x, target)
        grad = loss.backward()
        x_torch = torch.tensor(x, requires_grad=True)
        getattr(torch.nn, name)(weight=torch.tensor(weight))(x_torch, torch.tensor(target)).backward()
        assert numpy.array_equal(numpy.isnan(grad), torch.isnan(x_torch.grad).numpy()), name
        numpy.testing.assert_array_equal(numpy.nan_to_num(grad), numpy.nan_to_num(x_torch.grad.numpy()))


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss"])
def test_a_float32_mean_over_zero_total_weight_keeps_its_nan_gradient_in_float32(name, nn_rng):
    x = nn_rng.standard_normal((4, 3)).astype("float32")
    target, weight = numpy.array([0, 0, -100, 0]), numpy.array([0.0, 1.0, 2.0], dtype="float32")
    loss = getattr(nn, name)(weight=weight)
    loss(x, target)
    grad = loss.backward()
    x_torch = torch.tensor(x, requires_grad=True)
    getattr(torch.nn, name)(weight=torch.tensor(weight))(x_torch, torch.tensor(target)).backward()
    assert grad.dtype == numpy.float32 and x_torch.grad.dtype == torch.float32
    assert numpy.array_equal(numpy.isnan(grad), torch.isnan(x_torch.grad).numpy()) and numpy.isnan(grad).any()


def test_an_empty_batch_with_class_probabilities_has_torchs_nan_mean_and_empty_gradient():
    loss = nn.CrossEntropyLoss()
    x = numpy.zeros((0, 3), dtype="float32")
    value = loss(x, numpy.zeros((0, 3), dtype="float32"))
    grad = loss.backward()
    x_torch = torch.zeros((0, 3), requires_grad=True)
    expected = torch.nn.functional.cross_entropy(x_torch, torch.zeros((0, 3)))
    expected.backward()
    assert numpy.isnan(value) and torch.isnan(expected)
    assert grad.shape == tuple(x_torch.grad.shape) == (0, 3) and grad.dtype == numpy.float32


@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d", "LayerNorm"])
def test_a_normalization_takes_eps_0_as_torch_and_refuses_a_bool(cls):
    assert getattr(nn, cls)(3, eps=0).eps == getattr(torch.nn, cls)(3, eps=0).eps == 0.0
    _raises(ValueError, f"{cls}: eps must be a number >= 0, got True", lambda: getattr(nn, cls)(3, eps=True))


@pytest.mark.parametrize("name", ["L1Loss", "BCELoss", "BCEWithLogitsLoss"])
def test_an_elementwise_loss_backward_without_an_argument_is_torchs_backward(name, nn_rng):
    pred, target = nn_rng.uniform(0.1, 0.9, (3, 4)), nn_rng.uniform(0, 1, (3, 4))
    loss = getattr(nn, name)()
    loss(pred, target)
    reference = torch.from_numpy(pred).requires_grad_()
    getattr(torch.nn, name)()(reference, torch.from_numpy(target)).backward()
    assert_close(loss.backward(), reference.grad, 1e-12)


def test_a_loss_value_computes_in_place_and_into_buffers_and_passes_keyword_arguments(nn_rng):
    loss = nn.MSELoss()
    value = loss(nn_rng.standard_normal((2, 3)), numpy.zeros((2, 3)))
    before = float(value)
    numpy.add(value, 1.0, out=value)  # in place, into the LossValue itself
    assert type(value) is nn.losses.LossValue and float(value) == before + 1.0
    buffer = numpy.zeros(())
    numpy.multiply(value, 2.0, out=buffer)
    assert float(buffer) == 2 * (before + 1.0)
    rounded = numpy.round(value, decimals=2)
    assert float(rounded) == round(before + 1.0, 2) and type(rounded) is not nn.losses.LossValue


def test_a_loss_values_refusal_of_backward_names_its_loss_and_shape(nn_rng):
    loss = nn.MSELoss()
    value = loss(nn_rng.standard_normal((2, 3)), numpy.zeros((2, 3)))
    message = ("value.backward(): the engine has no autograd, its backward is explicit: call model.backward("
               "loss.backward()) with loss the MSELoss module, not the value it returned (after step = "
               "nn.fast.compile(...): step.backward())")
    _raises(RuntimeError, message, value[...].backward)  # a view of the value names the loss too
    value = nn.L1Loss(reduction="none")(nn_rng.standard_normal((2, 3)), numpy.zeros((2, 3)))
    message = ("value.backward(): the engine has no autograd, its backward is explicit: call model.backward("
               "loss.backward(g)) with loss the L1Loss module, not the value it returned, and g = dL/dvalue of the "
               "value's shape (2, 3) (after step = nn.fast.compile(...): step.backward())")
    _raises(RuntimeError, message, value.backward)


def test_a_none_reduction_backward_without_g_is_one_line(nn_rng):
    loss = nn.MSELoss(reduction="none")
    loss(nn_rng.standard_normal((2, 3)), numpy.zeros((2, 3)))
    _raises(ValueError, "MSELoss.backward: grad_output has shape () but the output has (2, 3); pass dL/dy with "
                        "exactly the output's shape (it is never broadcast)", loss.backward)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_a_softmax_of_a_0d_input_is_torchs(name):
    module = getattr(nn, name)(dim=0)
    x = numpy.array(0.7)
    y = module(x)
    reference = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    expected = getattr(torch.nn, name)(dim=0)(reference)
    expected.backward(torch.tensor(2.0, dtype=torch.float64))
    assert y.shape == () and float(y) == float(expected.detach())
    gradient = module.backward(numpy.array(2.0))
    assert gradient.shape == () and float(gradient) == float(reference.grad)
