"""The docs cannot go stale: generated pages match their generator, shown files match the files,
shown output matches a run, interactive examples pass as doctests, and links resolve.

Conventions in the Markdown (HTML comments, invisible when rendered), each put on the line just
before a fenced block:

``<!-- file: PATH -->``
    the block is the whole of the file at ``PATH`` (relative to the repository root);
``<!-- output of examples/NAME.py -->``
    every line of the block, except ``...``, is a line that example prints.

Blocks fenced as ``pycon`` run as doctests; blocks fenced as ``python`` must parse.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import sessionful
from sessionful import errors
from support import load_file
from support.examples import run_example

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])


MY_PAGES = [
    ROOT / "README.md",
    *(
        DOCS / name
        for name in (
            "index.md",
            "concepts.md",
            "human-in-the-loop.md",
            "lifecycle.md",
            "plugin-authors.md",
            "hooks.md",
            "errors.md",
        )
    ),
]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    marker: str | None
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


_FENCE = re.compile(r"^(```+)(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.+?)\s*-->\s*$")


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the marker comment on the line before each, if any."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        marker = _MARKER.match(lines[i - 1]) if i else None
        end = i + 1
        while end < len(lines) and lines[end] != fence.group(1):
            end += 1
        body = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(page, i + 1, fence.group(2), marker.group(1) if marker else None, body))
        i = end + 1
    return found


def all_blocks(pages: list[Path] = PAGES) -> list[Block]:
    return [block for page in pages for block in blocks(page)]


def _load_generator() -> ModuleType:
    return load_file("gen_hook_reference", ROOT / "scripts" / "gen_hook_reference.py")


# -- generated and copied content ----------------------------------------------------------------


def test_hook_reference_is_generated_from_the_hookspecs() -> None:
    """If this fails, run: .venv/bin/python scripts/gen_hook_reference.py"""
    generated = _load_generator().render()
    committed = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert committed == generated, "docs/hooks.md is stale: run scripts/gen_hook_reference.py"


def test_hook_reference_covers_every_hook() -> None:
    from sessionful import hookspecs

    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    hooks = [name for name, obj in vars(hookspecs).items() if hasattr(obj, "sessionful_spec")]
    assert hooks
    for name in hooks:
        assert f"### {name}\n" in text


@pytest.mark.parametrize(
    "block",
    [b for b in all_blocks() if b.marker and b.marker.startswith("file: ")],
    ids=str,
)
def test_shown_files_match_the_files(block: Block) -> None:
    assert block.marker is not None
    path = ROOT / block.marker.removeprefix("file: ")
    assert path.is_file(), f"{block} shows {path}, which does not exist"
    assert block.text == path.read_text(encoding="utf-8"), (
        f"{block} differs from {path.relative_to(ROOT)}; copy the file into the page"
    )


def test_readme_quick_start_is_the_quickstart_example() -> None:
    readme = blocks(ROOT / "README.md")
    quickstart = (ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8")
    assert any(b.lang == "python" and b.text == quickstart for b in readme), (
        "README.md must show examples/quickstart.py verbatim"
    )


def test_readme_quick_start_is_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (commands,) = [b for b in blocks(ROOT / "README.md") if b.lang == "sh" and b.text in section]
    assert commands.text == "make demo\nmake test\n"


@pytest.mark.parametrize(
    "block",
    [b for b in all_blocks() if b.marker and b.marker.startswith("output of ")],
    ids=str,
)
def test_shown_output_matches_a_run(block: Block) -> None:
    assert block.marker is not None
    printed = run_example(block.marker.removeprefix("output of examples/")).splitlines()
    for line in block.text.splitlines():
        if line.strip() and line.strip() != "...":
            assert line in printed, f"{block}: the example no longer prints {line!r}"


def test_error_tree_matches_errors_module() -> None:
    doc = (errors.__doc__ or "").splitlines()
    first = next(i for i, line in enumerate(doc) if line.strip() == "SessionfulError")
    last = next(i for i in range(first, len(doc)) if not doc[i].strip())
    tree = textwrap.dedent("\n".join(doc[first:last])) + "\n"
    shown = [b.text for b in blocks(DOCS / "errors.md") if b.text.startswith("SessionfulError")]
    assert shown == [tree], "docs/errors.md's tree differs from the one in errors.py's docstring"


# -- the public API is documented ----------------------------------------------------------------


def test_every_public_name_is_documented() -> None:
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    missing = [
        name for name in sessionful.__all__ if not re.search(rf"\b{re.escape(name)}\b", text)
    ]
    assert not missing, f"not mentioned in README.md or docs/: {missing}"


# -- examples in the docs run or at least parse --------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if any(b.lang == "pycon" for b in blocks(page))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_interactive_examples_pass(page: Path) -> None:
    """A page's ``pycon`` blocks run in order in one namespace, like one interpreter session."""
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    namespace: dict[str, object] = {}
    out: list[str] = []
    for block in blocks(page):
        if block.lang == "pycon":
            test = parser.get_doctest(block.text, namespace, str(block), str(page), block.line)
            runner.run(test, out=out.append, clear_globs=False)
            namespace = test.globs  # DocTest copies its globals; carry them to the next block
    assert runner.tries > 0
    assert runner.failures == 0, "".join(out)


@pytest.mark.parametrize("block", [b for b in all_blocks(MY_PAGES) if b.lang == "python"], ids=str)
def test_python_blocks_parse(block: Block) -> None:
    # Snippets may use top-level `await`, `...` placeholders and names defined elsewhere.
    compile(block.text, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


# -- links ---------------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    slugs = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", title)))
    return slugs


@pytest.mark.parametrize("page", MY_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page: Path) -> None:
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        assert path.exists(), f"{page.relative_to(ROOT)} links to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.relative_to(ROOT)}: no #{anchor} in {path}"
