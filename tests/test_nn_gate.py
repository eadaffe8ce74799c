"""The gate every module call passes (nn/module.py): torch's semantics for a torch user's habits, and the
forward and backward hooks, held against torch's own on the same model and data."""
import numpy
import pytest
import torch

import nn


def pair_of_models(seed=3):
    """The same small model in the engine and in torch (float64, the engine's weights)."""
    nn.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(6, 5, dtype="float64"), nn.ReLU(), nn.Linear(5, 4, dtype="float64"), nn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.Sigmoid())
    theirs = theirs.double()
    theirs.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in ours.state_dict().items()})
    return ours, theirs


def test_forward_and_backward_hooks_see_what_torchs_see():
    ours, theirs = pair_of_models()
    x = numpy.random.default_rng(0).standard_normal((7, 6))
    seen = {"ours": {}, "theirs": {}}

    def recorder(side, kind):
        def hook(module, *arrays):
            index = [m for m in (ours if side == "ours" else theirs)].index(module)
            values = arrays[-1] if kind == "forward" else arrays[1][0]  # output; grad_output
            seen[side][(kind, index)] = numpy.array(values.detach().numpy() if side == "theirs" else values)
        return hook

    for index in range(4):
        ours[index].register_forward_hook(recorder("ours", "forward"))
        ours[index].register_full_backward_hook(recorder("ours", "backward"))
        theirs[index].register_forward_hook(recorder("theirs", "forward"))
        theirs[index].register_full_backward_hook(recorder("theirs", "backward"))
    loss = nn.MSELoss()
    loss(ours(x), x[:, :4])
    ours.backward(loss.backward())
    x_torch = torch.from_numpy(x).requires_grad_(True)  # so that torch calls the first layer's hook too
    torch.nn.functional.mse_loss(theirs(x_torch), torch.from_numpy(x[:, :4])).backward()
    assert set(seen["ours"]) == set(seen["theirs"]) and len(seen["ours"]) == 8
    for key in seen["ours"]:
        numpy.testing.assert_allclose(seen["ours"][key], seen["theirs"][key], rtol=1e-12, atol=1e-15, err_msg=str(key))


def test_hooks_may_replace_values_and_are_removed_by_their_handle():
    layer = nn.Linear(3, 2, dtype="float64")
    x = numpy.ones((1, 3))
    handle = layer.register_forward_hook(lambda module, args, output: output * 0 + 7)
    assert (layer(x) == 7).all()
    handle.remove()
    assert not (layer(x) == 7).all()
    pre = layer.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    numpy.testing.assert_array_equal(layer._input, x)  # the last call before the pre-hook
    layer(x)
    numpy.testing.assert_array_equal(layer._input, 2 * x)
    pre.remove()
    layer(x)
    back = layer.register_full_backward_hook(lambda module, grad_input, grad_output: (grad_input[0] * 0,))
    assert not layer.backward(numpy.ones((1, 2))).any()
    back.remove()
    with pytest.raises(TypeError, match="hook must be callable"):
        layer.register_forward_hook("not a function")


def test_a_second_backward_after_one_forward_is_refused_as_in_torch():
    layer = nn.Linear(3, 2, dtype="float64")
    layer(numpy.ones((4, 3)))
    layer.backward(numpy.ones((4, 2)), retain_graph=True)
    layer.backward(numpy.ones((4, 2)))  # allowed once more by retain_graph
    once = layer.weight.grad.copy()
    with pytest.raises(RuntimeError, match="second time after one forward.*retain_graph=True"):
        layer.backward(numpy.ones((4, 2)))
    numpy.testing.assert_array_equal(layer.weight.grad, once)  # the refused call added nothing


def test_gradients_accumulate_over_forward_backward_pairs_and_zero_grad_sets_none():
    layer = nn.Linear(3, 2, dtype="float64")
    assert layer.weight.grad is None
    for _ in range(2):
        layer(numpy.ones((4, 3)))
        layer.backward(numpy.ones((4, 2)))
    numpy.testing.assert_array_equal(layer.weight.grad, numpy.full((2, 3), 8.0))  # 2 passes x 4 rows
    layer.zero_grad()
    assert layer.weight.grad is None
    layer(numpy.ones((4, 3)))
    layer.backward(numpy.ones((4, 2)))
    layer.zero_grad(set_to_none=False)
    numpy.testing.assert_array_equal(layer.weight.grad, numpy.zeros((2, 3)))


@pytest.mark.parametrize("make", [lambda: nn.Adam, lambda: nn.AdamW,
                                  lambda: (lambda params, lr: nn.SGD(params, lr=lr, momentum=0.9))])
@pytest.mark.parametrize("foreach", [False, True])
def test_step_without_a_gradient_moves_nothing_as_in_torch(make, foreach):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    optimizer = make()(model.parameters(), lr=0.1) if foreach is False else None
    if optimizer is None:
        factory = make()
        optimizer = (factory(model.parameters(), lr=0.1, foreach=True) if factory in (nn.Adam, nn.AdamW)
                     else nn.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=True))
    loss = nn.MSELoss()
    x = numpy.random.default_rng(1).random((5, 4)).astype("float32")
    loss(model(x), x[:, :2])  # one real step first, so that momentum and Adam's state are not zero
    optimizer.zero_grad()
    model.backward(loss.backward())
    optimizer.step()
    before = [parameter.data.copy() for parameter in model.parameters()]
    optimizer.zero_grad()
    optimizer.step()  # the torch habit without backward in between: nothing moves
    for parameter, old in zip(model.parameters(), before):
        numpy.testing.assert_array_equal(parameter.data, old)


def test_a_torch_tensor_is_refused_with_the_conversion():
    with pytest.raises(TypeError, match=r"torch.Tensor.*x.detach\(\).cpu\(\).numpy\(\)"):
        nn.Linear(3, 2)(torch.ones(1, 3))
    with pytest.raises(TypeError, match=r"Python list.*numpy.asarray"):
        nn.ReLU()([1.0, -1.0])


def test_a_module_without_backward_says_what_one_looks_like():
    class Autoencoder(nn.Module):
        def __init__(self):
            self.encoder = nn.Linear(4, 2)

        def forward(self, x):
            return self.encoder(x)

    model = Autoencoder()
    model(numpy.ones((1, 4), dtype="float32"))
    with pytest.raises(NotImplementedError, match="accumulate_grad.*nn.Sequential"):
        model.backward(numpy.ones((1, 2), dtype="float32"))


def test_backward_before_forward_and_a_wrong_gradient_are_one_line():
    layer = nn.Linear(3, 2, dtype="float64")
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        layer.backward(numpy.ones((1, 2)))
    layer(numpy.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 2\) but the output has \(4, 2\)"):
        layer.backward(numpy.ones((1, 2)))
    with pytest.raises(TypeError, match="grad_output has dtype int64"):
        layer.backward(numpy.ones((4, 2), dtype="int64"))


def test_a_compiled_step_runs_the_same_hooks_with_the_same_values():
    """nn.fast.compile keeps forward and full backward hooks: what they see equals the plain step's."""
    from autoencoders.models import DeepAutoencoder
    x = numpy.random.default_rng(2).random((8, 20))
    seen = []
    for fast in (False, True):
        nn.manual_seed(4)
        model = DeepAutoencoder(input_dim=20, hidden=(12, 8), latent_dim=3, dtype="float64")
        record = {}
        for name, module in [(n, m) for n, m in _named_modules(model) if type(m) in (nn.Linear, nn.Sigmoid)]:
            module.register_forward_hook(lambda m, args, out, name=name: record.__setitem__(("out", name), out.copy()))
            module.register_full_backward_hook(
                lambda m, gin, gout, name=name: record.__setitem__(("grad", name), gout[0].copy()))
        loss = nn.MSELoss()
        if fast:
            step = nn.fast.compile(model, loss)
            assert any("FastReLU" in line for line in step.describe())  # the hooked Linears' ReLUs stay fast
            step.forward(x, x)
            step.backward()
        else:
            loss(model(x), x)
            model.backward(loss.backward())
        seen.append((record, [p.grad.copy() for p in model.parameters()]))
    (plain, plain_grads), (fast, fast_grads) = seen
    assert set(plain) == set(fast) and len(plain) == 2 * 7  # 6 Linear layers and the Sigmoid
    for key in plain:
        numpy.testing.assert_array_equal(fast[key], plain[key], err_msg=str(key))
    for ours, theirs in zip(fast_grads, plain_grads):
        numpy.testing.assert_array_equal(ours, theirs)


def _named_modules(module, prefix=""):
    yield prefix, module
    for name, child in module.named_children():
        yield from _named_modules(child, f"{prefix}.{name}" if prefix else name)


def test_after_a_fused_step_the_losss_backward_is_used_as_after_the_plain_step():
    """The fused Sigmoid + MSE backward is the loss's backward too: a second loss.backward() is refused, as
    after the plain step's model.backward(loss.backward())."""
    nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 6), nn.Sigmoid())
    loss = nn.MSELoss()
    step = nn.fast.compile(model, loss)
    assert step.fuse_output
    x = numpy.random.default_rng(0).random((3, 6), dtype=numpy.float32)
    step.forward(x, x)
    step.backward()
    with pytest.raises(RuntimeError, match="MSELoss.backward called a second time"):
        loss.backward()
