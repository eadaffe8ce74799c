"""CrossEntropyLoss and NLLLoss against torch: every option and their combinations (weight,
ignore_index, label_smoothing, reduction), class-index and class-probability targets, shapes (N, C),
(N, C, d1, ...) and unbatched (C,), odd sizes, random upstream gradients; gradcheck; the errors."""
import itertools

import numpy
import pytest
import torch

import nn
from helpers_losses import BACKEND_DTYPES, FixedTarget, compare_loss, report, torch_constants
from helpers_nn import BACKENDS, DTYPES

SHAPES = [(7, 5), (1, 3), (3, 5, 4), (2, 5, 3, 2), (5,)]
REDUCTIONS = ["mean", "sum", "none"]


def class_shape(shape):
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def index_target(rng, shape, ignore_index=None):
    """Class indices, a few of them (when given) replaced by ignore_index, never all of them."""
    classes = shape[1] if len(shape) > 1 else shape[0]
    target = rng.integers(0, classes, class_shape(shape))
    if ignore_index is not None and target.size > 1:
        target.ravel()[rng.permutation(target.size)[: target.size // 3]] = ignore_index
    if ignore_index is not None and (target == ignore_index).all():  # a class index can be ignore_index too
        target.ravel()[0] = (ignore_index + 1) % classes
    return target


def probability_target(rng, shape):
    """Rows of class probabilities (sum 1 along the class dimension)."""
    t = rng.uniform(0, 1, shape)
    return t / t.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)


def logits(rng, shape, dtype):
    """Scale 3 in float64; scale 1 in float32, where p - 1 for a confident class cancels 7 digits down to
    a few (torch and we round the exponentials differently), which is float32's limit, not a bug."""
    return (rng.standard_normal(shape) * (3 if dtype == "float64" else 1)).astype(dtype)


def options(rng, classes, weight, ignore_index, smoothing, dtype):
    chosen = {}
    if weight:
        chosen["weight"] = rng.uniform(0.2, 3.0, classes).astype(dtype)
    if ignore_index is not None:
        chosen["ignore_index"] = ignore_index
    if smoothing:
        chosen["label_smoothing"] = smoothing
    return chosen


@pytest.fixture(scope="module", autouse=True)
def print_worst_error():
    yield
    report()


CROSS_ENTROPY_OPTIONS = (  # target kind, weight, ignore_index, label_smoothing: every combination
    [("index", *combination) for combination in itertools.product([False, True], [None, 1], [0.0, 0.25, 1.0])]
    + [("probabilities", weight, None, smoothing) for weight in (False, True) for smoothing in (0.0, 0.3)])


@pytest.mark.parametrize("backend, dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind, weight, ignore_index, smoothing", CROSS_ENTROPY_OPTIONS, ids=str)
def test_cross_entropy_matches_torch(kind, weight, ignore_index, smoothing, shape, reduction, dtype, backend, nn_rng):
    classes = shape[1] if len(shape) > 1 else shape[0]
    chosen = options(nn_rng, classes, weight, ignore_index, smoothing, dtype)
    if kind == "index":
        target = index_target(nn_rng, shape, ignore_index)
    else:
        target = probability_target(nn_rng, shape).astype(dtype)
    reference = torch.nn.CrossEntropyLoss(reduction=reduction, **torch_constants(chosen))
    compare_loss(nn.CrossEntropyLoss(reduction=reduction, **chosen), reference, logits(nn_rng, shape, dtype), target,
                 nn_rng, backend, dtype)


@pytest.mark.parametrize("backend, dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("weight, ignore_index", list(itertools.product([False, True], [None, 2])), ids=str)
def test_nll_matches_torch(weight, ignore_index, shape, reduction, dtype, backend, nn_rng):
    classes = shape[1] if len(shape) > 1 else shape[0]
    chosen = options(nn_rng, classes, weight, ignore_index, 0.0, dtype)
    log_p = torch.log_softmax(torch.from_numpy(nn_rng.standard_normal(shape) * 2), dim=0 if len(shape) == 1 else 1)
    compare_loss(nn.NLLLoss(reduction=reduction, **chosen),
                 torch.nn.NLLLoss(reduction=reduction, **torch_constants(chosen)), log_p.numpy().astype(dtype),
                 index_target(nn_rng, shape, ignore_index), nn_rng, backend, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_on_extreme_logits_is_finite_and_matches_torch(dtype, nn_rng):
    x = numpy.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [88.0, 89.0, -90.0]], dtype=dtype)
    for smoothing in (0.0, 0.1):
        error = compare_loss(nn.CrossEntropyLoss(label_smoothing=smoothing),
                             torch.nn.CrossEntropyLoss(label_smoothing=smoothing), x, numpy.array([1, 2, 0]), nn_rng,
                             BACKENDS[0].values[0], dtype)
        assert numpy.isfinite(error)


@pytest.mark.parametrize("loss_class", [nn.CrossEntropyLoss, nn.NLLLoss])
def test_every_sample_ignored_gives_nan_mean_and_zero_gradient_as_torch(loss_class):
    x = numpy.random.default_rng(0).standard_normal((3, 4))
    target = numpy.array([1, 1, 1])
    loss = loss_class(ignore_index=1)
    with numpy.errstate(all="raise"):  # no warning either
        value = loss(x, target)
        grad = loss.backward(1.5)
    x_torch = torch.from_numpy(x).requires_grad_()
    value_torch = getattr(torch.nn, loss_class.__name__)(ignore_index=1)(x_torch, torch.from_numpy(target))
    value_torch.backward(torch.tensor(1.5, dtype=torch.float64))
    assert numpy.isnan(value) and torch.isnan(value_torch)
    numpy.testing.assert_array_equal(grad, x_torch.grad.numpy())
    assert not grad.any()
    assert float(loss_class(ignore_index=1, reduction="sum")(x, target)) == 0.0


# --- gradcheck ---------------------------------------------------------------------------------------------
GRADCHECK_CASES = [
    pytest.param(lambda w: nn.CrossEntropyLoss(), "index", id="CrossEntropy"),
    pytest.param(lambda w: nn.CrossEntropyLoss(weight=w, ignore_index=0, label_smoothing=0.2, reduction="none"),
                 "index", id="CrossEntropy-all-options-none"),
    pytest.param(lambda w: nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum"), "probabilities",
                 id="CrossEntropy-probabilities"),
    pytest.param(lambda w: nn.NLLLoss(weight=w, ignore_index=2), "index", id="NLL-weight-ignore"),
    pytest.param(lambda w: nn.NLLLoss(reduction="none"), "index", id="NLL-none"),
]


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2), (3,)], ids=str)
@pytest.mark.parametrize("make, kind", GRADCHECK_CASES)
def test_gradcheck(make, kind, shape, nn_rng):
    loss = make(nn_rng.uniform(0.5, 2, 3))
    target = probability_target(nn_rng, shape) if kind == "probabilities" else index_target(nn_rng, shape, 0)
    report = nn.gradcheck(FixedTarget(loss, target), nn_rng.standard_normal(shape))
    assert report.passed


# --- errors ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, x, target, message", [
    (nn.CrossEntropyLoss, numpy.zeros((2, 3)), numpy.array([0, 3]), r"target holds class 3, outside \[0, 3\)"),
    (nn.CrossEntropyLoss, numpy.zeros((2, 3)), numpy.array([-1, 0]), r"target holds class -1"),
    (nn.CrossEntropyLoss, numpy.zeros((2, 3)), numpy.array([0.0, 1.0]), r"integer class indices of shape \(2,\), "
                                                                        r"or class probabilities of shape \(2, 3\)"),
    (nn.CrossEntropyLoss, numpy.zeros((2, 3)), numpy.zeros((2, 3), dtype=int), r"integer class indices of shape"),
    (nn.NLLLoss, numpy.zeros((2, 3)), numpy.zeros((2, 3)), r"integer class indices of shape \(2,\)$"),
    (nn.CrossEntropyLoss, numpy.zeros((2, 3)), numpy.array([0, 1, 2]), r"target has shape \(3,\)"),
    (nn.CrossEntropyLoss, numpy.zeros(3), numpy.array([0]), r"target has shape \(1,\) and dtype int64, but for an "
                                                            r"input of shape \(3,\) it must hold integer class "
                                                            r"indices of shape \(\)"),
    (nn.CrossEntropyLoss, numpy.zeros(()), numpy.array(0), r"the input is 0-d; it needs a class dimension"),
    (lambda: nn.CrossEntropyLoss(weight=numpy.ones(4)), numpy.zeros((2, 3)), numpy.array([0, 1]),
     r"weight has 4 entries but the input has 3 classes"),
    (lambda: nn.CrossEntropyLoss(ignore_index=0), numpy.zeros((2, 3)), numpy.full((2, 3), 1 / 3),
     r"ignore_index=0 is not supported with class-probability targets"),
    (nn.CrossEntropyLoss, numpy.zeros((0, 3)), numpy.zeros(0, dtype=int), r"no samples .* reduction='sum'"),
    (nn.CrossEntropyLoss, numpy.zeros((2, 3), dtype=int), numpy.array([0, 1]), r"the input has dtype int64"),
    (nn.CrossEntropyLoss, [[0.0, 1.0]], numpy.array([0]), r"the input is a Python list, not an array"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_errors_name_the_value_and_the_fix(make, x, target, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()(x, target)


@pytest.mark.parametrize("arguments, message", [
    ({"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\], got 1.5"),
    ({"ignore_index": 1.0}, r"ignore_index must be an integer"),
    ({"weight": numpy.ones((2, 2))}, r"weight must be 1-D"),
    ({"weight": torch.ones(3)}, r"weight is a torch.Tensor; pass an array"),
    ({"reduction": "avg"}, r"reduction must be one of"),
    ({"size_average": False}, r"size_average=False \(deprecated in torch\) is not supported"),
    ({"reduce": False}, r"reduce=False \(deprecated in torch\) is not supported"),
])
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nn.CrossEntropyLoss(**arguments)


def test_upstream_gradient_of_the_wrong_shape_is_refused():
    loss = nn.CrossEntropyLoss(reduction="none")
    loss(numpy.zeros((4, 3)), numpy.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"grad_output has shape \(1,\) but the output has \(4,\)"):
        loss.backward(numpy.ones(1))
    mean = nn.CrossEntropyLoss()
    mean(numpy.zeros((4, 3)), numpy.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss.backward: grad_output has shape \(4,\) but the output "
                                         r"has \(\); pass dL/dy with exactly the output's shape"):
        mean.backward(numpy.ones(4))  # the value is 0-d: its gradient is a number or a 0-d array
    with pytest.raises(ValueError, match=r"grad_output has shape \(\) but the output has \(4,\)"):
        loss(numpy.zeros((4, 3)), numpy.array([0, 1, 2, 0]))
        loss.backward()  # 'none': no implicit gradient of ones, as torch


def test_a_classifier_trains():
    """Logistic regression on three separable blobs: the loss falls and the classes are learnt."""
    rng = numpy.random.default_rng(0)
    centers = numpy.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    labels = rng.integers(0, 3, 300)
    x = centers[labels] + rng.standard_normal((300, 2)) * 0.5
    nn.manual_seed(0)
    model = nn.Linear(2, 3, dtype="float64")
    loss, optimizer = nn.CrossEntropyLoss(), nn.SGD(model.parameters(), lr=0.5)
    first = float(loss(model(x), labels))
    for _ in range(100):
        optimizer.zero_grad()
        loss(model(x), labels)
        model.backward(loss.backward())
        optimizer.step()
    assert float(loss(model(x), labels)) < first / 10
    assert (model(x).argmax(axis=1) == labels).mean() > 0.98
