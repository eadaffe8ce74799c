"""The mutation-testing script (tests/mutation/mutants.py) runs: a handful of mutants of one small module.
The full measurement is a benchmark, not a test; this only shows the pipeline works end to end."""
import json

import pytest

from helpers_benchmarks import run_script


def test_quick_mutation_run_writes_scores_and_survivors(tmp_path):
    pytest.importorskip("mutmut", reason="mutation testing needs mutmut: pip install -e .[mutation]")
    done = run_script("tests.mutation.mutants", "--quick", "--children", "1", "--out", str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "mutants-quick.json").read_text())
    words = report["modules"]["datasets/words.py"]
    assert words["total"] >= 3 and words["killed"] + words["survived"] == words["total"]
    assert words["score"] == pytest.approx(words["killed"] / words["total"], abs=1e-4)
    assert words["survived"] == len(words["surviving"])
    text = (tmp_path / "mutants-quick.txt").read_text()
    assert text.splitlines()[1].startswith("datasets/words.py")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mutants-quick.json", "mutants-quick.txt"]


def test_an_unknown_target_is_one_line_naming_the_choices():
    done = run_script("tests.mutation.mutants", "--targets", "nn.bogus", timeout=60)
    assert done.returncode == 2
    assert "unknown target 'nn.bogus': choose from datasets.load,datasets.rest,nn.gradcheck" in done.stderr
