"""Tables kept beside a store's sessions (LangGraph checkpoints, OpenAI Agents items): what the
logs on each SQL store share, and the lookup of one log per store object.

A log lives in its store's own database, in tables of its own created idempotently on first use
(the stores' schemas and migrations are untouched), and runs where the store runs its own
writes: SQLite's writer thread and connection, Postgres's pool. A write that names the
session's :class:`~sessionful.stores.base.Lease` is fenced on it in the same transaction: it
lands only while the lease is still the session's, else ``LeaseLost`` and nothing is written.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from sessionful.errors import ConfigurationError, LeaseLost
from sessionful.stores.base import Lease, SessionStore
from sessionful.stores.postgres import PostgresStore
from sessionful.stores.sqlite import SQLiteStore

__all__ = ["LogsBeside", "OnPostgres", "OnSQLite"]

T = TypeVar("T")
L = TypeVar("L")


class OnSQLite:
    """A log on a :class:`SQLiteStore`: its calls run on the store's writer thread and
    connection, ordered with the session's own writes."""

    schema: ClassVar[tuple[str, ...]]
    """``CREATE ... IF NOT EXISTS`` statements, run once, in one transaction, before the first
    call."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._ready = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` on the writer thread, the tables created first."""
        if not self._ready:
            await self._store._call(self._create)
            self._ready = True
        return await self._store._call(fn, *args)

    def _create(self, conn: Any) -> None:
        def body() -> None:
            for statement in self.schema:
                conn.execute(statement)

        self._store._write(conn, body)

    @staticmethod
    def _fence(conn: Any, lease: Lease | None) -> None:
        """Inside a write transaction: ``LeaseLost`` unless ``lease`` is still the session's
        (no lease: an unfenced write)."""
        if lease is None:
            return
        row = conn.execute(
            "SELECT epoch, owner FROM sessions WHERE key = ?", (str(lease.key),)
        ).fetchone()
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)


class OnPostgres:
    """A log on a :class:`PostgresStore`: its operations run on the store's pool (with its
    retries); a fenced write locks the session's row (``FOR SHARE``) so a claim cannot slip
    between the check and the write."""

    schema: ClassVar[tuple[str, ...]]
    """``CREATE ... IF NOT EXISTS`` statements, run once before the first operation."""
    creation_lock: ClassVar[int]
    """The advisory lock that serialises creating the tables: two processes creating them at
    once would race on the catalog."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._ready = False

    async def _run(self, operation: Callable[[Any, int], Awaitable[T]]) -> T:
        """``operation(conn, attempt)`` on the store's pool, the tables created first."""
        if not self._ready:

            async def create(conn: Any, attempt: int) -> None:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.creation_lock,))
                    for statement in self.schema:
                        await conn.execute(statement)

            await self._store._run(create)
            self._ready = True
        return await self._store._run(operation)

    @staticmethod
    async def _fence(conn: Any, lease: Lease | None) -> None:
        """Inside a transaction: ``LeaseLost`` unless ``lease`` is still the session's, its row
        locked until the transaction ends (no lease: an unfenced write)."""
        if lease is None:
            return
        cursor = await conn.execute(
            "SELECT epoch, owner FROM sessionful WHERE key = %s FOR SHARE", (str(lease.key),)
        )
        row = await cursor.fetchone()
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)


class LogsBeside(Generic[L]):
    """One log per store object, made by the maker registered for the store's class (or a
    base of it) on first use.

    Args:
        kinds: store class -> the log's class (or any callable taking the store).
        what: what the logs keep, for the error a store without one raises.
    """

    def __init__(self, kinds: Mapping[type[SessionStore], Callable[[Any], L]], what: str) -> None:
        self._kinds = kinds
        self._what = what
        self._logs: weakref.WeakKeyDictionary[SessionStore, L] = weakref.WeakKeyDictionary()

    def __call__(self, store: SessionStore) -> L:
        """``store``'s log; ``ConfigurationError`` for a store that is not a built-in one (nor a
        subclass of one)."""
        log = self._logs.get(store)
        if log is None:
            for kind, make in self._kinds.items():
                if isinstance(store, kind):
                    log = self._logs[store] = make(store)
                    break
            else:
                raise ConfigurationError(
                    f"{type(store).__name__} keeps no {self._what}; use the memory, SQLite or "
                    "Postgres store"
                )
        return log
