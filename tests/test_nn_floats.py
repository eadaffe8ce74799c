"""nn.fast.set_flush_denormal: it round-trips, it changes exactly what it says (values below the smallest
normal float become 0, nothing else), and no optimizer changes a process setting by being built."""
import numpy
import pytest

import nn
from nn import backend
from nn.fast import floats

SUPPORTED = floats._mxcsr() is not None


@pytest.fixture
def restore_flush_mode():
    previous = floats.flush_denormal()
    yield
    nn.fast.set_flush_denormal(previous)


def halved_smallest_normal():
    return numpy.full(4, numpy.finfo(numpy.float32).tiny, dtype=numpy.float32) * numpy.float32(0.5)


def test_set_flush_denormal_round_trips(restore_flush_mode):
    for mode in (True, False, True, False):
        assert nn.fast.set_flush_denormal(mode) is SUPPORTED
        assert floats.flush_denormal() is (mode and SUPPORTED)
        assert bool((halved_smallest_normal() == 0).all()) is (mode and SUPPORTED)


@pytest.mark.skipif(SUPPORTED, reason="flushing is supported here")
def test_unsupported_platform_says_so():
    assert nn.fast.set_flush_denormal(True) is False and not floats.flush_denormal()


def adam_with_dead_units(flush):
    """50 float32 Adam steps where a fifth of the entries get zero gradients and start with an m (1e-36)
    that decays through the subnormal range; returns (parameters, m)."""
    rng = numpy.random.default_rng(0)
    parameter = nn.Parameter(rng.standard_normal(5000).astype("float32"))
    optimizer = nn.Adam([parameter], lr=1e-3)
    dead = rng.random(5000) < 0.2
    optimizer.state[parameter]["exp_avg"][dead] = 1e-36
    optimizer.state[parameter]["exp_avg_sq"][dead] = 1e-10
    optimizer.state[parameter]["step"] = 10
    nn.fast.set_flush_denormal(flush)
    try:
        for _ in range(50):
            parameter.grad = parameter.data * 0 + (numpy.where(dead, 0, rng.standard_normal(5000) * 1e-2))
            optimizer.step()
    finally:
        nn.fast.set_flush_denormal(False)
    return parameter.data.copy(), optimizer.state[parameter]["exp_avg"].copy()


@pytest.mark.skipif(not SUPPORTED, reason="set_flush_denormal is not supported on this platform")
def test_flushing_changes_only_values_below_the_smallest_normal(restore_flush_mode):
    parameter_kept, m_kept = adam_with_dead_units(flush=False)
    parameter_flushed, m_flushed = adam_with_dead_units(flush=True)
    tiny = numpy.finfo(numpy.float32).tiny
    assert ((numpy.abs(m_kept) < tiny) & (m_kept != 0)).sum() > 500  # the run did make subnormals
    # m += (1 - beta1)(g - m), torch's form: with a zero g, m's decrement underflows once m < tiny / (1 - beta1),
    # so a flushed m stops there while a kept one creeps on through the subnormals. Nowhere else do they differ.
    bound = tiny / (1 - 0.9)
    changed = m_flushed != m_kept
    assert changed.sum() > 500
    assert (numpy.abs(m_kept[changed]) < bound).all() and (numpy.abs(m_flushed[changed]) < bound).all()
    assert not ((numpy.abs(m_flushed) < tiny) & (m_flushed != 0)).any()  # and no subnormal is left
    numpy.testing.assert_array_equal(parameter_flushed, parameter_kept)  # steps of 1e-33 vanish in rounding


def test_building_and_stepping_an_optimizer_changes_no_process_setting(monkeypatch, restore_flush_mode):
    def refuse():
        raise AssertionError("keep_freed_memory called by the optimizer")
    monkeypatch.setattr(backend, "keep_freed_memory", refuse)
    nn.fast.set_flush_denormal(False)
    parameter = nn.Parameter(numpy.ones(3))
    for optimizer in (nn.Adam([parameter]), nn.SGD([nn.Parameter(numpy.ones(3))], momentum=0.9)):
        optimizer.step()
    assert not floats.flush_denormal()


def test_asking_for_the_setting_does_not_look_up_the_math_library_again(monkeypatch):
    """find_library runs ldconfig (about a millisecond): asking each step must not pay it."""
    import ctypes.util

    from nn.fast import floats
    floats.flush_denormal()
    calls = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: calls.append(name))
    for _ in range(3):
        floats.flush_denormal()
        floats.set_flush_denormal(floats.flush_denormal())
    assert calls == []


@pytest.mark.parametrize("before", [False, True])
def test_flushing_denormals_sets_the_mode_for_its_block_and_gives_back_the_thread_s_own(before):
    from nn.fast import flush_denormal, flushing_denormals, set_flush_denormal
    if not set_flush_denormal(before):
        pytest.skip("flushing subnormals is not supported on this CPU or C library")
    try:
        for mode in (True, False):
            with pytest.raises(KeyError), flushing_denormals(mode):
                assert flush_denormal() is mode
                raise KeyError("an error inside the block")
            assert flush_denormal() is before
    finally:
        set_flush_denormal(False)
