"""Reconstruction quality of the engine beside PyTorch for the same run.

    python -m benchmarks.quality [--preset default|seed] [--epochs N] [--json PATH]

Both sides start from the same weights (ours, copied into an identical torch model), see the same
batches in the same order (one shuffled DataLoader feeds both), use Adam with the same settings and
MSE, in float32. After every epoch each is scored on the same test images. The data is whatever
``datasets.load`` finds (the full MNIST, or the offline sample, which is printed).
"""
import argparse
import json
import sys
import time

import numpy

import datasets
import nn
from autoencoders import DeepAutoencoder, fit
from autoencoders.checkpoint import atomic_write
from autoencoders.cli import PRESETS, load_data


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--epochs", type=int, help="epochs (the preset's by default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("benchmarks.quality needs PyTorch: pip install -e .[dev]", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # the step order and sums stay deterministic
    config = dict(PRESETS[args.preset], seed=args.seed, dataset="mnist")
    epochs = args.epochs or config["epochs"]
    train, test = load_data(config, None)
    nn.manual_seed(args.seed)
    model = DeepAutoencoder()
    twin = torch_twin(model, torch)

    def loader():
        return datasets.DataLoader(train.images, batch_size=config["batch_size"], shuffle=True, seed=args.seed)

    started = time.perf_counter()
    optimizer = nn.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    history = fit(model, loader(), nn.MSELoss(), optimizer, epochs, test_data=test.images, progress=False)
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    torch_losses = train_torch(twin, torch, loader(), test.images, config["lr"], config["weight_decay"], epochs)
    torch_seconds = time.perf_counter() - started

    print(f"preset {args.preset}: deep autoencoder, lr {config['lr']:g}, weight decay {config['weight_decay']:g}, "
          f"batch {config['batch_size']}, {epochs} epochs, float32, seed {args.seed}")
    print("epoch  engine test MSE  torch test MSE  relative difference")
    for epoch, (ours, theirs) in enumerate(zip(history.test_loss, torch_losses), start=1):
        print(f"{epoch:>5}  {ours:>15.6f}  {theirs:>14.6f}  {abs(ours - theirs) / theirs:>19.2%}")
    print(f"final test MSE: engine {history.test_loss[-1]:.6f}, torch {torch_losses[-1]:.6f} "
          f"(training took {engine_seconds:.1f} s and {torch_seconds:.1f} s)")
    if args.json:
        result = {"preset": args.preset, "config": config, "epochs": epochs,
                  "train": {"source": train.source, "images": len(train.images)},
                  "test": {"source": test.source, "images": len(test.images)},
                  "engine_test_mse": history.test_loss, "torch_test_mse": torch_losses,
                  "seconds": {"engine": engine_seconds, "torch": torch_seconds},
                  "versions": {"numpy": numpy.__version__, "torch": torch.__version__}}
        atomic_write(args.json, lambda handle: handle.write(json.dumps(result, indent=2).encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
