"""What every optimizer shares: parameter groups and their checks, ``zero_grad``, the loop of ``step``
over the parameters, and state dicts. The update rules are in nn/optim.py, as their formulas read.
"""
import math
import numbers
import operator

import types

from . import backend
from .module import Parameter, RemovableHandle

# Filled by nn/fast when nn is imported: {"foreach": form, "fused": form}, each built as form(optimizer)
# and taking the whole optimizer's step. The core never imports nn/fast itself.
FAST_FORMS = {}


class Optimizer:
    """The machinery shared by SGD, Adam and AdamW, shaped like torch.optim.Optimizer.

    ``param_groups`` is a list of dicts, one per group, each with its ``params`` and its own
    hyperparameters (``lr``, ``weight_decay``, ...), read at every step: a scheduler may write
    ``group["lr"] = ...`` between steps. ``state`` maps each parameter to its state: its step count
    ``'step'`` and the arrays its rule keeps (``state_names``). Subclasses give ``rule`` (the update
    as its formula reads), ``options`` (the hyperparameters it takes) and ``unsupported`` (torch
    options the engine does not implement, with the only value accepted).
    """

    unsupported = {}
    _step_pre_hooks = _step_post_hooks = types.MappingProxyType({})  # none until registered
    optional = {}  # hyperparameters a state dict may lack (added after it was saved), with their default

    def __init__(self, params, defaults):
        where = type(self).__name__
        for name, accepted in self.unsupported.items():
            value = defaults.pop(name)
            if value != accepted:
                raise ValueError(f"{where}: {name}={value!r} is not supported; leave it at {accepted!r}")
        foreach, fused = defaults.pop("foreach"), defaults.pop("fused")
        self.defaults = defaults
        entries = _parameter_list(params, where)
        if not entries:
            raise ValueError(f"{where} got an empty parameter list: pass model.parameters() of a model with parameters")
        if not isinstance(entries[0], dict):
            entries = [{"params": entries}]
        self.param_groups, self.state = [], {}
        self._checked = []  # per group, the hyperparameter values last checked (step re-checks any replaced)
        seen = set()
        for index, entry in enumerate(entries):
            self._add_group(entry, index, seen)
        self.foreach, self.fused = _switch(where, "foreach", foreach), _switch(where, "fused", fused)
        if self.foreach and self.fused:
            raise ValueError(f"{where}: foreach=True and fused=True cannot both be set; choose one (as torch)")
        self._fast = FAST_FORMS["fused" if self.fused else "foreach"](self) if self.foreach or self.fused else None

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
        for parameter in parameters:
            xp = backend.get_array_module(parameter.data)
            self.state[parameter] = {"step": 0, **{name: xp.zeros_like(parameter.data)
                                                   for name in self.state_names(group)}}
        self.param_groups.append(group)
        self._checked.append([group[name] for name in self.defaults])

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params' and any hyperparameters; the rest from the defaults)."""
        if self._fast is not None:
            raise ValueError(f"{type(self).__name__}.add_param_group: not with foreach=True or fused=True; "
                             "build the optimizer with every group instead")
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
        """How many steps the first parameter has taken: torch's state 'step'."""
        return self.state[self.param_groups[0]["params"][0]]["step"]

    # --- the step ----------------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Every parameter's grad = None (torch's default: ``step`` then skips it until a backward
        writes a gradient), or 0 with ``set_to_none=False``."""
        for group in self.param_groups:
            for parameter in group["params"]:
                parameter.zero_grad(set_to_none)

    def step(self):
        """One update of every parameter that has a gradient, by the rule as its formula reads. The step
        pre-hooks run first, the step post-hooks after (torch's ``register_step_pre_hook``/``_post_hook``)."""
        if self._step_pre_hooks:
            for hook in tuple(self._step_pre_hooks.values()):
                hook(self, (), {})
        self._step()
        if self._step_post_hooks:
            for hook in tuple(self._step_post_hooks.values()):
                hook(self, (), {})

    def register_step_pre_hook(self, hook):
        """hook(optimizer, args, kwargs) runs before every ``step()`` (args and kwargs are () and {}: this
        step takes none); returns a handle whose ``remove()`` takes it off, as torch's."""
        return self._add_step_hook("_step_pre_hooks", hook)

    def register_step_post_hook(self, hook):
        """hook(optimizer, args, kwargs) runs after every ``step()``; returns a removable handle, as torch's."""
        return self._add_step_hook("_step_post_hooks", hook)

    def _add_step_hook(self, kind, hook):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register{kind[:-1]}: hook must be callable, got "
                            f"{type(hook).__name__}")
        handle = RemovableHandle(self, kind)
        setattr(self, kind, {**vars(self).get(kind, {}), handle.id: hook})
        return handle

    def _step(self):
        self._check_hyperparameters()
        if self._fast is not None:
            return self._fast.step()
        for group in self.param_groups:
            options = self.rule_options(group)
            for parameter in group["params"]:
                if parameter.grad is not None:
                    state = self.state[parameter]
                    state["step"] += 1
                    self.rule(parameter.data, parameter.grad, state, **options)

    def rule_options(self, group):
        """The hyperparameters ``rule`` takes, from a group."""
        return {name: group[name] for name in self.options}

    def _check_hyperparameters(self):
        for index, group in enumerate(self.param_groups):
            values = [group[name] for name in self.defaults]
            if any(map(operator.is_not, values, self._checked[index])):  # a scheduler wrote a new value: check it
                self.check_group(group, f"{type(self).__name__} (group {index})" if index else type(self).__name__)
                self._checked[index] = values

    # --- state dicts ----------------------------------------------------------------------------------
    def state_dict(self):
        """A flat {name: number, tuple or array}: per group the step count, the hyperparameters and each
        state buffer with the group's parameters' entries laid end to end (flattened). One group: plain
        names ('step', 'lr', 'exp_avg'); several: prefixed with the group's index ('0.lr', '1.lr', ...).
        'step' is one number when every parameter of the group took as many steps, else one per parameter."""
        result = {}
        for prefix, group in zip(self._prefixes(), self.param_groups):
            states = [self.state[parameter] for parameter in group["params"]]
            steps = [state["step"] for state in states]
            xp = backend.get_array_module(group["params"][0].data)
            result[prefix + "step"] = steps[0] if len(set(steps)) == 1 else xp.asarray(steps)
            for name in self.defaults:
                result[prefix + name] = group[name]
            for name in self.state_names(group):
                result[prefix + name] = xp.concatenate([state[name].ravel() for state in states])
        return result

    def _prefixes(self):
        return [""] if len(self.param_groups) == 1 else [f"{index}." for index in range(len(self.param_groups))]

    def load_state_dict(self, state_dict):
        """Restore a state dict of the same optimizer over the same parameters, all or nothing.

        The hyperparameters are taken from the state dict (as torch does); a state that needs other
        buffers than this optimizer keeps (momentum saved, none here; amsgrad) is refused."""
        if {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{type(self).__name__}.load_state_dict: this is torch.optim's layout ('state', "
                             "'param_groups'); the engine's optimizer state dict is flat (optimizer.state_dict()) and "
                             "the two do not convert: load one saved from the engine, or start the optimizer afresh")
        problems, loaded = [], []
        expected = set()
        for prefix, group in zip(self._prefixes(), self.param_groups):
            size = sum(parameter.size for parameter in group["params"])
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
                elif tuple(state_dict[key].shape) != (size,):
                    problems.append(f"key {key!r} has shape {tuple(state_dict[key].shape)}, expected {(size,)}")
            steps = state_dict.get(prefix + "step", 0)
            if _per_parameter(steps) and _shape(steps) != (len(group["params"]),):
                problems.append(f"key {prefix + 'step'!r} has shape {_shape(steps)}, expected "
                                f"{(len(group['params']),)} (one step count per parameter)")
            else:
                problems += _step_problems(prefix + "step", steps)
            try:
                self.check_group(wanted, f"{prefix}hyperparameters")
            except ValueError as error:
                problems.append(str(error))
            loaded.append((group, hyperparameters, names, prefix))
        problems += [f"unexpected key {key!r}" for key in sorted(set(state_dict) - expected)]
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + "; nothing was loaded")
        for group, hyperparameters, names, prefix in loaded:
            group.update(hyperparameters)
            steps = state_dict[prefix + "step"]
            offset = 0
            for index, parameter in enumerate(group["params"]):
                state = self.state[parameter]
                state["step"] = int(steps[index] if _per_parameter(steps) else steps)
                device = backend.device_of(parameter.data)
                for name in names:
                    values = state_dict[prefix + name][offset:offset + parameter.size]
                    state[name][...] = backend.to_device(values, device).reshape(parameter.shape).astype(
                        parameter.dtype, copy=False)
                offset += parameter.size

    def state_mismatch(self, group, wanted):
        """One line saying which hyperparameter makes a saved state unusable here."""
        changed = [f"{name}={wanted[name]!r} (here {group[name]!r})" for name in self.defaults
                   if wanted[name] != group[name]]
        return (f"the state was saved with {', '.join(changed)}, which keeps the buffers "
                f"{list(self.state_names(wanted))} instead of {list(self.state_names(group))}; "
                "build the optimizer with the saved options")


def _switch(where, name, value):
    """torch's foreach/fused: None (the default: the plain rule here) or a bool."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise TypeError(f"{where}: {name} must be None, True or False, got {value!r}")


def _parameter_list(params, where):
    if isinstance(params, Parameter):
        raise TypeError(f"{where}: params must be an iterable of Parameters or of dicts, got one Parameter; "
                        "pass [parameter] or model.parameters()")
    return list(params)


def _check_number(value, name, where, upper=None, lower=0):
    if not isinstance(value, numbers.Real):  # arrays (0-d included) too: a step must not broadcast an lr array
        raise ValueError(f"{where}: {name} must be a Python number, got {type(value).__name__} {value!r:.60}; "
                         f"pass float({name})")
    if not value >= lower or math.isinf(value) or (upper is not None and not value < upper):
        bounds = f"in [0, {upper})" if upper is not None else "a finite number" + (" >= 0" if lower == 0 else "")
        raise ValueError(f"{where}: {name} must be {bounds}, got {name}={value!r}")


def _per_parameter(steps):
    """Whether a saved 'step' holds one count per parameter (an array, or a list as a user may write it)."""
    return isinstance(steps, (list, tuple)) or bool(getattr(steps, "ndim", 0))


def _shape(steps):
    return (len(steps),) if isinstance(steps, (list, tuple)) else tuple(steps.shape)


def _step_problems(key, steps):
    """What is wrong with a saved step count (one number, or an array of one per parameter): each must be a
    whole number >= 0. torch loads any value and fails later: Adam's step -1 becomes 0 at the next step(),
    1 - beta1**0 = 0 divides the update (a ZeroDivisionError in torch, every weight NaN in arrays). Here it
    is refused at the load, by value."""
    values = steps.tolist() if hasattr(steps, "tolist") else steps
    entries = list(values) if isinstance(values, (list, tuple)) else [values]
    for index, value in enumerate(entries):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                or value < 0 or value != int(value):
            where = f" (parameter {index})" if isinstance(values, (list, tuple)) else ""
            return [f"key {key!r} holds {value!r}{where}, but a step count is a whole number >= 0 (the steps "
                    "taken so far): load a state_dict() an optimizer saved, or skip load_state_dict to start the "
                    "optimizer afresh"]  # the first wrong entry names the fix; the others would repeat it
    return []


def _as_python(value):
    """A hyperparameter read back from an array (a checkpoint) as the Python number or tuple it was."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return tuple(value) if isinstance(value, list) else value
