"""Parameter, Module and Sequential, and the one gate every call of a module passes.

A module is a function with a hand-written derivative:

    y = module(x)                  # forward: compute y, cache what backward needs
    dx = module.backward(dy)       # backward: dL/dx from dL/dy, and ADD dL/dparam into param.grad

A module names the attributes its forward fills for backward in the class attribute ``_saved``
(Linear: ``_saved = ("_input",)``); ``to()`` forgets them, as they may live on the old device.

The gate. ``module(x)`` and ``module.backward(dy)`` both pass through this file before they reach a
layer's formulas, so that a layer's ``forward`` and ``backward`` hold nothing but its formulas:

    module(x)             the input is an array (a torch tensor or a list is refused with the fix) of the
                          weights' dtype and device; forward runs; the output's shape, dtype and
                          device are noted; then the forward hooks run
    module.backward(dy)   forward ran, and its output was not already differentiated (torch refuses a
                          second backward; ``retain_graph=True`` allows it); dy has the output's shape
                          (never broadcast), dtype and device; then backward runs, then the backward hooks

Parameters and submodules are found by looking at the module's attributes in the order they were
assigned, which gives torch's state-dict names ("encoder.0.weight") without any registration call.
Attributes whose names start with an underscore are private (caches, hooks) and are skipped.

Buffers are arrays that belong to a module's state but are not trained (BatchNorm's running
statistics): ``register_buffer(name, array)`` keeps them as plain attributes and remembers the name,
so that ``state_dict``, ``load_state_dict`` and ``to`` carry them, after the module's parameters.
"""
import functools
import numbers
import types
from collections import OrderedDict

import numpy

from . import backend
from .arguments import input_dtype_error


class Parameter:
    """A trainable array ``data`` and the gradient ``grad`` accumulated for it, as torch's.

    ``grad`` is None until a backward pass writes one; later passes add into it (``accumulate_grad``);
    ``zero_grad()`` sets it back to None (torch's ``set_to_none=True``), or fills it with zeros with
    ``set_to_none=False``. An optimizer's ``step()`` skips a parameter whose ``grad`` is None.

    ``requires_grad = False`` (torch's flag) freezes it: backward passes leave ``.grad`` as it was,
    while still returning input gradients.
    """

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.grad = None
        self.requires_grad = _bool_flag("Parameter", requires_grad)

    def accumulate_grad(self, gradient):
        """grad += gradient; the first gradient since ``zero_grad()`` becomes ``grad`` (a new array:
        the caller hands it over). Nothing happens to a frozen parameter."""
        if not self.requires_grad:
            return
        if self.grad is None:
            self.grad = gradient
        else:
            self.grad += gradient

    def zero_grad(self, set_to_none=True):
        """grad = None (torch's default), or grad = 0 in place with ``set_to_none=False``."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            self.grad.fill(0)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = _bool_flag("Parameter.requires_grad_", requires_grad)
        return self

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def numel(self):
        """torch's ``numel()``: how many numbers the parameter holds (``sum(p.numel() for p in ...)``)."""
        return self.data.size

    def __repr__(self):
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype}, device={backend.device_of(self.data)!r})"


_NO_HOOKS = types.MappingProxyType({})
_RELEASED = "released"  # the gate's record once backward has used the forward's cache
_retaining = [0]  # backward calls under way with retain_graph=True: the modules they reach keep their caches too


class Module:
    """Base class of every layer and model.

    Subclasses write ``forward(x)`` and ``backward(grad_output)``. ``backward`` returns dL/dx and
    adds each parameter's gradient into its ``.grad`` (accumulating, as torch does). A module caches
    what its backward needs from the most recent forward call only: calling it twice and then
    backward once differentiates the second call. The class names those attributes in ``_saved``,
    and ``to()`` forgets them (no placeholders in ``__init__``: the gate refuses a backward until
    a forward has filled them). A model whose forward is a chain of modules is an
    ``nn.Sequential`` and needs no backward of its own.
    """

    training = True
    _gate = None  # what the last forward left for backward to check: (shape, dtype, array type), or _RELEASED
    _forwards = 0  # forward calls since the last backward (more than one: a second call replaced the cache)
    _saved = ()  # the names of the attributes forward fills for backward: to() forgets them
    _forward_pre_hooks = _forward_hooks = _backward_pre_hooks = _backward_hooks = _NO_HOOKS
    check_input = None  # a class may define check_input(x): its own input checks, run by the gate before forward

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "backward" in cls.__dict__:  # every backward a class writes runs behind the gate
            cls.backward = _gated_backward(cls.__dict__["backward"])

    def __call__(self, *inputs, **kwargs):
        inputs = tuple(_checked_input(self, x) for x in inputs)
        if self.check_input is not None:
            self.check_input(*inputs)
        for hook in tuple(self._forward_pre_hooks.values()):
            changed = hook(self, inputs)
            if changed is not None:
                inputs = changed if isinstance(changed, tuple) else (changed,)
        output = self.forward(*inputs, **kwargs)
        if isinstance(output, numpy.generic):  # a ufunc on a 0-d array gives a scalar: give a 0-d array back
            output = (backend.get_array_module(inputs[0]) if inputs else numpy).asarray(output)  # of the input's library
        for hook in tuple(self._forward_hooks.values()):
            changed = hook(self, inputs, output)
            if changed is not None:
                output = changed
        # forwards since the last backward: a module called at two places in one forward keeps one cache
        self._forwards = self._forwards + 1 if self._gate not in (None, _RELEASED) else 1
        self._gate = _record(output)
        return output

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x), which returns the output")

    def backward(self, grad_output):
        raise NotImplementedError(
            f"{type(self).__name__} must implement backward(grad_output): given dL/dy, add each parameter's "
            "gradient with parameter.accumulate_grad(...) and return dL/dx, e.g. by calling its submodules' "
            "backward in reverse order; a model that is a chain of modules can be an nn.Sequential, which "
            "needs none")

    # --- hooks, as torch's ------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend=False):
        """hook(module, args) runs before forward; it may return new args (a tuple, or one input)."""
        return self._add_hook("_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook, *, prepend=False):
        """hook(module, args, output) runs after forward; it may return a new output."""
        return self._add_hook("_forward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, *, prepend=False):
        """hook(module, grad_output) runs before backward, with grad_output a 1-tuple; it may return a
        new 1-tuple (the gradient backward then uses)."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    def register_full_backward_hook(self, hook, *, prepend=False):
        """hook(module, grad_input, grad_output) runs after backward, each a 1-tuple (grad_input
        holds None where backward skipped dL/dx); it may return a new grad_input 1-tuple."""
        return self._add_hook("_backward_hooks", hook, prepend)

    def _add_hook(self, kind, hook, prepend):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.{_HOOK_METHODS[kind]}: hook must be callable, "
                            f"got {type(hook).__name__}")
        hooks = dict(vars(self).get(kind, {}))
        handle = RemovableHandle(self, kind)
        hooks = {handle.id: hook, **hooks} if prepend else {**hooks, handle.id: hook}
        setattr(self, kind, hooks)
        return handle

    # --- walking the tree ---------------------------------------------------------------------
    def named_children(self):
        """(name, child) of the modules this one holds, in assignment order; a child held under two names
        is given once, by its first, as torch's (so ``apply`` visits it once)."""
        seen = set()
        for name, value in self._child_items():
            if id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def _child_items(self):
        """Every (name, child), a child held under two names under each (the state dict and the printout's)."""
        for name, value in vars(self).items():
            if isinstance(value, Module) and not name.startswith("_"):
                yield name, value

    def children(self):
        return [child for _, child in self.named_children()]

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module ("" or ``prefix``) and every module below it, depth first, with
        torch's dotted names ("0", "0.1"); a module reached twice is given once, as torch's."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._child_items():
            yield from child.named_modules(memo, prefix + "." + name if prefix else name, remove_duplicate)

    def modules(self):
        """This module and every module below it, depth first (each once)."""
        for _, module in self.named_modules():
            yield module

    def apply(self, fn):
        """torch's ``apply``: ``fn(module)`` on every module below this one, children first, then on this
        one (a custom initialisation writes ``module.weight.data[...]``); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs with torch's dotted names and order: this module's own parameters in
        assignment order, then each child's. A parameter shared by two modules (tied weights) is given
        once, as torch gives it, so an optimizer steps it once; ``remove_duplicate=False`` gives every name."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in vars(module).items():
                if name.startswith("_") or not isinstance(value, Parameter):
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (module_name + "." if module_name else "") + name, value

    def parameters(self, recurse=True):
        """The parameters of named_parameters, as a list (torch's is a generator); ``recurse=False``: this
        module's own only, as torch's."""
        return [parameter for _, parameter in self.named_parameters(recurse=recurse)]

    def register_buffer(self, name, array):
        """Make ``self.<name>`` a buffer: saved and loaded with the parameters, moved by ``to``,
        never given to an optimizer. ``None`` registers the name without state (as torch: not saved)."""
        names = vars(self).setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, array) for every buffer that is not None, this module's first, with dotted names, in
        torch's order; a module held twice gives its buffers once (``remove_duplicate=False``: every name)."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name in vars(module).get("_buffer_names", ()):
                value = getattr(module, name)
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (module_name + "." if module_name else "") + name, value

    def buffers(self, recurse=True):
        return [buffer for _, buffer in self.named_buffers(recurse=recurse)]

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter, as torch: a frozen network's backward only
        computes input gradients (a GAN's generator step through the discriminator). Returns self."""
        requires_grad = _bool_flag(f"{type(self).__name__}.requires_grad_", requires_grad)
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none=True):
        """Every parameter's grad = None (torch's default), or 0 with ``set_to_none=False``."""
        for parameter in self.parameters():
            parameter.zero_grad(set_to_none)

    def train(self, mode=True):
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    # --- devices and dtypes -------------------------------------------------------------------
    @property
    def device(self):
        parameters = self.parameters()
        return backend.device_of(parameters[0].data) if parameters else "cpu"

    @property
    def dtype(self):
        parameters = self.parameters()
        return parameters[0].data.dtype if parameters else backend.DEFAULT_DTYPE

    def to(self, device=None, dtype=None):
        """Move every parameter (and its gradient) and buffer to a device and/or cast it to a dtype, in
        place. Integer buffers (BatchNorm's num_batches_tracked) keep their dtype, as in torch.

        As torch's: ``to("gpu")``/``to("cuda")``, ``to(dtype="float64")``, a dtype alone as the first
        argument (``to(torch.float64)``, ``to("float64")``), and torch.device/torch.dtype by their names.
        An optimizer holds the parameters it was built with: build it after moving the model.
        """
        if dtype is None and _is_dtype(device):  # torch's to(dtype): a dtype in the device's place
            device, dtype = None, device
        if type(dtype).__module__.partition(".")[0] == "torch":  # torch.float64 -> "float64"
            dtype = str(dtype).replace("torch.", "")
        if device is not None:
            backend.array_module(device)  # fails early, with the reason, when the device is unusable
        dtype = backend.normalize_dtype(dtype) if dtype is not None else None
        for parameter in self.parameters():
            for field in ("data", "grad"):
                array = getattr(parameter, field)
                if array is None:
                    continue
                if device is not None:
                    array = backend.to_device(array, device)
                if dtype is not None:
                    array = array.astype(dtype, copy=False)
                setattr(parameter, field, array)
        for module in self.modules():
            for name, buffer in list(module.named_buffers(recurse=False, remove_duplicate=False)):
                if device is not None:
                    buffer = backend.to_device(buffer, device)
                if dtype is not None and buffer.dtype.kind == "f":  # a step counter stays an integer, as torch
                    buffer = buffer.astype(dtype, copy=False)
                setattr(module, name, buffer)
            module._gate = None
            module._clear_cache()
        return self

    def double(self):
        """torch's ``.double()``: ``to(dtype="float64")``."""
        return self.to(dtype="float64")

    def float(self):
        """torch's ``.float()``: ``to(dtype="float32")``."""
        return self.to(dtype="float32")

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        """torch's ``.cuda()``: ``to("gpu")`` (one GPU: ``device`` may only name it, as 0 or "cuda:0")."""
        if device not in (None, 0, "cuda", "cuda:0"):
            raise ValueError(f"{type(self).__name__}.cuda: device={device!r}; the engine uses one GPU: call .cuda()")
        return self.to("gpu")

    def half(self):
        raise TypeError(f"{type(self).__name__}.half(): float16 is not supported; use .float() (float32) "
                        "or .double() (float64)")

    def _clear_cache(self):
        """Forget what forward saved for backward (the names in ``_saved``): it may live on the old device."""
        for name in self._saved:
            vars(self).pop(name, None)

    # --- state dicts --------------------------------------------------------------------------
    def _named_state(self, prefix=""):
        """(name, array) of what a state dict holds, in torch's order: this module's parameters, then
        its buffers, then each child's state."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and not name.startswith("_"):
                yield prefix + name, value.data
        yield from self.named_buffers(prefix[:-1], recurse=False, remove_duplicate=False)  # "" or "a.b." less its dot
        for name, child in self._child_items():
            yield from child._named_state(prefix + name + ".")

    def state_dict(self):
        """Ordered {name: copy of the array} of parameters then buffers, with torch's names and shapes."""
        return OrderedDict((name, array.copy()) for name, array in self._named_state())

    def load_state_dict(self, state_dict):
        """Copy arrays into the parameters and buffers (each keeps its own array and dtype), all or nothing.

        Every missing, unexpected or mis-shaped key is named in one ValueError and no parameter is
        changed. Values may be NumPy or CuPy arrays (or anything ``asarray`` takes, such as a torch
        tensor's ``.numpy()``); they are cast to the model's dtype and moved to its device.
        """
        tensors = [name for name, value in state_dict.items() if type(value).__module__.partition(".")[0] == "torch"]
        if tensors:
            raise TypeError(f"{type(self).__name__}.load_state_dict: {tensors[0]!r} holds a torch.Tensor"
                            f"{f' (and {len(tensors) - 1} more)' if len(tensors) > 1 else ''}; the engine takes NumPy "
                            "arrays: pass {name: value.detach().cpu().numpy() for name, value in state_dict.items()}")
        own = OrderedDict(self._named_state())
        problems = []
        for name in own:
            if name not in state_dict:
                problems.append(f"missing key {name!r} (expected shape {tuple(own[name].shape)})")
        for name, value in state_dict.items():
            if name not in own:
                problems.append(f"unexpected key {name!r}")
                continue
            shape = tuple(getattr(value, "shape", numpy.shape(value)))
            if shape != tuple(own[name].shape):
                problems.append(f"key {name!r} has shape {shape} but the model's is {tuple(own[name].shape)}")
            elif not _is_real_numeric(value):
                problems.append(f"key {name!r} holds {getattr(value, 'dtype', type(value).__name__)}, not real numbers")
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + "; nothing was loaded")
        for name, array in own.items():
            value = backend.to_device(state_dict[name], backend.device_of(array))
            # Copy into the existing array so views held by an optimizer's flat buffer stay valid.
            array[...] = value.astype(array.dtype, copy=False)

    def __repr__(self):
        """As torch prints a module: its extra_repr lines, then one line per child, indented."""
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._child_items()]
        if len(extra) == 1 and not children:
            return f"{type(self).__name__}({extra[0]})"
        if not extra and not children:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra + children) + "\n)"

    def extra_repr(self):
        return ""


def _bool_flag(where, value):
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{where}: requires_grad must be True or False, got {value!r}")
    return bool(value)


def _is_dtype(value):
    """Whether a ``to`` argument names a dtype (torch.float64, numpy.float32, "float64") rather than a device."""
    if value is None:
        return False
    if type(value).__module__.partition(".")[0] == "torch":
        return type(value).__name__ == "dtype"
    try:
        numpy.dtype(value)  # refuses every device name ("cpu", "gpu", "cuda", "cuda:0") with a TypeError
    except (TypeError, ValueError):
        return False
    return True


def _is_real_numeric(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        dtype = numpy.asarray(value).dtype
    return numpy.dtype(dtype).kind in "fiu"


# Each hook table of a module, by the method that registers into it (named in its refusals).
_HOOK_METHODS = {"_forward_pre_hooks": "register_forward_pre_hook", "_forward_hooks": "register_forward_hook",
                 "_backward_pre_hooks": "register_full_backward_pre_hook",
                 "_backward_hooks": "register_full_backward_hook"}


class RemovableHandle:
    """What registering a hook returns: ``handle.remove()`` takes the hook off again (as torch's)."""

    _next_id = 0

    def __init__(self, module, kind):
        RemovableHandle._next_id += 1
        self.id, self._module, self._kind = RemovableHandle._next_id, module, kind

    def remove(self):
        hooks = dict(vars(self._module).get(self._kind, {}))
        hooks.pop(self.id, None)
        setattr(self._module, self._kind, hooks)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()


# --- the gate -----------------------------------------------------------------------------------------
def _checked_input(module, x):
    """An input as forward may use it: NumPy scalars become 0-d arrays (torch takes 0-d tensors); a torch
    tensor or a list is refused with the fix; a module with a ``weight`` gets its dtype and device."""
    if type(x) is not numpy.ndarray:
        if isinstance(x, numpy.generic):
            x = numpy.asarray(x)
        elif type(x).__module__.partition(".")[0] == "torch":
            raise TypeError(f"{type(module).__name__}: the input is a torch.Tensor; the engine takes NumPy (or "
                            "CuPy) arrays: pass x.detach().cpu().numpy()")
        elif isinstance(x, (list, tuple)):
            raise TypeError(f"{type(module).__name__}: the input is a Python {type(x).__name__}, not an array; "
                            "convert it with numpy.asarray(x, dtype='float32')")
    weight = vars(module).get("weight")
    if type(weight) is Parameter and hasattr(x, "dtype"):
        if x.dtype != weight.data.dtype:
            raise input_dtype_error(module, x.dtype, weight.data.dtype)
        if type(x) is not type(weight.data):
            backend.check_same_device(module, weight.data, x)
    return x


def _record(output):
    """What backward checks its gradient against: the output's shape, dtype and array type."""
    if hasattr(output, "shape") and hasattr(output, "dtype"):
        # A NumPy subclass of our own (a loss's LossValue) takes its gradient as a plain ndarray.
        kind = numpy.ndarray if type(output).__module__.partition(".")[0] == "nn" else type(output)
        return tuple(output.shape), output.dtype, kind
    return None, None, None  # a tuple or other output: the module's backward checks its own gradients


def _checked_gradient(module, grad_output, record):
    """dL/dy as backward may use it: of the output's shape (never broadcast), a float array on the output's
    device. A number is taken for a 0-d output (a loss's value)."""
    shape, dtype, kind = record
    if shape is None or (type(grad_output) is kind and grad_output.dtype == dtype and grad_output.shape == shape):
        return grad_output
    name = type(module).__name__
    device = "gpu" if kind.__module__.partition(".")[0] == "cupy" else "cpu"
    if isinstance(grad_output, (numbers.Real, numpy.generic)) and not isinstance(grad_output, bool):
        grad_output = backend.array_module(device).asarray(grad_output, dtype=dtype)
    if not hasattr(grad_output, "shape"):
        raise TypeError(f"{name}.backward: grad_output is a {type(grad_output).__name__}; pass dL/dy as an array "
                        "of the output's shape")
    if tuple(grad_output.shape) != shape:
        raise ValueError(f"{name}.backward: grad_output has shape {tuple(grad_output.shape)} but the output has "
                         f"{shape}; pass dL/dy with exactly the output's shape (it is never broadcast)")
    if backend.device_of(grad_output) != device:
        raise backend.BackendError(f"{name}.backward: grad_output is on {backend.device_of(grad_output)!r} but the "
                                   f"output is on {device!r}; move it with nn.to_device(grad_output, {device!r})")
    if numpy.dtype(grad_output.dtype).kind != "f":
        raise TypeError(f"{name}.backward: grad_output has dtype {grad_output.dtype}; pass float32 or float64")
    return grad_output


def _gated_backward(backward):
    """``backward`` behind the gate: forward ran and was not differentiated yet, dL/dy is checked, and the
    backward hooks run around it. ``retain_graph=True`` (torch's) allows another backward of the same forward."""

    @functools.wraps(backward)
    def gate(self, *args, retain_graph=False, **kwargs):
        if "_in_gate" in vars(self):  # a subclass's backward calling super().backward(): already checked
            return backward(self, *args, **kwargs)
        record = self._gate
        if record is None or record is _RELEASED:
            raise RuntimeError(_refusal(self, record))
        if args:
            args = (_checked_gradient(self, args[0], record),) + args[1:]
        if self._backward_pre_hooks:
            args = _run_backward_pre_hooks(self, args)
        self._in_gate = True
        _retaining[0] += bool(retain_graph)
        try:
            grad_input = backward(self, *args, **kwargs)
        finally:
            del self._in_gate
            _retaining[0] -= bool(retain_graph)
        if isinstance(grad_input, numpy.generic):  # a 0-d array of dL/dy's library, as the forward's output
            grad_input = (backend.get_array_module(args[0]) if args else numpy).asarray(grad_input)
        if self._backward_hooks:
            grad_input = _run_backward_hooks(self, grad_input, args)
        if not retain_graph and not _retaining[0]:  # torch's retain_graph keeps the whole graph: children too
            self._gate = _RELEASED
        return grad_input

    return gate


def _refusal(module, record):
    name = type(module).__name__
    if record is None:
        return f"{name}.backward called before forward: call the module on an input first"
    if module._forwards > 1:  # a module used at two places, or forwards with no backward (an evaluation): both fixes
        place = (f"use a second module sharing its parameters, second.weight = first.weight, for tied weights"
                 if module.parameters() else f"use one {name}() per place")
        return (f"{name}.backward called a second time, and this {name} ran forward {module._forwards} times before "
                "that backward: a module keeps the cache of its last call only, so one module used at two places "
                f"in a model cannot be differentiated at both ({place}); otherwise run forward again, or pass "
                "retain_graph=True to the first backward")
    return (f"{name}.backward called a second time after one forward: the forward's cache was used by the first "
            "backward (torch refuses this too); run forward again, or pass retain_graph=True to the first backward")


def _run_backward_pre_hooks(module, args):
    for hook in tuple(module._backward_pre_hooks.values()):
        changed = hook(module, (args[0] if args else None,))
        if changed is not None:
            args = (changed[0],) + args[1:]
    return args


def _run_backward_hooks(module, grad_input, args):
    for hook in tuple(module._backward_hooks.values()):
        changed = hook(module, (grad_input,), (args[0] if args else None,))
        if changed is not None:
            grad_input = changed[0]
    return grad_input


class Sequential(Module):
    """Modules applied in order. Children are named "0", "1", ... as in torch.

    Backward runs the chain rule in reverse: dL/dx = J_0^T (J_1^T ( ... J_n^T dL/dy)).
    """

    def __init__(self, *modules):
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {index} is {type(module).__name__}, not an nn.Module")
            setattr(self, str(index), module)
        self._sequence = tuple(modules)

    def forward(self, x):
        for module in self._sequence:
            x = module(x)
        return x

    def backward(self, grad_output):
        for module in reversed(self._sequence):
            grad_output = module.backward(grad_output)
        return grad_output

    def __iter__(self):
        return iter(self._sequence)

    def __len__(self):
        return len(self._sequence)

    def __getitem__(self, index):
        return self._sequence[index]
