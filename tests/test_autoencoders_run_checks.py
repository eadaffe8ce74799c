"""autoencoders/run_checks.py in-process: each check of a run's configuration, history, optimizer and
generator states, called directly on crafted values, with the exact refusal it gives (path included)
and the edge values it must accept. The command line's tests (tests/test_autoencoders_checkpoint*.py)
reach these checks through a whole checkpoint in another interpreter; these reach each boundary."""
import json
import math

import numpy
import pytest

import nn
from autoencoders.run_checks import check_config_types, check_history, check_run
from runfolder.checkpoint import load_checkpoint, save_checkpoint
from runfolder.checkpoint_checks import MAX_IMAGE_SIZE, MAX_LATENT_DIM, CheckpointError

PATH = "runs/a/checkpoint.npz"
KNOWN = {"model": ("simple", "vae", "aae"), "dataset": ("mnist",), "noise": (None, "gaussian")}


def config(**changes):
    """A complete, valid configuration (every key, the optional ones too), with ``changes``."""
    base = {"model": "simple", "dataset": "mnist", "preset": "paper", "device": "cpu", "dtype": "float32",
            "epochs": 2, "batch_size": 8, "latent_dim": 9, "seed": 0, "lr": 0.001, "weight_decay": 0.0,
            "noise": None, "noise_level": None, "limit": None, "sparsity": None, "sparsity_weight": None,
            "sparsity_target": None, "images": None, "image_size": 28}
    base.update(changes)
    return base


def without(mapping, *names):
    return {key: value for key, value in mapping.items() if key not in names}


def refusal(function, *args):
    with pytest.raises(CheckpointError) as caught:
        function(*args)
    return str(caught.value)


def config_refusal(value):
    return refusal(check_config_types, value, PATH, KNOWN)


def expected(message):
    return f"checkpoint {PATH!r} {message}"


# --- the configuration ----------------------------------------------------------------------------------
def test_a_valid_configuration_and_one_without_the_optional_keys_pass():
    check_config_types(config(), PATH, KNOWN)
    check_config_types(without(config(), "limit", "images", "image_size"), PATH, KNOWN)


def test_a_configuration_that_is_not_an_object_is_refused_by_its_type():
    assert config_refusal([1, 2]) == expected("has a configuration of type list, not a JSON object")


def test_missing_keys_are_named_together_in_order():
    assert config_refusal(without(config(), "seed", "epochs")) == expected(
        "has an incomplete configuration (missing epochs, seed)")


def test_unknown_keys_are_named():
    assert config_refusal(config(colour="red", age=3)) == expected("has unknown configuration keys ['age', 'colour']")


def test_an_absent_optional_key_does_not_end_the_type_checks_of_the_keys_after_it():
    # limit is absent; sparsity_weight, checked after it, must still be checked.
    assert config_refusal(without(config(sparsity_weight="high"), "limit")) == expected(
        "has config sparsity_weight 'high', not float or null")


def test_a_null_is_refused_where_null_is_not_allowed():
    assert config_refusal(config(epochs=None)) == expected("has config epochs None, not int")


def test_a_null_where_allowed_does_not_end_the_type_checks_of_the_keys_after_it():
    # noise is null (allowed); noise_level, checked after it, is a string.
    assert config_refusal(config(noise_level="loud")) == expected("has config noise_level 'loud', not float or null")


def test_a_value_not_in_the_known_ones_is_refused():
    assert config_refusal(config(model="giant")) == expected("has an unknown model 'giant'")


@pytest.mark.parametrize("name,limit,message", [
    ("latent_dim", MAX_LATENT_DIM, f"the limit is {MAX_LATENT_DIM:,}"),
    ("image_size", MAX_IMAGE_SIZE, f"the limit is {MAX_IMAGE_SIZE} pixels a side")])
def test_sizes_from_1_to_their_limit_pass_and_0_or_more_is_refused(name, limit, message):
    for good in (1, limit):
        check_config_types(config(**{name: good}), PATH, KNOWN)
    for bad in (0, limit + 1):
        assert config_refusal(config(**{name: bad})) == expected(f"has {name} {bad:,}; {message}")


def test_a_limit_of_one_image_passes_and_zero_is_refused():
    check_config_types(config(limit=1), PATH, KNOWN)
    assert config_refusal(config(limit=0)) == expected(
        "has limit 0; it must be a positive number of images (or null)")


def test_seeds_from_0_below_2_to_the_63_pass_and_outside_are_refused():
    for good in (0, 126, 2**63 - 1):
        check_config_types(config(seed=good), PATH, KNOWN)
    for bad in (-1, 2**63, 2**64):
        assert config_refusal(config(seed=bad)) == expected(f"has seed {bad}; seeds are in [0, 2**63)")


# --- the history ----------------------------------------------------------------------------------------
def history(epochs=2, per_epoch=3, **changes):
    base = {"iteration_loss": [0.5] * (epochs * per_epoch), "train_loss": [0.4] * epochs,
            "test_loss": [0.3] * epochs, "epoch_seconds": [1.5] * epochs, "samples_per_second": [100.0] * epochs}
    base.update(changes)
    return base


def history_refusal(value, epoch=2):
    return refusal(check_history, value, epoch, PATH)


def test_a_valid_history_passes_and_an_empty_one_is_zero_epochs():
    assert check_history(history(), 2, PATH) == history()
    assert check_history({}, 0, PATH) == {}  # absent fields are empty lists


def test_a_history_that_is_not_an_object_is_refused_by_its_type():
    assert history_refusal([0.5]) == expected("has a history of type list, not a JSON object")


def test_unknown_history_fields_are_named():
    assert history_refusal(history(loss=[1.0], accuracy=[])) == expected(
        "has unknown history fields ['accuracy', 'loss']")


def test_a_history_field_that_is_not_a_list_is_refused_by_its_type():
    assert history_refusal(history(train_loss=0.4)) == expected(
        "has a history train_loss of type float, not a list")


def test_a_missing_test_loss_is_allowed_and_later_entries_are_still_checked():
    check_history(history(test_loss=[None, None]), 2, PATH)
    assert history_refusal(history(test_loss=[None, math.nan])) == expected(
        "has a history test_loss holding nan, not a finite number")


@pytest.mark.parametrize("name,value", [("train_loss", None), ("train_loss", math.nan), ("train_loss", math.inf),
                                        ("epoch_seconds", math.inf), ("iteration_loss", "0.5"),
                                        ("test_loss", True)])
def test_a_value_that_is_not_a_finite_number_is_refused(name, value):
    values = history()[name]
    values[-1] = value
    assert history_refusal(history(**{name: values})) == expected(
        f"has a history {name} holding {value!r}, not a finite number")


def test_an_infinite_speed_passes_as_an_epoch_too_short_to_time():
    check_history(history(samples_per_second=[math.inf, 10.0]), 2, PATH)


def test_zero_seconds_pass_a_negative_time_or_speed_is_refused_and_a_negative_loss_passes():
    check_history(history(epoch_seconds=[0.0, 0.0], samples_per_second=[0.0, 1.0]), 2, PATH)
    check_history(history(train_loss=[-1.0, -2.0], test_loss=[-0.5, -0.25]), 2, PATH)
    for name in ("epoch_seconds", "samples_per_second"):
        assert history_refusal(history(**{name: [1.0, -0.5]})) == expected(f"has a negative history {name} (-0.5)")


def test_a_field_with_other_than_one_entry_per_epoch_is_refused():
    assert history_refusal(history(train_loss=[0.4])) == expected(
        "has 1 entries in history train_loss but epoch 2; a checkpoint records whole epochs")


@pytest.mark.parametrize("epoch,iterations", [(0, 1), (2, 0), (2, 3)])
def test_iteration_losses_must_be_a_whole_number_per_epoch(epoch, iterations):
    value = history(epochs=epoch, iteration_loss=[0.5] * iterations)
    assert history_refusal(value, epoch) == expected(
        f"has {iterations} iteration losses for {epoch} epochs, not a whole number per epoch")


# --- the optimizer and the generators ---------------------------------------------------------------------
def generator_text(seed=0):
    return json.dumps(numpy.random.default_rng(seed).bit_generator.state)


@pytest.fixture(scope="module")
def checkpoint_of(tmp_path_factory):
    """checkpoint_of(lr, weight_decay, states): a checkpoint written and read back, of a one-layer model
    whose Adam has that lr and weight decay and took one step."""
    folder = tmp_path_factory.mktemp("run_checks")

    def make(lr=0.001, weight_decay=0.0, states=None):
        model = nn.Linear(2, 1)
        optimizer = nn.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        model(numpy.ones((1, 2), numpy.float32))
        model.backward(numpy.ones((1, 1), numpy.float32))
        optimizer.step()
        path = folder / f"run-{lr}-{weight_decay}-{len(states or {})}.npz"
        save_checkpoint(path, model, optimizer, 2, config(lr=lr, weight_decay=weight_decay), history(), states)
        return load_checkpoint(path)
    return make


def test_a_run_with_its_own_lr_and_weight_decay_passes(checkpoint_of):
    check_run(checkpoint_of(), config(), PATH)
    check_run(checkpoint_of(lr=0.01, weight_decay=0.1), config(lr=0.01, weight_decay=0.1), PATH)


def test_a_run_refuses_a_bad_history_and_an_optimizer_not_its_own_naming_the_path(checkpoint_of):
    checkpoint = checkpoint_of()
    assert refusal(check_run, dict(checkpoint, epoch=3), config(), PATH) == expected(
        "has 2 entries in history train_loss but epoch 3; a checkpoint records whole epochs")
    message = refusal(check_run, checkpoint, config(lr=0.01), PATH)
    assert message.startswith(expected("has optimizer lr 0.001 but the run's is 0.01;")), message


@pytest.mark.parametrize("model,noise,name", [("simple", "gaussian", "noise"), ("vae", None, "eps"),
                                              ("aae", None, "prior")])
def test_each_generator_state_passes_with_the_model_that_owns_it(checkpoint_of, model, noise, name):
    states = {"loader": json.dumps({"epoch": 1, "generator": json.loads(generator_text())}), name: generator_text(1)}
    check_run(checkpoint_of(states=states), config(model=model, noise=noise), PATH)


@pytest.mark.parametrize("name", ["noise", "eps", "prior"])
def test_a_generator_state_the_model_has_no_generator_for_is_refused(checkpoint_of, name):
    checkpoint = checkpoint_of(states={name: generator_text()})
    assert refusal(check_run, checkpoint, config(), PATH) == expected(
        f"has a {name} generator state, but its simple model has no {name} generator")


def test_unknown_and_malformed_generator_states_are_refused_naming_the_path(checkpoint_of):
    assert refusal(check_run, checkpoint_of(states={"dice": generator_text()}), config(), PATH) == expected(
        "has unknown generator states ['dice']")
    malformed = checkpoint_of(states={"loader": json.dumps({"epoch": -1, "generator": None})})
    assert refusal(check_run, malformed, config(), PATH) == expected(
        'has a malformed loader state (wants {"epoch": count, "generator": PCG64 state})')
