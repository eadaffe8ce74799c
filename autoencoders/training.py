"""The training loop and the test-set evaluation.

One step is the whole of backprop by hand:

    reconstruction = model(x)                       # forward, every layer caching what it needs
    value = loss(reconstruction, x) + model.penalty
    optimizer.zero_grad()
    model.backward(loss.backward())                 # chain rule, last layer first
    optimizer.step()
"""
import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy

from runfolder import threads as blas_threads
from runfolder.progress import POSTFIX_EVERY, training_bar
from runfolder.record import Record, TrainingDiverged
from nn import backend


@dataclass
class History(Record):
    """What a run measured. Per iteration: the training objective; per epoch: its mean, the test
    loss (None without test data), wall seconds and training samples per second."""
    iteration_loss: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    samples_per_second: list = field(default_factory=list)

    @property
    def epochs(self):
        return len(self.train_loss)


def _images_of(batch):
    return batch[0] if isinstance(batch, tuple) else batch


def fit(model, train_loader, loss, optimizer, epochs, test_data=None, progress=True, history=None,
        on_epoch_end=None, test_loss=None, steps=None, threads="auto"):
    """Train ``model`` to reconstruct its input for ``epochs`` more epochs; returns the History.

    train_loader yields image batches (or (images, labels) tuples). test_data, an array of images,
    is evaluated after each epoch, by ``test_loss(model, images)`` when given (the VAE's negative_elbo),
    else by ``evaluate(model, images, loss)``. ``history`` continues an earlier run's record (resuming).
    ``on_epoch_end(epoch, history)`` runs after each epoch (e.g. to write a checkpoint).
    The History holds means over images: with a sum-reduced loss (reduction="sum", the VAE's BCE
    summed over pixels and images) the objective the optimizer sees is the batch's sum, and what is
    recorded is that sum divided by the batch size. Raises TrainingDiverged when the loss stops being finite.
    ``steps`` (an autoencoders.fast_steps.FastSteps over the same model, loss and optimizer) takes the
    steps instead, on the GPU: their losses are read and checked at each epoch's end, so a diverged
    step is reported after the rest of its epoch ran (the previous epoch's checkpoint is the last good one).
    ``threads``: NumPy's BLAS threads while it trains (the previous count restored after): "auto" for
    ``choose_threads``'s rule (one thread for small matrix products, a thread per free core for large
    ones; a user's OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS always wins), a count, a
    runfolder.threads.ThreadChoice (what a command line chose and printed), or None to leave the BLAS as it is.
    """
    history = history if history is not None else History()
    choice = threads if threads is None or isinstance(threads, blas_threads.ThreadChoice) else \
        choose_threads(model, train_loader, threads)
    if test_loss is None:
        def test_loss(model, images):
            return evaluate(model, images, loss)
    progress_bar = training_bar(epochs * len(train_loader)) if progress else None
    try:
        with blas_threads.using(choice):
            _epochs(model, train_loader, loss, optimizer, epochs, history, progress_bar, test_data, test_loss, steps,
                    on_epoch_end)
    finally:
        if progress_bar is not None:
            progress_bar.close()
    return history


def choose_threads(model, train_loader, threads="auto"):
    """The runfolder.threads.ThreadChoice ``fit`` trains ``model`` with on ``train_loader``'s batches
    (``threads``: "auto" or a count); None on the GPU, where the BLAS threads do not do the work."""
    parameters = list(model.parameters())
    if parameters and backend.device_of(parameters[0].data) != "cpu":
        return None
    images = getattr(train_loader, "images", None)
    features = int(numpy.prod(images.shape[1:])) if images is not None and images.ndim > 1 else 784
    batch_size = getattr(train_loader, "batch_size", None) or 1
    return blas_threads.choose(blas_threads.largest_product([model], batch_size, features), threads=threads)


def _epochs(model, train_loader, loss, optimizer, epochs, history, progress_bar, test_data, test_loss, steps,
            on_epoch_end):
    """fit's epochs, each whole or not at all (an interrupted one forgotten)."""
    for _ in range(epochs):
        lengths = history.lengths()
        try:
            _one_epoch(model, train_loader, loss, optimizer, history, progress_bar, test_data, test_loss, steps)
        except KeyboardInterrupt:
            # Whole epochs only, whatever the phase (the steps, the weight check, the test pass): a
            # resumed run must find as many test losses as train losses. Once recorded, an epoch is whole.
            history.truncate(lengths)
            raise
        if on_epoch_end is not None:
            on_epoch_end(history.epochs, history)


def _one_epoch(model, train_loader, loss, optimizer, history, progress_bar, test_data, test_loss, steps=None):
    """Train one epoch, check the weights, then record its means and its test loss."""
    epoch = history.epochs + 1
    model.train()
    started = time.perf_counter()
    if steps is not None:
        iterations, total, samples = _train_epoch_with(steps, train_loader, loss, history, epoch, progress_bar)
    else:
        iterations, total, samples = _train_epoch(model, train_loader, loss, optimizer, history, epoch, progress_bar)
    if not _finite_weights(model):  # the last step can make the weights NaN after a finite loss
        raise TrainingDiverged(epoch, iterations, "NaN or infinite weights")
    seconds = time.perf_counter() - started
    test = test_loss(model, test_data) if test_data is not None else None
    history.train_loss.append(total / max(samples, 1))
    history.epoch_seconds.append(seconds)
    history.samples_per_second.append(samples / seconds if seconds > 0 else float("inf"))
    history.test_loss.append(test)
    if progress_bar is not None:
        progress_bar.set_postfix(epoch=epoch, train=f"{history.train_loss[-1]:.5f}",
                                 test="-" if test is None else f"{test:.5f}")


def _train_epoch(model, train_loader, loss, optimizer, history, epoch, progress_bar):
    """One pass over the loader: the steps, each loss appended to the history.
    Returns (iterations, sum of loss * images, images)."""
    total, samples, iteration = 0.0, 0, 0
    custom_step = getattr(model, "training_step", None)
    for iteration, batch in enumerate(train_loader, start=1):
        x = _images_of(batch)
        if custom_step is not None:  # a model with more than one objective (the adversarial autoencoder)
            value = custom_step(x, loss, optimizer)
            if not math.isfinite(value):
                raise TrainingDiverged(epoch, iteration, value)
        else:
            value = float(loss(model(x), x)) + model.penalty
            if _sums_images(loss):
                value /= x.shape[0]
            if not math.isfinite(value):
                raise TrainingDiverged(epoch, iteration, value)
            optimizer.zero_grad()
            model.backward(loss.backward(), need_input_grad=False)
            optimizer.step()
        history.iteration_loss.append(value)
        total += value * x.shape[0]
        samples += x.shape[0]
        if progress_bar is not None:
            progress_bar.update(1)
            if iteration % POSTFIX_EVERY == 0:
                progress_bar.set_postfix(epoch=epoch, loss=f"{value:.5f}")
    return iteration, total, samples


def _train_epoch_with(steps, train_loader, loss, history, epoch, progress_bar):
    """_train_epoch with ``steps`` taking the steps: no loss read per step (only for the progress bar,
    every POSTFIX_EVERY steps); the epoch's losses are read together at its end, then checked and recorded."""
    sizes = []
    steps.epoch_losses()  # an interrupted epoch's losses, if any, are not this epoch's
    # The epoch's steps in one block (FastSteps.epoch: Adam's state in the fast units); the state is
    # torch's again when it ends, before anything (a checkpoint) reads it, Ctrl-C included.
    with getattr(steps, "epoch", contextlib.nullcontext)():
        for iteration, batch in enumerate(train_loader, start=1):
            x = _images_of(batch)
            steps.step(x)
            sizes.append(x.shape[0])
            if progress_bar is not None:
                progress_bar.update(1)
                if iteration % POSTFIX_EVERY == 0:
                    shown = steps.last_loss() / (x.shape[0] if _sums_images(loss) else 1)
                    progress_bar.set_postfix(epoch=epoch, loss=f"{shown:.5f}")
    total = 0.0
    for iteration, (value, size) in enumerate(zip(steps.epoch_losses(), sizes), start=1):
        if _sums_images(loss):
            value /= size
        if not math.isfinite(value):
            raise TrainingDiverged(epoch, iteration, value)
        history.iteration_loss.append(value)
        total += value * size
    return len(sizes), total, sum(sizes)


def _finite_weights(model):
    for parameter in model.parameters():
        if not bool(backend.get_array_module(parameter.data).isfinite(parameter.data).all()):
            return False
    return True


def _sums_images(loss):
    """Whether the loss's value is a sum over the batch's images (a mean-reduced loss is a mean over them)."""
    return getattr(loss, "reduction", "mean") == "sum"


def predict(model, images, batch_size=1000):
    """model(images) in eval mode, in batches so that large sets fit in memory."""
    model.eval()
    xp = backend.get_array_module(images)
    outputs = [model(images[start:start + batch_size]) for start in range(0, images.shape[0], batch_size)]
    return xp.concatenate(outputs) if outputs else images[:0]


def encode(model, images, batch_size=1000):
    """The codes of ``images`` in eval mode, batched."""
    model.eval()
    xp = backend.get_array_module(images)
    return xp.concatenate([model.encode(images[start:start + batch_size])
                           for start in range(0, images.shape[0], batch_size)])


def evaluate(model, images, loss, batch_size=1000):
    """The loss of the model's reconstructions of ``images``, averaged over images (eval mode; a
    sum-reduced loss is summed over each image and averaged over the images)."""
    total = 0.0
    model.eval()
    for start in range(0, images.shape[0], batch_size):
        x = images[start:start + batch_size]
        value = float(loss(model(x), x))
        total += value if _sums_images(loss) else value * x.shape[0]
    return total / images.shape[0]


def per_image_mse(model, images, batch_size=1000):
    """Mean squared error of each image's reconstruction, as a NumPy array of shape (N,)."""
    reconstructions = backend.to_numpy(predict(model, images, batch_size)).astype(numpy.float64)
    return ((reconstructions - backend.to_numpy(images)) ** 2).mean(axis=1)
