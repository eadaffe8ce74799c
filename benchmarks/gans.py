"""The GANs on the engine beside the same GANs in PyTorch: sample quality, and the speed of a step.

    python -m benchmarks.gans [--models gan,cgan,dcgan] [--epochs N] [--limit N] [--samples N]
                              [--speed-only] [--quick] [--json PATH]

Quality: each GAN is trained twice from the same initial weights on the same batches (the engine,
and a torch twin loaded with the engine's weights; noise and dropout masks drawn by each library),
then 10,000 samples of each are scored by a digit classifier trained on the engine (gans.quality):
the Frechet distance of its features to the real test digits', the entropy of the predicted classes
and, for cgan, how often the asked-for digit is read. Real test images give the floor, and the VAE's
samples a non-adversarial generative baseline.

Speed: one training step (gans.gan_step: G(z) once, a discriminator step, a generator step through
the frozen discriminator; torch the same, with ``requires_grad_(False)``) of each GAN at batch 64, in
float32, engine against torch eager on the CPU, interleaved repeats (benchmarks.timing), medians of
the per-repeat ratios. ``--speed-only`` measures just that.
"""
import argparse
import sys
import time

import numpy

import datasets
import nn
from gans import DCGANDiscriminator, DCGANGenerator, Discriminator, Generator, NoiseSource, fit_gan, gan_step
from gans.quality import real_floor, score, train_classifier

from . import machine, report, timing
from .options import check_output_path, log

SETTINGS = dict(lr=2e-4, betas=(0.5, 0.999))
QUICK = {"epochs": 1, "limit": 256, "samples": 500, "repeats": 3}


MODELS = ("gan", "cgan", "dcgan")


def build(name, seed):
    nn.manual_seed(seed)
    if name == "dcgan":
        return DCGANGenerator(), DCGANDiscriminator()
    classes = 10 if name == "cgan" else 0
    return Generator(classes=classes), Discriminator(classes=classes)


def torch_layer(layer, torch):
    """The torch layer computing what ``layer`` does, for the layers the three GANs use."""
    bias = getattr(layer, "bias", None) is not None
    if isinstance(layer, nn.Linear):
        return torch.nn.Linear(layer.in_features, layer.out_features, bias=bias)
    if isinstance(layer, nn.ConvTranspose2d):
        return torch.nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                        layer.padding, layer.output_padding, bias=bias)
    if isinstance(layer, nn.Conv2d):
        return torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                               bias=bias)
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return getattr(torch.nn, type(layer).__name__)(layer.num_features, layer.eps, layer.momentum)
    if isinstance(layer, nn.LeakyReLU):
        return torch.nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, nn.Dropout):
        return torch.nn.Dropout(layer.p)
    if isinstance(layer, nn.Unflatten):
        return torch.nn.Unflatten(layer.dim, layer.unflattened_size)
    if isinstance(layer, nn.Flatten):
        return torch.nn.Flatten(layer.start_dim, layer.end_dim)
    if type(layer) in (nn.ReLU, nn.Tanh):
        return getattr(torch.nn, type(layer).__name__)()
    raise TypeError(f"no torch twin for {layer!r}")


def torch_twin(ours, torch):
    layers = [torch_layer(layer, torch) for layer in ours.model]

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(*layers)

        def forward(self, x, labels=None):
            if labels is not None:
                x = torch.cat([x, torch.nn.functional.one_hot(labels, 10).to(x.dtype)], dim=1)
            return self.model(x)

    twin = Twin()
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in ours.state_dict().items()})
    return twin


class TorchGAN:
    """The torch twins and their optimizers; ``step(real, labels)`` is one D step and one G step."""

    def __init__(self, generator, discriminator, torch, seed):
        self.torch, self.conditional = torch, bool(generator.classes)
        self.generator, self.discriminator = torch_twin(generator, torch), torch_twin(discriminator, torch)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), **SETTINGS)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), **SETTINGS)
        self.loss = torch.nn.BCEWithLogitsLoss()
        self.random = torch.Generator().manual_seed(seed)

    def _noise(self, count):
        torch = self.torch
        labels = torch.randint(0, 10, (count,), generator=self.random) if self.conditional else None
        return torch.randn(count, 100, generator=self.random), labels

    def step(self, real, labels=None):
        """As gans.gan_step: one fake batch; D on it detached, then G through D frozen."""
        torch, count = self.torch, real.shape[0]
        labels = labels if self.conditional else None
        noise, fake_labels = self._noise(count)
        fake = self.generator(noise, fake_labels)
        self.d_optimizer.zero_grad()
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake.detach(), fake_labels)
        d_loss = (self.loss(real_logits, torch.ones_like(real_logits))
                  + self.loss(fake_logits, torch.zeros_like(fake_logits)))
        d_loss.backward()
        self.d_optimizer.step()
        self.g_optimizer.zero_grad()
        self.discriminator.requires_grad_(False)
        logits = self.discriminator(fake, fake_labels)
        self.loss(logits, torch.ones_like(logits)).backward()
        self.discriminator.requires_grad_(True)
        self.g_optimizer.step()

    def sample(self, count, labels=None):
        torch = self.torch
        self.generator.eval()
        with torch.no_grad():
            noise = torch.randn(count, 100, generator=self.random)
            images = self.generator(noise, torch.from_numpy(labels) if labels is not None else None)
        return (images.numpy().astype(numpy.float64) + 1) / 2


def engine_samples(generator, count, labels, seed):
    generator.eval()
    source = NoiseSource(generator.latent_dim, generator.classes, seed)
    noise = source.noise(count, numpy.zeros(1, numpy.float32))
    return (nn.to_numpy(generator(noise, labels)).astype(numpy.float64) + 1) / 2


def quality(name, train, test, classifier, epochs, samples, seed, torch):
    conditional = name == "cgan"
    images = (train.images * 2 - 1).astype(numpy.float32)
    generator, discriminator = build(name, seed)
    twin = TorchGAN(generator, discriminator, torch, seed) if torch else None
    loader = datasets.DataLoader(images, labels=train.labels if conditional else None, batch_size=64, seed=seed)
    started = time.perf_counter()
    fit_gan(generator, discriminator, loader, nn.Adam(generator.parameters(), **SETTINGS),
            nn.Adam(discriminator.parameters(), **SETTINGS), epochs, NoiseSource(100, 10 if conditional else 0, seed + 1))
    seconds = {"engine": time.perf_counter() - started}
    asked = numpy.arange(samples) % 10 if conditional else None
    rows = {"engine": score(classifier, test.images, engine_samples(generator, samples, asked, seed + 2), asked)}
    if twin is not None:
        started = time.perf_counter()
        for _ in range(epochs):
            for batch in datasets.DataLoader(images, labels=train.labels if conditional else None, batch_size=64, seed=seed):
                real, labels = batch if isinstance(batch, tuple) else (batch, None)
                twin.step(torch.from_numpy(real), torch.from_numpy(labels) if labels is not None else None)
        seconds["torch"] = time.perf_counter() - started
        rows["torch"] = score(classifier, test.images, twin.sample(samples, asked), asked)
    return rows, seconds


def vae_quality(train, test, classifier, epochs, samples, seed):
    from autoencoders import VariationalAutoencoder, fit

    nn.manual_seed(seed)
    model = VariationalAutoencoder()
    loader = datasets.DataLoader(train.images, batch_size=128, seed=seed)
    fit(model, loader, nn.BCELoss(reduction="sum"), nn.Adam(model.parameters(), lr=1e-3), epochs, progress=False)
    images = nn.to_numpy(model.sample(samples, numpy.random.default_rng(seed))).astype(numpy.float64)
    return score(classifier, test.images, images)


class StepRunner:
    """One GAN training step, for benchmarks.timing.measure_interleaved."""

    def __init__(self, backend, name, batch, seed, torch):
        self.backend = backend
        generator, discriminator = build(name, seed)
        rng = numpy.random.default_rng(seed)
        self.real = rng.uniform(-1, 1, (batch, 784)).astype(numpy.float32)
        self.labels = rng.integers(0, 10, batch) if name == "cgan" else None
        if backend == "torch-cpu":
            twin = TorchGAN(generator, discriminator, torch, seed)
            real, labels = torch.from_numpy(self.real), (torch.from_numpy(self.labels) if self.labels is not None else None)
            self.step = lambda: twin.step(real, labels)
        else:
            g_optimizer, d_optimizer = nn.Adam(generator.parameters(), **SETTINGS), nn.Adam(discriminator.parameters(), **SETTINGS)
            source = NoiseSource(100, generator.classes, seed)

            def step():
                gan_step(generator, discriminator, g_optimizer, d_optimizer, self.real, source.noise(batch, self.real),
                         self.labels, source.labels(batch, self.real))
            self.step = step

    def time_block(self, kind, steps):
        started = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - started


def speed(name, batch, repeats, seed, torch):
    runners = [StepRunner("engine-numpy", name, batch, seed, torch)]
    if torch:
        runners.append(StepRunner("torch-cpu", name, batch, seed, torch))
    steps, seconds = timing.measure_interleaved(runners, "train", repeats, warmup=2, target_seconds=0.5)
    result = {backend: timing.rates(batch, steps[backend], seconds[backend]) for backend in seconds}
    if torch:
        ratios = timing.paired_ratios(seconds["torch-cpu"], seconds["engine-numpy"])
        ratios = [ratio * steps["engine-numpy"] / steps["torch-cpu"] for ratio in ratios]
        result["engine_over_torch"] = timing.summary(ratios)
    return result


def model_names(text):
    names = [part for part in text.split(",") if part]
    unknown = [name for name in names if name not in MODELS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"--models takes some of {', '.join(MODELS)}, comma-separated; got {text!r}")
    return names


def quality_table(args, torch):
    """Train every model (and its torch twin) and score its samples; print the table, return it
    with what it was measured on."""
    train, test = (datasets.load("mnist", split, limit=args.limit if split == "train" else None)
                   for split in ("train", "test"))
    log(f"train: {len(train.images):,} images from {train.source}")
    log(f" test: {len(test.images):,} images from {test.source}")
    classifier = train_classifier(train.images, train.labels, seed=args.seed)
    accuracy = float((classifier.predict(test.images) == test.labels).mean())
    log(f"classifier test accuracy: {accuracy:.4f}")
    table = {"real test images": {"engine": real_floor(classifier, test, args.samples, args.seed)}}
    table["vae"] = {"engine": vae_quality(train, test, classifier, max(1, args.epochs // 2), args.samples, args.seed)}
    seconds = {}
    for name in args.models:
        table[name], seconds[name] = quality(name, train, test, classifier, args.epochs, args.samples, args.seed, torch)
        log(f"{name}: trained in {seconds[name]}")
    print(f"{'model':<18} {'library':<7} {'Frechet':>8} {'entropy':>8} {'accuracy':>8}")
    for model, rows in table.items():
        for library, row in rows.items():
            accuracy_text = f"{row['accuracy']:.3f}" if "accuracy" in row else "-"
            print(f"{model:<18} {library:<7} {row['frechet_distance']:>8.2f} {row['class_entropy']:>8.3f} {accuracy_text:>8}")
    return {"epochs": args.epochs, "samples": args.samples,
            "train": {"source": train.source, "images": len(train.images)},
            "test": {"source": test.source, "images": len(test.images)},
            "classifier_test_accuracy": accuracy, "quality": table, "train_seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gans", description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=model_names, default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--samples", type=int, default=10000, help="samples scored per model")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats of the step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-only", action="store_true", help="only the step speed: no training, no quality table")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 epoch, 256 images, 500 samples")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    check_output_path(parser, "--json", args.json)
    if args.quick:
        args.epochs, args.limit, args.samples, args.repeats = (QUICK[key] for key in ("epochs", "limit", "samples", "repeats"))
    try:
        import torch
        torch.set_num_threads(machine.numpy_blas_threads()[0])  # as many threads as NumPy's BLAS
    except ImportError:
        torch = None
        log("note: PyTorch is not installed (pip install -e .[dev]): the torch columns are left out")
    nn.keep_freed_memory()          # the engine trains as the command line trains it
    nn.fast.set_flush_denormal(True)
    result = {"seed": args.seed, "machine": machine.describe(torch)}
    if not args.speed_only:
        result.update(quality_table(args, torch))
    result["step_speed"] = {name: speed(name, 64, args.repeats, args.seed, torch) for name in args.models}
    for name, speeds in result["step_speed"].items():
        engine_ms = speeds["engine-numpy"]["ms_per_step"]["median"]
        ratio = f", engine / torch = {speeds['engine_over_torch']['median']:.2f}x" if "engine_over_torch" in speeds else ""
        print(f"{name} step at batch 64: engine {engine_ms:.1f} ms{ratio}")
    if args.json:
        report.write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
