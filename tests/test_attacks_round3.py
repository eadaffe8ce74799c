"""Round 3 of the attackers' findings: each test fails on the code before its fix."""
import os
import subprocess
import sys

import pytest

import common.runfolder as runfolder
from common.runfolder import OutputError, RunFolder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- 1. a .lock that is a symbolic link, a FIFO or a folder is refused, never written through -------------
def lock_message(folder, kind):
    return (f"--out {folder}: its lock file {os.path.join(str(folder), '.lock')} is {kind}, not a regular file; "
            f"it is left as it is: remove it, or choose another --out")


@pytest.mark.parametrize("flock", [True, False])
@pytest.mark.parametrize("target", ["precious.txt", "missing.txt"])
def test_a_lock_that_is_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path, monkeypatch, flock, target):
    if not flock:
        monkeypatch.setattr(runfolder, "fcntl", None)
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.symlink(tmp_path / target, folder / ".lock")
    with pytest.raises(OutputError) as caught:
        RunFolder(folder).__enter__()
    assert str(caught.value) == lock_message(folder, "a symbolic link")
    assert (tmp_path / "precious.txt").read_text() == "the user's"
    assert not (tmp_path / "missing.txt").exists()
    assert os.path.islink(folder / ".lock") and sorted(os.listdir(folder)) == [".lock"]


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a FIFO"), (os.mkdir, "a folder")])
def test_a_lock_that_is_a_fifo_or_a_folder_is_refused_by_its_kind(tmp_path, make, kind):
    make(tmp_path / ".lock")
    with pytest.raises(OutputError) as caught:
        RunFolder(tmp_path).__enter__()
    assert str(caught.value) == lock_message(tmp_path, kind)
    assert os.listdir(tmp_path) == [".lock"]


def run_cli(*argv, cwd=ROOT, **kwargs):
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "NN_OFFLINE": "1"}, **kwargs)


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
def test_the_command_line_refuses_a_linked_lock_in_one_line(tmp_path, program):
    (tmp_path / "precious.txt").write_text("the user's")
    folder = tmp_path / "D"
    folder.mkdir()
    os.symlink(tmp_path / "precious.txt", folder / ".lock")
    done = run_cli(program, "train", "--out", str(folder), "--offline", "--data-root", str(tmp_path / "nodata"),
                   "--epochs", "1")
    assert done.returncode == 2, done.stderr
    assert (tmp_path / "precious.txt").read_text() == "the user's"
    assert done.stderr.count("\n") == 1 and "is a symbolic link" in done.stderr and "remove it" in done.stderr
