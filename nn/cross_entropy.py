"""Classification losses: NLLLoss on log-probabilities, CrossEntropyLoss on raw scores (logits).

Shapes: input (N, C) with C classes, or (N, C, d1, d2, ...) (one prediction per position, classes
on dimension 1), or unbatched (C,). A "sample" n is one position: N, N*d1*d2*... or 1 of them.
The target is either class indices, integers of the input's shape without C ((N,), (N, d1, ...) or
()), or, for CrossEntropyLoss only, class probabilities of the input's own shape (floats).

Both losses are one formula. Every option turns the target into a weighting q_n of the classes,

    l_n = -sum_c q_nc log p_nc          (log p = the input for NLLLoss, log_softmax(x) for CrossEntropyLoss)

    class index y_n:      q_nc = w_yn [c = y_n]                                       (NLLLoss)
                          q_nc = (1 - eps) w_yn [c = y_n] + (eps / C) w_c             (CrossEntropyLoss)
                          q_n = 0 where y_n == ignore_index: the sample contributes nothing
    class probabilities:  q_nc = w_c ((1 - eps) t_nc + eps / C)

with w the class weights (``weight``, 1 when not given) and eps = ``label_smoothing``. Reductions:
"none" gives l (the target's shape), "sum" sum_n l_n, "mean" sum_n l_n / D with D = sum of w_yn over
the samples not ignored for class indices (the weighted count: torch's rule), and D = the number of
samples for class probabilities.

Backward, g = dL/dl_n (for "mean": g / D; for "sum": g):

    NLLLoss:           dl_n/d(log p_nk) = -q_nk                        so dL/dinput = -g q
    CrossEntropyLoss:  with log p_nc = x_nc - log sum_j e^(x_nj), d(log p_nc)/dx_nk = [c = k] - p_nk:
                       dl_n/dx_nk = -sum_c q_nc ([c = k] - p_nk) = p_nk sum_c q_nc - q_nk
                       so dL/dx = g (p * sum_c q - q).
    With one class index and no weight or smoothing, sum_c q_nc = 1: the familiar  p - onehot(y).
"""
from . import backend
from .arguments import constant_array, loss_array, on_device_of
from .losses import Loss, loss_value
from .softmax import log_softmax


class ClassificationLoss(Loss):
    """Checks of input and target and the target weighting q; subclasses give log p and its backward."""

    probabilities_allowed = False
    _saved = ("_cache", "_prediction")  # reduce()'s M is not used: D is in the cache

    def __init__(self, weight, size_average, ignore_index, reduce, reduction, label_smoothing=0.0):
        super().__init__(size_average, reduce, reduction)
        name = type(self).__name__
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f"{name}: ignore_index must be an integer, got {ignore_index!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.weight = constant_array(name, "weight", weight, ndim=1)
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        x, target, unbatched = self._checked(input, target)
        q, denominator, chosen = self._target_weights(x, target)
        log_p = self._log_probabilities(x)
        xp = backend.get_array_module(x)
        # 0 * log 0 counts as 0: a class with no target weight adds nothing, even where log p = -inf.
        losses = -xp.where(q != 0, q * log_p, 0).sum(axis=1)
        if self.reduction == "none":
            value = losses[0] if unbatched else losses
        elif self.reduction == "sum":
            value = losses.sum()
        else:  # D = 0 (every sample ignored, or weighing 0): NaN, as in torch; the gradient: _undefined_mean_gradient
            value = losses.sum() / denominator if denominator else float("nan")
        value = xp.asarray(value, dtype=x.dtype)
        chosen = chosen if not denominator else None  # only an undefined mean's gradient needs it
        self._cache = (x, q, log_p, denominator, chosen, input.shape, unbatched)
        return loss_value(self, value)

    def backward(self, grad_output=1.0):
        """dL/dinput, of the input's shape. ``grad_output``: a number, or the loss's shape for "none"."""
        (x, q, log_p, denominator, chosen, input_shape, unbatched) = self._cache
        upstream = grad_output if self.reduction == "none" else float(grad_output)
        if self.reduction == "none":
            self._prediction = x
            upstream = self.elementwise_upstream(upstream)
            upstream = upstream.reshape((1,) + upstream.shape if unbatched else upstream.shape)
            upstream = upstream.reshape(upstream.shape[:1] + (1,) + upstream.shape[1:])  # over the classes
        elif self.reduction == "mean":
            if not denominator:
                return self._undefined_mean_gradient(x, chosen).reshape(input_shape)
            upstream = upstream / denominator
        return self._input_gradient(q, log_p, upstream).reshape(input_shape)

    def _undefined_mean_gradient(self, x, chosen):
        """The gradient of a "mean" with D = 0, as torch gives it: 0 where no sample was kept (the mean
        of nothing), NaN (0/0) where a kept sample's class weighs 0 -- at its class for NLLLoss, over
        its whole row for CrossEntropyLoss, whose softmax mixes the classes (``_nan_spread``)."""
        xp = backend.get_array_module(x)
        if chosen is None:  # class probabilities: D is the sample count, 0 only for an empty batch
            return xp.zeros_like(x)
        return xp.where(self._nan_spread(chosen), xp.asarray(float("nan"), dtype=x.dtype), x.dtype.type(0))

    def _nan_spread(self, chosen):
        return chosen

    # --- checks ------------------------------------------------------------------------------------------
    def _checked(self, input, target):
        """(x with a batch dimension, target, unbatched) after every check, or a one-line error."""
        name = type(self).__name__
        x = loss_array(self, "input", input)
        target = loss_array(self, "target", target, integers=True)
        backend.check_same_device(name, x, target)
        if x.ndim == 0:
            raise ValueError(f"{name}: the input is 0-d; it needs a class dimension: (C,), (N, C) or (N, C, d1, ...)")
        unbatched, target_shape = x.ndim == 1, tuple(target.shape)
        if unbatched:
            x, target = x.reshape((1,) + x.shape), target.reshape((1,) + target.shape)
        classes = x.shape[1]
        if self.weight is not None and self.weight.shape[0] != classes:
            raise ValueError(f"{name}: weight has {self.weight.shape[0]} entries but the input has {classes} "
                             "classes; give one weight per class")
        if tuple(target.shape) == tuple(x.shape) and target.dtype.kind == "f" and self.probabilities_allowed:
            if self.ignore_index >= 0:
                raise ValueError(f"{name}: ignore_index={self.ignore_index} is not supported with class-probability "
                                 "targets (as in torch); leave it at its default, -100")
            return x, target.astype(x.dtype, copy=False), unbatched
        expected = x.shape[:1] + x.shape[2:]
        if target.dtype.kind not in "iu" or tuple(target.shape) != expected:
            input_shape = tuple(input.shape)
            probabilities = f", or class probabilities of shape {input_shape}" if self.probabilities_allowed else ""
            raise ValueError(f"{name}: target has shape {target_shape} and dtype {target.dtype}, but for an input of "
                             f"shape {input_shape} it must hold integer class indices of shape "
                             f"{expected[1:] if unbatched else expected}{probabilities}")
        wrong = (target != self.ignore_index) & ((target < 0) | (target >= classes))
        if bool(wrong.any()):
            raise ValueError(f"{name}: target holds class {int(target[wrong].ravel()[0])}, outside [0, {classes}) "
                             f"for {classes} classes (and not ignore_index={self.ignore_index}); "
                             f"use indices 0 to {classes - 1}")
        if self.reduction == "mean" and target.size == 0:
            raise ValueError(f"{name}: the input holds no samples (shape {tuple(input.shape)}), and their mean is "
                             "undefined; pass at least one, or use reduction='sum'")
        return x, target, unbatched

    # --- the target weighting q --------------------------------------------------------------------------
    def _target_weights(self, x, target):
        """q of the module docstring, with x's shape, the "mean" denominator D, and for class indices
        the one-hot of the kept samples' classes (booleans of x's shape; None for probabilities)."""
        xp = backend.get_array_module(x)
        classes, smoothing = x.shape[1], self.label_smoothing
        class_shape = (1, classes) + (1,) * (x.ndim - 2)  # w_c and c broadcast along dimension 1
        weight = on_device_of(self.weight, x).reshape(class_shape) if self.weight is not None else None
        if target.dtype.kind == "f":
            q = target * (1 - smoothing) + smoothing / classes if smoothing else target
            return (q if weight is None else q * weight), target.size // classes, None
        kept = target != self.ignore_index
        safe = xp.where(kept, target, 0)[:, None]  # (N, 1, d1, ...); ignored samples point at class 0, then masked
        one_hot = (safe == xp.arange(classes).reshape(class_shape)) & kept[:, None]
        q = one_hot.astype(x.dtype)
        if weight is not None:
            q = q * weight
        denominator = float(q.sum())  # sum of w_yn over the kept samples (their count without weight)
        if smoothing:
            uniform = kept[:, None].astype(x.dtype) * (smoothing / classes)
            q = q * (1 - smoothing) + (uniform if weight is None else uniform * weight)
        return q, denominator, one_hot


class NLLLoss(ClassificationLoss):
    """Negative log-likelihood of log-probabilities (the output of LogSoftmax): l_n = -w_yn input[n, y_n].

    input: (N, C), (N, C, d1, ...) or (C,);  target: class indices.  dL/dinput = -g q  (see the module docstring).
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def _log_probabilities(self, x):
        return x

    def _input_gradient(self, q, log_p, upstream):
        return -q * upstream


class CrossEntropyLoss(ClassificationLoss):
    """Cross-entropy of logits: log_softmax over the classes (dimension 1), then the weighted NLL,

        l_n = -sum_c q_nc log softmax(x_n)_c,     dL/dx = g (softmax(x) * sum_c q - q)

    with q the target weighting of the module docstring (class indices with ``weight``,
    ``ignore_index`` and ``label_smoothing``, or class probabilities of x's shape).
    input: (N, C), (N, C, d1, ...) or (C,).  Stable for any logits (softmax is shifted by the max).
    """

    probabilities_allowed = True

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction, label_smoothing)

    def _log_probabilities(self, x):
        return log_softmax(x, 1)

    def _nan_spread(self, chosen):
        xp = backend.get_array_module(chosen)
        return xp.broadcast_to(chosen.any(axis=1, keepdims=True), chosen.shape)  # the whole row

    def _input_gradient(self, q, log_p, upstream):
        xp = backend.get_array_module(log_p)
        return (xp.exp(log_p) * q.sum(axis=1, keepdims=True) - q) * upstream
