"""tests/mutation/mutants.py updates its report: a run of one target keeps the other modules' results, a
source file that changed is measured afresh, and --recheck runs only what is still alive."""
import json

import pytest

from tests.mutation import mutants
from helpers_benchmarks import run_script


def _found(**statuses):
    """{source: {mutant: [status, diff]}} for one file of a fake module ``pkg.mod``."""
    return {"pkg/mod.py": {f"pkg.mod.x_f__mutmut_{number}": [status, "" if status == "killed" else f"diff {number}"]
                           for number, status in statuses.items()}}


def test_every_nn_file_is_mutated_by_exactly_one_target():
    nn_files = sorted(str(path.relative_to(mutants.ROOT)) for path in (mutants.ROOT / "nn").rglob("*.py")
                      if path.name != "__init__.py")
    assert "nn/fast/step.py" in nn_files and "nn/module.py" in nn_files
    owners = {path: [name for name, (_, mutate, _) in mutants.TARGETS.items() if path in mutants.source_files(mutate)]
              for path in nn_files}
    assert {path: names for path, names in owners.items() if len(names) != 1} == {}


def test_the_fast_room_is_a_target_of_its_own_and_every_target_names_existing_tests():
    fast = {path for name, (_, mutate, _) in mutants.TARGETS.items() if name == "nn.fast"
            for path in mutants.source_files(mutate)}
    assert fast == {str(path.relative_to(mutants.ROOT)) for path in (mutants.ROOT / "nn" / "fast").glob("*.py")}
    for name, (_, _, tests) in mutants.TARGETS.items():
        selected = mutants.test_selection(tests)
        assert selected, name
        # no test list names a test file that starts interpreters or is gone
        assert not {"tests/test_runfolder_layering.py", "tests/test_autoencoders_cli.py"} & set(selected), name
    assert mutants.source_files(mutants.TARGETS["gans"][1]) == ["gans/dcgan.py", "gans/models.py", "gans/quality.py",
                                                                "gans/training.py"]


def test_a_named_test_of_a_missing_file_is_refused():
    with pytest.raises(SystemExit, match="tests/test_gone.py::test_x: no such test file"):
        mutants.test_selection(["tests/test_gone.py::test_x"])


def test_names_pack_into_spans_and_back():
    names = [f"pkg.mod.x_f__mutmut_{number}" for number in (1, 2, 3, 7, 9, 10)] + ["pkg.mod.xǁCǁg__mutmut_4"]
    packed = mutants._pack(names)
    assert packed == {"pkg.mod.x_f": "1-3,7,9-10", "pkg.mod.xǁCǁg": "4"}
    assert sorted(mutants._unpack(packed)) == sorted(names)


def test_a_rerun_keeps_earlier_kills_of_an_unchanged_file_and_takes_its_new_verdicts():
    first = mutants.summarize(_found(**{"1": "killed", "2": "survived", "3": "not checked", "4": "no tests"}),
                              {"pkg/mod.py": "same"})["pkg/mod.py"]
    assert (first["killed"], first["survived"], first["total"], first["unchecked"]) == (1, 2, 3, 1)
    # The second run checks only 2, 3 and 4 (--recheck): 2 dies now, 3 survives, 4 still has no tests.
    again = _found(**{"1": "not checked", "2": "killed", "3": "survived", "4": "no tests"})
    merged = mutants.merge({"pkg/mod.py": first}, again, {"pkg/mod.py": "same"})["pkg/mod.py"]
    assert (merged["killed"], merged["survived"], merged["total"], merged["unchecked"]) == (2, 2, 4, 0)
    assert [row["mutant"] for row in merged["surviving"]] == ["pkg.mod.x_f__mutmut_3", "pkg.mod.x_f__mutmut_4"]
    assert merged["score"] == 0.5


def test_a_changed_file_forgets_the_earlier_verdicts():
    first = mutants.summarize(_found(**{"1": "killed", "2": "killed"}), {"pkg/mod.py": "old"})
    merged = mutants.merge(first, _found(**{"1": "not checked", "2": "survived"}), {"pkg/mod.py": "new"})["pkg/mod.py"]
    assert (merged["killed"], merged["survived"], merged["total"], merged["unchecked"]) == (0, 1, 1, 1)
    assert merged["sha256"] == "new"


def test_recheck_asks_for_survivors_timeouts_and_unchecked_of_unchanged_files_and_all_of_changed_ones(
        tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    for name in ("mod.py", "other.py"):
        (tmp_path / "pkg" / name).write_text(f"# {name}\n")
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    report = mutants.summarize(_found(**{"1": "killed", "2": "survived", "3": "not checked", "4": "timeout"}),
                               {"pkg/mod.py": mutants.file_hash(tmp_path / "pkg" / "mod.py")})
    report["pkg/other.py"] = dict(report["pkg/mod.py"], sha256="stale")
    # a timeout counts as killed, but one on a loaded machine may only have been slow: it is run again
    assert mutants.recheck_names(["pkg/*.py"], report) == ["pkg.mod.x_f__mutmut_2", "pkg.mod.x_f__mutmut_3",
                                                            "pkg.mod.x_f__mutmut_4", "pkg.other.*"]


def test_a_report_that_is_not_ours_is_refused_in_one_line(tmp_path):
    (tmp_path / "mutants.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match=r"is not a report of this script .*choose another --out"):
        mutants.read_report(tmp_path / "mutants.json")


def test_a_run_updates_the_report_and_recheck_finishes_it(tmp_path):
    pytest.importorskip("mutmut", reason="mutation testing needs mutmut: pip install -e .[mutation]")
    other = mutants.summarize(_found(**{"1": "killed"}), {"pkg/mod.py": "x"})
    (tmp_path / "mutants-quick.json").write_text(json.dumps({"seconds": {"other": 1.0}, "modules": other}))
    done = run_script("tests.mutation.mutants", "--quick", "--children", "1", "--out", str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "mutants-quick.json").read_text())
    assert report["modules"]["pkg/mod.py"] == other["pkg/mod.py"] and set(report["seconds"]) == {"other", "quick"}
    words = report["modules"]["datasets/words.py"]
    assert words["unchecked"] > 0  # --quick checks the first two mutants of each function only
    done = run_script("tests.mutation.mutants", "--quick", "--recheck", "--children", "1", "--out", str(tmp_path),
                      timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rechecked = json.loads((tmp_path / "mutants-quick.json").read_text())["modules"]["datasets/words.py"]
    assert rechecked["unchecked"] == 0 and rechecked["total"] == words["total"] + words["unchecked"]
    assert rechecked["killed"] >= words["killed"]


def test_a_report_row_of_a_file_no_target_mutates_any_more_is_dropped():
    assert mutants.moved("autoencoders/checkpoint.py")  # moved to runfolder/ in an earlier round
    assert not mutants.moved("runfolder/checkpoint.py") and not mutants.moved("nn/layers.py")
    assert not mutants.moved("pkg/mod.py")  # not one of the mutated packages: kept


def test_survivors_get_a_reason_or_are_marked_not_analysed():
    from tests.mutation.mutant_reasons import survivors_text
    diff = "--- a\n+++ b\n-    xp = get_array_module(x)\n+    xp = get_array_module(None)\n"
    odd = "--- a\n+++ b\n-    return a + b\n+    return a - b\n"
    modules = {"nn/x.py": {"surviving": [{"mutant": "nn.x.x_f__mutmut_1", "status": "survived", "diff": diff},
                                         {"mutant": "nn.x.x_f__mutmut_2", "status": "survived", "diff": odd}]}}
    text = survivors_text(modules)
    assert "# 1 equivalent, 1 not analysed" in text
    assert "nn.x.x_f__mutmut_1 [survived]: equivalent: NumPy's ufuncs" in text
    assert "nn.x.x_f__mutmut_2 [survived]: not analysed" in text and "    + return a - b" in text
