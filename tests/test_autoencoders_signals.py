"""The real ``python -m autoencoders`` process under signals and company: a SIGINT delivered at each
phase (importing, training, the test pass, writing the checkpoint, drawing figures) is one line and no
traceback; two trainings into one folder at once (the second refused); SIGKILL's leftovers cleaned by
the next run; a foreign ``datasets``, ``nn``, ``runfolder`` or ``benchmarks`` package shadowing ours named in
one line (by ``python -m gans`` too).

A signal lands at a chosen moment through a small hook loaded by ``sitecustomize`` in the child: it
sends SIGINT to its own process when a given function is first called, or a given module first imported.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy
import pytest

from helpers_autoencoders import REPO, SMALL, error_lines, small_data, subprocess_env  # noqa: F401  (fixture)

LIMIT = SMALL
HOOK = textwrap.dedent('''
    import importlib.abc, importlib.machinery, os, signal, sys
    target = os.environ.get("SIGINT_AT", "")

    def interrupt():
        os.kill(os.getpid(), signal.SIGINT)

    if target.startswith("import:"):
        module = target[len("import:"):]

        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == module:
                    sys.meta_path.remove(self)
                    interrupt()
                return None
        sys.meta_path.insert(0, Finder())
    elif target:
        # "module:function:n": SIGINT at the n-th call, once the module has been imported.
        module, function, count = target.split(":")
        calls = []

        class After(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name != module:
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                execute = spec.loader.exec_module

                def exec_module(loaded):
                    if self in sys.meta_path:
                        sys.meta_path.remove(self)
                    execute(loaded)
                    real = getattr(loaded, function)

                    def wrapped(*args, **kwargs):
                        calls.append(1)
                        if len(calls) == int(count):
                            interrupt()
                        return real(*args, **kwargs)
                    setattr(loaded, function, wrapped)
                spec.loader.exec_module = exec_module
                return spec
        sys.meta_path.insert(0, After())
''')


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hook")
    (directory / "sitecustomize.py").write_text(HOOK)
    return directory


def environment(small_data, scratch, hook_dir=None, sigint_at=None, first=None):
    env = subprocess_env(small_data, scratch)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    paths = [str(path) for path in (first, hook_dir) if path] + [env["PYTHONPATH"]]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if sigint_at:
        env["SIGINT_AT"] = sigint_at
    return env


def default_sigint():
    """In the child: Ctrl-C's default action. A process started in the background of a non-interactive
    shell (``pytest &``) ignores SIGINT, and its children inherit that; a user's terminal never does."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_module(args, env, cwd, timeout=180):
    return subprocess.run([sys.executable, "-m", "autoencoders", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=default_sigint)


def train_args(out, epochs=2):
    return ["train", "--quiet", "--model", "simple", "--limit", LIMIT, "--epochs", epochs, "--out", out]


def lines_besides_notes(stderr):
    return [line for line in error_lines(stderr) if not line.startswith("note:")]


# The moments a SIGINT can land, and what the one line says.
PHASES = {
    "importing numpy": ("import:numpy", "interrupted while starting"),
    "importing matplotlib": ("import:matplotlib", "interrupted while starting"),
    "loading the data": ("datasets:load:1", "interrupted; no output was changed"),
    "a training step": ("autoencoders.training:_train_epoch_with:2", "interrupted: state saved"),  # FastSteps: the CPU default
    "the test pass": ("autoencoders.training:evaluate:2", "interrupted: state saved"),
    "writing a checkpoint": ("autoencoders.cli:save_checkpoint:2", "interrupted: state saved"),
    "drawing figures": ("autoencoders.figures:plot_latent:1", "interrupted while writing the report"),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_in_any_phase_is_one_line(small_data, hook_dir, tmp_path, phase):
    target, fragment = PHASES[phase]
    out = tmp_path / "out"
    result = run_module(train_args(out), environment(small_data, tmp_path, hook_dir, target), tmp_path)
    lines = lines_besides_notes(result.stderr)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1 and fragment in lines[0], result.stderr
    if "state saved" in fragment or "report" in fragment:
        assert sorted(os.listdir(out)) == ["interrupted.npz"]
        with numpy.load(out / "interrupted.npz") as archive:
            # Interrupted in epoch 2's steps or test pass: 1 whole epoch; in its checkpoint or the report: 2.
            assert int(archive["epoch"]) == (2 if phase in ("writing a checkpoint", "drawing figures") else 1)
        if phase != "the test pass":  # resuming each phase's file is tested in-process (test_autoencoders_run_folders)
            return
        resumed = run_module(["train", "--quiet", "--resume", out / "interrupted.npz", "--epochs", 1, "--out", out],
                             environment(small_data, tmp_path), tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert (out / "checkpoint.npz").is_file() and not (out / "interrupted.npz").exists()
    elif out.exists():
        assert [name for name in os.listdir(out) if not name.startswith(".")] == []


def test_two_trainings_into_one_folder(small_data, tmp_path):
    """The second run is refused in one line while the first holds the folder; the first finishes."""
    out = tmp_path / "out"
    env = environment(small_data, tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "autoencoders", *map(str, train_args(out, epochs=100_000))],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (out / ".lock").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = run_module(train_args(out, epochs=1), env, tmp_path)
        lines = lines_besides_notes(second.stderr)
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert f"is in use by another run (process {first.pid})" in lines[0]
    finally:
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    assert first.returncode in (0, 130), stderr
    assert not (out / ".lock").exists()


def start_long_run(out, env, cwd):
    """A training of 100,000 epochs, returned once it has staged its first checkpoint."""
    process = subprocess.Popen([sys.executable, "-m", "autoencoders", *map(str, train_args(out, epochs=100_000))],
                               cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint)

    def staged_a_checkpoint():
        return out.exists() and any(name.startswith(".staging-") and os.listdir(out / name) for name in os.listdir(out))

    deadline = time.monotonic() + 120
    while not staged_a_checkpoint():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    return process


def test_sigkill_leftovers_are_removed_by_the_next_run(small_data, tmp_path):
    """A killed run leaves its staging folder (and maybe a temporary file) and no lock that holds; the
    next run into the folder removes them and runs."""
    out = tmp_path / "out"
    env = environment(small_data, tmp_path)
    victim = start_long_run(out, env, tmp_path)
    victim.kill()
    victim.communicate()
    assert any(name.startswith(".staging-") for name in os.listdir(out))
    result = run_module(train_args(out, epochs=1), env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "gradients.png", "latent.png", "loss.png", "metrics.json",
                                       "reconstructions.png"]


def test_sigterm_ends_a_run_as_ctrl_c_does(small_data, tmp_path):
    out = tmp_path / "out"
    process = start_long_run(out, environment(small_data, tmp_path), tmp_path)
    process.terminate()
    _, stderr = process.communicate(timeout=120)
    lines = lines_besides_notes(stderr)
    assert process.returncode == 130 and len(lines) == 1 and "interrupted: state saved" in lines[0], stderr
    assert sorted(os.listdir(out)) == ["interrupted.npz"]


@pytest.mark.parametrize("name", ["datasets", "nn", "benchmarks"])
def test_a_foreign_package_shadowing_ours_is_one_line(small_data, tmp_path, name):
    fake = tmp_path / "site" / name
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise SystemExit('the foreign package was imported')\n")
    env = environment(small_data, tmp_path, first=tmp_path / "site")
    result = run_module(["evaluate", tmp_path / "missing.npz"], env, tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"the package {name!r}" in lines[0] and str(fake) in lines[0] and str(REPO) in lines[0]
    assert "PYTHONPATH" in lines[0] and f"pip uninstall {name}" in lines[0]


@pytest.mark.parametrize("program", ["autoencoders", "gans"])
@pytest.mark.parametrize("fake", ["runfolder.py", "runfolder/__init__.py"])
def test_a_foreign_runfolder_before_ours_is_one_line(small_data, tmp_path, program, fake):
    """``runfolder`` holds the startup check itself, so another project's (a runfolder.py in the folder the
    user runs from) is named from the failed import instead."""
    path = tmp_path / "site" / fake
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("ANSWER = 42\n")
    env = environment(small_data, tmp_path, first=tmp_path / "site")
    result = subprocess.run([sys.executable, "-m", program, "evaluate", str(tmp_path / "missing.npz")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=180)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    # Which of two checks speaks depends on how the project is installed: where the import of
    # runfolder.startup fails (the other 'runfolder' is found first), or where an editable install's own
    # finder still gives ours that import and the startup check then finds the other one on sys.path.
    assert lines[0].startswith(f"{program}: error: ") and (
        "another project's 'runfolder'" in lines[0]
        or ("the package 'runfolder' that Python finds is not this project's" in lines[0]
            and "pip uninstall runfolder" in lines[0]))


def test_gans_names_a_foreign_package_in_one_line(small_data, tmp_path):
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise SystemExit('the foreign package was imported')\n")
    env = environment(small_data, tmp_path, first=tmp_path / "site")
    result = subprocess.run([sys.executable, "-m", "gans", "sample", str(tmp_path / "missing.npz")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=180)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("gans: error: the package 'datasets'") and str(fake) in lines[0]
