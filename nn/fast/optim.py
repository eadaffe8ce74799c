"""torch's ``foreach=True`` and ``fused=True``: the rules of nn/optim.py rearranged for speed; read those first.

``foreach=True`` (``FlatForm``): each parameter group's parameters, gradients and state live in one
flat buffer each (every ``Parameter.data`` becomes a view into it), and ``sgd_fast`` / ``adam_fast``
compute ``optim.sgd`` / ``optim.adam``, with the same arguments and names, on the whole buffer:
every operation writes in place into the parameters, the state or a scratch buffer, so a step
allocates nothing, and the arithmetic is arranged into as few whole-buffer passes as NumPy allows
(each ufunc call is one pass; the counts are in the comments). ``fused=True`` (``FusedForm``, the GPU
only): ``adam_gpu`` runs the rule as one CuPy kernel over the flat buffers (one pass).
The results equal the plain rules' up to rounding (tests/test_nn_optim_fast.py holds them together).

``FlatForm.rescaled()``: a block of steps with Adam's state kept in other units, which saves two passes
a step (``adam_fast_rescaled``: 10 instead of 12); torch's units come back when the block ends. A
training loop takes its steps inside it (autoencoders/fast_steps.py: one epoch at a time) and reads
the state (a checkpoint) only after.
"""
import contextlib
import math

from .. import backend
from ..optim import SGD, Adam, adam, sgd
from ..optimizer import FAST_FORMS


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


def adam_fast_rescaled(param, grad, state, scratch, lr, betas, eps, weight_decay, amsgrad, maximize,
                       decoupled_weight_decay):
    """optim.adam in 10 passes, on state kept as m~ = m / (1 - beta1) and v~ = v / (1 - beta2)
    (``rescaled_options_apply``: no weight decay, amsgrad or maximize). In those units

        m~ = beta1 m~ + g                  2 passes (m~ *= beta1; m~ += g)
        v~ = beta2 v~ + g^2                3 passes
        p -= S m~ / (sqrt(v~) + E)         5 passes, r = sqrt((1 - beta2) / (1 - beta2^t)),
                                           S = lr (1 - beta1) / ((1 - beta1^t) r), E = eps / r

    which is optim.adam's p -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps), term by term."""
    xp = backend.get_array_module(param)
    beta1, beta2 = betas
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    work = scratch("work")
    m *= beta1
    m += grad
    xp.multiply(grad, grad, out=work)
    v *= beta2
    v += work
    r = math.sqrt((1 - beta2) / (1 - beta2 ** t))
    xp.sqrt(v, out=work)
    work += eps / r
    xp.divide(m, work, out=work)
    work *= lr * (1 - beta1) / ((1 - beta1 ** t) * r)
    param -= work


def rescaled_options_apply(options):
    """Whether adam_fast_rescaled computes the rule with these options."""
    return not (options["weight_decay"] or options["amsgrad"] or options["maximize"])


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


# --- the flat buffers, and the two forms -----------------------------------------------------------------
class FlatParameters:
    """A group's parameters as views of one flat buffer ``data``, their gradients' home ``grad`` (each
    parameter's slice is its ``_flat_grad``, where nn/fast/step.py writes its gradient directly), and
    each state buffer the same way (``state[name]``; the optimizer's per-parameter state become views)."""

    def __init__(self, parameters, states, state_names, where):
        first = parameters[0].data
        for parameter in parameters:
            if parameter.dtype != first.dtype or backend.device_of(parameter.data) != backend.device_of(first):
                raise ValueError(f"{where}: parameters mix {first.dtype} on {backend.device_of(first)!r} with "
                                 f"{parameter.dtype} on {backend.device_of(parameter.data)!r}; "
                                 "move the whole model with .to()")
        xp = backend.get_array_module(first)
        total = sum(parameter.size for parameter in parameters)
        self.parameters = parameters
        self.data, self.grad = xp.empty(total, dtype=first.dtype), xp.zeros(total, dtype=first.dtype)
        self.state = {name: xp.empty(total, dtype=first.dtype) for name in state_names}
        offset = 0
        for parameter, state in zip(parameters, states):
            end = offset + parameter.size
            self.data[offset:end] = parameter.data.ravel()
            parameter.data = self.data[offset:end].reshape(parameter.shape)
            parameter._flat_grad = self.grad[offset:end].reshape(parameter.shape)
            for name in state_names:
                self.state[name][offset:end] = state[name].ravel()
                state[name] = self.state[name][offset:end].reshape(parameter.shape)
            offset = end
        self._views = [parameter.data for parameter in parameters]

    def check(self):
        """Raise if a parameter's array was replaced (e.g. by model.to()) after packing."""
        for parameter, data in zip(self.parameters, self._views):
            if parameter.data is not data:
                raise RuntimeError(f"optimizer: {parameter!r} was replaced after the optimizer was built "
                                   "(model.to(), or an assignment to .data); build the optimizer after moving "
                                   "the model, and change values in place (p.data[...] = ...)")

    def gather_gradients(self):
        """Copy each gradient into the flat ``grad`` (none where it is already there) and make it ``grad``'s
        view; False (nothing copied) when a parameter has no gradient: the plain rule then steps the others."""
        if any(parameter.grad is None for parameter in self.parameters):
            return False
        for parameter in self.parameters:
            if parameter.grad is not parameter._flat_grad:
                parameter._flat_grad[...] = parameter.grad
                parameter.grad = parameter._flat_grad
        return True


class Scratch:
    """Work buffers of one group, each allocated on first use and reused by every later step."""

    def __init__(self, like):
        self.like = like
        self._buffers = {}

    def __call__(self, name):
        if name not in self._buffers:
            self._buffers[name] = backend.get_array_module(self.like).empty_like(self.like)
        return self._buffers[name]


class FlatForm:
    """``foreach=True``: each group stepped as one flat buffer by ``sgd_fast`` or ``adam_fast``.

    A group where some parameter has no gradient, or where the parameters took different numbers of
    steps, is stepped by the plain rule instead (on views of the same buffers), as torch skips them."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self._rescaled = {}  # group index -> the betas its Adam state was put in adam_fast_rescaled's units with
        where = type(optimizer).__name__
        self.groups = []
        for group in optimizer.param_groups:
            states = [optimizer.state[parameter] for parameter in group["params"]]
            flat = FlatParameters(group["params"], states, optimizer.state_names(group), where)
            self.groups.append((group, flat, Scratch(flat.data)))

    def step(self):
        optimizer = self.optimizer
        for index, (group, flat, scratch) in enumerate(self.groups):
            flat.check()
            states = [optimizer.state[parameter] for parameter in group["params"]]
            steps = {state["step"] for state in states}
            if len(steps) != 1 or not flat.gather_gradients():
                self._rescale(index, False)  # the plain rule reads torch's units (the block's next steps too)
                self._plain_step(group)
                continue
            for state in states:
                state["step"] += 1
            state = {"step": states[0]["step"], **flat.state}
            if index in self._rescaled:
                options = optimizer.rule_options(group)
                if tuple(group["betas"]) == self._rescaled[index] and rescaled_options_apply(options):
                    adam_fast_rescaled(flat.data, flat.grad, state, scratch, **options)
                    continue
                self._rescale(index, False)  # the group's settings changed inside the block: torch's units again
            self.update(flat.data, flat.grad, state, scratch, group)

    @contextlib.contextmanager
    def rescaled(self):
        """A block of steps with each plain Adam group's state in adam_fast_rescaled's units (one pass
        over m and one over v on the way in and again on the way out, two passes fewer each step).
        optimizer.state and state_dict() show those units until the block ends: read them after it."""
        if type(self) is not FlatForm or not isinstance(self.optimizer, Adam):
            yield
            return
        chosen = [index for index, (group, _, _) in enumerate(self.groups)
                  if index not in self._rescaled and rescaled_options_apply(self.optimizer.rule_options(group))]
        for index in chosen:
            self._rescale(index, True)
        try:
            yield
        finally:
            for index in chosen:
                self._rescale(index, False)

    def _rescale(self, index, into):
        """Group ``index``'s m and v into adam_fast_rescaled's units (``into``) or back to torch's
        (nothing to do when they are already in the units asked for)."""
        if (index in self._rescaled) == into:
            return
        group, flat, _ = self.groups[index]
        betas = tuple(group["betas"]) if into else self._rescaled.pop(index)
        for name, beta in zip(("exp_avg", "exp_avg_sq"), betas):
            if into:
                flat.state[name] /= 1 - beta
            else:
                flat.state[name] *= 1 - beta
        if into:
            self._rescaled[index] = betas

    def _plain_step(self, group):
        options = self.optimizer.rule_options(group)
        for parameter in group["params"]:
            if parameter.grad is not None:
                state = self.optimizer.state[parameter]
                state["step"] += 1
                self.optimizer.rule(parameter.data, parameter.grad, state, **options)

    def update(self, param, grad, state, scratch, group):
        """The group's rule on its flat buffers: ``sgd_fast`` or ``adam_fast``."""
        options = self.optimizer.rule_options(group)
        if isinstance(self.optimizer, Adam):
            adam_fast(param, grad, state, scratch, **options)
        else:
            sgd_fast(param, grad, state, scratch, **options)


class FusedForm(FlatForm):
    """``fused=True``: Adam or AdamW on the GPU as one kernel over each group's flat buffers."""

    def __init__(self, optimizer):
        where = type(optimizer).__name__
        if not isinstance(optimizer, Adam):
            raise ValueError(f"{where}: fused=True is implemented for Adam and AdamW; use foreach=True")
        devices = {backend.device_of(p.data) for group in optimizer.param_groups for p in group["params"]}
        if devices != {"gpu"}:
            raise ValueError(f"{where}: fused=True runs one GPU kernel and needs the parameters on the GPU "
                             "(model.to('gpu') first); on the CPU use foreach=True")
        super().__init__(optimizer)

    def update(self, param, grad, state, scratch, group):
        adam_gpu(param, grad, state, **self.optimizer.rule_options(group))


@contextlib.contextmanager
def rescaled_state(optimizer):
    """``optimizer``'s steps within the block with Adam's state in adam_fast_rescaled's units, two passes
    fewer a step (an Adam with foreach=True; any other optimizer steps as it always does). Read
    optimizer.state or state_dict() after the block, not inside it: there they are in those units."""
    form = getattr(optimizer, "_fast", None)
    if isinstance(form, FlatForm):
        with form.rescaled():
            yield
    else:
        yield


FAST_FORMS.update(foreach=FlatForm, fused=FusedForm)
assert sgd_fast.__doc__ and sgd and adam and SGD  # the plain rules each fast form computes
