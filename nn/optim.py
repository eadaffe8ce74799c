"""SGD, Adam and AdamW, with torch.optim's signatures, defaults and update rules.

Each class names its rule, written here as the formula reads (``sgd``, ``adam``); ``step()`` runs the
same rule rearranged for speed (``nn/optim_fast.py``: in place on one flat buffer per parameter group,
one fused kernel on the GPU), and tests hold the two equal. The shared machinery (parameter groups,
``zero_grad``, state dicts) is in ``nn/optimizer.py``.
"""
from . import backend, optim_fast
from .optimizer import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "sgd", "adam"]


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD; the rule is ``sgd`` below.

    With g the gradient (-g with maximize) and t the step:

        d = g + weight_decay * p
        momentum:  b = d at t = 1, else b = momentum * b + (1 - dampening) * d
                   d = d + momentum * b  (nesterov)   or   d = b
        p = p - lr * d

    ``momentum_buffer`` (b, one entry per parameter element) is the state kept when momentum != 0.
    """

    unsupported = {"foreach": None, "differentiable": False, "fused": None}
    optional = {"maximize": False}

    elementwise = True  # its rule may run on slices in several threads (Optimizer.elementwise)

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

    def update(self, param, grad, state, scratch, group):
        optim_fast.sgd_fast(param, grad, state, scratch, **{name: group[name] for name in SGD_OPTIONS})


SGD_OPTIONS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")


def sgd(param, grad, state, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One SGD step as the formula reads: updates ``param`` and ``state['momentum_buffer']`` in place.
    ``state['step']`` is t, already counting this step."""
    g = -grad if maximize else grad
    d = g + weight_decay * param
    if momentum:
        if state["step"] == 1:
            b = d
        else:
            b = momentum * state["momentum_buffer"] + (1 - dampening) * d
        state["momentum_buffer"][...] = b
        d = d + momentum * b if nesterov else b
    param -= lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam; the rule is ``adam`` below.

    With g the gradient (-g with maximize), t the step and (beta1, beta2) = betas:

        g = g + weight_decay * p            (L2; decoupled_weight_decay: p = p - lr * weight_decay * p)
        m = beta1 * m + (1 - beta1) * g     the running mean of g       (state 'exp_avg')
        v = beta2 * v + (1 - beta2) * g^2   the running mean of g^2     (state 'exp_avg_sq')
        amsgrad: v_max = max(v_max, v), used for v below                (state 'max_exp_avg_sq')
        m_hat = m / (1 - beta1^t)           v_hat = v / (1 - beta2^t)   (the bias corrections)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    unsupported = {"foreach": None, "capturable": False, "differentiable": False, "fused": None}
    optional = {"maximize": False, "decoupled_weight_decay": False}

    elementwise = True  # its rule may run on slices in several threads (Optimizer.elementwise)

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

    def update(self, param, grad, state, scratch, group):
        options = {name: group[name] for name in ADAM_OPTIONS}
        options["decoupled_weight_decay"] = self.decoupled(group)
        if backend.device_of(param) == "gpu":
            optim_fast.adam_gpu(param, grad, state, **options)
        else:
            optim_fast.adam_fast(param, grad, state, scratch, **options)

    @staticmethod
    def decoupled(group):
        return group["decoupled_weight_decay"]


ADAM_OPTIONS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")


def adam(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """One Adam step as the formula reads: updates ``param`` and the state's m, v (and v_max) in place.
    ``state['step']`` is t, already counting this step."""
    xp = backend.get_array_module(param)
    beta1, beta2 = betas
    t = state["step"]
    g = -grad if maximize else grad
    if decoupled_weight_decay:
        param -= lr * weight_decay * param
    else:
        g = g + weight_decay * param
    m = beta1 * state["exp_avg"] + (1 - beta1) * g
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g ** 2
    state["exp_avg"][...], state["exp_avg_sq"][...] = m, v
    if amsgrad:
        v_max = xp.maximum(state["max_exp_avg_sq"], v)
        state["max_exp_avg_sq"][...] = v_max
    m_hat = m / (1 - beta1 ** t)
    v_hat = (v_max if amsgrad else v) / (1 - beta2 ** t)
    param -= lr * m_hat / (xp.sqrt(v_hat) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW: the rule is ``adam``
    with decoupled_weight_decay=True, that is p = p - lr * weight_decay * p, then the Adam step with
    g = grad (no L2 term). Default weight_decay 0.01, as torch."""

    unsupported = {"foreach": None, "capturable": False, "differentiable": False, "fused": None}
    optional = {"maximize": False}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        Optimizer.__init__(self, params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                              amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                              capturable=capturable, differentiable=differentiable, fused=fused))

    @staticmethod
    def decoupled(group):
        return True
