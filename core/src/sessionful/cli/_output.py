"""Consoles, the one-red-line error handling and small formatters shared by the commands."""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import typer
from rich.console import Console, RenderableType

from sessionful.errors import ConfigurationError, SessionfulError
from sessionful.lifecycle import parse_duration
from sessionful.models import ChatMessage

__all__ = [
    "EXIT_CONFIG",
    "EXIT_RUNTIME",
    "CliError",
    "ago",
    "duration",
    "err",
    "fail",
    "handled",
    "note",
    "out",
    "parse_age",
    "plural",
    "say",
    "show",
    "tool_calls",
    "when",
]

EXIT_RUNTIME = 1
"""A runtime failure: an unknown session, a store that fails, a turn that raises."""
EXIT_CONFIG = 2
"""A configuration or usage mistake: a wrong file, an unknown agent, strategy or store."""

out = Console(highlight=False)
"""Standard output: results."""
err = Console(stderr=True, highlight=False)
"""Standard error: errors and notes."""


class CliError(Exception):
    """A failure the command line reports in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


def say(text: str, style: str | None = None, *, end: str = "\n") -> None:
    """Print ``text`` to standard output as it is: no markup, no wrapping."""
    out.print(text, style=style, markup=False, highlight=False, soft_wrap=True, end=end)


def note(text: str, style: str | None = "dim") -> None:
    """Print ``text`` to standard error as it is: no markup, no wrapping."""
    err.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def show(renderable: RenderableType) -> None:
    """Print a table: as wide as the terminal, or as wide as it needs when the output is not a
    terminal (a pipe, a file, a test), rather than folded into 80 columns."""
    if out.is_terminal:
        out.print(renderable)
    else:
        wide = Console(file=out.file, width=max(out.width, 200), highlight=False)
        wide.print(renderable, crop=False)


def plural(count: int, noun: str) -> str:
    """``1 session``, ``2 sessions``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` as one red line on standard error; the ``Exit`` to raise."""
    line = re.sub(r"\s*\n\s*", " ", str(message)).strip()
    note(f"error: {line}", "red")
    return typer.Exit(code)


F = TypeVar("F", bound=Callable[..., Any])


def handled(command: F) -> F:
    """Report the library's errors as one red line (exit 2 for configuration, 1 otherwise)
    instead of a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            raise fail(str(exc), exc.code) from None
        except ConfigurationError as exc:  # ConfigFileError, UnknownAgent, UnknownStore...
            raise fail(str(exc), EXIT_CONFIG) from None
        except SessionfulError as exc:
            raise fail(str(exc), EXIT_RUNTIME) from None
        except (OSError, sqlite3.Error) as exc:
            raise fail(f"{type(exc).__name__}: {exc}", EXIT_RUNTIME) from None
        except KeyboardInterrupt:
            note("interrupted", "red")
            raise typer.Exit(130) from None

    return cast(F, run)


def when(timestamp: float) -> str:
    """A wall-clock time as local ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def ago(timestamp: float, now: float | None = None) -> str:
    """How long before ``now`` a wall-clock time was: ``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``."""
    return duration(max(0.0, (time.time() if now is None else now) - timestamp))


def duration(seconds: float) -> str:
    """Seconds, briefly: ``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def parse_age(text: str) -> float:
    """``3600``, ``90s``, ``30m``, ``12h``, ``7d`` or ``2w`` as seconds (> 0), read as the
    configuration reads durations (:func:`sessionful.lifecycle.parse_duration`)."""
    try:
        seconds = float(parse_duration(text))
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise typer.BadParameter(
            f"{text!r} is not an age: give seconds (3600) or a number with s, m, h, d or w (7d)"
        )
    return seconds


def tool_calls(message: ChatMessage) -> list[tuple[str, Any]]:
    """``(name, args)`` of the tools ``message`` calls: its ``tool_calls``, else the
    ``metadata["tool_calls"]`` an adapter may still put there."""
    if message.tool_calls:
        return [(call.name, call.args) for call in message.tool_calls]
    listed = message.metadata.get("tool_calls") or []
    return [(str(c.get("name")), c.get("args", {})) for c in listed if isinstance(c, dict)]
