"""The command line: python -m gans train | evaluate | sample.

    python -m gans train                      # the fully connected GAN on MNIST, 20 epochs, into runs/gan
    python -m gans train --model cgan         # the conditional GAN: sample --digit 7 draws sevens
    python -m gans evaluate runs/gan/checkpoint.npz
    python -m gans sample runs/cgan/checkpoint.npz --digit 7 --n 16

It shares its machinery with ``python -m autoencoders``: the run folder (one run at a time, files
replaced only when the run finishes), checkpoints of plain arrays validated before use, data loading
and its notes, number checks, one-line errors with exit code 2.
"""
import argparse
import base64
import contextlib
import json
import math
import os
import sys
import time

import numpy

import nn
from runfolder.arguments import number_type
from runfolder.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from runfolder.checkpoint_checks import MAX_LATENT_DIM, check_adam_state, check_state_text
from runfolder.cli import (DATASETS, Parser, UsageError, finish_run, load_data, refuse_other_kind, run_command,
                        writable_directory)
from runfolder.figures import mosaic, plot_gradient_stats, show_mosaic
from runfolder.gradient_stats import GradientStats, summary_line
from runfolder.progress import POSTFIX_EVERY, training_bar, write_line
from runfolder.record import TrainingDiverged
from runfolder import threads as blas_threads
from runfolder.folder import STATE_FILES, RunFolder, atomic_write, check_output_file
from nn import backend

from . import figures
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .models import Discriminator, Generator
from .training import GANHistory, NoiseSource, fit_gan

MODELS = ("gan", "cgan", "dcgan")
DEFAULTS = {"model": "gan", "dataset": "mnist", "epochs": 20, "batch_size": 64, "lr": 2e-4, "beta1": 0.5,
            "latent_dim": 100, "device": "cpu", "dtype": "float32", "seed": 0, "limit": None}
GRID = 64                       # the fixed noise batch drawn after every epoch (an 8 x 8 grid)
MAX_SAMPLES = 10_000
FIGURES = ("progress.png", "progress.gif", "losses.png", "interpolation.png", "samples.png", "digits.png",
           "gradients.png")
RUN_FILES = frozenset(FIGURES) | STATE_FILES
# The random streams a checkpoint carries: the batch order, the noise, and the dropout masks (D's dropout
# draws from the CPU's default generator, which ``build`` reseeds: without its state a resumed run
# would draw the first epoch's masks again).
STATE_NAMES = ("loader", "noise", "dropout")


class GANPair(nn.Module):
    """The generator and the discriminator as one module, for checkpoints (keys generator.*, discriminator.*)."""

    def __init__(self, generator, discriminator):
        self.generator, self.discriminator = generator, discriminator


class OptimizerPair:
    """The two Adams' state dicts as one (keys generator/<name>, discriminator/<name>)."""

    def __init__(self, generator, discriminator):
        self.optimizers = {"generator": generator, "discriminator": discriminator}

    def state_dict(self):
        return {f"{part}/{name}": value for part, optimizer in self.optimizers.items()
                for name, value in optimizer.state_dict().items()}

    def load_state_dict(self, state):
        for part, optimizer in self.optimizers.items():
            prefix = f"{part}/"
            optimizer.load_state_dict({name[len(prefix):]: value for name, value in state.items() if name.startswith(prefix)})


def build(config):
    """(generator, discriminator) of the configuration, seeded, in its dtype and on its device."""
    nn.manual_seed(config["seed"])
    if config["model"] == "dcgan":
        generator, discriminator = DCGANGenerator(latent_dim=config["latent_dim"]), DCGANDiscriminator()
    else:
        classes = 10 if config["model"] == "cgan" else 0
        generator = Generator(latent_dim=config["latent_dim"], classes=classes)
        discriminator = Discriminator(classes=classes)
    return (generator.to(config["device"], dtype=config["dtype"]),
            discriminator.to(config["device"], dtype=config["dtype"]))


def optimizers(config, generator, discriminator):
    settings = {"lr": config["lr"], "betas": (config["beta1"], 0.999)}
    # foreach=True: the fast form of the rule (flat buffers), as python -m autoencoders train uses
    return (nn.Adam(generator.parameters(), **settings, foreach=True),
            nn.Adam(discriminator.parameters(), **settings, foreach=True))


def _scaled(images, config):
    """Images in [0, 1] to the generator's range [-1, 1], in the run's dtype and on its device."""
    return backend.to_device((images * 2 - 1).astype(config["dtype"]), config["device"])


# --- checkpoints -------------------------------------------------------------------------------
def _history_dict(history, frames):
    data = history.to_dict()
    data["frames"] = [base64.b64encode(frame.tobytes()).decode("ascii") for frame in frames]
    return data


def _checked_run(checkpoint, path):
    """(config, GANHistory, frames) of a GAN checkpoint, every entry checked; CheckpointError otherwise."""
    def fail(message):
        raise CheckpointError(f"checkpoint {path!r} {message}")

    config = checkpoint["config"]
    if not isinstance(config, dict) or config.get("kind") != "gan":
        fail("is not a GAN checkpoint of python -m gans (for an autoencoder's, use python -m autoencoders)")
    for name, default in DEFAULTS.items():
        value = config.get(name)
        kinds = (int, type(None)) if name == "limit" else (int, float) if isinstance(default, float) else type(default)
        if isinstance(value, bool) or not isinstance(value, kinds):
            fail(f"has config {name}={value!r}; expected {'an int or null' if name == 'limit' else 'a ' + type(default).__name__}")
    if config["model"] not in MODELS or config["dataset"] not in DATASETS or config["device"] not in ("cpu", "gpu") \
            or config["dtype"] not in ("float32", "float64"):
        fail(f"has an unknown model, dataset, device or dtype in its config ({config['model']!r}, "
             f"{config['dataset']!r}, {config['device']!r}, {config['dtype']!r})")
    if not (0 < config["lr"] < math.inf and 0 <= config["beta1"] < 1 and 0 < config["batch_size"] <= 1 << 20
            and 0 < config["latent_dim"] <= MAX_LATENT_DIM and config["epochs"] > 0 and 0 <= config["seed"] < 2**63
            and (config["limit"] is None or config["limit"] > 0)):
        fail("has a config value out of range (lr, beta1, batch_size, latent_dim, epochs, seed or limit)")
    unknown = sorted(set(config) - set(DEFAULTS) - {"kind"})
    if unknown:
        fail(f"has unknown config keys {unknown}")
    _check_streams_and_optimizers(checkpoint, config, path, fail)
    data = checkpoint["history"]
    epoch = checkpoint["epoch"]
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        fail("has a malformed history")
    fields = GANHistory.__dataclass_fields__
    lists = {name: data.get(name) for name in fields}
    if not all(isinstance(value, list) and all(isinstance(item, (int, float)) and math.isfinite(item) for item in value)
               for value in lists.values()):
        fail("has a history whose entries are not lists of finite numbers")
    if any(isinstance(item, bool) for value in lists.values() for item in value) or min(lists["epoch_seconds"], default=0) < 0:
        fail("has a history holding true/false or negative seconds")
    iterations = {len(lists[name]) for name in ("d_loss", "g_loss", "d_real", "d_fake")}
    if len(iterations) != 1 or len(lists["epoch_seconds"]) != epoch or len(data["frames"]) != epoch \
            or (epoch and (not min(iterations) or min(iterations) % epoch)) or (not epoch and max(iterations)):
        fail(f"has a history inconsistent with its epoch {epoch} (whole epochs of steps, one time and frame each)")
    frames = []
    for text in data["frames"]:
        try:
            raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != GRID * 784:
            fail("has a malformed sample frame in its history")
        frames.append(numpy.frombuffer(raw, dtype=numpy.uint8).reshape(GRID, 784))
    return config, GANHistory.from_dict(lists), frames


def _check_streams_and_optimizers(checkpoint, config, path, fail):
    """Each random stream's state one a generator can take; each Adam's state as the configuration builds it."""
    unknown = sorted(set(checkpoint["states"]) - set(STATE_NAMES))
    if unknown:
        fail(f"has unknown generator states {unknown}")
    for name, text in checkpoint["states"].items():
        check_state_text(name, text, path)
    optimizer = checkpoint["optimizer"]
    parts = ("generator", "discriminator")
    stray = sorted(name for name in optimizer if name.split("/")[0] not in parts)
    if stray:
        fail(f"has optimizer entries of neither network: {stray}")
    for part in parts:
        state = {name[len(part) + 1:]: value for name, value in optimizer.items() if name.startswith(part + "/")}
        check_adam_state(state, path, part, lr=config["lr"], betas=(config["beta1"], 0.999))


def _restore_run(checkpoint, path, config):
    generator, discriminator = build(config)
    g_optimizer, d_optimizer = optimizers(config, generator, discriminator)
    restore(checkpoint, GANPair(generator, discriminator), OptimizerPair(g_optimizer, d_optimizer), path)
    return generator, discriminator, g_optimizer, d_optimizer


# --- the commands ------------------------------------------------------------------------------
def command_train(args):
    """Training, with subnormal floats flushed to zero on this thread for its duration (they would slow
    every pass; see nn.fast.floats) and the thread's mode as it was afterwards (a caller of main() from
    Python, or a test, keeps its own arithmetic)."""
    with nn.fast.flushing_denormals():
        return _train(args)


def _train(args):
    nn.keep_freed_memory()  # as python -m autoencoders train: this process trains (see their docstrings)
    checkpoint = None
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        config, history, frames = _checked_run(checkpoint, args.resume)
        given = [option for option in ("model", "dataset", "batch_size", "lr", "beta1", "latent_dim", "dtype", "seed", "limit")
                 if getattr(args, option) is not None and getattr(args, option) != config[option]]
        if given:
            raise UsageError(f"--resume keeps the run's configuration; leave out --{given[0].replace('_', '-')} "
                             f"(the run has {config[given[0]]!r})")
        config["epochs"] = args.epochs or config["epochs"]
        config["device"] = args.device or config["device"]
    else:
        config = dict(DEFAULTS, kind="gan")
        config.update({name: getattr(args, name) for name in DEFAULTS if getattr(args, name, None) is not None})
        history, frames = GANHistory(), []
    with RunFolder(args.out, RUN_FILES) as folder:
        folder.check_targets()
        refuse_other_kind(folder, "gans")
        return _train_into(folder, args, checkpoint, config, history, frames)


def _train_into(folder, args, checkpoint, config, history, frames):
    import datasets

    if checkpoint is not None:
        generator, discriminator, g_optimizer, d_optimizer = _restore_run(checkpoint, args.resume, config)
    else:
        generator, discriminator = build(config)
        g_optimizer, d_optimizer = optimizers(config, generator, discriminator)
    train, test = load_data(config, args.data_root, config["limit"], offline=args.offline)
    conditional = config["model"] == "cgan"
    if conditional:
        _check_labels(train, "--model cgan draws 10 classes; give labels 0..9, or train --model gan")
    loader = datasets.DataLoader(_scaled(train.images, config), labels=train.labels if conditional else None,
                                 batch_size=config["batch_size"], seed=config["seed"], device=config["device"],
                                 drop_last=_drop_last(config, len(train.images)))
    source = NoiseSource(config["latent_dim"], 10 if conditional else 0, config["seed"] + 1)
    fixed = _fixed_inputs(config, generator)
    if checkpoint is not None:
        _restore_streams(checkpoint, args.resume, loader, source)
        print(f"resuming {args.resume} after epoch {checkpoint['epoch']}")
    model, optimizer = GANPair(generator, discriminator), OptimizerPair(g_optimizer, d_optimizer)

    def save(epoch, name="checkpoint.npz"):
        states = {"loader": json.dumps(loader.state_dict()), "noise": source.generators.state(),
                  "dropout": json.dumps(backend.default_generator("cpu").bit_generator.state)}
        save_checkpoint(folder.staged(name), model, optimizer, epoch, config, _history_dict(history, frames), states)

    # Both networks watched, each with its own optimizer's steps (the discriminator's only while it trains:
    # its backward in the generator's step, frozen, is not counted). The figure: one column each.
    every = max(1, len(loader) // 10)
    stats = {"generator": GradientStats(generator, g_optimizer, every=every),
             "discriminator": GradientStats(discriminator, d_optimizer, every=every)} if args.gradient_stats else None
    first_epoch = history.epochs + 1
    # One bar over the run's steps, on stderr (as autoencoders train shows): the first epoch alone can
    # take a minute on the full set. The line per epoch stays on stdout, printed above the bar.
    bar = None if args.quiet else training_bar(config["epochs"] * len(loader))

    def after_step(epoch, iteration, history):
        bar.update(1)
        if iteration % POSTFIX_EVERY == 0:
            bar.set_postfix(epoch=epoch, L_D=f"{history.d_loss[-1]:.4f}", L_G=f"{history.g_loss[-1]:.4f}")

    def end_of_epoch(epoch, history):
        for network in (stats or {}).values():
            network.end_epoch(epoch)
        frames.append(figures.frame(_generate(generator, *fixed)))
        generator.train()
        save(epoch)
        if not args.quiet:
            d_loss, g_loss = numpy.mean(history.d_loss[-len(loader):]), numpy.mean(history.g_loss[-len(loader):])
            bar.set_postfix(epoch=epoch, L_D=f"{d_loss:.4f}", L_G=f"{g_loss:.4f}")
            write_line(bar, f"epoch {epoch}: L_D {d_loss:.4f}, L_G {g_loss:.4f}, D(x) {history.d_real[-1]:.3f}, "
                            f"D(G(z)) {history.d_fake[-1]:.3f} ({history.epoch_seconds[-1]:.1f} s)")

    threads = _blas_threads(config, generator, discriminator)
    started = time.perf_counter()
    try:
        # the bar closed (by its with) before any message below
        with numpy.errstate(over="ignore", invalid="ignore"), blas_threads.using(threads), \
                bar if bar is not None else contextlib.nullcontext():
            fit_gan(generator, discriminator, loader, g_optimizer, d_optimizer, config["epochs"], source,
                    history=history, on_epoch_end=end_of_epoch, progress=None if bar is None else after_step)
    except TrainingDiverged as error:
        kept = ("no epoch finished, so no checkpoint was written" if len(frames) == (checkpoint or {}).get("epoch", 0)
                else f"the last good checkpoint is {folder.keep('checkpoint.npz', 'last-good.npz')}")
        if checkpoint is not None:  # the error's advice is a lower --lr, which --resume refuses
            kept += "; --resume keeps the run's --lr, so start a new run (without --resume) with a lower --lr"
        print(f"gans: error: {error}; {kept}; nothing else in {folder.path} was changed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _whole_epochs(history, len(loader), len(frames))
        save(len(frames), "interrupted.npz")
        path = folder.keep("interrupted.npz")
        print(f"\ninterrupted: state saved to {path} (resume with: python -m gans train --resume {path} "
              f"--out {folder.path}); the run's other files are unchanged", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - started
    gradients = None if stats is None else {name: network.to_dict(first_epoch) for name, network in stats.items()}
    metrics = finish_run(folder, lambda: _report(folder.staging, config, history, frames, generator, fixed, train, test,
                                                 seconds, gradients, threads),
                         lambda path: f"sample from it with: python -m gans sample {path}")
    if metrics is None:
        return 130
    print(f"done: {config['model']}, {history.epochs} epochs; last epoch D(x) {metrics['final']['d_real']:.3f}, "
          f"D(G(z)) {metrics['final']['d_fake']:.3f}; files in {folder.path} "
          f"(score the samples with: python -m gans evaluate {os.path.join(folder.path, 'checkpoint.npz')})")
    for name, network in (metrics.get("gradient_stats") or {}).items():
        print(f"{name} " + summary_line(network))
    return 0


def _drop_last(config, count):
    """Whether the last batch is left out of each epoch: a DCGAN's last batch of one image, which BatchNorm
    cannot normalize (torch's drop_last). A batch size of 1, or a single image, cannot be helped: refused."""
    if config["model"] != "dcgan":
        return False
    if config["batch_size"] == 1 or count == 1:
        given = "--batch-size 1" if config["batch_size"] == 1 else f"--limit {config['limit']} leaves one image"
        raise UsageError(f"{given}: the DCGAN's BatchNorm layers need at least 2 images per batch; use "
                         "--batch-size 2 or more (and at least 2 training images)")
    if count % config["batch_size"] == 1:
        print(f"note: {count:,} images in batches of {config['batch_size']} leave a last batch of one image, which "
              "BatchNorm cannot normalize; it is left out of each epoch", file=sys.stderr)
        return True
    return False


def _check_labels(data, fix):
    """UsageError when a label of ``data`` lies outside 0..9 (an IDX labels file holding 255, say)."""
    labels = backend.to_numpy(data.labels) if data.labels is not None else None
    if labels is None:
        raise UsageError(f"the {data.split} images of {data.source} have no labels; {fix}")
    bad = numpy.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise UsageError(f"the {data.split} labels of {data.source} hold {labels[bad[0]]} (image {bad[0]}) and "
                         f"{bad.size - 1:,} other(s) outside 0..9; {fix}")


def _blas_threads(config, generator, discriminator):
    """The BLAS thread count the run trains with (runfolder.threads' rule: the largest matrix product of
    either network at the batch size), printed once with the run's header; None on the GPU."""
    if config["device"] != "cpu":
        return None
    choice = blas_threads.choose(blas_threads.largest_product([generator, discriminator], config["batch_size"]))
    print(choice.line())
    return choice


def _restore_streams(checkpoint, path, loader, source):
    """The loader's order and the noise stream where the checkpoint left them."""
    states = checkpoint["states"]
    try:
        if "loader" in states:
            loader.load_state_dict(json.loads(states["loader"]))
        if "noise" in states:
            source.generators.set_state(states["noise"])
        if "dropout" in states:  # after build(), which reseeded the default generator
            backend.default_generator("cpu").bit_generator.state = json.loads(states["dropout"])
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise CheckpointError(f"checkpoint {path!r} has a malformed loader or noise state ({error})") from None


def _whole_epochs(history, per_epoch, epochs):
    """Drop what an unfinished epoch recorded (its steps; its time, when Ctrl-C came after the time was
    taken but before the epoch's frame), so the history describes ``epochs`` whole epochs only."""
    keep = per_epoch * epochs
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        del getattr(history, name)[keep:]
    del history.epoch_seconds[epochs:]


def _fixed_inputs(config, generator):
    """The noise (and labels) drawn after every epoch: the same GRID vectors for the whole run."""
    source = NoiseSource(config["latent_dim"], 0, config["seed"] + 2)
    like = backend.to_device(numpy.zeros(1, config["dtype"]), config["device"])
    labels = backend.to_device(numpy.arange(GRID) % 10, config["device"]) if generator.classes else None
    return source.noise(GRID, like), labels


def _generate(generator, noise, labels):
    generator.eval()
    return generator(noise, labels)


def _report(out, config, history, frames, generator, fixed, train, test, seconds, gradients=None, threads=None):
    per_epoch = len(history.d_loss) // max(history.epochs, 1)
    metrics = {"config": config,
               "data": {"train": {"source": train.source, "images": int(len(train.images))}},
               "epochs": [{"epoch": epoch + 1, "d_loss": float(numpy.mean(history.d_loss[epoch * per_epoch:(epoch + 1) * per_epoch])),
                           "g_loss": float(numpy.mean(history.g_loss[epoch * per_epoch:(epoch + 1) * per_epoch])),
                           "seconds": history.epoch_seconds[epoch]} for epoch in range(history.epochs)],
               "final": {"d_real": float(numpy.mean(history.d_real[-per_epoch:])),
                         "d_fake": float(numpy.mean(history.d_fake[-per_epoch:]))},
               "training_seconds": seconds,
               "blas_threads": None if threads is None else threads.as_dict(),
               **({} if gradients is None else {"gradient_stats": gradients})}
    atomic_write(os.path.join(out, "metrics.json"),
                 lambda handle: handle.write(json.dumps(metrics, indent=2, allow_nan=False).encode()))
    title = f"{config['model']}: Adam lr {config['lr']:g}, beta1 {config['beta1']:g}, batch {config['batch_size']}"
    figures.plot_gan_losses(history, os.path.join(out, "losses.png"), title)
    figures.plot_progress(frames, os.path.join(out, "progress.png"))
    figures.write_progress_gif(frames, os.path.join(out, "progress.gif"))
    _draw_samples(generator, fixed, out)
    if gradients is not None:
        plot_gradient_stats([(name, gradients[name]) for name in ("generator", "discriminator")],
                            os.path.join(out, "gradients.png"), f"Backprop inside both networks of the {title}")
    return metrics


def _draw_samples(generator, fixed, out):
    noise, labels = fixed
    images = figures.to_unit_range(_generate(generator, noise, labels))
    show_mosaic(mosaic(images, 8), os.path.join(out, "samples.png"),
                f"{len(images)} samples from fixed noise")
    figures.plot_noise_interpolation(generator, noise[:12], os.path.join(out, "interpolation.png"),
                                     labels=None if labels is None else labels[:12:2])
    if generator.classes:
        figures.plot_digit_rows(generator, noise[:10], os.path.join(out, "digits.png"))


def command_evaluate(args):
    from .quality import real_floor, score, train_classifier

    checkpoint = load_checkpoint(args.checkpoint)
    config, history, _ = _checked_run(checkpoint, args.checkpoint)
    config["device"] = args.device or config["device"]
    generator, *_ = _restore_run(checkpoint, args.checkpoint, config)
    train, test = load_data(config, args.data_root, config["limit"], offline=args.offline)
    if len(train.images) < 2 or len(test.images) < 4:  # two halves of the test set of 2 images each, at least
        raise UsageError(f"the run's data (--limit {config['limit']}) gives {len(train.images)} training and "
                         f"{len(test.images)} test image(s); the scores need at least 2 and 4: evaluate a run "
                         "trained on more images")
    for part in (train, test):  # the classifier learns and is scored on the 10 digits
        _check_labels(part, "the scores' classifier learns the digits 0..9; fix the labels file")
    classifier = train_classifier(train.images, train.labels, seed=config["seed"])
    like = backend.to_device(numpy.zeros(1, config["dtype"]), config["device"])
    source = NoiseSource(config["latent_dim"], generator.classes, args.seed)
    asked = numpy.arange(args.n) % 10 if generator.classes else None
    samples = figures.to_unit_range(_generate(generator, source.noise(args.n, like),
                                              None if asked is None else backend.to_device(asked, config["device"])))
    result = score(classifier, test.images, samples, asked)
    floor = real_floor(classifier, test, args.n, args.seed)
    print(f"classifier test accuracy: {float((classifier.predict(test.images) == test.labels).mean()):.4f}")
    print(f"Frechet distance of {args.n:,} samples to the test images: {result['frechet_distance']:.2f} "
          f"(real test images against other real test images: {floor['frechet_distance']:.2f})")
    print(f"class entropy: {result['class_entropy']:.3f} nats (all ten classes equally: {math.log(10):.3f})")
    if "accuracy" in result:
        print(f"asked-for digit read back: {result['accuracy']:.3f}")
    return 0


def command_sample(args):
    checkpoint = load_checkpoint(args.checkpoint)
    config, _, _ = _checked_run(checkpoint, args.checkpoint)
    config["device"] = args.device or config["device"]
    generator, *_ = _restore_run(checkpoint, args.checkpoint, config)
    if args.digit is not None and not generator.classes:
        raise UsageError(f"--digit needs a conditional GAN (train --model cgan); {args.checkpoint} holds a {config['model']}")
    digit = "" if args.digit is None else f"-digit{args.digit}"
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"samples-n{args.n}{digit}-seed{args.seed}.png")
    check_output_file(out)
    writable_directory(os.path.dirname(os.path.abspath(out)))  # before drawing, in --out's words
    like = backend.to_device(numpy.zeros(1, config["dtype"]), config["device"])
    source = NoiseSource(config["latent_dim"], generator.classes, args.seed)
    labels = None
    if generator.classes:
        labels = numpy.full(args.n, args.digit) if args.digit is not None else numpy.arange(args.n) % 10
        labels = backend.to_device(labels, config["device"])
    images = figures.to_unit_range(_generate(generator, source.noise(args.n, like), labels))
    asked = f" of the digit {args.digit}" if args.digit is not None else ""
    show_mosaic(mosaic(images, int(math.ceil(math.sqrt(args.n)))), out,
                f"{args.n} samples{asked} (seed {args.seed})")
    print(f"wrote {out}")
    return 0


def make_parser():
    parser = Parser(prog="python -m gans", description="Train, evaluate and sample GANs built on the nn engine.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = commands.add_parser("train", help="train a GAN; figures, metrics and a checkpoint into --out")
    train.add_argument("--model", choices=MODELS, help="gan (fully connected, default), cgan (conditional on the digit), "
                       "dcgan (convolutional, Radford et al.)")
    train.add_argument("--dataset", choices=DATASETS, help="mnist (default) or fashion-mnist")
    train.add_argument("--epochs", type=number_type(int, above=0), help="epochs in this run (20; with --resume: more)")
    train.add_argument("--batch-size", type=number_type(int, above=0, at_most=1 << 20), help="images per step (64)")
    train.add_argument("--lr", type=number_type(float, above=0), help="Adam learning rate of both networks (2e-4)")
    train.add_argument("--beta1", type=number_type(float, at_least=0, below=1), help="Adam beta1 of both networks (0.5)")
    train.add_argument("--latent-dim", type=number_type(int, above=0, at_most=MAX_LATENT_DIM), help="noise dimensions (100)")
    train.add_argument("--dtype", choices=("float32", "float64"), help="precision (float32)")
    train.add_argument("--seed", type=number_type(int, at_least=0), help="seed of the weights, batches and noise (0)")
    train.add_argument("--out", default="runs/gan", help="folder for the outputs (runs/gan); replaced when the run finishes")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint")
    train.add_argument("--limit", type=number_type(int, above=0), help="use only the first N training images")
    train.add_argument("--quiet", action="store_true", help="no progress bar and no line per epoch")
    train.add_argument("--gradient-stats", action=argparse.BooleanOptionalAction, default=True,
                       help="measure backprop in both networks (on by default): the gradient norm reaching each layer, "
                            "each update's size next to its weights, dead ReLU units per epoch, into gradients.png "
                            "(a column per network) and metrics.json; --no-gradient-stats turns it off")

    evaluate = commands.add_parser("evaluate", help="score a checkpoint's samples with a digit classifier")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--n", type=number_type(int, above=1, at_most=MAX_SAMPLES), default=MAX_SAMPLES,
                          help=f"samples to score ({MAX_SAMPLES:,})")
    evaluate.add_argument("--seed", type=number_type(int, at_least=0), default=0, help="seed of the noise (0)")

    sample = commands.add_parser("sample", help="draw new images from a checkpoint into a PNG")
    sample.add_argument("checkpoint")
    sample.add_argument("--n", type=number_type(int, above=0, at_most=1024), default=64, help="how many (64, at most 1024)")
    sample.add_argument("--digit", type=number_type(int, at_least=0, at_most=9), help="cgan: the digit to draw")
    sample.add_argument("--seed", type=number_type(int, at_least=0), default=0, help="seed of the noise (0)")
    sample.add_argument("--out", help="the PNG (default: samples-n<N>[-digit<D>]-seed<S>.png beside the checkpoint)")
    for command in (train, evaluate, sample):
        command.add_argument("--device", choices=("cpu", "gpu"), help="cpu (NumPy) or gpu (CuPy)")
    for command in (train, evaluate):
        command.add_argument("--data-root", metavar="DIR", help="look for the dataset files here first")
        command.add_argument("--offline", action="store_true", help="never use the network (also: NN_OFFLINE=1)")
    return parser


def main(argv=None):
    args = make_parser().parse_args(argv)
    command = {"train": command_train, "evaluate": command_evaluate, "sample": command_sample}[args.command]
    return run_command("gans", command, args)
