"""Layer and activation checks that mutation testing found unreached (tests/mutation/mutants.py, target
nn.layers): each refusal's whole message, torch's boundaries for dimensions and sizes, backward before
forward (or after a move), the caller's arrays left alone, and torch's defaults and reprs."""
import numpy
import pytest
import torch

import nn
from conftest import assert_close

ACTIVATIONS = ["Identity", "ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "Softplus"]


def _raises(error, message, function, *args):
    with pytest.raises(error) as caught:
        function(*args)
    assert str(caught.value) == message


@pytest.mark.parametrize("arguments, error, message", [
    ((0, 3), ValueError, "Linear: in_features must be a positive integer, got 0"),
    ((2.5, 3), ValueError, "Linear: in_features must be a positive integer, got 2.5"),
    ((True, 3), ValueError, "Linear: in_features must be a positive integer, got True"),
    ((3, 0), ValueError, "Linear: out_features must be a positive integer, got 0"),
    ((3, -2), ValueError, "Linear: out_features must be a positive integer, got -2"),
])
def test_linear_refuses_sizes_by_name(arguments, error, message):
    _raises(error, message, nn.Linear, *arguments)


def test_linear_takes_torchs_device_and_dtype_objects():
    layer = nn.Linear(2, 3, device=torch.device("cpu"))
    assert layer.weight.data.dtype == numpy.float32 and nn.device_of(layer.weight.data) == "cpu"
    assert nn.Linear(2, 3, dtype=torch.float64).weight.dtype == numpy.float64


def test_linear_refuses_an_input_of_another_dtype_naming_both_fixes():
    layer = nn.Linear(2, 3, dtype="float64")
    _raises(TypeError, "Linear(in_features=2, out_features=3, bias=True): input is float32 but the weights are "
            "float64; convert the input with x.astype('float64') or the model with .to(dtype='float32')",
            layer, numpy.ones((1, 2), dtype="float32"))


@pytest.mark.parametrize("build", [lambda: nn.Linear(2, 3, bias=False), lambda: nn.ReLU(inplace=True),
                                   lambda: nn.ReLU(), lambda: nn.Flatten(0, 2), lambda: nn.Unflatten(1, (2, 3)),
                                   lambda: nn.Dropout(0.25, inplace=True)], ids=lambda build: repr(build()))
def test_reprs_are_torchs(build):
    ours = build()
    theirs = getattr(torch.nn, type(ours).__name__)(*_torch_arguments(ours))
    assert repr(ours) == repr(theirs)


def _torch_arguments(module):
    return {"Linear": lambda m: (m.in_features, m.out_features, m.bias is not None),
            "ReLU": lambda m: (m.inplace,), "Flatten": lambda m: (m.start_dim, m.end_dim),
            "Unflatten": lambda m: (m.dim, m.unflattened_size),
            "Dropout": lambda m: (m.p, m.inplace)}[type(module).__name__](module)


@pytest.mark.parametrize("name", ["ELU", "LeakyReLU", "Softplus", "GELU", "Dropout", "Flatten"])
def test_default_options_are_torchs(name):
    ours, theirs = getattr(nn, name)(), getattr(torch.nn, name)()
    for option in ("alpha", "negative_slope", "beta", "threshold", "approximate", "p", "inplace", "start_dim",
                   "end_dim"):
        if hasattr(theirs, option) and option in vars(ours):  # ELU and LeakyReLU refuse inplace: no attribute
            assert getattr(ours, option) == getattr(theirs, option), option


# --- Flatten and Unflatten: torch's boundaries --------------------------------------------------------------------
@pytest.mark.parametrize("start_dim, end_dim", [(0, -1), (1, 1), (-2, -1), (-3, -3), (0, 0)])
def test_flatten_takes_every_order_torch_takes(start_dim, end_dim, nn_rng):
    x = nn_rng.standard_normal((2, 3, 4))
    y = nn.Flatten(start_dim, end_dim)(x)
    assert y.shape == tuple(torch.nn.Flatten(start_dim, end_dim)(torch.from_numpy(x)).shape)


@pytest.mark.parametrize("start_dim, end_dim", [(2, 1), (1, 0), (-1, -2)])
def test_flatten_refuses_a_start_after_the_end(start_dim, end_dim):
    _raises(ValueError, f"Flatten: start_dim={start_dim} comes after end_dim={end_dim}; give start_dim <= end_dim",
            nn.Flatten, start_dim, end_dim)


def test_flatten_refuses_non_integer_dimensions_by_name():
    _raises(TypeError, "Flatten: start_dim must be an integer, got 1.0", nn.Flatten, 1.0)
    _raises(TypeError, "Flatten: end_dim must be an integer, got '2'", nn.Flatten, 1, "2")


def test_flatten_dimensions_out_of_range_are_torchs_index_error():
    x = numpy.ones((2, 3))
    _raises(IndexError, "Flatten(start_dim=1, end_dim=5): end_dim=5 is out of range for an input of shape (2, 3) "
            "(expected a dimension in [-2, 1])", nn.Flatten(1, 5), x)
    _raises(IndexError, "Flatten(start_dim=-3, end_dim=-1): start_dim=-3 is out of range for an input of shape (2, 3) "
            "(expected a dimension in [-2, 1])", nn.Flatten(-3, -1), x)
    with pytest.raises(IndexError):  # torch too: a 1-D input has no dimension 1
        torch.nn.Flatten()(torch.ones(5))
    _raises(IndexError, "Flatten(start_dim=1, end_dim=-1): start_dim=1 is out of range for an input of shape (5,) "
            "(expected a dimension in [-1, 0])", nn.Flatten(), numpy.ones(5))
    assert nn.Flatten(0)(numpy.ones(5)).shape == (5,) and nn.Flatten(0)(numpy.array(2.0)).shape == (1,)
    with pytest.raises(IndexError):
        torch.nn.Flatten(0, 1)(torch.ones(5))
    _raises(IndexError, "Flatten(start_dim=0, end_dim=1): end_dim=1 is out of range for an input of shape (5,) "
            "(expected a dimension in [-1, 0])", nn.Flatten(0, 1), numpy.ones(5))


@pytest.mark.parametrize("sizes", [(2, -1), (-1, 1), (1, 6), (3, 2)])
def test_unflatten_infers_minus_one_as_torch(sizes, nn_rng):
    x = nn_rng.standard_normal((4, 6))
    assert nn.Unflatten(1, sizes)(x).shape == tuple(torch.nn.Unflatten(1, sizes)(torch.from_numpy(x)).shape)


@pytest.mark.parametrize("sizes", [(2.0, 3), (True, 6), (0, 6), (-1, -1), (), 6])
def test_unflatten_refuses_sizes_that_are_not_positive_integers(sizes):
    _raises(ValueError, "Unflatten: unflattened_size must be a tuple of positive integers (one may be -1), "
            f"got {sizes!r}", nn.Unflatten, 1, sizes)


def test_unflatten_refuses_an_input_it_does_not_split():
    _raises(ValueError, "Unflatten(dim=1, unflattened_size=(2, 3)): dimension 1 of shape (4, 12) has 12 elements, "
            "which unflattened_size (2, 3) does not split", nn.Unflatten(1, (2, 3)), numpy.ones((4, 12)))
    _raises(IndexError, "Unflatten(dim=2, unflattened_size=(2, 3)): dim=2 is out of range for an input of shape "
            "(4, 6) (expected a dimension in [-2, 1])", nn.Unflatten(2, (2, 3)), numpy.ones((4, 6)))


# --- backward: before forward, after a move, with a wrong gradient ----------------------------------------------
SHAPED = {"Linear": (lambda: nn.Linear(3, 2, dtype="float64"), (4, 3)),
          "Flatten": (lambda: nn.Flatten(), (4, 3, 2)),
          "Unflatten": (lambda: nn.Unflatten(1, (3, 2)), (4, 6)),
          "Dropout": (lambda: nn.Dropout(0.5, seed=0), (4, 3))}
SHAPED.update({name: ((lambda name=name: getattr(nn, name)()), (4, 3)) for name in ACTIVATIONS})


@pytest.mark.parametrize("name", SHAPED)
def test_backward_before_forward_or_after_a_move_says_to_call_forward(name, nn_rng):
    build, shape = SHAPED[name]
    module = build()
    message = f"{name}.backward called before forward: call the module on an input first"
    _raises(RuntimeError, message, module.backward, numpy.ones(shape))
    y = module(nn_rng.standard_normal(shape))
    if name not in ("Flatten", "Unflatten"):  # these keep only shapes, which no move makes stale
        module.to(dtype="float64")
        _raises(RuntimeError, message, module.backward, numpy.ones(y.shape))


@pytest.mark.parametrize("name", ["Linear", "Flatten", "Unflatten", "Dropout"])
def test_a_gradient_of_another_shape_is_refused_naming_the_module(name, nn_rng):
    build, shape = SHAPED[name]
    module = build()
    y = module(nn_rng.standard_normal(shape))
    wrong = numpy.ones(y.shape + (1,))
    _raises(ValueError, f"{type(module).__name__}.backward: grad_output has shape {wrong.shape} but the output has "
            f"{y.shape}; pass dL/dy with exactly the output's shape (it is never broadcast)", module.backward, wrong)


# --- the caller's arrays ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ACTIVATIONS + ["Dropout", "Linear"])
def test_forward_and_backward_leave_the_callers_arrays_alone(name, nn_rng):
    build, shape = SHAPED[name]
    module = build()
    x = nn_rng.standard_normal(shape)
    x_before = x.copy()
    y = module(x)
    g = nn_rng.standard_normal(y.shape)
    g_before = g.copy()
    module.backward(g)
    numpy.testing.assert_array_equal(x, x_before)
    numpy.testing.assert_array_equal(g, g_before)


def test_inplace_dropout_writes_into_the_input_as_torch():
    x = numpy.ones((50, 40))
    y = nn.Dropout(0.5, inplace=True, seed=3)(x)
    assert y is x and set(numpy.unique(x)) == {0.0, 2.0}


def test_softplus_at_its_threshold_is_torchs():
    """At beta * x = threshold exactly torch still takes log(1 + exp(x)) (its switch is '>'), 2e-9 above x."""
    x = numpy.array([19.5, 20.0, 20.5])
    ours, theirs = nn.Softplus(), torch.nn.Softplus()
    reference = torch.from_numpy(x).requires_grad_()
    expected = theirs(reference)
    expected.backward(torch.ones(3, dtype=torch.float64))
    assert_close(ours(x), expected, 1e-13)
    assert_close(ours.backward(numpy.ones(3)), reference.grad, 1e-13)
