"""datasets.words: one error, two vocabularies. Small and torch-free: the mutation smoke test runs it."""
import pytest

from datasets import DataError, words


def test_a_worded_error_speaks_python_by_default_and_the_command_line_when_asked():
    error = DataError(lambda vocabulary: f"file too big: {vocabulary['limit']}")
    assert str(error) == "file too big: pass limit=N"
    assert error.say(words.CLI) == "file too big: add --limit N"
    assert words.in_words(error, words.CLI) == "file too big: add --limit N"
    assert words.in_words(error, words.PYTHON) == "file too big: pass limit=N"
    assert isinstance(error, ValueError)


def test_a_plain_message_reads_the_same_in_both_vocabularies():
    error = DataError("corrupt header in x.idx")
    assert str(error) == error.say(words.CLI) == error.say(words.PYTHON) == "corrupt header in x.idx"


def test_an_error_that_is_not_worded_is_its_str():
    assert words.in_words(OSError("disk full"), words.CLI) == "disk full"


@pytest.mark.parametrize("vocabulary", [words.PYTHON, words.CLI])
def test_both_vocabularies_name_the_same_things(vocabulary):
    assert set(vocabulary) == set(words.PYTHON) == set(words.CLI)
