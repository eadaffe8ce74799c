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
from . import utils
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
    "keep_freed_memory", "fast", "utils",
]

# torch names a ported program reaches for that the engine has in another form: nn.<name> says which.
_NO_GRAPH = "the engine records no graph, so there is nothing to switch off: call model(x) as it is " \
            "(model.eval() still switches Dropout and BatchNorm)"
_TORCH_WAYS = {
    "no_grad": _NO_GRAPH, "enable_grad": _NO_GRAPH, "inference_mode": _NO_GRAPH, "set_grad_enabled": _NO_GRAPH,
    "functional": "the engine's operations are modules, each with its backward: build nn.ReLU(), nn.MSELoss(), ... "
                  "in __init__ and call them in forward (F.relu(x) -> self.relu(x))",
    "init": "each layer draws torch's default initial weights in its constructor; to set others, write into the "
            "array: layer.weight.data[...] = values (model.apply(fn) visits every module)",
    "ModuleList": "use nn.Sequential(*modules) as the list (indexing, len, iteration, and the same state-dict "
                  "keys 0, 1, ...) and call its items in forward",
    "Tensor": "the engine's data are NumPy arrays: numpy.asarray(values, dtype='float32')",
    "tensor": "the engine's data are NumPy arrays: numpy.asarray(values, dtype='float32')",
    "from_numpy": "the engine's data are NumPy arrays already: pass the array itself",
    "save": "a state dict is a dict of NumPy arrays: numpy.savez(path, **model.state_dict()), then "
            "model.load_state_dict(numpy.load(path))",
    "load": "a state dict is a dict of NumPy arrays: numpy.savez(path, **model.state_dict()), then "
            "model.load_state_dict(numpy.load(path))",
    "cuda": "the GPU is CuPy's: nn.gpu_available() for torch.cuda.is_available(), model.to('cuda') or model.cuda()",
    "device": "devices are the strings 'cpu' and 'gpu' (or 'cuda'): model.to('cuda'); nn.device_of(x) names an array's",
}


def __getattr__(name):
    """A torch name the engine has in another form fails with the engine's way, in one line; any other
    missing name is Python's usual AttributeError."""
    if name in _TORCH_WAYS:
        raise AttributeError(f"module 'nn' has no attribute {name!r} (torch's): {_TORCH_WAYS[name]}")
    raise AttributeError(f"module 'nn' has no attribute {name!r}")
