"""Write a new layer, Swish (also called SiLU), with its backward pass, and check it.

    python examples/new_layer.py

Swish: y = x * sigmoid(x). With s = sigmoid(x), s' = s (1 - s), the product rule gives
    dy/dx = s + x s (1 - s) = s + y (1 - s),      so      dL/dx = g * (s + y (1 - s)).
Forward keeps s and y, the two arrays backward needs, and the class names them in ``_saved``:
``model.to(...)`` forgets them (they live on the old device), and the gate in nn/module.py refuses a
backward until a forward has filled them again, so they need no placeholders in ``__init__``.

The checks: nn.gradcheck compares backward with finite differences (float64), alone and inside a
model; PyTorch's torch.nn.SiLU, where PyTorch is installed, is a second, independent reference.
"""
import importlib.util

import numpy as np

import nn


class Swish(nn.Module):
    """y = x * sigmoid(x);   dL/dx = g * (s + y (1 - s)) with s = sigmoid(x).   Any shape."""

    _saved = ("_sigmoid", "_output")  # what forward keeps for backward

    def forward(self, x):
        s = nn.sigmoid(x)           # the engine's stable sigmoid: no overflow warning at x = -1000
        self._sigmoid, self._output = s, x * s
        return self._output

    def backward(self, grad_output):
        s, y = self._sigmoid, self._output
        return grad_output * (s + y * (1 - s))


def check_against_torch(x, grad_output):
    """Swish's output and dL/dx against torch.nn.SiLU's autograd, in float64."""
    import torch

    ours = Swish()
    y = ours(x)
    grad_x = ours.backward(grad_output)
    x_torch = torch.from_numpy(x).requires_grad_()
    y_torch = torch.nn.SiLU()(x_torch)
    y_torch.backward(torch.from_numpy(grad_output))
    worst = max(np.max(np.abs(y - y_torch.detach().numpy())), np.max(np.abs(grad_x - x_torch.grad.numpy())))
    assert worst < 1e-12, f"Swish differs from torch.nn.SiLU by {worst:.2e}"
    return worst


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5))
    print(nn.gradcheck(Swish(), x))
    print(nn.gradcheck(nn.Sequential(nn.Linear(5, 4), Swish(), nn.Linear(4, 3)), x))

    extremes = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]])
    print("at -1000, -30, 0, 30, 1000:", Swish()(extremes))

    if importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: skipped the comparison with torch.nn.SiLU")
    else:
        worst = check_against_torch(np.concatenate([x.ravel(), extremes.ravel()]).reshape(5, -1),
                                    rng.standard_normal((5, 9)))
        print(f"agrees with torch.nn.SiLU: largest difference {worst:.1e}")


if __name__ == "__main__":
    main()
