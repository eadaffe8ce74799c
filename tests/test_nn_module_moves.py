"""Module.to(): a move or cast forgets the last forward, so a backward afterwards cannot run on a stale
input of the old dtype or device. Found by mutation testing (the cache clearing removed survived)."""
import copy
import gc
import weakref

import numpy
import pytest

import nn

BUILDERS = {
    "Linear": (lambda: nn.Linear(4, 3, dtype="float64"), (2, 4)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 5, dtype="float64"), nn.Tanh(), nn.Linear(5, 3, dtype="float64"),
                                         nn.Sigmoid()), (2, 4)),
    "Conv2d": (lambda: nn.Conv2d(1, 2, 3, dtype="float64"), (1, 1, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 1, 3, dtype="float64"), (1, 2, 4, 4)),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_backward_after_a_cast_asks_for_a_new_forward(name, nn_rng):
    build, shape = BUILDERS[name]
    module = build()
    output = module(nn_rng.standard_normal(shape))
    module.to(dtype="float32")
    with pytest.raises(RuntimeError, match="backward called before forward"):
        module.backward(numpy.ones(output.shape, dtype="float32"))
    output = module(nn_rng.standard_normal(shape).astype("float32"))  # a new forward: backward works again
    assert module.backward(numpy.ones(output.shape, dtype="float32")).dtype == numpy.float32


# --- _saved: the one list of what a forward caches, which to() forgets --------------------------------------
# Each case: a small module, the shapes of its inputs (a loss: prediction and target; "classes" for class
# indices), and whether its forward draws random numbers (Dropout, the VAE's eps, a denoiser's noise).
F64 = "float64"


def _autoencoders():
    import autoencoders
    from autoencoders.noise import GaussianNoise
    flat = (3, 16)
    return {
        "Autoencoder": (lambda: autoencoders.Autoencoder(
            nn.Sequential(nn.Linear(16, 4, dtype=F64), nn.ReLU()), nn.Sequential(nn.Linear(4, 16, dtype=F64)),
            autoencoders.L1CodePenalty(0.1)), [flat], False),
        "SimpleAutoencoder": (lambda: autoencoders.SimpleAutoencoder(16, 4, dtype=F64), [flat], False),
        "DeepAutoencoder": (lambda: autoencoders.DeepAutoencoder(16, (8, 6), 3, dtype=F64), [flat], False),
        "OvercompleteAutoencoder": (lambda: autoencoders.OvercompleteAutoencoder(16, 20, dtype=F64), [flat], False),
        "DenoisingAutoencoder": (lambda: autoencoders.DenoisingAutoencoder(
            autoencoders.SimpleAutoencoder(16, 4, dtype=F64), GaussianNoise(0.1, seed=5)), [flat], True),
        "Deep2006Autoencoder": (lambda: autoencoders.Deep2006Autoencoder(16, (8, 6, 5), 3, dtype=F64), [flat], False),
        "SparseAutoencoder": (lambda: autoencoders.SparseAutoencoder(16, 5, dtype=F64), [flat], False),
        "AdversarialAutoencoder": (lambda: autoencoders.AdversarialAutoencoder(16, (8, 6), 3, dtype=F64, seed=2),
                                   [flat], False),
        "ConvAutoencoder": (lambda: autoencoders.ConvAutoencoder(3, (2, 2), image_size=8, dtype=F64), [(2, 64)], False),
        "VariationalAutoencoder": (lambda: autoencoders.VariationalAutoencoder(16, 6, 2, dtype=F64, seed=4),
                                   [flat], True),
    }


CASES = {
    "Identity": (lambda: nn.Identity(), [(2, 3)], False),
    "Linear": (lambda: nn.Linear(4, 3, dtype=F64), [(2, 4)], False),
    "ReLU": (lambda: nn.ReLU(), [(2, 3)], False),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), [(2, 3)], False),
    "Sigmoid": (lambda: nn.Sigmoid(), [(2, 3)], False),
    "Tanh": (lambda: nn.Tanh(), [(2, 3)], False),
    "ELU": (lambda: nn.ELU(), [(2, 3)], False),
    "Softplus": (lambda: nn.Softplus(), [(2, 3)], False),
    "GELU": (lambda: nn.GELU(), [(2, 3)], False),
    "Dropout": (lambda: nn.Dropout(0.5, seed=1), [(4, 5)], True),
    "Flatten": (lambda: nn.Flatten(), [(2, 3, 2)], False),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), [(2, 6)], False),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3, dtype=F64), [(4, 3)], False),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2, dtype=F64), [(2, 2, 3, 3)], False),
    "LayerNorm": (lambda: nn.LayerNorm(4, dtype=F64), [(3, 4)], False),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, dtype=F64), [(2, 2, 5, 5)], False),
    "Conv2d reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", dtype=F64),
                       [(2, 5, 5)], False),  # unbatched, and padded before the convolution
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 1, 3, stride=2, dtype=F64), [(1, 2, 4, 4)], False),
    "MaxPool2d": (lambda: nn.MaxPool2d(2, padding=1), [(1, 2, 5, 5)], False),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2), [(1, 2, 5, 5)], False),
    "Upsample nearest": (lambda: nn.Upsample(scale_factor=2), [(1, 2, 3, 3)], False),
    "Upsample gather": (lambda: nn.Upsample(size=(5, 4)), [(1, 2, 3, 3)], False),
    "Upsample bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [(1, 2, 3, 3)], False),
    "Softmax": (lambda: nn.Softmax(dim=1), [(2, 4)], False),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), [(2, 4)], False),
    "MSELoss": (lambda: nn.MSELoss(), [(3, 2), (3, 2)], False),
    "L1Loss": (lambda: nn.L1Loss(reduction="sum"), [(3, 2), (3, 2)], False),
    "BCELoss": (lambda: nn.BCELoss(), [(3, 2), (3, 2)], False),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(reduction="none"), [(3, 2), (3, 2)], False),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(reduction="none"), [(3, 4), "classes"], False),
    "NLLLoss": (lambda: nn.NLLLoss(), [(3, 4), "classes"], False),
    "NLLLoss none": (lambda: nn.NLLLoss(reduction="none"), [(3, 4), "classes"], False),  # backward keeps x too
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 5, dtype=F64), nn.Tanh()), [(2, 4)], False),
    **_autoencoders(),
}


def _inputs(shapes):
    """Fresh arrays (the same numbers at every call): values in (0, 1), as BCELoss's arguments must be."""
    rng = numpy.random.default_rng(7)
    return [rng.integers(0, 4, 3) if shape == "classes" else rng.uniform(0.05, 0.95, shape) for shape in shapes]


def _run(module, shapes):
    """(output, dL/dx) of one forward and one backward with dL/dy = 1 (each a copy: nothing of the module's)."""
    output = module(*_inputs(shapes))
    grad = module.backward(numpy.ones(numpy.shape(output), dtype=output.dtype))
    return numpy.array(output), None if grad is None else numpy.array(grad)


def _arrays(value):
    """The NumPy arrays in a cached value, looking into tuples, lists and dicts."""
    if isinstance(value, numpy.ndarray):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [array for item in value for array in _arrays(item)]
    return []


def _cached(module):
    """Weak references to every array that a module of the tree holds under a name of its ``_saved``."""
    return [weakref.ref(array) for part in module.modules() for name in part._saved
            for array in _arrays(vars(part).get(name))]


def _forward_and_backward_held_only_by(module, shapes):
    """Run a forward and a backward on fresh arrays that only the module keeps; weak references to the
    input and output arrays and to everything the tree's ``_saved`` names."""
    inputs = _inputs(shapes)
    output = module(*inputs)
    module.backward(numpy.ones(numpy.shape(output), dtype=output.dtype))
    return [weakref.ref(array) for array in (*inputs, output)] + _cached(module)


def test_every_module_type_has_a_case():
    """A new module type in nn or autoencoders gets its own case here, or this fails."""
    import inspect

    import autoencoders
    types = {name for package in (nn, autoencoders) for name, value in vars(package).items()
             if inspect.isclass(value) and issubclass(value, nn.Module) and value is not nn.Module}
    assert types <= {name.split()[0] for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_to_drops_every_array_forward_cached_and_the_next_forward_gives_the_same(name):
    build, shapes, draws = CASES[name]
    module = build()
    before = _run(module, shapes)
    references = _forward_and_backward_held_only_by(module, shapes)
    held = [reference for reference in references if reference() is not None]
    assert held or name in ("Identity", "Flatten", "Unflatten", "Upsample nearest")  # these keep shapes only
    twin = copy.deepcopy(module)  # unmoved: draws the same random numbers next
    module.to("cpu")
    if any(reference() is not None for reference in references):  # in a reference cycle? A collection costs
        gc.collect()  # 0.3 s with the whole suite loaded (and mutation runs repeat it): only when needed
    alive = [reference() for reference in references if reference() is not None]
    assert not alive, f"{name}: to() left {len(alive)} cached arrays held, shapes {[a.shape for a in alive]}"
    with pytest.raises(RuntimeError, match="backward called before forward: call the module on an input first"):
        module.backward(numpy.ones(before[0].shape, dtype=before[0].dtype))
    after, expected = _run(module, shapes), _run(twin, shapes)
    for got, want in zip(after, expected if draws else before):
        numpy.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", CASES)
def test_to_before_any_forward_works(name):
    build, shapes, _ = CASES[name]
    module = build()
    module.to("cpu")
    module.to(dtype="float32").to(dtype="float64")
    assert all(name not in vars(part) for part in module.modules() for name in part._saved)
    output, _ = _run(module, shapes)
    assert output.dtype == numpy.float64


# Attributes a forward or backward adds that are not caches of its input: the gate's own record.
NOT_CACHES = {"_gate", "_forwards"}


@pytest.mark.parametrize("name", CASES)
def test_saved_names_exactly_what_forward_and_backward_add(name):
    """A cached attribute left out of ``_saved`` (or a name there that nothing fills) fails here."""
    build, shapes, _ = CASES[name]
    module = build()
    fresh = {part: set(vars(part)) for part in module.modules()}
    _run(module, shapes)
    idle = set(module.discriminator.modules()) if name == "AdversarialAutoencoder" else set()  # forward skips it
    for part, names in fresh.items():
        if part in idle:
            continue
        expected = set(part._saved)
        if isinstance(part, (nn.NLLLoss, nn.CrossEntropyLoss)) and part.reduction != "none":
            expected.discard("_prediction")  # only the "none" gradient keeps the prediction (its library)
        added = set(vars(part)) - names - NOT_CACHES
        assert added == expected, f"{type(part).__name__}: forward added {sorted(added)}"
        assert len(part._saved) == len(set(part._saved))
