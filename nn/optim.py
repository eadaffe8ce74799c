"""Optimizers with torch.optim's update rules and defaults: SGD, Adam, AdamW.

All parameters an optimizer is given are packed into one contiguous buffer (and their gradients
into another); each ``Parameter.data`` / ``.grad`` becomes a view into it. A step is then a
handful of whole-buffer array operations instead of a Python loop over tensors, which is what
makes small models fast. Layers never notice: they read ``p.data`` and add into ``p.grad`` as before.
"""
import math

import numpy

from . import backend
from .module import Parameter


class FlatParameters:
    """Parameters and gradients as views of two flat buffers ``data`` and ``grad``."""

    def __init__(self, parameters):
        parameters = list(parameters)
        if not parameters:
            raise ValueError("optimizer got an empty parameter list: pass model.parameters() of a model with parameters")
        for index, parameter in enumerate(parameters):
            if not isinstance(parameter, Parameter):
                raise TypeError(f"optimizer: item {index} is {type(parameter).__name__}, not an nn.Parameter")
        if len({id(parameter) for parameter in parameters}) != len(parameters):
            raise ValueError("optimizer: a parameter appears more than once in the list")
        first = parameters[0].data
        for parameter in parameters:
            if parameter.dtype != first.dtype or backend.device_of(parameter.data) != backend.device_of(first):
                raise ValueError(f"optimizer: parameters mix {first.dtype} on {backend.device_of(first)!r} with "
                                 f"{parameter.dtype} on {backend.device_of(parameter.data)!r}; move the whole model with .to()")
        xp = backend.get_array_module(first)
        total = sum(parameter.size for parameter in parameters)
        self.data = xp.empty(total, dtype=first.dtype)
        self.grad = xp.empty(total, dtype=first.dtype)
        offset = 0
        for parameter in parameters:
            end = offset + parameter.size
            self.data[offset:end] = parameter.data.ravel()
            self.grad[offset:end] = parameter.grad.ravel()
            parameter.data = self.data[offset:end].reshape(parameter.shape)
            parameter.grad = self.grad[offset:end].reshape(parameter.shape)
            offset = end
        self._views = [(parameter, parameter.data, parameter.grad) for parameter in parameters]

    def check(self):
        """Raise if a parameter's arrays were replaced (e.g. by model.to()) after packing."""
        for parameter, data, grad in self._views:
            if parameter.data is not data or parameter.grad is not grad:
                raise RuntimeError(f"optimizer: {parameter!r} was replaced after the optimizer was built "
                                   "(model.to(), or an assignment to .data/.grad); build the optimizer after moving "
                                   "the model, and change values in place (p.data[...] = ...)")


class Optimizer:
    """Shared machinery: the flat buffers, ``zero_grad``, the step counter and state dicts.

    ``state_dict()`` is a flat {name: number or array} holding the step count, the hyperparameters
    and the per-element state buffers, so training can resume exactly.
    """

    hyperparameter_names = ("lr",)
    state_names = ()

    def __init__(self, params):
        self.flat = FlatParameters(params)
        self.parameters = [parameter for parameter, _, _ in self.flat._views]
        self.step_count = 0
        xp = backend.get_array_module(self.flat.data)
        if xp is numpy:
            backend.keep_freed_memory()  # training is about to allocate and free activations every step
        for name in self.state_names:
            setattr(self, name, xp.zeros_like(self.flat.data))
        # Scratch space for the update, allocated once rather than on every step.
        self._work = xp.empty_like(self.flat.data)

    def zero_grad(self):
        self.flat.grad.fill(0)

    def step(self):
        self.flat.check()
        self.step_count += 1
        self._update(self.flat.data, self.flat.grad)

    def _update(self, param, grad):
        raise NotImplementedError

    @classmethod
    def _check(cls, **hyperparameters):
        """Raise ValueError for hyperparameters the update cannot use (the constructor's checks)."""

    def state_dict(self):
        state = {"step": self.step_count}
        for name in self.hyperparameter_names:
            state[name] = getattr(self, name)
        for name in self.state_names:
            state[name] = getattr(self, name).copy()
        return state

    def load_state_dict(self, state):
        """Restore a state dict of the same optimizer over the same parameters, all or nothing."""
        expected = {"step", *self.hyperparameter_names, *self.state_names}
        problems = [f"missing key {name!r}" for name in sorted(expected - set(state))]
        problems += [f"unexpected key {name!r}" for name in sorted(set(state) - expected)]
        for name in self.state_names:
            if name in state and tuple(state[name].shape) != tuple(self.flat.data.shape):
                problems.append(f"key {name!r} has shape {tuple(state[name].shape)}, expected {tuple(self.flat.data.shape)}")
        hyperparameters = {name: _as_python(state[name]) for name in self.hyperparameter_names if name in state}
        if not problems:
            try:
                self._check(**hyperparameters)
            except (ValueError, TypeError) as error:
                problems.append(str(error))
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + "; nothing was loaded")
        self.step_count = int(state["step"])
        for name, value in hyperparameters.items():
            setattr(self, name, value)
        device = backend.device_of(self.flat.data)
        for name in self.state_names:
            getattr(self, name)[...] = backend.to_device(state[name], device).astype(self.flat.data.dtype, copy=False)


def _as_python(value):
    """A hyperparameter read back from an array (a checkpoint) as the Python number or tuple it was."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return tuple(value) if isinstance(value, list) else value


def _check_hyperparameters(name, lr, weight_decay, eps=0.0, betas=(0.0, 0.0)):
    if not lr >= 0:
        raise ValueError(f"{name}: learning rate must be >= 0, got lr={lr!r}")
    if not weight_decay >= 0:
        raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay!r}")
    if not eps >= 0:
        raise ValueError(f"{name}: eps must be >= 0, got {eps!r}")
    for index, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"{name}: betas[{index}] must be in [0, 1), got {beta!r}")


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD. With d = g + weight_decay * p:

        momentum:  b = d on the first step, then b = momentum b + (1 - dampening) d
                   d = d + momentum b (nesterov)  or  d = b
        update:    p = p - lr d
    """

    hyperparameter_names = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self._check(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.state_names = ("momentum_buffer",) if momentum else ()
        super().__init__(params)

    @classmethod
    def _check(cls, lr, momentum, dampening, weight_decay, nesterov):
        _check_hyperparameters("SGD", lr, weight_decay)
        if not momentum >= 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")

    def _update(self, param, grad):
        direction = grad
        if self.weight_decay:
            direction = grad + param * self.weight_decay
        if self.momentum:
            buffer = self.momentum_buffer
            if self.step_count == 1:
                buffer[...] = direction
            else:
                buffer *= self.momentum
                buffer += direction * (1 - self.dampening)
            direction = direction + buffer * self.momentum if self.nesterov else buffer
        param -= direction * self.lr


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam. At step t, with g = grad + weight_decay * p (L2):

        m = beta1 m + (1 - beta1) g           v = beta2 v + (1 - beta2) g^2
        (amsgrad: v_max = max(v_max, v), used in place of v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    hyperparameter_names = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        self._check(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.weight_decay, self.amsgrad = weight_decay, amsgrad
        self.state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if amsgrad else ("exp_avg", "exp_avg_sq")
        self._decayed_grad = None  # allocated on the first step with L2 weight decay
        super().__init__(params)

    @classmethod
    def _check(cls, lr, betas, eps, weight_decay, amsgrad):
        if len(tuple(betas)) != 2:
            raise ValueError(f"{cls.__name__}: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_hyperparameters(cls.__name__, lr, weight_decay, eps, tuple(betas))

    def _update(self, param, grad):
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.step_count)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** self.step_count)
        if backend.device_of(param) == "gpu":
            return _fused_adam_gpu(self, param, grad, step_size, bias_correction2_sqrt)
        xp = backend.get_array_module(param)
        m, v, work = self.exp_avg, self.exp_avg_sq, self._work
        # Every operation writes into m, v, param or the scratch buffer: no array is allocated per step.
        if self.weight_decay and self.decoupled_weight_decay:
            param *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            grad = self._l2_grad(grad, param)
        xp.subtract(grad, m, out=work)                 # m = m + (g - m)(1 - beta1), torch's lerp
        work *= 1 - beta1
        m += work
        v *= beta2                                     # v = beta2 v + (1 - beta2) g^2
        xp.multiply(grad, grad, out=work)
        work *= 1 - beta2
        v += work
        if self.amsgrad:
            xp.maximum(self.max_exp_avg_sq, v, out=self.max_exp_avg_sq)
            v = self.max_exp_avg_sq
        # p -= step_size m / (sqrt(v) / c + eps) with c = sqrt(1 - beta2^t), computed as
        # p -= (step_size c) m / (sqrt(v) + eps c): the same value up to rounding, in one pass fewer.
        xp.sqrt(v, out=work)
        work += self.eps * bias_correction2_sqrt
        xp.divide(m, work, out=work)
        work *= step_size * bias_correction2_sqrt
        param -= work

    def _l2_grad(self, grad, param):
        """g + weight_decay * p, in a second scratch buffer kept for the purpose."""
        if self._decayed_grad is None:
            self._decayed_grad = backend.get_array_module(param).empty_like(param)
        backend.get_array_module(param).multiply(param, self.weight_decay, out=self._decayed_grad)
        self._decayed_grad += grad
        return self._decayed_grad


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    first p = p (1 - lr weight_decay), then the Adam step with g = grad (no L2 term)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# --- the GPU path: the whole Adam update as one fused kernel over the flat buffer ----------------
_ADAM_OPERATION = """
    param *= decay;
    T g = grad + l2 * param;
    exp_avg += (g - exp_avg) * one_minus_beta1;
    exp_avg_sq = exp_avg_sq * beta2 + one_minus_beta2 * g * g;
    T second_moment = exp_avg_sq;
    AMSGRAD
    param -= step_size * exp_avg / (sqrt(second_moment) / bias_correction2_sqrt + eps);
"""
_ADAM_PARAMETERS = ("T grad, T decay, T l2, T one_minus_beta1, T beta2, T one_minus_beta2, "
                    "T step_size, T bias_correction2_sqrt, T eps")
_adam_kernels = {}


def adam_kernel_source(amsgrad):
    """(input parameters, output parameters, body) of the fused Adam kernel, in CUDA C."""
    outputs = "T param, T exp_avg, T exp_avg_sq" + (", T max_exp_avg_sq" if amsgrad else "")
    amsgrad_lines = ("max_exp_avg_sq = fmax(max_exp_avg_sq, exp_avg_sq); second_moment = max_exp_avg_sq;"
                     if amsgrad else "")
    return _ADAM_PARAMETERS, outputs, _ADAM_OPERATION.replace("AMSGRAD", amsgrad_lines)


def _fused_adam_gpu(optimizer, param, grad, step_size, bias_correction2_sqrt):
    amsgrad = optimizer.amsgrad
    if amsgrad not in _adam_kernels:
        _adam_kernels[amsgrad] = backend.compile_elementwise(*adam_kernel_source(amsgrad), name="nn_fused_adam")
    beta1, beta2 = optimizer.betas
    decoupled = optimizer.decoupled_weight_decay
    decay = 1 - optimizer.lr * optimizer.weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else optimizer.weight_decay
    dtype = param.dtype.type  # scalars in the parameters' precision, so T is one type throughout
    outputs = [param, optimizer.exp_avg, optimizer.exp_avg_sq] + ([optimizer.max_exp_avg_sq] if amsgrad else [])
    _adam_kernels[amsgrad](grad, dtype(decay), dtype(l2), dtype(1 - beta1), dtype(beta2), dtype(1 - beta2),
                           dtype(step_size), dtype(bias_correction2_sqrt), dtype(optimizer.eps), *outputs)
