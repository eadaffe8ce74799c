"""What a checkpoint of ``python -m autoencoders`` holds beyond any checkpoint's arrays: its
configuration (every key, type and range), its history (whole epochs), its Adam and its generator
states (one per random stream the model has). The checks every checkpoint passes are in
runfolder/checkpoint_checks.py.
"""
import math

from runfolder.checkpoint_checks import (MAX_IMAGE_SIZE, MAX_LATENT_DIM, check_adam_state, check_state_text, is_kind,
                                      refuse)

HISTORY_FIELDS = ("iteration_loss", "train_loss", "test_loss", "epoch_seconds", "samples_per_second")
STATE_NAMES = ("loader", "noise", "eps", "prior")


def check_history(history, epoch, path):
    """The history must be a record of ``epoch`` whole epochs: a list of numbers per field, one per epoch
    (test_loss may be None), and a whole number of iterations per epoch."""
    if not isinstance(history, dict):
        refuse(path, f"has a history of type {type(history).__name__}, not a JSON object")
    unknown = sorted(set(history) - set(HISTORY_FIELDS))
    if unknown:
        refuse(path, f"has unknown history fields {unknown}")
    for name in HISTORY_FIELDS:
        values = history.get(name, [])
        if not isinstance(values, list):
            refuse(path, f"has a history {name} of type {type(values).__name__}, not a list")
        for value in values:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is None and name == "test_loss":
                continue
            if not number or math.isnan(value) or (math.isinf(value) and name != "samples_per_second"):
                refuse(path, f"has a history {name} holding {value!r}, not a finite number")
            if value < 0 and name in ("epoch_seconds", "samples_per_second"):
                refuse(path, f"has a negative history {name} ({value!r})")
        if name != "iteration_loss" and len(values) != epoch:
            refuse(path, f"has {len(values)} entries in history {name} but epoch {epoch}; "
                        "a checkpoint records whole epochs")
    iterations = len(history.get("iteration_loss", []))
    if (epoch == 0 and iterations) or (epoch and (iterations == 0 or iterations % epoch)):
        refuse(path, f"has {iterations} iteration losses for {epoch} epochs, not a whole number per epoch")
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
        refuse(path, f"has a configuration of type {type(config).__name__}, not a JSON object")
    missing = sorted(set(CONFIG_TYPES) - set(config) - OPTIONAL)
    if missing:
        refuse(path, f"has an incomplete configuration (missing {', '.join(missing)})")
    unknown = sorted(set(config) - set(CONFIG_TYPES))
    if unknown:
        refuse(path, f"has unknown configuration keys {unknown}")
    for name, kinds in CONFIG_TYPES.items():
        if name not in config:
            continue
        value = config[name]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if value is None and None in kinds:
            continue
        ok = any(kind is not None and is_kind(value, kind) for kind in kinds)
        if not ok:
            wanted = " or ".join("null" if kind is None else kind.__name__ for kind in kinds)
            refuse(path, f"has config {name} {value!r}, not {wanted}")
    for name, values in known.items():
        if config[name] not in values:
            refuse(path, f"has an unknown {name} {config[name]!r}")
    if not 0 < config["latent_dim"] <= MAX_LATENT_DIM:
        refuse(path, f"has latent_dim {config['latent_dim']:,}; the limit is {MAX_LATENT_DIM:,}")
    if not 0 < config.get("image_size", 28) <= MAX_IMAGE_SIZE:
        refuse(path, f"has image_size {config['image_size']:,}; the limit is {MAX_IMAGE_SIZE} pixels a side")
    if config.get("limit") is not None and config["limit"] <= 0:
        refuse(path, f"has limit {config['limit']}; it must be a positive number of images (or null)")
    if config["seed"] < 0 or config["seed"] >= 2**63:
        refuse(path, f"has seed {config['seed']}; seeds are in [0, 2**63)")


def check_run(checkpoint, config, path):
    """The optimizer's hyperparameters are the configuration's (Adam, the configured lr and weight decay,
    Adam's defaults otherwise), its step a count, the history one of whole epochs, and each generator
    state one these generators can take."""
    check_history(checkpoint["history"], checkpoint["epoch"], path)
    check_adam_state(checkpoint["optimizer"], path, lr=config["lr"], weight_decay=config["weight_decay"])
    states = checkpoint["states"]
    unknown = sorted(set(states) - set(STATE_NAMES))
    if unknown:
        refuse(path, f"has unknown generator states {unknown}")
    owners = {"noise": config["noise"] is not None, "eps": config["model"] == "vae", "prior": config["model"] == "aae"}
    for name, text in states.items():
        if name in owners and not owners[name]:
            refuse(path, f"has a {name} generator state, but its {config['model']} model has no {name} generator")
        check_state_text(name, text, path)
