"""What the throughput benchmark runs: the models, their FLOP counts, and one training or forward
step of each model on each backend.

Backends (each is a row of the results when it can run here):

    engine-numpy   this engine on NumPy (the CPU)
    torch-cpu      PyTorch eager on the CPU, with as many threads as NumPy's BLAS uses
    engine-cupy    this engine on CuPy: model.to("gpu"), data nn.to_device(x, "gpu")
    torch-cuda     PyTorch eager on a CUDA GPU
    numpy-plain    the same step as a plain NumPy loop on preallocated buffers (benchmarks.plain_loop)
    jax-cpu        JAX on the CPU, the whole step under jax.jit, optax Adam   (benchmarks.peers)
    dezero         DeZero 0.0.13, define-by-run on NumPy                      (benchmarks.peers)

The torch model is a ``torch.nn.Sequential`` with the engine model's structure and state-dict
names, loaded with the engine model's weights, so both start from the same numbers and see the same
data; the peers are built from the same weights (see benchmarks.peers). PyTorch, CuPy, JAX and
DeZero are imported only when a backend that needs them is asked for.

This module is the bottom of the benchmarks' own imports: it imports none of them. The runner of each
backend (``make_runner``) and the check of which can run here (``probe_backends``) are in
benchmarks.backends, above both this module and benchmarks.peers.
"""
import collections
import contextlib
import time
from dataclasses import dataclass

import numpy

import nn
from autoencoders.models import Autoencoder, DeepAutoencoder, SimpleAutoencoder

INPUT_DIM = 784
LEARNING_RATE = 1e-3
DTYPE = "float32"
ENGINE_AND_TORCH = ("engine-numpy", "engine-numpy-plain", "torch-cpu", "engine-cupy", "torch-cuda")
PEER_BACKENDS = ("numpy-plain", "jax-cpu", "dezero")  # dense models only: see benchmarks.peers
BACKENDS = ENGINE_AND_TORCH + PEER_BACKENDS
DEVICE_OF_BACKEND = {"engine-numpy": "cpu", "torch-cpu": "cpu", "engine-cupy": "gpu", "torch-cuda": "gpu",
                     "numpy-plain": "cpu", "jax-cpu": "cpu", "dezero": "cpu", "engine-numpy-plain": "cpu"}
# The torch row each engine row is compared with (same device, same model, same data).
TORCH_COUNTERPART = {"engine-numpy": "torch-cpu", "engine-numpy-plain": "torch-cpu", "engine-cupy": "torch-cuda"}

_SEED_HIDDEN, _SEED_LATENT = (128, 64, 36, 18), 9


@dataclass(frozen=True)
class ModelSpec:
    """A named model of the benchmark: ``build()`` makes a fresh engine model (float32, CPU)."""
    name: str
    description: str
    hidden: tuple = None        # None: the simple autoencoder (one Linear each way)
    latent_dim: int = None

    def build(self):
        if self.hidden is None:
            return SimpleAutoencoder(input_dim=INPUT_DIM, latent_dim=self.latent_dim, dtype=DTYPE)
        return DeepAutoencoder(input_dim=INPUT_DIM, hidden=self.hidden, latent_dim=self.latent_dim, dtype=DTYPE)


def _widened(factor):
    hidden = tuple(size * factor for size in _SEED_HIDDEN)
    return ModelSpec(f"deep-x{factor}", f"DeepAutoencoder(hidden={hidden}, latent_dim={_SEED_LATENT * factor})",
                     hidden, _SEED_LATENT * factor)


MODELS = collections.OrderedDict((spec.name, spec) for spec in (
    ModelSpec("deep", "DeepAutoencoder(): the seed's 784-128-64-36-18-9 / 9-18-36-64-128-784, ReLU, Sigmoid",
              _SEED_HIDDEN, _SEED_LATENT),
    ModelSpec("simple", "SimpleAutoencoder(): Linear 784-128, Linear 128-784", None, 128),
    _widened(4),
    _widened(8),
))


# --- FLOPs --------------------------------------------------------------------------------------
def linear_shapes(model):
    """(in_features, out_features) of every Linear layer, in the order the forward pass meets them."""
    return [(layer.in_features, layer.out_features) for layer in model.modules() if isinstance(layer, nn.Linear)]


def flops_per_sample(shapes):
    """Multiply-add FLOPs of one sample through the Linear layers (2 per multiply-add).

    forward  = 2 * sum(in * out)
    training = forward
             + 2 * sum(in * out)                       weight gradients  g^T x
             + 2 * (sum(in * out) - in_1 * out_1)      input gradients   g W, except the first layer's,
                                                       which neither engine computes (x is data)
    Biases, activations, the loss and the optimizer are elementwise and not counted.
    """
    products = [size_in * size_out for size_in, size_out in shapes]
    total = sum(products)
    forward = 2 * total
    return {"forward": forward, "train": forward + 2 * total + 2 * (total - products[0])}


# --- the torch mirror of an engine model ------------------------------------------------------------
def torch_mirror(module, torch):
    """A torch.nn module with ``module``'s structure and state-dict names (weights not copied)."""
    if isinstance(module, Autoencoder):
        if module.code_penalty is not None:
            raise TypeError(f"torch_mirror: {type(module).__name__} has a code penalty, which has no torch layer")
        return torch.nn.Sequential(collections.OrderedDict(
            encoder=torch_mirror(module.encoder, torch), decoder=torch_mirror(module.decoder, torch)))
    if isinstance(module, nn.Sequential):
        return torch.nn.Sequential(*(torch_mirror(child, torch) for child in module))
    if isinstance(module, nn.Linear):
        return torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, nn.ReLU):
        return torch.nn.ReLU(inplace=module.inplace)
    if isinstance(module, nn.Sigmoid):
        return torch.nn.Sigmoid()
    raise TypeError(f"torch_mirror: no torch equivalent written for {type(module).__name__}")


def layer_plan(module):
    """The leaf layers of a dense engine model as plain arrays, in forward order:
    ("linear", W (out, in), b (out,)), ("relu", None, None) or ("sigmoid", None, None), for the
    peers and the plain loop, which rebuild the model in their own terms."""
    if isinstance(module, Autoencoder):
        if module.code_penalty is not None:
            raise TypeError(f"layer_plan: {type(module).__name__} has a code penalty, which the peers do not model")
        return layer_plan(module.encoder) + layer_plan(module.decoder)
    if isinstance(module, nn.Sequential):
        return [step for child in module for step in layer_plan(child)]
    if isinstance(module, nn.Linear) and module.bias is not None:
        return [("linear", nn.to_numpy(module.weight.data).copy(), nn.to_numpy(module.bias.data).copy())]
    if isinstance(module, nn.ReLU):
        return [("relu", None, None)]
    if isinstance(module, nn.Sigmoid):
        return [("sigmoid", None, None)]
    raise TypeError(f"layer_plan: no plain form written for {type(module).__name__}")


def load_into_torch(torch_model, state_dict, torch):
    """Copy an engine state dict (NumPy or CuPy arrays) into a torch model, every key required."""
    torch_model.load_state_dict({name: torch.from_numpy(numpy.ascontiguousarray(nn.to_numpy(value)))
                                 for name, value in state_dict.items()})


# --- runners: one backend's model, optimizer and batch -------------------------------------------
class Runner:
    """A model, its Adam optimizer, an MSE loss and one batch on one backend.

    ``time_block(kind, steps)`` runs ``steps`` training steps (kind "train") or forward passes
    (kind "forward") and returns the wall seconds, the device synchronized before each clock read.
    """

    backend = None
    _synchronize = None  # set by a GPU runner to its library's device synchronize

    def train_step(self):
        raise NotImplementedError

    def forward_step(self):
        self.model(self.x)

    def synchronize(self):
        """Wait for queued device work (nothing to wait for on the CPU)."""
        if self._synchronize is not None:
            self._synchronize()

    def mode(self, kind):
        """A context for a block of ``kind`` steps: the model in train or eval mode (and, for torch,
        no autograd graph for forward passes)."""
        raise NotImplementedError

    def loss_value(self):
        """The loss on the batch with the current weights, as a Python float (not timed)."""
        raise NotImplementedError

    def time_block(self, kind, steps):
        step = self.train_step if kind == "train" else self.forward_step
        with self.mode(kind):
            self.synchronize()
            started = time.perf_counter()
            for _ in range(steps):
                step()
            self.synchronize()
            return time.perf_counter() - started


class EngineRunner(Runner):
    """This engine: the training step as the command line takes it (``nn.fast.compile`` and Adam with
    ``foreach=True``: autoencoders.fast_steps), without the loss read-back; ``engine-numpy-plain``: the
    plain step, every formula as written (``model(x)``, ``model.backward``, Adam's per-parameter rule)."""

    def __init__(self, backend, model, x):
        self.backend, self.model, self.x = backend, model, x
        self.loss = nn.MSELoss()
        self.plain = backend.endswith("-plain")
        self.optimizer = nn.Adam(model.parameters(), lr=LEARNING_RATE, foreach=not self.plain)
        self.step = None if self.plain else nn.fast.compile(model, self.loss)
        self._synchronize = None
        if backend == "engine-cupy":
            cupy = nn.get_array_module(x)
            self._synchronize = cupy.cuda.Device().synchronize

    def train_step(self):
        model, loss, x = self.model, self.loss, self.x
        if self.plain:
            loss(model(x), x)
            self.optimizer.zero_grad()
            model.backward(loss.backward(), need_input_grad=False)
        else:
            self.step.forward(x, x)
            self.optimizer.zero_grad()
            self.step.backward(need_input_grad=False)
        self.optimizer.step()

    @contextlib.contextmanager
    def mode(self, kind):
        self.model.train(kind == "train")
        # A block of fast steps as FastSteps runs an epoch: Adam's state in the fast units inside it.
        fast = kind == "train" and not self.plain
        with nn.fast.rescaled_state(self.optimizer) if fast else contextlib.nullcontext():
            yield

    def loss_value(self):
        with self.mode("forward"):
            return float(self.loss(self.model(self.x), self.x))


class TorchRunner(Runner):
    """PyTorch eager: zero_grad, loss, backward, Adam step (torch.optim defaults but the lr)."""

    def __init__(self, backend, model, x, torch):
        self.backend, self.model, self.x, self.torch = backend, model, x, torch
        self.loss = torch.nn.MSELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        self._synchronize = torch.cuda.synchronize if backend == "torch-cuda" else None

    def train_step(self):
        model, loss, x = self.model, self.loss, self.x
        self.optimizer.zero_grad()
        value = loss(model(x), x)
        value.backward()
        self.optimizer.step()

    @contextlib.contextmanager
    def mode(self, kind):
        self.model.train(kind == "train")
        with self.torch.no_grad() if kind == "forward" else contextlib.nullcontext():
            yield

    def loss_value(self):
        with self.mode("forward"):
            return float(self.loss(self.model(self.x), self.x))


def batch_of(batch_size, seed):
    """The benchmark's input: uniform [0, 1) float32 'images' of 784 pixels, the same for a seed."""
    return numpy.random.default_rng(seed).random((batch_size, INPUT_DIM), dtype=numpy.float32)


def build_engine_model(spec, seed):
    """A fresh engine model whose weights depend only on ``seed``."""
    nn.manual_seed(seed)
    return spec.build()


# --- PyTorch, when it is installed ----------------------------------------------------------------------
def import_torch():
    """(torch module, None) or (None, the reason it cannot be used)."""
    try:
        import torch
    except ImportError as error:
        return None, f"PyTorch is not installed ({error}); install the dev extra: pip install -e .[dev]"
    except Exception as error:  # a broken install (missing shared library, ...) is a reason too
        return None, f"PyTorch failed to import: {type(error).__name__}: {error}"
    return torch, None


# --- the GEMM ceiling ---------------------------------------------------------------------------------
def gemm_flops(library, size, repeats, seed=0, torch=None, cupy=None):
    """float32 (size x size) @ (size x size) in one array library: FLOP/s of each timed product
    (2 size^3 FLOPs), after one untimed product. ``library``: numpy, cupy, torch-cpu or torch-cuda."""
    generator = numpy.random.default_rng(seed)
    a, b = (generator.random((size, size), dtype=numpy.float32) for _ in range(2))
    if library == "numpy":
        out, synchronize = numpy.empty_like(a), lambda: None

        def product():
            numpy.matmul(a, b, out=out)
    elif library == "cupy":
        a, b = cupy.asarray(a), cupy.asarray(b)
        out, synchronize = cupy.empty_like(a), cupy.cuda.Device().synchronize

        def product():
            cupy.matmul(a, b, out=out)
    else:
        device = "cpu" if library == "torch-cpu" else "cuda"
        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
        out = torch.empty_like(a)
        synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)

        def product():
            torch.mm(a, b, out=out)
    product()
    synchronize()
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        product()
        synchronize()
        rates.append(2.0 * size ** 3 / (time.perf_counter() - started))
    return rates


def model_summary(spec):
    """Structure and FLOP counts of a model, for the JSON."""
    model = spec.build()
    shapes = linear_shapes(model)
    flops = flops_per_sample(shapes)
    return {"description": spec.description,
            "linear_layers": [list(shape) for shape in shapes],
            "parameters": sum(parameter.size for parameter in model.parameters()),
            "forward_flops_per_sample": flops["forward"],
            "train_flops_per_sample": flops["train"]}

