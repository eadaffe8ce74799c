"""What every optimizer shares: parameter groups, flat buffers, checks, ``zero_grad`` and state dicts.

The update rules themselves are in ``nn/optim.py`` (as their formulas read) and ``nn/optim_fast.py``
(the same rules rearranged for speed).

Each parameter group's parameters are packed into one contiguous buffer (and their gradients into
another); every ``Parameter.data`` / ``.grad`` becomes a view into it. A step is then a handful of
whole-buffer array operations per group instead of a Python loop over tensors, which is what makes
small models fast. Layers never notice: they read ``p.data`` and add into ``p.grad`` as before.
"""
import math
import numbers
import operator

from . import backend, threads
from .module import Parameter


class FlatParameters:
    """Parameters and gradients as views of two flat buffers ``data`` and ``grad``."""

    def __init__(self, parameters, where):
        first = parameters[0].data
        for parameter in parameters:
            if parameter.dtype != first.dtype or backend.device_of(parameter.data) != backend.device_of(first):
                raise ValueError(f"{where}: parameters mix {first.dtype} on {backend.device_of(first)!r} with "
                                 f"{parameter.dtype} on {backend.device_of(parameter.data)!r}; "
                                 "move the whole model with .to()")
        xp = backend.get_array_module(first)
        total = sum(parameter.size for parameter in parameters)
        self.data = xp.empty(total, dtype=first.dtype)
        self.grad = xp.empty(total, dtype=first.dtype)
        self.slices = []
        offset = 0
        for parameter in parameters:
            end = offset + parameter.size
            self.data[offset:end] = parameter.data.ravel()
            self.grad[offset:end] = parameter.grad.ravel()
            parameter.data = self.data[offset:end].reshape(parameter.shape)
            parameter.grad = self.grad[offset:end].reshape(parameter.shape)
            self.slices.append((parameter, offset, end))
            offset = end
        self._views = [(parameter, parameter.data, parameter.grad) for parameter in parameters]

    def check(self):
        """Raise if a parameter's arrays were replaced (e.g. by model.to()) after packing. Reading
        ``parameter.grad`` also fills a gradient still marked zero (no backward reached it since
        ``zero_grad``), so an update that follows reads zeros there, not the last step's values."""
        for parameter, data, grad in self._views:
            if parameter.data is not data or parameter.grad is not grad:
                raise RuntimeError(f"optimizer: {parameter!r} was replaced after the optimizer was built "
                                   "(model.to(), or an assignment to .data/.grad); build the optimizer after moving "
                                   "the model, and change values in place (p.data[...] = ...)")


class Scratch:
    """Work buffers of one group, each allocated on first use and reused by every later step."""

    def __init__(self, like):
        self.like = like
        self._buffers = {}

    def __call__(self, name):
        buffer = self._buffers.get(name)
        if buffer is None:  # setdefault: two threads asking at once both get the one kept
            buffer = self._buffers.setdefault(name, backend.get_array_module(self.like).empty_like(self.like))
        return buffer


def _parameter_list(params, where):
    if isinstance(params, Parameter):
        raise TypeError(f"{where}: params must be an iterable of Parameters or of dicts, got one Parameter; "
                        "pass [parameter] or model.parameters()")
    return list(params)


class Optimizer:
    """The machinery shared by SGD, Adam and AdamW, shaped like torch.optim.Optimizer.

    ``param_groups`` is a list of dicts, one per group, each with its ``params`` and its own
    hyperparameters (``lr``, ``weight_decay``, ...), read at every step: a scheduler may write
    ``group["lr"] = ...`` between steps. Subclasses give ``defaults`` (torch's hyperparameter names
    and values), ``unsupported`` (torch options the engine does not implement, with the only value
    accepted), ``state_names(group)`` (the per-element buffers a group keeps) and ``update``.
    """

    unsupported = {}

    def __init__(self, params, defaults):
        where = type(self).__name__
        for name, accepted in self.unsupported.items():
            value = defaults.pop(name)
            if value != accepted:
                raise ValueError(f"{where}: {name}={value!r} is not supported; leave it at {accepted!r}")
        self.defaults = defaults
        entries = _parameter_list(params, where)
        if not entries:
            raise ValueError(f"{where} got an empty parameter list: pass model.parameters() of a model with parameters")
        if not isinstance(entries[0], dict):
            entries = [{"params": entries}]
        self.param_groups, self._flat, self._state, self._scratch = [], [], [], []
        self._checked = []  # per group, the hyperparameter values last checked (step re-checks any replaced)
        seen = set()
        for index, entry in enumerate(entries):
            self._add_group(entry, index, seen)

    def _add_group(self, entry, index, seen):
        where = type(self).__name__
        if not isinstance(entry, dict) or "params" not in entry:
            raise TypeError(f"{where}: parameter group {index} must be a dict with a 'params' entry, got {entry!r:.80}")
        unknown = sorted(set(entry) - {"params", *self.defaults, *self.unsupported})
        if unknown:
            raise ValueError(f"{where}: parameter group {index} has unknown options {unknown}; "
                             f"use some of {sorted(self.defaults)}")
        parameters = _parameter_list(entry["params"], where)
        if not parameters:
            raise ValueError(f"{where}: parameter group {index} has an empty parameter list")
        for position, parameter in enumerate(parameters):
            if not isinstance(parameter, Parameter):
                raise TypeError(f"{where}: item {position} of group {index} is {type(parameter).__name__}, "
                                "not an nn.Parameter")
            if id(parameter) in seen:
                raise ValueError(f"{where}: a parameter appears more than once (item {position} of group {index}); "
                                 "give each parameter to one group only")
            seen.add(id(parameter))
        for name, accepted in self.unsupported.items():
            if name in entry and entry[name] != accepted:
                raise ValueError(f"{where}: {name}={entry[name]!r} in group {index} is not supported; "
                                 f"leave it at {accepted!r}")
        group = {"params": parameters, **self.defaults,
                 **{name: value for name, value in entry.items() if name in self.defaults}}
        self.check_group(group, f"{where} (group {index})" if index else where)
        flat = FlatParameters(parameters, where)
        xp = backend.get_array_module(flat.data)
        self.param_groups.append(group)
        self._flat.append(flat)
        self._state.append({"step": 0, **{name: xp.zeros_like(flat.data) for name in self.state_names(group)}})
        self._scratch.append(Scratch(flat.data))
        self._checked.append([group[name] for name in self.defaults])

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params' and any hyperparameters; the rest from the defaults)."""
        self._add_group(param_group, len(self.param_groups),
                        {id(p) for group in self.param_groups for p in group["params"]})

    # --- the hyperparameters ---------------------------------------------------------------------------
    @classmethod
    def check_group(cls, group, where):
        """Raise ValueError for hyperparameters the update cannot use (one line naming the value)."""
        for name in ("lr", "weight_decay", "eps", "momentum"):
            if name in group:
                _check_number(group[name], name, where)
        if "dampening" in group:
            _check_number(group["dampening"], "dampening", where, lower=-math.inf)  # any value: torch's too
        for name in ("nesterov", "amsgrad", "maximize", "decoupled_weight_decay"):
            if name in group and not isinstance(group[name], (bool, numbers.Integral)):
                raise ValueError(f"{where}: {name} must be True or False, got {group[name]!r}")
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
            for index, beta in enumerate(betas):
                _check_number(beta, f"betas[{index}]", where, upper=1)

    def __getattr__(self, name):
        # optimizer.lr, optimizer.betas, ...: the first group's value, as a short way to read a one-group setup
        if name != "defaults" and name in self.__dict__.get("defaults", ()):
            return self.param_groups[0][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def step_count(self):
        """How many steps the (first) group has taken: torch's state 'step'."""
        return self._state[0]["step"]

    @property
    def state(self):
        """{parameter: {'step': t, 'exp_avg': view, ...}} as torch's optimizer.state; the arrays are views of
        the flat state buffers (writing into them changes the optimizer's state)."""
        result = {}
        for flat, state in zip(self._flat, self._state):
            for parameter, start, end in flat.slices:
                result[parameter] = {name: (value if name == "step" else value[start:end].reshape(parameter.shape))
                                     for name, value in state.items()}
        return result

    # --- the step ----------------------------------------------------------------------------------
    def zero_grad(self):
        for flat in self._flat:
            for parameter, _, _ in flat.slices:
                parameter.zero_grad()

    def step(self):
        for index, (group, flat, state, scratch) in enumerate(zip(self.param_groups, self._flat, self._state,
                                                                    self._scratch)):
            values = [group[name] for name in self.defaults]
            if any(map(operator.is_not, values, self._checked[index])):  # a scheduler wrote a new value: check it
                self.check_group(group, f"{type(self).__name__} (group {index})" if index else type(self).__name__)
                self._checked[index] = values
            flat.check()
            state["step"] += 1
            if self.elementwise and threads.get_num_threads() > 1 and backend.device_of(flat.data) == "cpu":
                self._update_in_slices(flat, state, scratch, group)
            else:
                self.update(flat.data, flat.grad, state, scratch, group)

    def _update_in_slices(self, flat, state, scratch, group):
        """``update`` on slices of the flat buffers at once, one per thread (nn/threads.py)."""
        def update_slice(where):
            sliced_state = {name: value[where] if getattr(value, "ndim", 0) else value for name, value in state.items()}
            self.update(flat.data[where], flat.grad[where], sliced_state, lambda name: scratch(name)[where], group)
        threads.run_sliced(update_slice, flat.data.size)

    # True where ``update`` treats each element on its own and only writes into the arrays it is given
    # (SGD, Adam): the step may then run it on slices of the buffers in several threads at once.
    elementwise = False

    def update(self, param, grad, state, scratch, group):
        raise NotImplementedError

    # --- state dicts ----------------------------------------------------------------------------------
    def state_dict(self):
        """A flat {name: number, tuple or array}: per group the step count, the hyperparameters and the
        state buffers (over the group's flat buffer). One group: plain names ('step', 'lr',
        'exp_avg'); several: prefixed with the group's index ('0.lr', '1.lr', ...)."""
        result = {}
        for prefix, group, state in zip(self._prefixes(), self.param_groups, self._state):
            result[prefix + "step"] = state["step"]
            for name in self.defaults:
                result[prefix + name] = group[name]
            for name in self.state_names(group):
                result[prefix + name] = state[name].copy()
        return result

    def _prefixes(self):
        return [""] if len(self.param_groups) == 1 else [f"{index}." for index in range(len(self.param_groups))]

    def load_state_dict(self, state_dict):
        """Restore a state dict of the same optimizer over the same parameters, all or nothing.

        The hyperparameters are taken from the state dict (as torch does); a state that needs other
        buffers than this optimizer keeps (momentum saved, none here; amsgrad) is refused."""
        problems, loaded = [], []
        expected = set()
        for prefix, group, flat in zip(self._prefixes(), self.param_groups, self._flat):
            hyperparameters = {name: _as_python(state_dict[prefix + name]) for name in self.defaults
                               if prefix + name in state_dict}
            for name, value in self.optional.items():
                hyperparameters.setdefault(name, value)  # saved before the option existed: its default
            wanted = {**group, **hyperparameters}
            names = self.state_names(wanted)
            expected |= {prefix + name for name in ("step", *self.defaults, *names)}
            problems += [f"missing key {prefix + name!r}" for name in ("step", *self.defaults)
                         if prefix + name not in state_dict and name not in self.optional]
            if names != self.state_names(group):
                problems.append(self.state_mismatch(group, wanted))
                continue
            for name in names:
                key = prefix + name
                if key not in state_dict:
                    problems.append(f"missing key {key!r}")
                elif tuple(state_dict[key].shape) != tuple(flat.data.shape):
                    problems.append(f"key {key!r} has shape {tuple(state_dict[key].shape)}, "
                                    f"expected {tuple(flat.data.shape)}")
            try:
                self.check_group(wanted, f"{prefix}hyperparameters")
            except ValueError as error:
                problems.append(str(error))
            loaded.append((group, hyperparameters, names, prefix))
        problems += [f"unexpected key {key!r}" for key in sorted(set(state_dict) - expected)]
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + "; nothing was loaded")
        for (group, hyperparameters, names, prefix), state, flat in zip(loaded, self._state, self._flat):
            group.update(hyperparameters)
            state["step"] = int(state_dict[prefix + "step"])
            device = backend.device_of(flat.data)
            for name in names:
                state[name][...] = backend.to_device(state_dict[prefix + name], device).astype(flat.data.dtype,
                                                                                              copy=False)

    optional = {}  # hyperparameters a state dict may lack (added after it was saved), with their default

    def state_mismatch(self, group, wanted):
        """One line saying which hyperparameter makes a saved state unusable here."""
        changed = [f"{name}={wanted[name]!r} (here {group[name]!r})" for name in self.defaults
                   if wanted[name] != group[name]]
        return (f"the state was saved with {', '.join(changed)}, which keeps the buffers "
                f"{list(self.state_names(wanted))} instead of {list(self.state_names(group))}; "
                "build the optimizer with the saved options")


def _check_number(value, name, where, upper=None, lower=0):
    if not isinstance(value, numbers.Real):  # arrays (0-d included) too: a step must not broadcast an lr array
        raise ValueError(f"{where}: {name} must be a Python number, got {type(value).__name__} {value!r:.60}; "
                         f"pass float({name})")
    if not value >= lower or math.isinf(value) or (upper is not None and not value < upper):
        bounds = f"in [0, {upper})" if upper is not None else "a finite number" + (" >= 0" if lower == 0 else "")
        raise ValueError(f"{where}: {name} must be {bounds}, got {name}={value!r}")


def _as_python(value):
    """A hyperparameter read back from an array (a checkpoint) as the Python number or tuple it was."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return tuple(value) if isinstance(value, list) else value
