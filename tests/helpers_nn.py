"""Helpers of the nn test suite: the strict array backend, the backends parity tests run on, and the
catalogues of modules and losses with their torch counterparts, and the one parity check of a module
against its torch twin.

The strict backend stands in for CuPy where there is no GPU: ``StrictArray`` is a NumPy array that,
like a CuPy array, refuses to meet a plain NumPy array in any operation. A layer that leaks NumPy
(``numpy.zeros(x.shape)``, ``numpy.random``) into its computation raises TypeError here, as it would
on the GPU.
"""
import math
from dataclasses import dataclass
from typing import Callable

import numpy
import pytest
import torch
from conftest import assert_close

import nn

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
DTYPES = ["float32", "float64"]
RTOL = {"float32": 1e-5, "float64": 1e-10}


# --- the strict array type -------------------------------------------------------------------------
# Arrays of one NumPy subclass (``kind``) that refuse to meet a plain NumPy array, as CuPy's do: the three
# walks below serve StrictArray here and the fake CuPy's array (helpers_fake_cupy.py).
def refuse_other_arrays(value, where, kind, what, why="mixing array libraries is an error (as with CuPy)"):
    """TypeError when a NumPy array not of ``kind`` hides anywhere in value (tuples, lists, dicts); numbers
    are fine. ``what`` (what it met) and ``why`` are for the message."""
    if isinstance(value, numpy.ndarray) and not isinstance(value, kind):
        raise TypeError(f"{where}: a plain numpy.ndarray {value.shape} {value.dtype} met {what}; {why}")
    if isinstance(value, (tuple, list)):
        for item in value:
            refuse_other_arrays(item, where, kind, what, why)
    elif isinstance(value, dict):
        for item in value.values():
            refuse_other_arrays(item, where, kind, what, why)


def plain_views(value, kind):
    """Arrays of ``kind`` (anywhere in tuples, lists, dicts) as plain views sharing their memory."""
    if isinstance(value, kind):
        return value.view(numpy.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(plain_views(item, kind) for item in value)
    if isinstance(value, dict):
        return {key: plain_views(item, kind) for key, item in value.items()}
    return value


def views_as(value, kind):
    """Plain array results (anywhere in tuples and lists) as views of ``kind``; scalars unchanged."""
    if type(value) is numpy.ndarray:
        return value.view(kind)
    if isinstance(value, (tuple, list)):
        return type(value)(views_as(item, kind) for item in value)
    return value


def _refuse_plain(value, where):
    refuse_other_arrays(value, where, StrictArray, "a StrictArray")


def _to_base(value):
    return plain_views(value, StrictArray)


def _to_strict(value):
    return views_as(value, StrictArray)


class StrictArray(numpy.ndarray):
    """A NumPy array that refuses to mix with plain NumPy arrays, as a CuPy array does.

    Every ufunc (``+``, ``numpy.exp``, ``.sum()``, scipy's ``erf``) and every NumPy function
    (``numpy.where``, ``numpy.dot``) that gets a StrictArray and also a plain ndarray raises
    TypeError; otherwise it computes on the underlying arrays and returns StrictArrays. Python and
    NumPy scalars are allowed. ``__array_namespace__`` is the array's own "array library",
    which ``nn.get_array_module`` returns for it, as it returns cupy for a CuPy array.
    Item assignment (``a[...] = plain``) is allowed, as CuPy allows it (a host-to-device copy).
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"ufunc {ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        _refuse_plain((inputs, kwargs), where)
        result = getattr(ufunc, method)(*_to_base(inputs), **_to_base(kwargs))
        outputs = kwargs.get("out")
        if outputs is not None:  # written in place through the base views: hand back the StrictArrays
            return outputs[0] if len(outputs) == 1 else outputs
        return _to_strict(result)

    def __array_function__(self, func, types, args, kwargs):
        _refuse_plain((args, kwargs), f"numpy.{func.__name__}")
        return _to_strict(func(*_to_base(args), **_to_base(kwargs)))

    def __array_namespace__(self, api_version=None):
        return STRICT_NAMESPACE

    def __repr__(self):  # NumPy's printing mixes in plain arrays; print the base instead
        return f"StrictArray({numpy.ndarray.__repr__(self.view(numpy.ndarray))})"

    __str__ = __repr__


class StrictNamespace:
    """NumPy's functions with StrictArray results: to StrictArray what the cupy module is to cupy arrays.

    Like cupy, its functions refuse plain NumPy arrays, except the conversions (``asarray``...), which
    are the host-to-device copies. Non-function attributes (dtypes, ``numpy.random``) are NumPy's own,
    so a layer that draws from ``xp.random`` gets plain arrays and fails at its next operation.
    """

    CONVERSIONS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})

    def __getattr__(self, name):
        value = getattr(numpy, name)
        if not callable(value) or isinstance(value, type):
            return value

        def strict_function(*args, **kwargs):
            if name not in self.CONVERSIONS:
                _refuse_plain((args, kwargs), f"xp.{name}")
            return _to_strict(value(*args, **kwargs))

        strict_function.__name__ = name
        return strict_function

    def __repr__(self):
        return "<strict array namespace>"


STRICT_NAMESPACE = StrictNamespace()


def strict(array):
    """A StrictArray copy of a NumPy array."""
    return numpy.array(array, copy=True).view(StrictArray)


# --- the backends every parity test runs on ---------------------------------------------------------
class ArrayBackend:
    """numpy: plain arrays.  strict: StrictArray (CuPy's rules, on the CPU).  cupy: the GPU."""

    def __init__(self, name):
        self.name = name

    def array(self, values):
        """A NumPy array's values as an array of this backend."""
        if self.name == "strict":
            return strict(values)
        if self.name == "cupy":
            return nn.to_device(values, "gpu")
        return numpy.array(values, copy=True)

    def module(self, module):
        """Move a module's parameters (and gradients) to this backend, in place; before any optimizer."""
        if self.name == "strict":
            for parameter in module.parameters():
                parameter.data = strict(parameter.data)
                parameter.grad = strict(parameter.grad) if parameter.grad is not None else None
            for owner in module.modules():
                for name, buffer in list(owner.named_buffers(recurse=False)):
                    setattr(owner, name, strict(buffer))
        elif self.name == "cupy":
            module.to("gpu")
        return module

    def owns(self, array):
        """Whether an array belongs to this backend (exactly: no NumPy array slipped out)."""
        if self.name == "strict":
            return type(array) is StrictArray
        if self.name == "cupy":
            return nn.device_of(array) == "gpu"
        return type(array) in (numpy.ndarray, nn.losses.LossValue)  # a loss's value is a NumPy array too

    def __repr__(self):
        return self.name


GPU = nn.gpu_available()
BACKENDS = [
    pytest.param(ArrayBackend("numpy"), id="numpy"),
    pytest.param(ArrayBackend("strict"), id="strict"),
    pytest.param(ArrayBackend("cupy"), id="cupy",
                 marks=pytest.mark.skipif(not GPU, reason="CuPy with a GPU not available")),
]


def assert_backend(backend, dtype, **arrays):
    """Every named array belongs to the backend and has the dtype (no silent upcast, no NumPy leak)."""
    for name, array in arrays.items():
        assert backend.owns(array), f"{name} is a {type(array).__name__}, not a {backend.name} array"
        assert array.dtype == numpy.dtype(dtype), f"{name} is {array.dtype}, expected {dtype}"


# --- inputs --------------------------------------------------------------------------------------------
def nudge(x, kinks, margin=1e-3):
    """Move values within ``margin`` of a kink to exactly ``margin`` away (finite differences need
    a differentiable neighbourhood)."""
    x = numpy.array(x, dtype=numpy.float64)
    for kink in kinks:
        near = numpy.abs(x - kink) < margin
        x[near] = kink + numpy.where(x[near] >= kink, margin, -margin)
    return x


def random_shape(rng, size):
    """small: a few elements (elementwise gradcheck); medium: random rank 1-4; big: (16, 48)."""
    if size == "small":
        return (3, 4)
    if size == "big":
        return (16, 48)
    return tuple(int(n) for n in rng.integers(1, 7, size=int(rng.integers(1, 5))))


def torch_parameters(reference):
    return dict(reference.named_parameters())


def check_against_torch(ours, reference, x, backend, dtype, rng):
    """Forward, input gradient and every parameter gradient of ours against torch, one random upstream."""
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y = ours(backend.array(x))
    y_torch = reference(x_torch)
    grad_output = rng.standard_normal(tuple(y_torch.shape)).astype(dtype)
    grad_input = ours.backward(backend.array(grad_output))
    y_torch.backward(torch.from_numpy(grad_output))

    rtol = RTOL[dtype]
    assert tuple(y.shape) == tuple(y_torch.shape)
    assert_close(y, y_torch, rtol, "output")
    assert_close(grad_input, x_torch.grad, rtol, "input gradient")
    assert_backend(backend, dtype, output=y, input_gradient=grad_input)
    torch_named = torch_parameters(reference)
    assert [name for name, _ in ours.named_parameters()] == list(torch_named)
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, torch_named[name].grad, rtol, f"gradient of {name}")
        assert_backend(backend, dtype, **{name: parameter.data, f"{name}.grad": parameter.grad})


def copy_torch_into_ours(reference, ours):
    ours.load_state_dict({name: value.detach().numpy() for name, value in reference.state_dict().items()})


# --- the module catalogue ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModuleCase:
    """A module of ours and the torch module it must match.

    build(rng, dtype, size) -> (ours, reference, input shape); size is "small", "medium" or "big".
    kinks: input values where the function is not differentiable (kept away from in gradchecks).
    """
    name: str
    build: Callable
    kinks: tuple = ()

    def __str__(self):
        return self.name


def elementwise(ours, reference):
    def build(rng, dtype, size):
        return ours(), reference().to(TORCH_DTYPES[dtype]), random_shape(rng, size)
    return build


def linear(bias, leading=1):
    """Linear on (*, in) with ``leading`` dimensions before in (0: an unbatched (in,) sample)."""
    def build(rng, dtype, size):
        if size == "small":
            batch, inputs, outputs = (3, 2)[:leading], 4, 3
        elif size == "big":
            batch, inputs, outputs = (16, 3)[:leading], 48, 32
        else:
            batch = tuple(int(n) for n in rng.integers(1, 6, size=leading))
            inputs, outputs = (int(n) for n in rng.integers(1, 13, size=2))
        return (nn.Linear(inputs, outputs, bias=bias, dtype=dtype),
                torch.nn.Linear(inputs, outputs, bias=bias, dtype=TORCH_DTYPES[dtype]), batch + (inputs,))
    return build


def randomize_state(reference, rng):
    """Give a torch module's parameters and running statistics random values (not torch's ones and zeros)."""
    with torch.no_grad():
        for name, value in reference.state_dict().items():
            if value.is_floating_point():
                low = 0.5 if name == "running_var" else -1.5
                value.copy_(torch.from_numpy(rng.uniform(low, 1.5, tuple(value.shape))))
    return reference


def _statistics_shape(rng, rank, count_axes):
    """A random shape whose ``count_axes`` hold at least 3 values together. With 2 values x_hat is +-1
    and the input gradient of a normalization is pure cancellation (zero up to eps): no test of rounding."""
    while True:
        shape = tuple(int(n) for n in rng.integers(1, 6, size=rank))
        if math.prod(shape[axis] for axis in count_axes) >= 3:
            return shape


def batch_norm(ours_class, reference_class, rank, eval_mode=False, **options):
    """BatchNorm of inputs of ``rank`` dimensions (N, C, ...), random weights and running statistics."""
    def build(rng, dtype, size):
        if size == "small":
            shape = (3, 2, 2, 2)[:rank] if rank > 2 else (3, 2)
        elif size == "big":
            shape = (16, 6, 5, 4)[:rank]
        else:
            shape = _statistics_shape(rng, rank, (0,) + tuple(range(2, rank)))
        reference = randomize_state(reference_class(shape[1], dtype=TORCH_DTYPES[dtype], **options), rng)
        ours = ours_class(shape[1], dtype=dtype, **options)
        copy_torch_into_ours(reference, ours)
        if eval_mode:
            ours.eval(), reference.eval()
        return ours, reference, shape
    return build


def layer_norm(normalized_rank, leading=1, **options):
    def build(rng, dtype, size):
        if size == "small":
            shape = (2, 3, 2)[:leading] + (3, 2)[:normalized_rank]
        elif size == "big":
            shape = (8, 2)[:leading] + (24, 4)[:normalized_rank]
        else:
            shape = _statistics_shape(rng, leading + normalized_rank, range(leading, leading + normalized_rank))
        normalized = shape[leading:]
        reference = randomize_state(torch.nn.LayerNorm(normalized, dtype=TORCH_DTYPES[dtype], **options), rng)
        ours = nn.LayerNorm(normalized, dtype=dtype, **options)
        copy_torch_into_ours(reference, ours)
        return ours, reference, shape
    return build


def flatten(*dims):
    def build(rng, dtype, size):
        shape = (2, 3, 2, 2) if size == "small" else tuple(int(n) for n in rng.integers(1, 6, size=4))
        return nn.Flatten(*dims), torch.nn.Flatten(*dims), shape
    return build


def unflatten(rng, dtype, size):
    rows, columns = (2, 3) if size == "small" else (int(n) for n in rng.integers(1, 6, size=2))
    batch, rest = (2, 2) if size == "small" else (int(n) for n in rng.integers(1, 6, size=2))
    return (nn.Unflatten(1, (rows, columns)), torch.nn.Unflatten(1, (rows, columns)),
            (batch, rows * columns, rest))


def dropout_eval(rng, dtype, size):
    return nn.Dropout(0.3).eval(), torch.nn.Dropout(0.3).eval(), random_shape(rng, size)


MODULE_CASES = [
    ModuleCase("Linear", linear(bias=True)),
    ModuleCase("Linear-nobias", linear(bias=False)),
    ModuleCase("Linear-unbatched", linear(bias=True, leading=0)),
    ModuleCase("Linear-3d", linear(bias=True, leading=2)),
    ModuleCase("BatchNorm1d", batch_norm(nn.BatchNorm1d, torch.nn.BatchNorm1d, 2)),
    ModuleCase("BatchNorm1d-NCL", batch_norm(nn.BatchNorm1d, torch.nn.BatchNorm1d, 3)),
    ModuleCase("BatchNorm1d-eval", batch_norm(nn.BatchNorm1d, torch.nn.BatchNorm1d, 3, eval_mode=True)),
    ModuleCase("BatchNorm2d", batch_norm(nn.BatchNorm2d, torch.nn.BatchNorm2d, 4)),
    ModuleCase("BatchNorm2d-eval", batch_norm(nn.BatchNorm2d, torch.nn.BatchNorm2d, 4, eval_mode=True)),
    ModuleCase("BatchNorm2d-noaffine", batch_norm(nn.BatchNorm2d, torch.nn.BatchNorm2d, 4, affine=False)),
    ModuleCase("LayerNorm", layer_norm(1)),
    ModuleCase("LayerNorm-2d-nobias", layer_norm(2, leading=2, bias=False)),
    ModuleCase("LayerNorm-unbatched-noaffine", layer_norm(1, leading=0, elementwise_affine=False)),
    ModuleCase("Flatten", flatten()),
    ModuleCase("Flatten-1-2", flatten(1, 2)),
    ModuleCase("Unflatten", unflatten),
    ModuleCase("Dropout-eval", dropout_eval),
    ModuleCase("Identity", elementwise(nn.Identity, torch.nn.Identity)),
    ModuleCase("ReLU", elementwise(nn.ReLU, torch.nn.ReLU), kinks=(0.0,)),
    ModuleCase("ReLU-inplace", elementwise(lambda: nn.ReLU(inplace=True), torch.nn.ReLU), kinks=(0.0,)),
    ModuleCase("LeakyReLU", elementwise(nn.LeakyReLU, torch.nn.LeakyReLU), kinks=(0.0,)),
    ModuleCase("LeakyReLU-0.2", elementwise(lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
               kinks=(0.0,)),
    ModuleCase("Sigmoid", elementwise(nn.Sigmoid, torch.nn.Sigmoid)),
    ModuleCase("Tanh", elementwise(nn.Tanh, torch.nn.Tanh)),
    ModuleCase("ELU", elementwise(nn.ELU, torch.nn.ELU), kinks=(0.0,)),
    ModuleCase("ELU-0.5", elementwise(lambda: nn.ELU(alpha=0.5), lambda: torch.nn.ELU(alpha=0.5)), kinks=(0.0,)),
    ModuleCase("Softplus", elementwise(nn.Softplus, torch.nn.Softplus)),
    # beta 2, threshold 3: inputs of scale 2 cross x = 1.5, so both branches are exercised
    ModuleCase("Softplus-2-3", elementwise(lambda: nn.Softplus(beta=2, threshold=3),
                                           lambda: torch.nn.Softplus(beta=2, threshold=3)), kinks=(1.5,)),
    ModuleCase("GELU", elementwise(nn.GELU, torch.nn.GELU)),
    ModuleCase("GELU-tanh", elementwise(lambda: nn.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh"))),
    ModuleCase("Softmax", elementwise(lambda: nn.Softmax(-1), lambda: torch.nn.Softmax(-1))),
    ModuleCase("LogSoftmax-0", elementwise(lambda: nn.LogSoftmax(0), lambda: torch.nn.LogSoftmax(0))),
]


def module_input(case, rng, shape, dtype):
    """Inputs of scale 2 (both sides of every kink), kept ~1e-3 away from the kinks."""
    return nudge(rng.standard_normal(shape) * 2, case.kinks).astype(dtype)


# --- the loss catalogue --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossCase:
    """A loss of ours, its torch counterpart, and sample(rng, shape) -> (prediction, target) in float64."""
    name: str
    ours: Callable
    reference: Callable
    sample: Callable

    def __str__(self):
        return self.name


def real_pair(rng, shape):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def l1_pair(rng, shape):  # |pred - target| has its kink where they are equal
    target = rng.standard_normal(shape)
    return target + nudge(rng.standard_normal(shape), (0.0,)), target


def probability_pair(rng, shape):
    return rng.uniform(0.02, 0.98, shape), rng.uniform(0, 1, shape)


def logit_pair(rng, shape):
    return rng.standard_normal(shape) * 3, rng.uniform(0, 1, shape)


LOSS_CASES = [
    LossCase(f"{ours.__name__}-{reduction}", lambda ours=ours, reduction=reduction: ours(reduction=reduction),
             lambda reference=reference, reduction=reduction: reference(reduction=reduction), sample)
    for ours, reference, sample in [
        (nn.MSELoss, torch.nn.MSELoss, real_pair),
        (nn.L1Loss, torch.nn.L1Loss, l1_pair),
        (nn.BCELoss, torch.nn.BCELoss, probability_pair),
        (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, logit_pair),
    ]
    for reduction in ("mean", "sum")
]
LOSS_CLASSES = [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss]


# --- the seed autoencoder --------------------------------------------------------------------------------
ENCODER_SIZES = (784, 128, 64, 36, 18, 9)


def autoencoder(library, **linear_options):
    """Linear 784-128-64-36-18-9 with ReLU between (none after the code layer), then the mirror
    9-...-784 with ReLU between and Sigmoid last, from ``library`` (nn or torch.nn)."""
    layers = []
    for sizes, last in ((ENCODER_SIZES, None), (ENCODER_SIZES[::-1], library.Sigmoid)):
        for index, (inputs, outputs) in enumerate(zip(sizes, sizes[1:])):
            layers.append(library.Linear(inputs, outputs, **linear_options))
            if index < len(sizes) - 2:
                layers.append(library.ReLU())
        if last is not None:
            layers.append(last())
    return library.Sequential(*layers)
