"""``compile(model, loss)``: one training step of a model and its loss in the fast forms, planned once.

The modules' own ``forward`` and ``backward`` are their formulas (nn/layers.py, nn/activations.py,
nn/losses.py), each call passing the gate. A compiled step runs the same formulas rearranged, for
the layers x passes through in order (``layer_sequence``):

    Linear then ReLU, forward        y = max(x W^T + b, 0), in place in the product's array; one fused
                                     kernel after the matrix product on the GPU (kernels.bias_relu)
    Linear, backward                 dL/dW = g^T x written straight into the optimizer's flat gradient
                                     buffer (foreach=True), dL/db summed into it: no temporaries
    ReLU, backward                   g * [y > 0] in place in g (an array the step itself made)
    Sigmoid, forward                 1 / (1 + e^-x) in four passes over one new array (one kernel on the GPU)
    Sigmoid then MSELoss, backward   dL/dz = (1 - y) y ((y - target) s), s = 2 / M (mean) or 2 (sum):
                                     the loss's backward and the Sigmoid's in one pass (one kernel on the GPU);
                                     on the CPU in four passes over the difference y - target that the loss's
                                     forward made (nn/fast/activations.py mse_sigmoid_backward_reusing)

    step = nn.fast.compile(model, nn.MSELoss())
    print(step.describe())                  # which modules take which fast form
    value = step.forward(x, x)              # forward and loss: the loss value, a 0-d array
    optimizer.zero_grad()
    step.backward(need_input_grad=False)    # the gradients, in each parameter's .grad
    optimizer.step()

Each fast stage leaves the caches its modules' forwards would leave, so a module that is not fused
runs its own forward and backward through the gate. Forward and full backward hooks run as at the
gate: a Linear with forward hooks is not paired with its ReLU (its hook sees its own output; one with
only backward hooks is, and they see its dL/dy, the ReLU's backward taken), a hooked ReLU keeps its
own forward and backward, a module with pre-hooks is not fused, and a hooked output Sigmoid keeps its
backward apart from the loss's. A model whose forward is more than a chain of layers (a code penalty,
noise, a sampled code)
is compiled with no fusion: its own forward and backward; so is a chain with one module at two places
(a stage keeps its cache in its module, as the gate does: the model's own backward refuses it with the
fix for tied weights, where fused stages would differentiate the first place with the second's cache).
tests/test_nn_fast_step.py holds a
compiled step equal to the plain one, gradients and updates, on every model the command lines train.
"""
import inspect

import numpy

from . import kernels
from .activations import mse_sigmoid_backward_reusing, sigmoid_backward_fast, sigmoid_fast
from ..activations import ReLU, Sigmoid
from ..layers import Linear
from ..losses import MSELoss
from ..module import Module, Sequential, _record, _refusal, _RELEASED  # the gate's record, refusal, mark of a used cache


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


def _hooked(module):
    return bool(module._forward_pre_hooks or module._forward_hooks or module._backward_pre_hooks
                or module._backward_hooks)


def _pre_hooked(module):
    return bool(module._forward_pre_hooks or module._backward_pre_hooks)


def _forward_hooks(module, x, y):
    """The module's forward hooks, as its gate runs them: hook(module, (x,), y) may return a new y."""
    for hook in tuple(module._forward_hooks.values()):
        changed = hook(module, (x,), y)
        if changed is not None:
            y = changed
    return y


def _backward_hooks(module, grad_input, grad_output):
    """The module's full backward hooks: hook(module, (grad_input,), (grad_output,)) may return a new one."""
    for hook in tuple(module._backward_hooks.values()):
        changed = hook(module, (grad_input,), (grad_output,))
        if changed is not None:
            grad_input = changed[0]
    return grad_input


def _free_slot(parameter):
    """The flat slot an optimizer with foreach=True gave ``parameter``, when its gradient can be computed
    straight into it (it has none yet); else None, and the gradient goes through ``accumulate_grad``."""
    slot = getattr(parameter, "_flat_grad", None)
    return slot if slot is not None and parameter.grad is None and parameter.requires_grad else None


class FastLinear:
    """Linear (followed by ReLU when ``relu`` is given): the same numbers as ``Linear.forward`` and
    ``Linear.backward`` (and the ReLU's), computed in place."""

    def __init__(self, linear, relu=None):
        self.linear, self.relu = linear, relu
        self._own = False  # whether the last forward was the modules' own (an input the fast form does not take)

    def forward(self, x):
        linear = self.linear
        weight = linear.weight.data
        if x.ndim != 2 or x.shape[1] != linear.in_features or x.dtype != weight.dtype or type(x) is not type(weight):
            self._own = True  # the modules' own forward (and errors): their own backward follows it
            y = linear(x)
            return self.relu(y) if self.relu is not None else y
        self._own = False
        y = x @ weight.T
        if self.relu is not None and linear.bias is not None:
            y = kernels.run("bias_relu_in_place", y, linear.bias.data)
        else:
            if linear.bias is not None:
                y += linear.bias.data
            if self.relu is not None:
                kernels.xp_of(y).maximum(y, 0, out=y)
        linear._input, linear._gate = x, _record(y)
        if self.relu is not None:
            self.relu._output, self.relu._gate = y, linear._gate  # the same array: the same record
        elif linear._forward_hooks:  # a hooked Linear is never paired: its hook sees its own output
            y = _forward_hooks(linear, x, y)
        return y

    def backward(self, grad_output, need_input_grad=True):
        if self._own:
            grad_output = self.relu.backward(grad_output) if self.relu is not None else grad_output
            return Gated(self.linear).backward(grad_output, need_input_grad)
        if self.relu is not None:
            grad_output *= self.relu._output > 0  # g * [y > 0], in the step's own gradient array
            self.relu._gate = _RELEASED
        linear, x, g = self.linear, self.linear._input, grad_output
        weight, bias = linear.weight, linear.bias
        slot = _free_slot(weight)  # dL/dW = g^T x, into the flat slot or accumulated as the plain form
        if slot is not None:
            kernels.xp_of(g).matmul(g.T, x, out=slot)
            weight.grad = slot
        else:
            weight.accumulate_grad(g.T @ x)
        if bias is not None:
            slot = _free_slot(bias)  # dL/db = sum over the batch
            if slot is not None:
                bias.grad = g.sum(axis=0, out=slot)
            else:
                bias.accumulate_grad(g.sum(axis=0))
        linear._gate = _RELEASED
        grad_input = g @ linear.weight.data if need_input_grad and linear.needs_input_grad else None
        return _backward_hooks(linear, grad_input, g) if linear._backward_hooks else grad_input

    def __repr__(self):
        relu = " + ReLU" if self.relu is not None else ""
        return f"Linear({self.linear.in_features}->{self.linear.out_features}){relu}"


class FastReLU:
    """ReLU alone (after a module it is not paired with): ``ReLU.forward``'s and ``backward``'s numbers,
    written in place into the arrays the step made (y into x, dL/dx into g)."""

    def __init__(self, relu):
        self.relu = relu

    def forward(self, x):
        y = kernels.xp_of(x).maximum(x, 0, out=x)
        self.relu._output, self.relu._gate = y, _record(y)
        return y

    def backward(self, grad_output, need_input_grad=True):
        self.relu._gate = _RELEASED
        grad_output *= self.relu._output > 0
        return grad_output

    def __repr__(self):
        return "ReLU"


class FastSigmoid:
    """Sigmoid: ``Sigmoid.forward``'s and ``backward``'s numbers in fewer passes (one kernel each on the GPU)."""

    def __init__(self, sigmoid):
        self.sigmoid = sigmoid

    def forward(self, x):
        y = sigmoid_fast(x)
        self.sigmoid._output, self.sigmoid._gate = y, _record(y)
        return _forward_hooks(self.sigmoid, x, y) if self.sigmoid._forward_hooks else y

    def backward(self, grad_output, need_input_grad=True):
        self.sigmoid._gate = _RELEASED
        grad_input = sigmoid_backward_fast(self.sigmoid._output, grad_output)
        return _backward_hooks(self.sigmoid, grad_input, grad_output) if self.sigmoid._backward_hooks else grad_input

    def __repr__(self):
        return "Sigmoid"


class Gated:
    """A module that keeps its own forward and backward, through the gate."""

    def __init__(self, module):
        self.module = module

    def forward(self, x):
        return self.module(x)

    def backward(self, grad_output, need_input_grad=True):
        if not need_input_grad and hasattr(self.module, "needs_input_grad"):
            self.module.needs_input_grad = False
            try:
                return self.module.backward(grad_output)
            finally:
                self.module.needs_input_grad = True
        return self.module.backward(grad_output)

    def __repr__(self):
        return type(self.module).__name__


def _same_kind(array, like):
    """Whether ``array`` is an array of ``like``'s type, shape and dtype."""
    return type(array) is type(like) and array.shape == like.shape and array.dtype == like.dtype


class FastStep:
    """Forward, loss and backward of one training step of ``model`` on ``loss``, planned by
    ``compile``. ``stages``: the chain as it runs, or None for the model's own forward and backward;
    ``fuse_output``: whether the last Sigmoid's backward and the MSE loss's are one pass."""

    def __init__(self, model, loss, stages, fuse_output, unfused="'s forward is more than a chain of layers"):
        self.model, self.loss, self.stages, self.fuse_output = model, loss, stages, fuse_output
        self.unfused = unfused  # why there are no stages (describe's words)
        self._sets_input_grad = "need_input_grad" in inspect.signature(model.backward).parameters
        self._prediction = self._target = None

    def forward(self, x, target):
        """The loss of model(x) against target, a 0-d array (nothing read to the host)."""
        if self.stages is None:
            prediction = self.model(x)
        else:
            prediction = x
            for stage in self.stages:
                prediction = stage.forward(prediction)
        self._prediction, self._target = prediction, target
        loss = self.loss
        if (self.fuse_output and type(prediction) is type(target) is numpy.ndarray and prediction.size
                and prediction.shape == target.shape and prediction.dtype == target.dtype
                and loss.check_input is None and not _hooked(loss)):
            # MSELoss's forward with nothing for its gate and its checks to do (two NumPy float arrays of
            # one shape and dtype, no hooks): its formula, and the record its gate would leave.
            difference = prediction - target
            loss._difference, loss._prediction = difference, prediction
            value = loss.reduce(difference * difference)
            loss._gate = _record(value)
            return value
        return loss(prediction, target)

    def backward(self, need_input_grad=True):
        """Accumulate dL/dparameters into each .grad; returns dL/dx (None when not needed and skipped).
        Refused, as the loss's own backward is, without a forward since the last backward."""
        if self.stages is None:
            options = {"need_input_grad": need_input_grad} if self._sets_input_grad else {}
            return self.model.backward(self.loss.backward(), **options)
        stages = self.stages
        if self.fuse_output:
            if self.loss._gate is None or self.loss._gate is _RELEASED:
                # no forward since the last backward (or none yet): refused as the loss's own backward is, not
                # differentiated again from the spent cache (the plain step's loss.backward() refuses it too)
                raise RuntimeError(_refusal(self.loss, self.loss._gate))
            y = self._prediction
            scale = 2.0 / y.size if self.loss.reduction == "mean" else 2.0
            difference = getattr(self.loss, "_difference", None)
            if not kernels.on_gpu(y) and _same_kind(difference, y):
                # On the CPU, from the difference the loss's forward made (its cache, spent here as the
                # loss's own backward would spend it): the same numbers as the kernel's plain form.
                grad = mse_sigmoid_backward_reusing(y, difference, scale)
                self.loss._difference, self.loss._gate = None, _RELEASED
            else:
                grad = kernels.run("mse_sigmoid_backward", y, self._target.astype(y.dtype, copy=False), scale)
                if isinstance(grad, numpy.generic):  # a 0-d output, where NumPy's ufuncs give a scalar: a 0-d
                    grad = numpy.asarray(grad)  # array, as the gate gives the plain Sigmoid's backward
            stages[-1].sigmoid._gate = self.loss._gate = _RELEASED  # both backwards are in that pass
            stages = stages[:-1]  # the Sigmoid's backward is in that pass
        else:
            grad = self.loss.backward()
        for index in range(len(stages) - 1, -1, -1):
            grad = stages[index].backward(grad, need_input_grad or index > 0)
        return grad

    def describe(self):
        """One line per fast stage: the modules and the form they run."""
        if self.stages is None:
            return [f"no fusion: {type(self.model).__name__}{self.unfused}"]
        lines = [f"{stage!r}: {type(stage).__name__}" for stage in self.stages if not isinstance(stage, Gated)]
        if self.fuse_output:
            lines.append(f"mse_sigmoid_backward: Sigmoid + MSELoss(reduction={self.loss.reduction!r})")
        return lines or ["no fusion: no Linear, Sigmoid or Sigmoid + MSELoss to fuse"]


def compile(model, loss, *, fuse=True):
    """The FastStep of ``model`` trained on ``loss``. Each Linear becomes a FastLinear (with the ReLU
    that directly follows it; a ReLU after a Linear with forward hooks a FastReLU), each Sigmoid a FastSigmoid,
    and a last Sigmoid scored by MSELoss (mean or sum) has its backward fused with the loss's. ``fuse=False``: no fusion (the model's own
    forward and backward, through the gate)."""
    if not isinstance(model, Module) or not isinstance(loss, Module):
        raise TypeError(f"nn.fast.compile: pass an nn.Module and its loss, got {type(model).__name__} and "
                        f"{type(loss).__name__}")
    sequence = layer_sequence(model) if fuse else None
    if sequence is None:
        return FastStep(model, loss, None, False)
    if len({id(module) for module in sequence}) < len(sequence):
        # A stage keeps its cache in its module (a Linear's input, a ReLU's output): a module at two places
        # would be differentiated at the first with the second's cache. The model's own step refuses it.
        return FastStep(model, loss, None, False, " has one module at two places in its chain (a module keeps "
                        "the cache of its last call only): its own forward and backward, which refuse that")
    stages, index = [], 0
    while index < len(sequence):
        module, following = sequence[index], sequence[index + 1] if index + 1 < len(sequence) else None
        if type(module) is Linear and not _pre_hooked(module):
            # A Linear with forward hooks is not paired (its hook sees its own output, before the ReLU);
            # one with only backward hooks is: the pair's backward hands them the Linear's own dL/dy.
            pair = type(following) is ReLU and not _hooked(following) and not module._forward_hooks
            stages.append(FastLinear(module, following if pair else None))
            index += 2 if pair else 1
            continue
        if type(module) is ReLU and not _hooked(module) and stages and isinstance(stages[-1], FastLinear):
            stages.append(FastReLU(module))  # in place: its input is an array the step made
        elif type(module) is Sigmoid and not _pre_hooked(module):
            stages.append(FastSigmoid(module))
        else:
            stages.append(Gated(module))
        index += 1
    fuse_output = (type(loss) is MSELoss and loss.reduction in ("mean", "sum") and not _hooked(loss)
                   and isinstance(stages[-1], FastSigmoid) and not _hooked(stages[-1].sigmoid))
    return FastStep(model, loss, stages, fuse_output)
