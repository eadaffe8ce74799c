"""Module.to(): a move or cast forgets the last forward, so a backward afterwards cannot run on a stale
input of the old dtype or device. Found by mutation testing (the cache clearing removed survived)."""
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
