"""Train an autoencoder on your own images: a folder of PNG files, all of one size.

    python examples/own_images.py PHOTOS/ --epochs 200 --out reconstructions.png
    python examples/own_images.py                 # no folder: draws 60 small shapes into a temporary one

Colour images are made grey (the mean of R, G and B); values are scaled to [0, 1]. Every fifth image
is held out, and the figure shows held-out images above their reconstructions. (The command line
does the same with `python -m autoencoders train --images PATH`, which also reads JPEG and .npy.)
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
from datasets import DataLoader  # noqa: E402


def read_folder(folder):
    """(N, H*W) float32 in [0, 1] and the side (H, W), from every *.png in ``folder``."""
    paths = sorted(Path(folder).glob("*.png"))
    if len(paths) < 2:
        sys.exit(f"error: {folder} holds {len(paths)} PNG files; put at least 2 there (*.png)")
    images = []
    for path in paths:
        try:
            picture = plt.imread(path)  # PNG: floats in [0, 1], (H, W), (H, W, 3) or (H, W, 4)
        except (OSError, ValueError, SyntaxError) as error:
            sys.exit(f"error: cannot read {path} as a PNG ({error}); remove it or fix it")
        grey = picture[..., :3].mean(axis=-1) if picture.ndim == 3 else picture
        if images and grey.shape != images[0].shape:
            sys.exit(f"error: {path} is {grey.shape[1]}x{grey.shape[0]} pixels but {paths[0].name} is "
                     f"{images[0].shape[1]}x{images[0].shape[0]}; resize them all to one size")
        images.append(grey)
    stack = np.stack(images).astype(np.float32)
    return stack.reshape(len(stack), -1), stack.shape[1:]


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
    """The deep model's shape, scaled to the image size: D-128-64-code and back, Sigmoid out."""
    nn.manual_seed(seed)
    size = images.shape[1]
    model = nn.Sequential(nn.Linear(size, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, code_size),
                          nn.Linear(code_size, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                          nn.Linear(128, size), nn.Sigmoid())
    loss = nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        for x in DataLoader(images, batch_size=16, shuffle=True, seed=seed + epoch):
            value = loss(model(x), x)
            optimizer.zero_grad()
            model.backward(loss.backward())
            optimizer.step()
    return model, float(value)


def save_figure(originals, reconstructions, shape, path):
    count = len(originals)
    figure, axes = plt.subplots(2, count, figsize=(1.1 * count, 2.4), squeeze=False)
    for column in range(count):
        for row, pictures in enumerate((originals, reconstructions)):
            axes[row][column].imshow(pictures[column].reshape(shape), cmap="gray", vmin=0, vmax=1)
            axes[row][column].axis("off")
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial.png")
    figure.savefig(partial, dpi=80)           # written beside, then renamed: never a half-written figure
    partial.replace(path)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="a folder of PNG files (default: draw shapes into a temporary one)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--code-size", type=int, default=8)
    parser.add_argument("--out", default="own_images.png", help="where to write the figure")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.code_size < 1:
        parser.error(f"--epochs and --code-size must be at least 1, got {args.epochs} and {args.code_size}")
    if not Path(args.out).resolve().parent.is_dir():
        parser.error(f"--out {args.out}: the folder {Path(args.out).resolve().parent} does not exist")
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder
        if folder is None:
            draw_shapes(temporary)
            folder = temporary
        elif not Path(folder).is_dir():
            parser.error(f"{folder} is not a folder")
        images, shape = read_folder(folder)
    held_out = np.arange(len(images)) % 5 == 4
    model, train_loss = train(images[~held_out], args.epochs, args.code_size)
    test = images[held_out]
    test_loss = float(nn.MSELoss()(model(test), test))
    print(f"{len(images)} images of {shape[1]}x{shape[0]} pixels; after {args.epochs} epochs: "
          f"train MSE {train_loss:.4f}, held-out MSE {test_loss:.4f}")
    save_figure(test[:8], model(test[:8]), shape, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
