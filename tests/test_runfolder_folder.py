"""Output folders and files (runfolder/folder.py), called directly: what each function promises, with
its messages asserted in full. Files of every kind, writes that fail half way, live and dead processes
(a child spawned and reaped gives a pid that is surely dead), one run at a time per folder."""
import os
import re
import socket
import stat
import subprocess

import pytest

import runfolder.folder as folder_module
from runfolder.folder import (OutputError, RunFolder, _kind, atomic_write, atomic_write_named, check_output_file,
                              process_alive, remove_stale, replace_keeping_mode, temporary_owner)

PID = os.getpid()


def dead_pid():
    """The pid of a child that has exited and been reaped: no process has it (until the kernel reuses it)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def refused(message, call, *args):
    with pytest.raises(OutputError) as caught:
        call(*args)
    assert str(caught.value) == message
    return caught.value


# --- check_output_file and _kind: nothing but a regular file is ever replaced ------------------------
@pytest.mark.parametrize("mode, name", [
    (stat.S_IFDIR | 0o755, "a folder"), (stat.S_IFLNK | 0o777, "a symbolic link"), (stat.S_IFIFO | 0o644, "a FIFO"),
    (stat.S_IFCHR | 0o666, "a character device"), (stat.S_IFBLK | 0o600, "a block device"),
    (stat.S_IFSOCK | 0o755, "a socket"), (stat.S_IFREG | 0o644, "a file"), (0o644, "not a regular file")])
def test_kind_names_every_kind_of_file(mode, name):
    assert _kind(mode) == name


def test_an_absent_path_or_a_regular_file_is_handed_back(tmp_path):
    path = str(tmp_path / "metrics.json")
    assert check_output_file(path) is path
    (tmp_path / "metrics.json").write_text("{}")
    assert check_output_file(path, "--images", "anything") is path


def kinds_of_files(directory):
    """One path of each kind that is not a regular file, by the word that names it."""
    os.mkdir("folder")
    os.mkfifo("fifo")
    (directory / "file").write_text("the user's")
    os.symlink("file", "link")
    os.symlink("nowhere", "dangling")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind("socket")  # relative: a socket's path has a short length limit
    listening.close()
    return {"folder": "a folder", "fifo": "a FIFO", "link": "a symbolic link", "dangling": "a symbolic link",
            "socket": "a socket", "/dev/null": "a character device"}


def test_every_kind_that_is_not_a_regular_file_is_refused_by_its_kind_and_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path, kind in kinds_of_files(tmp_path).items():
        refused(f"--out {path} exists and is {kind}, not a regular file; it is left as it is: choose another --out",
                check_output_file, path)
        refused(f"output file {path} exists and is {kind}, not a regular file; it is left as it is: choose another "
                "output file", check_output_file, path, "output file")
        refused(f"the file {path} exists and is {kind}, not a regular file; it is left as it is: choose another "
                "--images", check_output_file, path, "--images", f"the file {path}")
    assert (tmp_path / "file").read_text() == "the user's" and os.path.islink("link") and os.path.isdir("folder")


def test_a_block_device_is_named_as_one():
    devices = [f"/dev/{name}" for name in sorted(os.listdir("/dev")) if stat.S_ISBLK(os.lstat(f"/dev/{name}").st_mode)]
    if not devices:
        pytest.skip("no block device in /dev here")
    refused(f"--out {devices[0]} exists and is a block device, not a regular file; it is left as it is: choose "
            "another --out", check_output_file, devices[0])


def test_a_path_that_cannot_be_examined_is_refused_with_the_systems_words(tmp_path):
    (tmp_path / "file").write_text("")
    path = str(tmp_path / "file" / "child")
    error = refused(f"--out {path}: cannot be examined (Not a directory); choose another --out", check_output_file, path)
    assert isinstance(error, OSError) and error.__cause__ is None and error.__suppress_context__
    refused(f"the file {path}: cannot be examined (Not a directory); choose another --dir", check_output_file, path,
            "--dir", f"the file {path}")


# --- replace_keeping_mode, atomic_write, atomic_write_named: whole files or none -----------------------
def test_a_new_file_keeps_its_own_mode_and_a_replacing_one_takes_the_old_ones(tmp_path):
    source, destination = tmp_path / "new", tmp_path / "checkpoint.npz"
    source.write_text("new")
    source.chmod(0o640)
    replace_keeping_mode(str(source), str(destination))
    assert destination.read_text() == "new" and stat.S_IMODE(destination.stat().st_mode) == 0o640
    assert not source.exists()
    for old_mode in (0o600, 0o755):
        destination.chmod(old_mode)
        source.write_text(f"newer {old_mode}")
        source.chmod(0o644)
        replace_keeping_mode(str(source), str(destination))
        assert destination.read_text() == f"newer {old_mode}" and stat.S_IMODE(destination.stat().st_mode) == old_mode
        assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]


def test_replacing_a_folder_is_refused_and_both_are_left(tmp_path):
    (tmp_path / "new").write_text("new")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match=f"^--out {re.escape(str(tmp_path / 'folder'))} exists and is a folder"):
        replace_keeping_mode(str(tmp_path / "new"), str(tmp_path / "folder"))
    assert (tmp_path / "new").read_text() == "new" and os.listdir(tmp_path / "folder") == []


def test_atomic_write_puts_the_bytes_written_in_place(tmp_path):
    path = str(tmp_path / "metrics.json")
    assert atomic_write(path, lambda handle: handle.write(b"\x00{}\n")) == path
    assert (tmp_path / "metrics.json").read_bytes() == b"\x00{}\n"
    (tmp_path / "metrics.json").chmod(0o600)
    atomic_write(path, lambda handle: handle.write(b"second"))
    assert (tmp_path / "metrics.json").read_bytes() == b"second"
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["metrics.json"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt(), SystemExit(3)])
def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"the finished run's")

    def half_then_fail(handle):
        handle.write(b"half")
        raise error

    with pytest.raises(type(error)) as caught:
        atomic_write(str(path), half_then_fail)
    assert caught.value is error
    assert path.read_bytes() == b"the finished run's" and os.listdir(tmp_path) == ["checkpoint.npz"]


def test_atomic_write_refuses_a_folder_before_writing_anything(tmp_path):
    (tmp_path / "out").mkdir()
    calls = []
    refused(f"output file {tmp_path / 'out'} exists and is a folder, not a regular file; it is left as it is: "
            "choose another output file", atomic_write, str(tmp_path / "out"), calls.append)
    assert calls == [] and os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("name, extension", [("movie.gif", ".gif"), ("archive.tar.gz", ".gz"), ("plain", "")])
def test_the_writer_by_name_gets_an_empty_temporary_beside_the_target(tmp_path, monkeypatch, name, extension):
    monkeypatch.chdir(tmp_path)
    seen = []

    def write_to(temporary):
        seen.append((temporary, os.path.getsize(temporary)))
        with open(temporary, "a") as handle:
            handle.write("frames")

    assert atomic_write_named(name, write_to) == name  # a relative path, as given
    (temporary, size), = seen
    assert os.path.dirname(temporary) == str(tmp_path) and size == 0
    assert re.fullmatch(rf"\.tmp-{PID}-[0-9a-f]{{16}}{re.escape(extension)}", os.path.basename(temporary))
    assert temporary_owner(os.path.basename(temporary)) == PID
    assert (tmp_path / name).read_text() == "frames" and os.listdir(tmp_path) == [name]


def test_a_writer_that_writes_nothing_leaves_an_empty_file_with_the_umasks_mode(tmp_path):
    old = os.umask(0o002)
    try:
        atomic_write_named(str(tmp_path / "empty.png"), lambda temporary: None)
    finally:
        os.umask(old)
    assert (tmp_path / "empty.png").read_bytes() == b""
    assert stat.S_IMODE((tmp_path / "empty.png").stat().st_mode) == 0o664  # 0666 less the umask


def test_a_writer_that_removes_its_temporary_and_fails_is_reported_by_its_own_error(tmp_path):
    (tmp_path / "figure.png").write_bytes(b"old")

    def remove_then_fail(temporary):
        os.unlink(temporary)
        raise ValueError("the writer's own failure")

    with pytest.raises(ValueError, match="^the writer's own failure$"):
        atomic_write_named(str(tmp_path / "figure.png"), remove_then_fail)
    assert os.listdir(tmp_path) == ["figure.png"] and (tmp_path / "figure.png").read_bytes() == b"old"


def test_a_rename_onto_something_that_became_a_folder_is_refused_and_cleaned(tmp_path):
    target = tmp_path / "figure.png"

    def then_a_folder_appears(temporary):
        target.mkdir()

    with pytest.raises(OutputError, match="exists and is a folder"):
        atomic_write_named(str(target), then_a_folder_appears)
    assert os.listdir(tmp_path) == ["figure.png"] and target.is_dir()


# --- processes and their leftovers ------------------------------------------------------------------
@pytest.mark.parametrize("pid", [0, -1, -PID, -2**31])
def test_no_pid_at_or_below_0_is_a_process(pid):
    assert process_alive(pid) is False  # os.kill would signal a process group, or every process


def test_we_are_alive_init_is_and_a_reaped_child_is_not():
    assert process_alive(PID) is True
    assert process_alive(1) is True  # init: signalled if we are root, else PermissionError: alive either way
    assert process_alive(dead_pid()) is False


def test_a_live_child_is_alive_and_asking_does_not_signal_it():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert process_alive(child.pid) is True
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.05)  # still running: asking sent it no signal that ends it
    finally:
        child.kill()
        child.wait()
    assert process_alive(child.pid) is False


@pytest.mark.parametrize("error, alive", [(PermissionError(1, "Operation not permitted"), True),
                                          (ProcessLookupError(3, "No such process"), False),
                                          (OSError(22, "Invalid argument"), False)])
def test_what_the_kernel_answers_decides(monkeypatch, error, alive):
    """Another user's process cannot be signalled but is alive; any other failure is no process."""
    asked = []

    def kill(pid, number):
        asked.append((pid, number))
        raise error

    monkeypatch.setattr(folder_module.os, "kill", kill)
    assert process_alive(4242) is alive and asked == [(4242, 0)]


@pytest.mark.parametrize("name, pid", [
    (".tmp-123-0123456789abcdef.npz", 123), (".tmp-45-ab", 45), (".tmp-7.npz", 7), (".staging-89", 89),
    (".staging-12-x", 12), (".tmp-x-12.npz", None), (".tmp--1", None), (".tmp-", None), (".staging-", None),
    (".staging-a1", None), (".lock", None), ("checkpoint.npz", None), ("x.tmp-12", None), ("tmp-12", None)])
def test_temporary_owner_reads_the_pid_of_our_names_only(name, pid):
    assert temporary_owner(name) == pid


def test_remove_stale_removes_only_dead_processes_leftovers(tmp_path):
    dead = dead_pid()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not in the folder")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / f".tmp-{dead}-0123456789abcdef.npz").write_bytes(b"half")
    (folder / f".staging-{dead}").mkdir()
    (folder / f".staging-{dead}" / "sub").mkdir()
    (folder / f".staging-{dead}" / "sub" / "checkpoint.npz").write_bytes(b"half")
    os.symlink(outside, folder / f".tmp-{dead}-link")  # a link is removed, never what it points to
    kept = [f".tmp-{PID}-aa.npz", f".staging-{PID}", f".tmp-{os.getppid()}-bb", ".tmp-x.npz", ".lock",
            "checkpoint.npz", "notes.txt"]
    for name in kept:
        (folder / name).write_text("kept")
    removed = remove_stale(str(folder))
    assert sorted(removed) == sorted([f".tmp-{dead}-0123456789abcdef.npz", f".staging-{dead}", f".tmp-{dead}-link"])
    assert sorted(os.listdir(folder)) == sorted(kept)
    assert (outside / "keep.txt").read_text() == "not in the folder"
    assert remove_stale(str(folder)) == []


def test_a_leftover_removed_by_someone_else_meanwhile_is_no_error(tmp_path, monkeypatch):
    (tmp_path / ".tmp-999-ab").write_text("")

    def gone_meanwhile(pid):
        os.unlink(tmp_path / ".tmp-999-ab")
        return False

    monkeypatch.setattr(folder_module, "process_alive", gone_meanwhile)
    assert remove_stale(str(tmp_path)) == [".tmp-999-ab"] and os.listdir(tmp_path) == []


def test_a_leftover_folder_removed_by_someone_else_meanwhile_is_no_error(tmp_path, monkeypatch):
    (tmp_path / ".staging-999" / "sub").mkdir(parents=True)
    islink = os.path.islink

    def removed_meanwhile(path):  # between remove_stale's look at the folder and its removal
        answer = islink(path)
        if path == os.path.join(str(tmp_path), ".staging-999"):
            os.rmdir(os.path.join(path, "sub"))
            os.rmdir(path)
        return answer

    monkeypatch.setattr(folder_module, "process_alive", lambda pid: False)
    monkeypatch.setattr(folder_module.os.path, "islink", removed_meanwhile)
    assert remove_stale(str(tmp_path)) == [".staging-999"] and os.listdir(tmp_path) == []


# --- RunFolder: one run at a time, files replaced only on commit ----------------------------------
def in_use(path, option="--out", owner=f"process {PID}"):
    return (f"{option} {path} is in use by another run ({owner}); wait for it to finish, or choose another "
            f"{option}")


def test_entering_makes_the_folder_the_lock_and_the_staging_folder(tmp_path):
    path = tmp_path / "a" / "b"
    with RunFolder(path, ["checkpoint.npz"]) as folder:
        assert isinstance(folder, RunFolder) and folder.path == str(path) and folder.option == "--out"
        assert folder.files == frozenset({"checkpoint.npz"}) and folder.created and folder.committed is False
        assert folder.staging == str(path / f".staging-{PID}") and os.listdir(folder.staging) == []
        assert sorted(os.listdir(path)) == [".lock", f".staging-{PID}"]
        assert (path / ".lock").read_text() == f"{PID}\n"
        assert folder.staged("x.png") == str(path / f".staging-{PID}" / "x.png")
        assert folder.final("x.png") == str(path / "x.png")
    assert not path.exists() and (tmp_path / "a").is_dir()  # made, left empty, removed again


def test_the_lock_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o002)
    try:
        with RunFolder(tmp_path):
            assert stat.S_IMODE((tmp_path / ".lock").stat().st_mode) == 0o664  # 0666 less the umask
    finally:
        os.umask(old)


def test_leaving_an_existing_folder_leaves_it_as_it_was(tmp_path):
    (tmp_path / "checkpoint.npz").write_text("finished")
    with RunFolder(tmp_path, ["checkpoint.npz"]) as folder:
        assert not folder.created
        with open(folder.staged("checkpoint.npz"), "w") as handle:
            handle.write("unfinished")
    assert os.listdir(tmp_path) == ["checkpoint.npz"] and (tmp_path / "checkpoint.npz").read_text() == "finished"


def test_an_error_in_the_block_passes_through_and_everything_is_released(tmp_path):
    path = tmp_path / "new"
    with pytest.raises(ZeroDivisionError):
        with RunFolder(path) as folder:
            open(folder.staged("metrics.json"), "w").close()
            descriptor = folder._lock[0]
            1 / 0
    assert not path.exists()
    with pytest.raises(OSError):
        os.fstat(descriptor)  # the lock's file descriptor is closed
    with RunFolder(path):  # and the folder can be taken again
        pass


def test_leaving_twice_or_after_the_lock_file_was_removed_is_harmless(tmp_path):
    folder = RunFolder(tmp_path).__enter__()
    os.unlink(tmp_path / ".lock")
    assert folder.__exit__(None, None, None) is False
    assert folder.__exit__(None, None, None) is False
    assert os.listdir(tmp_path) == []


def test_a_second_run_on_a_held_folder_is_refused_and_the_first_keeps_it(tmp_path):
    with RunFolder(tmp_path, option="--dir") as first:
        refused(in_use(tmp_path, "--dir"), RunFolder(tmp_path, option="--dir").__enter__)
        refused(in_use(tmp_path), RunFolder(tmp_path).__enter__)
        assert (tmp_path / ".lock").read_text() == f"{PID}\n" and os.path.isdir(first.staging)
        with open(tmp_path / ".lock", "w") as handle:  # an owner that cannot be read: no pid to name
            handle.write("garbled")
        refused(in_use(tmp_path, owner="another process"), RunFolder(tmp_path).__enter__)
    with RunFolder(tmp_path) as second:
        assert os.path.isdir(second.staging)


def test_a_dead_runs_lock_and_leftovers_are_taken_over(tmp_path):
    dead = dead_pid()
    (tmp_path / ".lock").write_text(f"{dead} and a longer text than a pid\n")
    (tmp_path / f".staging-{dead}").mkdir()
    (tmp_path / f".tmp-{dead}-0123456789abcdef.npz").write_bytes(b"half")
    with RunFolder(tmp_path) as folder:
        assert (tmp_path / ".lock").read_text() == f"{PID}\n"
        assert sorted(os.listdir(tmp_path)) == [".lock", f".staging-{PID}"] and folder.staging.endswith(str(PID))


@pytest.mark.parametrize("make, kind", [(lambda path: path.write_text("the user's"), "a file"),
                                        (lambda path: os.symlink("nowhere", path), "a symbolic link"),
                                        (lambda path: os.mkfifo(path), "a FIFO")])
def test_a_path_that_is_not_a_folder_is_refused_by_its_kind_and_left(tmp_path, make, kind):
    path = tmp_path / "out"
    make(path)
    refused(f"--out {path} exists and is {kind}, not a folder; it is left as it is: choose another --out",
            RunFolder(path).__enter__)
    assert os.listdir(tmp_path) == ["out"] and os.path.lexists(path) and not os.path.isdir(path)


def test_a_folder_that_cannot_be_made_or_locked_is_refused_with_the_systems_words(tmp_path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "out"
    refused(f"--plots {path} cannot be written (Not a directory); choose another --plots",
            RunFolder(path, option="--plots").__enter__)
    (tmp_path / "out" / ".lock").mkdir(parents=True)
    refused(f"--out {tmp_path / 'out'}: its lock file {tmp_path / 'out' / '.lock'} is a folder, not a regular file; "
            "it is left as it is: remove it, or choose another --out", RunFolder(tmp_path / "out").__enter__)
    assert os.listdir(tmp_path / "out") == [".lock"]


def test_a_staging_folder_that_cannot_be_made_is_refused_and_the_lock_released(tmp_path, monkeypatch):
    import errno

    def no_permission(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    monkeypatch.setattr(folder_module.os, "mkdir", no_permission)
    refused(f"--out {tmp_path} cannot be written (Permission denied); choose another --out",
            RunFolder(tmp_path).__enter__)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("leftover", ["file", "folder", "link"])
def test_a_leftover_with_this_process_s_id_is_a_dead_run_s_and_removed(tmp_path, leftover):
    """Under the lock no live run can own .staging-<our pid>: it was a dead process's with the same id
    (containers reuse small ids); it goes, a link by its name only, and the run goes ahead."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not in the folder")
    folder = tmp_path / "run"
    folder.mkdir()
    staging = folder / f".staging-{PID}"
    if leftover == "file":
        staging.write_text("in the way")
    elif leftover == "folder":
        staging.mkdir()
        (staging / "checkpoint.npz").write_bytes(b"half")
        os.symlink(outside, staging / "link")
    else:
        os.symlink(outside, staging)
    run = RunFolder(folder)
    run.__enter__()
    assert os.path.isdir(staging) and not os.path.islink(staging) and os.listdir(staging) == []
    run.__exit__(None, None, None)
    assert os.listdir(folder) == [] and os.listdir(outside) == ["keep.txt"]


FCNTL = folder_module.fcntl
needs_flock = pytest.mark.skipif(FCNTL is None, reason="no fcntl.flock here")


class _Flock:
    """fcntl's names, with a flock that removes the lock file first ``times`` times (as a finishing run does
    between our open and our lock)."""

    def __init__(self, path, times):
        self.LOCK_EX, self.LOCK_NB = FCNTL.LOCK_EX, FCNTL.LOCK_NB
        self.path, self.times, self.calls = path, times, 0

    def flock(self, descriptor, operation):
        assert operation == self.LOCK_EX | self.LOCK_NB
        self.calls += 1
        if self.calls <= self.times:
            os.unlink(self.path)
        FCNTL.flock(descriptor, operation)


@needs_flock
def test_a_lock_file_removed_under_us_is_tried_again(tmp_path, monkeypatch):
    flock = _Flock(tmp_path / ".lock", times=3)
    monkeypatch.setattr(folder_module, "fcntl", flock)
    with RunFolder(tmp_path):
        assert flock.calls == 4 and (tmp_path / ".lock").read_text() == f"{PID}\n"


@needs_flock
def test_a_lock_that_keeps_changing_hands_is_given_up_after_10_tries(tmp_path, monkeypatch):
    flock = _Flock(tmp_path / ".lock", times=10)
    monkeypatch.setattr(folder_module, "fcntl", flock)
    refused(f"--out {tmp_path}: its lock keeps changing hands; try again", RunFolder(tmp_path).__enter__)
    assert flock.calls == 10 and os.listdir(tmp_path) == []


def test_without_flock_the_lock_file_itself_is_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "fcntl", None)
    with RunFolder(tmp_path):
        assert (tmp_path / ".lock").read_text() == f"{PID}\n"
        refused(in_use(tmp_path), RunFolder(tmp_path).__enter__)
    assert os.listdir(tmp_path) == []
    (tmp_path / ".lock").write_text("garbled")
    refused(in_use(tmp_path, owner="another process"), RunFolder(tmp_path).__enter__)
    (tmp_path / ".lock").write_text(f"{dead_pid()}\n")
    with RunFolder(tmp_path):
        assert (tmp_path / ".lock").read_text() == f"{PID}\n"
    assert os.listdir(tmp_path) == []


def test_check_targets_refuses_what_is_not_a_regular_file_where_a_run_file_goes(tmp_path):
    os.mkfifo(tmp_path / "metrics.json")
    (tmp_path / "samples.png").write_text("old")
    folder = RunFolder(tmp_path, ["metrics.json", "samples.png", "absent.png"], option="--dir")
    target = tmp_path / "metrics.json"
    refused(f"--dir {tmp_path}: the file {target} exists and is a FIFO, not a regular file; it is left as it is: "
            "choose another --dir", folder.check_targets)
    assert folder.check_targets(["samples.png", "absent.png"]) is None and folder.check_targets([]) is None
    refused(f"--dir {tmp_path}: the file {target} exists and is a FIFO, not a regular file; it is left as it is: "
            "choose another --dir", folder.check_targets, ["metrics.json"])


def stage(folder, **files):
    for name, text in files.items():
        with open(folder.staged(name.replace("_", ".")), "w") as handle:
            handle.write(text)


def test_a_commit_replaces_the_old_runs_files_and_only_then(tmp_path):
    for name in ("checkpoint.npz", "metrics.json", "samples.png", "notes.txt"):
        (tmp_path / name).write_text(f"old {name}")
    (tmp_path / "checkpoint.npz").chmod(0o600)
    files = ["checkpoint.npz", "metrics.json", "samples.png", "interrupted.npz", "z.png"]
    with RunFolder(tmp_path, files) as folder:
        stage(folder, checkpoint_npz="new checkpoint", metrics_json="new metrics", z_png="new z", a_png="new a")
        assert (tmp_path / "checkpoint.npz").read_text() == "old checkpoint.npz"  # nothing replaced yet
        paths = folder.commit()
        assert folder.committed and os.listdir(folder.staging) == []
    # the checkpoint last: a commit cut short leaves the old checkpoint, never one metrics.json does not describe
    assert paths == [str(tmp_path / name) for name in ("a.png", "metrics.json", "z.png", "checkpoint.npz")]
    assert sorted(os.listdir(tmp_path)) == ["a.png", "checkpoint.npz", "metrics.json", "notes.txt", "z.png"]
    assert [(tmp_path / name).read_text() for name in ("a.png", "checkpoint.npz", "metrics.json", "z.png")] == [
        "new a", "new checkpoint", "new metrics", "new z"]
    assert (tmp_path / "notes.txt").read_text() == "old notes.txt"  # not a run's file: the user's
    assert stat.S_IMODE((tmp_path / "checkpoint.npz").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["samples.png", "a.png"])  # one it would remove, one it would write
def test_something_put_in_a_run_files_place_during_the_run_is_refused_at_the_commit(tmp_path, name):
    (tmp_path / "samples.png").write_text("old")
    with RunFolder(tmp_path, ["metrics.json", "samples.png"]) as folder:
        folder.check_targets()
        stage(folder, a_png="a", metrics_json="m")
        (tmp_path / name).unlink(missing_ok=True)
        (tmp_path / name).mkdir()  # made while the run trained
        refused(f"--out {tmp_path}: the file {tmp_path / name} exists and is a folder, not a regular file; it is "
                "left as it is: choose another --out", folder.commit)
        assert sorted(os.listdir(folder.staging)) == ["a.png", "metrics.json"] and (tmp_path / name).is_dir()
    assert not (tmp_path / "metrics.json").exists()


def test_a_commit_with_a_fifo_in_the_way_moves_nothing(tmp_path):
    os.mkfifo(tmp_path / "metrics.json")
    (tmp_path / "samples.png").write_text("old")
    with RunFolder(tmp_path, ["metrics.json", "samples.png"]) as folder:
        stage(folder, a_png="a", metrics_json="m")
        with pytest.raises(OutputError, match="the file .*metrics.json exists and is a FIFO"):
            folder.commit()
        assert folder.committed is False and sorted(os.listdir(folder.staging)) == ["a.png", "metrics.json"]
        assert sorted(os.listdir(tmp_path)) == [".lock", f".staging-{PID}", "metrics.json", "samples.png"]


def test_a_new_folder_committed_empty_stays(tmp_path):
    with RunFolder(tmp_path / "new", ["checkpoint.npz"]) as folder:
        assert folder.commit() == []
    assert os.listdir(tmp_path / "new") == []


def test_keep_moves_one_file_now_and_the_folder_stays_for_it(tmp_path):
    path = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(path, ["interrupted.npz", "last-good.npz"]) as folder:
            stage(folder, interrupted_npz="state", x_tmp="good")
            assert folder.keep("interrupted.npz") == str(path / "interrupted.npz")
            assert folder.keep("x.tmp", "last-good.npz") == str(path / "last-good.npz")
            raise KeyboardInterrupt
    assert sorted(os.listdir(path)) == ["interrupted.npz", "last-good.npz"]
    assert (path / "interrupted.npz").read_text() == "state" and (path / "last-good.npz").read_text() == "good"


def test_a_regular_file_that_cannot_be_opened_is_named_as_unreadable_not_as_another_kind(tmp_path, monkeypatch):
    """open_regular: a regular file whose open fails (no permission; faked, as root reads every file) is
    named for what went wrong, not called "not a regular file", which it is."""
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    real_open = os.open

    def denied(name, *args, **kwargs):
        if os.fspath(name) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    refused(f"{path} cannot be read (Permission denied)", folder_module.read_regular, path, 100)


# --- open_regular and read_regular: what a run reads back is a regular file, read to a bound ----------
def test_open_regular_gives_the_files_bytes_in_binary():
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "metrics.json")
        with open(path, "wb") as stream:
            stream.write(b'{"loss": 1}\n')
        with folder_module.open_regular(path) as handle:
            assert handle.read() == b'{"loss": 1}\n'  # bytes, not text


def test_open_regular_refuses_a_link_a_folder_and_a_fifo_by_their_kind_without_waiting(tmp_path):
    """A FIFO with no writer is refused at once (opened without blocking), a link is not followed (even to a
    regular file), a folder is named as one; each as OutputError, nothing left open."""
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "metrics.json"
    link.symlink_to(target)
    refused(f"{link} is a symbolic link, not a regular file", folder_module.open_regular, link)
    refused(f"{tmp_path} is a folder, not a regular file", folder_module.open_regular, tmp_path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    opened = len(os.listdir("/proc/self/fd"))
    refused(f"{fifo} is a FIFO, not a regular file", folder_module.open_regular, fifo)
    refused(f"{fifo} is a FIFO, not a regular file", folder_module.read_regular, fifo, 10)
    assert len(os.listdir("/proc/self/fd")) == opened  # the FIFO's descriptor was closed


def test_read_regular_reads_up_to_its_limit_and_one_byte_more_to_tell_a_longer_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_bytes(b"x" * 10)
    assert folder_module.read_regular(path, 10) == b"x" * 10  # exactly the limit: read whole
    refused(f"{path} is over 9 bytes, more than such a file ever holds", folder_module.read_regular, path, 9)
    path.write_bytes(b"y" * 12_345)
    refused(f"{path} is over 1,000 bytes, more than such a file ever holds", folder_module.read_regular, path, 1000)
    asked = []
    real_open_regular = folder_module.open_regular

    class Recording:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            self.handle.close()

        def read(self, size=-1):
            asked.append(size)
            return self.handle.read(size)

    monkeypatch.setattr(folder_module, "open_regular", lambda name: Recording(real_open_regular(name)))
    with pytest.raises(OutputError):
        folder_module.read_regular(path, 1000)
    assert asked == [1001]  # read no further than one byte past the limit
