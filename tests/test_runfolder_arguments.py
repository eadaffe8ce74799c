"""The number types shared by the command line and the benchmark scripts."""
import argparse

import pytest

from runfolder.arguments import number_type


def test_numbers_within_the_bounds_are_parsed_as_their_kind():
    assert number_type(int, above=0)("3") == 3 and isinstance(number_type(int, above=0)("3"), int)
    assert number_type(int, at_least=0)("0") == 0
    assert number_type(float, above=0, at_most=60)("60") == 60.0
    assert number_type(float, above=0, below=1)("0.05") == 0.05
    assert number_type(float)("-1e300") == -1e300
    assert number_type(float, at_least=0)("1e-8") == 1e-8


@pytest.mark.parametrize("kind, bounds, text, message", [
    (int, {"above": 0}, "0", "must be positive, got 0"),
    (int, {"at_least": 1}, "0", "must be >= 1, got 0"),
    (int, {"above": 0}, "2.5", "'2.5' is not a whole number"),
    (int, {"above": 0}, "ten", "'ten' is not a whole number"),
    (float, {"above": 0}, "-1e-3", "must be finite and positive, got -1e-3"),
    (float, {"above": 0}, "nan", "must be finite and positive, got nan"),
    (float, {"above": 0}, "inf", "must be finite and positive, got inf"),
    (float, {"at_least": 0}, "-inf", "must be finite and >= 0, got -inf"),
    (float, {"above": 0, "at_most": 60}, "61", "must be finite and in (0, 60], got 61"),
    (float, {"above": 0, "below": 1}, "1", "must be finite and in (0, 1), got 1"),
    (int, {"at_least": 1, "at_most": 3}, "4", "must be in [1, 3], got 4"),
    (int, {"below": 3}, "3", "must be below 3, got 3"),
    (float, {}, "x", "'x' is not a number"),
    (int, {"above": 2}, "2", "must be above 2, got 2"),
])
def test_anything_else_is_a_usage_error_naming_the_value(kind, bounds, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        number_type(kind, **bounds)(text)
    assert str(raised.value) == message
