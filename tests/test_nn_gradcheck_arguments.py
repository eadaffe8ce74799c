"""gradcheck's own arguments: a step, a count of directions and inputs it cannot use are refused
in one line (a zero step divided by zero; zero directions checked nothing and passed)."""
import numpy
import pytest

import nn


@pytest.mark.parametrize("options, message", [
    (dict(eps=0.0), "eps must be a positive step"),
    (dict(eps=-1e-6), "eps must be a positive step"),
    (dict(mode="directional", directions=0), "directions must be a positive integer"),
    (dict(mode="directional", directions=2.5), "directions must be a positive integer"),
])
def test_unusable_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        nn.gradcheck(nn.Linear(3, 2), numpy.ones((2, 3)), **options)


def test_no_inputs_is_refused():
    with pytest.raises(ValueError, match="at least one input"):
        nn.gradcheck(nn.Linear(3, 2), [])
