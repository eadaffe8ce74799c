"""Regenerate the tutorial's notebooks from its Markdown, which stays the one source:

    python docs/build_notebooks.py            # docs/tutorial.ipynb and docs/tutorial.zh.ipynb, executed
    python docs/build_notebooks.py --check    # only say whether they are in step with the Markdown

The Markdown is read by jupytext (its Markdown format: a ```python block is a code cell, the text
between blocks a Markdown cell), after the blocks are sorted by the conventions tests/test_docs.py
runs them by (the HTML comment just before a block):

- a ``python`` block is a code cell; marked ``needs torch`` it carries the cell tag ``needs-torch``
  (tests/test_notebooks.py leaves it out where PyTorch is not installed);
- a ``python`` block marked ``skip``, ``excerpt`` or ``in .ci/run`` is not code to run here: it stays
  in the Markdown, shown and not executed;
- a ``bash`` block is a command for a terminal (they train for minutes, in a shell's folder): it
  stays in the Markdown too, shown and not executed; ``text`` blocks were Markdown already;
- the test markers themselves are dropped, and neighbouring Markdown cells are joined.

Then every code cell runs, in order, in a fresh kernel of this Python (tutorial_kernel: a kernelspec
written to a temporary folder, so that a fresh venv needs nothing registered), in a temporary
working folder, and the notebook is saved with its outputs: the figures inline, so that a reader sees
them before running anything. Paths of this machine in the outputs (the repository, the venv) are
written as <repo> and <venv>. The files are written to a temporary name, then renamed.

This file is no part of an installed package; run it from a checkout with the dev extra installed.
"""
import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SOURCES = {"tutorial.md": "tutorial.ipynb", "tutorial.zh.md": "tutorial.zh.ipynb"}
MARKER = re.compile(r"<!--\s*test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^(```+)\s*(\S*)\s*$")
NOT_RUN_HERE = ("skip", "excerpt", "in .ci/run")
KERNEL_NAME = "nn-tutorial-python"
CELL_TIMEOUT_S = 300  # seconds a cell may run before the notebook counts as failed
KERNEL_CELL_FILE = re.compile(r"\S*ipykernel_\d+[/\\]\d+\.py")

PREAMBLE = {
    "tutorial.md": ("*This notebook is generated from [tutorial.md](tutorial.md) by "
                    "`python docs/build_notebooks.py`: edit the Markdown, not the notebook. Run the cells in "
                    "order; the command-line blocks (`python -m ...`) are for a terminal and are not run "
                    "here.*"),
    "tutorial.zh.md": ("*本笔记本由 `python docs/build_notebooks.py` 从 [tutorial.zh.md](tutorial.zh.md) 生成："
                       "请修改 Markdown，而不是笔记本。按顺序运行各个单元；命令行代码块（`python -m ...`）"
                       "应在终端中运行，这里不运行。*"),
}


def jupytext_markdown(text):
    """The tutorial's Markdown rewritten for jupytext: blocks not run here wrapped in a Markdown
    region, ``needs torch`` blocks tagged, the test markers dropped."""
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            out.append(lines[index])
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != fence.group(1):
            end += 1
        block = lines[index:end + 1]
        marker = ""
        before = len(out) - 1
        while before >= 0 and not out[before].strip():
            before -= 1
        if before >= 0 and MARKER.fullmatch(out[before].strip()):
            marker = MARKER.fullmatch(out[before].strip()).group(1)
            del out[before]
        language = fence.group(2)
        if language == "python" and not marker.startswith(NOT_RUN_HERE):
            if marker == "needs torch":
                block[0] = f'{fence.group(1)}python tags=["needs-torch"]'
            out += block
        elif language in ("python", "bash"):
            out += ["<!-- #region -->", *block, "<!-- #endregion -->"]
        else:
            out += block
        index = end + 1
    return "\n".join(out) + "\n"


def notebook_from_markdown(source):
    """The unexecuted notebook of one tutorial (a Path to its .md file): an nbformat v4 notebook."""
    import jupytext
    import nbformat

    read = jupytext.reads(jupytext_markdown(source.read_text(encoding="utf-8")), fmt="md")
    cells = [nbformat.v4.new_markdown_cell(PREAMBLE[source.name])]
    for cell in read.cells:
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown" and cells[-1].cell_type == "markdown" and len(cells) > 1:
            cells[-1].source = cells[-1].source.rstrip("\n") + "\n\n" + cell.source
            continue
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source)
        if tags:
            new.metadata["tags"] = tags
        cells.append(new)
    for number, cell in enumerate(cells):  # ids fixed by position, so that a rebuild changes nothing else
        cell["id"] = f"cell-{number:03d}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return notebook


def cell_sources(notebook):
    """What must match between a committed notebook and a fresh conversion: each cell's type, source and tags."""
    return [(cell.cell_type, cell.source, list(cell.metadata.get("tags", []))) for cell in notebook.cells]


@contextlib.contextmanager
def tutorial_kernel():
    """A kernel manager for this interpreter's ipykernel, from a kernelspec in a temporary folder
    (nothing registered, nothing of the user's Jupyter setup used); the repository importable,
    figures inline, one BLAS thread (as tests/helpers_docs.py runs the Markdown's blocks)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="nn-kernel-") as folder:
        spec = Path(folder) / KERNEL_NAME
        spec.mkdir()
        python_path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "nn tutorial", "language": "python",
            "env": {"PYTHONPATH": python_path, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")},
        }), encoding="utf-8")
        specs = KernelSpecManager(kernel_dirs=[folder], ensure_native_kernel=False)
        yield KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def execute(notebook, folder, leave_out_tags=()):
    """Run every code cell of ``notebook`` (in place) in a fresh kernel with ``folder`` as its working
    folder; a cell that raises stops it with nbclient's CellExecutionError. Cells tagged with one of
    ``leave_out_tags`` are left unrun. Returns the seconds it took."""
    from nbclient import NotebookClient

    kept = [cell for cell in notebook.cells if not set(cell.metadata.get("tags", [])) & set(leave_out_tags)]
    everything, notebook.cells = notebook.cells, kept
    start = time.perf_counter()
    try:
        with tutorial_kernel() as manager:
            NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT_S, record_timing=False,
                           resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        notebook.cells = [cell for cell in everything]
    return time.perf_counter() - start


def scrub(notebook, folder):
    """Outputs without this machine's paths: the repository as <repo>, the venv as <venv>, the
    working folder as ``.``, the kernel's file for a cell (which a warning names) as <cell>."""
    replacements = [(str(folder), "."), (str(REPO), "<repo>"), (sys.prefix, "<venv>")]

    def clean(text):
        for old, new in replacements:
            text = text.replace(old, new)
        return KERNEL_CELL_FILE.sub("<cell>", text)

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = clean(output["text"])
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    output["data"][key] = clean(value)


def write(notebook, path):
    import nbformat

    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    nbformat.write(notebook, str(temporary))
    os.replace(temporary, path)


def stale(docs=DOCS):
    """The notebooks whose cells no longer match their Markdown (or that are missing)."""
    import nbformat

    found = []
    for source, target in SOURCES.items():
        path = docs / target
        if not path.is_file() or cell_sources(nbformat.read(str(path), as_version=4)) != \
                cell_sources(notebook_from_markdown(docs / source)):
            found.append(target)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description="Regenerate docs/tutorial*.ipynb from docs/tutorial*.md.")
    parser.add_argument("--check", action="store_true", help="only check that the notebooks are in step")
    args = parser.parse_args(argv)
    if args.check:
        out_of_step = stale()
        for name in out_of_step:
            print(f"docs/{name} is out of step with its Markdown: run python docs/build_notebooks.py")
        return 1 if out_of_step else 0
    for source, target in SOURCES.items():
        notebook = notebook_from_markdown(DOCS / source)
        with tempfile.TemporaryDirectory(prefix="nn-notebook-") as folder:
            seconds = execute(notebook, Path(folder).resolve())
            scrub(notebook, Path(folder).resolve())
        write(notebook, DOCS / target)
        size = (DOCS / target).stat().st_size
        print(f"docs/{target}: {len(notebook.cells)} cells, ran in {seconds:.0f} s, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
