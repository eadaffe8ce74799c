"""One training step whose elementwise chains are fused across module boundaries, planned once per model.

A module can fuse its own chains (the Sigmoid does, on the GPU). Two costly chains cross a boundary
between modules, so only something that sees the whole model can fuse them:

    Linear then ReLU, forward        y = max(x W^T + b, 0)                 the bias add and the ReLU: one
                                                                           kernel after the matrix product
    Sigmoid then MSELoss, backward   dL/dz = (1 - y) y ((y - target) s)    the loss's backward and the
                                     s = 2 / M (mean) or 2 (sum)           Sigmoid's: one kernel

``plan_fused_step(model, loss)`` reads the layers x passes through, in order (``layer_sequence``),
pairs them, and returns a ``FusedStep`` that takes the training step as the engine always does:

    step = plan_fused_step(model, nn.MSELoss())
    print(step.describe())                  # which modules pair up, and the kernel each pair runs
    value = step.forward(x, x)              # forward and loss: the loss value, a 0-d array
    optimizer.zero_grad()
    step.backward(need_input_grad=False)    # the gradients, in each parameter's .grad
    optimizer.step()

Each module keeps its formula: a paired Linear and ReLU compute their forward through
``fused_gpu.run("bias_relu", ...)`` and leave the caches their own forwards would leave, so backward
is the modules' own backward (ReLU's, then Linear's). The Sigmoid-MSE pair's backward is
``fused_gpu.run("mse_sigmoid_backward", ...)`` in place of ``loss.backward()`` then
``sigmoid.backward(...)``. ``fused_gpu.run`` takes the fused kernels on the GPU and the plain forms
elsewhere: on NumPy a planned step gives the unfused step's numbers bit for bit
(tests/test_nn_fused_step.py). A model whose forward is more than a chain of layers (a code penalty,
noise, a sampled code) is planned with no fusion: its own forward and backward.
"""
import inspect

from . import fused_gpu
from .activations import ReLU, Sigmoid
from .layers import Linear
from .losses import MSELoss
from .module import Sequential


def layer_sequence(model):
    """The layers x passes through, in order, when ``model``'s forward is exactly that chain: a
    Sequential (nested ones flattened, see ``layers_of``), or what the model's own
    ``layer_sequence()`` says (the autoencoders: their encoder's layers, then their decoder's).
    None for any other model, or when its own says its forward is more than a chain."""
    if type(model).forward is Sequential.forward and type(model).backward is Sequential.backward:
        parts = [layers_of(module) for module in model]
        return None if any(part is None for part in parts) else [layer for part in parts for layer in part]
    own = getattr(model, "layer_sequence", None)
    return own() if own is not None else None


def layers_of(module):
    """A module inside a chain as layers: its ``layer_sequence`` where it has one (a Sequential, a
    model that says), else the module itself as one layer."""
    is_sequential = isinstance(module, Sequential) or hasattr(module, "layer_sequence")
    return layer_sequence(module) if is_sequential else [module]


class LinearReLU:
    """A Linear followed by a ReLU, its forward fused: y = max(x W^T + b, 0) (``fused_gpu.bias_relu``).

    Backward is the two modules' own: dL/ds = g [y > 0] (ReLU), then dL/dW, dL/db, dL/dx (Linear)."""

    def __init__(self, linear, relu):
        self.linear, self.relu = linear, relu

    def forward(self, x):
        weight = self.linear.weight.data
        if x.ndim < 1 or x.shape[-1] != weight.shape[1] or x.dtype != weight.dtype:
            return self.relu(self.linear(x))  # the modules' own forwards, and their own errors
        y = fused_gpu.run("bias_relu", x @ weight.T, self.linear.bias.data)
        # The caches the two forwards would have left (x for dL/dW, y for the ReLU's mask): no module
        # hook sets them, so they are written here, where the two forwards were replaced.
        self.linear._input, self.relu._output = x, y
        return y

    __call__ = forward

    def backward(self, grad_output):
        return self.linear.backward(self.relu.backward(grad_output))

    def __repr__(self):
        return f"Linear({self.linear.in_features}->{self.linear.out_features}) + ReLU"


class FusedStep:
    """Forward, loss and backward of one training step of ``model`` on ``loss``, planned by
    ``plan_fused_step``. ``stages``: the chain as it runs (modules and LinearReLU pairs), or None
    for the model's own forward and backward; ``fuse_output``: whether the last Sigmoid's backward
    and the MSE loss's are one kernel."""

    def __init__(self, model, loss, stages, fuse_output):
        self.model, self.loss, self.stages, self.fuse_output = model, loss, stages, fuse_output
        self._sets_input_grad = "need_input_grad" in inspect.signature(model.backward).parameters
        self._prediction = self._target = None

    def forward(self, x, target):
        """The loss of model(x) against target, a 0-d array (nothing read to the host)."""
        if self.stages is None:
            prediction = self.model(x)
        else:
            prediction = x
            for stage in self.stages:
                prediction = stage(prediction)
        self._prediction, self._target = prediction, target
        return self.loss(prediction, target)

    def backward(self, need_input_grad=True):
        """Accumulate dL/dparameters into each .grad; returns dL/dx (None when not needed and skipped)."""
        if self.stages is None:
            options = {"need_input_grad": need_input_grad} if self._sets_input_grad else {}
            return self.model.backward(self.loss.backward(), **options)
        stages = self.stages
        if self.fuse_output:
            y, reduction = self._prediction, self.loss.reduction
            scale = 2.0 / y.size if reduction == "mean" else 2.0
            grad = fused_gpu.run("mse_sigmoid_backward", y, self._target.astype(y.dtype, copy=False), scale)
            stages = stages[:-1]  # the Sigmoid's backward is inside the kernel
        else:
            grad = self.loss.backward()
        first = stages[0] if stages else None
        first = first.linear if isinstance(first, LinearReLU) else first
        if self._sets_input_grad and hasattr(first, "needs_input_grad"):
            first.needs_input_grad = need_input_grad  # as the model's own backward does for its data layer
        for stage in reversed(stages):
            grad = stage.backward(grad)
        return grad

    def describe(self):
        """One line per fused chain: the modules and the kernel they run."""
        if self.stages is None:
            return [f"no fusion: {type(self.model).__name__}'s forward is more than a chain of layers"]
        lines = [f"bias_relu: {stage!r}" for stage in self.stages if isinstance(stage, LinearReLU)]
        if self.fuse_output:
            lines.append(f"mse_sigmoid_backward: Sigmoid + MSELoss(reduction={self.loss.reduction!r})")
        return lines or ["no fusion: no Linear + ReLU pair and no Sigmoid + MSELoss at the output"]


def plan_fused_step(model, loss, *, fuse=True):
    """The FusedStep of ``model`` trained on ``loss``: each Linear (with a bias) directly followed by
    a ReLU becomes a LinearReLU pair, and a last Sigmoid scored by MSELoss (mean or sum) has its
    backward fused with the loss's. ``fuse=False``: no fusion (the model's own forward and backward)."""
    sequence = layer_sequence(model) if fuse else None
    if sequence is None:
        return FusedStep(model, loss, None, False)
    stages, index = [], 0
    while index < len(sequence):
        module, following = sequence[index], sequence[index + 1] if index + 1 < len(sequence) else None
        if type(module) is Linear and module.bias is not None and type(following) is ReLU:
            stages.append(LinearReLU(module, following))
            index += 2
        else:
            stages.append(module)
            index += 1
    fuse_output = (type(loss) is MSELoss and loss.reduction in ("mean", "sum") and bool(stages)
                   and type(stages[-1]) is Sigmoid)
    return FusedStep(model, loss, stages, fuse_output)
