"""A whole training step captured once as a CUDA graph and replayed: one launch instead of ~120.

A small model's GPU step is launch-bound: Python issues 120-130 kernels a step and the GPU waits for
each. CUDA can record the kernels a stream receives (stream capture) into a graph, and launch the
whole graph again with one call; the kernels then run back to back with the arguments they had when
recorded. ``CapturedStep`` records the engine's eager step (forward, loss, backward, optimizer), as
compiled by nn.fast.compile (Linear + ReLU and Sigmoid + MSELoss fused on the GPU; ``fuse=False``: the
modules' own chains), and replays it:

    from nn.fast.cuda_graph import CapturedStep
    step = CapturedStep(model, nn.MSELoss(), optimizer, batch_shape=(256, 784))
    for x in batches:                      # CuPy (or NumPy) arrays of the model's dtype
        if x.shape == step.batch_shape:
            step.step(x)                   # copy x into step.input, replay the graph
        else:
            step.eager_step(x)             # the last, partial batch: the same step, not captured
    print(float(step.loss_value))          # the last step's loss, read (and synchronized) when wanted
"""
from .. import backend
from ..layers import Dropout
from ..losses import BCELoss
from ..optim import SGD, Adam
from . import optim as optim_fast
from .kernels import FusedKernel
from .step import compile as plan_fused_step

# Adam's step count on the device: advanced inside the graph, so every replay takes the next bias
# corrections (a host-side t would be frozen at its value during capture). Double precision, as the
# host computes 1 - beta^t before rounding it to the parameters' type.
STEP_COUNTER = FusedKernel("float64 beta1, float64 beta2", "float64 t, T bias_correction1, T bias_correction2",
                           "t = t + 1; bias_correction1 = 1 - pow(beta1, t); bias_correction2 = 1 - pow(beta2, t);",
                           scalars=("beta1", "beta2"))
_kernels = {}


def _kernel(name, inputs, outputs, body):
    if name not in _kernels:
        _kernels[name] = backend.compile_elementwise(inputs, outputs, body, name)
    return _kernels[name]


class CaptureFailed(RuntimeError):
    """CUDA refused to capture the step (an operation in it cannot be recorded); nothing changed."""


def capture_refusal(model, loss, optimizer):
    """None when CapturedStep can capture this step, else (the exception class, why and what to do)."""
    if not isinstance(optimizer, (Adam, SGD)):
        return TypeError, f"optimizer {type(optimizer).__name__} is not supported; use nn.Adam, nn.AdamW or nn.SGD"
    if any(isinstance(module, Dropout) and module.p > 0 for module in model.modules()):
        return ValueError, ("the model has Dropout, whose random masks a graph would replay unchanged; train it "
                            "with eager steps")
    if isinstance(loss, BCELoss) or getattr(model, "code_penalty", None) is not None:
        what = "BCELoss checks its input on the host" if isinstance(loss, BCELoss) else \
            "the model's code penalty reads its value on the host"
        return ValueError, f"{what}, which a graph cannot do; use MSELoss and a model without a penalty, or eager steps"
    if getattr(loss, "reduction", "mean") not in ("mean", "sum"):
        return ValueError, (f"loss reduction={loss.reduction!r} gives no single loss value to train on; "
                            "use reduction='mean' or 'sum'")
    return None


class CudaGraphs:
    """What CapturedStep needs from CUDA, through CuPy: a stream, a private memory pool, capture, replay."""

    def __init__(self):
        self.cupy = backend.array_module("gpu")
        self.pool = self.cupy.cuda.MemoryPool()

    def stream(self):
        return self.cupy.cuda.Stream(non_blocking=True)

    def allocations(self):
        """A context in which every array the step allocates comes from the private pool."""
        return self.cupy.cuda.using_allocator(self.pool.malloc)

    def current_stream(self):
        return self.cupy.cuda.get_current_stream()

    def hand_over(self, source, target):
        """Make ``target`` wait, on the device (the host goes on), for the work issued to ``source`` so far."""
        target.wait_event(source.record())

    def capture(self, stream, body):
        """Record ``body()``'s kernels on ``stream`` (they do not run now) and return the graph."""
        with stream, self.allocations():
            stream.begin_capture()
            try:
                body()
            finally:
                graph = stream.end_capture()
        return graph


class CapturedStep:
    """One training step of ``model`` on ``loss(model(x), x)`` (a reconstruction: the target is the
    input) with ``optimizer``, replayed as a CUDA graph for batches of ``batch_shape``.

    ``step(x)``: copy x into the fixed buffer ``self.input`` and run one step. The first
    ``warmup_steps`` calls run it eagerly (CuPy compiles its kernels, cuBLAS and the memory pool
    settle); the next one captures the graph and launches it, and every later call replays it.
    Each call is exactly one training step on x, so results equal eager steps (up to the last bits:
    the GPU's pow for Adam's bias corrections). ``loss_value`` is a 0-d device array holding the
    loss of the last step, overwritten by the next one: read it (``float``) only when wanted, as
    reading synchronizes. ``eager_step(x)``: the same step, uncaptured, for x of another shape.

    What must hold for the capture to be valid (each is why the code is as it is):

    1. No host synchronization in the step: nothing in forward, loss, backward or the update may
       read a device value on the host (``float(loss)``, ``.item()``, ``if xp.any(...)``). CUDA
       refuses a synchronization during capture, and a value read then would be frozen into the graph.
       So the loss is copied into ``loss_value`` on the device, never read inside.
    2. Every kernel argument is frozen at capture. Numbers the host computes per step must live on
       the device instead: Adam's step count t and its bias corrections 1 - beta^t are advanced by a
       kernel inside the graph (``STEP_COUNTER``); the host's ``state['step']`` is counted beside it,
       for state dicts. Hyperparameters (lr, betas, weight decay, ...) are frozen too: ``step``
       refuses to replay once one changed (a scheduler): build a new CapturedStep.
    3. The same memory at every replay: the graph holds device addresses. The warm-up steps and the
       capture allocate from a private memory pool kept as long as this object, on one stream, so
       the capture asks for the same sizes in the same order as the last warm-up step and is served
       from the blocks that step freed (no cudaMalloc during capture; no allocation that differs
       between warm-up and capture), and no array outside the step is ever given a block the graph
       writes to.
    4. Fixed shapes: the graph is for ``batch_shape`` only; other shapes are refused by ``step`` and
       taken by ``eager_step`` (the last partial batch of an epoch).
    5. One stream: the copy into ``input``, the replay and the eager steps run in order on ``stream``,
       a non-blocking stream (capture needs one), which CUDA does not order with the caller's. So each
       call hands over explicitly: ``stream`` first waits for what the caller's stream issued so far
       (x may still be in the making there), and the caller's stream then waits for the step (a loss
       read, an evaluation or a checkpoint must see the updated weights). Both waits are on the device.
    6. No random draws in the step (their seeds would be frozen): models with Dropout are refused.
    7. What reads values on the host cannot be captured, and is refused: BCELoss (it checks that its
       input lies in [0, 1]) and a model's code penalty (the sparse autoencoder's L1 term).

    Supported optimizers: Adam and AdamW (the step count on the device), SGD (no count after its
    first step). ``graphs`` (keyword-only) replaces CUDA by a test double with ``stream()``,
    ``allocations()``, ``current_stream()``, ``hand_over(source, target)`` and
    ``capture(stream, body)`` returning an object with ``launch(stream)``.
    ``fuse`` (keyword-only, True): the step as ``nn.fast.compile`` plans it; ``plan``
    is that FastStep (``plan.describe()`` says what was fused).
    """

    def __init__(self, model, loss, optimizer, batch_shape, *, warmup_steps=3, graphs=None, fuse=True):
        refusal = capture_refusal(model, loss, optimizer)
        if refusal is not None:
            kind, reason = refusal
            raise kind(f"CapturedStep: {reason}")
        if int(warmup_steps) < 1:
            raise ValueError(f"CapturedStep: warmup_steps must be at least 1, got {warmup_steps!r}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.batch_shape, self.warmup_steps = tuple(int(size) for size in batch_shape), int(warmup_steps)
        first = optimizer.param_groups[0]["params"][0].data
        xp = backend.get_array_module(first)
        self.graphs = graphs if graphs is not None else CudaGraphs()
        self.stream = self.graphs.stream()
        self.input = xp.zeros(self.batch_shape, dtype=first.dtype)
        self.loss_value = xp.zeros((), dtype=first.dtype)
        if optimizer._fast is None:  # a graph holds the flat buffers of foreach=True: the optimizer takes them now
            optimizer.foreach, optimizer._fast = True, optim_fast.FlatForm(optimizer)
        self.form = optimizer._fast
        # a group's count: its parameters' (a frozen one, never stepped, may lag: the most steps taken)
        self._counters = [{"t": xp.full((), _group_step(optimizer, group), dtype="float64"),
                           "bias_correction1": xp.ones((), dtype=first.dtype),
                           "bias_correction2": xp.ones((), dtype=first.dtype)} for group in optimizer.param_groups]
        self.plan = plan_fused_step(model, loss, fuse=fuse)
        self._graph, self._warm, self._frozen = None, 0, None
        self._graph_unreached = ()  # the parameters the captured step puts back (each replay counts no step for them)

    # --- the step, as the engine takes it eagerly ------------------------------------------------------
    def _body(self, x):
        """One step on x; returns the parameters no backward reached (the caller takes back their step count)."""
        xp = backend.get_array_module(x)
        skipped = []
        value = self.plan.forward(x, x)
        xp.copyto(self.loss_value, value)
        self.optimizer.zero_grad()
        self.plan.backward(need_input_grad=False)
        for index, (group, flat, scratch) in enumerate(self.form.groups):
            flat.check()
            # A parameter no backward reached (frozen, or on an unused branch): the eager step skips it, as
            # torch does. The graph steps the whole flat buffer, so that parameter gets a zero gradient and
            # its values and optimizer state are put back after the update (AdamW's decay, SGD's momentum
            # and Adam's moments would otherwise move it).
            unreached = [parameter for parameter in flat.parameters if parameter.grad is None]
            skipped += unreached
            for parameter in unreached:
                parameter._flat_grad.fill(0)
                parameter.grad = parameter._flat_grad
            flat.gather_gradients()
            kept = [(view, view.copy()) for parameter in unreached
                    for view in (parameter.data, *(self.optimizer.state[parameter][name] for name in flat.state))]
            state = {"step": _group_step(self.optimizer, group), **flat.state}
            if isinstance(self.optimizer, Adam):
                self._adam(self._counters[index], group, flat, state, scratch)
            else:  # SGD reads its step count only to tell the first step, which is always eager here
                self.form.update(flat.data, flat.grad, state, scratch, group)
            for view, saved in kept:
                view[...] = saved
        return skipped

    def _adam(self, counter, group, flat, state, scratch):
        """The optimizer's own Adam rule, its step count t read from the device counter."""
        beta1, beta2 = group["betas"]
        if backend.device_of(flat.data) != "gpu":  # NumPy: the counter is read on the host, no graph to freeze it
            counter["t"] += 1
            self.form.update(flat.data, flat.grad, {**state, "step": int(counter["t"])}, scratch, group)
            return
        _kernel("nn_step_counter", STEP_COUNTER.inputs, STEP_COUNTER.outputs, STEP_COUNTER.body)(
            beta1, beta2, counter["t"], counter["bias_correction1"], counter["bias_correction2"])
        amsgrad, decoupled = group["amsgrad"], self.optimizer.decoupled(group)
        lr, weight_decay = group["lr"], group["weight_decay"]
        dtype = flat.data.dtype.type
        scalars = (-1.0 if group["maximize"] else 1.0, 0.0 if decoupled else weight_decay,
                   1 - lr * weight_decay if decoupled else 1.0, beta1, beta2)
        outputs = [flat.data, state["exp_avg"], state["exp_avg_sq"]] + ([state["max_exp_avg_sq"]] if amsgrad else [])
        # optim_fast's Adam kernel, with the bias corrections as 0-d device arrays (broadcast) instead of numbers
        _kernel(f"nn_fused_adam_{amsgrad}", *optim_fast.adam_kernel_source(amsgrad))(
            flat.grad, *(dtype(value) for value in scalars), counter["bias_correction1"],
            counter["bias_correction2"], dtype(lr), dtype(group["eps"]), *outputs)

    # --- public ---------------------------------------------------------------------------------------
    def step(self, x):
        """One training step on x (shape ``batch_shape``): copied into ``input``, then replayed."""
        if tuple(x.shape) != self.batch_shape:
            raise ValueError(f"CapturedStep.step: x has shape {tuple(x.shape)} but the graph was captured for "
                             f"{self.batch_shape}; use eager_step(x) for other shapes (the last partial batch)")
        self._check_hyperparameters()
        self._count_step()
        caller = self.graphs.current_stream()
        self.graphs.hand_over(caller, self.stream)
        with self.stream:
            if backend.device_of(self.input) == "gpu" and backend.device_of(x) == "cpu":
                self.input.set(x.astype(self.input.dtype, order="C", copy=False))  # host to device, on this stream
            else:
                self.input[...] = x
            if self._graph is None and self._warm >= self.warmup_steps:
                # Captured now, so that the host values the step reads (SGD's step count) are this step's
                self._frozen = self._hyperparameters()
                try:
                    self._graph = self.graphs.capture(self.stream, self._captured_body)
                except Exception as error:  # recorded kernels never ran: no step was taken
                    for state in self.optimizer.state.values():
                        state["step"] -= 1
                    raise CaptureFailed(f"CapturedStep: CUDA could not capture the step ({type(error).__name__}: "
                                        f"{error}); no step was taken: take it with eager_step") from error
            if self._graph is not None:
                self._graph.launch(self.stream)
                unreached = self._graph_unreached
            else:
                with self.graphs.allocations():
                    unreached = self._body(self.input)
                self._warm += 1
        self._uncount(unreached)
        self.graphs.hand_over(self.stream, caller)
        return self.loss_value

    def _captured_body(self):
        """The body the graph records: its host code runs once, at capture, and notes what it put back."""
        self._graph_unreached = self._body(self.input)

    def eager_step(self, x):
        """The same training step on x of any batch size, not captured (nor in the private pool)."""
        self._count_step()
        caller = self.graphs.current_stream()
        self.graphs.hand_over(caller, self.stream)
        with self.stream:
            unreached = self._body(x)
        self._uncount(unreached)
        self.graphs.hand_over(self.stream, caller)
        return self.loss_value

    @property
    def captured(self):
        """True once the graph is recorded (by the call of ``step`` after the ``warmup_steps`` eager ones)."""
        return self._graph is not None

    def _count_step(self):
        for state in self.optimizer.state.values():
            state["step"] += 1

    def _uncount(self, unreached):
        """A parameter no backward reached took no step (its values and state were put back): its count stays,
        as the eager step and torch leave it (Adam's bias corrections start afresh if it is unfrozen)."""
        for parameter in unreached:
            self.optimizer.state[parameter]["step"] -= 1

    def _hyperparameters(self):
        return [{name: group[name] for name in self.optimizer.defaults} for group in self.optimizer.param_groups]

    def _check_hyperparameters(self):
        if self._frozen is None:
            return
        for index, (frozen, now) in enumerate(zip(self._frozen, self._hyperparameters())):
            for name in frozen:
                if frozen[name] != now[name]:
                    raise RuntimeError(f"CapturedStep: {name} of parameter group {index} changed from "
                                       f"{frozen[name]!r} to {now[name]!r} after capture, and the graph holds the "
                                       "old value; build a new CapturedStep after changing hyperparameters")


def _group_step(optimizer, group):
    """The step count of a group's update: the most any of its parameters took (a frozen parameter, which the
    step puts back, keeps a lower one; the others all took the same number)."""
    return max(optimizer.state[parameter]["step"] for parameter in group["params"])
