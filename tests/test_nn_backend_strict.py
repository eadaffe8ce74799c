"""No NumPy leaks out of the backend: with StrictArray (CuPy's refusal to mix with NumPy arrays, on the
CPU) every module, loss, optimizer and gradcheck must stay on the array's own namespace.

Every layer, activation and loss also runs on the "strict" backend in the torch parity tests
(test_nn_parity.py); here: the strict type itself, training steps, gradcheck, and proof that the check bites.
"""
import numpy
import pytest

import nn
from helpers_nn import STRICT_NAMESPACE, ArrayBackend, StrictArray, strict

STRICT = ArrayBackend("strict")


# --- the strict type itself ----------------------------------------------------------------------------
def test_strict_array_refuses_plain_arrays():
    a = strict(numpy.arange(6.0).reshape(2, 3))
    plain = numpy.ones((2, 3))
    for operation in (lambda: a + plain, lambda: plain * a, lambda: a @ plain.T, lambda: numpy.maximum(a, plain),
                      lambda: a + numpy.array(1.0),  # 0-d arrays too: CuPy refuses them
                      lambda: numpy.where(a > 0, a, plain), lambda: numpy.dot(a.ravel(), plain.ravel()),
                      lambda: numpy.add(a, 1, out=plain), lambda: STRICT_NAMESPACE.maximum(plain, 0),
                      lambda: STRICT_NAMESPACE.zeros_like(plain)):
        with pytest.raises(TypeError, match="plain numpy.ndarray"):
            operation()


def test_strict_array_allows_scalars_and_stays_strict():
    a = strict(numpy.arange(6.0).reshape(2, 3))
    results = [a + 1, 2.0 * a, a * numpy.float32(3), a - numpy.float64(1), numpy.exp(a), a.sum(axis=0), a > 2,
               numpy.where(a > 2, a, a * 0.5), a @ a.T, a.T, a.reshape(3, 2), a.astype("float32"), a.copy(),
               STRICT_NAMESPACE.asarray(numpy.ones(3)), STRICT_NAMESPACE.asarray(numpy.float64(2.0)),
               STRICT_NAMESPACE.zeros_like(a), STRICT_NAMESPACE.empty(4, dtype="float32"), nn.backend.erf(a)]
    for result in results:
        assert type(result) is StrictArray
    out = STRICT_NAMESPACE.empty_like(a)
    assert numpy.add(a, 1, out=out) is out and (out == a + 1).all()
    assert float(a.max()) == 5.0
    assert nn.get_array_module(a) is STRICT_NAMESPACE
    assert nn.device_of(a) == "cpu"


# --- training on strict arrays ---------------------------------------------------------------------------
OPTIMIZERS = [
    pytest.param(lambda parameters: nn.Adam(parameters, lr=0.01), id="Adam"),
    pytest.param(lambda parameters: nn.Adam(parameters, lr=0.01, weight_decay=0.1, amsgrad=True),
                 id="Adam-amsgrad-weight_decay"),
    pytest.param(lambda parameters: nn.AdamW(parameters, lr=0.01, amsgrad=True), id="AdamW-amsgrad"),
    pytest.param(lambda parameters: nn.SGD(parameters, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                 id="SGD-momentum-nesterov-weight_decay"),
    pytest.param(lambda parameters: nn.SGD(parameters, lr=0.1, momentum=0.9, dampening=0.3), id="SGD-dampening"),
    pytest.param(lambda parameters: nn.Adam([dict(params=list(parameters)[:2], lr=0.02, weight_decay=0.1),
                                             dict(params=list(parameters)[2:])], lr=0.01, maximize=True),
                 id="Adam-groups-maximize"),
]


def training_model(seed):
    nn.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8, dtype="float64"), nn.LeakyReLU(),
                         nn.Dropout(0.25, seed=seed), nn.Linear(8, 6, dtype="float64"), nn.GELU(),
                         nn.Linear(6, 4, dtype="float64"), nn.Sigmoid())


def train(backend, make_optimizer, nn_rng_seed, steps=4):
    """A few full steps: forward, BCE loss, backward, optimizer step. Returns the model and optimizer."""
    rng = numpy.random.default_rng(nn_rng_seed)
    model = backend.module(training_model(0))  # StrictArray parameters before the optimizer packs them
    optimizer = make_optimizer(model.parameters())
    loss = nn.BCELoss()
    for _ in range(steps):
        x, target = rng.standard_normal((5, 3, 4)), rng.uniform(0, 1, (5, 4))
        optimizer.zero_grad()
        value = loss(model(backend.array(x)), backend.array(target))
        assert backend.owns(value)
        model.backward(loss.backward())
        optimizer.step()
    return model, optimizer


def test_the_fused_gpu_branch_stays_strict(monkeypatch):
    """The fused kernels' branch (a CPU standing in for the GPU, the plain forms for the kernels): the
    Sigmoid's fused forward and backward and nn.fast.step's planned step mix in no NumPy array."""
    from autoencoders.models import DeepAutoencoder
    from helpers_fused import StandInGPU
    from nn.fast.step import compile as plan_fused_step
    gpu = StandInGPU().install(monkeypatch)
    nn.manual_seed(0)
    model = STRICT.module(DeepAutoencoder(input_dim=12, hidden=(8,), latent_dim=3, dtype="float64"))
    step, optimizer = plan_fused_step(model, nn.MSELoss()), nn.Adam(model.parameters(), lr=0.01)
    x = STRICT.array(numpy.random.default_rng(0).random((5, 12)))
    for _ in range(2):
        value = step.forward(x, x)
        optimizer.zero_grad()
        step.backward(need_input_grad=False)
        optimizer.step()
    assert type(value) is StrictArray
    assert all(type(p.data) is StrictArray and type(p.grad) is StrictArray for p in model.parameters())
    assert gpu.calls["bias_relu"] == 2 * 2 and gpu.calls["mse_sigmoid_backward"] == 2
    assert gpu.calls["sigmoid_forward"] == 2 and "sigmoid_backward" not in gpu.calls  # fused with MSELoss's
    sigmoid = nn.Sigmoid()  # a module called by itself runs its formula: the kernels are nn.fast's alone
    y = sigmoid(x)
    assert type(y) is StrictArray and type(sigmoid.backward(x)) is StrictArray
    assert gpu.calls["sigmoid_forward"] == 2 and "sigmoid_backward" not in gpu.calls


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_training_steps_stay_strict_and_match_numpy(make_optimizer):
    model, optimizer = train(STRICT, make_optimizer, 3)
    for name, parameter in model.named_parameters():
        assert type(parameter.data) is StrictArray and type(parameter.grad) is StrictArray, name
    for parameter_state in optimizer.state.values():
        for name, value in parameter_state.items():
            assert name == "step" or type(value) is StrictArray, name
    reference, _ = train(ArrayBackend("numpy"), make_optimizer, 3)
    for (name, parameter), expected in zip(model.named_parameters(), reference.parameters()):
        numpy.testing.assert_array_equal(parameter.data.view(numpy.ndarray), expected.data, err_msg=name)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_gradcheck_runs_on_strict_arrays(mode, nn_rng):
    model = nn.Sequential(nn.Linear(4, 3, dtype="float64"), nn.Softplus(), nn.Linear(3, 2, dtype="float64"))
    report = nn.gradcheck(STRICT.module(model), strict(nn_rng.standard_normal((3, 4))), mode=mode)
    assert report.passed and len(report.checks) == 5
    assert type(model[0].weight.data) is StrictArray  # gradcheck worked on a copy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_is_strict(dtype, nn_rng):
    dropout = nn.Dropout(0.5, seed=1)
    y = dropout(strict(nn_rng.standard_normal((6, 7)).astype(dtype)))
    grad_input = dropout.backward(strict(nn_rng.standard_normal((6, 7)).astype(dtype)))
    assert type(y) is StrictArray and type(grad_input) is StrictArray
    assert type(dropout._scaled_mask) is StrictArray and dropout._scaled_mask.dtype == dtype


# --- classification losses, Softmax and the loss options on strict arrays ---------------------------------------
CLASSIFIER_LOSSES = [
    pytest.param(lambda: (nn.Identity(), nn.CrossEntropyLoss(weight=numpy.linspace(0.5, 2, 4), ignore_index=1,
                                                             label_smoothing=0.1)), "index", id="CrossEntropy"),
    pytest.param(lambda: (nn.Identity(), nn.CrossEntropyLoss(reduction="sum")), "probabilities",
                 id="CrossEntropy-probabilities"),
    pytest.param(lambda: (nn.LogSoftmax(1), nn.NLLLoss(weight=numpy.linspace(0.5, 2, 4))), "index", id="NLL"),
    pytest.param(lambda: (nn.Softmax(1), nn.BCELoss(weight=numpy.linspace(0.5, 2, 4), reduction="none")),
                 "probabilities", id="Softmax-BCE-none"),
    pytest.param(lambda: (nn.Identity(), nn.BCEWithLogitsLoss(numpy.ones(4), pos_weight=numpy.arange(1.0, 5.0))),
                 "probabilities", id="BCEWithLogits-weights"),
]


def classifier_step(backend, make, target_kind, seed):
    """One step of a (N, 3, 2) -> 4-class classifier: forward, loss, backward. Returns input gradient, weight grad."""
    rng = numpy.random.default_rng(seed)
    nn.manual_seed(0)
    head, loss = make()
    model = backend.module(nn.Sequential(nn.Flatten(), nn.Linear(6, 4, dtype="float64"), head))
    x = rng.standard_normal((5, 3, 2))
    if target_kind == "index":
        target = rng.integers(0, 4, 5)
    else:
        target = rng.uniform(0, 1, (5, 4))
    value = loss(model(backend.array(x)), backend.array(target))
    upstream = rng.standard_normal(value.shape) if value.shape else 1.3
    grad = model.backward(loss.backward(backend.array(upstream) if value.shape else upstream))
    assert backend.owns(value) and backend.owns(grad)
    return grad, model[1].weight.grad


@pytest.mark.parametrize("make, target_kind", CLASSIFIER_LOSSES)
def test_classification_losses_stay_strict_and_match_numpy(make, target_kind):
    strict_grads = classifier_step(STRICT, make, target_kind, 5)
    for ours, expected in zip(strict_grads, classifier_step(ArrayBackend("numpy"), make, target_kind, 5)):
        assert type(ours) is StrictArray
        numpy.testing.assert_array_equal(ours.view(numpy.ndarray), expected)


@pytest.mark.parametrize("module", [nn.Softmax(0), nn.LogSoftmax(-1), nn.Sigmoid(), nn.ReLU(), nn.Softplus()],
                         ids=lambda module: type(module).__name__)
def test_zero_dimensional_strict_inputs_stay_strict(module):
    y = module(strict(numpy.array(0.3)))
    grad = module.backward(strict(numpy.array(-1.2)))
    assert type(y) is StrictArray and type(grad) is StrictArray and y.shape == grad.shape == ()


NORMALIZATIONS = [
    pytest.param(lambda: nn.BatchNorm1d(3, dtype="float64"), (5, 3), id="BatchNorm1d"),
    pytest.param(lambda: nn.BatchNorm1d(3, momentum=None, dtype="float64"), (4, 3, 2), id="BatchNorm1d-NCL-cumulative"),
    pytest.param(lambda: nn.BatchNorm2d(3, affine=False, dtype="float64"), (2, 3, 2, 2), id="BatchNorm2d-noaffine"),
    pytest.param(lambda: nn.BatchNorm2d(3, track_running_stats=False, dtype="float64"), (2, 3, 2, 2),
                 id="BatchNorm2d-untracked"),
    pytest.param(lambda: nn.LayerNorm((3, 2), dtype="float64"), (4, 3, 2), id="LayerNorm"),
]


def normalization_steps(backend, build, shape, seed):
    """Two training steps, then one in eval mode; returns the module and every output and input gradient."""
    rng = numpy.random.default_rng(seed)
    module = backend.module(build())
    results = []
    for mode in ("train", "train", "eval"):
        getattr(module, mode)()
        y = module(backend.array(rng.standard_normal(shape) + 1))
        results += [y, module.backward(backend.array(rng.standard_normal(shape)))]
    return module, results


@pytest.mark.parametrize("build, shape", NORMALIZATIONS)
def test_normalization_state_stays_strict_and_matches_numpy(build, shape):
    module, results = normalization_steps(STRICT, build, shape, 5)
    reference, expected = normalization_steps(ArrayBackend("numpy"), build, shape, 5)
    for result, plain in zip(results, expected):
        assert type(result) is StrictArray
        numpy.testing.assert_array_equal(result.view(numpy.ndarray), plain)
    state, plain_state = module.state_dict(), reference.state_dict()
    assert list(state) == list(plain_state)
    for name, value in state.items():
        assert type(value) is StrictArray, name
        numpy.testing.assert_array_equal(value.view(numpy.ndarray), plain_state[name], err_msg=name)
    for name, parameter in module.named_parameters():
        assert type(parameter.grad) is StrictArray, name
    module.load_state_dict(plain_state)  # a host-to-device copy into the strict arrays
    assert all(type(value) is StrictArray for value in module.state_dict().values())


@pytest.mark.parametrize("build, shape", NORMALIZATIONS)
def test_normalization_gradcheck_runs_on_strict_arrays(build, shape, nn_rng):
    module = STRICT.module(build())
    report = nn.gradcheck(module, strict(nn_rng.standard_normal(shape)), mode="directional")
    assert report.passed and len(report.checks) == 1 + len(module.parameters())


def conv_model(seed):
    """Every 2-D layer with its options: groups, dilation, padding modes, ceil_mode, bilinear resizing."""
    nn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same", dilation=2, groups=2, padding_mode="reflect", dtype="float64"), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2, 1, 1, count_include_pad=False),
        nn.Upsample(scale_factor=1.5, mode="bilinear"),
        nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, groups=2, dilation=2, dtype="float64"),
        nn.Upsample((6, 7)), nn.Conv2d(2, 3, 2, padding=1, padding_mode="circular", dtype="float64"),
        nn.Upsample(scale_factor=2), nn.Flatten())


def test_conv_layers_stay_strict_and_match_numpy(nn_rng):
    x, grad_output = nn_rng.standard_normal((2, 2, 7, 6)), nn_rng.standard_normal((2, 3 * 14 * 16))
    results = {}
    for backend in (STRICT, ArrayBackend("numpy")):
        model = backend.module(conv_model(0))
        y = model(backend.array(x))
        grad_input = model.backward(backend.array(grad_output))
        assert backend.owns(y) and backend.owns(grad_input)
        assert all(backend.owns(p.grad) for p in model.parameters())
        results[backend.name] = [y, grad_input] + [p.grad for p in model.parameters()]
    for strict_value, plain_value in zip(results["strict"], results["numpy"]):
        numpy.testing.assert_array_equal(strict_value.view(numpy.ndarray), plain_value)


def test_max_pool_indices_are_strict(nn_rng):
    y, indices = nn.MaxPool2d(3, 2, 1, 2, return_indices=True, ceil_mode=True)(strict(nn_rng.standard_normal((3, 8, 7))))
    assert type(y) is StrictArray and type(indices) is StrictArray and indices.dtype == numpy.int64


# --- proof that the check bites ------------------------------------------------------------------------------
class LeakyZeros(nn.Module):
    """Builds a constant with numpy instead of the input's namespace."""

    def forward(self, x):
        return x + numpy.zeros(x.shape)

    def backward(self, grad_output):
        return grad_output


class LeakyNoise(nn.Module):
    """Draws from numpy.random directly instead of the backend's generator."""

    def forward(self, x):
        self._mask = numpy.random.default_rng(0).random(x.shape) > 0.5
        return x * self._mask

    def backward(self, grad_output):
        return grad_output * self._mask


class LeakyNamespace(nn.Module):
    """Asks the namespace, but for numpy.random, which hands back plain arrays."""

    def forward(self, x):
        xp = nn.get_array_module(x)
        return x * xp.random.default_rng(0).random(x.shape)


class LeakyConversion(nn.Module):
    """Converts to NumPy and computes there: no mixing, but the result has left the backend."""

    def forward(self, x):
        return numpy.asarray(x) * 2


class LeakyBackward(nn.Linear):
    """A correct forward, a backward that builds its bias gradient with numpy."""

    def backward(self, grad_output):
        self.bias.grad += numpy.ones(self.out_features) * 0 + grad_output.sum(axis=0)
        return super().backward(grad_output)


class LeakySGD(nn.SGD):
    """A parameter update with a step-size array made by numpy."""

    @staticmethod
    def rule(param, grad, state, lr, **options):
        param -= numpy.full(param.shape, lr) * grad


@pytest.mark.parametrize("leaky", [LeakyZeros, LeakyNoise, LeakyNamespace], ids=lambda cls: cls.__name__)
def test_a_numpy_leak_in_forward_raises(leaky, nn_rng):
    x = nn_rng.standard_normal((3, 4))
    leaky()(x)  # fine on plain NumPy: the leak only shows on another backend
    with pytest.raises(TypeError, match="plain numpy.ndarray"):
        leaky()(strict(x))


def test_a_result_that_left_the_backend_is_caught(nn_rng):
    y = LeakyConversion()(strict(nn_rng.standard_normal((3, 4))))
    assert not STRICT.owns(y)


def test_a_numpy_leak_in_backward_raises(nn_rng):
    layer = STRICT.module(LeakyBackward(4, 3, dtype="float64"))
    y = layer(strict(nn_rng.standard_normal((2, 4))))
    with pytest.raises(TypeError, match="plain numpy.ndarray"):
        layer.backward(STRICT.array(numpy.ones_like(y.view(numpy.ndarray))))


def test_a_numpy_leak_in_an_optimizer_raises():
    model = STRICT.module(nn.Linear(3, 2, dtype="float64"))
    optimizer = LeakySGD(model.parameters(), lr=0.1)
    model(STRICT.array(numpy.ones((4, 3))))
    model.backward(STRICT.array(numpy.ones((4, 2))))
    assert all(type(p.grad) is StrictArray for p in model.parameters())  # step skips a grad of None
    with pytest.raises(TypeError, match="plain numpy.ndarray"):
        optimizer.step()


def test_a_parameter_left_on_numpy_is_caught(nn_rng):
    """Mixing a strict input with plain NumPy weights: the model was not moved to the backend."""
    with pytest.raises(TypeError, match="plain numpy.ndarray"):
        nn.Linear(4, 3, dtype="float64")(strict(nn_rng.standard_normal((2, 4))))
