"""What backprop does inside a network while it trains, measured cheaply on the engine's hooks: the
numbers behind a run's gradients.png and the "gradient_stats" entry of its metrics.json.

    stats = GradientStats(model, optimizer, every=100)   # before nn.fast.compile: the plan sees the hooks
    ... train; after each epoch: stats.end_epoch() ...
    stats.to_dict()                                      # lists of plain numbers, for metrics.json

Three things are measured, each on the hooks of nn/module.py and nn/optimizer.py. Two are measured on
some steps only: the first step of each window of ``every`` steps, and every ``sample_every``-th
(10) or ``update_every``-th (50) step after it; each is recorded per window as the mean over its
measured steps (a window also ends with its epoch):

- the gradient reaching each layer (every Linear, Conv2d and ConvTranspose2d), on one step in
  ``sample_every``: ||dL/dy||, the Frobenius norm of the layer's grad_output over the whole batch, in
  a full backward hook. Each backward pass of a trained layer in a measured step is one sample (a
  frozen layer, a GAN's discriminator during the generator's step, is not training and is skipped).
  A layer no ReLU feeds has its hook on only during a measured step: a hook costs a call even idle.
- the size of each update next to its weights, on one step in ``update_every``:
  ||p_after - p_before|| / ||p_before|| for each parameter of those layers, from the optimizer's step
  pre- and post-hooks. The copy and the two norms take whole passes over the weights: on every step
  they alone would cost the deep model's step at batch 32 about 10%, on one in 20 about 1.5%
  (measured). The usual guide for a healthy update is about 1e-3.

One is counted on every training step, since a unit is dead only if no image of the epoch woke it:

- dead ReLU units: the fraction of a ReLU's units (features; channels of a 4-d output) that were 0
  for every training image of an epoch. Each training pass adds each unit's sum over the batch into
  an accumulator (``ones @ y``: one small matrix product), and a unit whose sum stayed 0 all epoch
  was never positive. The ReLU's output is read where it costs least: when a Linear directly follows
  it, as that Linear's input, which its forward cached for backward, read in the Linear's own
  backward hook (above) -- a forward hook on either module would keep a compiled step from pairing
  a Linear with its ReLU (nn.fast.compile pairs a Linear that has only backward hooks); else from a
  forward hook on the ReLU itself, in training mode only (test losses and figures are no training).

Nothing is read back to the host until a window closes. ``remove()`` takes every hook off again.
This module imports only nn (runfolder's layering rule); the figure is in runfolder/figures.py.
"""
import math

import numpy

import nn
from nn import backend
from nn.fast.step import layer_sequence

WATCHED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
UPDATE_GUIDE = 1e-3  # the classic rule of thumb for ||update|| / ||weights|| per step
ROWS = 32  # a ReLU's per-batch unit sums kept before they are added up: one small product per step (numpy.dot
# with out=, a BLAS gemv: measured 0.6 µs against 0.9 for matmul), no addition


def named_modules(module, prefix=""):
    """(dotted name, module) of ``module`` and everything below it, depth first, torch's names."""
    yield prefix, module
    for name, child in module.named_children():
        yield from named_modules(child, f"{prefix}.{name}" if prefix else name)


def _describe(module):
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    return f"{type(module).__name__} {module.in_channels}->{module.out_channels}"


class GradientStats:
    """The gradient norms, update ratios and dead ReLU units of ``model`` trained by ``optimizer``.

    ``every``: optimizer steps per recorded window (at least 1); ``sample_every``: one step in how many
    has its gradient norms measured, ``update_every``: its update ratios (each capped at ``every``, so
    every window has one).
    """

    def __init__(self, model, optimizer, every=100, sample_every=10, update_every=50):
        for name, value in (("every", every), ("sample_every", sample_every), ("update_every", update_every)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GradientStats: {name} must be a positive integer, got {value!r}")
        self.every, self.sample_every, self.update_every = every, min(sample_every, every), min(update_every, every)
        self._update_next = True  # whether the next step's update ratio is measured
        self._norm_now = [True]  # whether this step is measured (read by the hooks, set by the step before)
        self._handles, self._hooks = [], []  # the hooks as (register method, hook), registered by attach()
        # The norm hooks of layers no ReLU feeds, on only while a measured step runs: a hook costs a call
        # on every backward even when it does nothing.
        self._sample_handles, self._sample_hooks = [], []
        named = [(name, module) for name, module in named_modules(model) if isinstance(module, WATCHED)]
        self.layers = [name for name, _ in named]
        self.shapes = [_describe(module) for _, module in named]
        trained = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
        self._parameters = [(f"{name}.{kind}", getattr(module, kind)) for name, module in named
                            for kind in ("weight", "bias")
                            if getattr(module, kind, None) is not None and id(getattr(module, kind)) in trained]
        self.parameters = [name for name, _ in self._parameters]
        self._on_host = all(type(parameter.data) is numpy.ndarray for _, parameter in self._parameters)
        # per window: the sum of the samples' norms and their count, per layer; ratios per parameter
        self._norm_sums, self._norm_counts = [0.0] * len(named), [0] * len(named)
        self._ratio_sums, self._ratio_count = [0.0] * len(self._parameters), 0
        self._before = [None] * len(self._parameters)  # the sampled step's weights, kept for the difference
        self._before_norms = [None] * len(self._parameters)
        self._sampling = False
        self.step = 0  # optimizer steps taken while collecting
        self._window_start = 0
        self.windows = {"step": [], "grad_norm": {name: [] for name in self.layers},
                        "update_ratio": {name: [] for name in self.parameters}}
        self.epochs = {"epoch": [], "step": [], "dead_fraction": {}, "dead_units": {}}
        self.relus, self._ones = [], {}
        self._attach(model, named)
        self._hooks += [(optimizer.register_step_pre_hook, self._before_step),
                        (optimizer.register_step_post_hook, self._after_step)]
        self.attach()

    # --- dead units and gradient norms ------------------------------------------------------------
    def _attach(self, model, named):
        """One full backward hook per watched layer (its gradient norm; and, for a Linear fed directly
        by a ReLU, that ReLU's unit sums from the input it cached); a forward hook on any other ReLU."""
        sequence = layer_sequence(model) or []
        names = {id(module): name for name, module in named_modules(model)}
        following = {id(module): sequence[index + 1] for index, module in enumerate(sequence[:-1])}
        fed = {}  # id(Linear) -> the index of the ReLU whose output is its input
        self._alive, self._rows, self._filled = [], [], []
        for name, module in named_modules(model):
            if type(module) is not nn.ReLU:
                continue
            index = len(self.relus)
            after = following.get(id(module))
            if type(after) is nn.Linear:
                fed[id(after)] = index
                seen = f"input of {names[id(after)]}"
            else:
                self._hooks.append((module.register_forward_hook, self._alive_hook(index)))
                seen = "output"
            self.relus.append({"name": name, "seen_as": seen, "units": None})
            self._alive.append(None)  # the per-unit sums, made at the first pass (its width and device)
            self._rows.append(None)  # ROWS batch sums not yet added (made with the accumulator)
            self._filled.append(0)
            self.epochs["dead_fraction"][name] = []
            self.epochs["dead_units"][name] = []
        for index, (_, module) in enumerate(named):
            hooks = self._hooks if id(module) in fed else self._sample_hooks
            hooks.append((module.register_full_backward_hook, self._layer_hook(index, fed.get(id(module)))))

    def _add_units(self, index, y):
        """Each unit's sum over the batch added into the ReLU's accumulator: a unit whose sum stays 0
        was 0 for every image (ReLU outputs are never negative)."""
        xp = backend.get_array_module(y)
        sums = self._alive[index]
        if sums is None:
            self._alive[index] = sums = xp.zeros(y.shape[1], dtype=y.dtype)
            self._rows[index] = xp.empty((ROWS, y.shape[1]), dtype=y.dtype)
            self.relus[index]["units"] = int(y.shape[1])
        if y.ndim == 2:  # (N, units): ones @ y, one BLAS call (a column sum is slower on small batches)
            row = self._ones.get(y.shape)
            if row is None or row.dtype != y.dtype or type(row) is not type(y):
                row = self._ones[y.shape] = xp.ones(y.shape[0], dtype=y.dtype)
            sums += row @ y
        else:  # (N, C, ...): a unit is a channel
            sums += y.sum(axis=(0, *range(2, y.ndim)))

    def _flush(self, index):
        """The batch sums kept in a ReLU's rows, added into its accumulator."""
        filled = self._filled[index]
        if filled:
            self._alive[index] += self._rows[index][:filled].sum(axis=0)
            self._filled[index] = 0

    def _alive_hook(self, index):
        def hook(module, args, output):
            if module.training:  # eval passes (test losses, figures) are no training images
                self._add_units(index, output)
        return hook

    def _layer_hook(self, index, relu):
        sums, counts, on_host, now = self._norm_sums, self._norm_counts, self._on_host, self._norm_now
        ones, rows, filled = self._ones, self._rows, self._filled

        def hook(module, grad_input, grad_output):
            if not module.weight.requires_grad:  # frozen: this backward trains another network
                return
            if relu is not None:
                # The ReLU's output is this Linear's input, which its forward cached for this backward
                # (nn.Linear's _input; a compiled step's FastLinear sets it too): no forward hook is needed,
                # which would keep a compiled step from pairing the Linear with its own ReLU. Its batch
                # sums, ones @ y, go into the next of the ReLU's rows, added up every ROWS steps.
                y = module._input
                row = ones.get(y.shape)
                slot = filled[relu]
                if row is None or rows[relu] is None or type(row) is not type(y):
                    self._add_units(relu, y)  # the first batch of this shape (or a first pass)
                else:
                    (numpy.dot if on_host else backend.get_array_module(y).dot)(row, y, out=rows[relu][slot])
                    filled[relu] = slot + 1
                    if slot + 1 == ROWS:
                        self._flush(relu)
            if now[0]:
                g = grad_output[0]
                if on_host:
                    sums[index] += math.sqrt(numpy.vdot(g, g))
                else:
                    xp = backend.get_array_module(g)
                    sums[index] = sums[index] + xp.sqrt(xp.vdot(g, g))
                counts[index] += 1
        return hook

    # --- update ratios -----------------------------------------------------------------------------
    def _before_step(self, optimizer, args, kwargs):
        self._sampling = self._update_next
        if not self._sampling:
            return
        for position, (_, parameter) in enumerate(self._parameters):
            data = parameter.data
            before = self._before[position]
            if before is None or before.shape != data.shape:
                before = self._before[position] = data.copy()
            else:
                before[...] = data
            self._before_norms[position] = self._vdot(data)

    def _vdot(self, array):
        if self._on_host:
            return float(numpy.vdot(array, array))
        return backend.get_array_module(array).vdot(array, array)

    def _after_step(self, optimizer, args, kwargs):
        if self._sampling:
            for position, (_, parameter) in enumerate(self._parameters):
                before = self._before[position]
                backend.get_array_module(before).subtract(parameter.data, before, out=before)
                change, size = self._vdot(before), self._before_norms[position]
                if self._on_host:
                    ratio = math.sqrt(change / size) if size > 0 else math.inf
                else:
                    ratio = backend.get_array_module(before).sqrt(change / size)
                self._ratio_sums[position] = self._ratio_sums[position] + ratio
            self._ratio_count += 1
        self.step += 1
        if self.step - self._window_start >= self.every:
            self._close_window()
        into_window = self.step - self._window_start
        self._update_next = into_window % self.update_every == 0
        self._measure_next(into_window % self.sample_every == 0)

    # --- records -----------------------------------------------------------------------------------
    def _close_window(self):
        if self.step == self._window_start:
            return
        self.windows["step"].append(self.step)
        for name, total, count in zip(self.layers, self._norm_sums, self._norm_counts):
            self.windows["grad_norm"][name].append(_finite(float(total) / count) if count else None)
        for name, total in zip(self.parameters, self._ratio_sums):
            self.windows["update_ratio"][name].append(
                _finite(float(total) / self._ratio_count) if self._ratio_count else None)
        self._norm_sums[:] = [0.0] * len(self._norm_sums)
        self._norm_counts[:] = [0] * len(self._norm_counts)
        self._ratio_sums[:] = [0.0] * len(self._ratio_sums)
        self._ratio_count = 0
        self._window_start = self.step
        self._measure_next(True)  # a window's first step is always measured
        self._update_next = True

    def end_epoch(self, epoch):
        """Close the epoch's last window and record its dead units (epoch: the run's epoch number)."""
        self._close_window()
        self.epochs["epoch"].append(int(epoch))
        self.epochs["step"].append(self.step)
        for index in range(len(self.relus)):
            self._flush(index)
        for relu, sums in zip(self.relus, self._alive):
            if sums is None:  # no training forward reached it this epoch
                self.epochs["dead_units"][relu["name"]].append(None)
                self.epochs["dead_fraction"][relu["name"]].append(None)
                continue
            dead = int(backend.to_numpy(sums <= 0).sum())
            self.epochs["dead_units"][relu["name"]].append(dead)
            self.epochs["dead_fraction"][relu["name"]].append(dead / sums.size)
            sums.fill(0)

    def _measure_next(self, measured):
        """Whether the next step is measured: the flag the hooks read, and the norm-only hooks on or off."""
        self._norm_now[0] = measured
        if measured and self._handles and not self._sample_handles:
            self._sample_handles = [register(hook) for register, hook in self._sample_hooks]
        elif not measured and self._sample_handles:
            for handle in self._sample_handles:
                handle.remove()
            self._sample_handles = []

    def attach(self):
        """Put the hooks on (done when built; again after ``remove()``, to go on measuring)."""
        if not self._handles:
            self._handles = [register(hook) for register, hook in self._hooks]
            self._measure_next(self._norm_now[0])

    def remove(self):
        """Take every hook off (the model and optimizer then run as if never watched); the batch sums kept
        for the dead units are added up first."""
        for index in range(len(self.relus)):
            self._flush(index)
        for handle in self._handles + self._sample_handles:
            handle.remove()
        self._handles, self._sample_handles = [], []

    def to_dict(self, first_epoch=1):
        """The measurements as plain lists and numbers (metrics.json's "gradient_stats")."""
        return {
            "about": "grad_norm: mean over a window of steps of ||dL/dy|| at each layer (Frobenius, whole batch); "
                     "update_ratio: mean over the window's sampled steps of ||p_after - p_before|| / ||p_before||; "
                     "dead_fraction: share of a ReLU's units that were 0 for every training image of the epoch",
            "every": self.every, "sample_every": self.sample_every, "update_every": self.update_every,
            "update_guide": UPDATE_GUIDE,
            "steps_per_epoch": (self.epochs["step"][0] if self.epochs["step"] else None),
            "first_epoch": first_epoch,
            "layers": [{"name": name, "shape": shape} for name, shape in zip(self.layers, self.shapes)],
            "parameters": list(self.parameters),
            "relus": [dict(relu) for relu in self.relus],
            "windows": _copy(self.windows),
            "epochs": _copy(self.epochs),
        }


def _finite(value):
    return value if math.isfinite(value) else None


def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return list(value)


def summary_line(stats):
    """One line on what a run's gradient statistics (a to_dict()) say at its end, for the run's summary."""
    parts = []
    relus = stats["relus"]
    if relus and stats["epochs"]["epoch"]:
        dead = [stats["epochs"]["dead_units"][relu["name"]][-1] for relu in relus]
        units = [relu["units"] for relu in relus]
        known = [(count, total) for count, total in zip(dead, units) if count is not None and total]
        if known:
            count, total = sum(c for c, _ in known), sum(t for _, t in known)
            parts.append(f"{count} of {total} ReLU units dead in the last epoch ({100 * count / total:.0f}%)")
    weights = [name for name in stats["parameters"] if name.endswith(".weight")]
    last = [stats["windows"]["update_ratio"][name][-1] for name in weights if stats["windows"]["update_ratio"][name]]
    last = [value for value in last if value is not None]
    if last:
        parts.append(f"update/weight per step {float(numpy.median(last)):.1e} (median over the weights, last "
                     f"window; guide {stats['update_guide']:g})")
    return "gradients: " + ("; ".join(parts) if parts else "nothing measured") + " (gradients.png)"
