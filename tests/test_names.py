"""One name everywhere: the project's old name appears in no tracked file but the changelog.

The project was renamed to ``sessionful`` before its first release; the old name belongs to an
unrelated package on the public index, so any leftover would point users at someone else's code.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_NAME = re.compile("agent" + "." + "sessions", re.IGNORECASE)  # split, or this line matches
ALLOWED = {"CHANGELOG.md"}  # the changelog records the rename


def _tracked() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in done.stdout.decode().split("\0") if name]


def test_the_old_name_appears_only_in_the_changelog() -> None:
    found = []
    for name in _tracked():
        path = ROOT / name
        if name in ALLOWED or not path.is_file():
            continue  # a file deleted in the work tree but not yet from the index
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OLD_NAME.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, "the old name is still here:\n" + "\n".join(found)


def test_the_changelog_records_the_rename() -> None:
    assert OLD_NAME.search((ROOT / "CHANGELOG.md").read_text())
