"""Losses: ``value = loss(pred, target)``, then ``loss.backward(g)`` is dL/dpred.

An elementwise loss has one term per element, l_i = f(pred_i, target_i), and a reduction R:

    reduction="none"   L = l              (pred's shape)     dL/dpred_i = g_i f'(pred_i)     g: pred's shape
    reduction="sum"    L = sum_i l_i      (0-d)              dL/dpred_i = g f'(pred_i)       g: a number (1)
    reduction="mean"   L = sum_i l_i / M  (0-d)              dL/dpred_i = g f'(pred_i) / M   M = pred.size

f' is d l_i / d pred_i. The target is a constant: it gets no gradient and is cast to pred's dtype.
Classification losses (NLLLoss, CrossEntropyLoss) are in nn/cross_entropy.py.

On NumPy every loss returns its value as a ``LossValue``: a float array with torch's ``.detach()``,
``.cpu()`` and ``.numpy()`` (the same value: there is no graph), and a ``.backward()`` which says in one
line that the backward is explicit (torch's ``value.backward()`` habit). On CuPy the value is a plain
CuPy array (``value.backward`` is then CuPy's AttributeError; ``value.item()`` works on both).
"""
import numpy

from . import backend
from .activations import sigmoid
from .arguments import constant_array, loss_array, on_device_of
from .module import Module

REDUCTIONS = ("none", "mean", "sum")


class LossValue(numpy.ndarray):
    """What a loss returns on NumPy: the loss value as a NumPy array (0-d for "mean" and "sum"), whose
    ``.backward()`` refuses torch's autograd habit with the engine's explicit form instead.

    torch's ``value.detach()``, ``value.cpu()`` and ``value.numpy()`` give the same value (there is no graph
    to detach from, and it is on the CPU), the last as a plain ndarray.

    Everything else is NumPy's: ``float(value)``, ``value.item()``, printing, and arithmetic, whose
    results are plain ndarrays and NumPy scalars (``value * 2`` is what the same 0-d array would give);
    ``numpy.asarray(value)`` is a plain array sharing its memory.
    """

    _loss_name = "the loss"

    def __array_finalize__(self, obj):
        self._loss_name = getattr(obj, "_loss_name", LossValue._loss_name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Every ufunc (+, *, numpy.log, .sum(), .mean()) computes on plain views: plain results.
        inputs = tuple(_plain(item) for item in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(item) for item in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        # NumPy's functions (numpy.stack, numpy.isclose, ...) likewise see plain arrays.
        return func(*_plain_all(args), **_plain_all(kwargs))

    # torch's habits on a loss value that carry over: there is no graph, so detaching keeps the value as
    # it is, on the CPU already; .numpy() gives the plain array (sharing memory, as torch's does).
    def detach(self):
        """torch's ``value.detach()``: the same value (no graph is recorded here), sharing its memory."""
        return self.view(LossValue)

    def cpu(self):
        """torch's ``value.cpu()``: a NumPy value is on the CPU: the same value, sharing its memory."""
        return self.view(LossValue)

    def numpy(self):
        """torch's ``value.numpy()``: the value as a plain NumPy array sharing its memory."""
        return self.view(numpy.ndarray)

    def backward(self, *args, **kwargs):
        shape = "" if self.ndim == 0 else f", and g = dL/dvalue of the value's shape {self.shape}"
        raise RuntimeError(
            f"value.backward(): the engine has no autograd, its backward is explicit: call "
            f"model.backward(loss.backward({'' if self.ndim == 0 else 'g'})) with loss the {self._loss_name} "
            f"module, not the value it returned{shape} (after step = nn.fast.compile(...): step.backward())")


def _plain(value):
    return value.view(numpy.ndarray) if isinstance(value, LossValue) else value


def _plain_all(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_plain_all(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain_all(item) for key, item in value.items()}
    return _plain(value)


def loss_value(loss, value):
    """A NumPy loss value as a LossValue naming its loss; any other array (CuPy's) as it is."""
    if type(value) is not numpy.ndarray:
        return value
    value = value.view(LossValue)
    value._loss_name = type(loss).__name__
    return value
# torch clamps p (1 - p) at a C++ float 1e-12, i.e. 9.99999996e-13: the same number keeps float64 parity.
_BCE_EPSILON = 9.999999960041972e-13


class Loss(Module):
    """What every loss shares: torch's legacy arguments refused, and the reduction R, with its
    counterpart in backward:

        reduce(l)    "none": l     "sum": sum_i l_i     "mean": sum_i l_i / M     (M = l.size)
        spread(g)    "none": g     "sum": g             "mean": g / M             (dL/dl_i from g = dL/dvalue)
    """

    _saved = ("_prediction", "_size")  # the library of the value (_xp) and M

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        name = type(self).__name__
        for legacy, value in (("size_average", size_average), ("reduce", reduce)):
            if value is not None:
                raise ValueError(f"{name}: {legacy}={value!r} (deprecated in torch) is not supported; "
                                 "use reduction='none', 'mean' or 'sum'")
        if reduction not in REDUCTIONS:
            raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def reduce(self, terms):
        """The loss value from its terms l (an array of the prediction's dtype; 0-d unless "none")."""
        self._size = terms.size
        xp = self._xp  # the prediction's library: NumPy's ufuncs give 0-d inputs a scalar, not an array
        if self.reduction == "none":
            return loss_value(self, xp.asarray(terms))
        value = terms.sum() if self.reduction == "sum" else terms.sum() / terms.size
        return loss_value(self, xp.asarray(value, dtype=terms.dtype))

    def spread(self, grad_output):
        """dL/dl_i, from dL/dvalue: g / M for "mean", g for "sum" and "none" (where g has l's shape)."""
        if self.reduction == "none":
            return self.elementwise_upstream(grad_output)
        return float(grad_output) / self._size if self.reduction == "mean" else float(grad_output)

    @property
    def _xp(self):
        return backend.get_array_module(self._prediction)

    def elementwise_upstream(self, grad_output):
        """g for "none", on the prediction's library. The default g = 1 is only for a 0-d value: torch
        creates no implicit gradient for a value of many elements (the gate checked any g passed)."""
        shape = self._gate[0]
        if not hasattr(grad_output, "shape") and shape:
            raise ValueError(f"{type(self).__name__}.backward: grad_output has shape () but the output has {shape}; "
                             "pass dL/dy with exactly the output's shape (it is never broadcast)")
        return self._xp.asarray(grad_output)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def check_pair(loss, pred, target):
    """Prediction and target of an elementwise loss: float arrays of one shape on one device."""
    name = type(loss).__name__
    pred = loss_array(loss, "prediction", pred)
    target = loss_array(loss, "target", target, integers=True)
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{name}: prediction has shape {tuple(pred.shape)} but target has "
                         f"{tuple(target.shape)}; they must match exactly (no broadcasting)")
    if pred.size == 0 and loss.reduction == "mean":
        raise ValueError(f"{name}: the prediction is empty (shape {tuple(pred.shape)}), and the mean of no "
                         "elements is undefined; pass at least one element, or use reduction='sum'")
    backend.check_same_device(name, pred, target)
    return pred, target.astype(pred.dtype, copy=False)


class ElementwiseLoss(Loss):
    """l_i = f(pred_i, target_i), reduced. Subclasses write ``_terms`` (l and a cache) and ``_slope``
    (dL/dpred from the cache and dL/dl)."""

    _saved = Loss._saved + ("_cache",)

    def forward(self, pred, target):
        pred, target = check_pair(self, pred, target)
        self._prediction = pred  # its library is the value's and the gradient's (_xp)
        terms, self._cache = self._terms(pred, target)
        return self.reduce(terms)

    def backward(self, grad_output=1.0):
        """dL/dpred. ``grad_output`` is dL/dvalue: a number for "mean" and "sum", pred's shape for "none"."""
        return self._xp.asarray(self._slope(self._cache, self.spread(grad_output)))


class MSELoss(Loss):
    """Mean squared error: l_i = (pred_i - target_i)^2, reduced (the mean over the M elements by default).

    Backward, with g = dL/dvalue:   dL/dpred = 2 (pred - target) * g / M    (sum: g; "none": g per element)
    """

    _saved = Loss._saved + ("_difference",)

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)

    def forward(self, pred, target):
        pred, target = check_pair(self, pred, target)
        self._prediction = pred  # its library is the value's and the gradient's (_xp)
        self._difference = pred - target
        return self.reduce(self._difference * self._difference)

    def backward(self, grad_output=1.0):
        return self._xp.asarray((2 * self._difference) * self.spread(grad_output))


class L1Loss(ElementwiseLoss):
    """l_i = |pred_i - target_i|;   f' = sign(pred_i - target_i)   (0 where they are equal, as torch)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)

    def _terms(self, pred, target):
        difference = pred - target
        return backend.get_array_module(pred).abs(difference), difference

    def _slope(self, difference, upstream):
        return backend.get_array_module(difference).sign(difference) * upstream


def _broadcast_weight(loss, name, weight, pred):
    """A weight array on pred's device and dtype, checked to broadcast to pred's shape (never beyond)."""
    if weight is None:
        return None
    weight = on_device_of(weight, pred)
    try:  # shape arithmetic only: NumPy's works for arrays of any backend
        if numpy.broadcast_shapes(weight.shape, pred.shape) == tuple(pred.shape):
            return weight
    except ValueError:
        pass
    raise ValueError(f"{type(loss).__name__}: {name} has shape {tuple(weight.shape)}, which does not broadcast to "
                     f"the input's shape {tuple(pred.shape)}; give it that shape or one that broadcasts to it")


class BCELoss(ElementwiseLoss):
    """Binary cross-entropy of probabilities p in [0, 1] against targets t, with an optional weight w
    (broadcast to p's shape):

        l_i = -w_i (t_i log p_i + (1 - t_i) log(1 - p_i)),   each log clamped at -100 as torch does
        f'  = w_i (p_i - t_i) / max(p_i (1 - p_i), eps),      eps = 1e-12 rounded to float32, as torch's
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.weight = constant_array("BCELoss", "weight", weight)

    def _terms(self, pred, target):
        xp = backend.get_array_module(pred)
        if pred.size:
            low, high = float(pred.min()), float(pred.max())
            if not (low >= 0 and high <= 1):  # written so that NaN (min and max are NaN) fails too, as in torch
                raise ValueError(f"BCELoss: predictions must lie in [0, 1], got values in [{low:g}, {high:g}]; "
                                 "apply Sigmoid first, or use BCEWithLogitsLoss on the raw outputs")
        weight = _broadcast_weight(self, "weight", self.weight, pred)
        with backend.expected_infinities(pred):  # log(0) = -inf, then clamped to -100
            log_p = xp.maximum(xp.log(pred), -100)
            log_one_minus_p = xp.maximum(xp.log1p(-pred), -100)
        terms = -(target * log_p + (1 - target) * log_one_minus_p)
        return (terms if weight is None else terms * weight), (pred, target, weight)

    def _slope(self, cache, upstream):
        pred, target, weight = cache
        xp = backend.get_array_module(pred)
        slope = (pred - target) / xp.maximum(pred * (1 - pred), _BCE_EPSILON)
        return (slope if weight is None else slope * weight) * upstream


class BCEWithLogitsLoss(ElementwiseLoss):
    """Binary cross-entropy of logits x (p = sigmoid(x)), with a weight w and a weight pw on the
    positive term (``pos_weight``, broadcast along the last dimension: one per class), stable for any x:

        l_i = -w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]
            =  w [(1 - t) x + (1 + (pw - 1) t) softplus(-x)]        (log sigmoid(x) = -softplus(-x))
        softplus(-x) = max(-x, 0) + log(1 + e^-|x|)                  (no overflow for any x)
        f'  =  w [(1 + (pw - 1) t) sigmoid(x) - pw t]               (w = pw = 1: sigmoid(x) - t)
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.weight = constant_array("BCEWithLogitsLoss", "weight", weight)
        self.pos_weight = constant_array("BCEWithLogitsLoss", "pos_weight", pos_weight)

    def _terms(self, logits, target):
        xp = backend.get_array_module(logits)
        weight = _broadcast_weight(self, "weight", self.weight, logits)
        pos_weight = _broadcast_weight(self, "pos_weight", self.pos_weight, logits)
        softplus_of_minus_x = xp.maximum(-logits, 0) + xp.log1p(xp.exp(-xp.abs(logits)))
        log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
        terms = (1 - target) * logits + log_weight * softplus_of_minus_x
        return (terms if weight is None else terms * weight), (logits, target, weight, pos_weight, log_weight)

    def _slope(self, cache, upstream):
        logits, target, weight, pos_weight, log_weight = cache
        if pos_weight is None:
            slope = sigmoid(logits) - target
        else:
            slope = log_weight * sigmoid(logits) - pos_weight * target
        return (slope if weight is None else slope * weight) * upstream
