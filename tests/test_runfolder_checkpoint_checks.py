"""The checks every checkpoint passes before a model is built from it (runfolder/checkpoint_checks.py),
called directly on arrays in memory: each refusal asserted in full (the path it names, its wording),
each boundary from both sides (0 accepted, -1 refused), each condition of a compound check on its own."""
import json

import numpy
import pytest

import nn
from runfolder.checkpoint_checks import (CheckpointError, check_adam_state, check_arrays, check_generator_state,
                                      check_state_text, is_kind)

PATH = "runs/a/checkpoint.npz"
LOADER = json.dumps({"epoch": 0, "generator": numpy.random.default_rng(3).bit_generator.state})


def refused(message, call, *args, **kwargs):
    """Assert that call(*args, **kwargs) raises the CheckpointError "checkpoint 'PATH' <message>", exactly."""
    with pytest.raises(CheckpointError) as caught:
        call(*args, **kwargs)
    assert str(caught.value) == f"checkpoint {PATH!r} {message}"


def good(**entries):
    """The arrays of a small valid checkpoint, with ``entries`` added or replaced (None removes one)."""
    arrays = {"format_version": numpy.array(1), "epoch": numpy.array(3), "config": numpy.array('{"lr": 0.1}'),
              "history": numpy.array("[1, 2]"), "model/bn.num_batches_tracked": numpy.array(7),
              "model/weight": numpy.ones((2, 3), numpy.float32), "model/bias": numpy.zeros(2),
              "optimizer/step": numpy.array(5), "optimizer/exp_avg": numpy.zeros(8, numpy.float32),
              "optimizer/amsgrad": numpy.array(False), "state/loader": numpy.array(LOADER),
              "state/noise": numpy.array("null")}
    arrays.update(entries)
    return {name: value for name, value in arrays.items() if value is not None}


# --- check_arrays: the file alone ---------------------------------------------------------------------
def test_a_good_checkpoint_is_split_into_its_sections():
    arrays = good(**{"model/encoder/0/weight": numpy.ones(2)})  # a key with a slash of its own
    result = check_arrays(arrays, PATH)
    assert set(result) == {"config", "epoch", "history", "model", "optimizer", "states"}
    assert result["config"] == {"lr": 0.1} and result["history"] == [1, 2]
    assert result["epoch"] == 3 and type(result["epoch"]) is int
    assert sorted(result["model"]) == ["bias", "bn.num_batches_tracked", "encoder/0/weight", "weight"]
    assert result["model"]["weight"] is arrays["model/weight"]
    assert sorted(result["optimizer"]) == ["amsgrad", "exp_avg", "step"]
    assert result["states"] == {"loader": LOADER, "noise": "null"}
    assert all(type(text) is str for text in result["states"].values())


def test_epoch_0_and_a_num_batches_tracked_of_0_are_accepted():
    result = check_arrays(good(epoch=numpy.array(0), **{"model/bn.num_batches_tracked": numpy.array(0)}), PATH)
    assert result["epoch"] == 0 and int(result["model"]["bn.num_batches_tracked"]) == 0


def test_unsigned_integers_count_too():
    result = check_arrays(good(epoch=numpy.array(2, numpy.uint8),
                               **{"model/bn.num_batches_tracked": numpy.array(4, numpy.uint64)}), PATH)
    assert result["epoch"] == 2


def test_a_foreign_file_names_every_missing_key_in_order():
    refused("is not a checkpoint of this project (missing epoch, history)", check_arrays,
            good(epoch=None, history=None), PATH)
    refused("is not a checkpoint of this project (missing format_version)", check_arrays,
            good(format_version=None), PATH)


@pytest.mark.parametrize("name", ["weights/w", "model", "model/", "optimizer/", "state/", "loader", "/w"])
def test_an_entry_outside_the_sections_is_refused_by_name(name):
    refused(f"has an unexpected entry {name!r}", check_arrays, good(**{name: numpy.ones(1)}), PATH)


@pytest.mark.parametrize("name, value, shown", [
    ("epoch", numpy.array(1.0), "a float64 array of shape ()"),
    ("epoch", numpy.array([1]), "a int64 array of shape (1,)"),
    ("format_version", numpy.array("1"), "a <U1 array of shape ()"),
    ("format_version", numpy.array(True), "a bool array of shape ()")])
def test_a_counter_that_is_not_one_integer_is_refused_with_its_dtype_and_shape(name, value, shown):
    refused(f"has a malformed {name} ({shown}, not one integer)", check_arrays, good(**{name: value}), PATH)


def test_another_format_version_and_a_negative_epoch_are_refused():
    refused("has format version 2; this version reads 1", check_arrays, good(format_version=numpy.array(2)), PATH)
    refused("has format version 0; this version reads 1", check_arrays, good(format_version=numpy.array(0)), PATH)
    refused("has epoch -1; epochs count from 0", check_arrays, good(epoch=numpy.array(-1)), PATH)


@pytest.mark.parametrize("name", ["config", "history", "state/loader"])
@pytest.mark.parametrize("value", [numpy.array(5), numpy.array(['{}']), numpy.array(b"{}")])
def test_a_text_that_is_not_one_string_is_refused(name, value):
    refused(f"has a malformed {name} (not one JSON text)", check_arrays, good(**{name: value}), PATH)


def test_a_text_that_is_not_json_is_refused_with_the_parsers_words():
    refused("has a corrupt config or history (history: Expecting value: line 1 column 1 (char 0))",
            check_arrays, good(history=numpy.array("nan?")), PATH)
    refused("has a corrupt config or history (state/noise: Expecting value: line 1 column 1 (char 0))",
            check_arrays, good(**{"state/noise": numpy.array("")}), PATH)


def test_json_nested_past_the_recursion_limit_is_refused_as_corrupt():
    with pytest.raises(CheckpointError) as caught:
        check_arrays(good(config=numpy.array("[" * 100_000 + "]" * 100_000)), PATH)
    assert str(caught.value).startswith(f"checkpoint {PATH!r} has a corrupt config or history (config: maximum "
                                        "recursion depth exceeded")


@pytest.mark.parametrize("value", [numpy.array(-1), numpy.array(0.0), numpy.array(3.0), numpy.array([2]),
                                   numpy.array(True)])
def test_num_batches_tracked_is_one_integer_at_least_0(value):
    name = "model/layers.1.num_batches_tracked"
    refused(f"has a malformed {name} (not one integer >= 0)", check_arrays, good(**{name: value}), PATH)


def test_weights_after_a_num_batches_tracked_are_still_checked():
    arrays = good()
    arrays["model/z.weight"] = numpy.array([1.0, numpy.nan])  # after model/bn.num_batches_tracked in order
    refused("has NaN or infinite weights in model/z.weight; it cannot be evaluated or resumed: train a new run "
            "(with a lower --lr if it diverged)", check_arrays, arrays, PATH)


@pytest.mark.parametrize("dtype", ["int64", "float16", "complex64", "bool"])
def test_weights_are_float32_or_float64(dtype):
    refused(f"has weights model/weight of dtype {dtype}; weights are float32 or float64", check_arrays,
            good(**{"model/weight": numpy.zeros(3, dtype)}), PATH)


@pytest.mark.parametrize("bad", [numpy.inf, -numpy.inf, numpy.nan])
def test_weights_are_finite(bad):
    refused("has NaN or infinite weights in model/bias; it cannot be evaluated or resumed: train a new run "
            "(with a lower --lr if it diverged)", check_arrays, good(**{"model/bias": numpy.array([0.0, bad])}),
            PATH)


@pytest.mark.parametrize("value, dtype", [(numpy.array([numpy.nan], numpy.float32), "float32"),
                                          (numpy.array(numpy.inf), "float64"), (numpy.array("0.1"), "<U3"),
                                          (numpy.array([1j]), "complex128")])
def test_optimizer_entries_are_finite_numbers(value, dtype):
    refused(f"has an optimizer/exp_avg that is not finite numbers ({dtype})", check_arrays,
            good(**{"optimizer/exp_avg": value}), PATH)


def test_optimizer_entries_may_be_booleans_integers_or_finite_floats():
    optimizer = check_arrays(good(**{"optimizer/flag": numpy.array(True), "optimizer/count": numpy.array(3, "u2"),
                                     "optimizer/lr": numpy.array(0.5)}), PATH)["optimizer"]
    assert sorted(optimizer) == ["amsgrad", "count", "exp_avg", "flag", "lr", "step"]


# --- is_kind and check_state_text: the JSON texts ---------------------------------------------------
@pytest.mark.parametrize("value, kind, expected", [
    (True, int, False), (False, float, False), (3, int, True), (3, float, True), (2.5, float, True),
    (float("nan"), float, False), (float("inf"), float, False), (2.5, int, False), ("a", str, True),
    ([], list, True), (None, int, False)])
def test_is_kind(value, kind, expected):
    assert is_kind(value, kind) is expected


def test_a_loader_state_from_epoch_0_and_a_null_generator_state_are_accepted():
    assert check_state_text("loader", LOADER, PATH) is None
    assert check_state_text("noise", "null", PATH) is None
    assert check_state_text("noise", json.dumps(numpy.random.default_rng(5).bit_generator.state), PATH) is None


@pytest.mark.parametrize("state", [None, [], {"epoch": 0}, {"epoch": -1, "generator": None},
                                   {"epoch": 1.0, "generator": None}, {"epoch": True, "generator": None},
                                   {"epoch": 0, "generator": None, "seed": 1}])
def test_a_malformed_loader_state_is_refused(state):
    refused('has a malformed loader state (wants {"epoch": count, "generator": PCG64 state})', check_state_text,
            "loader", json.dumps(state), PATH)


def test_a_loader_whose_generator_is_not_pcg64_is_refused_naming_the_loader():
    text = json.dumps({"epoch": 2, "generator": {"bit_generator": "MT19937"}})
    with pytest.raises(CheckpointError) as caught:
        check_state_text("loader", text, PATH)
    assert str(caught.value).startswith(f"checkpoint {PATH!r} has a loader generator state that is not a PCG64 "
                                        "state (ValueError: ")


def test_a_generator_state_that_is_not_a_dict_is_refused_naming_the_generator():
    with pytest.raises(CheckpointError) as caught:
        check_state_text("noise", "5", PATH)
    assert str(caught.value).startswith(f"checkpoint {PATH!r} has a noise generator state that is not a PCG64 "
                                        "state (TypeError: ")


class _Broken(dict):
    """A state whose reading raises ``error`` (numpy's own messages are shorter than the cut)."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def get(self, *args):
        raise self.error


@pytest.mark.parametrize("error, shown", [
    (KeyError("inc"), "KeyError: 'inc'"),
    (OverflowError("0123456789" * 8), "OverflowError: " + "0123456789" * 8),
    (ValueError("0123456789" * 8 + "X"), "ValueError: " + "0123456789" * 8),
    (TypeError("abc" * 100), "TypeError: " + ("abc" * 100)[:80])])
def test_the_generators_error_is_shown_by_its_type_and_its_first_80_characters(error, shown):
    refused(f"has a sampler generator state that is not a PCG64 state ({shown})", check_generator_state,
            _Broken(error), "sampler", PATH)


def test_a_good_generator_state_passes_and_is_not_changed():
    state = numpy.random.default_rng(11).bit_generator.state
    copy = json.loads(json.dumps(state))
    assert check_generator_state(state, "noise", PATH) is None and state == copy


# --- check_adam_state: the optimizer against the run's configuration --------------------------------
def adam_state(steps=0, **settings):
    """What a run's Adam saves (as check_arrays hands it on: every entry an array)."""
    model = nn.Linear(3, 2)
    optimizer = nn.Adam(model.parameters(), **settings)
    for _ in range(steps):
        for parameter in model.parameters():
            parameter.grad = parameter.data * 0 + (0.5)
        optimizer.step()
    return {name: numpy.asarray(value) for name, value in optimizer.state_dict().items()}


@pytest.mark.parametrize("settings", [{}, {"lr": 0.01, "betas": (0.5, 0.75), "weight_decay": 1e-4},
                                      {"amsgrad": True}, {"maximize": True, "decoupled_weight_decay": True}])
def test_the_runs_own_adam_state_passes(settings):
    assert check_adam_state(adam_state(3, **settings), PATH, **settings) is None
    assert check_adam_state(adam_state(0, **settings), PATH, "generator", **settings) is None  # step 0


def test_no_optimizer_at_all_passes():
    assert check_adam_state({}, PATH, lr=0.5) is None


def test_options_newer_than_a_checkpoint_may_be_missing_and_take_their_default():
    state = adam_state(2)
    del state["maximize"], state["decoupled_weight_decay"]
    assert check_adam_state(state, PATH) is None


def test_a_missing_option_does_not_end_the_checks_of_the_others():
    state = adam_state(2)
    del state["maximize"]  # optional, and checked before decoupled_weight_decay
    state["decoupled_weight_decay"] = numpy.array(True)
    refused("has optimizer decoupled_weight_decay True but the run's is False; the configuration decides the "
            "hyperparameters: a tampered checkpoint?", check_adam_state, state, PATH)


@pytest.mark.parametrize("part, where", [("", ""), ("discriminator", " discriminator")])
def test_foreign_or_missing_entries_are_named(part, where):
    state = adam_state(1)
    del state["exp_avg_sq"], state["lr"]
    state["momentum"] = numpy.array(0.9)
    refused(f"has optimizer{where} entries that are not Adam's (unexpected ['momentum'], missing ['exp_avg_sq', "
            "'lr'])", check_adam_state, state, PATH, part)


def test_only_unexpected_or_only_missing_entries_are_refused_too():
    refused("has optimizer entries that are not Adam's (unexpected ['momentum'], missing [])", check_adam_state,
            adam_state(1) | {"momentum": numpy.array(0.9)}, PATH)
    state = adam_state(1)
    del state["eps"]
    refused("has optimizer entries that are not Adam's (unexpected [], missing ['eps'])", check_adam_state,
            state, PATH)


@pytest.mark.parametrize("part, where", [("", ""), ("generator", " generator")])
@pytest.mark.parametrize("step, shown", [(numpy.array(-1), "-1"), (numpy.array(2.0), "2.0"),
                                         (numpy.array([2]), "[2]"), (numpy.array(True), "True")])
def test_the_step_is_a_count_from_0(part, where, step, shown):
    refused(f"has optimizer{where} step {shown}; it counts steps from 0", check_adam_state,
            adam_state(1) | {"step": step}, PATH, part)


@pytest.mark.parametrize("name, stored, shown, runs", [
    ("lr", numpy.array(0.5), "0.5", "0.001"), ("betas", numpy.array([0.9, 0.9]), "(0.9, 0.9)", "(0.9, 0.999)"),
    ("amsgrad", numpy.array(True), "True", "False"), ("maximize", numpy.array(True), "True", "False")])
def test_a_hyperparameter_other_than_the_configurations_is_refused(name, stored, shown, runs):
    refused(f"has optimizer {name} {shown} but the run's is {runs}; the configuration decides the "
            "hyperparameters: a tampered checkpoint?", check_adam_state, adam_state(1) | {name: stored}, PATH)
    refused(f"has optimizer G {name} {shown} but the run's is {runs}; the configuration decides the "
            "hyperparameters: a tampered checkpoint?", check_adam_state, adam_state(1) | {name: stored}, PATH, "G")


def test_the_configurations_hyperparameters_are_what_is_compared():
    state = adam_state(1, lr=0.25)
    assert check_adam_state(state, PATH, lr=0.25) is None
    refused("has optimizer lr 0.25 but the run's is 0.001; the configuration decides the hyperparameters: a "
            "tampered checkpoint?", check_adam_state, state, PATH)


@pytest.mark.parametrize("value, shape", [
    (numpy.zeros((4, 2), numpy.float32), "(4, 2)"),  # float, but not flat
    (numpy.zeros(8, numpy.int64), "(8,)"),  # flat, but not float
    (numpy.array(0.0), "()")])
@pytest.mark.parametrize("name", ["exp_avg", "exp_avg_sq"])
def test_the_buffers_are_flat_floats(name, value, shape):
    refused(f"has an optimizer {name} of shape {shape}; it is one flat float buffer", check_adam_state,
            adam_state(1) | {name: value}, PATH)
    refused(f"has an optimizer D {name} of shape {shape}; it is one flat float buffer", check_adam_state,
            adam_state(1) | {name: value}, PATH, "D")


@pytest.mark.parametrize("part, where", [("", ""), ("G", " G")])
def test_exp_avg_sq_is_never_negative(part, where):
    state = adam_state(2)
    state["exp_avg_sq"][3] = -1e-30
    refused(f"has negative entries in optimizer{where} exp_avg_sq (a mean of squares)", check_adam_state,
            state, PATH, part)
    state["exp_avg_sq"][3] = 0.0
    state["exp_avg"][:] = -1.0  # a mean of gradients may be negative
    assert check_adam_state(state, PATH, part) is None

