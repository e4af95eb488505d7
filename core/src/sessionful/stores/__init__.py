"""Session stores for the ``persisted`` strategy: ``sqlite`` (the embedded default), ``postgres``
(shared deployments) and ``memory`` (tests). Each registers through the ``register_stores`` hook,
like a plugin's store would; ``SessionManager(store=...)`` takes a URL or a store object."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sessionful.errors import UnknownStore
from sessionful.hookspecs import hookimpl
from sessionful.stores._items import ItemLog, item_log_for
from sessionful.stores.base import (
    MAX_JSON_DEPTH,
    SCHEMA_VERSION,
    Feedback,
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
)
from sessionful.stores.memory import MemoryStore
from sessionful.stores.postgres import PostgresStore
from sessionful.stores.sqlite import DEFAULT_SQLITE_PATH, SQLiteStore

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "DEFAULT_STORE_URL",
    "MAX_JSON_DEPTH",
    "SCHEMA_VERSION",
    "Feedback",
    "ItemLog",
    "Lease",
    "LoadedSession",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "SessionRecord",
    "SessionStore",
    "TurnWrite",
    "item_log_for",
    "register_stores",
    "store_from_url",
]

DEFAULT_STORE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH.as_posix()}"
"""``sqlite:///.sessionful/sessions.db``: what the ``persisted`` strategy uses by default."""


@hookimpl
def register_stores(register: Callable[[type[SessionStore]], None]) -> None:
    """The built-in stores, registered through the same hook as a plugin's."""
    register(SQLiteStore)
    register(PostgresStore)  # psycopg is imported only when one is built
    register(MemoryStore)


def store_from_url(url: str, available: Mapping[str, type[SessionStore]]) -> SessionStore:
    """The store ``url`` names, built (not opened) by the registered store class for its scheme.

    The one place a store URL is resolved: the manager and the command line both come here.

    Raises:
        UnknownStore: no registered store handles the URL's scheme (the error lists those that do).
        ConfigurationError: the store class refuses the rest of the URL.
    """
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if scheme not in available:
        raise UnknownStore(scheme or url, available)
    return available[scheme].from_url(url)
