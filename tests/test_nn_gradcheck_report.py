"""nn.gradcheck beyond pass/fail: what the report says, the edges (stale gradients, empty tensors,
plain callables, the tolerance boundary) and the errors a user can cause. Found by mutation testing
(python -m tests.mutation.mutants --targets nn.gradcheck): each test here kills mutants the others missed."""
import numpy
import pytest

import nn


class Square:
    """Not an nn.Module: any callable with a backward is accepted. y = x^2, dL/dx = 2 x g."""

    def __call__(self, x):
        self.x = x
        return x * x

    def backward(self, grad_output):
        return 2 * self.x * grad_output


class Recording(Square):
    """Keeps every upstream gradient it is given (in a class attribute: gradcheck works on a deep copy)."""
    upstream = []

    def backward(self, grad_output):
        Recording.upstream.append(grad_output.copy())
        return super().backward(grad_output)


class WrongShape(Square):
    def backward(self, grad_output):
        return (2 * self.x * grad_output).ravel()


class BackwardOnly:
    def backward(self, grad_output):
        return grad_output


def linear(rng):
    layer = nn.Linear(3, 2, dtype="float64")
    return layer, rng.standard_normal((4, 3))


def test_gradients_the_module_already_holds_are_not_counted(nn_rng):
    layer, x = linear(nn_rng)
    layer(x)
    layer.backward(nn_rng.standard_normal((4, 2)))  # stale gradients, as after a training step
    held = {name: parameter.grad.copy() for name, parameter in layer.named_parameters()}
    report = nn.gradcheck(layer, x, atol=0.0)
    assert report.passed, str(report)
    for name, parameter in layer.named_parameters():  # and the caller's are left as they were
        numpy.testing.assert_array_equal(parameter.grad, held[name])


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_the_report_names_its_mode_and_where_the_worst_error_is(mode, nn_rng):
    layer, x = linear(nn_rng)
    report = nn.gradcheck(layer, x, mode=mode, directions=3)
    assert report.mode == mode
    assert str(report).splitlines()[0] == f"gradcheck ({mode}):"
    assert [line[:6] for line in str(report).splitlines()[1:]] == ["  ok  "] * 3
    weight = report["weight"]
    assert weight.shape == (2, 3) and isinstance(weight.shape, tuple)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_the_worst_error_is_located_and_its_derivatives_given(mode, nn_rng):
    x = nn_rng.standard_normal((2, 3))
    Recording.upstream.clear()
    check = nn.gradcheck(Recording(), x, mode=mode, directions=3)["input 0"]
    analytic = 2 * x * Recording.upstream[0]  # dL/dx for the upstream gradient gradcheck drew
    if mode == "elementwise":  # an element's index, and the two derivatives there
        assert type(check.worst_index) is tuple and len(check.worst_index) == 2
        assert all(type(i) is int for i in check.worst_index)
        assert check.analytic_at_worst == analytic[check.worst_index]
        assert check.max_abs_error == abs(check.analytic_at_worst - check.numeric_at_worst)  # it is the worst
        assert check.numeric_at_worst == pytest.approx(analytic[check.worst_index], rel=1e-6)
    else:  # which random direction, and derivatives along a unit direction: |<g, d>| <= |g|
        assert check.worst_index[0] == "direction" and check.worst_index[1] in range(3)
        bound = float(numpy.linalg.norm(analytic))
        assert 0 < abs(check.analytic_at_worst) <= bound * (1 + 1e-12)
        assert check.numeric_at_worst == pytest.approx(check.analytic_at_worst, rel=1e-6)


def test_the_default_seed_is_zero_and_reports_are_reproducible(nn_rng):
    layer, x = linear(nn_rng)
    first = nn.gradcheck(layer, x, mode="directional")
    assert first == nn.gradcheck(layer, x, mode="directional")
    assert first == nn.gradcheck(layer, x, mode="directional", seed=0)
    assert first != nn.gradcheck(layer, x, mode="directional", seed=1)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_the_tolerances_are_inclusive(mode, nn_rng):
    layer, x = linear(nn_rng)
    loose = nn.gradcheck(layer, x, mode=mode, atol=0.0)
    check = loose["weight"]
    assert check.relative_error > 0 and check.max_abs_error > 0  # finite differences are never exact
    exactly_rtol = nn.gradcheck(layer, x, mode=mode, rtol=check.relative_error, atol=0.0, raise_on_failure=False)
    assert exactly_rtol["weight"].passed
    exactly_atol = nn.gradcheck(layer, x, mode=mode, rtol=0.0, atol=check.max_abs_error, raise_on_failure=False)
    assert exactly_atol["weight"].passed
    below = nn.gradcheck(layer, x, mode=mode, rtol=check.relative_error / 2, atol=check.max_abs_error / 2,
                         raise_on_failure=False)
    assert not below["weight"].passed


def test_an_empty_batch_checks_clean(nn_rng):
    layer = nn.Linear(3, 2, dtype="float64")
    report = nn.gradcheck(layer, numpy.zeros((0, 3)), atol=0.0)
    empty = report["input 0"]
    assert (empty.shape, empty.worst_index, empty.max_abs_error, empty.relative_error) == ((0, 3), (), 0.0, 0.0)
    assert (empty.analytic_at_worst, empty.numeric_at_worst) == (0.0, 0.0)
    assert report["weight"].relative_error == 0.0  # no data: both gradients exactly zero
    directional = nn.gradcheck(layer, numpy.zeros((0, 3)), mode="directional", atol=0.0)
    assert directional["weight"].relative_error == 0.0 and directional.passed


def test_any_callable_with_a_backward_is_checked(nn_rng):
    report = nn.gradcheck(Square(), nn_rng.standard_normal((2, 3)), atol=0.0)
    assert [check.name for check in report.checks] == ["input 0"] and report.passed


def test_the_callers_inputs_keep_their_values_and_dtype(nn_rng):
    x = nn_rng.standard_normal((2, 3)).astype("float32")
    before = x.copy()
    nn.gradcheck(Square(), x)
    assert x.dtype == numpy.float32
    numpy.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("module", [BackwardOnly(), lambda x: x], ids=["not callable", "no backward"])
def test_an_object_that_cannot_be_checked_is_refused_by_name(module, nn_rng):
    with pytest.raises(TypeError, match=rf"gradcheck: {type(module).__name__} has no backward\(\); pass an "
                                        r"nn.Module or an object with __call__ and backward"):
        nn.gradcheck(module, nn_rng.standard_normal(3))


def test_a_gradient_of_the_wrong_shape_is_one_clear_error(nn_rng):
    with pytest.raises(ValueError, match=r"gradcheck: gradient of input 0 has shape \(6,\), but the tensor "
                                         r"has \(2, 3\)"):
        nn.gradcheck(WrongShape(), nn_rng.standard_normal((2, 3)))


def test_a_failure_reads_as_the_report(nn_rng):
    class Wrong(Square):
        def backward(self, grad_output):
            return 3 * self.x * grad_output

    with pytest.raises(nn.GradcheckError) as caught:
        nn.gradcheck(Wrong(), nn_rng.standard_normal(3))
    assert str(caught.value) == "gradient check failed:\n" + str(caught.value.report)


def test_asking_for_a_check_that_is_not_there_names_those_that_are(nn_rng):
    layer, x = linear(nn_rng)
    report = nn.gradcheck(layer, x)
    with pytest.raises(KeyError, match=r"no check named 'weights'; have \['input 0', 'weight', 'bias'\]"):
        report["weights"]


def test_directions_are_unit_vectors(nn_rng):
    """With one element the only unit directions are +1 and -1: the directional derivative is +-dL/dx."""
    x = nn_rng.standard_normal(1) + 2.0
    Recording.upstream.clear()
    check = nn.gradcheck(Recording(), x, mode="directional", directions=3)["input 0"]
    gradient = float((2 * x * Recording.upstream[0])[0])
    assert abs(check.analytic_at_worst) == pytest.approx(abs(gradient), rel=1e-12)


def test_four_directions_by_default_two_forward_passes_each(nn_rng):
    class Counting(Square):
        calls = 0

        def __call__(self, x):
            Counting.calls += 1
            return super().__call__(x)

    nn.gradcheck(Counting(), nn_rng.standard_normal((2, 3)), mode="directional")
    assert Counting.calls == 1 + 2 * 4  # the forward that gives the output's shape, then +-eps along each


def test_the_worst_element_is_where_the_gradient_is_most_wrong(nn_rng):
    class OffByHalf(Recording):  # dL/dx = 3 x g instead of 2 x g: wrong by |x g|, most where |x g| is largest
        def backward(self, grad_output):
            return 1.5 * super().backward(grad_output)

    x = nn_rng.standard_normal((3, 4))
    Recording.upstream.clear()
    check = nn.gradcheck(OffByHalf(), x, raise_on_failure=False)["input 0"]
    wrongness = numpy.abs(x * Recording.upstream[0])
    assert check.worst_index == numpy.unravel_index(numpy.argmax(wrongness), x.shape)
    assert check.max_abs_error == pytest.approx(wrongness.max(), rel=1e-6)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_a_module_that_fails_mid_check_leaves_the_callers_input_as_it_was(mode, nn_rng):
    class FailsOnThirdCall(Square):
        calls = 0

        def __call__(self, x):
            FailsOnThirdCall.calls += 1
            if FailsOnThirdCall.calls == 3:  # the first calls: the output's shape, then x + eps somewhere
                raise FloatingPointError("overflow")
            return super().__call__(x)

    x = nn_rng.standard_normal((2, 3))
    before = x.copy()
    with pytest.raises(FloatingPointError):
        nn.gradcheck(FailsOnThirdCall(), x, mode=mode)
    numpy.testing.assert_array_equal(x, before)
