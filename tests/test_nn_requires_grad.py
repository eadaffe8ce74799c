"""requires_grad, torch's switch: a frozen parameter's backward leaves its .grad as it was and still
returns the input gradient, the same one as unfrozen; as in torch, with torch as the reference."""
import copy

import numpy
import pytest

import nn

LAYERS = [pytest.param(lambda: nn.Linear(6, 4), (5, 6), id="Linear"),
          pytest.param(lambda: nn.Linear(6, 4), (2, 5, 6), id="Linear-3d"),
          pytest.param(lambda: nn.Linear(6, 4, bias=False), (5, 6), id="Linear-nobias"),
          pytest.param(lambda: nn.Conv2d(4, 6, 3, 1, 1), (2, 4, 5, 5), id="Conv2d"),
          pytest.param(lambda: nn.Conv2d(4, 6, 3, 2, 1, groups=2), (2, 4, 5, 5), id="Conv2d-groups"),
          pytest.param(lambda: nn.ConvTranspose2d(4, 6, 4, 2, 1), (2, 4, 3, 3), id="ConvTranspose2d"),
          pytest.param(lambda: nn.ConvTranspose2d(4, 6, 3, 2, 1, groups=2), (2, 4, 3, 3), id="ConvTranspose2d-groups"),
          pytest.param(lambda: nn.BatchNorm1d(6), (5, 6), id="BatchNorm1d"),
          pytest.param(lambda: nn.BatchNorm2d(4), (3, 4, 2, 2), id="BatchNorm2d")]


def forward_backward(layer, x, seed=1):
    y = layer(x.copy())
    return layer.backward(numpy.random.default_rng(seed).standard_normal(y.shape))


@pytest.mark.parametrize("frozen", ["all", "weight", "bias"])
@pytest.mark.parametrize("build, shape", LAYERS)
def test_frozen_parameters_keep_their_grad_and_the_input_gradient_is_unchanged(build, shape, frozen):
    nn.manual_seed(0)
    trainable = build().to(dtype="float64")
    if getattr(trainable, frozen, True) is None:
        pytest.skip("the layer has no such parameter")
    layer = copy.deepcopy(trainable)
    x = numpy.random.default_rng(0).standard_normal(shape)
    expected = forward_backward(trainable, x)
    if frozen == "all":
        assert layer.requires_grad_(False) is layer
    else:
        getattr(layer, frozen).requires_grad_(False)
    for parameter in layer.parameters():
        parameter.grad = parameter.data * 0 + (0.5)
    numpy.testing.assert_array_equal(forward_backward(layer, x), expected)
    for name, parameter in layer.named_parameters():
        if not parameter.requires_grad:
            assert (parameter.grad == 0.5).all(), f"{name} is frozen but its .grad changed"
        else:
            numpy.testing.assert_allclose(parameter.grad - 0.5, dict(trainable.named_parameters())[name].grad,
                                          rtol=1e-12, atol=1e-12)
    layer.requires_grad_()                                   # torch's default: True, unfreezing all
    assert all(parameter.requires_grad for parameter in layer.parameters())


def test_frozen_first_layer_equals_torch():
    torch = pytest.importorskip("torch")
    nn.manual_seed(3)
    ours = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).to(dtype="float64")
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    ours[0].requires_grad_(False)
    theirs[0].requires_grad_(False)
    rng = numpy.random.default_rng(2)
    x, g = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    x_torch = torch.from_numpy(x).requires_grad_()
    theirs(x_torch).backward(torch.from_numpy(g))
    ours(x)
    numpy.testing.assert_allclose(ours.backward(g), x_torch.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, parameter), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert parameter.requires_grad == reference.requires_grad
        if reference.grad is None:  # frozen: its grad stays None, as torch's
            assert parameter.grad is None, name
        else:
            numpy.testing.assert_allclose(parameter.grad, reference.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_gradcheck_checks_only_what_requires_a_gradient():
    nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype="float64")
    model[2].requires_grad_(False)
    report = nn.gradcheck(model, numpy.random.default_rng(0).standard_normal((2, 3)))
    assert {check.name for check in report.checks} == {"input 0", "0.weight", "0.bias"}


@pytest.mark.parametrize("value", ["no", 0, None])
def test_requires_grad_takes_only_true_or_false(value):
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        nn.Linear(2, 2).requires_grad_(value)
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        nn.Parameter(numpy.zeros(2), requires_grad=value)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_each_refusal_of_a_flag_names_where_it_was_given(value):
    for call, where in ((lambda: nn.Linear(2, 2).requires_grad_(value), "Linear.requires_grad_"),
                        (lambda: nn.Sequential(nn.ReLU()).requires_grad_(value), "Sequential.requires_grad_"),
                        (lambda: nn.Parameter(numpy.zeros(2)).requires_grad_(value), "Parameter.requires_grad_")):
        with pytest.raises(TypeError) as caught:
            call()
        assert str(caught.value) == f"{where}: requires_grad must be True or False, got {value!r}"


def test_requires_grad_with_no_argument_unfreezes_a_parameter_and_a_module():
    parameter = nn.Parameter(numpy.zeros(2), requires_grad=False)
    assert parameter.requires_grad_() is parameter and parameter.requires_grad is True
    layer = nn.Linear(2, 2).requires_grad_(False)
    layer.requires_grad_()
    assert all(p.requires_grad is True for p in layer.parameters())
