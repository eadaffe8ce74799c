"""The models' API: state-dict keys and shapes (torch's, exactly), weights moving both ways between
our models and torch's, the shapes of encode/decode/forward/backward, the input gradient against
torch autograd, and finite-difference gradient checks (with and without the L1 code penalty)."""
import numpy
import pytest

try:
    import torch  # noqa: F401  (imported before the module fixture, which then gives it one thread)
except ImportError:
    torch = None

import nn
from autoencoders import (Autoencoder, DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, L1CodePenalty,
                          OvercompleteAutoencoder, SimpleAutoencoder)
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (PenalizedObjective, assert_close, copy_torch_weights, mnist_images,
                                  torch_autoencoder, torch_state_as_numpy)

DEEP_KEYS = [f"{half}.{index}.{kind}" for half in ("encoder", "decoder") for index in (0, 2, 4, 6, 8)
             for kind in ("weight", "bias")]


def deep_shapes(sizes=(784, 128, 64, 36, 18, 9)):
    shapes = {}
    for half, chain in (("encoder", sizes), ("decoder", sizes[::-1])):
        for layer, (size_in, size_out) in enumerate(zip(chain[:-1], chain[1:])):
            shapes[f"{half}.{2 * layer}.weight"] = (size_out, size_in)
            shapes[f"{half}.{2 * layer}.bias"] = (size_out,)
    return shapes


def shapes_of(state):
    return {name: tuple(value.shape) for name, value in state.items()}


# --- state dicts -----------------------------------------------------------------------------------
def test_simple_state_dict_keys_and_shapes():
    model = SimpleAutoencoder()
    assert list(model.state_dict()) == ["encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"]
    assert shapes_of(model.state_dict()) == {"encoder.weight": (128, 784), "encoder.bias": (128,),
                                             "decoder.weight": (784, 128), "decoder.bias": (784,)}
    assert model.latent_dim == 128
    assert SimpleAutoencoder(input_dim=20, latent_dim=3).latent_dim == 3


def test_deep_state_dict_keys_shapes_and_layers():
    model = DeepAutoencoder()
    assert list(model.state_dict()) == DEEP_KEYS
    assert shapes_of(model.state_dict()) == deep_shapes()
    assert len(model.encoder) == 9 and len(model.decoder) == 10
    assert isinstance(model.decoder[9], nn.Sigmoid)
    assert all(isinstance(model.encoder[index], nn.ReLU) for index in (1, 3, 5, 7))
    assert all(isinstance(model.decoder[index], nn.ReLU) for index in (1, 3, 5, 7))
    assert model.latent_dim == 9
    assert len(model.parameters()) == 20  # every parameter once: an optimizer refuses duplicates
    nn.Adam(model.parameters())


def test_overcomplete_and_denoising_state_dict_keys():
    model = OvercompleteAutoencoder()
    assert shapes_of(model.state_dict()) == {"encoder.0.weight": (1024, 784), "encoder.0.bias": (1024,),
                                             "decoder.0.weight": (784, 1024), "decoder.0.bias": (784,)}
    assert isinstance(model.encoder[1], nn.ReLU) and isinstance(model.decoder[1], nn.Sigmoid)
    assert model.latent_dim == 1024
    base = DeepAutoencoder()
    denoising = DenoisingAutoencoder(base, GaussianNoise(0.3, seed=0))
    assert list(denoising.state_dict()) == DEEP_KEYS
    # The same parameters, not copies: training the denoiser trains the base.
    assert [id(p) for p in denoising.parameters()] == [id(p) for p in base.parameters()]


@pytest.mark.parametrize("kind", ["simple", "deep", "overcomplete"])
def test_torch_weights_load_unchanged_and_ours_load_into_torch(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch_autoencoder(kind)
    model = {"simple": SimpleAutoencoder, "deep": DeepAutoencoder, "overcomplete": OvercompleteAutoencoder}[kind]()
    model.to(dtype="float64")
    copy_torch_weights(reference, model)  # asserts equal key lists and shapes
    theirs = torch_state_as_numpy(reference)
    for name, value in model.state_dict().items():
        assert value.dtype == numpy.float64
        assert numpy.array_equal(value, theirs[name]), name

    # And back: our (freshly initialized) weights into a torch model, strict, unchanged.
    nn.manual_seed(7)
    ours = type(model)().to(dtype="float64")
    target = torch_autoencoder(kind)
    target.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()}, strict=True)
    for name, value in torch_state_as_numpy(target).items():
        assert numpy.array_equal(value, ours.state_dict()[name]), name
    x = mnist_images(16)
    assert_close(ours(x), target(torch.from_numpy(x)), 1e-12, "forward with exchanged weights")


def test_float32_weights_from_torch_load_into_a_float32_model():
    torch = pytest.importorskip("torch")
    reference = torch_autoencoder("deep").float()
    model = DeepAutoencoder()
    model.load_state_dict(torch_state_as_numpy(reference))
    for name, value in model.state_dict().items():
        assert value.dtype == numpy.float32
        assert numpy.array_equal(value, reference.state_dict()[name].numpy()), name


def test_load_state_dict_rejects_wrong_keys_and_shapes_and_changes_nothing():
    model = DeepAutoencoder()
    before = model.state_dict()
    state = dict(before)
    state["encoder.0.weight"] = numpy.zeros((5, 7), numpy.float32)
    with pytest.raises(ValueError, match=r"encoder\.0\.weight.*\(5, 7\).*\(128, 784\)"):
        model.load_state_dict(state)
    state = {name: value for name, value in before.items() if name != "decoder.8.bias"}
    with pytest.raises(ValueError, match="decoder.8.bias"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        assert numpy.array_equal(value, before[name])


# --- shapes and dtypes -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("factory,latent", [(SimpleAutoencoder, 128), (DeepAutoencoder, 9),
                                            (OvercompleteAutoencoder, 1024)])
def test_encode_decode_forward_backward_shapes(factory, latent, dtype):
    model = factory().to(dtype=dtype)
    x = mnist_images(5, dtype)
    code = model.encode(x)
    assert code.shape == (5, latent) and code.dtype == numpy.dtype(dtype)
    decoded = model.decode(code)
    assert decoded.shape == (5, 784) and decoded.dtype == numpy.dtype(dtype)
    y = model(x)
    assert y.shape == (5, 784) and y.dtype == numpy.dtype(dtype)
    assert numpy.allclose(y, decoded, rtol=1e-6, atol=1e-7)
    grad = numpy.random.default_rng(0).standard_normal((5, 784)).astype(dtype)
    grad_input = model.backward(grad)
    assert grad_input.shape == (5, 784) and grad_input.dtype == numpy.dtype(dtype)
    for name, parameter in model.named_parameters():
        assert parameter.grad.shape == parameter.shape and numpy.any(parameter.grad != 0), name


def test_sigmoid_output_stays_in_the_unit_interval():
    y = DeepAutoencoder().to(dtype="float64")(mnist_images(8))
    assert y.min() >= 0 and y.max() <= 1


def test_need_input_grad_false_skips_the_input_gradient_and_resets():
    model = DeepAutoencoder().to(dtype="float64")
    x = mnist_images(4)
    grad = numpy.random.default_rng(1).standard_normal((4, 784))
    model(x)
    assert model.backward(grad.copy(), need_input_grad=False) is None
    weight_grad = model.encoder[0].weight.grad.copy()
    assert numpy.any(weight_grad != 0)
    model.zero_grad()
    model(x)
    full = model.backward(grad.copy())
    assert full is not None and full.shape == (4, 784)
    assert numpy.array_equal(model.encoder[0].weight.grad, weight_grad)  # same parameter gradients either way


@pytest.mark.parametrize("kind", ["simple", "deep", "overcomplete"])
def test_backward_input_and_parameter_gradients_match_torch(kind):
    """backward(g) with a random upstream g (never all ones) is torch's dL/dx for L = <g, y>."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    reference = torch_autoencoder(kind)
    model = {"simple": SimpleAutoencoder, "deep": DeepAutoencoder,
             "overcomplete": lambda: OvercompleteAutoencoder(l1_weight=0)}[kind]().to(dtype="float64")
    copy_torch_weights(reference, model)
    x = mnist_images(6)
    upstream = numpy.random.default_rng(4).standard_normal((6, 784))
    y = model(x)
    model.zero_grad()
    grad_input = model.backward(upstream.copy())

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = reference(tx)
    (ty * torch.from_numpy(upstream)).sum().backward()
    assert_close(y, ty, 1e-12, "forward")
    assert_close(grad_input, tx.grad, 1e-10, "dL/dx")
    for name, parameter in reference.named_parameters():
        ours = dict(model.named_parameters())[name].grad
        assert_close(ours, parameter.grad, 1e-10, f"dL/d{name}")


def test_backward_does_not_modify_the_callers_upstream_gradient():
    model = DeepAutoencoder().to(dtype="float64")
    x = mnist_images(3)
    upstream = numpy.random.default_rng(5).standard_normal((3, 784))
    kept = upstream.copy()
    model(x)
    model.backward(upstream)
    assert numpy.array_equal(upstream, kept)


# --- the L1 code penalty ----------------------------------------------------------------------------
def test_l1_penalty_value_is_weight_times_mean_absolute_code_sum():
    model = OvercompleteAutoencoder(input_dim=20, latent_dim=30, l1_weight=0.05).to(dtype="float64")
    x = numpy.random.default_rng(6).uniform(0, 1, (7, 20))
    model(x)
    code = model.encode(x)
    assert model.penalty == pytest.approx(0.05 * numpy.abs(code).sum() / 7, rel=1e-12)
    assert model.penalty > 0
    assert repr(model.code_penalty) == "L1CodePenalty(weight=0.05)"


def test_no_penalty_without_weight_and_bad_weights_refused():
    model = OvercompleteAutoencoder(input_dim=20, latent_dim=30, l1_weight=0)
    assert model.code_penalty is None
    model(numpy.random.default_rng(7).uniform(0, 1, (3, 20)).astype("float32"))
    assert model.penalty == 0.0
    assert DeepAutoencoder().code_penalty is None
    for weight in (-1e-4, float("nan")):
        with pytest.raises(ValueError, match="weight"):
            L1CodePenalty(weight)


# --- finite differences -------------------------------------------------------------------------------
def test_gradcheck_small_deep_autoencoder():
    model = DeepAutoencoder(input_dim=20, hidden=(8, 6), latent_dim=3, dtype="float64")
    x = numpy.random.default_rng(8).uniform(0, 1, (5, 20))
    report = nn.gradcheck(model, x, mode="directional", directions=6)
    assert report.passed
    # sizes 20-8-6-3 and back: three Linear layers each way, every weight and bias checked, and the input
    assert {check.name for check in report.checks} == {"input 0", *model.state_dict()}
    assert len(report.checks) == 13


def penalized_overcomplete():
    nn.manual_seed(9)
    model = OvercompleteAutoencoder(input_dim=12, latent_dim=16, l1_weight=0.05, dtype="float64")
    rng = numpy.random.default_rng(10)
    return PenalizedObjective(model, rng.uniform(0, 1, (4, 12))), rng.uniform(0, 1, (4, 12))


def test_gradcheck_overcomplete_with_l1_penalty():
    objective, x = penalized_overcomplete()
    objective(x)
    assert objective.model.penalty > 0.1 * float(objective.loss(objective.model(x), objective.target))
    report = nn.gradcheck(objective, x, mode="directional", directions=8)
    assert report.passed


def test_gradcheck_with_penalty_catches_a_wrong_penalty_gradient(monkeypatch):
    """The check above can fail: with the penalty's gradient doubled it must."""
    objective, x = penalized_overcomplete()
    original = L1CodePenalty.grad
    monkeypatch.setattr(L1CodePenalty, "grad", lambda self, code: 2 * original(self, code))
    with pytest.raises(nn.GradcheckError):
        nn.gradcheck(objective, x, mode="directional", directions=8)


def test_custom_autoencoder_from_any_encoder_and_decoder():
    model = Autoencoder(nn.Sequential(nn.Linear(10, 4, dtype="float64"), nn.Tanh()),
                        nn.Sequential(nn.Linear(4, 10, dtype="float64")))
    assert model.latent_dim == 4
    x = numpy.random.default_rng(11).uniform(0, 1, (3, 10))
    assert model(x).shape == (3, 10)
    nn.gradcheck(model, x, mode="directional")


# --- edges found by mutation testing (python -m tests.mutation.mutants --targets autoencoders) ----------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layer_gets_the_dtype_asked_for(dtype):
    for model in (SimpleAutoencoder(input_dim=6, latent_dim=2, dtype=dtype),
                  OvercompleteAutoencoder(input_dim=6, latent_dim=8, dtype=dtype),
                  DeepAutoencoder(input_dim=6, hidden=(5,), latent_dim=2, dtype=dtype)):
        assert {value.dtype.name for value in model.state_dict().values()} == {dtype}


def test_overcomplete_defaults_and_its_relu_is_the_plain_one():
    model = OvercompleteAutoencoder()
    assert model.code_penalty.weight == 1e-4 and model.latent_dim == 1024
    # plain nn.ReLU() as written (the fast step, nn.fast.compile, fuses Linear + ReLU itself)
    assert type(model.encoder[1]) is nn.ReLU and not model.encoder[1].inplace
    deep = DeepAutoencoder()
    assert all(type(layer) is nn.ReLU and not layer.inplace for layer in (deep.encoder[1], deep.decoder[1]))


def test_a_zero_l1_weight_is_a_penalty_of_zero():
    penalty = L1CodePenalty(0)
    code = numpy.array([[1.0, -2.0]])
    assert penalty.value(code) == 0.0 and not penalty.grad(code).any()


def test_denoising_keeps_the_base_models_penalty_and_adds_noise_only_while_training():
    base = OvercompleteAutoencoder(input_dim=6, latent_dim=8, l1_weight=0.5, dtype="float64")
    model = DenoisingAutoencoder(base, GaussianNoise(0.5, seed=1))
    assert model.code_penalty is base.code_penalty
    x = numpy.random.default_rng(8).uniform(0, 1, (4, 6))
    model(x)
    assert model.penalty > 0
    model.eval()
    assert numpy.array_equal(model(x), base.decode(base.encode(x)))  # no noise in eval mode
    model.train()
    assert not numpy.array_equal(model(x), base.decode(base.encode(x)))


def test_deep2006_is_784_1000_500_250_30_with_logistic_hidden_units_and_a_linear_code():
    from autoencoders import Deep2006Autoencoder
    model = Deep2006Autoencoder()
    sizes = [784, 1000, 500, 250, 30]
    assert [tuple(layer.weight.shape) for layer in model.encoder if isinstance(layer, nn.Linear)] == [
        (b, a) for a, b in zip(sizes, sizes[1:])]
    assert [tuple(layer.weight.shape) for layer in model.decoder if isinstance(layer, nn.Linear)] == [
        (a, b) for a, b in zip(sizes[::-1][1:], sizes[::-1])]
    assert [type(layer).__name__ for layer in model.encoder] == ["Linear", "Sigmoid"] * 3 + ["Linear"]
    assert [type(layer).__name__ for layer in model.decoder] == ["Linear", "Sigmoid"] * 4
    assert model.latent_dim == 30
    small = Deep2006Autoencoder(input_dim=6, hidden=(5, 4), latent_dim=2, dtype="float64")
    assert [tuple(v.shape) for v in small.state_dict().values() if v.ndim == 2] == [(5, 6), (4, 5), (2, 4), (4, 2),
                                                                                    (5, 4), (6, 5)]
    assert {v.dtype.name for v in small.state_dict().values()} == {"float64"}
