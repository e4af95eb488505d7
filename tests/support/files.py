"""The repository's root, and importing a file that is not on ``sys.path`` (a script,
an example)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root."""


def load_file(name: str, path: Path) -> ModuleType:
    """Import the file at ``path`` as module ``name``, once (later calls return the same module)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
