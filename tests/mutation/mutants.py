"""Mutation testing: plant one-line bugs in the engine, the checkpoints and the data code, and count
how many the tests catch.

    python -m tests.mutation.mutants                      # every target below (about half an hour on 2 cores)
    python -m tests.mutation.mutants --targets datasets,nn.gradcheck
    python -m tests.mutation.mutants --quick --out DIR    # a handful of mutants of one small module (CI smoke)
    python -m tests.mutation.mutants --targets nn.optim --recheck   # only what the report lists as alive
    python -m tests.mutation.mutants --targets nn.layers,nn.conv --children 1 --budget 900 --out DIR
    python -m tests.mutation.mutants --jobs 1 --children 2   # one target at a time, two workers each

The engine's core is split into targets by family (nn.module, nn.layers, nn.losses, nn.conv, nn.optim,
nn.gradcheck, nn.backend), each small enough for a run of its own on a shared machine; its fast room
nn/fast/ is one target (nn.fast). The other targets: datasets.load, datasets.rest, runfolder,
autoencoders, gans.

The tool is mutmut 3 (`pip install -e .[mutation]`). It was chosen over cosmic-ray because it
imports the test suite once and forks a worker per mutant, and it runs for each mutant only the
tests that reached the mutated function: with torch imported by most test files, a fresh
`pytest` process per mutant (cosmic-ray's way) would cost seconds each before any test runs.
mutmut mutates the bodies of functions and methods, not module-level constants.

Each target mutates some files and runs the test files that cover them, in its own scratch copy
of the repository (mutmut writes a `mutants/` folder and a `setup.cfg` section there; the working
tree is never touched). Results: `<out>/mutants.json` (score per module, every surviving mutant
with its diff) and `<out>/mutants.txt` (the same for reading). A run updates the report it finds
there: the modules it measured replace theirs, the others stay, so targets can be run one at a time.
A module's earlier verdicts count only while its source file is unchanged (the report keeps each
file's SHA-256); `--recheck` then runs only the mutants that survived or were left unchecked (by a
budget), and keeps the earlier kills: tests added since can only kill more.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from datasets.atomic import atomic_write
from tests.mutation.mutant_reasons import survivors_text

ROOT = Path(__file__).resolve().parents[2]  # the repository root
DEFAULT_OUT = ROOT / "tests" / "mutation" / "results"
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"

# target name -> (package mutmut copies, files to mutate, test files that cover them). The engine is split
# in two: its core (the plain formulas, the gate, the optimizers' rules), by family, each family against its
# own test files so that each fits a run of its own; and its fast room nn/fast/ (fused and in-place steps,
# flat optimizer buffers, CUDA graphs, GPU kernels), whose tests compare each fast form with the plain one.
# An entry "file::test" names one test of a file (with all its parameters): tests/test_attacks_round3.py
# mixes tests of several packages with tests that start interpreters.
NN_SHARED_TESTS = ["tests/test_nn_backend_strict.py", "tests/test_nn_signatures.py", "tests/test_nn_parity.py"]
ATTACKS = "tests/test_attacks_round3.py::"
TARGETS = {
    # datasets in two halves: the whole package (about 1,400 mutants) does not fit one budget here.
    "datasets.load": ("datasets", ["datasets/loading.py", "datasets/download.py", "datasets/catalog.py",
                                   "datasets/idx.py"], ["tests/test_datasets_*.py"]),
    "datasets.rest": ("datasets", ["datasets/sample.py", "datasets/report.py", "datasets/images.py",
                                   "datasets/dataloader.py", "datasets/words.py", "datasets/atomic.py"],
                      ["tests/test_datasets_*.py",
                       *(ATTACKS + name for name in (
                           "test_an_eps_named_png_is_refused_by_its_real_format_and_ghostscript_never_starts",
                           "test_a_gif_named_png_is_refused_as_gif", "test_a_16_bit_png_ramp_is_scaled_by_65535_as_the_npy_is",
                           "test_a_big_endian_npy_loads_its_values"))]),
    # The core.
    "nn.gradcheck": ("nn", ["nn/gradcheck.py"], ["tests/test_nn_gradcheck*.py", "tests/test_nn_backend_strict.py"]),
    "nn.backend": ("nn", ["nn/backend.py"], ["tests/test_nn_backend*.py", "tests/test_nn_module*.py",
                                              "tests/test_nn_gate.py", "tests/test_nn_fake_cupy*.py"]),
    "nn.module": ("nn", ["nn/module.py"],
                  ["tests/test_nn_module*.py", "tests/test_nn_gate.py", "tests/test_nn_zero_grad.py",
                   "tests/test_nn_requires_grad*.py", "tests/test_nn_sequential.py", "tests/test_nn_model.py",
                   "tests/test_nn_layers.py", "tests/test_nn_optim.py", "tests/test_nn_repr.py",
                   "tests/test_nn_from_torch.py", "tests/test_nn_torch_habits.py", "tests/test_nn_mutants_module*.py",
                   "tests/test_nn_mutants_gate.py", "tests/test_nn_mutants_today.py",
                   "tests/test_nn_fake_cupy*.py", *NN_SHARED_TESTS]),
    "nn.layers": ("nn", ["nn/layers.py", "nn/activations.py", "nn/arguments.py"],
                  ["tests/test_nn_layers*.py", "tests/test_nn_activations*.py", "tests/test_nn_linear*.py",
                   "tests/test_nn_sequential.py", "tests/test_nn_gradcheck.py", "tests/test_nn_gradcheck_arguments.py",
                   "tests/test_nn_module_moves.py", "tests/test_nn_loss_options.py", "tests/test_nn_norm_checks.py",
                   "tests/test_nn_conv_api.py", "tests/test_nn_nonfinite.py", "tests/test_nn_from_torch.py",
                   "tests/test_nn_mutants_layers*.py", "tests/test_nn_mutants_losses*.py",
                   "tests/test_nn_mutants_today.py", "tests/test_nn_fake_cupy*.py", *NN_SHARED_TESTS]),
    "nn.losses": ("nn", ["nn/losses.py", "nn/cross_entropy.py", "nn/softmax.py", "nn/norm.py"],
                  ["tests/test_nn_cross_entropy*.py", "tests/test_nn_loss*.py", "tests/test_nn_norm*.py",
                   "tests/test_nn_activations*.py", "tests/test_nn_nonfinite.py", "tests/test_nn_from_torch.py",
                   "tests/test_nn_torch_habits.py", "tests/test_nn_mutants_losses*.py", *NN_SHARED_TESTS]),
    "nn.conv": ("nn", ["nn/conv.py", "nn/im2col.py", "nn/im2col_fast.py", "nn/padding.py", "nn/pooling.py",
                       "nn/spatial.py", "nn/upsampling.py"],
                ["tests/test_nn_conv*.py", "tests/test_nn_im2col*.py", "tests/test_nn_pooling*.py",
                 "tests/test_nn_nonfinite.py", "tests/test_nn_mutants_conv*.py", *NN_SHARED_TESTS]),
    "nn.optim": ("nn", ["nn/optim.py", "nn/optimizer.py", "nn/utils.py"],
                 ["tests/test_nn_optim*.py", "tests/test_nn_zero_grad.py", "tests/test_nn_mutants_optim*.py",
                  "tests/test_nn_torch_habits.py", "tests/test_nn_mutants_today.py",
                  *NN_SHARED_TESTS]),
    # The fast room: every test that compares a fast form with the plain one.
    "nn.fast": ("nn", ["nn/fast/*.py"],
                ["tests/test_nn_fast_step*.py", "tests/test_nn_fused_gpu*.py", "tests/test_nn_cuda_graph*.py",
                 "tests/test_nn_gpu*.py", "tests/test_nn_floats*.py", "tests/test_nn_optim*.py",
                 "tests/test_nn_zero_grad.py", "tests/test_nn_gate.py", "tests/test_nn_activations*.py",
                 "tests/test_nn_from_torch.py", "tests/test_nn_mutants_optim*.py", "tests/test_nn_backend_strict.py",
                 "tests/test_nn_fake_cupy*.py", "tests/test_nn_fast_mutants.py"]),
    "autoencoders": ("autoencoders", ["autoencoders/models.py", "autoencoders/vae.py", "autoencoders/run_checks.py",
                                      "autoencoders/fast_steps.py"],
                     ["tests/test_autoencoders_checkpoint*.py", "tests/test_autoencoders_models.py",
                      "tests/test_autoencoders_vae.py", "tests/test_autoencoders_parity.py",
                      "tests/test_autoencoders_backends.py", "tests/test_autoencoders_pca.py",
                      "tests/test_autoencoders_fast_steps*.py", "tests/test_autoencoders_run_checks.py",
                      "tests/test_autoencoders_layer_sequence.py"]),
    "gans": ("gans", ["gans/models.py", "gans/dcgan.py", "gans/training.py", "gans/quality.py"],
             ["tests/test_gans_*.py"]),
    "runfolder": ("runfolder", ["runfolder/checkpoint.py", "runfolder/checkpoint_checks.py",
                                "runfolder/folder.py"],
                  ["tests/test_autoencoders_checkpoint*.py", "tests/test_autoencoders_run_folders.py",
                   "tests/test_runfolder_checkpoint*.py", "tests/test_runfolder_folder.py",
                   "tests/test_runfolder_arguments.py",
                   ATTACKS + "test_a_lock_that_is_a_symbolic_link_is_refused_and_its_target_untouched",
                   ATTACKS + "test_a_lock_that_is_a_fifo_or_a_folder_is_refused_by_its_kind"]),
    # Not in it: tests that start interpreters (the command line, the layering check: mutmut's trampoline
    # cannot serve another process) or send themselves SIGINT (mutmut's own handler takes it).
}
# mutmut stops a mutant's tests after (their own time + constant) * multiplier seconds of wall time
# (twice that of CPU time). A worker no longer starts pytest (tests/mutation/mutmut_session.py: it forks
# with the tests collected), so the constant only absorbs a busy machine's jitter: (t + 3 s) * 3. When
# each worker collected its test files itself, 8 s were needed for that start. Dozens of datasets/
# mutants turn a read loop into one that never ends; its tests take a fraction of a second, and
# (t + 1.5 s) * 2 stops each of those within about three seconds.
TIMEOUT = (3, 3)  # (multiplier, constant)
TIMEOUTS = {"datasets.load": (2, 1.5), "datasets.rest": (2, 1.5)}
MUTATED = {str(path.relative_to(ROOT)) for _, mutate, _ in TARGETS.values() for pattern in mutate
           for path in ROOT.glob(pattern)}


def moved(source):
    """True for a report row of a file in one of the mutated packages that no target mutates any more
    (deleted, or moved to another package): its verdicts describe code that is gone."""
    return source.split("/")[0] in {package for package, _, _ in TARGETS.values()} and source not in MUTATED


# --quick: the first mutants of each function of one small module, against its own small test file.
QUICK = ("datasets", ["datasets/words.py"], ["tests/test_datasets_words.py"])
QUICK_MUTANTS = "*__mutmut_[1-2]"


def test_selection(tests):
    """The test files the patterns match, and each "file::test" entry as it is (its file must exist)."""
    selected = set()
    for pattern in tests:
        if "::" in pattern:
            if not (ROOT / pattern.split("::")[0]).is_file():
                raise SystemExit(f"mutants: {pattern}: no such test file")
            selected.add(pattern)
        else:
            selected.update(str(path.relative_to(ROOT)) for path in ROOT.glob(pattern))
    if not selected:
        raise SystemExit(f"mutants: no test file matches {tests}")
    return sorted(selected)


def _scratch_copy(package, mutate, tests, workdir, timeout=TIMEOUT):
    """A copy of the packages and tests with a [mutmut] section naming what to mutate and run."""
    # Every package of the repository: the tests import more than the one mutated (nn's test of the CUDA
    # graph imports autoencoders, which imports runfolder), and they must come from this copy, not from
    # wherever an editable install of the project points.
    packages = sorted(path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests")
    for name in packages:
        shutil.copytree(ROOT / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__", "results"))
    test_files = test_selection(tests)
    lines = ["[mutmut]", f"source_paths = {package}", "also_copy ="]
    lines += [f"    {name}" for name in packages if name != package]  # mutmut copies them beside the mutants
    lines += ["only_mutate ="]
    lines += [f"    {pattern}" for pattern in mutate]
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {path}" for path in test_files]
    # A mutant that hangs (a read loop that never ends) is stopped: see TIMEOUTS. mutmut's default, 15 times
    # (their time plus 1 s), spent minutes on each of dozens such in datasets/.
    lines += [f"timeout_multiplier = {timeout[0]}", f"timeout_constant = {timeout[1]}"]
    # -x: one failing test kills the mutant; the rest need not run.
    # tests.mutation.pytest_order: each mutant's tests grouped by file (module fixtures built once, not once a
    # test), and fixture time counted in the estimate that sets a mutant's time limit.
    lines += ["pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -p", "    tests.mutation.pytest_order",
              "    -x", "    -q"]
    (workdir / "setup.cfg").write_text("\n".join(lines) + "\n")
    return test_files


def _collect():
    """Run inside a scratch copy after `mutmut run`: print JSON {file: {mutant: [status, diff]}}."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    found = {}
    worker_seconds = defaultdict(float)  # status -> seconds its mutants' workers took, summed
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source = str(meta.relative_to("mutants"))[: -len(".meta")]
        try:
            recorded = json.loads(meta.read_text())
        except json.JSONDecodeError:  # cut off mid-write when the budget ran out
            print(f"mutants: {meta} is incomplete; {source} is left out", file=sys.stderr)
            continue
        found[source] = {}
        for name, code in recorded["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            diff = get_diff_for_mutant(name, path=source) if status != "killed" else ""
            found[source][name] = [status, diff]
            worker_seconds[status] += recorded.get("durations_by_key", {}).get(name, 0.0)
    print("mutants: worker seconds by verdict: " + ", ".join(f"{status} {seconds:.0f}" for status, seconds
                                                             in sorted(worker_seconds.items())), file=sys.stderr)
    json.dump(found, sys.stdout)


def source_files(mutate):
    """The files a target mutates, relative to the repository root."""
    return sorted({str(path.relative_to(ROOT)) for pattern in mutate for path in ROOT.glob(pattern)})


def file_hash(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_target(name, package, mutate, tests, children, mutant_names=(), budget=None, one_collection=True):
    """Mutation-test one target in a scratch copy; returns {file: {mutant: [status, diff]}}, seconds,
    and {file: SHA-256} of the sources as they were mutated.

    With a budget (seconds), mutmut is stopped when it runs out and the mutants checked so far are
    reported; the others are "not checked" (mutmut records each result as it comes).
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"mutants-{name}-"))
    try:
        test_files = _scratch_copy(package, mutate, tests, workdir, TIMEOUTS.get(name, TIMEOUT))
        hashes = {source: file_hash(workdir / source) for source in source_files(mutate)}
        print(f"[{name}] mutating {', '.join(mutate)} against {len(test_files)} test file(s)", flush=True)
        # One thread per math library: mutmut forks each mutant's worker from a process that already ran
        # the tests, and a fork of a process whose OpenMP pool (torch's) has started can hang in the
        # child's first parallel torch call -- a "timeout" counted as killed that no test earned.
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1")
        # The tests find real MNIST beside the repository; in the scratch copy only $NN_DATA_DIR can say where.
        if "NN_DATA_DIR" not in env and SHARED_MNIST.is_dir():
            env["NN_DATA_DIR"] = str(SHARED_MNIST)
        fallbacks = workdir / "collected-again.txt"
        env["MUTMUT_SESSION_FALLBACKS"] = str(fallbacks)
        start = time.perf_counter()
        log = workdir / "mutmut.log"
        with open(log, "w") as stream:
            # A session of its own, so that stopping it at the budget stops its forked workers too.
            # mutmut itself, or mutmut with one collection of the tests for every mutant (mutmut_session.py).
            launcher = [str(workdir / "tests" / "mutation" / "mutmut_session.py")] if one_collection else ["-m", "mutmut"]
            process = subprocess.Popen([sys.executable, *launcher, "run", "--max-children", str(children),
                                        *mutant_names], cwd=workdir, env=env, stdout=stream,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                returncode = process.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                print(f"[{name}] budget of {budget:.0f} s spent: reporting the mutants checked so far", flush=True)
                os.killpg(process.pid, signal.SIGINT)  # mutmut saves its results when interrupted
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                returncode = 0
        seconds = time.perf_counter() - start
        if fallbacks.exists():
            count = len(fallbacks.read_text().split())
            print(f"[{name}] {count} mutant(s) had tests outside the one collection: pytest collected theirs again",
                  flush=True)
        if returncode != 0 and mutant_names and "BadTestExecutionCommandsException" in log.read_text(errors="replace"):
            # Asked for some mutants, mutmut first runs the tests that reach them by their pytest ids, and
            # with some parametrized ids of this suite pytest then stops with a usage error (exit 4). The
            # whole target, run without names, does not pass ids: run that instead.
            print(f"[{name}] mutmut could not run the chosen mutants' tests by id: running every mutant", flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
            remaining = None if budget is None else max(budget - (time.perf_counter() - start), 1.0)
            return run_target(name, package, mutate, tests, children, (), remaining, one_collection)
        if returncode != 0:
            # The spinner's frames (carriage returns) would fill the tail: keep the lines pytest wrote.
            lines = [line for line in log.read_text(errors="replace").replace("\r", "\n").splitlines()
                     if line.strip() and not line.lstrip().startswith(tuple("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"))]
            tail = "\n".join(lines[-60:])
            raise SystemExit(f"mutants: mutmut failed on {name} (exit {returncode}):\n{tail}")
        # mutmut reads its settings from the current folder: collect in the scratch copy too.
        collected = subprocess.run([sys.executable, "-m", "tests.mutation.mutants", "--collect"], cwd=workdir,
                                   env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True, text=True, check=True)
        sys.stderr.write(collected.stderr)
        return json.loads(collected.stdout), seconds, hashes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _pack(names):
    """Mutant names as {function: "1-4,7"}: thousands of killed names, listed whole, would swamp the report."""
    numbers = defaultdict(list)
    for name in names:
        function, number = name.rsplit("__mutmut_", 1)
        numbers[function].append(int(number))
    packed = {}
    for function, values in sorted(numbers.items()):
        spans = []
        for value in sorted(values):
            if spans and value == spans[-1][1] + 1:
                spans[-1][1] = value
            else:
                spans.append([value, value])
        packed[function] = ",".join(str(low) if low == high else f"{low}-{high}" for low, high in spans)
    return packed


def _unpack(packed):
    names = []
    for function, spans in packed.items():
        for span in spans.split(","):
            low, _, high = span.partition("-")
            names += [f"{function}__mutmut_{number}" for number in range(int(low), int(high or low) + 1)]
    return names


# A test failed, ran out of time, or its process died of a signal (mutmut's "segfault" and "suspicious":
# a planted bug that crashes the tests, e.g. by unmasking floating-point traps, is caught too).
KILLED = ("killed", "timeout", "segfault", "suspicious")


def summarize(found, hashes=None):
    """Per file: killed (see KILLED; timeouts, a mutant stopped for running too long, among them),
    survived (every other status: survived, no tests, ...), total checked, unchecked, and
    score = killed / total; with the file's SHA-256 and the names of the killed
    and unchecked mutants, so that a later run can be merged in (`merge`)."""
    modules = {}
    for source, mutants in found.items():
        unchecked = [name for name, row in mutants.items() if row[0] == "not checked"]  # --quick, or out of budget
        mutants = {name: row for name, row in mutants.items() if row[0] != "not checked"}
        killed = [name for name, (status, _) in mutants.items() if status in KILLED]
        survived = [{"mutant": name, "status": status, "diff": diff}
                    for name, (status, diff) in sorted(mutants.items()) if status not in KILLED]
        timeouts = [name for name, (status, _) in mutants.items() if status == "timeout"]  # among the killed
        modules[source] = {"killed": len(killed), "timeouts": len(timeouts), "survived": len(survived),
                           "total": len(mutants), "unchecked": len(unchecked),
                           "score": round(len(killed) / len(mutants), 4) if mutants else None,
                           "surviving": survived, "sha256": (hashes or {}).get(source),
                           "killed_mutants": _pack(killed), "timeout_mutants": _pack(timeouts),
                           "unchecked_mutants": _pack(unchecked)}
    return modules


def verdicts(row):
    """A report's module row back as {mutant: [status, diff]} (killed ones without their diff)."""
    found = {name: ["killed", ""] for name in _unpack(row.get("killed_mutants", {}))}
    found.update({name: ["timeout", ""] for name in _unpack(row.get("timeout_mutants", {}))})
    found.update({name: ["not checked", ""] for name in _unpack(row.get("unchecked_mutants", {}))})
    found.update({mutant["mutant"]: [mutant["status"], mutant["diff"]] for mutant in row["surviving"]})
    return found


def merge(previous, found, hashes):
    """This run's verdicts over the report's, per file: a file whose source changed since the report
    (or that it lacks) is taken from this run alone; an unchanged one keeps the earlier verdict of each
    mutant this run left unchecked."""
    merged = {}
    for source, mutants in found.items():
        row = previous.get(source)
        earlier = verdicts(row) if row and hashes.get(source) and row.get("sha256") == hashes[source] else {}
        merged[source] = {name: (earlier.get(name, result) if result[0] == "not checked" else result)
                          for name, result in mutants.items()}
    return summarize(merged, hashes)


def recheck_names(mutate, previous):
    """The mutants worth running again: the survivors, timeouts and unchecked ones of files unchanged since
    the report, and every mutant (a glob on the module) of files changed or missing."""
    names = []
    for source in source_files(mutate):
        row = previous.get(source)
        if row and row.get("sha256") == file_hash(ROOT / source):
            # Timeouts too: counted as killed, but a mutant stopped on a loaded machine may be one whose tests
            # only ran slowly (ten equivalent gans mutants were, before tests.mutation.pytest_order).
            names += ([mutant["mutant"] for mutant in row["surviving"]] + _unpack(row.get("unchecked_mutants", {}))
                      + _unpack(row.get("timeout_mutants", {})))
        else:
            names.append(source[: -len(".py")].replace("/", ".") + ".*")
    return names


def read_report(path):
    """The modules and seconds of an earlier report at `path` ({} and {} when there is none)."""
    if not path.exists():
        return {}, {}
    try:
        report = json.loads(path.read_text())
        return report["modules"], report["seconds"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise SystemExit(f"mutants: {path} is not a report of this script ({error}); move it away or choose "
                         f"another --out")


def _write(path, text):
    with atomic_write(path) as stream:  # a reader never sees half a report
        stream.write(text.encode())


def write_report(modules, seconds, out, stem):
    """`<stem>.json` (everything) and `<stem>.txt` (a table, then every survivor's diff); for a full
    report also `survivors.txt`, each survivor with why it survives (tests/mutation/mutant_reasons.py)."""
    out.mkdir(parents=True, exist_ok=True)
    if stem == "mutants":
        _write(out / "survivors.txt", survivors_text(modules))
    _write(out / f"{stem}.json", json.dumps({"seconds": seconds, "modules": modules}, indent=1) + "\n")
    lines = [f"{'module':32s} {'killed':>7s} {'total':>6s} {'score':>7s} {'unchecked':>10s} {'timeouts':>9s}"]
    for source, row in sorted(modules.items()):
        score = "-" if row["score"] is None else f"{100 * row['score']:.1f}%"
        lines.append(f"{source:32s} {row['killed']:7d} {row['total']:6d} {score:>7s} {row['unchecked']:10d} "
                     f"{row.get('timeouts', 0):9d}")
    for source, row in sorted(modules.items()):
        for mutant in row["surviving"]:
            lines += ["", f"# {mutant['mutant']}: {mutant['status']}", mutant["diff"]]
    _write(out / f"{stem}.txt", "\n".join(lines) + "\n")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, from {','.join(TARGETS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="a handful of mutants of datasets/words.py")
    parser.add_argument("--children", type=int, default=None,
                        help="parallel mutant workers per target (default: the cores shared among --jobs)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="targets run at once (default: one per core, at most one per target)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per target; then report the mutants checked so far (default: no limit)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for mutants.json and mutants.txt (a report there is updated, not replaced)")
    parser.add_argument("--recheck", action="store_true",
                        help="run only the mutants the report at --out lists as surviving or unchecked")
    parser.add_argument("--collect-per-mutant", action="store_true",
                        help="mutmut's own way: each mutant's worker collects its test files again (slower)")
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.collect:
        return _collect()
    for option in ("children", "jobs"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.exit(2, f"mutants: --{option} {getattr(args, option)}: give at least 1\n")
    if args.budget is not None and not args.budget > 0:
        parser.exit(2, f"mutants: --budget {args.budget}: give a positive number of seconds, or leave it out\n")
    if args.quick:
        plan = {"quick": QUICK}
        names = (QUICK_MUTANTS,)
    else:
        chosen = [name.strip() for name in args.targets.split(",")]
        unknown = [name for name in chosen if name not in TARGETS]
        if unknown:
            parser.exit(2, f"mutants: unknown target {unknown[0]!r}: choose from {','.join(TARGETS)}\n")
        plan = {name: TARGETS[name] for name in chosen}
        names = ()
    try:
        import mutmut  # noqa: F401
    except ImportError:
        parser.exit(2, "mutants: mutmut is not installed: pip install -e .[mutation]\n")
    stem = "mutants-quick" if args.quick else "mutants"
    report = args.out / f"{stem}.json"
    previous, _ = read_report(report)
    measured, seconds = {}, {}
    work = {}  # target -> the mutant names to run (empty: all)
    for name, (package, mutate, tests) in plan.items():
        work[name] = recheck_names(mutate, previous) if args.recheck else names
        if args.recheck and not work[name]:
            print(f"[{name}] every mutant was killed already: nothing to recheck", flush=True)
            del work[name]
    # Targets run side by side, each with its share of the cores: a target's serial stretches (its mutants
    # made, its tests' first pass, its last slow mutant) then overlap another's workers instead of leaving a
    # core idle. The longest (by the report's times) start first, so that none is left to run alone at the end.
    cores = os.cpu_count() or 1
    jobs = args.jobs or max(1, min(cores, len(work)))
    children = args.children or max(1, cores // jobs)
    _, earlier_seconds = read_report(report)
    order = sorted(work, key=lambda name: -earlier_seconds.get(name, 0.0))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {pool.submit(run_target, name, *plan[name], children, work[name], args.budget,
                               not args.collect_per_mutant): name for name in order}
        for future in concurrent.futures.as_completed(running):
            name = running[future]
            found, seconds[name], hashes = future.result()
            measured.update(merge(previous, found, hashes))
            # After each target, so a later target's failure or budget does not lose this one's results; over
            # the report as it is now, so that runs of other targets into the same folder meanwhile are kept.
            modules, all_seconds = read_report(report)
            modules.update(measured)
            modules = {source: row for source, row in modules.items() if not moved(source)}
            lines = write_report(modules, {**all_seconds, **seconds}, args.out, stem)
            print("\n".join(lines[: len(modules) + 1]), flush=True)
    print(f"wrote {report} and {args.out / (stem + '.txt')}")


if __name__ == "__main__":
    main()
