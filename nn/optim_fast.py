"""The rules of nn/optim.py rearranged for speed; read those first.

``sgd_fast`` computes ``optim.sgd`` and ``adam_fast`` computes ``optim.adam``, with the same arguments
and the same names, on a group's whole flat buffer: every operation writes in place into the
parameters, the state or a scratch buffer, so a step allocates nothing, and the arithmetic is
arranged into as few whole-buffer passes as NumPy allows (each ufunc call is one pass; the counts
are in the comments). On the GPU, ``adam_gpu`` runs the rule as one fused CuPy kernel (one pass).
The results equal the plain rules' up to rounding (tests/test_nn_optim_fast.py holds them together).
"""
import math

from . import backend


def _gradient_with_decay(param, grad, scratch, weight_decay, maximize):
    """g + weight_decay * p, with g = -grad under maximize: grad itself (no pass) when neither applies,
    else 1 pass (maximize) or 2 (weight decay) into a scratch buffer."""
    if not (weight_decay or maximize):
        return grad
    xp = backend.get_array_module(param)
    g = scratch("g")
    if weight_decay:
        xp.multiply(param, weight_decay, out=g)
        (xp.subtract if maximize else xp.add)(g, grad, out=g)
    else:
        xp.negative(grad, out=g)
    return g


def sgd_fast(param, grad, state, scratch, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """optim.sgd in 2 passes (plain), 4 (momentum), 5 (dampening), 6 (nesterov); +2 weight decay, +1 maximize."""
    xp = backend.get_array_module(param)
    d = _gradient_with_decay(param, grad, scratch, weight_decay, maximize)
    work = scratch("work")
    if momentum:
        b = state["momentum_buffer"]
        if state["step"] == 1:
            b[...] = d
        else:  # b = momentum * b + (1 - dampening) * d
            b *= momentum
            if dampening:
                xp.multiply(d, 1 - dampening, out=work)
                b += work
            else:
                b += d
        if nesterov:  # d = d + momentum * b
            xp.multiply(b, momentum, out=work)
            work += d
            d = work
        else:
            d = b
    xp.multiply(d, lr, out=work)  # p = p - lr * d
    param -= work


def adam_fast(param, grad, state, scratch, lr, betas, eps, weight_decay, amsgrad, maximize,
              decoupled_weight_decay):
    """optim.adam in 12 passes (+1 amsgrad, +1 decoupled decay, +2 L2 decay, +1 maximize).

    The step p -= lr * m_hat / (sqrt(v_hat) + eps) is taken, with c = sqrt(1 - beta2^t), as
    p -= (lr * c / (1 - beta1^t)) * m / (sqrt(v) + eps * c): both bias corrections fold into one
    scalar and eps is scaled once, so m_hat and v_hat never take a pass of their own.
    """
    xp = backend.get_array_module(param)
    beta1, beta2 = betas
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    work = scratch("work")
    if weight_decay and decoupled_weight_decay:
        param *= 1 - lr * weight_decay
    g = _gradient_with_decay(param, grad, scratch, 0 if decoupled_weight_decay else weight_decay, maximize)
    xp.subtract(g, m, out=work)  # m = beta1 m + (1 - beta1) g, as m += (1 - beta1)(g - m): 3 passes
    work *= 1 - beta1
    m += work
    xp.multiply(g, g, out=work)  # v = beta2 v + (1 - beta2) g^2: 4 passes
    work *= 1 - beta2
    v *= beta2
    v += work
    if amsgrad:
        v_max = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
    c = math.sqrt(1 - beta2 ** t)
    xp.sqrt(v_max if amsgrad else v, out=work)  # p -= (lr c / (1 - beta1^t)) m / (sqrt(v) + eps c): 5 passes
    work += eps * c
    xp.divide(m, work, out=work)
    work *= lr * c / (1 - beta1 ** t)
    param -= work


# --- the GPU: optim.adam as one fused elementwise kernel over the flat buffer, in CUDA C -----------------
_ADAM_KERNEL = """
    T g = sign * grad + l2 * param;
    param *= decay;
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    AMSGRAD
    T m_hat = m / bias_correction1;
    T v_hat = V_USED / bias_correction2;
    param -= lr * m_hat / (sqrt(v_hat) + eps);
"""
_ADAM_INPUTS = "T grad, T sign, T l2, T decay, T beta1, T beta2, T bias_correction1, T bias_correction2, T lr, T eps"
_adam_kernels = {}


def adam_kernel_source(amsgrad):
    """(input parameters, output parameters, body) of the fused Adam kernel, in CUDA C."""
    outputs = "T param, T m, T v" + (", T v_max" if amsgrad else "")
    body = _ADAM_KERNEL.replace("AMSGRAD", "v_max = fmax(v_max, v);" if amsgrad else "")
    return _ADAM_INPUTS, outputs, body.replace("V_USED", "v_max" if amsgrad else "v")


def adam_gpu(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """optim.adam as one kernel launch (one pass over every buffer)."""
    if amsgrad not in _adam_kernels:
        _adam_kernels[amsgrad] = backend.compile_elementwise(*adam_kernel_source(amsgrad), name="nn_fused_adam")
    beta1, beta2 = betas
    t = state["step"]
    decay = 1 - lr * weight_decay if decoupled_weight_decay else 1.0
    l2 = 0.0 if decoupled_weight_decay else weight_decay
    dtype = param.dtype.type  # scalars in the parameters' precision, so T is one type throughout
    scalars = (-1.0 if maximize else 1.0, l2, decay, beta1, beta2, 1 - beta1 ** t, 1 - beta2 ** t, lr, eps)
    outputs = [param, state["exp_avg"], state["exp_avg_sq"]] + ([state["max_exp_avg_sq"]] if amsgrad else [])
    _adam_kernels[amsgrad](grad, *(dtype(value) for value in scalars), *outputs)
