"""Shared by the nn test suite (tests/test_nn_*.py): the tolerance helper and a per-test seed."""
import zlib

import numpy
import pytest


def relative_error(ours, reference):
    """max|a - b| / max|b|, norm-wise, in float64; 0 when both are exactly zero, inf when only b is.

    ``ours`` may be a NumPy, CuPy or StrictArray array (or a number); ``reference`` a torch tensor or
    anything NumPy takes.
    """
    import nn

    if hasattr(reference, "detach"):  # a torch tensor; torch itself is imported only by the tests
        reference = reference.detach().cpu().numpy()
    a = numpy.asarray(nn.to_numpy(ours) if hasattr(ours, "shape") else ours, dtype=numpy.float64)
    b = numpy.asarray(reference, dtype=numpy.float64)
    assert a.shape == b.shape, f"shape {a.shape} != reference shape {b.shape}"
    error = float(numpy.max(numpy.abs(a - b), initial=0.0))
    scale = float(numpy.max(numpy.abs(b), initial=0.0))
    if scale == 0.0:
        return 0.0 if error == 0.0 else numpy.inf
    return error / scale


def assert_close(ours, reference, rtol, what="value"):
    """Assert relative_error(ours, reference) <= rtol (max|a - b| / max|b|: one number per tensor)."""
    error = relative_error(ours, reference)
    assert numpy.isfinite(error) and error <= rtol, f"{what}: relative error {error:.3e} > {rtol:.0e}"


@pytest.fixture
def nn_rng(request):
    """A NumPy generator seeded from the test's id: reproducible, and different for every test."""
    return numpy.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def pytest_make_parametrize_id(config, val, argname):
    """A regex given as a test parameter, as its plain text: pytest escapes a backslash in an id, and
    some escaped ids cannot be given back to pytest to run that one test (mutation testing does)."""
    if isinstance(val, str) and "\\" in val:
        return val.replace("\\", "")
    return None
