"""The throughput benchmark's peers on the CPU: JAX (``jax.jit`` + optax Adam, XLA) and DeZero
0.0.13 (a define-by-run NumPy framework), plus the plain NumPy loop (benchmarks.plain_loop).

Each is built from an engine model's ``layer_plan`` (Linear, ReLU, Sigmoid), so it starts from the
engine's weights (DeZero stores W as (in, out): the transpose is copied in) and trains on the same
batch with the same loss (MSE, mean over all elements) and Adam at lr 1e-3. Each optimizer is the
peer's own: optax's Adam is torch's rule; DeZero's folds the bias corrections into its step size,
with eps added to sqrt(v) before that correction (a difference of the order of eps). DeZero is
run as its users run it: under NumPy 2 its Sigmoid backward (``1 - y`` with 1 made a 0-d int64
array) promotes the gradient to float64, so its backward pass from there on is float64 arithmetic.

The libraries are optional (``pip install -e .[peers]``): ``import_peer`` answers (module, None) or
(None, one line saying why not) and never raises.
"""
import contextlib
import os

import numpy

from .plain_loop import PlainLoop
from .workloads import LEARNING_RATE, PEER_BACKENDS as PEERS, Runner, layer_plan
_INSTALL = "install the peers extra: pip install -e .[peers]"


def import_peer(backend):
    """(the library's module, None) or (None, the reason it cannot run here)."""
    if backend == "numpy-plain":
        return numpy, None
    if backend == "jax-cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no search for accelerators, no warning about them
        try:
            import jax
            import optax  # noqa: F401  (the Adam of the JAX runner)
        except ImportError as error:
            return None, f"JAX or optax is not installed ({error}); {_INSTALL}"
        except Exception as error:
            return None, f"JAX failed to import: {type(error).__name__}: {error}"
        return jax, None
    if backend == "dezero":
        # DeZero 0.0.13 names numpy.int (removed in NumPy 1.24) at import time; lend it the alias for the
        # import only, so that nothing else in this process sees it.
        lent = not hasattr(numpy, "int")
        if lent:
            numpy.int = int
        try:
            import dezero
        except ImportError as error:
            return None, f"DeZero is not installed ({error}); {_INSTALL}"
        except Exception as error:
            return None, f"DeZero failed to import: {type(error).__name__}: {error}"
        finally:
            if lent:
                del numpy.int
        return dezero, None
    raise ValueError(f"unknown peer {backend!r}: use one of {PEERS}")


class PlainLoopRunner(Runner):
    """benchmarks.plain_loop: the engine's arithmetic on preallocated buffers, no modules."""

    def __init__(self, model, x):
        self.backend, self.x = "numpy-plain", x
        self.loop = PlainLoop(model, x.shape[0])

    def train_step(self):
        self.loop.train_step(self.x)

    def forward_step(self):
        self.loop.forward(self.x)

    def mode(self, kind):
        return contextlib.nullcontext()

    def loss_value(self):
        self.loop.forward(self.x)
        return float(self.loop.loss_and_gradient(self.x))


class JaxRunner(Runner):
    """JAX on the CPU: the whole step (forward, loss, gradient, optax Adam) compiled by ``jax.jit``,
    parameters and optimizer state donated so XLA updates them in place."""

    def __init__(self, model, x, jax):
        import optax
        jnp = jax.numpy
        self.backend, self.jax = "jax-cpu", jax
        plan = layer_plan(model)
        self.params = [(jnp.asarray(weight), jnp.asarray(bias)) for kind, weight, bias in plan if kind == "linear"]
        kinds = [kind for kind, _, _ in plan]

        def forward(params, inputs):
            layer = 0
            for kind in kinds:
                if kind == "linear":
                    weight, bias = params[layer]
                    inputs = inputs @ weight.T + bias
                    layer += 1
                else:
                    inputs = jax.nn.relu(inputs) if kind == "relu" else jax.nn.sigmoid(inputs)
            return inputs

        def loss(params, inputs):
            return jnp.mean((forward(params, inputs) - inputs) ** 2)

        optimizer = optax.adam(LEARNING_RATE)

        def step(params, state, inputs):
            value, grads = jax.value_and_grad(loss)(params, inputs)
            updates, state = optimizer.update(grads, state, params)
            return optax.apply_updates(params, updates), state, value

        self.state = optimizer.init(self.params)
        self.x = jnp.asarray(x)
        self._step = jax.jit(step, donate_argnums=(0, 1))
        self._forward = jax.jit(forward)
        self._loss = jax.jit(loss)
        self._last = None

    def train_step(self):
        self.params, self.state, self._last = self._step(self.params, self.state, self.x)

    def forward_step(self):
        self._last = self._forward(self.params, self.x)

    def synchronize(self):
        # JAX dispatches asynchronously: wait for the last result before reading the clock.
        if self._last is not None:
            self.jax.block_until_ready(self._last)

    def mode(self, kind):
        return contextlib.nullcontext()

    def loss_value(self):
        return float(self._loss(self.params, self.x))


class DezeroRunner(Runner):
    """DeZero: model.cleargrads(); loss = mse(model(x), x); loss.backward(); optimizer.update()."""

    def __init__(self, model, x, dezero):
        import dezero.functions as F
        import dezero.layers as L
        self.backend, self.dezero, self.x = "dezero", dezero, x
        plan = layer_plan(model)
        network = dezero.Model()
        steps = []
        for index, (kind, weight, bias) in enumerate(plan):
            if kind == "linear":
                layer = L.Linear(weight.shape[0], in_size=weight.shape[1], dtype=weight.dtype)
                layer.W.data = numpy.ascontiguousarray(weight.T)
                layer.b.data = bias.copy()
                setattr(network, f"l{index}", layer)  # registers its parameters with the model
                steps.append(layer)
            else:
                steps.append(F.relu if kind == "relu" else F.sigmoid)

        def forward(inputs):
            for step in steps:
                inputs = step(inputs)
            return inputs

        self.model, self._forward, self._functions = network, forward, F
        # 1/M as a float32 array: dividing by the Python int M would make DeZero compute the loss and
        # every gradient behind it in float64.
        self._scale = numpy.array(1.0 / x.size, dtype=x.dtype)
        self.optimizer = dezero.optimizers.Adam(alpha=LEARNING_RATE).setup(network)

    def _loss(self):
        difference = self._forward(self.x) - self.x
        return self._functions.sum(difference * difference) * self._scale

    def train_step(self):
        self.model.cleargrads()
        value = self._loss()
        value.backward()
        self.optimizer.update()

    def forward_step(self):
        self._forward(self.x)

    def mode(self, kind):
        return self.dezero.no_grad() if kind == "forward" else contextlib.nullcontext()

    def loss_value(self):
        with self.dezero.no_grad():
            return float(self._loss().data)


def make_peer_runner(backend, model, x, library):
    if backend == "numpy-plain":
        return PlainLoopRunner(model, x)
    if backend == "jax-cpu":
        return JaxRunner(model, x, library)
    if backend == "dezero":
        return DezeroRunner(model, x, library)
    raise ValueError(f"unknown peer {backend!r}: use one of {PEERS}")
