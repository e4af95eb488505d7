"""Running the examples, once per test session: test_examples.py and test_docs.py share the runs."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_fresh(relative: str) -> str:
    """Run ``examples/<relative>`` from the repository root, as `make demo` does; its stdout.

    Fails unless it exits 0 with nothing on stderr.
    """
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / relative)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{relative} exited {done.returncode}:\n{done.stderr}"
    assert not done.stderr, f"{relative} wrote to stderr:\n{done.stderr}"
    return done.stdout


@functools.cache
def run_example(relative: str) -> str:
    """:func:`run_fresh`, remembered (the examples print the same on every run)."""
    return run_fresh(relative)
