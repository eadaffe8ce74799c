"""The optimizers' checks and edges that mutation testing found unreached (tests/mutation/mutants.py, target
nn.optim): every refusal's whole message, defaults used when nothing is given, gradients kept when the
optimizer packs them, state dicts read back from arrays (a checkpoint), and two-group state dicts."""
import inspect

import numpy
import pytest
import torch

import nn

OPTIMIZERS = {"SGD": (nn.SGD, torch.optim.SGD), "Adam": (nn.Adam, torch.optim.Adam),
              "AdamW": (nn.AdamW, torch.optim.AdamW)}


def parameters(dtype="float64", count=3):
    model = nn.Sequential(nn.Linear(4, 3, dtype=dtype), nn.ReLU(), nn.Linear(3, 2, bias=False, dtype=dtype))
    return list(model.parameters())[:count]


def stepped(optimizer_class, groups=None, steps=2, **options):
    """An optimizer over fresh parameters (one group, or the given split into groups) after a few steps."""
    params = parameters()
    entries = params if groups is None else [dict(params=params[start:end], **extra) for start, end, extra in groups]
    optimizer = optimizer_class(entries, **options)
    rng = numpy.random.default_rng(0)
    for _ in range(steps):
        for parameter in params:
            parameter.grad = parameter.data * 0 + (rng.standard_normal(parameter.shape))
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_optimizer_given_only_parameters_holds_torchs_defaults(name):
    ours, theirs = OPTIMIZERS[name]
    reference = theirs([torch.nn.Parameter(torch.zeros(2))]).defaults
    group = ours(parameters()).param_groups[0]
    assert {key: value for key, value in group.items() if key != "params"} == \
        {key: reference[key] for key in group if key != "params"}


def test_parameters_of_two_dtypes_are_refused_in_one_line_by_the_flat_buffers_only():
    """The plain rule steps each parameter in its own dtype (as torch's single-tensor path); foreach=True packs
    a group into one flat buffer of one dtype, and refuses a mixed group in one line."""
    mixed = parameters("float32")[:1] + parameters("float64")[:1]
    with pytest.raises(ValueError, match=r"^Adam: parameters mix float32 on 'cpu' with float64 on 'cpu'; move the "
                                         r"whole model with \.to\(\)$"):
        nn.Adam(mixed, foreach=True)
    with pytest.raises(ValueError, match=r"^SGD: parameters mix float32 on 'cpu' with float64 on 'cpu'"):
        nn.SGD([dict(params=mixed)], foreach=True)
    optimizer = nn.Adam(mixed)
    for parameter in mixed:
        parameter.grad = parameter.data * 0 + 1
    optimizer.step()
    for parameter in mixed:
        state = optimizer.state[parameter]
        assert state["step"] == 1 and state["exp_avg"].dtype == parameter.dtype == parameter.data.dtype


def test_building_an_optimizer_keeps_the_gradients_the_parameters_hold(nn_rng):
    params = parameters()
    for parameter in params:
        parameter.grad = parameter.data * 0 + (nn_rng.standard_normal(parameter.shape))
    before = [parameter.grad.copy() for parameter in params]
    nn.Adam(params)
    for parameter, expected in zip(params, before):
        numpy.testing.assert_array_equal(parameter.grad, expected)


@pytest.mark.parametrize("build, error, message", [
    pytest.param(lambda p: nn.Adam(p[0]), TypeError, r"^Adam: params must be an iterable of Parameters or of dicts, "
                 r"got one Parameter; pass \[parameter\] or model.parameters\(\)$", id="one-parameter"),
    pytest.param(lambda p: nn.SGD([dict(params=p[0])]), TypeError, r"^SGD: params must be an iterable",
                 id="one-parameter-in-a-group"),
    pytest.param(lambda p: nn.Adam([dict(params=p[:1]), dict(params=[])]), ValueError,
                 r"^Adam: parameter group 1 has an empty parameter list$", id="empty-group"),
    pytest.param(lambda p: nn.Adam([dict(params=p[:1]), dict(params=[p[1], numpy.zeros(2)])]), TypeError,
                 r"^Adam: item 1 of group 1 is ndarray, not an nn.Parameter$", id="not-a-parameter"),
    pytest.param(lambda p: nn.SGD([p[0], p[1], p[0]]), ValueError,
                 r"^SGD: a parameter appears more than once \(item 2 of group 0\); give each parameter to one "
                 r"group only$", id="twice"),
    pytest.param(lambda p: nn.Adam(p, amsgrad="yes"), ValueError, r"^Adam: amsgrad must be True or False, got 'yes'$",
                 id="amsgrad"),
    pytest.param(lambda p: nn.Adam(p, maximize=None), ValueError, r"^Adam: maximize must be True or False, got None$",
                 id="maximize"),
    pytest.param(lambda p: nn.Adam(p, decoupled_weight_decay=0.5), ValueError,
                 r"^Adam: decoupled_weight_decay must be True or False, got 0.5$", id="decoupled_weight_decay"),
    pytest.param(lambda p: nn.SGD(p, dampening=float("inf")), ValueError,
                 r"^SGD: dampening must be a finite number, got dampening=inf$", id="dampening"),
    pytest.param(lambda p: nn.AdamW(p, betas=(0.9, 1.5)), ValueError,
                 r"^AdamW: betas\[1\] must be in \[0, 1\), got betas\[1\]=1.5$", id="betas"),
])
def test_every_refusal_names_the_optimizer_and_the_fix(build, error, message):
    with pytest.raises(error, match=message):
        build(parameters())


def test_add_param_group_refuses_a_parameter_already_there_and_names_the_new_group():
    params = parameters()
    optimizer = nn.SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match=r"^SGD: a parameter appears more than once \(item 1 of group 1\)"):
        optimizer.add_param_group(dict(params=[params[2], params[0]]))
    with pytest.raises(ValueError, match=r"^SGD \(group 1\): lr must be a finite number >= 0, got lr=-1"):
        optimizer.add_param_group(dict(params=[params[2]], lr=-1))
    assert len(optimizer.param_groups) == 1


def test_a_bad_lr_written_into_the_first_group_names_the_optimizer_alone():
    optimizer = nn.Adam(parameters())
    optimizer.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"^Adam: lr must be a finite number >= 0, got lr=-1.0$"):
        optimizer.step()


def test_an_unknown_attribute_is_an_attribute_error_naming_it():
    optimizer = nn.Adam(parameters(), lr=0.02)
    assert optimizer.lr == 0.02 and optimizer.betas == (0.9, 0.999)
    with pytest.raises(AttributeError, match=r"^'Adam' object has no attribute 'momentum'$"):
        optimizer.momentum  # noqa: B018
    # Before __init__ has run (copy and pickle make instances so) a lookup is still an AttributeError.
    assert not hasattr(nn.SGD.__new__(nn.SGD), "lr")


@pytest.mark.parametrize("name, options", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                           ("Adam", dict(betas=(0.8, 0.9), amsgrad=True))])
def test_a_state_dict_read_back_as_arrays_loads_as_python_numbers(name, options, tmp_path):
    """A checkpoint stores every entry as an array (numpy.savez); loading gives back floats and tuples."""
    source = stepped(OPTIMIZERS[name][0], **options)
    numpy.savez(tmp_path / "state.npz", **source.state_dict())
    with numpy.load(tmp_path / "state.npz") as archive:
        state = {key: archive[key] for key in archive.files}
    resumed = OPTIMIZERS[name][0](parameters(), **{**options, "lr": 0.5})  # the same buffers, another lr
    resumed.load_state_dict(state)
    group = resumed.param_groups[0]
    for key, value in source.param_groups[0].items():
        if key != "params":
            assert group[key] == value and type(group[key]) is type(value), key
    assert resumed.step_count == 2


def test_a_state_dict_without_maximize_resets_it_to_the_default():
    """Saved before the option existed, a state never maximized: loading it turns maximize off."""
    state = stepped(nn.SGD, lr=0.1).state_dict()
    del state["maximize"]
    resumed = nn.SGD(parameters(), lr=0.1, maximize=True)
    resumed.load_state_dict(state)
    assert resumed.param_groups[0]["maximize"] is False
    assert set(resumed.param_groups[0]) == {"params", "lr", "momentum", "dampening", "weight_decay", "nesterov",
                                            "maximize"}


def test_a_two_group_state_dict_lists_every_problem_of_every_group():
    groups = [(0, 2, {}), (2, 3, dict(lr=0.02))]
    state = stepped(nn.Adam, groups).state_dict()
    state["0.exp_avg"] = numpy.zeros(4)
    state["1.lr"] = -1.0
    target = nn.Adam([dict(params=parameters()[:2]), dict(params=parameters()[2:])])
    with pytest.raises(ValueError) as caught:
        target.load_state_dict(state)
    assert str(caught.value) == ("Adam.load_state_dict: key '0.exp_avg' has shape (4,), expected (15,); "
                                 "1.hyperparameters: lr must be a finite number >= 0, got lr=-1.0; nothing was loaded")
    assert target.step_count == 0


def test_a_two_group_state_that_needs_other_buffers_says_only_that():
    state = stepped(nn.Adam, [(0, 2, dict(amsgrad=True, lr=0.5)), (2, 3, {})]).state_dict()
    target = nn.Adam([dict(params=parameters()[:2]), dict(params=parameters()[2:])])
    with pytest.raises(ValueError) as caught:
        target.load_state_dict(state)
    assert str(caught.value) == (
        "Adam.load_state_dict: the state was saved with lr=0.5 (here 0.001), amsgrad=True (here False), which keeps "
        "the buffers ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] instead of ['exp_avg', 'exp_avg_sq']; build the "
        "optimizer with the saved options; nothing was loaded")
