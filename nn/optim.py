"""SGD, Adam and AdamW, with torch.optim's signatures, defaults and update rules.

``step()`` runs each rule as its formula reads, parameter by parameter (``sgd`` and ``adam`` below),
as torch does on the CPU by default. Torch's own switches choose a faster form of the same rule:
``foreach=True`` updates a parameter group as one flat buffer, a handful of whole-buffer passes
instead of a loop over tensors; ``fused=True`` runs the rule as one GPU kernel. Both live in
nn/fast/optim.py, which tests hold equal to the rules here.

What every optimizer shares (parameter groups, their checks, ``zero_grad``, ``step``'s loop over
the parameters, state dicts) is in nn/optimizer.py.
"""
from . import backend
from .optimizer import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "sgd", "adam"]


def sgd(param, grad, state, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One SGD step, in place on ``param`` and ``state['momentum_buffer']``; ``state['step']`` is t,
    already counting this step."""
    g = -grad if maximize else grad
    d = g + weight_decay * param
    if momentum:
        b = d if state["step"] == 1 else momentum * state["momentum_buffer"] + (1 - dampening) * d
        state["momentum_buffer"][...] = b
        d = d + momentum * b if nesterov else b
    param -= lr * d


def adam(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """One Adam step, in place on ``param`` and the state's m, v (and v_max); ``state['step']`` is t."""
    (beta1, beta2), t, g = betas, state["step"], -grad if maximize else grad
    if decoupled_weight_decay:
        param -= lr * weight_decay * param  # AdamW: the decay apart from the gradient
    g = g if decoupled_weight_decay else g + weight_decay * param
    state["exp_avg"][...] = m = beta1 * state["exp_avg"] + (1 - beta1) * g
    state["exp_avg_sq"][...] = v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
    if amsgrad:
        state["max_exp_avg_sq"][...] = v = backend.get_array_module(v).maximum(state["max_exp_avg_sq"], v)
    param -= lr * (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)) ** 0.5 + eps)


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD; the rule is ``sgd`` above.

    With g the gradient (-g with maximize) and t the step:

        d = g + weight_decay * p
        momentum:  b = d at t = 1, else b = momentum * b + (1 - dampening) * d
                   d = d + momentum * b  (nesterov)   or   d = b
        p = p - lr * d

    ``momentum_buffer`` (b, one entry per parameter element) is the state kept when momentum != 0.
    """

    unsupported = {"differentiable": False}
    rule, options = staticmethod(sgd), ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
    optional = {"maximize": False}

    def __init__(self, params, lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    @classmethod
    def check_group(cls, group, where):
        super().check_group(group, where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']!r}, dampening={group['dampening']!r}")

    @staticmethod
    def state_names(group):
        return ("momentum_buffer",) if group["momentum"] else ()



class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam; the rule is ``adam`` above.

    With g the gradient (-g with maximize), t the step and (beta1, beta2) = betas:

        g = g + weight_decay * p            (L2; decoupled_weight_decay: p = p - lr * weight_decay * p)
        m = beta1 * m + (1 - beta1) * g     the running mean of g       (state 'exp_avg')
        v = beta2 * v + (1 - beta2) * g^2   the running mean of g^2     (state 'exp_avg_sq')
        amsgrad: v_max = max(v_max, v), used for v below                (state 'max_exp_avg_sq')
        m_hat = m / (1 - beta1^t)           v_hat = v / (1 - beta2^t)   (the bias corrections)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    unsupported = {"capturable": False, "differentiable": False}
    rule, options = staticmethod(adam), ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")
    optional = {"maximize": False, "decoupled_weight_decay": False}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, capturable=capturable, differentiable=differentiable,
                                      fused=fused))

    @staticmethod
    def state_names(group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    def rule_options(self, group):
        return {**super().rule_options(group), "decoupled_weight_decay": self.decoupled(group)}

    @staticmethod
    def decoupled(group):
        return group["decoupled_weight_decay"]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW: the rule is ``adam``
    with decoupled_weight_decay=True, that is p = p - lr * weight_decay * p, then the Adam step with
    g = grad (no L2 term). Default weight_decay 0.01, as torch."""

    unsupported = {"capturable": False, "differentiable": False}
    optional = {"maximize": False}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        Optimizer.__init__(self, params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                              amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                              capturable=capturable, differentiable=differentiable, fused=fused))

    @staticmethod
    def decoupled(group):
        return True
