"""The deep autoencoder against PCA at the same code size, over code sizes.

    python -m benchmarks.versus_pca [--dataset mnist|fashion-mnist] [--codes 2,5,9,16,30,64]
                                    [--epochs N] [--limit N] [--quick] [--json PATH] [--plot PATH]

For each code size k, the deep autoencoder (784-128-64-36-18-k and back, the default preset's
optimizer, batch size and epochs) is trained on the training images, and PCA with k components is
fitted on the same images; both are scored on the test images (MSE per pixel, and the squared error
per image summed over its pixels). The data is whatever ``datasets.load`` finds, which is printed and
recorded: on a machine without the MNIST files that is the 4,000-image offline sample for training.
"""
import argparse
import sys
import time

import datasets
import nn
from autoencoders import DeepAutoencoder, fit
from autoencoders.cli import PRESETS
from autoencoders.pca import baseline
from autoencoders.training import per_image_mse
from runfolder.cli import load_data

from . import machine, report
from .options import check_output_path, log

CODES = (2, 5, 9, 16, 30, 64)
QUICK = {"codes": (2, 9), "epochs": 1, "limit": 500}


def compare(train, test, code_size, config, epochs, seed):
    """Train the deep autoencoder with a code of ``code_size`` and score it beside PCA-``code_size``."""
    nn.manual_seed(seed)
    model = DeepAutoencoder(input_dim=train.images.shape[1], latent_dim=code_size)
    optimizer = nn.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    loader = datasets.DataLoader(train.images, batch_size=config["batch_size"], shuffle=True, seed=seed)
    started = time.perf_counter()
    fit(model, loader, nn.MSELoss(), optimizer, epochs, progress=False)
    seconds = time.perf_counter() - started
    errors = per_image_mse(model, test.images)
    pca = baseline(train.images, test.images, code_size)
    pixels = test.images.shape[1]
    return {"code_size": code_size,
            "autoencoder": {"test_mse": float(errors.mean()), "squared_error_per_image": float(errors.mean() * pixels),
                            "train_seconds": seconds},
            "pca": {"test_mse": pca["test_mse"], "squared_error_per_image": pca["squared_error_per_image"]}}


def write_plot(result, path):
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4))
    codes = [row["code_size"] for row in result["rows"]]
    axes.plot(codes, [row["autoencoder"]["test_mse"] for row in result["rows"]], "o-", label="deep autoencoder")
    axes.plot(codes, [row["pca"]["test_mse"] for row in result["rows"]], "s--", label="PCA")
    axes.set_xscale("log")
    axes.set_xticks(codes)
    axes.set_xticklabels([str(code) for code in codes])
    axes.set_xlabel("code size (dimensions)")
    axes.set_ylabel("test MSE per pixel")
    axes.set_title(f"{result['dataset']}: {result['train']['images']:,} training images, "
                   f"{result['epochs']} epochs\ntest: {result['test']['images']:,} images", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    report.save_figure(figure, path)


def code_sizes(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--codes must be comma-separated integers such as 2,9,30, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--codes must be positive integers, got {text!r}")
    return tuple(sorted(set(values)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.versus_pca", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--codes", type=code_sizes, help=f"code sizes (default {','.join(map(str, CODES))})")
    parser.add_argument("--epochs", type=int, help="epochs per model (default: the default preset's)")
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke run: codes 2 and 9, 1 epoch, 500 images")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of test MSE against code size here")
    args = parser.parse_args(argv)
    for option in ("json", "plot"):
        check_output_path(parser, f"--{option}", getattr(args, option))
    config = PRESETS["default"]
    codes = args.codes or (QUICK["codes"] if args.quick else CODES)
    epochs = args.epochs or (QUICK["epochs"] if args.quick else config["epochs"])
    limit = args.limit or (QUICK["limit"] if args.quick else None)
    train, test = load_data({"dataset": args.dataset}, None, limit=limit)
    log(f"train: {len(train.images):,} images from {train.source}")
    log(f" test: {len(test.images):,} images from {test.source}")
    rows = []
    for code_size in codes:
        row = compare(train, test, code_size, config, epochs, args.seed)
        rows.append(row)
        log(f"code {code_size:>3}: autoencoder {row['autoencoder']['test_mse']:.5f}   PCA {row['pca']['test_mse']:.5f}")
    result = {"dataset": args.dataset, "epochs": epochs, "seed": args.seed,
              "config": {key: config[key] for key in ("lr", "weight_decay", "batch_size")},
              "train": {"source": train.source, "images": len(train.images)},
              "test": {"source": test.source, "images": len(test.images)},
              "rows": rows, "machine": machine.describe()}
    print(f"{'code':>4}  {'autoencoder MSE':>15}  {'PCA MSE':>9}  {'AE / PCA':>8}  winner")
    for row in rows:
        ours, theirs = row["autoencoder"]["test_mse"], row["pca"]["test_mse"]
        print(f"{row['code_size']:>4}  {ours:>15.5f}  {theirs:>9.5f}  {ours / theirs:>8.3f}  "
              f"{'autoencoder' if ours < theirs else 'PCA'}")
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        write_plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
