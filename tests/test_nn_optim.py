"""SGD, Adam and AdamW against torch.optim: 50 steps from the same parameters with the same float64
gradients, for every option; exact resumption from a state dict; float32 state; the errors."""
import pickle

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import BACKENDS, ArrayBackend, copy_torch_into_ours

OPTIMIZERS = {"SGD": (nn.SGD, torch.optim.SGD), "Adam": (nn.Adam, torch.optim.Adam),
              "AdamW": (nn.AdamW, torch.optim.AdamW)}
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.01)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-4)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.7, 0.99), eps=1e-6)),
]


def config_id(name, options):
    words = [f"{key}={value}" for key, value in options.items()] or ["default"]
    return "-".join([name] + words).replace(" ", "")


CONFIG_PARAMS = [pytest.param(name, options, id=config_id(name, options)) for name, options in CONFIGS]


def small_model(library, **linear_options):
    return library.Sequential(library.Linear(7, 5, **linear_options), library.ReLU(),
                              library.Linear(5, 3, bias=False, **linear_options))


def gradient_sequence(seed, shapes, steps):
    """Random float64 gradients whose scale changes from step to step (so AMSGrad's max matters)."""
    rng = numpy.random.default_rng(seed)
    return [[rng.standard_normal(shape) * rng.uniform(0.1, 3.0) for shape in shapes] for _ in range(steps)]


def feed(parameters, gradients, backend):
    for parameter, gradient in zip(parameters, gradients):
        parameter.grad[...] = backend.array(gradient)  # in place: .grad is a view of the flat buffer


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, options", CONFIG_PARAMS)
def test_optimizer_matches_torch_for_50_steps(name, options, backend):
    ours_class, torch_class = OPTIMIZERS[name]
    reference = small_model(torch.nn, dtype=torch.float64)
    model = small_model(nn, dtype="float64")
    copy_torch_into_ours(reference, model)
    backend.module(model)
    optimizer = ours_class(model.parameters(), **options)
    torch_optimizer = torch_class(reference.parameters(), **options)
    torch_parameters = list(reference.parameters())
    for step, gradients in enumerate(gradient_sequence(0, [p.shape for p in model.parameters()], 50)):
        feed(model.parameters(), gradients, backend)
        for parameter, gradient in zip(torch_parameters, gradients):
            parameter.grad = torch.from_numpy(gradient.copy())
        optimizer.step()
        torch_optimizer.step()
        for (parameter_name, parameter), torch_parameter in zip(model.named_parameters(), torch_parameters):
            assert_close(parameter.data, torch_parameter, 1e-10, f"{parameter_name} after step {step + 1}")
    for parameter in model.parameters():
        assert backend.owns(parameter.data) and parameter.data.dtype == numpy.float64


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, options", CONFIG_PARAMS)
def test_state_dict_round_trip_resumes_bit_for_bit(name, options, backend):
    optimizer_class = OPTIMIZERS[name][0]
    gradients = gradient_sequence(1, [(5, 7), (5,), (3, 5)], 50)

    def fresh(seed):
        nn.manual_seed(seed)
        model = backend.module(small_model(nn, dtype="float64"))
        return model, optimizer_class(model.parameters(), **options)

    model, optimizer = fresh(0)
    for step in range(50):
        if step == 25:  # kept in memory while training goes on: it must not share the live buffers
            checkpoint = (model.state_dict(), optimizer.state_dict())
        feed(model.parameters(), gradients[step], backend)
        optimizer.step()
    uninterrupted = [nn.to_numpy(parameter.data) for parameter in model.parameters()]

    resumed_model, resumed_optimizer = fresh(1)  # other initial weights: loading must overwrite them
    model_state, optimizer_state = pickle.loads(pickle.dumps(checkpoint))  # as saved to a file and read back
    resumed_model.load_state_dict(model_state)
    resumed_optimizer.load_state_dict(optimizer_state)
    assert resumed_optimizer.step_count == 25
    for step in range(25, 50):
        feed(resumed_model.parameters(), gradients[step], backend)
        resumed_optimizer.step()
    for parameter, expected in zip(resumed_model.parameters(), uninterrupted):
        numpy.testing.assert_array_equal(nn.to_numpy(parameter.data), expected)


@pytest.mark.parametrize("name, options", CONFIG_PARAMS)
def test_float32_model_keeps_float32_state(name, options):
    model = small_model(nn)  # float32 by default
    optimizer = OPTIMIZERS[name][0](model.parameters(), **options)
    for gradients in gradient_sequence(2, [p.shape for p in model.parameters()], 3):
        feed(model.parameters(), [g.astype("float32") for g in gradients], ArrayBackend("numpy"))
        optimizer.step()
    for parameter in model.parameters():
        assert parameter.data.dtype == numpy.float32 and parameter.grad.dtype == numpy.float32
    buffers = [value for value in optimizer.state_dict().values() if hasattr(value, "dtype")]
    assert len(buffers) == len(optimizer.state_names)
    assert all(buffer.dtype == numpy.float32 for buffer in buffers)
    assert optimizer.flat.data.dtype == numpy.float32 and optimizer._work.dtype == numpy.float32


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_zero_grad_resets_the_gradients(name, nn_rng):
    model = small_model(nn, dtype="float64")
    optimizer = OPTIMIZERS[name][0](model.parameters())
    model(nn_rng.standard_normal((4, 7)))
    model.backward(nn_rng.standard_normal((4, 3)))
    assert all(parameter.grad.any() for parameter in model.parameters())
    optimizer.zero_grad()
    assert not any(parameter.grad.any() for parameter in model.parameters())


# --- errors ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_after_rebinding_data_raises(name):
    model = small_model(nn)
    optimizer = OPTIMIZERS[name][0](model.parameters())
    model[0].weight.data = model[0].weight.data.copy()
    with pytest.raises(RuntimeError, match="was replaced after the optimizer was built"):
        optimizer.step()


def test_step_after_moving_the_model_raises():
    model = small_model(nn)
    optimizer = nn.Adam(model.parameters())
    model.to(dtype="float64")
    with pytest.raises(RuntimeError, match="build the optimizer after moving the model"):
        optimizer.step()


BAD_OPTIONS = [
    pytest.param(nn.SGD, dict(lr=-0.1), "learning rate", id="SGD-lr"),
    pytest.param(nn.SGD, dict(momentum=-0.5), "momentum", id="SGD-momentum"),
    pytest.param(nn.SGD, dict(weight_decay=-1.0), "weight_decay", id="SGD-weight_decay"),
    pytest.param(nn.SGD, dict(nesterov=True), "nesterov", id="SGD-nesterov-without-momentum"),
    pytest.param(nn.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov", id="SGD-nesterov-dampening"),
    pytest.param(nn.Adam, dict(lr=-1e-3), "learning rate", id="Adam-lr"),
    pytest.param(nn.Adam, dict(lr=float("nan")), "learning rate", id="Adam-lr-nan"),
    pytest.param(nn.Adam, dict(betas=(1.0, 0.999)), r"betas\[0\]", id="Adam-beta1-1"),
    pytest.param(nn.Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]", id="Adam-beta2-negative"),
    pytest.param(nn.Adam, dict(eps=-1e-8), "eps", id="Adam-eps"),
    pytest.param(nn.AdamW, dict(lr=-1.0), "learning rate", id="AdamW-lr"),
    pytest.param(nn.AdamW, dict(betas=(0.9, 1.0)), r"betas\[1\]", id="AdamW-beta2-1"),
    pytest.param(nn.AdamW, dict(weight_decay=-0.01), "weight_decay", id="AdamW-weight_decay"),
]


@pytest.mark.parametrize("optimizer_class, options, message", BAD_OPTIONS)
def test_bad_hyperparameters_raise(optimizer_class, options, message):
    with pytest.raises(ValueError, match=message):
        optimizer_class(small_model(nn).parameters(), **options)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_empty_parameter_list_raises(name):
    with pytest.raises(ValueError, match="empty parameter list"):
        OPTIMIZERS[name][0]([])
    with pytest.raises(ValueError, match="empty parameter list"):
        OPTIMIZERS[name][0](nn.Sequential(nn.ReLU(), nn.Flatten()).parameters())


def test_mismatched_optimizer_state_dict_raises_and_loads_nothing():
    model = small_model(nn, dtype="float64")
    optimizer = nn.Adam(model.parameters(), amsgrad=True)
    optimizer.step()
    before = optimizer.state_dict()
    state = optimizer.state_dict()
    state["exp_avg"] = numpy.zeros(3)
    del state["max_exp_avg_sq"]
    state["momentum_buffer"] = numpy.zeros(55)
    state["step"] = 99
    with pytest.raises(ValueError) as caught:
        optimizer.load_state_dict(state)
    for text in ("'exp_avg'", "(3,)", "(55,)", "missing key 'max_exp_avg_sq'", "unexpected key 'momentum_buffer'"):
        assert text in str(caught.value)
    assert optimizer.step_count == 1
    numpy.testing.assert_array_equal(optimizer.exp_avg, before["exp_avg"])
