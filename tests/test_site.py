"""The documentation site builds: ``mkdocs build --strict`` (as ``make docs`` runs it), offline.

A broken link, a page left out of the navigation or a reference that does not resolve fails the
build, so it fails here; the API reference must show every public name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sessionful
import sessionful.stores
import sessionful.testing
import sessionful_langgraph
import sessionful_stub

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {
    "sessionful": sessionful,
    "testing": sessionful.testing,
    "stores": sessionful.stores,
    "stub": sessionful_stub,
    "langgraph": sessionful_langgraph,
}
"""reference page (docs/reference/<page>.md) -> the module it documents."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SESSIONFUL_")}
    env["NO_MKDOCS_2_WARNING"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_the_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").exists()
    for guide in sorted((ROOT / "docs").glob("*.md")):
        page = site / ("index.html" if guide.stem == "index" else f"{guide.stem}/index.html")
        assert page.exists(), f"{guide.name} is not in the site"


@pytest.mark.parametrize("page", PUBLIC)
def test_the_reference_shows_every_public_name(site: Path, page: str) -> None:
    module = PUBLIC[page]
    assert (
        (ROOT / "docs" / "reference" / f"{page}.md")
        .read_text()
        .strip()
        .endswith(f"::: {module.__name__}")
    )
    html = (site / "reference" / page / "index.html").read_text()
    shown = set(re.findall(rf'id="{re.escape(module.__name__)}\.([A-Za-z_][A-Za-z0-9_]*)"', html))
    missing = {name for name in module.__all__ if name != "__version__"} - shown
    assert not missing, f"reference/{page}.md lacks {sorted(missing)}"


def test_the_site_fetches_nothing_from_a_font_service(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, page
