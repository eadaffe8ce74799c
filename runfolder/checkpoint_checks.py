"""What every checkpoint is checked for before a model is built from it, whichever command line wrote it.

A checkpoint is a file anyone can edit, so nothing in it is trusted: every key, kind, range and size
is checked, and anything else is a CheckpointError naming the key and the value. The limits:

    MAX_ARRAY_BYTES    256 MiB per array, as declared by its .npy header (read before the array)
    MAX_TOTAL_BYTES    1 GiB for all arrays together
    MAX_ENTRIES        1,000 arrays
    MAX_LATENT_DIM     4,096 code or noise units (the overcomplete model's 1,024 four times over)
    MAX_IMAGE_SIZE     256 pixels a side (--images; a 256 x 256 image is 65,536 inputs)

Two stages: ``check_arrays`` (the file alone: keys, dtypes, finite weights, JSON texts), run by
``load_checkpoint``; then each command line checks its run's configuration and history
(autoencoders/run_checks.py, gans/cli.py) with the pieces here: ``check_adam_state`` (the optimizer's
hyperparameters against the configuration) and ``check_state_text`` (the random generators' states).
"""
import json
import math

import numpy

import nn

FORMAT_VERSION = 1
MAX_ARRAY_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 2**30
MAX_ENTRIES = 1000
MAX_LATENT_DIM = 4096
MAX_IMAGE_SIZE = 256


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, foreign, or does not fit the model."""


def refuse(path, message):
    """Raise the CheckpointError "checkpoint 'path' <message>"."""
    raise CheckpointError(f"checkpoint {path!r} {message}")


def _integer(array):
    return array.ndim == 0 and array.dtype.kind in "iu"


def _text(array):
    return array.ndim == 0 and array.dtype.kind == "U"


def check_arrays(arrays, path):
    """The arrays of an .npz -> {config, epoch, history, model, optimizer, states}, every kind checked."""
    missing = [key for key in ("format_version", "epoch", "config", "history") if key not in arrays]
    if missing:
        refuse(path, f"is not a checkpoint of this project (missing {', '.join(missing)})")
    sections = {"model": {}, "optimizer": {}, "state": {}}
    for name, value in arrays.items():
        prefix, slash, key = name.partition("/")
        if name in ("format_version", "epoch", "config", "history"):
            continue
        if not slash or prefix not in sections or not key:
            refuse(path, f"has an unexpected entry {name!r}")
        sections[prefix][key] = value
    for name in ("format_version", "epoch"):
        if not _integer(arrays[name]):
            refuse(path, f"has a malformed {name} (a {arrays[name].dtype} array of shape {arrays[name].shape}, "
                        "not one integer)")
    version, epoch = int(arrays["format_version"]), int(arrays["epoch"])
    if version != FORMAT_VERSION:
        refuse(path, f"has format version {version}; this version reads {FORMAT_VERSION}")
    if epoch < 0:
        refuse(path, f"has epoch {epoch}; epochs count from 0")
    texts = {}
    for name in ("config", "history", *(f"state/{key}" for key in sections["state"])):
        if not _text(arrays[name]):
            refuse(path, f"has a malformed {name} (not one JSON text)")
        try:
            texts[name] = json.loads(str(arrays[name]))
        except (json.JSONDecodeError, RecursionError) as error:
            refuse(path, f"has a corrupt config or history ({name}: {error})")
    for name, value in sections["model"].items():
        if name.endswith("num_batches_tracked"):  # BatchNorm's step counter: the one integer entry of a model
            if value.dtype.kind not in "iu" or value.shape != () or int(value) < 0:
                refuse(path, f"has a malformed model/{name} (not one integer >= 0)")
            continue
        if value.dtype.kind != "f" or value.dtype.itemsize not in (4, 8):
            refuse(path, f"has weights model/{name} of dtype {value.dtype}; weights are float32 or float64")
        if not numpy.isfinite(value).all():
            refuse(path, f"has NaN or infinite weights in model/{name}; it cannot be evaluated or resumed: "
                        "train a new run (with a lower --lr if it diverged)")
    for name, value in sections["optimizer"].items():
        if value.dtype.kind not in "biuf" or (value.dtype.kind == "f" and not numpy.isfinite(value).all()):
            refuse(path, f"has an optimizer/{name} that is not finite numbers ({value.dtype})")
    states = {key: str(arrays[f"state/{key}"]) for key in sections["state"]}
    return {"config": texts["config"], "epoch": epoch, "history": texts["history"], "model": sections["model"],
            "optimizer": sections["optimizer"], "states": states}


def is_kind(value, kind):
    """Whether a JSON value is of ``kind``: true and false are not numbers, and a float is finite."""
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def check_state_text(name, text, path):
    """A state/<name> entry: the loader's {"epoch", "generator"}, else a PCG64 state or null."""
    state = json.loads(text)
    if name == "loader":
        if not (isinstance(state, dict) and set(state) == {"epoch", "generator"} and is_kind(state["epoch"], int)
                and state["epoch"] >= 0):
            refuse(path, "has a malformed loader state (wants {\"epoch\": count, \"generator\": PCG64 state})")
        state = state["generator"]
    elif state is None:
        return
    check_generator_state(state, name, path)


def check_adam_state(optimizer, path, part="", **settings):
    """An Adam state dict as the run's Adam (built with ``settings``) saves it: its keys, its
    hyperparameters the configuration's, its step a count, its buffers flat floats, exp_avg_sq >= 0.
    ``part`` names the optimizer in messages when a run has more than one."""
    where = f" {part}" if part else ""
    # What the run's Adam saves, asked of a one-weight Adam built the way the run builds its own.
    probe = nn.Adam(nn.Linear(1, 1).parameters(), **settings).state_dict()
    expected = {name: value for name, value in probe.items() if name != "step" and not hasattr(value, "shape")}
    buffers = tuple(name for name, value in probe.items() if hasattr(value, "shape"))
    optional = set(getattr(nn.Adam, "optional", ()))  # options newer than some checkpoints: their default applies
    if optimizer:  # a checkpoint written for evaluation only may have no optimizer
        wanted = {"step", *expected, *buffers}
        absent = sorted(wanted - set(optimizer) - optional)
        extra = sorted(set(optimizer) - wanted)
        if extra or absent:
            refuse(path, f"has optimizer{where} entries that are not Adam's (unexpected {extra}, missing {absent})")
        step = optimizer["step"]
        if not _integer(step) or int(step) < 0:
            refuse(path, f"has optimizer{where} step {step.tolist()!r}; it counts steps from 0")
        for name, value in expected.items():
            if name not in optimizer:
                continue
            stored = optimizer[name].tolist()
            stored = tuple(stored) if isinstance(stored, list) else stored
            if stored != value:
                refuse(path, f"has optimizer{where} {name} {stored!r} but the run's is {value!r}; "
                            "the configuration decides the hyperparameters: a tampered checkpoint?")
        for name in buffers:
            if optimizer[name].ndim != 1 or optimizer[name].dtype.kind != "f":
                refuse(path, f"has an optimizer{where} {name} of shape {optimizer[name].shape}; it is one flat float buffer")
        if (optimizer["exp_avg_sq"] < 0).any():
            refuse(path, f"has negative entries in optimizer{where} exp_avg_sq (a mean of squares)")


def check_generator_state(state, name, path):
    try:
        numpy.random.default_rng(0).bit_generator.state = state
    except Exception as error:  # numpy raises ValueError, TypeError, KeyError or OverflowError by the flaw
        refuse(path, f"has a {name} generator state that is not a PCG64 state ({type(error).__name__}: "
                    f"{str(error)[:80]})")
