"""Training steps in the engine's fast forms: ``fit(..., steps=FastSteps(...))``, what the command line runs.

fit's own loop runs the plain step (``model(x)``, ``loss``, ``model.backward``, ``optimizer.step()``:
the formulas as written) and reads each step's loss back to the host (``float(loss)``). These steps
are taken instead:

- each step is ``nn.fast.compile(model, loss)``'s (Linear + ReLU, Sigmoid + MSELoss fused; on the
  GPU one kernel each), with the optimizer's flat buffers (``foreach=True``) on the CPU;
- with ``cuda_graph=True`` it is captured once as a CUDA graph (nn.fast.cuda_graph.CapturedStep) and
  replayed for every batch of the first batch's shape; the last, partial batch takes the same step
  eagerly;
- each step's loss stays on the device; ``epoch_losses()`` reads the epoch's losses in one transfer
  at its end (fit checks them for divergence then), and ``last_loss()`` reads one when a progress
  bar shows it.

Where a graph cannot be captured (a model that draws random numbers in its step, BCELoss, a code
penalty, an optimizer other than Adam, AdamW or SGD; see CapturedStep), the steps are the same
planned steps, eager, and ``notice`` says why in one line, once. If CUDA itself refuses the capture
(an operation in the step that cannot be recorded), nothing was changed: the steps go on eagerly
and the notice is printed to stderr when it happens.
"""
import contextlib
import sys

from nn import backend
from nn.fast.cuda_graph import CapturedStep, CaptureFailed, capture_refusal
from nn.fast import compile as compile_step, rescaled_state


class FastSteps:
    """The training steps of ``model`` on ``loss`` with ``optimizer`` (reconstruction: the target is x).

    ``cuda_graph``: capture and replay (where the model allows). ``graphs`` (keyword-only): CUDA's
    stand-in for tests, passed to CapturedStep. ``notice``: None, or the line saying why no graph is used.
    """

    def __init__(self, model, loss, optimizer, *, cuda_graph=True, graphs=None):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.cuda_graph, self._graphs = bool(cuda_graph), graphs
        self.plan = compile_step(model, loss)
        self.notice = None
        self._captured = None  # the CapturedStep, built at the first batch (its shape fixes the graph's)
        self._values, self._penalties = [], []  # the loss on the device, the code penalty on the host
        refusal = capture_refusal(model, loss, optimizer)
        if self.cuda_graph and (getattr(model, "noise", None) is not None or hasattr(model, "generator_state")):
            self._refuse("the model draws random numbers in its step (input noise, a sampled code), which a graph "
                         "would replay unchanged")
        elif self.cuda_graph and refusal is not None:
            self._refuse(refusal[1])

    def _refuse(self, reason):
        self.cuda_graph = False
        self.notice = f"training with eager GPU steps, not a CUDA graph: {reason}"

    def epoch(self):
        """The context an epoch's steps run in: eager steps keep Adam's state in the fast units
        (nn.fast.rescaled_state, two passes fewer a step), torch's units again when it ends; a CUDA
        graph's steps (captured with the state in torch's units) run as they are."""
        return contextlib.nullcontext() if self.cuda_graph else rescaled_state(self.optimizer)

    def step(self, x):
        """One training step on the batch x (nothing read back to the host)."""
        if self.cuda_graph and self._captured is None:
            self._captured = CapturedStep(self.model, self.loss, self.optimizer, x.shape, graphs=self._graphs)
        value = None
        if self._captured is not None:
            try:
                if tuple(x.shape) == self._captured.batch_shape:
                    value = self._captured.step(x).copy()  # loss_value is overwritten by the next replay
                else:
                    value = self._captured.eager_step(x).copy()
            except CaptureFailed as error:  # nothing was changed: this step and the next ones eager
                self._refuse(str(error).removeprefix("CapturedStep: "))
                self._captured = None
                print(f"autoencoders: {self.notice}", file=sys.stderr)
        if value is None:
            value = self.plan.forward(x, x)
            self.optimizer.zero_grad()
            self.plan.backward(need_input_grad=False)
            self.optimizer.step()
        self._values.append(value)
        self._penalties.append(getattr(self.model, "penalty", 0.0))

    def last_loss(self):
        """The last step's loss (reading it waits for the GPU)."""
        return float(self._values[-1]) + self._penalties[-1]

    def epoch_losses(self):
        """The objectives (loss plus the model's code penalty) of the steps since the last call, as
        floats, read in one transfer; then forgotten."""
        if not self._values:
            return []
        xp = backend.get_array_module(self._values[0])
        values = backend.to_numpy(xp.stack(self._values)).tolist()
        values = [value + penalty for value, penalty in zip(values, self._penalties)]
        self._values, self._penalties = [], []
        return values
