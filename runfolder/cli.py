"""The pieces both command lines (``python -m autoencoders``, ``python -m gans``) are built from: the
parser whose mistakes are one line, the usage error, the data loading that speaks in options, and
``run_command``, which turns every error a user can cause into one line and an exit code:

    1    a full disk or file-size limit (ENOSPC, EFBIG, EDQUOT): what was there before is intact
    2    a usage mistake, a bad checkpoint, an output path that cannot be used, no data, no GPU
    130  Ctrl-C or SIGTERM (``kill PID``) outside the training loop: nothing was written
"""
import argparse
import math
import os
import signal
import sys
import tempfile
import threading
import warnings

import numpy

import nn

from .checkpoint_checks import CheckpointError
from .folder import DISK_FULL, STAGING_PREFIX, OutputError, open_regular, read_regular, signals_held

DATASETS = ("mnist", "fashion-mnist")
MAX_METRICS_BYTES = 64 << 20  # far above any run's metrics.json: one longer is not read back


class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit code 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def load_data(config, root, limit=None, train=True, offline=False, images=None):
    """(train, test) datasets of the configuration; the source of each is printed. With
    ``train=False`` (evaluating, plotting) only the test split is looked for, and train is None.
    ``images`` (--images), else the configuration's, replaces the dataset by one's own images.
    Data errors and notes are printed in command-line words (--data-root, --offline, --limit)."""
    import datasets
    from datasets.words import CLI, in_words
    images = images or config.get("images")
    splits = ("train", "test") if train else ("test",)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if images:
                parts = datasets.load_images(images, seed=config["seed"], limit=limit)[-len(splits):]
            else:
                parts = [datasets.load(config["dataset"], split, root=root, download=not offline, limit=limit)
                         for split in splits]
        except FileNotFoundError as error:  # no data anywhere: the message lists where it looked
            raise UsageError(f"--images {images}: no such file or folder" if images else in_words(error, CLI)) from None
        except (ValueError, OSError) as error:  # a corrupt, foreign or oversized file where the data was looked for
            raise UsageError(f"the {'--images' if images else config['dataset']} data could not be read: "
                             f"{in_words(error, CLI)}") from None
    side = math.isqrt(parts[0].images.shape[1])
    if side != config.get("image_size", 28):  # --images given to a model built for another size
        raise UsageError(f"--images {images} are {side}x{side} pixels, but the model takes "
                         f"{config.get('image_size', 28)}x{config.get('image_size', 28)} images; give images of that size")
    notes = {}  # each note once: by its key where it has one (the same note about both splits), else its words
    for warning in caught:
        message = in_words(warning.message, CLI)
        notes.setdefault(getattr(warning.message, "key", None) or message, message)
    for message in notes.values():
        print(f"note: {message}", file=sys.stderr)
    for part in parts:
        print(f"{part.split:>5}: {len(part.images):,} images from {part.source}")
    return (parts[0], parts[1]) if train else (None, parts[0])


# The files only one command line's runs write: a folder holding one of them holds a run of that kind.
KIND_FIGURES = {"autoencoders": ("loss.png", "reconstructions.png", "latent.png", "denoising.png", "manifold.png",
                                 "codes.png"),
                "gans": ("progress.png", "progress.gif", "losses.png", "digits.png")}


def folder_kind(path):
    """(the command line, "autoencoders" or "gans", whose run the folder ``path`` holds, the file that says
    so), or None. A checkpoint's or metrics.json's configuration decides ("kind": "gan" is a GAN's; none is
    an autoencoder's), else a figure only one of them draws. Only regular files are read, and no more than
    the configuration."""
    import json
    import stat
    import zipfile

    def regular(name):
        try:
            return stat.S_ISREG(os.lstat(os.path.join(path, name)).st_mode)
        except OSError:
            return False

    def kind_of(config):
        if isinstance(config, dict):
            return "gans" if config.get("kind") == "gan" else "autoencoders"
        return None

    for name in ("checkpoint.npz", "last-good.npz", "interrupted.npz", "metrics.json"):
        try:  # opened without following a link or waiting on a FIFO (open_regular): neither is read
            if name.endswith(".npz"):
                with open_regular(os.path.join(path, name)) as handle, zipfile.ZipFile(handle) as archive:
                    if archive.getinfo("config.npy").file_size > 1 << 20:
                        continue
                    with archive.open("config.npy") as member:
                        config = json.loads(str(numpy.lib.format.read_array(member, allow_pickle=False)))
            else:
                config = json.loads(read_regular(os.path.join(path, name), MAX_METRICS_BYTES)).get("config")
        except (OSError, ValueError, KeyError, AttributeError, zipfile.BadZipFile, RuntimeError, EOFError):
            continue  # OutputError (not a regular file, too long) is an OSError
        if kind_of(config):
            return kind_of(config), name
    for program, names in KIND_FIGURES.items():
        for name in names:
            if regular(name):
                return program, name
    return None


def refuse_other_kind(folder, program):
    """OutputError when the run folder holds a run of the other command line: its files would stay beside
    this run's (or its figures of the same names be replaced)."""
    found = folder_kind(folder.path)
    if found is not None and found[0] != program:
        raise OutputError(f"{folder.option} {folder.path} holds a run of python -m {found[0]} ({found[1]}), not of "
                          f"python -m {program}; it is left as it is: choose another {folder.option}")


def writable_directory(path):
    """``path``, made if missing, once a file can be created in it; else a UsageError naming --out."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"output directory {path!r} cannot be written ({error.strerror or error}); "
                         "choose another with --out") from None
    return path


# The engine's device errors speak its Python argument (device='cpu'); on the command line that advice is
# an option. (The data's errors are worded for the command line by datasets.words, in load_data.)
_PYTHON_TO_CLI = (("device='cpu'", "--device cpu"), ("device='gpu'", "--device gpu"), ("device 'gpu'", "--device gpu"))


def in_cli_words(error):
    message = str(error)
    for python, option in _PYTHON_TO_CLI:
        message = message.replace(python, option)
    return message


def terminate(signum, frame):
    """The SIGTERM handler: ``kill PID`` ends a run as Ctrl-C does (its state saved, its folder consistent)."""
    raise KeyboardInterrupt


def main_thread():
    """Whether this is the main thread, the only one that may install a signal handler."""
    return threading.current_thread() is threading.main_thread()


def finish_run(folder, report, next_step):
    """The end of a training run whose training is done: ``report()`` writes the metrics and figures
    into the run folder's staging folder, then the commit puts the new files in place and lists them.
    Ctrl-C during the report keeps the trained state as interrupted.npz and says ``next_step(path)``,
    what to do with it; so does a commit refused because something not a regular file appeared in the
    folder during the run (OutputError, one line). Returns what ``report()`` returned, or None after Ctrl-C (exit code 130)."""
    try:
        result = report()
    except KeyboardInterrupt:  # the training is done: keep it, even without its figures
        with signals_held():  # a second Ctrl-C waits until the trained state is in place
            path = folder.keep("checkpoint.npz", "interrupted.npz")
        print(f"\ninterrupted while writing the report; the trained state is saved to {path} ({next_step(path)})",
              file=sys.stderr)
        return None
    try:
        paths = folder.commit()
    except OutputError as error:  # a link, FIFO or folder put into DIR during the run: the commit refuses it,
        try:                      # before any rename; the trained state is kept all the same
            with signals_held():
                path = folder.keep("checkpoint.npz", "interrupted.npz")
        except OSError:
            raise error from None
        raise OutputError(f"{error}; the trained state is saved to {path} ({next_step(path)})") from None
    print("\n".join(["wrote:"] + [f"  {path}" for path in paths]))
    return result


def run_command(program, command, args):
    """``command(args)``'s exit code, with SIGTERM as Ctrl-C, and a mistake of the user's (a usage error,
    a bad checkpoint, an unusable output path, no GPU, no data) one line "<program>: error: ...", code 2."""
    previous = signal.signal(signal.SIGTERM, terminate) if main_thread() else None
    try:
        return command(args)
    except (UsageError, CheckpointError, OutputError, nn.BackendError, FileNotFoundError) as error:
        # FileNotFoundError: no data anywhere; the message lists where it looked.
        print(f"{program}: error: {in_cli_words(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        # A full disk or a file-size limit (ENOSPC, EFBIG, EDQUOT): every write is a temporary file renamed
        # into place, so what was there before is as it was.
        what = os.fspath(error.filename) if error.filename else "a file"
        staging = os.path.dirname(what)
        if os.path.basename(staging).startswith(STAGING_PREFIX):  # a run folder's file, written into its staging
            what = os.path.join(os.path.dirname(staging), os.path.basename(what))
        print(f"{program}: error: could not write {what} ({error.strerror or error}); what was there before is "
              "intact (a run folder keeps its previous run): free some disk space (or raise the file-size "
              "limit) and run again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside the training loop (loading, plotting): nothing was written
        print(f"\n{program}: interrupted; no output was changed", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
