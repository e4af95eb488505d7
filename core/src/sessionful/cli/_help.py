"""The placeholders ``--help`` shows for values: ``TEXT``, ``INTEGER``, ``PATH`` (click's style),
or the option's own ``metavar``; nothing for a flag and nothing more for an argument, whose name
is its placeholder.

typer 0.2x renders its own ``<str>``, ``<int range>`` and ``<bool>`` (even for ``--help``);
:func:`install` replaces that rendering on typer's parameter classes, once, for this program.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperOption

__all__ = ["install", "placeholder"]

_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "NUMBER",
    "bool": "BOOLEAN",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIRECTORY",
    "datetime": "DATETIME",
    "range": "",
}


def placeholder(param: Any, ctx: Any) -> str | None:
    """What ``--help`` shows after an option's names (``None``: nothing)."""
    if isinstance(param, TyperArgument):
        return None  # AGENT is the placeholder already
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    label = param.display_type(ctx)
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    if "|" in inner:  # choices: shown as they are typed
        return f"[{inner}]"
    words = [_WORDS.get(word, word.upper()) for word in re.split(r"\s+", inner)]
    return " ".join(word for word in words if word) or None


def install() -> None:
    """Make typer's options and arguments show :func:`placeholder` in ``--help``."""

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return placeholder(self, ctx)

    for cls in (TyperOption, TyperArgument):
        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]
