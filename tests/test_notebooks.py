"""The tutorial's notebooks (docs/tutorial.ipynb, docs/tutorial.zh.ipynb) are generated from its
Markdown by docs/build_notebooks.py: here they must still match a fresh conversion cell by cell, and
each must run from the first cell to the last in a real kernel of this Python (nbclient, ipykernel).
Blocks tagged ``needs-torch`` are left out where PyTorch is not installed, as tests/test_docs.py
skips them in the Markdown."""
import importlib.util
import re
import sys

import pytest

from helpers_docs import REPO

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need the dev extra: pip install -e \".[dev]\"")
pytest.importorskip("jupytext", reason="the notebook tests need the dev extra: pip install -e \".[dev]\"")
pytest.importorskip("nbclient", reason="the notebook tests need the dev extra: pip install -e \".[dev]\"")
pytest.importorskip("ipykernel", reason="the notebook tests need the dev extra: pip install -e \".[dev]\"")


def load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "docs" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_builder()
NOTEBOOKS = sorted(build.SOURCES.items())
MAX_BYTES = 2_000_000


@pytest.mark.parametrize("source, target", NOTEBOOKS, ids=[target for _, target in NOTEBOOKS])
def test_notebook_is_in_step_with_its_markdown(source, target, tmp_path):
    fresh = build.notebook_from_markdown(REPO / "docs" / source)
    build.write(fresh, tmp_path / target)               # through the file format, as a rebuild would
    regenerated = build.cell_sources(nbformat.read(str(tmp_path / target), as_version=4))
    committed = build.cell_sources(nbformat.read(str(REPO / "docs" / target), as_version=4))
    assert len(committed) == len(regenerated), (
        f"docs/{target} has {len(committed)} cells, its Markdown makes {len(regenerated)}: "
        "run python docs/build_notebooks.py")
    for number, (ours, theirs) in enumerate(zip(committed, regenerated)):
        assert ours == theirs, (f"docs/{target} cell {number} differs from docs/{source}: "
                                "run python docs/build_notebooks.py")


@pytest.mark.parametrize("source, target", NOTEBOOKS, ids=[target for _, target in NOTEBOOKS])
def test_notebook_stays_small_and_shows_its_figures(source, target):
    path = REPO / "docs" / target
    assert path.stat().st_size < MAX_BYTES, f"docs/{target} is {path.stat().st_size} bytes: keep it under 2 MB"
    notebook = nbformat.read(str(path), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in code if "print(" in cell.source), f"docs/{target} was saved unexecuted"
    figures = [cell for cell in code if any("image/png" in output.get("data", {}) for output in cell.outputs)]
    # the loss curve, the reconstructions, the training step's graph, the finite-difference check
    assert len(figures) >= 4, f"docs/{target} shows {len(figures)} figures inline: rebuild it executed"
    assert not [output for cell in code for output in cell.outputs if output.output_type == "error"]
    stored = "".join(str(output) for cell in code for output in cell.outputs)
    assert str(REPO) not in stored and "ipykernel_" not in stored, f"docs/{target} keeps this machine's paths"


EPOCH_LINE = re.compile(r"^epoch (\d+): train loss (\d\.\d+) \(mean of the epoch\), test loss (\d\.\d+)$", re.M)


def assert_the_loop_shows_learning(notebook, target):
    """The tutorial's first training loop prints, per epoch, the mean training loss over its steps and
    the test loss (one batch's loss jumps with its digits and hid the learning): both fall."""
    loop = [cell for cell in notebook.cells if cell.cell_type == "code" and "for epoch in range(5):" in cell.source]
    assert len(loop) == 1, f"docs/{target}: the training loop of section 4 not found"
    printed = "".join(output.get("text", "") for output in loop[0].outputs
                      if output.output_type == "stream" and output.name == "stdout")
    epochs = EPOCH_LINE.findall(printed)
    assert [int(epoch) for epoch, _, _ in epochs] == [1, 2, 3, 4, 5], f"docs/{target} loop printed:\n{printed}"
    train, test = ([float(row[column]) for row in epochs] for column in (1, 2))
    assert all(later < earlier for earlier, later in zip(train, train[1:])), f"the epoch means do not fall: {train}"
    assert test[-1] < test[0], f"the test loss does not fall: {test}"


@pytest.mark.parametrize("source, target", NOTEBOOKS, ids=[target for _, target in NOTEBOOKS])
def test_the_stored_training_loop_shows_learning(source, target):
    assert_the_loop_shows_learning(nbformat.read(str(REPO / "docs" / target), as_version=4), target)


def test_what_is_not_run_here_stays_markdown():
    converted = build.jupytext_markdown(
        "Text.\n\n<!-- test: run with --epochs 1 -->\n```bash\npython -m autoencoders train\n```\n\n"
        "<!-- test: needs torch -->\n```python\nimport torch\n```\n\n"
        "<!-- test: skip, needs a GPU -->\n```python\nimport cupy\n```\n\n```python\nx = 1\n```\n")
    notebook = __import__("jupytext").reads(converted, fmt="md")
    code = [(cell.source, list(cell.metadata.get("tags", []))) for cell in notebook.cells if cell.cell_type == "code"]
    assert code == [("import torch", ["needs-torch"]), ("x = 1", [])]
    markdown = "".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "python -m autoencoders train" in markdown and "import cupy" in markdown
    assert "test:" not in markdown


def torch_installed():
    return importlib.util.find_spec("torch") is not None


@pytest.mark.parametrize("source, target", NOTEBOOKS, ids=[target for _, target in NOTEBOOKS])
def test_notebook_runs_in_a_kernel(source, target, tmp_path):
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(str(REPO / "docs" / target), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    leave_out = () if torch_installed() else ("needs-torch",)
    try:
        seconds = build.execute(notebook, tmp_path, leave_out_tags=leave_out)
    except CellExecutionError as error:
        pytest.fail(f"docs/{target} failed to run (fix docs/{source}, then python docs/build_notebooks.py):\n"
                    f"{str(error)[-4000:]}")
    ran = [cell for cell in notebook.cells if cell.cell_type == "code"
           and not set(cell.metadata.get("tags", [])) & set(leave_out)]
    assert ran and all(cell.execution_count for cell in ran), f"docs/{target}: not every cell ran"
    assert any("image/png" in output.get("data", {}) for cell in ran for output in cell.outputs)
    assert_the_loop_shows_learning(notebook, target)
    print(f"docs/{target} ran in {seconds:.1f} s with {sys.executable}")
