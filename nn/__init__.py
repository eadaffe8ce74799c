"""A small neural-network engine written by hand: every forward and backward pass is explicit
NumPy (CPU) or CuPy (GPU) code, torch-shaped so that names, weights and intuition carry over.

    import nn
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    loss = nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    value = loss(model(x), x)                 # forward
    optimizer.zero_grad()
    model.backward(loss.backward())           # backward: the chain rule, layer by layer
    optimizer.step()

That is the plain engine: every call runs its formula, as written in nn/layers.py, nn/activations.py,
nn/losses.py and nn/optim.py. The fast forms of the same formulas are in nn/fast (``nn.fast.compile``,
``foreach=True``, ``fused=True``).
"""
from .activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, sigmoid
from .backend import (BackendError, device_of, get_array_module, gpu_available, keep_freed_memory, manual_seed,
                      to_device, to_numpy)
from .conv import Conv2d, ConvTranspose2d
from .gradcheck import GradcheckError, GradcheckReport, gradcheck
from .layers import Dropout, Flatten, Linear, Unflatten
from .cross_entropy import CrossEntropyLoss, NLLLoss
from .losses import BCELoss, BCEWithLogitsLoss, L1Loss, MSELoss
from .module import Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .optim import SGD, Adam, AdamW, Optimizer
from .pooling import AvgPool2d, MaxPool2d
from .softmax import LogSoftmax, Softmax
from .upsampling import Upsample
from . import fast  # noqa: E402  (the fast room; it imports the core above, never the reverse)

__all__ = [
    "Module", "Parameter", "Sequential",
    "Linear", "Flatten", "Unflatten", "Dropout",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "Upsample",
    "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "Softplus", "GELU", "sigmoid",
    "Softmax", "LogSoftmax",
    "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss",
    "Optimizer", "SGD", "Adam", "AdamW",
    "gradcheck", "GradcheckError", "GradcheckReport",
    "BackendError", "device_of", "get_array_module", "gpu_available", "manual_seed", "to_device", "to_numpy",
    "keep_freed_memory", "fast",
]
