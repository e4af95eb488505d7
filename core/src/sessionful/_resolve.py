"""Resolving what a manager is built from: a framework and a strategy, by name (through the
plugins) or as objects, and the persistence collaborator (with its store) the strategy needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessionful._persistence import InMemory, Persistence, Stored
from sessionful._plugins import Plugins
from sessionful.errors import ConfigurationError, UnknownFramework, UnknownStrategy
from sessionful.factory import Framework
from sessionful.stores import DEFAULT_STORE_URL, store_from_url
from sessionful.stores.base import SessionStore
from sessionful.strategies import SessionStrategy

__all__ = ["persistence_for", "resolve_framework", "resolve_strategy"]


def resolve_framework(plugins: Plugins, framework: str | Framework) -> Framework:
    """The framework ``framework`` names (or is); raises ``UnknownFramework``."""
    if isinstance(framework, str):
        available = plugins.get_frameworks()
        if framework not in available:
            raise UnknownFramework(framework, available)
        return available[framework]
    if not callable(getattr(framework, "create_agent_factory", None)):
        raise ConfigurationError(f"framework must be a name or a Framework, not {framework!r}")
    return framework


def resolve_strategy(plugins: Plugins, strategy: str | SessionStrategy) -> SessionStrategy:
    """The strategy ``strategy`` names (or is); raises ``UnknownStrategy``."""
    if isinstance(strategy, str):
        available = plugins.get_strategies()
        if strategy not in available:
            raise UnknownStrategy(strategy, available)
        found = available[strategy]
    elif isinstance(strategy, SessionStrategy):
        found = strategy
    else:
        raise ConfigurationError(f"strategy must be a name or a strategy, not {strategy!r}")
    return found


def persistence_for(
    strategy: SessionStrategy,
    framework: Framework,
    store: str | SessionStore | None,
    stores: Mapping[str, type[SessionStore]],
    **options: Any,
) -> Persistence:
    """The collaborator a strategy needs: :class:`Stored` on ``store`` (a URL, a store, or the
    default SQLite file) for a persistent strategy, else :class:`InMemory`.

    Raises:
        ConfigurationError: ``store`` given to a strategy that stores nothing, or a framework that
            declares no persistence under a persistent strategy.
        UnknownStore: the URL's scheme names no registered store.
    """
    if not strategy.persistent:
        if store is not None:
            raise ConfigurationError(
                f"store= applies to the persisted strategy, not {strategy.name!r}"
            )
        return InMemory()
    if framework.persistence is None:
        raise ConfigurationError(
            f"framework {framework.name!r} declares no persistence, so its sessions "
            f"cannot be persisted; use strategy 'per_session'"
        )
    if not isinstance(store, SessionStore):
        url = DEFAULT_STORE_URL if store is None else store
        if not isinstance(url, str):
            raise ConfigurationError(f"store must be a URL or a SessionStore, not {store!r}")
        store = store_from_url(url, stores)
    return Stored(store, framework=framework, **options)
