"""Train the seed tutorial's deep autoencoder (784-128-64-36-18-9 and back) from Python.

    python examples/train_deep.py                     # 20 epochs on MNIST (or its offline sample)
    python examples/train_deep.py --epochs 1 --limit 500

The loop is the whole of training: forward, loss, zero the gradients, backward, step.
"""
import argparse

import numpy as np

import nn
from autoencoders.models import DeepAutoencoder
from datasets import DataLoader, load



def positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=positive_int, default=20)
parser.add_argument("--limit", type=positive_int, default=None, help="use only the first N train and test images")
args = parser.parse_args()

train, test = load("mnist"), load("mnist", split="test")
train_images, test_images = train.images[:args.limit], test.images[:args.limit]

nn.manual_seed(0)
model = DeepAutoencoder()
loss = nn.MSELoss()
optimizer = nn.Adam(model.parameters(), lr=1e-3)
loader = DataLoader(train_images, batch_size=32, shuffle=True, seed=0)

for epoch in range(1, args.epochs + 1):
    model.train()
    for x in loader:
        value = loss(model(x), x)
        optimizer.zero_grad()
        model.backward(loss.backward())
        optimizer.step()
    model.eval()
    test_mse = float(loss(model(test_images), test_images))
    print(f"epoch {epoch}: last batch {float(value):.4f}, test MSE {test_mse:.4f}")

codes = model.encode(test_images[:5])
print("codes of five test digits:", np.round(codes, 2), sep="\n")
