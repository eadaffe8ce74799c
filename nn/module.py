"""Parameter, Module and Sequential: the bookkeeping every layer shares.

A module is a function with a hand-written derivative:

    y = module(x)                  # forward: compute y, cache what backward needs
    dx = module.backward(dy)       # backward: dL/dx from dL/dy, and ADD dL/dparam into param.grad

Parameters and submodules are found by looking at the module's attributes in the order they were
assigned, which gives torch's state-dict names ("encoder.0.weight") without any registration call.
Attributes whose names start with an underscore are private (caches, shortcuts) and are skipped.

Buffers are arrays that belong to a module's state but are not trained (BatchNorm's running
statistics): ``register_buffer(name, array)`` keeps them as plain attributes and remembers the name,
so that ``state_dict``, ``load_state_dict`` and ``to`` carry them, after the module's parameters.
"""
from collections import OrderedDict

import numpy

from . import backend


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` and ``grad`` are arrays of the model's backend with the same shape and dtype. ``grad``
    starts at zero; backward passes add into it; ``zero_grad`` clears it. An optimizer may rebind
    both to views of one flat buffer (see nn.optim) -- code that reads ``p.data`` never notices.

    Clearing is lazy, which a training step notices and a reader does not: ``zero_grad()`` only marks
    the gradient as zero, and the array is filled with zeros when ``p.grad`` is next read. A layer
    whose gradient is a matrix product adds it with ``add_matmul_to_grad(a, b)``: right after
    ``zero_grad`` the product is written straight into the array, with no zero fill, no temporary and
    no add (``grad = 0 + a @ b``, the same numbers): zero_grad itself drops from 18 to 3 µs at batch 32. As with torch's ``zero_grad()`` (which sets ``grad`` to None), an array taken from
    ``p.grad`` before ``zero_grad`` keeps its old values; read ``p.grad`` again.

    ``requires_grad = False`` (torch's flag) freezes it: backward passes skip computing its gradient
    and leave ``.grad`` as it was, while still returning input gradients. The array stays (torch's
    would be None), so an optimizer holding a frozen parameter still steps it with that ``.grad``.
    """

    def __init__(self, data, requires_grad=True):
        self.data = data
        self._grad = backend.get_array_module(data).zeros_like(data)
        self._zero_pending = False  # True from zero_grad() until the gradient array is next touched
        self.requires_grad = _bool_flag("Parameter", requires_grad)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = _bool_flag("Parameter.requires_grad_", requires_grad)
        return self

    @property
    def grad(self):
        if self._zero_pending:
            self._grad.fill(0)
            self._zero_pending = False
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value
        self._zero_pending = False

    def zero_grad(self):
        """grad = 0 (filled when next read or written over; see the class docstring)."""
        self._zero_pending = True

    def add_matmul_to_grad(self, a, b):
        """grad += a @ b; just after ``zero_grad``, grad = a @ b written in place."""
        if self._zero_pending:
            backend.get_array_module(a).matmul(a, b, out=self._grad)
            self._zero_pending = False
        else:
            self._grad += a @ b

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __repr__(self):
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype}, device={backend.device_of(self.data)!r})"


class Module:
    """Base class of every layer and model.

    Subclasses implement ``forward(x)`` and ``backward(grad_output)``. ``backward`` returns dL/dx and
    adds each parameter's gradient into its ``.grad`` (accumulating, as torch does). A module caches
    what its backward needs from the most recent forward call only: calling it twice and then
    backward once differentiates the second call.
    """

    training = True

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    # --- walking the tree ---------------------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module) and not name.startswith("_"):
                yield name, value

    def children(self):
        return [child for _, child in self.named_children()]

    def modules(self):
        """This module and every module below it, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs with torch's dotted names, in assignment order."""
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def register_buffer(self, name, array):
        """Make ``self.<name>`` a buffer: saved and loaded with the parameters, moved by ``to``,
        never given to an optimizer. ``None`` registers the name without state (as torch: not saved)."""
        names = vars(self).setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def named_buffers(self, prefix="", recurse=True):
        """(name, array) for every buffer that is not None, this module's first, with dotted names."""
        for name in vars(self).get("_buffer_names", ()):
            if getattr(self, name) is not None:
                yield prefix + name, getattr(self, name)
        if recurse:
            for child_name, child in self.named_children():
                yield from child.named_buffers(prefix + child_name + ".")

    def buffers(self):
        return [buffer for _, buffer in self.named_buffers()]

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter, as torch: a frozen network's backward only
        computes input gradients (a GAN's generator step through the discriminator). Returns self."""
        requires_grad = _bool_flag(f"{type(self).__name__}.requires_grad_", requires_grad)
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.zero_grad()

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

        An optimizer holds the parameters it was built with: build it after moving the model.
        """
        if device is not None:
            backend.array_module(device)  # fails early, with the reason, when the device is unusable
        dtype = backend.normalize_dtype(dtype) if dtype is not None else None
        for parameter in self.parameters():
            for field in ("data", "grad"):
                array = getattr(parameter, field)
                if device is not None:
                    array = backend.to_device(array, device)
                if dtype is not None:
                    array = array.astype(dtype, copy=False)
                setattr(parameter, field, array)
        for module in self.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                if device is not None:
                    buffer = backend.to_device(buffer, device)
                if dtype is not None and buffer.dtype.kind == "f":  # a step counter stays an integer, as torch
                    buffer = buffer.astype(dtype, copy=False)
                setattr(module, name, buffer)
            module._clear_cache()
        return self

    def _clear_cache(self):
        """Forget cached forward values (they may live on the old device)."""

    # --- state dicts --------------------------------------------------------------------------
    def _named_state(self, prefix=""):
        """(name, array) of what a state dict holds, in torch's order: this module's parameters, then
        its buffers, then each child's state."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and not name.startswith("_"):
                yield prefix + name, value.data
        yield from self.named_buffers(prefix, recurse=False)
        for name, child in self.named_children():
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
        children = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
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


def _is_real_numeric(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        dtype = numpy.asarray(value).dtype
    return numpy.dtype(dtype).kind in "fiu"


class Sequential(Module):
    """Modules applied in order. Children are named "0", "1", ... as in torch.

    Backward runs the chain rule in reverse: dL/dx = J_0^T (J_1^T ( ... J_n^T dL/dy)).
    """

    def __init__(self, *modules):
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {index} is {type(module).__name__}, not an nn.Module")
            setattr(self, str(index), module)
        # Iterated every step, so kept as tuples: walking vars() (or reversing) each time costs more.
        self._sequence = tuple(modules)
        self._reversed = self._sequence[::-1]
        # module(x) is module.forward(x) unless a class overrides __call__; calling forward directly
        # saves the extra call and argument tuple, about 0.4 us per module and step (measured).
        self._forward_directly = all(type(module).__call__ is Module.__call__ for module in modules)

    def forward(self, x):
        if self._forward_directly:
            for module in self._sequence:
                x = module.forward(x)
        else:
            for module in self._sequence:
                x = module(x)
        return x

    def backward(self, grad_output):
        for module in self._reversed:
            grad_output = module.backward(grad_output)
        return grad_output

    def __iter__(self):
        return iter(self._sequence)

    def __len__(self):
        return len(self._sequence)

    def __getitem__(self, index):
        return self._sequence[index]
