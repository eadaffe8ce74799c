"""The elementwise losses against torch with every option: reduction 'none', 'mean', 'sum'; BCE's
weight and BCEWithLogits' pos_weight with torch's broadcasting; 0-d values; gradcheck; and the checks
every loss makes of its inputs (issue 13: empty, lists, torch tensors, integers: one line each)."""
import copy
import itertools

import numpy
import pytest
import torch

import nn
from helpers_losses import BACKEND_DTYPES, FixedTarget, compare_loss, report, torch_constants
from helpers_nn import l1_pair, logit_pair, nudge, probability_pair, real_pair

SHAPES = [(5, 4), (3, 1, 7), (6,), ()]


LOSSES = {"MSELoss": real_pair, "L1Loss": l1_pair, "BCELoss": probability_pair, "BCEWithLogitsLoss": logit_pair}


def weight_shapes(shape):
    """Shapes that broadcast to ``shape``: its own, its last dimension, and 1s."""
    candidates = {shape, shape[-1:], (1,) * len(shape)}
    return sorted(candidates, key=len)


@pytest.fixture(scope="module", autouse=True)
def print_worst_error():
    yield
    report()


@pytest.mark.parametrize("backend, dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_torch(name, shape, reduction, dtype, backend, nn_rng):
    pred, target = (numpy.asarray(array, dtype) for array in LOSSES[name](nn_rng, shape))
    compare_loss(getattr(nn, name)(reduction=reduction), getattr(torch.nn, name)(reduction=reduction), pred, target,
                 nn_rng, backend, dtype)


def weighted_cases():
    for name, shape, reduction in itertools.product(["BCELoss", "BCEWithLogitsLoss"], SHAPES[:3],
                                                    ["none", "mean", "sum"]):
        for weight_shape in weight_shapes(shape):
            yield name, shape, reduction, {"weight": weight_shape}
            if name == "BCEWithLogitsLoss":
                yield name, shape, reduction, {"pos_weight": weight_shape}
                yield name, shape, reduction, {"weight": weight_shape, "pos_weight": shape[-1:]}


@pytest.mark.parametrize("backend, dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("name, shape, reduction, weights", list(weighted_cases()), ids=str)
def test_weights_match_torch(name, shape, reduction, weights, dtype, backend, nn_rng):
    pred, target = (numpy.asarray(array, dtype) for array in LOSSES[name](nn_rng, shape))
    options = {key: nn_rng.uniform(0.2, 3.0, weight_shape).astype(dtype) for key, weight_shape in weights.items()}
    compare_loss(getattr(nn, name)(reduction=reduction, **options),
                 getattr(torch.nn, name)(reduction=reduction, **torch_constants(options)), pred, target, nn_rng,
                 backend, dtype)


@pytest.mark.parametrize("name", ["BCELoss", "BCEWithLogitsLoss"])
def test_weight_that_would_grow_the_output_is_refused(name):
    loss = getattr(nn, name)(weight=numpy.ones((3, 4)))
    with pytest.raises(ValueError, match=r"weight has shape \(3, 4\), which does not broadcast to the input's shape "
                                         r"\(4,\)"):
        loss(numpy.full(4, 0.5), numpy.full(4, 0.5))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("make", [
    lambda reduction: nn.MSELoss(reduction=reduction), lambda reduction: nn.L1Loss(reduction=reduction),
    lambda reduction: nn.BCELoss(numpy.array([0.5, 2.0, 1.5]), reduction=reduction),
    lambda reduction: nn.BCEWithLogitsLoss(numpy.array([0.5, 2.0, 1.5]), reduction=reduction,
                                           pos_weight=numpy.array([3.0, 0.2, 1.0])),
], ids=["MSE", "L1", "BCE-weight", "BCEWithLogits-weights"])
def test_gradcheck(make, reduction, nn_rng):
    pred = nn_rng.uniform(0.1, 0.9, (2, 3))
    target = nn_rng.uniform(0, 1, (2, 3))
    pred = target + nudge(pred - target, (0.0,), 0.05)  # L1's kink kept away
    assert nn.gradcheck(FixedTarget(make(reduction), target), pred.clip(0.01, 0.99)).passed


def test_reduction_none_keeps_the_elements(nn_rng):
    pred, target = nn_rng.standard_normal((2, 3, 4))
    loss = nn.MSELoss(reduction="none")
    numpy.testing.assert_array_equal(loss(pred, target), (pred - target) ** 2)
    with pytest.raises(ValueError, match=r"MSELoss.backward: grad_output has shape \(\) but the output has \(3, 4\)"):
        loss.backward()  # 'none' needs the gradient of every element, as torch
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 4\) but the output has \(3, 4\)"):
        loss.backward(numpy.ones((1, 4)))  # never broadcast


# --- the inputs (issue 13) -------------------------------------------------------------------------------------
ALL_LOSSES = [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss]


@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("pred, target, message", [
    (numpy.zeros((0, 784), "float32"), numpy.zeros((0, 784), "float32"),
     r"the prediction is empty \(shape \(0, 784\)\), and the mean of no elements is undefined; pass at least one "
     r"element, or use reduction='sum'$"),
    # lists and torch tensors are refused by the gate of every module call, which names any input "the input"
    ([0.5, 0.25], numpy.array([0.5, 0.5]), r"the input is a Python list, not an array; convert it with "
                                           r"numpy.asarray\(x, dtype='float32'\)$"),
    (numpy.array([0.5, 0.25]), (0.5, 0.5), r"the input is a Python tuple, not an array"),
    (torch.full((2,), 0.5), numpy.array([0.5, 0.5]), r"the input is a torch.Tensor; the engine takes NumPy \(or CuPy\) "
                                                     r"arrays: pass x.detach\(\).cpu\(\).numpy\(\)$"),
    (numpy.array([0.5, 0.25]), torch.full((2,), 0.5), r"the input is a torch.Tensor"),
    (numpy.array([0, 1]), numpy.array([0.5, 0.5]), r"the prediction has dtype int64, but losses need float32 or "
                                                   r"float64; convert it with .astype\('float32'\)$"),
    (numpy.array([0.5, 0.25], "float16"), numpy.array([0.5, 0.5]), r"the prediction has dtype float16"),
    (numpy.array([0.5, 0.25]), numpy.array(["a", "b"]), r"the target has dtype <U1"),
    (numpy.array([0.5, 0.25]), numpy.array([0.5, 0.5, 0.5]), r"prediction has shape \(2,\) but target has \(3,\)"),
], ids=["empty", "list", "tuple-target", "torch", "torch-target", "int", "float16", "strings", "shape"])
def test_bad_inputs_are_one_clear_line(loss_class, pred, target, message):
    with pytest.raises((ValueError, TypeError), match=f"^{loss_class.__name__}: {message}") as error:
        loss_class()(pred, target)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_empty_inputs_sum_to_zero_as_torch(loss_class):
    empty = numpy.zeros((0, 3))
    loss = loss_class(reduction="sum")
    assert float(loss(empty, empty)) == 0.0 and loss.backward(2.0).shape == (0, 3)
    assert loss_class(reduction="none")(empty, empty).shape == (0, 3)


@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_integer_targets_are_cast_and_numpy_scalars_are_0d(loss_class):
    pred = numpy.array([0.25, 0.75])
    assert float(loss_class()(pred, numpy.array([0, 1]))) == float(loss_class()(pred, numpy.array([0.0, 1.0])))
    value = loss_class(reduction="none")(numpy.float64(0.25), numpy.float64(1.0))
    assert isinstance(value, numpy.ndarray) and value.shape == ()


@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_legacy_arguments_are_refused_by_name(loss_class):
    for legacy in ("size_average", "reduce"):
        with pytest.raises(ValueError, match=f"{legacy}=True \\(deprecated in torch\\) is not supported"):
            loss_class(**{legacy: True})


@pytest.mark.parametrize("make", [nn.MSELoss, lambda: nn.BCEWithLogitsLoss(pos_weight=numpy.ones(3)),
                                  lambda: nn.CrossEntropyLoss(weight=numpy.ones(3))], ids=["MSE", "BCE", "CE"])
def test_a_used_loss_can_be_deep_copied(make):
    """gradcheck and model copies deep-copy losses: nothing unpicklable (a module object) may be cached."""
    loss = make()
    target = numpy.array([0, 2]) if isinstance(loss, nn.CrossEntropyLoss) else numpy.zeros((2, 3))
    loss(numpy.full((2, 3), 0.5), target)
    twin = copy.deepcopy(loss)
    numpy.testing.assert_array_equal(twin.backward(), loss.backward())
