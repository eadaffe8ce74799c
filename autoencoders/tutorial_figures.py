"""The tutorial's two drawings of a derivation, made from a real model rather than by hand:

- ``draw_training_graph``: the computational graph of one training step, input -> each layer ->
  loss, every box one leaf module of the model and every arrow the tensor that flows along it, its
  shape recorded by forward hooks on a real forward pass and the gradient's shape by full backward
  hooks on the real backward pass that follows (``trace_training_step``);
- ``draw_finite_difference``: the check of one weight's gradient as two slopes, the loss as a
  function of that weight, the slope dL/dw that backward gives drawn as the tangent, and the
  central-difference secant through L(w - eps) and L(w + eps) (``finite_difference_slopes``).

Both return a ``matplotlib.figure.Figure`` (a ``ShownFigure``) built without pyplot (no backend chosen, no global state:
a notebook shows it, a script saves it). The PNGs in docs/figures/tutorial/ are regenerated with
``python -m autoencoders.tutorial_figures docs/figures/tutorial``.
"""
import copy
import io
import os
import sys
from dataclasses import dataclass, field

import numpy
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

import nn


@dataclass
class Node:
    """One box of the graph: a leaf module as it ran, or the input, or the loss."""
    name: str
    detail: str = ""                       # a Linear's "784 -> 128", the loss's target
    output_shape: tuple = ()
    grad_shape: tuple = None               # dL/d(output): the gradient arriving from above
    grad_input_shape: tuple = None         # dL/d(input): what its backward returned (None: not computed)
    parameters: list = field(default_factory=list)   # [(name, shape)]


class ShownFigure(Figure):
    """A Figure that a notebook shows as a PNG when it is a cell's value, whatever backend is (or is
    not yet) active: no pyplot needed, so nothing else of matplotlib's global state is touched."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def _shape(array):
    return tuple(int(size) for size in numpy.shape(array))


def leaf_modules(model):
    """The modules that compute (no children), in the order ``modules()`` walks them."""
    return [module for module in model.modules() if not module.children()]


def trace_training_step(model, loss, x, target=None):
    """Run one forward pass, the loss and one full backward pass of ``model`` on ``x`` (target: ``x``,
    an autoencoder's) with hooks on every leaf module and on the loss; returns the graph as a list
    of ``Node``: the input, each leaf module in the order it ran, the loss. Parameters' gradients
    are cleared afterwards, so the model is left as it was found (its weights are not touched)."""
    target = x if target is None else target
    ran, handles = [], []

    def record_forward(module, inputs, output):
        node = Node(type(module).__name__, output_shape=_shape(output),
                    parameters=[(name, _shape(parameter.data)) for name, parameter in module.named_parameters()])
        if isinstance(module, nn.Linear):
            node.detail = f"{module.in_features} -> {module.out_features}"
        ran.append((module, node))

    def record_backward(module, grad_input, grad_output):
        # the last node this module produced that has no gradient yet (a module may run twice)
        for owner, node in reversed(ran):
            if owner is module and node.grad_shape is None:
                node.grad_shape = _shape(grad_output[0])
                node.grad_input_shape = None if grad_input[0] is None else _shape(grad_input[0])
                break

    try:
        for module in leaf_modules(model) + [loss]:
            handles.append(module.register_forward_hook(record_forward))
            handles.append(module.register_full_backward_hook(record_backward))
        value = loss(model(x), target)
        model.backward(loss.backward())
    finally:
        for handle in handles:
            handle.remove()
    model.zero_grad()
    loss_node = ran[-1][1]
    loss_node.detail = f"target {_shape(target)}"
    loss_node.grad_shape = _shape(value)   # dL/dL = 1, the start of backward
    input_node = Node("input x", output_shape=_shape(x), grad_shape=ran[0][1].grad_input_shape)
    return [input_node] + [node for _, node in ran]


def _text_shape(shape):
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def _node_label(node):
    lines = [node.name] + ([node.detail] if node.detail else [])
    lines += [f"{name} {_text_shape(shape)}" for name, shape in node.parameters]
    return "\n".join(lines)


def draw_training_graph(model, loss, x, target=None, per_row=6, title=None):
    """The computational graph of one training step of ``model`` (see ``trace_training_step``), drawn
    in rows of ``per_row`` boxes that snake left to right, then right to left. Black arrows: the
    forward pass, labelled with each output's shape; red dashed arrows: the backward pass, labelled
    with the shape of the gradient the backward hooks saw. Returns the Figure; its ``nodes``
    attribute holds the traced nodes."""
    nodes = trace_training_step(model, loss, x, target)
    rows = -(-len(nodes) // per_row)
    width, height, gap_x, gap_y = 2.3, 1.15, 1.25, 1.35
    positions = []
    for index in range(len(nodes)):
        row, column = divmod(index, per_row)
        if row % 2:
            column = per_row - 1 - column
        positions.append((column * (width + gap_x), -row * (height + gap_y)))
    figure = ShownFigure(figsize=(per_row * 2.45, rows * 1.75 + 0.7))
    axes = figure.add_axes((0.01, 0.01, 0.98, 0.9 if title is not False else 0.98))
    for node, (left, bottom) in zip(nodes, positions):
        colour = ("#dfe9f5" if node.name == "Linear" else "#fbe3c8" if node.name == "MSELoss"
                  else "#eeeeee" if node.name == "input x" else "#e3f1df")
        axes.add_patch(FancyBboxPatch((left, bottom), width, height, boxstyle="round,pad=0.04,rounding_size=0.12",
                                      facecolor=colour, edgecolor="#555555", linewidth=0.8))
        axes.text(left + width / 2, bottom + height / 2, _node_label(node), ha="center", va="center", fontsize=7.2)
    for index in range(len(nodes) - 1):
        (x0, y0), (x1, y1) = positions[index], positions[index + 1]
        grad = nodes[index].grad_shape
        forward, backward = _text_shape(nodes[index].output_shape), "not computed" if grad is None else _text_shape(grad)
        if y0 == y1:  # along a row
            start_x, end_x = (x0 + width, x1) if x1 > x0 else (x0, x1 + width)
            middle = (start_x + end_x) / 2
            top, low = y0 + height * 0.68, y0 + height * 0.32
            axes.add_patch(FancyArrowPatch((start_x, top), (end_x, top), arrowstyle="-|>", mutation_scale=9,
                                           color="black", linewidth=0.9))
            axes.add_patch(FancyArrowPatch((end_x, low), (start_x, low), arrowstyle="-|>", mutation_scale=9,
                                           color="tab:red", linewidth=0.9, linestyle="--"))
            axes.text(middle, top + 0.07, forward, ha="center", va="bottom", fontsize=6.4)
            axes.text(middle, low - 0.07, backward, ha="center", va="top", fontsize=6.4, color="tab:red")
        else:  # down to the next row
            left, right = x0 + width * 0.35, x0 + width * 0.65
            axes.add_patch(FancyArrowPatch((left, y0), (left, y1 + height), arrowstyle="-|>", mutation_scale=9,
                                           color="black", linewidth=0.9))
            axes.add_patch(FancyArrowPatch((right, y1 + height), (right, y0), arrowstyle="-|>", mutation_scale=9,
                                           color="tab:red", linewidth=0.9, linestyle="--"))
            middle = (y0 + y1 + height) / 2
            axes.text(left - 0.06, middle, forward, ha="right", va="center", fontsize=6.4)
            axes.text(right + 0.06, middle, backward, ha="left", va="center", fontsize=6.4, color="tab:red")
    last_x, last_y = positions[-1]
    axes.text(last_x + width / 2, last_y - 0.12, f"L {_text_shape(nodes[-1].output_shape)}",
              ha="center", va="top", fontsize=7.2, fontweight="bold")
    axes.set_xlim(-0.3, per_row * (width + gap_x) - gap_x + 0.3)
    axes.set_ylim(-(rows - 1) * (height + gap_y) - 0.55, height + 0.15)
    axes.set_aspect("equal")
    axes.axis("off")
    if title is not False:
        figure.suptitle(title or (f"One training step: forward (black, each output's shape) and backward "
                                  f"(red dashed, each gradient's shape); {len(nodes) - 2} layers"), fontsize=9)
    figure.nodes = nodes
    return figure


def _linear_weights(model):
    return [module.weight for module in leaf_modules(model) if isinstance(module, nn.Linear)]


SMALL_EPSILON = 1e-6


def finite_difference_slopes(model, loss, x, target=None, parameter=None, index=None, epsilon=None, points=61):
    """The loss as a function of one weight w, around its value, on a float64 copy of ``model``.

    parameter: one of the copy's parameters is picked by its position in ``model.parameters()``
    (default: the last Linear's weight); index: the weight within it (default: the one with the
    largest |dL/dw|). Returns a dict: ``w``, ``loss`` (at w), ``analytic`` (dL/dw from backward),
    ``epsilon``, ``numeric`` ((L(w + eps) - L(w - eps)) / 2 eps), ``ws`` and ``losses`` (the curve).
    ``numeric_small`` is the same difference at eps = 1e-6, nn.gradcheck's. The drawn eps defaults to a
    third of the half-width of the curve's span, so that the secant's two points
    are visible; the span reaches about to the minimum of the parabola through three points at w."""
    target = x if target is None else target
    model = copy.deepcopy(model).to(dtype="float64")
    x, target = numpy.asarray(x, dtype=numpy.float64), numpy.asarray(target, dtype=numpy.float64)
    parameters = model.parameters()
    if parameter is None:
        weight = _linear_weights(model)[-1]
        parameter = next(position for position, candidate in enumerate(parameters) if candidate is weight)
    chosen = parameters[parameter]
    model.zero_grad()
    value = float(loss(model(x), target))
    model.backward(loss.backward())
    gradient = chosen.grad
    if index is None:
        index = numpy.unravel_index(int(numpy.argmax(numpy.abs(gradient))), gradient.shape)
    index = tuple(int(i) for i in numpy.atleast_1d(index))
    analytic = float(gradient[index])
    w = float(chosen.data[index])

    def loss_at(value_of_w):
        chosen.data[index] = value_of_w
        try:
            return float(loss(model(x), target))
        finally:
            chosen.data[index] = w

    step = 1e-2
    curvature = (loss_at(w + step) + loss_at(w - step) - 2 * value) / step ** 2
    half_span = 1.5 * abs(analytic) / curvature if curvature > 0 and analytic else 1.0
    half_span = float(min(max(half_span, 0.05), 5.0))
    epsilon = half_span / 3 if epsilon is None else float(epsilon)
    ws = numpy.linspace(w - half_span, w + half_span, points)
    return {"w": w, "loss": value, "analytic": analytic, "epsilon": epsilon,
            "numeric": (loss_at(w + epsilon) - loss_at(w - epsilon)) / (2 * epsilon),
            # what nn.gradcheck uses: eps 1e-6, where the secant's slope is the tangent's to ~1e-9
            "numeric_small": (loss_at(w + SMALL_EPSILON) - loss_at(w - SMALL_EPSILON)) / (2 * SMALL_EPSILON),
            "below": loss_at(w - epsilon), "above": loss_at(w + epsilon),
            "ws": ws, "losses": numpy.array([loss_at(value) for value in ws]),
            "parameter": parameter, "index": index}


def draw_finite_difference(model, loss, x, target=None, parameter=None, index=None, epsilon=None):
    """``finite_difference_slopes`` drawn: the loss curve, the tangent of slope dL/dw from backward at
    w, and the secant through the two points at w -/+ eps. Returns the Figure; its ``slopes``
    attribute holds the numbers drawn."""
    slopes = finite_difference_slopes(model, loss, x, target, parameter, index, epsilon)
    w, value, eps = slopes["w"], slopes["loss"], slopes["epsilon"]
    ws = slopes["ws"]
    figure = ShownFigure(figsize=(6.4, 4.2))
    axes = figure.add_subplot()
    axes.plot(ws, slopes["losses"], color="black", linewidth=1.6, label="L(w), the loss as w alone moves")
    axes.plot(ws, value + slopes["analytic"] * (ws - w), color="tab:blue", linewidth=1.2,
              label=f"tangent, slope dL/dw from backward = {slopes['analytic']:.6g}")
    secant_at_w = (slopes["below"] + slopes["above"]) / 2
    axes.plot(ws, secant_at_w + slopes["numeric"] * (ws - w), color="tab:orange", linewidth=1.2, linestyle="--",
              label=f"secant, (L(w+ε) − L(w−ε)) / 2ε = {slopes['numeric']:.6g}")
    axes.plot([w - eps, w + eps], [slopes["below"], slopes["above"]], "o", color="tab:orange", markersize=5)
    axes.plot([w], [value], "o", color="tab:blue", markersize=5)
    low, high = slopes["losses"].min(), slopes["losses"].max()
    margin = 0.15 * (high - low or abs(high) or 1.0)
    axes.set_ylim(low - margin, high + margin)
    axes.set_xlim(ws[0], ws[-1])
    def relative(numeric):
        return abs(slopes["analytic"] - numeric) / max(abs(slopes["analytic"]), 1e-300)

    name = f"parameters()[{slopes['parameter']}]{list(slopes['index'])}"
    axes.set_title(f"One weight, {name}. The slopes differ by {relative(slopes['numeric']):.1e} (relative)\n"
                   f"at the drawn ε = {eps:.3g}, by {relative(slopes['numeric_small']):.1e} "
                   f"at ε = {SMALL_EPSILON:g} (nn.gradcheck's)", fontsize=8.5)
    axes.set_xlabel("w")
    axes.set_ylabel("L (float64)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7.5, loc="upper center")
    figure.tight_layout()
    figure.slopes = slopes
    return figure


def _save(figure, path):
    """Write ``figure`` as a PNG to a temporary file beside ``path``, then rename it into place."""
    temporary = f"{path}.tmp-{os.getpid()}"
    figure.savefig(temporary, format="png", dpi=100)
    os.replace(temporary, path)
    return path


def main(argv=None):
    """python -m autoencoders.tutorial_figures FOLDER: the tutorial's two figures, from the deep model
    (untrained, seed 0) on 32 test digits, written as FOLDER/training_graph.png and
    FOLDER/finite_difference.png."""
    from datasets import load

    from .models import DeepAutoencoder

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m autoencoders.tutorial_figures FOLDER (for instance docs/figures/tutorial)")
    folder = argv[0]
    if not os.path.isdir(folder):
        raise SystemExit(f"tutorial_figures: {folder!r} is not a folder; create it or name an existing one")
    nn.manual_seed(0)
    model, loss = DeepAutoencoder(), nn.MSELoss()
    images = load("mnist", split="test", limit=32).images
    for name, figure in (("training_graph.png", draw_training_graph(model, loss, images)),
                         ("finite_difference.png", draw_finite_difference(model, loss, images))):
        print(_save(figure, os.path.join(folder, name)))


if __name__ == "__main__":
    main()
