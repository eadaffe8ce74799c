"""The packages' order, bottom to top: ``nn`` and ``datasets`` import none of the others, ``common``
(what both command lines share) imports neither ``autoencoders`` nor ``gans``, and the GANs' command
line and figures take nothing from ``autoencoders``."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "datasets", "common", "autoencoders", "gans", "benchmarks")
COMMON = sorted(f"common.{path.stem}" for path in (REPO / "common").glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("modules, allowed", [
    (["nn"], {"nn"}),
    (["datasets"], {"datasets"}),
    (COMMON, {"nn", "datasets", "common"}),
], ids=["nn", "datasets", "common"])
def test_a_package_imports_nothing_above_it(modules, allowed):
    code = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
            f"print(sorted({{m.partition('.')[0] for m in sys.modules}} & {set(PACKAGES)!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout.strip().splitlines()[-1]))
    assert loaded <= allowed, f"importing {modules} loads {sorted(loaded - allowed)}"


def imported_modules(path):
    """Every module a file imports, at any depth (``from X import y`` gives X)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("name", ["cli.py", "figures.py", "__init__.py", "__main__.py"])
def test_the_gans_command_line_takes_nothing_from_autoencoders(name):
    borrowed = sorted(module for module in imported_modules(REPO / "gans" / name)
                      if module.partition(".")[0] == "autoencoders")
    assert not borrowed, f"gans/{name} imports {borrowed}; what both packages need lives in runfolder/"
