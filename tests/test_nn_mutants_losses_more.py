"""Loss checks that mutation testing found unreached once the runner could select tests whose ids hold a
backslash (tests/mutation/mutants.py, target nn.losses): the whole one-line refusal of torch's deprecated
size_average/reduce, each naming the loss; class-index messages naming the loss and the valid range; and
the dtype of an undefined (NaN) mean, which torch keeps at the input's dtype."""
import numpy
import pytest
import torch

import nn


def _message(function, error=ValueError):
    with pytest.raises(error) as caught:
        function()
    text = str(caught.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("loss", [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss, nn.NLLLoss,
                                  nn.CrossEntropyLoss])
@pytest.mark.parametrize("legacy, value", [("size_average", False), ("reduce", False), ("size_average", True)])
def test_deprecated_argument_refused_naming_the_loss_and_the_fix(loss, legacy, value):
    text = _message(lambda: loss(**{legacy: value}))
    assert text == (f"{loss.__name__}: {legacy}={value!r} (deprecated in torch) is not supported; "
                    "use reduction='none', 'mean' or 'sum'")


def test_class_index_messages_name_the_loss_and_the_range():
    classes = 3
    x = numpy.zeros((2, classes))
    for loss in (nn.NLLLoss(), nn.CrossEntropyLoss()):
        name = type(loss).__name__
        text = _message(lambda: loss(x, numpy.array([0, classes])))
        assert text.startswith(f"{name}: target holds class {classes}, outside [0, {classes})")
        assert text.endswith(f"use indices 0 to {classes - 1}")
        # torch refuses the same target
        with pytest.raises((IndexError, RuntimeError)):
            torch.nn.functional.nll_loss(torch.zeros(2, classes), torch.tensor([0, classes]))
        text = _message(lambda: loss(numpy.zeros(()), numpy.array(0)))
        assert text.startswith(f"{name}: the input is 0-d")
        text = _message(lambda: loss(numpy.zeros((2, classes), dtype=int), numpy.array([0, 1])), TypeError)
        assert text.startswith(f"{name}: the input has dtype int64")


def test_empty_batch_mean_refused_with_the_fix():
    for loss in (nn.NLLLoss(), nn.CrossEntropyLoss()):
        text = _message(lambda: loss(numpy.zeros((0, 3)), numpy.zeros(0, dtype=int)))
        assert text == (f"{type(loss).__name__}: the input holds no samples (shape (0, 3)), and their mean is "
                        "undefined; pass at least one, or use reduction='sum'")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss, torch_loss", [(nn.NLLLoss, torch.nn.NLLLoss),
                                              (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss)])
def test_undefined_mean_keeps_the_input_dtype(loss, torch_loss, dtype):
    """Every sample ignored: the mean is 0/0 = NaN, of the input's dtype (torch's too)."""
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(dtype)
    target = numpy.full(3, -100)
    value = loss()(x, target)
    expected = torch_loss()(torch.from_numpy(x), torch.from_numpy(target))
    assert numpy.isnan(value) and torch.isnan(expected)
    assert value.dtype == numpy.dtype(dtype) == numpy.dtype(str(expected.dtype).removeprefix("torch."))
    kept = loss()(x, numpy.array([0, 1, 2]))  # a defined mean, too
    assert kept.dtype == numpy.dtype(dtype)
