"""The fast optimizer rules (nn/fast/optim.py) against the plain ones they say they compute (nn/optim.py):
the same start, the same float64 gradients, 30 steps, every option, on NumPy and on the strict array
backend; they may differ only by rounding. And nn.Adam / nn.SGD switched to foreach=True against the same
optimizer without it."""
import numpy
import pytest

import nn
from nn import optim
from nn.fast import optim as optim_fast
from nn.fast.optim import Scratch
from helpers_nn import ArrayBackend

BACKENDS = [ArrayBackend("numpy"), ArrayBackend("strict")]
SIZE, STEPS = 301, 30
SGD_DEFAULTS = dict(lr=0.05, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)
ADAM_DEFAULTS = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0, amsgrad=False, maximize=False,
                     decoupled_weight_decay=False)
CASES = [("sgd", {})] + [("sgd", {name: value}) for name, value in [("weight_decay", 0.1), ("maximize", True)]] + [
    ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("sgd", dict(momentum=0.8, nesterov=True, maximize=True)),
    ("sgd", dict(momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    ("adam", {}), ("adam", dict(weight_decay=0.1)), ("adam", dict(amsgrad=True)), ("adam", dict(maximize=True)),
    ("adam", dict(weight_decay=0.1, maximize=True, amsgrad=True)),
    ("adam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
    ("adam", dict(weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]
RULES = {"sgd": (optim.sgd, optim_fast.sgd_fast, SGD_DEFAULTS, lambda options: ["momentum_buffer"] *
                 bool(options["momentum"])),
         "adam": (optim.adam, optim_fast.adam_fast, ADAM_DEFAULTS, lambda options: ["exp_avg", "exp_avg_sq"] +
                  ["max_exp_avg_sq"] * options["amsgrad"])}


def as_numpy(array):
    return array.view(numpy.ndarray)


def run(rule, options, state_names, backend, fast):
    rng = numpy.random.default_rng(5)
    param = backend.array(rng.standard_normal(SIZE))
    state = {"step": 0, **{name: backend.array(numpy.zeros(SIZE)) for name in state_names}}
    scratch = Scratch(param)
    for _ in range(STEPS):
        grad = backend.array(rng.standard_normal(SIZE) * rng.uniform(0.1, 3))
        grad[:10] = 0  # dead units: their state only decays
        state["step"] += 1
        if fast:
            rule(param, grad, state, scratch, **options)
        else:
            rule(param, grad, state, **options)
    assert backend.owns(param) and all(backend.owns(state[name]) for name in state_names)
    return param, state


@pytest.mark.parametrize("backend", BACKENDS, ids=str)
@pytest.mark.parametrize("rule_name, changes", CASES,
                         ids=[f"{name}-" + ("-".join(f"{k}={v}" for k, v in changes.items()) or "default")
                              for name, changes in CASES])
def test_fast_rule_computes_the_plain_rule(rule_name, changes, backend):
    plain, fast, defaults, state_names = RULES[rule_name]
    options = {**defaults, **changes}
    names = state_names(options)
    plain_param, plain_state = run(plain, options, names, backend, fast=False)
    fast_param, fast_state = run(fast, options, names, backend, fast=True)
    numpy.testing.assert_allclose(as_numpy(fast_param), as_numpy(plain_param), rtol=1e-13, atol=1e-15)
    for name in names:
        numpy.testing.assert_allclose(as_numpy(fast_state[name]), as_numpy(plain_state[name]),
                                      rtol=1e-13, atol=1e-300, err_msg=name)


def test_the_check_bites():
    """A fast rule off by a little (1e-9 of m added to the step) is told apart from the plain one."""
    def off_by_a_little(param, grad, state, scratch, **options):
        optim_fast.adam_fast(param, grad, state, scratch, **options)
        param += 1e-9 * state["exp_avg"]

    names = ["exp_avg", "exp_avg_sq"]
    plain_param, _ = run(optim.adam, ADAM_DEFAULTS, names, BACKENDS[0], fast=False)
    wrong_param, _ = run(off_by_a_little, ADAM_DEFAULTS, names, BACKENDS[0], fast=True)
    with pytest.raises(AssertionError):
        numpy.testing.assert_allclose(wrong_param, plain_param, rtol=1e-13, atol=1e-15)


class CountingArray(numpy.ndarray):
    """Counts ufunc calls: each is one pass over the buffer."""
    calls = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        CountingArray.calls += 1
        outputs = kwargs.get("out")
        plain = [x.view(numpy.ndarray) if isinstance(x, CountingArray) else x for x in inputs]
        if outputs is not None:
            kwargs["out"] = tuple(x.view(numpy.ndarray) if isinstance(x, CountingArray) else x for x in outputs)
        result = getattr(ufunc, method)(*plain, **kwargs)
        return outputs[0] if outputs is not None else result


PASSES = [  # (rule, changed options, passes) as the docstrings of optim_fast count them
    ("sgd", {}, 2), ("sgd", dict(momentum=0.9), 4), ("sgd", dict(momentum=0.9, dampening=0.1), 5),
    ("sgd", dict(momentum=0.9, nesterov=True), 6), ("sgd", dict(momentum=0.9, weight_decay=0.1), 6),
    ("adam", {}, 12), ("adam", dict(amsgrad=True), 13), ("adam", dict(weight_decay=0.1), 14),
    ("adam", dict(weight_decay=0.1, decoupled_weight_decay=True), 13), ("adam", dict(maximize=True), 13),
]


@pytest.mark.parametrize("rule_name, changes, passes", PASSES, ids=[f"{r}-{c}" for r, c, _ in PASSES])
def test_whole_buffer_passes_per_step(rule_name, changes, passes):
    _, fast, defaults, state_names = RULES[rule_name]
    options = {**defaults, **changes}
    views = [numpy.ones(50).view(CountingArray) for _ in range(2)]
    state = {"step": 1, **{name: numpy.zeros(50).view(CountingArray) for name in state_names(options)}}
    fast(*views, state, Scratch(views[0]), **options)  # the first step may copy into the momentum buffer
    state["step"], CountingArray.calls = 2, 0
    fast(*views, state, Scratch(views[0]), **options)
    assert CountingArray.calls == passes


# --- the switch: nn.Adam / nn.SGD with foreach=True against the same optimizer without it ---------------------
def small_model():
    nn.manual_seed(11)
    return nn.Sequential(nn.Linear(6, 5, dtype="float64"), nn.ReLU(), nn.Linear(5, 4, dtype="float64"),
                         nn.Sigmoid(), nn.Linear(4, 3, bias=False, dtype="float64"))


SWITCHED = {"adam": lambda groups, **fast: nn.Adam(groups, lr=0.01, betas=(0.8, 0.95), weight_decay=0.05, **fast),
            "adamw-amsgrad": lambda groups, **fast: nn.AdamW(groups, lr=0.01, amsgrad=True, **fast),
            "sgd-momentum": lambda groups, **fast: nn.SGD(groups, lr=0.05, momentum=0.9, **fast),
            "sgd-nesterov": lambda groups, **fast: nn.SGD(groups, lr=0.05, momentum=0.9, nesterov=True,
                                                          weight_decay=0.01, **fast)}


@pytest.mark.parametrize("name", list(SWITCHED))
def test_foreach_true_takes_the_plain_optimizers_steps(name):
    """5 steps of one model with foreach=True and of its twin without, in two groups: the same parameters (to
    rounding) and state dicts, through step 3, where the first layer's weight has no gradient (it does not move,
    its step count stays, and its group then steps by the plain rule) while the other group stays flat."""
    models = [small_model(), small_model()]
    optimizers = []
    for model, foreach in zip(models, (False, True)):
        parameters = list(model.parameters())
        optimizers.append(SWITCHED[name]([dict(params=parameters[:2]), dict(params=parameters[2:], lr=0.02)],
                                         foreach=foreach))
    plain, fast = optimizers
    assert plain._fast is None and isinstance(fast._fast, optim_fast.FlatForm)
    rng = numpy.random.default_rng(3)
    for step in range(1, 6):
        gradients = [rng.standard_normal(parameter.shape) for parameter in models[0].parameters()]
        for model in models:
            for index, (parameter, gradient) in enumerate(zip(model.parameters(), gradients)):
                parameter.grad = None if (step == 3 and index == 0) else gradient.copy()
        kept = [parameter.data.copy() for parameter in models[1].parameters()]
        for optimizer in optimizers:
            optimizer.step()
        if step == 3:
            numpy.testing.assert_array_equal(models[1][0].weight.data, kept[0])  # no gradient: not moved
            assert not numpy.array_equal(models[1][0].bias.data, kept[1])
        for ours, theirs in zip(models[1].parameters(), models[0].parameters()):
            numpy.testing.assert_allclose(ours.data, theirs.data, rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
        for optimizer in optimizers:
            optimizer.zero_grad()
    assert [fast.state[parameter]["step"] for parameter in models[1].parameters()] == [4, 5, 5, 5, 5]
    flat = fast._fast.groups[1][1]  # the second group stayed packed: its parameters are views of one buffer
    assert all(numpy.shares_memory(parameter.data, flat.data) for parameter in flat.parameters)
    ours, theirs = fast.state_dict(), plain.state_dict()
    assert ours.keys() == theirs.keys()
    numpy.testing.assert_array_equal(ours["0.step"], [4, 5])
    assert ours["1.step"] == theirs["1.step"] == 5
    for key, value in theirs.items():
        if hasattr(value, "dtype") and value.dtype.kind == "f":
            numpy.testing.assert_allclose(ours[key], value, rtol=1e-13, atol=1e-15, err_msg=key)
        else:
            numpy.testing.assert_array_equal(ours[key], value, err_msg=key)


# --- Adam's state in the fast units: nn.fast.rescaled_state ---------------------------------------------------
def test_the_rescaled_rule_takes_10_passes():
    views = [numpy.ones(50).view(CountingArray) for _ in range(2)]
    state = {"step": 2, **{name: numpy.ones(50).view(CountingArray) for name in ("exp_avg", "exp_avg_sq")}}
    CountingArray.calls = 0
    optim_fast.adam_fast_rescaled(*views, state, Scratch(views[0]), **ADAM_DEFAULTS)
    assert CountingArray.calls == 10


def _adam_pair(changes=None, steps=STEPS, inside=None):
    """(plain Adam's parameters and state, foreach Adam's stepped inside rescaled_state) on the same
    float64 gradients; ``inside(plain, fast, step)`` runs before each step's gradients, inside the block."""
    import nn
    from nn.fast import rescaled_state
    options = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, **(changes or {}))
    rng = numpy.random.default_rng(3)
    starts = [rng.standard_normal(shape) for shape in ((7, 5), (5,), (3, 7))]
    models = [[nn.Parameter(start.copy()) for start in starts] for _ in range(2)]
    plain, fast = nn.Adam(models[0], **options), nn.Adam(models[1], foreach=True, **options)
    with rescaled_state(fast):
        for step in range(steps):
            for index, (ours, theirs) in enumerate(zip(*models)):
                grad = rng.standard_normal(ours.shape) * rng.uniform(0.1, 3)
                grad.flat[:2] = 0
                if inside is not None and inside(plain, fast, step) == "skip" and index == 0:
                    ours.grad = theirs.grad = None  # a parameter without a gradient: the plain rule's step
                    continue
                ours.grad, theirs.grad = grad.copy(), grad.copy()
            plain.step()
            fast.step()
    return plain, fast, models


def _assert_equal_runs(plain, fast, models):
    for ours, theirs in zip(*models):
        numpy.testing.assert_allclose(theirs.data, ours.data, rtol=1e-13, atol=1e-15)
        for name in ("exp_avg", "exp_avg_sq"):  # torch's units again after the block
            numpy.testing.assert_allclose(fast.state[theirs][name], plain.state[ours][name], rtol=1e-13, atol=1e-300)


def test_steps_inside_the_block_are_the_plain_rules_and_the_state_comes_back_in_torchs_units():
    _assert_equal_runs(*_adam_pair())


@pytest.mark.parametrize("changes", [dict(weight_decay=0.1), dict(amsgrad=True), dict(maximize=True)])
def test_options_the_rescaled_rule_does_not_compute_step_as_before(changes):
    _assert_equal_runs(*_adam_pair(changes))


def test_a_parameter_without_a_gradient_inside_the_block_takes_the_plain_rule_in_torchs_units():
    _assert_equal_runs(*_adam_pair(steps=6, inside=lambda plain, fast, step: "skip" if step == 3 else None))


def test_betas_changed_inside_the_block_are_followed():
    def change(plain, fast, step):
        if step == 4:
            plain.param_groups[0]["betas"] = fast.param_groups[0]["betas"] = (0.7, 0.9)
    _assert_equal_runs(*_adam_pair(steps=8, inside=change))


def test_an_error_inside_the_block_still_brings_torchs_units_back():
    import nn
    from nn.fast import rescaled_state
    parameter = nn.Parameter(numpy.ones(4))
    optimizer = nn.Adam([parameter], foreach=True)
    parameter.grad = numpy.full(4, 0.5)
    optimizer.step()
    before = optimizer.state[parameter]["exp_avg"].copy()
    with pytest.raises(KeyboardInterrupt):
        with rescaled_state(optimizer):
            assert not numpy.allclose(optimizer.state[parameter]["exp_avg"], before)  # in the fast units here
            raise KeyboardInterrupt
    numpy.testing.assert_allclose(optimizer.state[parameter]["exp_avg"], before, rtol=1e-15)
