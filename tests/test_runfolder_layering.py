"""The packages' order, bottom to top, read from every import statement of every file, at any depth
(module level, inside functions, under ``if`` and ``try``), relative imports resolved to their package:

    nn            imports nothing else of the project
    datasets      imports nothing else of the project (not nn)
    runfolder     the run folder and what both command lines share: nn and datasets only
    autoencoders  nn, datasets, runfolder (not gans)
    gans          nn, datasets, runfolder, autoencoders
    examples      any of the five above

and nothing of them imports ``benchmarks`` or ``tests`` (benchmarks, installed, imports no ``tests``
either: that folder is not installed). ``importlib.import_module("x")`` and ``__import__("x")`` with a
literal name count as imports too. A known exception is written into ALLOWED with the reason it is
there; an entry that no longer matches anything fails as well, so the list only shrinks.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = ("nn", "datasets", "runfolder", "autoencoders", "gans", "benchmarks", "tests", "examples")

# What each folder may import of the project, besides itself.
MAY_IMPORT = {
    "nn": set(),
    "datasets": set(),
    "runfolder": {"nn", "datasets"},
    "autoencoders": {"nn", "datasets", "runfolder"},
    "gans": {"nn", "datasets", "runfolder", "autoencoders"},
    "examples": {"nn", "datasets", "runfolder", "autoencoders", "gans"},
    "benchmarks": {"nn", "datasets", "runfolder", "autoencoders", "gans"},
}

# (file, package it imports): the known exceptions, each with why it is still here.
ALLOWED = set()  # (file, package) pairs allowed against the rule: none


def package_of(path):
    """The dotted package a file belongs to: runfolder/cli.py -> runfolder, nn/__init__.py -> nn."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1])


def absolute(node, path):
    """The module an ImportFrom names, a relative one resolved against the file's package."""
    if node.level == 0:
        return node.module
    base = package_of(path).split(".")
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path):
    """[(line, module, statement)] for every import anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, f"import {alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, path)
            names = ", ".join(alias.name for alias in node.names)
            found.append((node.lineno, module, f"from {'.' * node.level}{node.module or ''} import {names}"))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            found.append((node.lineno, node.args[0].value, f"{ast.unparse(node.func)}({node.args[0].value!r})"))
    return found


def files_of(folder):
    return sorted(path for path in (REPO / folder).rglob("*.py") if "__pycache__" not in path.parts)


def offending_imports(folders=tuple(MAY_IMPORT)):
    """(offences as 'file:line: statement (why)', allow-list entries used)."""
    offences, used = [], set()
    for folder in folders:
        allowed = MAY_IMPORT[folder] | {folder}
        for path in files_of(folder):
            name = str(path.relative_to(REPO))
            for line, module, statement in imports_of(path):
                top = module.partition(".")[0]
                if top not in PROJECT or top in allowed:
                    continue
                if (name, top) in ALLOWED:
                    used.add((name, top))
                    continue
                offences.append(f"{name}:{line}: {statement}  ({folder} may not import {top})")
    return offences, used


def test_no_package_imports_above_its_layer():
    offences, _ = offending_imports()
    assert not offences, "imports against the layering (tests/test_runfolder_layering.py):\n" + "\n".join(offences)


def test_every_allowed_exception_is_still_needed():
    _, used = offending_imports()
    stale = sorted(set(ALLOWED) - used)  # ALLOWED may be written as {} when empty (a dict)
    assert not stale, f"these ALLOWED entries match no import any more: delete them: {stale}"


def test_the_check_reads_imports_at_every_depth(tmp_path, monkeypatch):
    """A forbidden import inside a function, under an if, or relative, is found and named with its line."""
    package = tmp_path / "autoencoders"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(
        "import nn\n"
        "def f():\n"
        "    from gans.models import Discriminator\n"
        "if True:\n"
        "    import benchmarks.timing as timing\n"
        "try:\n"
        "    from ..tests import helpers\n"
        "except ImportError:\n"
        "    pass\n"
        "import importlib\n"
        "importlib.import_module('gans.training')\n"
        "from . import models\n")
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    offences, _ = offending_imports(("autoencoders",))
    assert offences == [
        "autoencoders/bad.py:3: from gans.models import Discriminator  (autoencoders may not import gans)",
        "autoencoders/bad.py:5: import benchmarks.timing  (autoencoders may not import benchmarks)",
        "autoencoders/bad.py:7: from ..tests import helpers  (autoencoders may not import tests)",
        "autoencoders/bad.py:11: importlib.import_module('gans.training')  (autoencoders may not import gans)",
    ]


def module_graph(folder):
    """{module: the modules of the same package it imports, at any depth}, e.g. for benchmarks."""
    modules = {path.stem: path for path in files_of(folder) if path.parent == REPO / folder}
    graph = {}
    for stem, path in modules.items():
        graph[stem] = set()
        for _, module, statement in imports_of(path):
            parts = module.split(".")
            if parts[0] != folder:
                continue
            if len(parts) > 1 and parts[1] in modules:
                graph[stem].add(parts[1])
            elif len(parts) == 1 and statement.startswith(("from .", f"from {folder} ")):
                names = statement.partition(" import ")[2].split(", ")
                graph[stem].update(name.partition(" as ")[0] for name in names if name.partition(" as ")[0] in modules)
        graph[stem].discard(stem)
    return graph


def cycles(graph):
    """Every import circle, once each, as [a, b, ..., a]."""
    found, seen = [], set()

    def visit(node, path):
        for target in sorted(graph[node]):
            if target in path:
                circle = path[path.index(target):] + [target]
                key = frozenset(circle)
                if key not in seen:
                    seen.add(key)
                    found.append(circle)
            else:
                visit(target, path + [target])

    for start in sorted(graph):
        visit(start, [start])
    return found


@pytest.mark.parametrize("folder", ["benchmarks", "runfolder", "autoencoders", "gans", "datasets"])
def test_no_import_circle_inside_a_package(folder):
    found = cycles(module_graph(folder))
    assert not found, f"import circles in {folder}/ (at any depth): " + "; ".join(" -> ".join(c) for c in found)


def test_the_circle_check_finds_a_function_level_circle():
    assert cycles({"peers": {"workloads"}, "workloads": {"peers"}, "plain_loop": {"workloads"}}) == [
        ["peers", "workloads", "peers"]]


@pytest.mark.parametrize("folder, allowed", [
    ("nn", {"nn"}),
    ("datasets", {"datasets"}),
    ("runfolder", {"nn", "datasets", "runfolder"}),
    ("autoencoders", {"nn", "datasets", "runfolder", "autoencoders"}),
    ("gans", {"nn", "datasets", "runfolder", "autoencoders", "gans"}),
], ids=["nn", "datasets", "runfolder", "autoencoders", "gans"])
def test_importing_a_package_loads_nothing_above_it(folder, allowed):
    """Every module of the package imported in a fresh interpreter: what ends up in sys.modules (the
    imports the text cannot show, made with a computed name, are caught here)."""
    modules = [package_of(path) if path.stem == "__init__" else f"{package_of(path)}.{path.stem}"
               for path in files_of(folder) if path.stem != "__main__"]
    code = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
            f"print(sorted({{m.partition('.')[0] for m in sys.modules}} & {set(PROJECT)!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout.strip().splitlines()[-1]))
    assert loaded <= allowed, f"importing {folder}'s modules loads {sorted(loaded - allowed)}"


@pytest.mark.parametrize("name", ["cli.py", "figures.py", "__init__.py", "__main__.py"])
def test_the_gans_command_line_takes_nothing_from_autoencoders(name):
    path = REPO / "gans" / name
    borrowed = sorted(statement for _, module, statement in imports_of(path)
                      if module.partition(".")[0] == "autoencoders")
    assert not borrowed, f"gans/{name} imports {borrowed}; what both command lines need lives in runfolder/"
