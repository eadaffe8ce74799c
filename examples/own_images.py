"""Train an autoencoder on your own images: a folder of square PNG/JPEG files (or a .npy array).

    python examples/own_images.py PHOTOS/ --epochs 200 --out reconstructions.png
    python examples/own_images.py                 # no folder: draws 60 small shapes into a temporary one

`datasets.load_images` reads them (grey, scaled to [0, 1], a tenth held out); the rest is the same
training loop as for MNIST, with the model's first and last layers sized to the images. The figure
shows held-out images above their reconstructions. The command line does the same with
`python -m autoencoders train --images PATH`.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import nn  # noqa: E402
from datasets import DataError, DataLoader, load_images  # noqa: E402


def draw_shapes(folder, count=60, side=24, seed=0):
    """``count`` PNGs of filled discs and squares at random places and sizes: a stand-in data set."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:side, :side]
    for index in range(count):
        centre, radius = rng.uniform(side * 0.3, side * 0.7, 2), rng.uniform(side * 0.15, side * 0.3)
        if index % 2:
            inside = np.hypot(rows - centre[0], columns - centre[1]) < radius
        else:
            inside = np.maximum(abs(rows - centre[0]), abs(columns - centre[1])) < radius
        plt.imsave(Path(folder) / f"shape-{index:03d}.png", inside.astype(float), cmap="gray", vmin=0, vmax=1)


def train(images, epochs, code_size, seed=0):
    """The deep model's shape, sized to the images: D-128-64-code and back, Sigmoid out."""
    nn.manual_seed(seed)
    size = images.shape[1]
    model = nn.Sequential(nn.Linear(size, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, code_size),
                          nn.Linear(code_size, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                          nn.Linear(128, size), nn.Sigmoid())
    loss = nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(images, batch_size=16, shuffle=True, seed=seed)
    for epoch in range(1, epochs + 1):
        for x in loader:
            value = loss(model(x), x)
            optimizer.zero_grad()
            model.backward(loss.backward())
            optimizer.step()
    return model, float(value)


def save_figure(originals, reconstructions, path):
    count, side = len(originals), int(round(originals.shape[1] ** 0.5))
    figure, axes = plt.subplots(2, count, figsize=(1.1 * count, 2.4), squeeze=False)
    for column in range(count):
        for row, pictures in enumerate((originals, reconstructions)):
            axes[row][column].imshow(pictures[column].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            axes[row][column].axis("off")
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial.png")
    figure.savefig(partial, dpi=80)           # written beside, then renamed: never a half-written figure
    partial.replace(path)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", help="a folder of images or a .npy file (default: drawn shapes)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--code-size", type=int, default=8)
    parser.add_argument("--out", default="own_images.png", help="where to write the figure")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.code_size < 1:
        parser.error(f"--epochs and --code-size must be at least 1, got {args.epochs} and {args.code_size}")
    if not Path(args.out).resolve().parent.is_dir():
        parser.error(f"--out {args.out}: the folder {Path(args.out).resolve().parent} does not exist")
    with tempfile.TemporaryDirectory() as temporary:
        if args.images is None:
            draw_shapes(temporary)
        try:
            train_set, test_set = load_images(args.images or temporary)
        except (DataError, FileNotFoundError) as error:
            sys.exit(f"error: {error}")
    model, train_loss = train(train_set.images, args.epochs, args.code_size)
    test = test_set.images
    test_loss = float(nn.MSELoss()(model(test), test))
    side = int(round(test.shape[1] ** 0.5))
    print(f"{len(train_set.images)} training and {len(test)} held-out images of {side}x{side} pixels; "
          f"after {args.epochs} epochs: train MSE {train_loss:.4f}, held-out MSE {test_loss:.4f}")
    save_figure(test[:8], model(test[:8]), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
