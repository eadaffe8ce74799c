"""Command line: ``python -m autoencoders {train,evaluate,plot,sample} ...`` (see --help of each)."""
import argparse
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy

import nn
from runfolder.arguments import number_type
from runfolder.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from runfolder.checkpoint_checks import MAX_LATENT_DIM
from runfolder.cli import (DATASETS, MAX_METRICS_BYTES, Parser, UsageError, finish_run, load_data, refuse_other_kind,
                           run_command, writable_directory)
from runfolder.folder import STATE_FILES, OutputError, RunFolder, atomic_write, check_output_file, read_regular
from runfolder.gradient_stats import GradientStats, summary_line
from runfolder.figures import plot_gradient_stats
from nn import backend

from . import figures, pca
from .convolutional import ConvAutoencoder
from .aae import AdversarialAutoencoder
from .models import Deep2006Autoencoder, DeepAutoencoder, DenoisingAutoencoder, OvercompleteAutoencoder, SimpleAutoencoder
from .noise import NOISES
from .sparse import SPARSITIES, SparseAutoencoder
from .diagnosis import collapse_note
from .fast_steps import FastSteps
from .run_checks import check_config_types, check_run
from .training import History, TrainingDiverged, choose_threads, encode, fit, per_image_mse, predict
from .vae import VariationalAutoencoder, elbo_terms, negative_elbo

MODELS = ("simple", "deep", "deep-2006", "aae", "overcomplete", "denoising", "conv", "vae", "sparse")
PRESETS = {
    # What trains well: Adam at its usual learning rate, for 40 epochs. With 20 (the seed's count) the
    # deep 9-d model still loses to PCA with 9 components on the 4,000-image offline sample (test MSE
    # 0.0379 against 0.0360); with 40 it wins on every seed measured (0.0312-0.0323, about 12% lower).
    "default": {"model": "deep", "epochs": 40, "batch_size": 32, "lr": 1e-3, "weight_decay": 0.0},
    # The seed tutorial's exact configuration.
    "seed": {"model": "deep", "epochs": 20, "batch_size": 32, "lr": 0.1, "weight_decay": 1e-8},
}
DEFAULTS = {"dataset": "mnist", "noise": None, "noise_level": None, "latent_dim": None, "device": "cpu",
            "dtype": "float32", "seed": 0, "sparsity": None, "sparsity_weight": None, "sparsity_target": None}
# --model sparse only; its defaults. A checkpoint written before these options existed holds a KL model
# with these defaults.
SPARSE_DEFAULTS = {"sparsity": "kl", "sparsity_weight": 1e-3, "sparsity_target": 0.05}
NOISE_LEVELS = {"gaussian": 0.3, "masking": 0.3, "salt-pepper": 0.2}
LATENT_DIMS = {"simple": 128, "deep": 9, "deep-2006": 30, "aae": 9, "overcomplete": 1024, "denoising": 9, "conv": 32, "vae": 20, "sparse": 64}
MAX_SAMPLES = 1024  # sample --n: a 32 x 32 grid; 40,000 would be a 12 GB figure
# Every file a run writes into its folder; a new run's commit removes those of them it did not write.
FIGURE_FILES = frozenset({"loss.png", "reconstructions.png", "latent.png", "denoising.png", "samples.png",
                          "interpolation.png", "manifold.png", "codes.png", "gradients.png"})
RUN_FILES = FIGURE_FILES | STATE_FILES


# --- building a run from its configuration --------------------------------------------------
def resolve_config(args):
    """The run's configuration: the preset, overridden by every option given on the command line."""
    config = dict(PRESETS[args.preset], **DEFAULTS, preset=args.preset)
    for name in list(config):
        value = getattr(args, name, None)
        if value is not None and name != "preset":
            config[name] = value
    if config["model"] == "denoising" and config["noise"] is None:
        config["noise"] = "gaussian"
    if config["noise"] is not None and config["noise_level"] is None:
        config["noise_level"] = NOISE_LEVELS[config["noise"]]
    if config["latent_dim"] is None:
        config["latent_dim"] = LATENT_DIMS[config["model"]]
    if config["model"] == "sparse":
        config["sparsity"] = config["sparsity"] or SPARSE_DEFAULTS["sparsity"]
        if config["sparsity_weight"] is None:
            config["sparsity_weight"] = SPARSE_DEFAULTS["sparsity_weight"]
        if config["sparsity"] == "kl" and config["sparsity_target"] is None:
            config["sparsity_target"] = SPARSE_DEFAULTS["sparsity_target"]
    return config


def build_model(config):
    """The model a configuration describes, on its device and dtype, initialized from its seed."""
    nn.manual_seed(config["seed"])
    kind, latent_dim = config["model"], config["latent_dim"]
    side = config.get("image_size", 28)  # --images may bring any square size
    if kind == "simple":
        model = SimpleAutoencoder(input_dim=side * side, latent_dim=latent_dim)
    elif kind == "overcomplete":
        model = OvercompleteAutoencoder(input_dim=side * side, latent_dim=latent_dim)
    elif kind == "conv":
        model = ConvAutoencoder(latent_dim=latent_dim, image_size=side)
    elif kind == "sparse":
        target = {"target": config["sparsity_target"]} if config["sparsity"] == "kl" else {}
        model = SparseAutoencoder(input_dim=side * side, latent_dim=latent_dim, sparsity=config["sparsity"],
                                  weight=config["sparsity_weight"], **target)
    elif kind == "aae":
        model = AdversarialAutoencoder(input_dim=side * side, latent_dim=latent_dim, seed=config["seed"] + 1)
    elif kind == "deep-2006":
        model = Deep2006Autoencoder(input_dim=side * side, latent_dim=latent_dim)
    elif kind == "vae":
        model = VariationalAutoencoder(input_dim=side * side, latent_dim=latent_dim, seed=config["seed"] + 1)
    else:
        model = DeepAutoencoder(input_dim=side * side, latent_dim=latent_dim)
    if config["noise"] is not None:
        model = DenoisingAutoencoder(model, NOISES[config["noise"]](config["noise_level"], seed=config["seed"] + 1))
    return model.to(device=config["device"], dtype=config["dtype"])


def _dtype_images(images, config):
    return backend.to_device(images.astype(config["dtype"], copy=False), config["device"])


# --- the commands -----------------------------------------------------------------------------
def command_train(args):
    """Training, with subnormal floats flushed to zero on this thread for its duration (they would slow
    every pass; see nn.fast.floats) and the thread's mode as it was afterwards (a caller of main() from
    Python, or a test, keeps its own arithmetic)."""
    with nn.fast.flushing_denormals():
        return _train(args)


def _train(args):
    nn.keep_freed_memory()  # this process is about to train: reuse freed activation memory (see its docstring)
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        config = _checkpoint_config(checkpoint, args.resume)
        _check_resume_options(args, config)
        config["epochs"] = args.epochs or config["epochs"]
        if args.device:
            config["device"] = args.device
    else:
        checkpoint, config = None, resolve_config(args)
        config["limit"] = args.limit
        if args.images:  # one's own images: the model is built for their size
            config.update(_images_config(args.images, args.dataset))
    _check_config(config)
    if args.cuda_graph and config["device"] != "gpu":
        raise UsageError(f"--cuda-graph needs --device gpu (this run is on {config['device']}); add --device gpu "
                         "or leave --cuda-graph out")
    # The run owns --out from here: locked, written into a staging folder, committed when it finishes.
    with RunFolder(args.out, RUN_FILES) as folder:
        folder.check_targets()
        refuse_other_kind(folder, "autoencoders")
        return _train_into(folder, args, checkpoint, config)


def _train_into(folder, args, checkpoint, config):
    import datasets
    model = build_model(config)
    # The fast forms (nn/fast): the optimizer's flat buffers here, the compiled step in _fast_steps.
    optimizer = nn.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"],
                        foreach=not args.plain)
    vae = isinstance(model, VariationalAutoencoder)
    # The VAE's objective is torch's example's: BCE summed over pixels and images, plus the KL (model.penalty).
    loss = nn.BCELoss(reduction="sum") if vae else nn.MSELoss()
    if checkpoint is not None:  # before the data: a checkpoint that does not fit fails at once
        restore(checkpoint, model, optimizer, args.resume)
    train, test = load_data(config, args.data_root, config.get("limit"), offline=args.offline, images=args.images)
    loader = datasets.DataLoader(_dtype_images(train.images, config), batch_size=config["batch_size"],
                                 shuffle=True, seed=config["seed"], device=config["device"])
    test_images = _dtype_images(test.images, config)
    # The PCA baseline runs after training: one that cannot fit in memory is known now, and skipped then.
    pca_note = pca.too_big_note(len(train.images), len(test.images), train.images.shape[1],
                                min(model.latent_dim, train.images.shape[1]))
    if pca_note:
        print(f"note: {pca_note} (the model is trained and saved as usual)", file=sys.stderr)
    history = History()
    if checkpoint is not None:
        history = History.from_dict(checkpoint["history"])
        _restore_states(checkpoint["states"], loader, model)
        print(f"resuming {args.resume} after epoch {checkpoint['epoch']}")

    saved = []  # the epochs this run finished and saved in its staging folder

    def save(epoch, history, name="checkpoint.npz"):
        save_checkpoint(folder.staged(name), model, optimizer, epoch, config, history.to_dict(), _states(loader, model))
        saved.append(epoch)

    # Before the step is compiled: nn.fast.compile plans around the hooks it finds.
    stats = gradient_stats(model, optimizer, len(loader)) if args.gradient_stats else None
    first_epoch = history.epochs + 1
    steps = _fast_steps(model, loss, optimizer, config, args)
    threads = _blas_threads(model, loader)
    if stats is not None and steps is not None and steps.cuda_graph:
        stats.remove()  # a replayed graph runs no Python: no hook would see a step
        stats = None
        print("autoencoders: no gradient statistics with --cuda-graph (a replayed CUDA graph runs no hooks); "
              "leave --cuda-graph out to get gradients.png", file=sys.stderr)

    def end_of_epoch(epoch, history):
        if stats is not None:
            stats.end_epoch(epoch)
        save(epoch, history)

    started = time.perf_counter()
    try:
        # A diverging run overflows on its way to NaN; the guard in fit reports that in one line instead.
        with numpy.errstate(over="ignore", invalid="ignore"):
            fit(model, loader, loss, optimizer, config["epochs"], test_data=test_images, progress=not args.quiet,
                history=history, on_epoch_end=end_of_epoch, test_loss=negative_elbo if vae else None, steps=steps,
                threads=threads)
    except TrainingDiverged as error:
        if saved:
            kept = f"the last good checkpoint (epoch {saved[-1]}) is {folder.keep('checkpoint.npz', 'last-good.npz')}"
        elif args.resume:
            kept = f"no epoch finished in this run; the last good checkpoint is still {args.resume}"
        else:
            kept = "no epoch finished, so no checkpoint was written"
        if args.resume:  # resuming keeps the run's --lr: the advice is a new run
            kept += "; --resume keeps the run's --lr, so start a new run (without --resume) with a lower --lr"
        print(f"autoencoders: error: {error}; {kept}; {_untouched(folder)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        save(history.epochs, history, "interrupted.npz")
        path = folder.keep("interrupted.npz")
        print(f"\ninterrupted: state saved to {path}, the run's other files are unchanged (resume with: "
              f"python -m autoencoders train --resume {path} --out {folder.path}; the unfinished epoch restarts "
              "from its beginning with the current weights)", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - started
    data = {"train": {"source": train.source, "images": int(len(train.images))},
            "test": {"source": test.source, "images": int(len(test.images))}}
    gradients = stats.to_dict(first_epoch) if stats is not None else None
    metrics = finish_run(folder, lambda: write_report(model, config, history, train, test, test_images, data,
                                                      folder.staging, seconds, gradients, threads=threads,
                                                      with_pca=pca_note is None),
                         lambda path: f"draw the figures with: python -m autoencoders plot {path} --out {folder.path}")
    if metrics is None:
        return 130
    print_summary(metrics, config, history, folder.path)
    return 0


def _fast_steps(model, loss, optimizer, config, args):
    """The steps the run takes: FastSteps (nn.fast.compile's step; with --cuda-graph on the GPU, replayed as
    one CUDA graph), or None for fit's plain loop (--plain; a model with its own training step; and on the
    GPU without --cuda-graph, where the hand-written fused kernels have not yet run on a real GPU). The
    choice is printed as one line."""
    plain = args.plain or getattr(model, "training_step", None) is not None
    if plain or (config["device"] == "gpu" and not args.cuda_graph):
        why = "--plain" if args.plain else ("the model takes its own steps" if plain else "eager CuPy steps")
        print(f"steps: plain, every formula as written ({why})")
        return None
    steps = FastSteps(model, loss, optimizer, cuda_graph=config["device"] == "gpu")
    if steps.notice:
        print(f"autoencoders: {steps.notice}", file=sys.stderr)
    print("steps: fast (nn.fast.compile and Adam foreach=True; --plain trains with the formulas as written)")
    return steps


def _blas_threads(model, loader):
    """The BLAS thread count the run trains with (runfolder.threads' rule), printed once with the run's header;
    None on the GPU."""
    choice = choose_threads(model, loader)
    if choice is not None:
        print(choice.line())
    return choice


def print_summary(metrics, config, history, out):
    """The run in a few lines: where it ended, and a note when it collapsed."""
    epochs = f"{history.epochs} epoch{'' if history.epochs == 1 else 's'}"
    print(f"done: {config['model']} model, {epochs}; test MSE {metrics['final_test_mse']:.6f}, "
          f"PSNR {_psnr_text(metrics['test_psnr_db'])}; files in {out}")
    print(pca.summary_line(metrics["pca"], metrics["final_test_mse"]) if metrics["pca"] is not None
          else "PCA baseline: skipped, it does not fit in this machine's memory")
    if metrics.get("gradient_stats"):
        print(summary_line(metrics["gradient_stats"]))
    if metrics.get("collapse_note"):
        print(metrics["collapse_note"])


def _psnr_text(value):
    return "inf dB (perfect)" if value is None else f"{value:.2f} dB"


def _untouched(folder):
    return f"nothing else in {folder.path} was changed"


def gradient_stats(model, optimizer, steps_per_epoch):
    """The GradientStats a run collects: windows of a tenth of an epoch, the gradient norms measured on one
    step in 10, the update ratios on one in 50, the dead units counted on every step
    (runfolder/gradient_stats.py)."""
    return GradientStats(model, optimizer, every=max(1, steps_per_epoch // 10))


def write_report(model, config, history, train, test, test_images, data, out, seconds, gradients=None, with_pca=True,
                 threads=None):
    """metrics.json and the figures into ``out`` (gradients.png from ``gradients``, a GradientStats.to_dict(),
    when given; the BLAS thread choice ``threads``); returns the metrics. Without ``with_pca``, or when it
    runs out of memory, the PCA baseline is left out ("pca": null): the trained model is never lost to it."""
    reconstructions = backend.to_numpy(predict(model, test_images)).astype(numpy.float64)
    images = backend.to_numpy(test_images).astype(numpy.float64)
    errors = ((reconstructions - images) ** 2).mean(axis=1)
    metrics = {
        "config": config, "data": data,
        "epochs": [{"epoch": index + 1, "train_loss": history.train_loss[index], "test_loss": history.test_loss[index],
                    "seconds": history.epoch_seconds[index], "samples_per_second": history.samples_per_second[index]}
                   for index in range(history.epochs)],
        "final_test_mse": float(errors.mean()),
        "test_psnr_db": pca.psnr(errors),
        **({} if test.labels is None else {"per_digit_test_mse": _per_digit(errors, test.labels)}),
        "training_seconds": seconds,
        "blas_threads": None if threads is None else threads.as_dict(),
        "collapse_note": collapse_note(reconstructions, images, config["lr"], history.epochs),
        "versions": _versions(),
        **({} if gradients is None else {"gradient_stats": gradients}),
    }
    metrics["pca"], fitted = _pca_baseline(model, train.images, images, errors) if with_pca else (None, None)
    metrics.update(_model_metrics(model, test_images, config))
    metrics = _json_safe(metrics)
    text = json.dumps(metrics, indent=2, allow_nan=False)  # strict JSON: no NaN or Infinity
    atomic_write(os.path.join(out, "metrics.json"), lambda handle: handle.write(text.encode()))
    draw_figures(model, config, history, test, test_images, out, fitted, metrics.get("gradient_stats"))
    return metrics


def _pca_baseline(model, train_images, test_images, errors):
    """pca.compare(...), or (None, None) with a note when it runs out of memory."""
    try:
        return pca.compare(model, train_images, test_images, errors)
    except MemoryError:
        print("note: the PCA baseline ran out of memory and is skipped (the model is saved as usual)", file=sys.stderr)
        return None, None


def draw_gradients(gradients, config, out):
    """gradients.png from metrics.json's "gradient_stats"."""
    title = (f"Backprop inside the {config['model']} autoencoder, lr {config['lr']:g}, batch {config['batch_size']} "
             f"({config['preset']} preset)")
    return plot_gradient_stats([(config["model"], gradients)], os.path.join(out, "gradients.png"), title)


def _json_safe(value):
    """``value`` with every NaN or infinite float as None (null): metrics.json is strict JSON.
    (An infinite PSNR is a perfect reconstruction; an infinite rate, an epoch too short to time.)"""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def draw_figures(model, config, history, test, test_images, out, fitted_pca=None, gradients=None):
    """Every figure of a run into ``out`` (gradients.png from ``gradients``, metrics.json's
    "gradient_stats", when given); returns their paths."""
    title = f"{config['model']} autoencoder, lr {config['lr']:g}, batch {config['batch_size']} ({config['preset']} preset)"
    paths = [figures.plot_loss(history, os.path.join(out, "loss.png"), title),
             figures.plot_reconstructions(model, test_images, os.path.join(out, "reconstructions.png"), pca=fitted_pca),
             figures.plot_latent(model, test_images, test.labels, os.path.join(out, "latent.png"),
                                 label_name="digit" if config["dataset"] == "mnist" else "class")]
    if isinstance(model, DenoisingAutoencoder):
        paths.append(figures.plot_denoising(model, test_images, os.path.join(out, "denoising.png")))
    if isinstance(model, VariationalAutoencoder):
        paths.append(figures.plot_samples(model, os.path.join(out, "samples.png")))
        paths.append(figures.plot_interpolation(model, test_images, os.path.join(out, "interpolation.png")))
        if model.latent_dim == 2:
            paths.append(figures.plot_manifold(model, os.path.join(out, "manifold.png")))
    if gradients is not None:
        paths.append(draw_gradients(gradients, config, out))
    if isinstance(model, AdversarialAutoencoder):
        paths.append(figures.plot_samples(model, os.path.join(out, "samples.png")))
        paths.append(figures.plot_codes_against_prior(model, test_images, test.labels, os.path.join(out, "codes.png")))
    return paths


def _model_metrics(model, test_images, config):
    """What only some models have: the VAE's test loss in nats, the sparse code's mean activation
    (also when the sparse model is wrapped for denoising, hence the configuration decides)."""
    if isinstance(model, VariationalAutoencoder):
        reconstruction, kl = elbo_terms(model, test_images)
        return {"test_loss_nats": reconstruction + kl, "test_reconstruction_nats": reconstruction, "test_kl_nats": kl}
    if config["model"] == "sparse":
        codes = backend.to_numpy(encode(model, test_images)).astype(numpy.float64)
        return {"mean_code_activation": float(codes.mean()), "sparsity_target": config["sparsity_target"]}
    return {}


def _check_resume_options(args, config):
    """A resumed run keeps its configuration: an option given that contradicts it is an error."""
    fixed = ("model", "dataset", "batch_size", "lr", "weight_decay", "noise", "noise_level", "latent_dim",
             "dtype", "seed", "limit", "sparsity", "sparsity_weight", "sparsity_target")
    for name in fixed:
        given = getattr(args, name, None)
        if given is not None and given != config.get(name):
            option = "--" + name.replace("_", "-")
            stored = (f"the resumed run's {config.get(name)!r}" if config.get(name) is not None
                      else f"the resumed run, which has no {option} (a {config['model']} model"
                           + (f", {config['sparsity']} penalty)" if config.get("sparsity") else ")"))
            raise UsageError(f"{option} {given} differs from {stored}; a resumed run keeps its configuration: "
                             f"leave {option} out, or start a new run without --resume")


def _checkpoint_config(checkpoint, path):
    """The run configuration stored in a checkpoint, checked completely (every key, type, range and
    size; the optimizer and generator states against it) before anything is built from it."""
    config = checkpoint["config"]
    if isinstance(config, dict):  # written before the sparse options existed: the defaults it was trained with
        sparse = config.get("model") == "sparse"
        for name, default in SPARSE_DEFAULTS.items():
            config.setdefault(name, default if sparse else None)
    known = {"model": MODELS, "dataset": (*DATASETS, "images"), "noise": (None, *NOISES),
             "dtype": ("float32", "float64"), "sparsity": (None, *SPARSITIES), "device": ("cpu", "gpu"),
             "preset": tuple(PRESETS)}
    check_config_types(config, path, known)
    try:
        _check_config(config)
    except UsageError as error:
        raise CheckpointError(f"checkpoint {path!r} has an invalid configuration: {error}") from None
    check_run(checkpoint, config, path)
    return dict(config)


def _model_from_checkpoint(args):
    checkpoint = load_checkpoint(args.checkpoint)
    config = dict(_checkpoint_config(checkpoint, args.checkpoint), device=args.device or "cpu")
    model = build_model(config)
    restore(checkpoint, model, path=args.checkpoint)
    _restore_states(checkpoint["states"], None, model)
    return checkpoint, config, model


def command_evaluate(args):
    checkpoint, config, model = _model_from_checkpoint(args)
    _, test = load_data(dict(config), args.data_root, args.limit, train=False, offline=args.offline,
                        images=args.images)
    test_images = _dtype_images(test.images, config)
    errors = per_image_mse(model, test_images)
    print(f"checkpoint: {args.checkpoint} ({config['model']} model, {checkpoint['epoch']} epochs)")
    print(f"test MSE:  {errors.mean():.6f}")
    print(f"test PSNR: {pca.psnr(errors):.2f} dB (mean over images, pixel range [0, 1])")
    train = _local_training_images(config, args)
    note = train is not None and pca.too_big_note(len(train.images), len(test.images), train.images.shape[1],
                                                  min(model.latent_dim, train.images.shape[1]))
    if train is None:
        print("PCA baseline: no training images on this machine to fit it on (train's metrics.json has it)")
    elif note:
        print(f"PCA baseline: {note}")
    else:
        print(pca.summary_line(pca.compare(model, train.images, test.images, errors)[0], float(errors.mean()))
              + f"; PCA fitted on {len(train.images):,} images from {train.source}")
    if test.labels is not None:  # one's own images have no labels, so no per-digit rows
        print("digit  images  MSE")
        for digit, value in _per_digit(errors, test.labels).items():
            print(f"{digit:>5}  {int((test.labels == int(digit)).sum()):>6}  {value:.6f}")
        others = int(((test.labels < 0) | (test.labels > 9)).sum())
        if others:
            print(f"({others} images have labels outside 0..9 and are left out of the table)")
    if isinstance(model, VariationalAutoencoder):
        reconstruction, kl = elbo_terms(model, test_images)
        print(f"test loss: {reconstruction + kl:.4f} nats per image "
              f"(BCE {reconstruction:.4f} + KL {kl:.4f}, z sampled)")
    return 0


def _local_training_images(config, args):
    """The training split for fitting PCA in ``evaluate``, only if it is on this machine (never
    downloaded; MNIST's offline sample counts), quietly; None when there is none."""
    import datasets
    if args.images or config.get("images"):
        return datasets.load_images(args.images or config["images"], seed=config["seed"], limit=args.limit)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return datasets.load(config["dataset"], "train", root=args.data_root, download=False, quiet=True,
                                 limit=args.limit)
        except (FileNotFoundError, ValueError, OSError):
            return None


def command_plot(args):
    checkpoint, config, model = _model_from_checkpoint(args)
    with RunFolder(args.out, FIGURE_FILES) as folder:  # figures only: a run's checkpoint and metrics there stay
        folder.check_targets()
        refuse_other_kind(folder, "autoencoders")
        _, test = load_data(dict(config), args.data_root, args.limit, train=False, offline=args.offline,
                            images=args.images)
        history = History.from_dict(checkpoint["history"])
        draw_figures(model, config, history, test, _dtype_images(test.images, config), folder.staging,
                     gradients=_gradients_beside(args.checkpoint))
        paths = folder.commit()
    print("\n".join(["wrote:"] + [f"  {path}" for path in paths]))
    return 0


def _gradients_beside(checkpoint_path):
    """The "gradient_stats" of the metrics.json in the checkpoint's folder (the run that wrote both), or
    None (no such file, a run with --no-gradient-stats, or a metrics.json that cannot be read)."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "metrics.json")
    try:  # never through a link, never waiting on a FIFO, never past a metrics file's size
        gradients = json.loads(read_regular(path, MAX_METRICS_BYTES)).get("gradient_stats")
    except OutputError as error:
        print(f"note: {error}; it is not read, so gradients.png is not drawn", file=sys.stderr)
        return None
    except (OSError, ValueError, AttributeError):
        return None
    return gradients if isinstance(gradients, dict) else None


def command_sample(args):
    checkpoint, config, model = _model_from_checkpoint(args)
    if not isinstance(model, (VariationalAutoencoder, AdversarialAutoencoder)):
        raise UsageError(f"checkpoint {args.checkpoint!r} holds a {config['model']} model, which cannot draw new "
                         "images; train one with --model vae or --model aae")
    out = args.out
    if out is None:  # never into the current folder unasked: beside the checkpoint, named by what it holds
        out = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"samples-n{args.n}-seed{args.seed}.png")
    if os.path.isdir(out) and not os.path.islink(out):
        raise UsageError(f"--out {out!r} is a directory; give the PNG file to write, e.g. {out}/samples.png")
    check_output_file(out)
    writable_directory(os.path.dirname(os.path.abspath(out)))
    path = figures.plot_samples(model, out, count=args.n, seed=args.seed)
    print(f"wrote:\n  {path}" + ("" if args.out else "  (no --out given: beside the checkpoint)"))
    return 0


# --- helpers ---------------------------------------------------------------------------------
def _per_digit(errors, labels):
    """{"0": mean MSE of the images labelled 0, ...}: the labels 0..9 present (others are not digits)."""
    labels = backend.to_numpy(labels)
    return {str(digit): float(errors[labels == digit].mean()) for digit in numpy.unique(labels) if 0 <= digit <= 9}


def _states(loader, model):
    states = {"loader": json.dumps(loader.state_dict())}
    if isinstance(model, DenoisingAutoencoder):
        states["noise"] = model.noise.state()
    if isinstance(model, VariationalAutoencoder):
        states["eps"] = model.generator_state()
    if isinstance(model, AdversarialAutoencoder):
        states["prior"] = model.generator_state()
    return states


def _restore_states(states, loader, model):
    if loader is not None and "loader" in states:
        loader.load_state_dict(json.loads(states["loader"]))
    if isinstance(model, DenoisingAutoencoder) and "noise" in states:
        model.noise.set_state(states["noise"])
    if isinstance(model, VariationalAutoencoder) and "eps" in states:
        model.set_generator_state(states["eps"])
    if isinstance(model, AdversarialAutoencoder) and "prior" in states:
        model.set_generator_state(states["prior"])


def _images_config(path, dataset):
    """The configuration entries of a run on one's own images: their path and side."""
    from datasets.images import image_side
    from datasets.words import CLI, in_words
    if dataset is not None:
        raise UsageError(f"--dataset {dataset} and --images {path} both choose the data; give one of them")
    try:
        side = image_side(path)
    except FileNotFoundError:
        raise UsageError(f"--images {path}: no such file or folder") from None
    except (ValueError, OSError) as error:
        raise UsageError(f"the --images data could not be read: {in_words(error, CLI)}") from None
    return {"dataset": "images", "images": os.path.abspath(path), "image_size": side}


def _check_config(config):
    side = config.get("image_size", 28)
    if config["model"] == "conv" and side % 4:
        raise UsageError(f"--model conv halves the image twice, so its side must be a multiple of 4; the --images "
                         f"are {side}x{side}: crop or pad them, or use a dense model (--model deep)")
    for name in ("epochs", "batch_size", "latent_dim"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {config[name]!r}")
    if not config["lr"] > 0:
        raise UsageError(f"--lr must be positive, got {config['lr']!r}")
    if not config["weight_decay"] >= 0:
        raise UsageError(f"--weight-decay must be >= 0, got {config['weight_decay']!r}")
    if config["model"] == "vae" and config["noise"] is not None:
        raise UsageError(f"--noise {config['noise']} cannot be combined with --model vae (the VAE is not a "
                         "denoising model); leave --noise out")
    if config["noise_level"] is not None and not config["noise_level"] >= 0:
        raise UsageError(f"--noise-level must be >= 0, got {config['noise_level']!r}")
    if config["noise"] in ("masking", "salt-pepper") and config["noise_level"] > 1:
        raise UsageError(f"--noise-level for {config['noise']} noise is a probability in [0, 1], got {config['noise_level']}")
    _check_sparse_config(config)


def _check_sparse_config(config):
    given = [name for name in SPARSE_DEFAULTS if config[name] is not None]
    if config["model"] != "sparse":
        if given:
            option = "--" + given[0].replace("_", "-")
            raise UsageError(f"{option} is an option of --model sparse, not of --model {config['model']}; "
                             f"leave {option} out, or add --model sparse")
        return
    if config["sparsity"] not in SPARSITIES:
        raise UsageError(f"--sparsity must be one of {', '.join(SPARSITIES)}, got {config['sparsity']!r}")
    weight = config["sparsity_weight"]
    if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise UsageError(f"--sparsity-weight must be a finite number >= 0, got {weight!r}")
    target = config["sparsity_target"]
    if config["sparsity"] == "l1" and target is not None:
        raise UsageError(f"--sparsity-target {target} is the KL penalty's mean activation; the L1 penalty has none: "
                         "leave --sparsity-target out, or use --sparsity kl")
    if config["sparsity"] == "kl" and not (isinstance(target, (int, float)) and 0 < target < 1):
        raise UsageError(f"--sparsity-target is the mean code activation the KL penalty aims at, a number in (0, 1); "
                         f"got {target!r}")


def _versions():
    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform()}
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        versions["cupy"] = cupy.__version__
    return versions


def make_parser():
    parser = Parser(prog="python -m autoencoders",
                     description="Train, evaluate and plot autoencoders built on the hand-written nn engine.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a model and write metrics, figures and a checkpoint",
                                description="Train an autoencoder. Options left out come from the preset.")
    train.add_argument("--preset", choices=sorted(PRESETS), default="default",
                       help="default: deep model, Adam lr 1e-3, batch 32, 40 epochs (trains well; beats PCA); "
                            "seed: the tutorial's exact setup, lr 0.1 and weight decay 1e-8")
    train.add_argument("--model", choices=MODELS, help="simple (784-128-784 linear), deep (the tutorial's "
                       "784-...-9 model), overcomplete (1024-unit code, L1 penalty), denoising (deep model "
                       "trained on noisy inputs), conv (two stride-2 convolutions each way, dense code), "
                       "vae (variational, torch's example: BCE + KL loss in nats per image; batch 128 and "
                       "10 epochs as there: --batch-size 128 --epochs 10), sparse (sigmoid code, KL or L1 sparsity penalty)")
    train.add_argument("--dataset", choices=DATASETS, help="mnist (default) or fashion-mnist")
    train.add_argument("--epochs", type=number_type(int, above=0), help="epochs to train in this run (with --resume: more epochs)")
    train.add_argument("--batch-size", type=number_type(int, above=0), help="images per optimizer step")
    train.add_argument("--lr", type=number_type(float, above=0), help="Adam learning rate")
    train.add_argument("--weight-decay", type=number_type(float, at_least=0), help="Adam L2 weight decay")
    train.add_argument("--noise", choices=sorted(NOISES), help="corrupt the inputs (makes any model denoising)")
    train.add_argument("--noise-level", type=number_type(float, at_least=0),
                       help="gaussian: std (default 0.3); masking, salt-pepper: probability (0.3, 0.2)")
    train.add_argument("--latent-dim", type=number_type(int, above=0, at_most=MAX_LATENT_DIM), help="code size (simple 128, deep 9, overcomplete 1024, "
                       "conv 32, vae 20 (2 also draws manifold.png), sparse 64)")
    train.add_argument("--sparsity", choices=SPARSITIES,
                       help="--model sparse: kl (the code's mean activation pulled to --sparsity-target; default) "
                            "or l1 (the sum of |code| per image, averaged)")
    train.add_argument("--sparsity-weight", type=number_type(float, at_least=0),
                       help="--model sparse: the penalty's weight in the loss (1e-3; 0 turns it off)")
    train.add_argument("--sparsity-target", type=number_type(float, above=0, below=1),
                       help="--model sparse, kl: the mean activation each code unit is pulled to, in (0, 1) (0.05)")
    train.add_argument("--device", choices=("cpu", "gpu"), help="cpu (NumPy) or gpu (CuPy)")
    train.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction,
                       help="--device gpu: the fused kernels, each training step replayed as one CUDA graph, the loss "
                            "read once an epoch (off by default until they have run on a real GPU: eager CuPy steps)")
    train.add_argument("--plain", action="store_true",
                       help="train with the plain engine, every formula as written (about 1.5x slower on the CPU) "
                            "instead of its fast forms (nn.fast.compile, Adam foreach=True)")
    train.add_argument("--gradient-stats", action=argparse.BooleanOptionalAction, default=True,
                       help="measure backprop while training (on by default): the gradient norm reaching each layer, "
                            "each update's size next to its weights, the dead ReLU units per epoch, into "
                            "gradients.png and metrics.json; --no-gradient-stats turns it off")
    train.add_argument("--dtype", choices=("float32", "float64"), help="floating-point precision (float32)")
    train.add_argument("--seed", type=number_type(int, at_least=0), help="seed of the weights, the shuffling and the noise (0)")
    train.add_argument("--out", default="runs/latest",
                       help="directory for the outputs (runs/latest); one run at a time, replaced when the run finishes")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint")

    evaluate_ = commands.add_parser("evaluate", help="test MSE, PSNR and per-digit MSE of a checkpoint")
    evaluate_.add_argument("checkpoint")
    evaluate_.add_argument("--device", choices=("cpu", "gpu"), help="where to run (cpu)")

    plot = commands.add_parser("plot", help="draw a checkpoint's figures again (gradients.png from the metrics.json "
                                            "beside it)")
    plot.add_argument("checkpoint")
    plot.add_argument("--out", default="runs/plots", help="directory for the figures (runs/plots)")
    plot.add_argument("--device", choices=("cpu", "gpu"), help="where to run (cpu)")

    sample = commands.add_parser("sample", help="draw new images from a trained VAE or AAE into a PNG",
                                 description="Decode draws from the prior N(0, I) of a VAE or AAE checkpoint "
                                             "(--model vae or --model aae).")
    sample.add_argument("checkpoint")
    sample.add_argument("--n", type=number_type(int, above=0, at_most=MAX_SAMPLES), default=64,
                        help=f"how many images (64, at most {MAX_SAMPLES})")
    sample.add_argument("--out", help="the PNG to write (default: samples-n<N>-seed<SEED>.png beside the checkpoint)")
    sample.add_argument("--seed", type=number_type(int, at_least=0), default=0, help="seed of the draws (0)")
    sample.add_argument("--device", choices=("cpu", "gpu"), help="where to run (cpu)")

    for command in (train, evaluate_, plot):
        command.add_argument("--images", metavar="PATH", help="one's own grayscale images instead of the dataset: "
                             "a folder of PNG/JPEG files or a .npy array (N, H, W) or (N, H*W); square, any size "
                             "(conv: a multiple of 4); uint8 scaled by 1/255, uint16 and 16-bit PNG by 1/65535, "
                             "floats must be in [0, 1]; a tenth held out for testing, chosen by the run's seed")
        command.add_argument("--offline", action="store_true",
                             help="never use the network (also: NN_OFFLINE=1); the data must be on this machine")
        command.add_argument("--data-root", metavar="DIR", help="look for the dataset files here first")
        command.add_argument("--limit", type=number_type(int, above=0), help="use only the first N train and test images (quick runs)")
        command.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    args = make_parser().parse_args(argv)
    command = {"train": command_train, "evaluate": command_evaluate, "plot": command_plot,
               "sample": command_sample}[args.command]
    return run_command("autoencoders", command, args)
