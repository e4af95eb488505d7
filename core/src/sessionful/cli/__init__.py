"""The ``sessionful`` command line (extra ``cli``: typer and rich).

``sessionful demo`` runs the main job offline; ``chat``, ``serve``, ``sessions``,
``plugins`` and ``config`` work on the configuration (``--config PATH``, else
``$SESSIONFUL_CONFIG``, else ``./sessionful.toml``, else defaults). The reference is
``docs/cli.md``; the commands are :data:`sessionful.cli.app.app`.

This module stays importable without the extra, so the console script can say what to install.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_CLI_EXTRA = ("typer", "rich", "click", "pydantic_settings", "tomli")


def main() -> None:
    """The console script: run :data:`~sessionful.cli.app.app`."""
    try:
        from sessionful.cli.app import app
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _CLI_EXTRA:
            raise
        sys.stderr.write(
            f"sessionful: the command line needs the cli extra ({exc.name} is missing): "
            "pip install 'sessionful[cli]'\n"
        )
        raise SystemExit(2) from None
    app()
