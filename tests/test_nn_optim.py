"""SGD, Adam and AdamW against torch.optim: 50 steps from the same parameters with the same float64
gradients, for every option and for parameter groups; torch's signatures; exact resumption from a
state dict; float32 state; the errors."""
import inspect
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
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.6, nesterov=True, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-4)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.7, 0.99), eps=1e-6)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0, amsgrad=True, maximize=True)),
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
        parameter.grad = backend.array(gradient).astype(parameter.dtype)


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
    assert len(buffers) == len(optimizer.state_names(optimizer.param_groups[0]))
    assert buffers or (name == "SGD" and not options.get("momentum"))
    assert all(buffer.dtype == numpy.float32 for buffer in buffers)
    for parameter_state in optimizer.state.values():
        assert all(value.dtype == numpy.float32 for key, value in parameter_state.items() if key != "step")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_zero_grad_resets_the_gradients(name, nn_rng):
    model = small_model(nn, dtype="float64")
    optimizer = OPTIMIZERS[name][0](model.parameters())
    model(nn_rng.standard_normal((4, 7)))
    model.backward(nn_rng.standard_normal((4, 3)))
    gradients = [parameter.grad for parameter in model.parameters()]
    assert all(gradient.any() for gradient in gradients)
    optimizer.zero_grad(set_to_none=False)  # zeros, in the same arrays
    assert all(parameter.grad is gradient and not gradient.any()
               for parameter, gradient in zip(model.parameters(), gradients))
    optimizer.zero_grad()  # torch's default: set_to_none=True
    assert all(parameter.grad is None for parameter in model.parameters())


# --- errors ----------------------------------------------------------------------------------------------------
def give_gradients(model):
    for parameter in model.parameters():
        parameter.grad = parameter.data * 0 + 0.5


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_after_rebinding_data_raises_with_flat_buffers(name):
    """foreach=True holds each parameter as a view of its flat buffer: a replaced array is refused."""
    model = small_model(nn)
    optimizer = OPTIMIZERS[name][0](model.parameters(), foreach=True)
    model[0].weight.data = model[0].weight.data.copy()
    give_gradients(model)
    with pytest.raises(RuntimeError, match="was replaced after the optimizer was built"):
        optimizer.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_plain_rule_steps_a_rebound_array_as_torch(name):
    """The plain rule reads each parameter's .data at each step (torch's p.data = ...): the new array moves."""
    model, reference = small_model(nn, dtype="float64"), small_model(nn, dtype="float64")
    for parameter, source in zip(reference.parameters(), model.parameters()):
        parameter.data[...] = source.data
    optimizer, expected = OPTIMIZERS[name][0](model.parameters()), OPTIMIZERS[name][0](reference.parameters())
    rebound = model[0].weight.data.copy()
    model[0].weight.data = rebound
    give_gradients(model)
    give_gradients(reference)
    optimizer.step()
    expected.step()
    assert model[0].weight.data is rebound
    for parameter, source in zip(model.parameters(), reference.parameters()):
        numpy.testing.assert_array_equal(parameter.data, source.data)


def test_step_after_moving_the_model_raises_with_flat_buffers():
    model = small_model(nn)
    optimizer = nn.Adam(model.parameters(), foreach=True)
    model.to(dtype="float64")
    give_gradients(model)
    with pytest.raises(RuntimeError, match="build the optimizer after moving the model"):
        optimizer.step()


BAD_OPTIONS = [
    pytest.param(nn.SGD, dict(lr=-0.1), "SGD: lr must be a finite number >= 0, got lr=-0.1$", id="SGD-lr"),
    pytest.param(nn.SGD, dict(momentum=-0.5), "momentum must be a finite number >= 0, got momentum=-0.5",
                 id="SGD-momentum"),
    pytest.param(nn.SGD, dict(weight_decay=-1.0), "weight_decay=-1.0", id="SGD-weight_decay"),
    pytest.param(nn.SGD, dict(nesterov=True), "nesterov needs momentum > 0", id="SGD-nesterov-without-momentum"),
    pytest.param(nn.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov needs momentum > 0 and "
                 "dampening = 0, got momentum=0.9, dampening=0.1", id="SGD-nesterov-dampening"),
    pytest.param(nn.SGD, dict(dampening=float("nan")), "dampening must be a finite number, got dampening=nan",
                 id="SGD-dampening-nan"),
    pytest.param(nn.SGD, dict(nesterov="yes"), "nesterov must be True or False, got 'yes'", id="SGD-nesterov-str"),
    pytest.param(nn.Adam, dict(lr=-1e-3), "Adam: lr must be a finite number >= 0, got lr=-0.001", id="Adam-lr"),
    pytest.param(nn.Adam, dict(lr=float("nan")), "lr=nan", id="Adam-lr-nan"),
    pytest.param(nn.Adam, dict(lr=float("inf")), "lr=inf", id="Adam-lr-inf"),
    pytest.param(nn.Adam, dict(lr=numpy.array([1e-3, 1e-2])), r"Adam: lr must be a Python number, got ndarray "
                 r"array\(\[0.001, 0.01 \]\); pass float\(lr\)$", id="Adam-lr-array"),
    pytest.param(nn.Adam, dict(lr=numpy.array(1e-3)), "lr must be a Python number, got ndarray", id="Adam-lr-0d"),
    pytest.param(nn.Adam, dict(lr=torch.tensor(1e-3)), "lr must be a Python number, got Tensor",
                 id="Adam-lr-tensor"),
    pytest.param(nn.Adam, dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got betas\[0\]=1.0",
                 id="Adam-beta1-1"),
    pytest.param(nn.Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]", id="Adam-beta2-negative"),
    pytest.param(nn.Adam, dict(betas=0.9), r"betas must be a pair \(beta1, beta2\), got 0.9", id="Adam-betas-one"),
    pytest.param(nn.Adam, dict(eps=-1e-8), "eps=-1e-08", id="Adam-eps"),
    pytest.param(nn.Adam, dict(eps=float("nan")), "Adam: eps must be a finite number >= 0, got eps=nan",
                 id="Adam-eps-nan"),
    pytest.param(nn.AdamW, dict(lr=-1.0), "AdamW: lr", id="AdamW-lr"),
    pytest.param(nn.AdamW, dict(betas=(0.9, 1.0)), r"betas\[1\]", id="AdamW-beta2-1"),
    pytest.param(nn.AdamW, dict(weight_decay=-0.01), "weight_decay", id="AdamW-weight_decay"),
]


@pytest.mark.parametrize("optimizer_class, options, message", BAD_OPTIONS)
def test_bad_hyperparameters_raise(optimizer_class, options, message):
    with pytest.raises(ValueError, match=message) as caught:
        optimizer_class(small_model(nn).parameters(), **options)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [float("nan"), numpy.array([0.1]), -1.0])
def test_a_bad_lr_written_by_a_scheduler_raises_at_the_step(value):
    model = small_model(nn)
    optimizer = nn.Adam([dict(params=list(model.parameters())[:2]), dict(params=list(model.parameters())[2:])])
    before = [parameter.data.copy() for parameter in model.parameters()]
    optimizer.param_groups[1]["lr"] = value
    with pytest.raises(ValueError, match=r"^Adam \(group 1\): lr must be"):
        optimizer.step()
    for parameter, expected in zip(list(model.parameters())[2:], before[2:]):
        numpy.testing.assert_array_equal(parameter.data, expected)


def test_bad_parameter_groups_raise():
    parameters = list(small_model(nn).parameters())
    with pytest.raises(ValueError, match="a parameter appears more than once"):
        nn.SGD([dict(params=parameters[:2]), dict(params=parameters[1:])])
    with pytest.raises(ValueError, match=r"group 1 has unknown options \['momentum'\]"):
        nn.Adam([dict(params=parameters[:2]), dict(params=parameters[2:], momentum=0.9)])
    with pytest.raises(TypeError, match="must be a dict with a 'params' entry"):
        nn.Adam([dict(params=parameters[:2]), parameters[2]])
    with pytest.raises(ValueError, match=r"^SGD \(group 1\): lr must be a finite number >= 0, got lr=-1"):
        nn.SGD([dict(params=parameters[:2]), dict(params=parameters[2:], lr=-1)])
    with pytest.raises(TypeError, match="got one Parameter; pass \\[parameter\\]"):
        nn.SGD(parameters[0])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_empty_parameter_list_raises(name):
    with pytest.raises(ValueError, match="empty parameter list"):
        OPTIMIZERS[name][0]([])
    with pytest.raises(ValueError, match="empty parameter list"):
        OPTIMIZERS[name][0](nn.Sequential(nn.ReLU(), nn.Flatten()).parameters())


def test_mismatched_optimizer_state_dict_raises_and_loads_nothing():
    model = small_model(nn, dtype="float64")
    optimizer = nn.Adam(model.parameters(), amsgrad=True)
    give_gradients(model)
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
    numpy.testing.assert_array_equal(optimizer.state_dict()["exp_avg"], before["exp_avg"])


@pytest.mark.parametrize("saved, built, message", [
    pytest.param(dict(momentum=0.9), dict(), r"saved with momentum=0.9 \(here 0\), which keeps the buffers "
                 r"\['momentum_buffer'\] instead of \[\]", id="momentum-into-plain-SGD"),
    pytest.param(dict(), dict(momentum=0.9), r"saved with momentum=0 \(here 0.9\)", id="plain-into-momentum-SGD"),
    pytest.param(dict(amsgrad=True), dict(), r"saved with amsgrad=True \(here False\)", id="amsgrad-into-Adam"),
])
def test_a_state_that_needs_other_buffers_is_refused_in_one_line(saved, built, message):
    optimizer_class = nn.Adam if "amsgrad" in saved else nn.SGD
    source_model = small_model(nn)
    source = optimizer_class(source_model.parameters(), **saved)
    give_gradients(source_model)
    source.step()
    target = optimizer_class(small_model(nn).parameters(), **built)
    with pytest.raises(ValueError, match=message) as caught:
        target.load_state_dict(source.state_dict())
    assert "\n" not in str(caught.value) and str(caught.value).endswith("nothing was loaded")
    assert target.step_count == 0 and target.param_groups[0] == {**target.param_groups[0], **built}


def test_a_state_dict_of_other_groups_is_refused():
    parameters = list(small_model(nn).parameters())
    two_groups = nn.Adam([dict(params=parameters[:2]), dict(params=parameters[2:])])
    with pytest.raises(ValueError, match="unexpected key '0.step'.*nothing was loaded"):
        nn.Adam(small_model(nn).parameters()).load_state_dict(two_groups.state_dict())


def test_a_state_dict_saved_before_maximize_existed_loads():
    model = small_model(nn)
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    give_gradients(model)
    optimizer.step()
    state = optimizer.state_dict()
    del state["maximize"], state["decoupled_weight_decay"]
    resumed = nn.Adam(small_model(nn).parameters())
    resumed.load_state_dict(state)
    assert resumed.lr == 0.01 and resumed.param_groups[0]["maximize"] is False and resumed.step_count == 1


# --- parameter groups, a scheduler's lr, torch's state ---------------------------------------------------------
GROUP_CASES = [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9), [dict(lr=0.01, weight_decay=0.1), dict(nesterov=True)],
                 id="SGD"),
    pytest.param("Adam", dict(lr=0.01), [dict(lr=0.003, betas=(0.8, 0.9), amsgrad=True), dict(weight_decay=0.1)],
                 id="Adam"),
    pytest.param("AdamW", dict(lr=0.01), [dict(weight_decay=0.2, eps=1e-4), dict(maximize=True)], id="AdamW"),
]


def run_groups(library, model, optimizer_class, defaults, group_options, gradients, set_grads):
    """A two-group optimizer (the first layer, the rest) over 50 steps; the lr of group 0 halved at step 20,
    as a scheduler does, by writing param_groups[0]['lr']."""
    parameters = list(model.parameters())
    groups = [dict(params=parameters[:2], **group_options[0]), dict(params=parameters[2:], **group_options[1])]
    optimizer = optimizer_class(groups, **defaults)
    for step, step_gradients in enumerate(gradients):
        if step == 20:
            optimizer.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"] / 2
        set_grads(parameters, step_gradients)
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, defaults, group_options", GROUP_CASES)
def test_parameter_groups_match_torch(name, defaults, group_options, backend):
    ours_class, torch_class = OPTIMIZERS[name]
    reference = small_model(torch.nn, dtype=torch.float64)
    model = small_model(nn, dtype="float64")
    copy_torch_into_ours(reference, model)
    backend.module(model)
    gradients = gradient_sequence(3, [p.shape for p in model.parameters()], 50)

    def set_torch(parameters, step_gradients):
        for parameter, gradient in zip(parameters, step_gradients):
            parameter.grad = torch.from_numpy(gradient.copy())

    ours = run_groups(nn, model, ours_class, defaults, group_options, gradients,
                      lambda parameters, step_gradients: feed(parameters, step_gradients, backend))
    theirs = run_groups(torch, reference, torch_class, defaults, group_options, gradients, set_torch)
    for parameter, torch_parameter in zip(model.parameters(), reference.parameters()):
        assert_close(parameter.data, torch_parameter, 1e-10, "after 50 steps in two groups")
    for parameter, torch_parameter in zip(model.parameters(), reference.parameters()):
        for key, value in theirs.state[torch_parameter].items():
            if key == "step":
                assert ours.state[parameter]["step"] == int(value)
            else:
                assert_close(ours.state[parameter][key], value, 1e-10, key)
    for group, torch_group in zip(ours.param_groups, theirs.param_groups):
        for key in ours.defaults:
            assert group[key] == torch_group[key], key


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_group_state_dict_round_trip_resumes_bit_for_bit(name):
    optimizer_class = OPTIMIZERS[name][0]
    gradients = gradient_sequence(4, [(5, 7), (5,), (3, 5)], 20)
    group_options = [dict(lr=0.01), dict(lr=0.002, weight_decay=0.1)]

    def fresh():
        parameters = list(small_model(nn, dtype="float64").parameters())
        return optimizer_class([dict(params=parameters[:2], **group_options[0]),
                                dict(params=parameters[2:], **group_options[1])], momentum=0.5) \
            if name == "SGD" else optimizer_class([dict(params=parameters[:2], **group_options[0]),
                                                   dict(params=parameters[2:], **group_options[1])]), parameters

    (optimizer, parameters), (resumed, resumed_parameters) = fresh(), fresh()
    for step in range(20):
        if step == 10:
            resumed.load_state_dict(pickle.loads(pickle.dumps(optimizer.state_dict())))
            for parameter, source in zip(resumed_parameters, parameters):
                parameter.data[...] = source.data
        feed(parameters, gradients[step], ArrayBackend("numpy"))
        optimizer.step()
        if step >= 10:
            feed(resumed_parameters, gradients[step], ArrayBackend("numpy"))
            resumed.step()
    assert "1.lr" in optimizer.state_dict() and resumed.param_groups[1]["lr"] == 0.002
    for parameter, expected in zip(resumed_parameters, parameters):
        numpy.testing.assert_array_equal(parameter.data, expected.data)


# --- torch's signatures ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_is_torchs(name):
    ours, theirs = (inspect.signature(cls) for cls in OPTIMIZERS[name])
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.parameters.values()]


UNSUPPORTED = [(name, option, value) for name, options in [
    ("SGD", dict(differentiable=True)),
    ("Adam", dict(capturable=True, differentiable=True)),
    ("AdamW", dict(capturable=True, differentiable=True))]
    for option, value in options.items()]


@pytest.mark.parametrize("name, option, value", UNSUPPORTED, ids=[f"{n}-{o}" for n, o, _ in UNSUPPORTED])
def test_unimplemented_torch_options_are_refused_by_name(name, option, value):
    parameters = list(small_model(nn).parameters())
    OPTIMIZERS[name][0](parameters, **{option: inspect.signature(OPTIMIZERS[name][1]).parameters[option].default})
    with pytest.raises(ValueError, match=rf"^{name}: {option}={value!r} is not supported; leave it at"):
        OPTIMIZERS[name][0](parameters, **{option: value})
    with pytest.raises(ValueError, match=rf"{option}={value!r} in group 0 is not supported"):
        OPTIMIZERS[name][0]([dict(params=parameters, **{option: value})])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torchs_foreach_and_fused_switches(name):
    """foreach: None, False (the plain rule) or True (flat buffers); fused=True: Adam and AdamW on the GPU only,
    refused in one line on the CPU and for SGD; both at once refused, as torch."""
    optimizer_class = OPTIMIZERS[name][0]
    parameters = list(small_model(nn).parameters())
    for foreach in (None, False):
        assert optimizer_class(parameters, foreach=foreach)._fast is None
    assert optimizer_class(parameters, fused=False)._fast is None
    assert optimizer_class(parameters, foreach=True)._fast is not None
    message = (rf"^{name}: fused=True runs one GPU kernel and needs the parameters on the GPU" if name != "SGD"
               else r"^SGD: fused=True is implemented for Adam and AdamW; use foreach=True$")
    with pytest.raises(ValueError, match=message) as caught:
        optimizer_class(parameters, fused=True)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=rf"^{name}: foreach=True and fused=True cannot both be set"):
        optimizer_class(parameters, foreach=True, fused=True)
    with pytest.raises(TypeError, match=rf"^{name}: foreach must be None, True or False, got 1"):
        optimizer_class(parameters, foreach=1)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_add_param_group_matches_torch(name):
    """A group added after 10 steps counts its own steps from 0 (torch's per-parameter 'step')."""
    ours_class, torch_class = OPTIMIZERS[name]
    reference = small_model(torch.nn, dtype=torch.float64)
    model = small_model(nn, dtype="float64")
    copy_torch_into_ours(reference, model)
    ours_parameters, torch_parameters = list(model.parameters()), list(reference.parameters())
    options = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    ours, theirs = ours_class(ours_parameters[:2], **options), torch_class(torch_parameters[:2], **options)
    for step, gradients in enumerate(gradient_sequence(6, [p.shape for p in ours_parameters], 20)):
        if step == 10:
            ours.add_param_group(dict(params=ours_parameters[2:], lr=0.003))
            theirs.add_param_group(dict(params=torch_parameters[2:], lr=0.003))
        count = 2 if step < 10 else 3
        feed(ours_parameters[:count], gradients[:count], ArrayBackend("numpy"))
        for parameter, gradient in zip(torch_parameters[:count], gradients):
            parameter.grad = torch.from_numpy(gradient.copy())
        ours.step()
        theirs.step()
    for parameter, torch_parameter in zip(ours_parameters, torch_parameters):
        assert_close(parameter.data, torch_parameter, 1e-10, "after add_param_group")
    assert ours.state[ours_parameters[2]]["step"] == 10 and ours.step_count == 20
