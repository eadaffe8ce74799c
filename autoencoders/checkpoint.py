"""Checkpoints: one ``.npz`` of plain arrays, read with ``allow_pickle=False`` so opening one can
never run code. Written to a temporary file and renamed, so a crash never leaves half a file.

Keys:  format_version, config (JSON), epoch, history (JSON), model/<name>, optimizer/<name>,
       state/<name> (JSON strings: generator states of the loader, the noise and the VAE's eps).
"""
import json
import os
import secrets
import zipfile

import numpy

from nn import backend

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, foreign, or does not fit the model."""


def save_checkpoint(path, model, optimizer, epoch, config, history, states=None):
    """Write the run's whole state to ``path`` atomically. Arrays are copied to the CPU, so a
    checkpoint written on the GPU loads on the CPU."""
    arrays = {"format_version": numpy.array(FORMAT_VERSION), "epoch": numpy.array(int(epoch)),
              "config": numpy.array(json.dumps(config)), "history": numpy.array(json.dumps(history))}
    for name, value in model.state_dict().items():
        arrays[f"model/{name}"] = backend.to_numpy(value)
    for name, value in optimizer.state_dict().items():
        arrays[f"optimizer/{name}"] = backend.to_numpy(value) if hasattr(value, "shape") else numpy.array(value)
    for name, text in (states or {}).items():
        arrays[f"state/{name}"] = numpy.array(text)
    atomic_write(path, lambda handle: numpy.savez(handle, **arrays))


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".tmp-{secrets.token_hex(8)}{os.path.splitext(path)[1]}")
    # os.open with 0o666, not tempfile.mkstemp: the file gets the umask's permissions, not a private 0600.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load_checkpoint(path):
    """Read a checkpoint into {config, epoch, history, model, optimizer, states}; CheckpointError
    with the reason for anything that is not one of ours."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    if not zipfile.is_zipfile(path):  # numpy.load would take it for a .npy or a pickle
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file (not a zip archive)")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CheckpointError(f"checkpoint {path!r} holds a pickled Python object; refusing to load it "
                                  "(checkpoints here are plain arrays, and unpickling can run code)") from None
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file ({error})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file ({error})") from None
    missing = [key for key in ("format_version", "epoch", "config", "history") if key not in arrays]
    if missing:
        raise CheckpointError(f"{path!r} is not a checkpoint of this project (missing {', '.join(missing)})")
    try:
        version, epoch = int(arrays["format_version"]), int(arrays["epoch"])
    except (TypeError, ValueError):
        raise CheckpointError(f"checkpoint {path!r} has a malformed format_version or epoch") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; "
                              f"this version reads {FORMAT_VERSION}")
    try:
        config = json.loads(str(arrays["config"]))
        history = json.loads(str(arrays["history"]))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {path!r} has a corrupt config or history ({error})") from None
    sections = {"model": {}, "optimizer": {}, "state": {}}
    for name, value in arrays.items():
        prefix, _, key = name.partition("/")
        if prefix in sections:
            sections[prefix][key] = str(value) if prefix == "state" else value
    return {"config": config, "epoch": epoch, "history": history,
            "model": sections["model"], "optimizer": sections["optimizer"], "states": sections["state"]}


def restore(checkpoint, model, optimizer=None, path="checkpoint"):
    """Load a checkpoint's model (and optimizer) state; a mismatch is a CheckpointError naming keys and shapes."""
    try:
        model.load_state_dict(checkpoint["model"])
        if optimizer is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path!r} does not fit the model: {error}") from None
