"""Checkpoints: one ``.npz`` of plain arrays, read with ``allow_pickle=False`` so opening one can
never run code. Written to a temporary file and renamed, so a crash never leaves half a file.

Keys:  format_version, config (JSON), epoch, history (JSON), model/<name>, optimizer/<name>,
       state/<name> (JSON strings: the states of the run's random generators: the loader's, the noise's...).
"""
import json
import math
import os
import stat
import zipfile

import numpy

from nn import backend

from .checkpoint_checks import (FORMAT_VERSION, MAX_ARRAY_BYTES, MAX_ENTRIES, MAX_TOTAL_BYTES, CheckpointError,
                                check_arrays)
from .folder import _kind, atomic_write

__all__ = ["FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint", "restore"]


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


def load_checkpoint(path):
    """Read a checkpoint into {config, epoch, history, model, optimizer, states}; CheckpointError
    with the reason for anything that is not one of ours.

    Nothing is allocated before it is checked: the zip's entries (at most MAX_ENTRIES) and each array's
    header (shape times item size at most MAX_ARRAY_BYTES, all together MAX_TOTAL_BYTES) are read first.
    Then every array is checked for its kind: weights and optimizer buffers finite floats (an int or a
    NaN is refused, not cast), counters integers, texts JSON."""
    try:
        mode = os.stat(path).st_mode  # a link the user names is followed: the file it names is the checkpoint
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path!r} does not exist") from None
    except OSError as error:
        raise CheckpointError(f"checkpoint {path!r} cannot be examined ({error.strerror})") from None
    if not stat.S_ISREG(mode):  # a FIFO would hang the reader, a device never end
        raise CheckpointError(f"checkpoint {path!r} is {_kind(mode)}, not a file; give the .npz file a run wrote")
    if not zipfile.is_zipfile(path):  # numpy.load would take it for a .npy or a pickle
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file (not a zip archive)")
    try:
        _check_sizes(path)
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except CheckpointError:  # first: it is a ValueError, and a size refusal is already one whole line
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CheckpointError(f"checkpoint {path!r} holds a pickled Python object; refusing to load it "
                                  "(checkpoints here are plain arrays, and unpickling can run code)") from None
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file ({error})") from None
    except Exception as error:  # noqa: BLE001  zipfile, zlib and numpy's header parser raise many kinds on bad bytes
        raise CheckpointError(f"checkpoint {path!r} is not a readable .npz file ({type(error).__name__}: "
                              f"{str(error)[:200]})") from None
    return check_arrays(arrays, path)


def _check_sizes(path):
    """Refuse, from the zip directory and the .npy headers alone, an archive that would inflate past the limits."""
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise CheckpointError(f"checkpoint {path!r} has {len(entries):,} entries; a checkpoint has at most "
                                  f"{MAX_ENTRIES:,}")
        total = 0
        for entry in entries:
            if entry.file_size > MAX_ARRAY_BYTES + 4096:
                raise CheckpointError(f"checkpoint {path!r}: {entry.filename} inflates to {entry.file_size:,} bytes, "
                                      f"over the limit of {MAX_ARRAY_BYTES:,} bytes per array")
            with archive.open(entry) as member:
                version = numpy.lib.format.read_magic(member)
                read_header = (numpy.lib.format.read_array_header_1_0 if version == (1, 0)
                               else numpy.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(member)
            if dtype.hasobject:
                raise ValueError("holds a pickled object")  # reported as the pickle refusal above
            size = math.prod(shape) * dtype.itemsize
            total += size
            if size > MAX_ARRAY_BYTES or total > MAX_TOTAL_BYTES:
                raise CheckpointError(f"checkpoint {path!r}: {entry.filename} declares {size:,} bytes "
                                      f"(shape {shape}); the limits are {MAX_ARRAY_BYTES:,} bytes per array and "
                                      f"{MAX_TOTAL_BYTES:,} in all")


def restore(checkpoint, model, optimizer=None, path="checkpoint"):
    """Load a checkpoint's model (and optimizer) state; a mismatch is a CheckpointError naming keys and shapes."""
    try:
        model.load_state_dict(checkpoint["model"])
        if optimizer is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path!r} does not fit the model: {error}") from None
