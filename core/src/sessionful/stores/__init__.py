"""Session stores for the ``persisted`` strategy: ``sqlite`` (the embedded default), ``postgres``
(shared deployments) and ``memory`` (tests). Each registers through the ``register_stores`` hook,
like a plugin's store would; ``SessionManager(store=...)`` takes a URL or a store object."""

from __future__ import annotations

from collections.abc import Callable

from sessionful.hookspecs import hookimpl
from sessionful.stores.base import (
    SCHEMA_VERSION,
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
    "SCHEMA_VERSION",
    "Lease",
    "LoadedSession",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "SessionRecord",
    "SessionStore",
    "TurnWrite",
    "register_stores",
]

DEFAULT_STORE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH.as_posix()}"
"""``sqlite:///.sessionful/sessions.db``: what the ``persisted`` strategy uses by default."""


@hookimpl
def register_stores(register: Callable[[type[SessionStore]], None]) -> None:
    """The built-in stores, registered through the same hook as a plugin's."""
    register(SQLiteStore)
    register(PostgresStore)  # psycopg is imported only when one is built
    register(MemoryStore)
