"""mkdocs hooks (see mkdocs.yml): links from the guides to the repository's other files.

The guides link to files beside ``docs/`` as they sit in the repository (``../examples/demo.py``,
``../README.md``), which reads right on a code host. mkdocs knows only ``docs/``, so these hooks
put each such target into the site under ``repo/`` (a Markdown file as a page, any other file as
it is, a directory as a generated page listing its files) and point the link there. A missing
target stays a broken link, which ``mkdocs build --strict`` refuses.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")
PREFIX = "repo"

_sources: dict[str, Path] = {}  # site src_uri -> the repository file behind it


def _root(config: Any) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def _tracked(root: Path) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=False
    )
    return set(filter(None, listed.stdout.split("\0"))) if listed.returncode == 0 else set()


def _targets(markdown: str, source: Path) -> list[tuple[re.Match[str], Path]]:
    found = []
    for match in _LINK.finditer(markdown):
        target = match.group("target")
        if _SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        path = target.partition("#")[0]
        if path:
            found.append((match, (source.parent / path).resolve()))
    return found


def _uri(path: Path, docs: Path, root: Path) -> str | None:
    """The site src_uri of a repository path, or None if it is neither in docs/ nor the repo."""
    if path.is_relative_to(docs):
        return path.relative_to(docs).as_posix()
    if path.is_relative_to(root):
        relative = path.relative_to(root).as_posix()
        return f"{PREFIX}/{relative}/index.md" if path.is_dir() else f"{PREFIX}/{relative}"
    return None


def on_files(files: Files, config: Any) -> Files:
    """Add every repository file or directory the pages link to (and those they link to)."""
    _sources.clear()
    docs, root = Path(config["docs_dir"]).resolve(), _root(config)
    tracked = _tracked(root)
    todo = [Path(f.abs_src_path) for f in files.documentation_pages() if f.abs_src_path]
    seen: set[Path] = set()
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for _, target in _targets(page.read_text(encoding="utf-8"), page):
            uri = _uri(target, docs, root)
            if uri is None or target.is_relative_to(docs) or not target.exists() or uri in _sources:
                continue
            _sources[uri] = target
            if target.is_dir():
                relative = target.relative_to(root).as_posix()
                inside = sorted(p for p in tracked if p.startswith(f"{relative}/"))
                lines = [f"# `{relative}/`", ""]
                for path in inside:
                    lines.append(f"- [`{path[len(relative) + 1 :]}`]({path[len(relative) + 1 :]})")
                    _sources.setdefault(f"{PREFIX}/{path}", root / path)
                content = "\n".join(lines) + "\n"
                files.append(File.generated(config, uri, content=content))
                continue
            if target.suffix == ".md":
                todo.append(target)
            files.append(File.generated(config, uri, abs_src_path=str(target)))
    for uri, behind in _sources.items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(behind)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point links at the site's copies, relative to where this page sits in the site."""
    docs, root = Path(config["docs_dir"]).resolve(), _root(config)
    if page.file.abs_src_path is None:
        return markdown
    source = Path(page.file.abs_src_path).resolve()
    here = posixpath.dirname(page.file.src_uri)
    pieces, last = [], 0
    for match, target in _targets(markdown, source):
        if target.is_relative_to(docs) and source.is_relative_to(docs):
            continue  # already right, and mkdocs checks it
        uri = _uri(target, docs, root)
        if uri is None or not target.exists():
            continue  # left as it is: mkdocs reports it
        anchor = match.group("target").partition("#")[2]
        link = posixpath.relpath(uri, here or ".") + (f"#{anchor}" if anchor else "")
        pieces += [markdown[last : match.start()], f"]({link})"]
        last = match.end()
    return "".join(pieces) + markdown[last:]
