"""The Module contract: gradients accumulate, the last call is the one differentiated, dtypes are kept,
every error a user can cause is clear; devices; and ``import nn`` stays free of torch and CuPy."""
import copy
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

import nn
from helpers_nn import DTYPES, LOSS_CASES, LOSS_CLASSES, MODULE_CASES, module_input

PROJECT = Path(__file__).resolve().parents[1]


def small_model(dtype="float64"):
    return nn.Sequential(nn.Linear(6, 5, dtype=dtype), nn.Tanh(), nn.Linear(5, 4, dtype=dtype), nn.Sigmoid())


# --- accumulation and caching ---------------------------------------------------------------------------
PARAMETRIZED = [pytest.param(lambda: nn.Linear(6, 4, dtype="float64"), id="Linear"),
                pytest.param(lambda: nn.Linear(6, 4, bias=False, dtype="float64"), id="Linear-nobias"),
                pytest.param(small_model, id="Sequential")]


@pytest.mark.parametrize("build", PARAMETRIZED)
def test_two_backward_passes_accumulate_twice_the_gradient(build, nn_rng):
    model = build()
    x = nn_rng.standard_normal((3, 6))
    grad_output = nn_rng.standard_normal(model(x).shape)
    assert all(parameter.grad is None for parameter in model.parameters())  # None until a backward, as torch
    model.backward(grad_output, retain_graph=True)  # a second backward of one forward needs it, as torch
    once = [parameter.grad.copy() for parameter in model.parameters()]
    model.backward(grad_output)
    for parameter, single in zip(model.parameters(), once):
        assert single.any()
        assert (parameter.grad == 2 * single).all()  # bit-exact: a + a == 2a
    with pytest.raises(RuntimeError, match="backward called a second time after one forward"):
        model.backward(grad_output)  # the second backward was not retained
    model.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())  # set_to_none=True, as torch
    optimizer = nn.SGD(model.parameters())
    model(x)
    model.backward(grad_output)
    assert all(parameter.grad.any() for parameter in model.parameters())
    for parameter, single in zip(model.parameters(), once):
        assert (parameter.grad == single).all()  # after zero_grad the first gradient is written, not added
    optimizer.zero_grad(set_to_none=False)
    assert all(parameter.grad is not None and not parameter.grad.any() for parameter in model.parameters())
    optimizer.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())


@pytest.mark.parametrize("case", MODULE_CASES, ids=str)
def test_backward_differentiates_the_last_call(case, nn_rng):
    """Documented in nn/module.py: calling a module twice, then backward once, differentiates the second call."""
    module, _, shape = case.build(nn_rng, "float64", "medium")
    fresh = copy.deepcopy(module)
    first, second = (module_input(case, nn_rng, shape, "float64") for _ in range(2))
    grad_output = nn_rng.standard_normal(fresh(second.copy()).shape)
    module(first.copy())
    module(second.copy())
    numpy.testing.assert_array_equal(module.backward(grad_output.copy()), fresh.backward(grad_output.copy()))
    for (name, parameter), (_, expected) in zip(module.named_parameters(), fresh.named_parameters()):
        numpy.testing.assert_array_equal(parameter.grad, expected.grad, err_msg=name)


@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss_backward_differentiates_the_last_call(case, nn_rng):
    loss, fresh = case.ours(), case.ours()
    first, second = case.sample(nn_rng, (3, 4)), case.sample(nn_rng, (3, 4))
    loss(*first)
    loss(*second)
    fresh(*second)
    numpy.testing.assert_array_equal(loss.backward(0.5), fresh.backward(0.5))


# --- dtypes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MODULE_CASES, ids=str)
def test_module_keeps_the_dtype(case, dtype, nn_rng):
    module, _, shape = case.build(nn_rng, dtype, "medium")
    y = module(module_input(case, nn_rng, shape, dtype))
    grad_input = module.backward(nn_rng.standard_normal(y.shape).astype(dtype))
    assert y.dtype == dtype and grad_input.dtype == dtype
    for name, parameter in module.named_parameters():
        assert parameter.data.dtype == dtype and parameter.grad.dtype == dtype, name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_dtype", DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss_keeps_the_prediction_dtype(case, dtype, target_dtype, nn_rng):
    pred, target = case.sample(nn_rng, (4, 3))
    loss = case.ours()
    value = loss(pred.astype(dtype), target.astype(target_dtype))  # the target is cast to the prediction's dtype
    grad = loss.backward(numpy.float64(0.7))
    assert value.dtype == dtype and grad.dtype == dtype


def test_linear_refuses_mixed_dtypes():
    layer = nn.Linear(3, 2, dtype="float32")
    with pytest.raises(TypeError, match=r"input is float64 but the weights are float32"):
        layer(numpy.zeros((4, 3)))


def test_to_dtype_converts_the_model(nn_rng):
    model = small_model("float32")
    model.backward(numpy.ones(model(numpy.ones((2, 6), "float32")).shape, "float32"))  # gradients to convert too
    before = [parameter.data.copy() for parameter in model.parameters()]
    assert model.to(dtype="float64") is model and model.dtype == numpy.float64
    for parameter, old in zip(model.parameters(), before):
        assert parameter.data.dtype == numpy.float64 and parameter.grad.dtype == numpy.float64
        numpy.testing.assert_array_equal(parameter.data, old)
    y = model(nn_rng.standard_normal((2, 6)))
    model.backward(nn_rng.standard_normal(y.shape))
    assert y.dtype == numpy.float64 and model[0].weight.grad.dtype == numpy.float64
    model.to(dtype=numpy.float32)
    assert all(parameter.data.dtype == numpy.float32 for parameter in model.parameters())


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex128", "bfloat16"])
def test_unsupported_dtype_raises(dtype):
    with pytest.raises(ValueError, match="unsupported dtype"):
        small_model().to(dtype=dtype)
    with pytest.raises(ValueError, match="unsupported dtype"):
        nn.Linear(2, 2, dtype=dtype)


# --- bad input --------------------------------------------------------------------------------------------------
def test_linear_names_the_expected_and_given_shapes():
    with pytest.raises(ValueError) as caught:
        nn.Linear(784, 128)(numpy.zeros((32, 100), dtype="float32"))
    for text in ("Linear", "(*, 784)", "(32, 100)"):
        assert text in str(caught.value)


def test_linear_backward_checks_the_gradient_shape():
    layer = nn.Linear(4, 3)
    layer(numpy.zeros((5, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"grad_output has shape \(5, 4\) but the output has \(5, 3\)"):
        layer.backward(numpy.zeros((5, 4), dtype="float32"))


@pytest.mark.parametrize("features", [0, -3, 2.5, True])
def test_linear_rejects_bad_sizes(features):
    with pytest.raises(ValueError, match="must be a positive integer"):
        nn.Linear(features, 3)


BEFORE_FORWARD = ([pytest.param(case, id=str(case)) for case in MODULE_CASES]
                  + [pytest.param(case, id=str(case)) for case in LOSS_CASES]
                  + [pytest.param("Sequential", id="Sequential"), pytest.param("Dropout-train", id="Dropout-train")])


@pytest.mark.parametrize("case", BEFORE_FORWARD)
def test_backward_before_forward_raises(case, nn_rng):
    if case == "Sequential":
        module = small_model()
    elif case == "Dropout-train":
        module = nn.Dropout(0.5)
    elif hasattr(case, "build"):
        module = case.build(nn_rng, "float64", "small")[0]
    else:
        module = case.ours()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        module.backward(numpy.ones((3, 4)))


@pytest.mark.parametrize("loss_class", LOSS_CLASSES, ids=lambda cls: cls.__name__)
def test_loss_refuses_mismatched_shapes(loss_class):
    with pytest.raises(ValueError) as caught:
        loss_class()(numpy.full((4, 3), 0.5), numpy.full((4, 1), 0.5))
    assert loss_class.__name__ in str(caught.value)
    assert "(4, 3)" in str(caught.value) and "(4, 1)" in str(caught.value)


@pytest.mark.parametrize("loss_class", LOSS_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("reduction", ["average", "Mean", None])
def test_loss_refuses_an_unknown_reduction(loss_class, reduction):
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss_class(reduction=reduction)


def test_sequential_refuses_non_modules():
    with pytest.raises(TypeError, match="item 1 is str, not an nn.Module"):
        nn.Sequential(nn.ReLU(), "tanh")


# --- devices --------------------------------------------------------------------------------------------------
def cupy_is_installed():
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(cupy_is_installed(), reason="CuPy is installed: the missing-CuPy message cannot be seen")
@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:0"])
def test_gpu_without_cupy_says_how_to_install_it(device):
    x = numpy.zeros((2, 3))
    model = small_model()
    before = model.state_dict()
    for attempt in (lambda: nn.to_device(x, device), lambda: model.to(device)):
        with pytest.raises(nn.BackendError) as caught:
            attempt()
        assert "CuPy" in str(caught.value) and "not installed" in str(caught.value)
        assert "pip install -e .[gpu]" in str(caught.value)
    assert model.device == "cpu" and type(model[0].weight.data) is numpy.ndarray
    for name, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value, before[name])
    assert nn.gpu_available() is False


@pytest.mark.parametrize("device", ["tpu", "metal", ""])
def test_unknown_device_raises(device):
    with pytest.raises(ValueError, match="unknown device"):
        nn.to_device(numpy.zeros(2), device)
    with pytest.raises(ValueError, match="unknown device"):
        small_model().to(device)


def test_cpu_moves_are_no_ops(nn_rng):
    x = nn_rng.standard_normal((2, 3))
    assert nn.to_device(x, "cpu") is x and nn.to_numpy(x) is x and nn.device_of(x) == "cpu"
    model = small_model()
    weight = model[0].weight.data
    model.to("cpu")
    assert model.device == "cpu" and model[0].weight.data is weight


def test_import_nn_pulls_in_neither_torch_nor_cupy():
    script = (
        "import sys, numpy\n"
        "import nn\n"
        "model = nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Dropout(0.1), nn.Linear(3, 2), nn.Sigmoid())\n"
        "loss = nn.BCELoss()\n"
        "optimizer = nn.Adam(model.parameters())\n"
        "x = numpy.random.default_rng(0).uniform(size=(5, 4)).astype('float32')\n"
        "loss(model(x), x[:, :2])\n"
        "model.backward(loss.backward())\n"
        "optimizer.step()\n"
        "print(sorted(name for name in sys.modules if name.partition('.')[0] in ('torch', 'cupy', 'cupyx')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
