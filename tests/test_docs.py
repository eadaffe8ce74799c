"""Every fenced code block in README.md and docs/*.md runs, so a snippet that rots fails here; the
README stays short, and every relative link in these files points at a file (and heading) that exists.

A block's language says what it is: ``python`` and ``bash`` blocks are run, ``text`` blocks (output,
usage) are not, and a block without a language fails (label it). An HTML comment on the line just
before a block changes how it is tested:

    <!-- test: skip, REASON -->          not run; the skip says REASON (a GPU, the network, ...)
    <!-- test: needs torch -->           run only where PyTorch is installed
    <!-- test: in .ci/run -->            a command CI runs: it must appear verbatim in .ci/run
    <!-- test: excerpt PATH -->          an excerpt: its lines must appear in PATH, in order
                                         (a line "..." stands for lines left out)
    <!-- test: run with ARGS -->         a bash command run with ARGS appended (to make it cheap)

The python blocks of one document run in order in one fresh interpreter, as a reader pastes them
into one session; the cwd is a temporary folder and the repository is on PYTHONPATH. Tracebacks
name the document and its line.
"""
import ast
import re
import subprocess
import sys

import pytest

from helpers_docs import REPO, environment

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*test:\s*(.*?)\s*-->")
RUN_LANGUAGES = ("python", "bash")
TEXT_LANGUAGES = ("text", "console")
# A link to a class or function where it lives: [`nn/layers.py` `Linear`](../nn/layers.py)
CODE_LINK = re.compile(r"\[`([\w/.-]+\.py)` `([\w.]+)`\]\(([^)\s]+)\)")


class Block:
    def __init__(self, document, line, language, code, marker):
        self.document, self.line, self.language, self.code, self.marker = document, line, language, code, marker

    @property
    def where(self):
        return f"{self.document.relative_to(REPO)}:{self.line}"


def blocks_of(document):
    """The fenced blocks of a Markdown file: line of the first code line, language, code, marker."""
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^(```+)\s*(\S*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        start, before = index, index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = MARKER.fullmatch(lines[before].strip()) if before >= 0 else None
        index += 1
        while index < len(lines) and lines[index].rstrip() != fence.group(1):
            index += 1
        assert index < len(lines), f"{document.name}:{start + 1}: unclosed code fence"
        code = "\n".join(lines[start + 1:index]) + "\n"
        blocks.append(Block(document, start + 2, fence.group(2), code, marker.group(1) if marker else ""))
        index += 1
    return blocks


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks_of(document)]


def torch_installed():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def skip_reason(block):
    if block.marker.startswith("skip"):
        reason = block.marker.partition(",")[2].strip()
        assert reason, f"{block.where}: a skip marker needs a reason: <!-- test: skip, REASON -->"
        return reason
    if block.marker == "needs torch" and not torch_installed():
        return "needs PyTorch (pip install -e \".[dev]\")"
    return None


def test_every_block_says_its_language():
    unlabeled = [block.where for block in ALL_BLOCKS if block.language not in RUN_LANGUAGES + TEXT_LANGUAGES]
    assert not unlabeled, f"label these code blocks python, bash or text: {unlabeled}"


def test_every_marker_is_known():
    known = ("skip", "needs torch", "in .ci/run", "excerpt ", "run with ")
    unknown = [f"{block.where}: {block.marker}" for block in ALL_BLOCKS
               if block.marker and not block.marker.startswith(known)]
    assert not unknown, f"unknown test markers: {unknown}"


# A Chinese page NAME.zh.md has the same code blocks as its English NAME.md (test_tutorials_in_step checks
# them equal), so its blocks are not run twice: the English page's run covers both languages.
TRANSLATIONS = sorted((REPO / "docs").glob("*.zh.md"))


def is_translation(document):
    return document in TRANSLATIONS


PYTHON_DOCUMENTS = sorted({block.document for block in ALL_BLOCKS if block.language == "python"
                           and not block.marker.startswith(("excerpt", "in .ci/run"))
                           and not is_translation(block.document)})


@pytest.mark.parametrize("document", PYTHON_DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_python_blocks_run(document, tmp_path):
    runnable, skipped = [], []
    for block in blocks_of(document):
        if block.language != "python" or block.marker.startswith(("excerpt", "in .ci/run")):
            continue
        reason = skip_reason(block)
        (skipped if reason else runnable).append((block, reason))
    # Each block compiled with the document's name and padded to its line, so a traceback points
    # at the Markdown line that failed.
    program = "\n".join([
        "import sys",
        f"blocks = {[(block.line, block.code) for block, _ in runnable]!r}",
        "namespace = {'__name__': '__main__'}",
        "for line, code in blocks:",
        f"    exec(compile('\\n' * (line - 1) + code, {str(document.relative_to(REPO))!r}, 'exec'), namespace)",
    ])
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=environment(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{document.name}'s code blocks failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    for block, reason in skipped:
        print(f"skipped {block.where}: {reason}")


BASH_BLOCKS = [block for block in ALL_BLOCKS if block.language == "bash" and block.marker != "in .ci/run"
               and not is_translation(block.document)]


@pytest.mark.parametrize("block", BASH_BLOCKS, ids=lambda block: block.where)
def test_bash_blocks_run(block, tmp_path):
    reason = skip_reason(block)
    if reason:
        pytest.skip(reason)
    script = block.code
    if block.marker.startswith("run with "):
        extra = block.marker[len("run with "):]
        script = "\n".join(line + " " + extra if line.strip() else line for line in block.code.splitlines())
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=environment(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{block.where} failed:\n{script}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_ci_runs_the_readme_commands():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [block for block in ALL_BLOCKS if block.marker == "in .ci/run"]
    assert len(commands) == 2, f"the README should have its two commands marked 'in .ci/run', found {len(commands)}"
    for block in commands:
        for line in block.code.strip().splitlines():
            assert line in ci, f"{block.where}: .ci/run does not run the README's command {line!r}"


def test_readme_torch_cpu_advice_is_in_the_block_a_user_pastes():
    """The CPU build's install line sits in the test command's block, as a comment the user sees while
    pasting (the command itself unchanged), and asks for the torch the dev extra pins."""
    setup = (REPO / "setup.cfg").read_text(encoding="utf-8")
    dev = setup.split("dev =", 1)[1].split("\n[", 1)[0]
    pin = next(line.strip() for line in dev.splitlines() if line.strip().startswith("torch"))
    test_block = [block for block in ALL_BLOCKS if block.marker == "in .ci/run"][1]
    comments = [line for line in test_block.code.splitlines() if line.startswith("#")]
    commands = [line for line in test_block.code.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ['pip install -e ".[dev]" && python -m pytest'], commands
    advice = [line for line in comments if "--index-url https://download.pytorch.org/whl/cpu" in line]
    assert advice and f'pip install "{pin}" --index-url' in advice[0], (comments, pin)


def test_readme_times_the_first_run_once():
    """The first command's run is timed in one place, in measured words ("about N seconds on 2 cores");
    the section on its output refers to it and gives no other time for the same run."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    output = text.split("## What `train` prints and draws", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"[Aa]bout \d+ seconds on 2 cores", prose(commands))) == 1, commands
    duration = re.compile(r"\b(\d+|a|one|two|few) (seconds?|minutes?)\b|\bSeconds\b")
    assert not duration.search(prose(output)), duration.search(prose(output))


def test_readme_first_command_installs_no_torch():
    setup = (REPO / "setup.cfg").read_text(encoding="utf-8")
    required = setup.split("install_requires =", 1)[1].split("\n[", 1)[0]
    assert "torch" not in required, "pip install -e . must not pull PyTorch: keep torch in the dev extra"


@pytest.mark.parametrize("block", [block for block in ALL_BLOCKS if block.marker.startswith("excerpt ")],
                         ids=lambda block: block.where)
def test_excerpts_match_their_source(block):
    path = REPO / block.marker[len("excerpt "):]
    source = path.read_text(encoding="utf-8").splitlines()
    position = 0
    for line in block.code.splitlines():
        if line.strip() in ("", "..."):
            continue
        found = next((index for index in range(position, len(source)) if source[index].rstrip() == line.rstrip()), None)
        assert found is not None, f"{block.where}: the excerpt's line {line.strip()!r} is no longer in {path.name} (in order)"
        position = found + 1


def defined_names(path):
    """Top-level classes and functions of a file, and Class.method for their methods."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{item.name}" for item in node.body if isinstance(item, ast.FunctionDef))
        if isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


CODE_LINKS = [(document, match) for document in DOCUMENTS
              for match in CODE_LINK.finditer(document.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("document, link", CODE_LINKS,
                         ids=[f"{document.name}:{link.group(2)}" for document, link in CODE_LINKS])
def test_code_links_point_at_what_exists(document, link):
    path, name, target = link.groups()
    assert (document.parent / target).resolve() == (REPO / path).resolve(), \
        f"{document.name}: the link to `{path}` `{name}` goes to {target}"
    assert (REPO / path).is_file(), f"{document.name} links to {path}, which does not exist"
    assert name in defined_names(REPO / path), f"{document.name} links to `{name}` in {path}, which defines no such name"


def test_tutorial_links_to_code():
    assert len([1 for document, _ in CODE_LINKS if document.name == "tutorial.md"]) >= 8


def test_images_exist():
    for document in DOCUMENTS:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", document.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (document.parent / target).is_file(), f"{document.name} shows {target}, which does not exist"


def outline(document):
    """The headings' levels, the code blocks, the figures and the code links: what two translations share."""
    text = document.read_text(encoding="utf-8")
    headings = [len(line) - len(line.lstrip("#")) for line in text.splitlines() if re.match(r"^#+ ", line)]
    figures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    links = [match.groups() for match in CODE_LINK.finditer(text)]
    return headings, [(block.language, block.code, block.marker) for block in blocks_of(document)], figures, links


def test_both_guides_have_their_translation():
    assert {"tutorial.zh.md", "from-pytorch.zh.md"} <= {path.name for path in TRANSLATIONS}


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=lambda path: path.name)
def test_tutorials_in_step(translation):
    """A page and its translation: the same heading levels, code blocks (with their markers), figures and
    code links, so the English page's tested blocks are the translation's too."""
    original = translation.with_name(translation.name.replace(".zh.md", ".md"))
    assert original.is_file(), f"docs/{translation.name} translates docs/{original.name}, which does not exist"
    english, chinese = outline(original), outline(translation)
    pages = f"docs/{original.name} and {translation.name}"
    assert english[0] == chinese[0], f"{pages} have different heading structures"
    assert len(english[1]) == len(chinese[1]), f"{pages} have different numbers of code blocks"
    for index, (ours, theirs) in enumerate(zip(*[part[1] for part in (english, chinese)])):
        assert ours == theirs, f"code block {index + 1} differs between {pages}"
    assert english[2] == chinese[2], f"{pages} show different figures"
    assert english[3] == chinese[3], f"{pages} link to different code"


README_MAX_LINES = 200


def test_readme_stays_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, more than {README_MAX_LINES}: move detail into a page in docs/ "
        "and link it from the README")


FENCED = re.compile(r"^(```+).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text):
    """The text a reader sees as Markdown: without fenced blocks and inline code, whose brackets are code."""
    return INLINE_CODE.sub("``", FENCED.sub("", text))


def anchors(document):
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated one numbered -1, -2, ..."""
    seen, result = {}, set()
    for line in FENCED.sub("", document.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#+\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def relative_links(document):
    for target in LINK.findall(prose(document.read_text(encoding="utf-8"))):
        if "://" not in target and not target.startswith("mailto:"):
            yield target


LINKS = [(document, target) for document in DOCUMENTS for target in relative_links(document)]


@pytest.mark.parametrize("document, target", LINKS,
                         ids=[f"{document.name}->{target}" for document, target in LINKS])
def test_relative_links_point_at_what_exists(document, target):
    path, _, anchor = target.partition("#")
    destination = (document.parent / path).resolve() if path else document
    assert destination.exists(), f"{document.relative_to(REPO)} links to {target}, which does not exist"
    if anchor and destination.suffix == ".md":
        assert anchor in anchors(destination), \
            f"{document.relative_to(REPO)} links to {target}, but {path or document.name} has no heading with that anchor"


def test_readme_links_every_page_in_docs():
    linked = {(REPO / target.partition("#")[0]).resolve() for target in relative_links(REPO / "README.md")}
    unlinked = [path.name for path in sorted((REPO / "docs").glob("*.md")) if path.resolve() not in linked]
    assert not unlinked, f"README.md should link every page in docs/, so a reader can find it: {unlinked}"


def test_the_link_check_sees_links():
    # A guard for the two tests above: were the link pattern to stop matching, they would pass on nothing.
    assert len([1 for document, _ in LINKS if document.name == "README.md"]) >= 10
    assert "the-two-commands" in anchors(REPO / "README.md")
