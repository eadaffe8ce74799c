"""Mutation testing: plant one-line bugs in the engine, the checkpoints and the data code, and count
how many the tests catch.

    python -m benchmarks.mutants                      # every target below (about 30 min on 2 quiet cores)
    python -m benchmarks.mutants --targets datasets,nn.gradcheck
    python -m benchmarks.mutants --quick --out DIR    # a handful of mutants of one small module (CI smoke)

The tool is mutmut 3 (`pip install -e .[mutation]`). It was chosen over cosmic-ray because it
imports the test suite once and forks a worker per mutant, and it runs for each mutant only the
tests that reached the mutated function: with torch imported by most test files, a fresh
`pytest` process per mutant (cosmic-ray's way) would cost seconds each before any test runs.
mutmut mutates the bodies of functions and methods, not module-level constants.

Each target mutates some files and runs the test files that cover them, in its own scratch copy
of the repository (mutmut writes a `mutants/` folder and a `setup.cfg` section there; the working
tree is never touched). Results: `<out>/mutants.json` (score per module, every surviving mutant
with its diff) and `<out>/mutants.txt` (the same for reading).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasets.atomic import atomic_write

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
PACKAGES = ("nn", "datasets", "common", "autoencoders", "gans")

# target name -> (package mutmut copies, files to mutate, test files that cover them).
TARGETS = {
    "datasets": ("datasets", ["datasets/*.py"], ["tests/test_datasets_*.py"]),
    "nn.gradcheck": ("nn", ["nn/gradcheck.py"], ["tests/test_nn_gradcheck*.py", "tests/test_nn_backend_strict.py"]),
    "nn.backend": ("nn", ["nn/backend.py"], ["tests/test_nn_backend*.py", "tests/test_nn_module*.py",
                                              "tests/test_nn_validation*.py"]),
    "nn.layers": ("nn", sorted(f"nn/{path.name}" for path in (ROOT / "nn").glob("*.py") if path.name not in
                               ("__init__.py", "gradcheck.py", "backend.py")),  # modules, losses, optimizers...
                  ["tests/test_nn_*.py"]),
    "autoencoders": ("autoencoders", ["autoencoders/checkpoint.py", "autoencoders/models.py",
                                      "autoencoders/vae.py"],
                     ["tests/test_autoencoders_checkpoint.py", "tests/test_autoencoders_models.py",
                      "tests/test_autoencoders_vae.py", "tests/test_autoencoders_parity.py",
                      "tests/test_autoencoders_checkpoint_keys.py"]),
}
# --quick: the first mutants of each function of one small module, against its own small test file.
QUICK = ("datasets", ["datasets/words.py"], ["tests/test_datasets_words.py"])
QUICK_MUTANTS = "*__mutmut_[1-2]"


def _scratch_copy(package, mutate, tests, workdir):
    """A copy of the packages and tests with a [mutmut] section naming what to mutate and run."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    test_files = sorted({str(path.relative_to(ROOT)) for pattern in tests for path in ROOT.glob(pattern)})
    if not test_files:
        raise SystemExit(f"mutants: no test file matches {tests}")
    lines = ["[mutmut]", f"source_paths = {package}", "only_mutate ="]
    lines += [f"    {pattern}" for pattern in mutate]
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {path}" for path in test_files]
    # -x: one failing test kills the mutant; the rest need not run.
    lines += ["pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -x", "    -q"]
    (workdir / "setup.cfg").write_text("\n".join(lines) + "\n")
    return test_files


def _collect():
    """Run inside a scratch copy after `mutmut run`: print JSON {file: {mutant: [status, diff]}}."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    found = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source = str(meta.relative_to("mutants"))[: -len(".meta")]
        try:
            exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        except json.JSONDecodeError:  # cut off mid-write when the budget ran out
            print(f"mutants: {meta} is incomplete; {source} is left out", file=sys.stderr)
            continue
        found[source] = {}
        for name, code in exit_codes.items():
            status = status_by_exit_code[code]
            diff = get_diff_for_mutant(name, path=source) if status != "killed" else ""
            found[source][name] = [status, diff]
    json.dump(found, sys.stdout)


def run_target(name, package, mutate, tests, children, mutant_names=(), budget=None):
    """Mutation-test one target in a scratch copy; returns {file: {mutant: [status, diff]}} and seconds.

    With a budget (seconds), mutmut is stopped when it runs out and the mutants checked so far are
    reported; the others are "not checked" (mutmut records each result as it comes).
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"mutants-{name}-"))
    try:
        test_files = _scratch_copy(package, mutate, tests, workdir)
        print(f"[{name}] mutating {', '.join(mutate)} against {len(test_files)} test file(s)", flush=True)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        # The tests find real MNIST beside the repository; in the scratch copy only $NN_DATA_DIR can say where.
        if "NN_DATA_DIR" not in env and SHARED_MNIST.is_dir():
            env["NN_DATA_DIR"] = str(SHARED_MNIST)
        start = time.perf_counter()
        log = workdir / "mutmut.log"
        with open(log, "w") as stream:
            # A session of its own, so that stopping it at the budget stops its forked workers too.
            process = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(children),
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
        if returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"mutants: mutmut failed on {name} (exit {returncode}):\n{tail}")
        # mutmut reads its settings from the current folder: collect in the scratch copy too.
        collected = subprocess.run([sys.executable, "-m", "benchmarks.mutants", "--collect"], cwd=workdir,
                                   env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True, text=True, check=True)
        sys.stderr.write(collected.stderr)
        return json.loads(collected.stdout), seconds
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def summarize(found):
    """Per file: killed (a test failed or timed out), survived (every other status: survived, no tests,
    ...), total checked, unchecked, and score = killed / total."""
    modules = {}
    for source, mutants in found.items():
        unchecked = sum(row[0] == "not checked" for row in mutants.values())  # --quick, or out of budget
        mutants = {name: row for name, row in mutants.items() if row[0] != "not checked"}
        statuses = [status for status, _ in mutants.values()]
        killed = sum(status in ("killed", "timeout", "segfault") for status in statuses)
        survived = [{"mutant": name, "status": status, "diff": diff}
                    for name, (status, diff) in sorted(mutants.items()) if status not in ("killed", "timeout",
                                                                                           "segfault")]
        modules[source] = {"killed": killed, "survived": len(survived), "total": len(statuses), "unchecked": unchecked,
                           "score": round(killed / len(statuses), 4) if statuses else None,
                           "surviving": survived}
    return modules


def _write(path, text):
    with atomic_write(path) as stream:  # a reader never sees half a report
        stream.write(text.encode())


def write_report(modules, seconds, out, stem):
    """`<stem>.json` (everything) and `<stem>.txt` (a table, then every survivor's diff)."""
    out.mkdir(parents=True, exist_ok=True)
    _write(out / f"{stem}.json", json.dumps({"seconds": seconds, "modules": modules}, indent=1) + "\n")
    lines = [f"{'module':32s} {'killed':>7s} {'total':>6s} {'score':>7s} {'unchecked':>10s}"]
    for source, row in sorted(modules.items()):
        score = "-" if row["score"] is None else f"{100 * row['score']:.1f}%"
        lines.append(f"{source:32s} {row['killed']:7d} {row['total']:6d} {score:>7s} {row['unchecked']:10d}")
    for source, row in sorted(modules.items()):
        for mutant in row["surviving"]:
            lines += ["", f"# {mutant['mutant']}: {mutant['status']}", mutant["diff"]]
    _write(out / f"{stem}.txt", "\n".join(lines) + "\n")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, from {','.join(TARGETS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="a handful of mutants of datasets/words.py")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1, help="parallel mutant workers")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per target; then report the mutants checked so far (default: no limit)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for mutants.json and mutants.txt")
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.collect:
        return _collect()
    if args.children < 1:
        parser.exit(2, f"mutants: --children {args.children}: give at least 1 worker\n")
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
    modules, seconds = {}, {}
    for name, (package, mutate, tests) in plan.items():
        found, seconds[name] = run_target(name, package, mutate, tests, args.children, names, args.budget)
        modules.update(summarize(found))
    stem = "mutants-quick" if args.quick else "mutants"
    print("\n".join(write_report(modules, seconds, args.out, stem)[: len(modules) + 1]))
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.txt')}")


if __name__ == "__main__":
    main()
