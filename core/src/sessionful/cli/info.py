"""``sessionful plugins`` and ``sessionful config``: what is installed and what is configured
(secrets masked)."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.table import Table

from sessionful import __version__
from sessionful._plugins import Plugins
from sessionful.cli._context import config_file, settings_from
from sessionful.cli._output import handled, note, out, show
from sessionful.errors import UnknownStore
from sessionful.service.app import strategy_persists
from sessionful.service.config import Settings

__all__ = ["check", "config", "mask_url", "masked", "plugin_rows", "plugins"]

_HOOKS = (
    ("register_frameworks", "framework"),
    ("register_strategies", "strategy"),
    ("register_stores", "store"),
    ("register_templates", "template"),
)


@handled
def plugins() -> None:
    """List the frameworks, strategies, stores and templates installed, with the plugin and
    the distribution each comes from."""
    table = Table(title="Plugins", title_justify="left")
    for name in ("kind", "name", "details", "plugin", "distribution"):
        table.add_column(name, overflow="fold")
    for row in plugin_rows(Plugins()):
        table.add_row(*row)
    show(table)


def plugin_rows(found: Plugins) -> list[tuple[str, str, str, str, str]]:
    """``(kind, name, details, plugin, distribution)`` for everything registered."""
    found.get_frameworks(), found.get_strategies(), found.get_stores(), found.all_templates()
    distributions = found.distributions()
    rows: list[tuple[str, str, str, str, str]] = []
    for hook, kind in _HOOKS:
        for impl in getattr(found.pm.hook, hook).get_hookimpls():
            plugin = found.pm.get_name(impl.plugin) or repr(impl.plugin)
            if plugin in distributions:
                distribution = distributions[plugin]
            elif plugin.startswith("sessionful."):
                distribution = f"sessionful=={__version__} (built in)"
            else:
                distribution = "-"
            items: list[Any] = []
            impl.function(register=items.append)
            for item in items:
                name, details = _describe(kind, item)
                rows.append((kind, name, details, plugin, distribution))
    order = {kind: i for i, (_, kind) in enumerate(_HOOKS)}
    rows.sort(key=lambda row: (order[row[0]], row[1]))
    return rows


def _describe(kind: str, item: Any) -> tuple[str, str]:
    if kind == "framework":
        persistence = getattr(item, "persistence", None)
        return item.name, f"persistence: {persistence or 'none'}"
    if kind == "strategy":
        return item.name, "persisted" if item.persistent else "in memory"
    if kind == "store":
        return ", ".join(f"{s}://" for s in item.schemes), item.__qualname__
    return f"{item.framework}/{item.ref}", item.description


# -- config ---------------------------------------------------------------------------------------

_SECRET = re.compile(r"key|secret|password|passwd|token|credential", re.IGNORECASE)


@handled
def config(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (file, defaults and environment merged), with
    API keys and other secrets masked; exit 2 if it is wrong (including an unknown strategy or
    store scheme)."""
    settings = settings_from(ctx)
    check(settings)
    source = config_file(ctx)
    prefix = "SESSIONFUL_"
    overrides = sorted(
        name
        for name in os.environ
        if name.startswith(prefix)
        and name[len(prefix) :].lower().partition("__")[0] in Settings.model_fields
    )
    note(
        f"configuration: {source if source is not None else 'built-in defaults (no file)'}"
        + (f"; overridden by {', '.join(overrides)}" if overrides else "")
    )
    out.print_json(json.dumps(masked(settings)), highlight=out.is_terminal)


def check(settings: Settings) -> None:
    """Check what the settings name but do not validate themselves: the strategy is installed,
    and the store URL's scheme is a registered store's. Raises ``UnknownStrategy`` or
    ``UnknownStore``."""
    strategy_persists(settings.strategy)
    stores = Plugins().get_stores()
    scheme = settings.store.split(":", 1)[0] if ":" in settings.store else ""
    if scheme not in stores:
        raise UnknownStore(scheme or settings.store, stores)


def masked(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON data with secrets masked: API keys (their first four characters
    kept), a store URL's password, and values of secret-looking keys in framework settings and
    agent configurations."""
    data = settings.model_dump(mode="json")
    keys: dict[str, str] = {}
    for number, (key, principal) in enumerate(settings.auth.api_keys.items(), start=1):
        shown = f"{key[:4]}…"
        keys[shown if shown not in keys else f"{shown}#{number}"] = principal
    data["auth"]["api_keys"] = keys
    data["store"] = mask_url(settings.store)
    data["framework_settings"] = _mask_values(data["framework_settings"])
    for agent in data["agents"]:
        agent["configuration"] = _mask_values(agent["configuration"])
    return data


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _mask_values(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            k: _mask_values(v, secret or bool(_SECRET.search(str(k)))) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_values(v, secret) for v in value]
    if secret and isinstance(value, str):
        return "***"
    return value
