"""The tutorial's drawings of its derivations (autoencoders/tutorial_figures.py) come from the model
they are given: the graph's boxes and shapes from hooks on a real forward and backward pass, the
finite-difference figure's slopes from backward and from the loss itself."""
import numpy
import pytest
from matplotlib.patches import FancyBboxPatch

import nn
from autoencoders import DeepAutoencoder
from autoencoders.tutorial_figures import (_save, draw_finite_difference, draw_training_graph, main,
                                           trace_training_step)


def digits(count, seed=0):
    return numpy.random.default_rng(seed).random((count, 784)).astype(numpy.float32)


def texts_of(figure):
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def test_the_deep_model_traced_box_by_box():
    nn.manual_seed(0)
    model = DeepAutoencoder()
    nodes = trace_training_step(model, nn.MSELoss(), digits(32))
    assert len(nodes) == 1 + 19 + 1          # the input, 10 Linear + 8 ReLU + 1 Sigmoid, the loss
    assert [node.name for node in nodes[:3]] == ["input x", "Linear", "ReLU"]
    assert [node.name for node in nodes[-2:]] == ["Sigmoid", "MSELoss"]
    widths = [784, 128, 64, 36, 18, 9, 18, 36, 64, 128, 784]
    linears = [node for node in nodes if node.name == "Linear"]
    assert [node.output_shape for node in linears] == [(32, width) for width in widths[1:]]
    assert [node.parameters for node in linears] == [[("weight", (out, into)), ("bias", (out,))]
                                                     for into, out in zip(widths, widths[1:])]
    assert nodes[0].output_shape == nodes[0].grad_shape == (32, 784)   # dL/dx of the first Linear
    assert nodes[-1].output_shape == () and nodes[-1].detail == "target (32, 784)"
    # every gradient has the shape of the tensor it belongs to, as the backward hooks saw it
    assert all(node.grad_shape == node.output_shape for node in nodes)


def test_the_trace_leaves_the_model_as_it_was():
    model = DeepAutoencoder()
    before = [parameter.data.copy() for parameter in model.parameters()]
    trace_training_step(model, nn.MSELoss(), digits(4))
    assert all(numpy.array_equal(kept, parameter.data) for kept, parameter in zip(before, model.parameters()))
    assert all(parameter.grad is None for parameter in model.parameters())
    model(digits(4))                                   # the hooks are gone: a plain step still runs
    assert all(not module._forward_hooks for module in model.modules())


def test_another_model_draws_another_graph():
    small = DeepAutoencoder(input_dim=100, hidden=(40,), latent_dim=7)
    x = numpy.random.default_rng(1).random((5, 100)).astype(numpy.float32)
    figure = draw_training_graph(small, nn.MSELoss(), x)
    assert len(figure.nodes) == 1 + 7 + 1            # 4 Linear, 2 ReLU, 1 Sigmoid
    boxes = [patch for patch in figure.axes[0].patches if isinstance(patch, FancyBboxPatch)]
    assert len(boxes) == len(figure.nodes)
    texts = texts_of(figure)
    assert "(5, 7)" in texts and "(5, 40)" in texts and "(5, 100)" in texts
    assert "(5, 9)" not in texts and "(5, 784)" not in texts
    assert any("100 -> 40" in text and "weight (40, 100)" in text for text in texts)
    assert "7 layers" in figure._suptitle.get_text()


def test_finite_difference_slopes_agree_for_a_correct_backward():
    nn.manual_seed(2)
    figure = draw_finite_difference(DeepAutoencoder(), nn.MSELoss(), digits(16))
    slopes = figure.slopes
    assert slopes["analytic"] != 0
    assert abs(slopes["numeric_small"] - slopes["analytic"]) <= 1e-5 * abs(slopes["analytic"])
    curve, tangent, secant = figure.axes[0].lines[:3]
    ws = tangent.get_xdata()
    measured = numpy.diff(tangent.get_ydata()) / numpy.diff(ws)
    assert numpy.allclose(measured, slopes["analytic"], rtol=1e-9)
    # the secant goes through (w - eps, L(w - eps)) and (w + eps, L(w + eps)), and those are on the curve
    w, eps = slopes["w"], slopes["epsilon"]
    through = numpy.interp([w - eps, w + eps], secant.get_xdata(), secant.get_ydata())
    assert numpy.allclose(through, [slopes["below"], slopes["above"]], rtol=1e-9)
    assert numpy.interp(w, curve.get_xdata(), curve.get_ydata()) == pytest.approx(slopes["loss"], rel=1e-3)


class Cube(nn.Module):
    """y = x^3 with a backward that forgets the factor 3, as in the tutorial's exercise."""

    def forward(self, x):
        self._input = x
        return x ** 3

    def backward(self, grad_output):
        return grad_output * self._input ** 2


def test_finite_difference_exposes_a_wrong_backward():
    nn.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 4), Cube(), nn.Linear(4, 6))
    x = numpy.random.default_rng(4).standard_normal((8, 6))
    slopes = draw_finite_difference(model, nn.MSELoss(), x, parameter=0).slopes
    # a weight before the broken layer: backward's slope is a third of the loss's
    assert slopes["numeric_small"] == pytest.approx(3 * slopes["analytic"], rel=1e-4)


def test_main_writes_the_two_figures_and_refuses_a_missing_folder(tmp_path, monkeypatch):
    figure = draw_training_graph(DeepAutoencoder(), nn.MSELoss(), digits(2))
    path = _save(figure, str(tmp_path / "graph.png"))
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png"]   # no temporary left behind
    with pytest.raises(SystemExit, match="is not a folder"):
        main([str(tmp_path / "missing")])
    assert path.endswith("graph.png")


def test_a_notebook_shows_the_figure_without_pyplot():
    figure = draw_training_graph(DeepAutoencoder(input_dim=16, hidden=(8,), latent_dim=2), nn.MSELoss(),
                                 digits(3)[:, :16])
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"   # what IPython shows as a cell's value
