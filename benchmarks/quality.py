"""Reconstruction quality of the engine beside PyTorch for the same run.

    python -m benchmarks.quality [--model deep|vae] [--dataset mnist|fashion-mnist] [--preset default|seed]
                                 [--epochs N] [--json PATH]

Both sides start from the same weights (ours, copied into an identical torch model), see the same
batches in the same order (one shuffled DataLoader feeds both), use Adam with the same settings, in
float32; the deep autoencoder's loss is MSE, the VAE's PyTorch's example loss (BCE summed + KL) with
the same eps drawn on both sides. After every epoch each is scored on the same test images. The data is whatever
``datasets.load`` finds (the full MNIST, or the offline sample, which is printed).
"""
import argparse
import json
import sys
import time

import numpy

import datasets
import nn
from autoencoders import DeepAutoencoder, fit, negative_elbo
from autoencoders.cli import PRESETS, build_model, make_parser, resolve_config
from runfolder.cli import load_data
from runfolder.folder import atomic_write


def torch_twin(model, torch):
    """A torch.nn model with our DeepAutoencoder's structure and weights."""
    def sequential(part):
        layers = []
        for layer in part:
            if isinstance(layer, nn.Linear):
                layers.append(torch.nn.Linear(layer.in_features, layer.out_features))
            elif isinstance(layer, nn.ReLU):
                layers.append(torch.nn.ReLU())
            elif isinstance(layer, nn.Sigmoid):
                layers.append(torch.nn.Sigmoid())
            else:
                raise TypeError(f"no torch twin for {layer!r}")
        return torch.nn.Sequential(*layers)

    twin = torch.nn.Module()
    twin.encoder, twin.decoder = sequential(model.encoder), sequential(model.decoder)
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in model.state_dict().items()})
    return twin


def train_torch(twin, torch, loader, test_images, lr, weight_decay, epochs):
    optimizer = torch.optim.Adam(twin.parameters(), lr=lr, weight_decay=weight_decay)
    loss = torch.nn.MSELoss()
    test = torch.from_numpy(test_images)
    test_losses = []
    for _ in range(epochs):
        for batch in loader:
            x = torch.from_numpy(batch)
            optimizer.zero_grad()
            value = loss(twin.decoder(twin.encoder(x)), x)
            value.backward()
            optimizer.step()
        with torch.no_grad():
            test_losses.append(float(loss(twin.decoder(twin.encoder(test)), test)))
    return test_losses


def torch_vae(model, torch):
    """PyTorch's example VAE with our VariationalAutoencoder's weights; eps is passed in."""
    functional = torch.nn.functional

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = (torch.nn.Linear(784, 400), torch.nn.Linear(400, 20),
                                              torch.nn.Linear(400, 20))
            self.fc3, self.fc4 = torch.nn.Linear(20, 400), torch.nn.Linear(400, 784)

        def forward(self, x, eps):
            hidden = functional.relu(self.fc1(x))
            mu, logvar = self.fc21(hidden), self.fc22(hidden)
            z = mu + eps * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(functional.relu(self.fc3(z)))), mu, logvar

    twin = VAE()
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in model.state_dict().items()})
    return twin


def train_torch_vae(twin, torch, loader, test_images, lr, epochs, eps_seed, test_seed=0):
    """The example's loop (BCE summed + KL), drawing eps from the same streams as the engine's VAE:
    its training generator (seeded eps_seed) and a fresh one per test pass (seeded test_seed)."""
    functional = torch.nn.functional

    def loss_function(reconstruction, x, mu, logvar):
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return functional.binary_cross_entropy(reconstruction, x, reduction="sum") + kl

    optimizer = torch.optim.Adam(twin.parameters(), lr=lr)
    train_eps = numpy.random.default_rng(eps_seed)
    test = torch.from_numpy(test_images)
    test_losses = []
    for _ in range(epochs):
        for batch in loader:
            x = torch.from_numpy(batch)
            eps = torch.from_numpy(train_eps.standard_normal((x.shape[0], 20), dtype=batch.dtype))
            optimizer.zero_grad()
            reconstruction, mu, logvar = twin(x, eps)
            loss_function(reconstruction, x, mu, logvar).backward()
            optimizer.step()
        test_eps, total = numpy.random.default_rng(test_seed), 0.0
        with torch.no_grad():
            for start in range(0, len(test), 1000):
                x = test[start:start + 1000]
                eps = torch.from_numpy(test_eps.standard_normal((x.shape[0], 20), dtype=test_images.dtype))
                reconstruction, mu, logvar = twin(x, eps)
                total += float(loss_function(reconstruction, x, mu, logvar))
        test_losses.append(total / len(test))
    return test_losses


def compare_deep(args, torch, train, test):
    config = dict(PRESETS[args.preset], seed=args.seed, dataset=args.dataset)
    epochs = args.epochs or config["epochs"]
    nn.manual_seed(args.seed)
    model = DeepAutoencoder()
    twin = torch_twin(model, torch)
    optimizer = nn.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    started = time.perf_counter()
    history = fit(model, _loader(train, config), nn.MSELoss(), optimizer, epochs, test_data=test.images,
                  progress=False)
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = train_torch(twin, torch, _loader(train, config), test.images, config["lr"], config["weight_decay"], epochs)
    title = (f"preset {args.preset}: deep autoencoder, lr {config['lr']:g}, weight decay {config['weight_decay']:g}, "
             f"batch {config['batch_size']}, {epochs} epochs, float32, seed {args.seed}")
    return config, epochs, title, "test MSE", history.test_loss, theirs, engine_seconds, time.perf_counter() - started


def compare_vae(args, torch, train, test):
    config = resolve_config(make_parser().parse_args(["train", "--model", "vae", "--batch-size", "128",
                                                      "--seed", str(args.seed), "--dataset", args.dataset]))
    epochs = args.epochs or 10
    model = build_model(config)  # the command line's VAE: eps from its generator seeded seed + 1
    twin = torch_vae(model, torch)
    optimizer = nn.Adam(model.parameters(), lr=config["lr"])
    started = time.perf_counter()
    history = fit(model, _loader(train, config), nn.BCELoss(reduction="sum"), optimizer, epochs,
                  test_data=test.images, progress=False, test_loss=negative_elbo)
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = train_torch_vae(twin, torch, _loader(train, config), test.images, config["lr"], epochs, args.seed + 1)
    title = (f"VAE 784-400-20 (PyTorch's example): BCE + KL, Adam lr {config['lr']:g}, batch {config['batch_size']}, "
             f"{epochs} epochs, float32, seed {args.seed}")
    return config, epochs, title, "test loss (nats per image)", history.test_loss, theirs, engine_seconds, \
        time.perf_counter() - started


def _loader(train, config):
    return datasets.DataLoader(train.images, batch_size=config["batch_size"], shuffle=True, seed=config["seed"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("deep", "vae"), default="deep")
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="for the deep model")
    parser.add_argument("--epochs", type=int, help="epochs (the preset's, or 10 for the VAE, by default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    keep_freed_memory = nn.keep_freed_memory()  # as training runs: see nn.keep_freed_memory
    try:
        import torch
    except ImportError:
        print("benchmarks.quality needs PyTorch: pip install -e .[dev]", file=sys.stderr)
        return 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the step order and sums stay deterministic
    try:
        train, test = load_data({"dataset": args.dataset}, None)
        compare = compare_vae if args.model == "vae" else compare_deep
        config, epochs, title, measure, ours, theirs, engine_seconds, torch_seconds = compare(args, torch, train, test)
    finally:
        torch.set_num_threads(threads)
    print(title)
    print(f"epoch  engine {measure}  torch {measure}  relative difference")
    for epoch, (mine, reference) in enumerate(zip(ours, theirs), start=1):
        print(f"{epoch:>5}  {mine:>12.6f}  {reference:>12.6f}  {abs(mine - reference) / reference:>10.3%}")
    print(f"final {measure}: engine {ours[-1]:.6f}, torch {theirs[-1]:.6f} "
          f"(training took {engine_seconds:.1f} s and {torch_seconds:.1f} s)")
    if args.json:
        result = {"model": args.model, "dataset": args.dataset, "preset": args.preset, "config": config, "epochs": epochs, "measure": measure,
                  "train": {"source": train.source, "images": len(train.images)},
                  "test": {"source": test.source, "images": len(test.images)},
                  "engine": ours, "torch": theirs, "seconds": {"engine": engine_seconds, "torch": torch_seconds},
                  "versions": {"numpy": numpy.__version__, "torch": torch.__version__},
                  "keep_freed_memory": keep_freed_memory}
        atomic_write(args.json, lambda handle: handle.write(json.dumps(result, indent=2).encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
