"""What every command reads from the root options: the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from sessionful.service.config import Settings, config_path, load_settings

__all__ = ["Options", "config_file", "settings_from"]


@dataclass(frozen=True)
class Options:
    """The root options, left in the typer context by the root callback."""

    config: Path | None


def _given(ctx: typer.Context) -> Path | None:
    options = ctx.find_root().obj
    return options.config if isinstance(options, Options) else None


def settings_from(ctx: typer.Context) -> Settings:
    """The settings: ``--config PATH``, else ``$SESSIONFUL_CONFIG``, else ``./sessionful.toml``,
    else defaults, with ``SESSIONFUL_*`` variables on top."""
    return load_settings(_given(ctx))


def config_file(ctx: typer.Context) -> Path | None:
    """The configuration file the settings come from, or ``None`` for built-in defaults."""
    return config_path(_given(ctx))
