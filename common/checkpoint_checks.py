"""Everything a checkpoint is checked for before a model is built from it.

A checkpoint is a file anyone can edit, so nothing in it is trusted: every key, kind, range and size
is checked here, and anything else is a CheckpointError naming the key and the value. The limits:

    MAX_ARRAY_BYTES    256 MiB per array, as declared by its .npy header (read before the array)
    MAX_TOTAL_BYTES    1 GiB for all arrays together
    MAX_ENTRIES        1,000 arrays
    MAX_LATENT_DIM     4,096 code units (the overcomplete model's 1,024 four times over)
    MAX_IMAGE_SIZE     256 pixels a side (--images; a 256 x 256 image is 65,536 inputs)

Two stages: ``check_arrays`` (the file alone: keys, dtypes, finite weights, JSON texts), run by
``load_checkpoint``, and ``check_run`` (a run's checkpoint as the command line writes it: the history,
the optimizer's hyperparameters against the configuration, the generator states).
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
HISTORY_FIELDS = ("iteration_loss", "train_loss", "test_loss", "epoch_seconds", "samples_per_second")
STATE_NAMES = ("loader", "noise", "eps", "prior")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, foreign, or does not fit the model."""


def _fail(path, message):
    raise CheckpointError(f"checkpoint {path!r} {message}")


def _integer(array):
    return array.ndim == 0 and array.dtype.kind in "iu"


def _text(array):
    return array.ndim == 0 and array.dtype.kind == "U"


def check_arrays(arrays, path):
    """The arrays of an .npz -> {config, epoch, history, model, optimizer, states}, every kind checked."""
    missing = [key for key in ("format_version", "epoch", "config", "history") if key not in arrays]
    if missing:
        _fail(path, f"is not a checkpoint of this project (missing {', '.join(missing)})")
    sections = {"model": {}, "optimizer": {}, "state": {}}
    for name, value in arrays.items():
        prefix, slash, key = name.partition("/")
        if name in ("format_version", "epoch", "config", "history"):
            continue
        if not slash or prefix not in sections or not key:
            _fail(path, f"has an unexpected entry {name!r}")
        sections[prefix][key] = value
    for name in ("format_version", "epoch"):
        if not _integer(arrays[name]):
            _fail(path, f"has a malformed {name} (a {arrays[name].dtype} array of shape {arrays[name].shape}, "
                        "not one integer)")
    version, epoch = int(arrays["format_version"]), int(arrays["epoch"])
    if version != FORMAT_VERSION:
        _fail(path, f"has format version {version}; this version reads {FORMAT_VERSION}")
    if epoch < 0:
        _fail(path, f"has epoch {epoch}; epochs count from 0")
    texts = {}
    for name in ("config", "history", *(f"state/{key}" for key in sections["state"])):
        if not _text(arrays[name]):
            _fail(path, f"has a malformed {name} (not one JSON text)")
        try:
            texts[name] = json.loads(str(arrays[name]))
        except (json.JSONDecodeError, RecursionError) as error:
            _fail(path, f"has a corrupt config or history ({name}: {error})")
    for name, value in sections["model"].items():
        if name.endswith("num_batches_tracked"):  # BatchNorm's step counter: the one integer entry of a model
            if value.dtype.kind not in "iu" or value.shape != () or int(value) < 0:
                _fail(path, f"has a malformed model/{name} (not one integer >= 0)")
            continue
        if value.dtype.kind != "f" or value.dtype.itemsize not in (4, 8):
            _fail(path, f"has weights model/{name} of dtype {value.dtype}; weights are float32 or float64")
        if not numpy.isfinite(value).all():
            _fail(path, f"has NaN or infinite weights in model/{name}; it cannot be evaluated or resumed: "
                        "train a new run (with a lower --lr if it diverged)")
    for name, value in sections["optimizer"].items():
        if value.dtype.kind not in "biuf" or (value.dtype.kind == "f" and not numpy.isfinite(value).all()):
            _fail(path, f"has an optimizer/{name} that is not finite numbers ({value.dtype})")
    states = {key: str(arrays[f"state/{key}"]) for key in sections["state"]}
    return {"config": texts["config"], "epoch": epoch, "history": texts["history"], "model": sections["model"],
            "optimizer": sections["optimizer"], "states": states}


def check_history(history, epoch, path):
    """The history must be a record of ``epoch`` whole epochs: a list of numbers per field, one per epoch
    (test_loss may be None), and a whole number of iterations per epoch."""
    if not isinstance(history, dict):
        _fail(path, f"has a history of type {type(history).__name__}, not a JSON object")
    unknown = sorted(set(history) - set(HISTORY_FIELDS))
    if unknown:
        _fail(path, f"has unknown history fields {unknown}")
    for name in HISTORY_FIELDS:
        values = history.get(name, [])
        if not isinstance(values, list):
            _fail(path, f"has a history {name} of type {type(values).__name__}, not a list")
        for value in values:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is None and name == "test_loss":
                continue
            if not number or math.isnan(value) or (math.isinf(value) and name != "samples_per_second"):
                _fail(path, f"has a history {name} holding {value!r}, not a finite number")
            if value < 0 and name in ("epoch_seconds", "samples_per_second"):
                _fail(path, f"has a negative history {name} ({value!r})")
        if name != "iteration_loss" and len(values) != epoch:
            _fail(path, f"has {len(values)} entries in history {name} but epoch {epoch}; "
                        "a checkpoint records whole epochs")
    iterations = len(history.get("iteration_loss", []))
    if (epoch == 0 and iterations) or (epoch and (iterations == 0 or iterations % epoch)):
        _fail(path, f"has {iterations} iteration losses for {epoch} epochs, not a whole number per epoch")
    return history


CONFIG_TYPES = {"model": str, "dataset": str, "preset": str, "device": str, "dtype": str, "epochs": int,
                "batch_size": int, "latent_dim": int, "seed": int, "lr": float, "weight_decay": float,
                "noise": (str, None), "noise_level": (float, None), "limit": (int, None),
                "sparsity": (str, None), "sparsity_weight": (float, None), "sparsity_target": (float, None),
                "images": (str, None), "image_size": int}
OPTIONAL = {"limit", "images", "image_size"}  # absent in checkpoints written before they existed


def check_config_types(config, path, known):
    """Every configuration key present (``limit`` may be absent), of its type, and of the values in
    ``known`` ({name: allowed values}); sizes within the limits."""
    if not isinstance(config, dict):
        _fail(path, f"has a configuration of type {type(config).__name__}, not a JSON object")
    missing = sorted(set(CONFIG_TYPES) - set(config) - OPTIONAL)
    if missing:
        _fail(path, f"has an incomplete configuration (missing {', '.join(missing)})")
    unknown = sorted(set(config) - set(CONFIG_TYPES))
    if unknown:
        _fail(path, f"has unknown configuration keys {unknown}")
    for name, kinds in CONFIG_TYPES.items():
        if name not in config:
            continue
        value = config[name]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if value is None and None in kinds:
            continue
        ok = any(kind is not None and _is(value, kind) for kind in kinds)
        if not ok:
            wanted = " or ".join("null" if kind is None else kind.__name__ for kind in kinds)
            _fail(path, f"has config {name} {value!r}, not {wanted}")
    for name, values in known.items():
        if config[name] not in values:
            _fail(path, f"has an unknown {name} {config[name]!r}")
    if not 0 < config["latent_dim"] <= MAX_LATENT_DIM:
        _fail(path, f"has latent_dim {config['latent_dim']:,}; the limit is {MAX_LATENT_DIM:,}")
    if not 0 < config.get("image_size", 28) <= MAX_IMAGE_SIZE:
        _fail(path, f"has image_size {config['image_size']:,}; the limit is {MAX_IMAGE_SIZE} pixels a side")
    if config.get("limit") is not None and config["limit"] <= 0:
        _fail(path, f"has limit {config['limit']}; it must be a positive number of images (or null)")
    if config["seed"] < 0 or config["seed"] >= 2**63:
        _fail(path, f"has seed {config['seed']}; seeds are in [0, 2**63)")


def _is(value, kind):
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def check_run(checkpoint, config, path):
    """The optimizer's hyperparameters are the configuration's (Adam, the configured lr and weight decay,
    Adam's defaults otherwise), its step a count, the history one of whole epochs, and each generator
    state one these generators can take."""
    check_history(checkpoint["history"], checkpoint["epoch"], path)
    check_adam_state(checkpoint["optimizer"], path, lr=config["lr"], weight_decay=config["weight_decay"])
    states = checkpoint["states"]
    unknown = sorted(set(states) - set(STATE_NAMES))
    if unknown:
        _fail(path, f"has unknown generator states {unknown}")
    owners = {"noise": config["noise"] is not None, "eps": config["model"] == "vae", "prior": config["model"] == "aae"}
    for name, text in states.items():
        if name in owners and not owners[name]:
            _fail(path, f"has a {name} generator state, but its {config['model']} model has no {name} generator")
        check_state_text(name, text, path)


def check_state_text(name, text, path):
    """A state/<name> entry: the loader's {"epoch", "generator"}, else a PCG64 state or null."""
    state = json.loads(text)
    if name == "loader":
        if not (isinstance(state, dict) and set(state) == {"epoch", "generator"} and _is(state["epoch"], int)
                and state["epoch"] >= 0):
            _fail(path, "has a malformed loader state (wants {\"epoch\": count, \"generator\": PCG64 state})")
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
            _fail(path, f"has optimizer{where} entries that are not Adam's (unexpected {extra}, missing {absent})")
        step = optimizer["step"]
        if not _integer(step) or int(step) < 0:
            _fail(path, f"has optimizer{where} step {step.tolist()!r}; it counts steps from 0")
        for name, value in expected.items():
            if name not in optimizer:
                continue
            stored = optimizer[name].tolist()
            stored = tuple(stored) if isinstance(stored, list) else stored
            if stored != value:
                _fail(path, f"has optimizer{where} {name} {stored!r} but the run's is {value!r}; "
                            "the configuration decides the hyperparameters: a tampered checkpoint?")
        for name in buffers:
            if optimizer[name].ndim != 1 or optimizer[name].dtype.kind != "f":
                _fail(path, f"has an optimizer{where} {name} of shape {optimizer[name].shape}; it is one flat float buffer")
        if (optimizer["exp_avg_sq"] < 0).any():
            _fail(path, f"has negative entries in optimizer{where} exp_avg_sq (a mean of squares)")


def check_generator_state(state, name, path):
    try:
        numpy.random.default_rng(0).bit_generator.state = state
    except Exception as error:  # numpy raises ValueError, TypeError, KeyError or OverflowError by the flaw
        _fail(path, f"has a {name} generator state that is not a PCG64 state ({type(error).__name__}: "
                    f"{str(error)[:80]})")
