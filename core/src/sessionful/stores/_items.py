"""Item logs: an ordered list of JSON items per session, beside a store's sessions.

A framework that keeps its own session state (``Framework.persistence == "native"``) needs
somewhere durable to keep it. The OpenAI Agents SDK's ``Session`` is such a list (its items are
plain JSON), so this module gives every built-in store one: :func:`item_log_for` returns the
:class:`ItemLog` of a store, which keeps, per session key string, the items in order and one
optional JSON ``state`` document (an adapter's resumable run, say).

It lives in the store's own database (SQLite: the same file, through the store's writer thread;
Postgres: the same pool; memory: beside the store object), in tables of its own
(``session_items``, ``session_item_state``) created idempotently on first use, so the stores'
schemas and migrations are untouched.

**Fencing.** Every write may name the session's :class:`~sessionful.stores.base.Lease`; the write
then lands only if the lease is still the session's, checked in the same transaction, and raises
``LeaseLost`` (writing nothing) otherwise, exactly like a turn's append. Without a lease (a
``SessionfulSession`` used on its own, outside a manager) writes are unfenced.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Final

from sessionful.errors import ConfigurationError
from sessionful.keys import SessionKey
from sessionful.stores._beside import LogsBeside, OnPostgres, OnSQLite
from sessionful.stores.base import Lease, SessionStore
from sessionful.stores.memory import MemoryStore
from sessionful.stores.postgres import PostgresStore
from sessionful.stores.sqlite import SQLiteStore

__all__ = ["KEEP", "ItemLog", "delete_items", "item_log_for"]


KEEP: Final = object()
"""``add(..., state=KEEP)``: leave the stored state as it is."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _loads(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return _CORRUPT


_CORRUPT = object()
"""A row that is not JSON: skipped, as the SDK's own sessions skip one."""


class ItemLog(ABC):
    """The item lists of one store's sessions. Keys are strings (``str(SessionKey)`` when the
    manager drives the session, any id otherwise)."""

    @abstractmethod
    async def get(self, key: str, limit: int | None = None) -> list[Any]:
        """The items, oldest first: all of them (``limit`` ``None`` or negative), or the latest
        ``limit`` (``0``: none)."""

    @abstractmethod
    async def add(
        self, key: str, items: Sequence[Any], lease: Lease | None = None, state: Any = KEEP
    ) -> None:
        """Append ``items`` (and replace the state, unless ``KEEP``; ``None`` deletes it) in one
        transaction, fenced by ``lease``."""

    @abstractmethod
    async def pop(self, key: str, lease: Lease | None = None) -> Any | None:
        """Remove and return the latest item, or ``None`` when there is none."""

    @abstractmethod
    async def clear(self, key: str, lease: Lease | None = None) -> int:
        """Delete the items and the state; return how many items went."""

    @abstractmethod
    async def get_state(self, key: str) -> Any | None:
        """The stored state document, or ``None``."""


# -- memory -------------------------------------------------------------------------------------


class _MemoryItems(ItemLog):
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._items: dict[str, list[str]] = {}
        self._states: dict[str, str] = {}

    async def _fence(self, lease: Lease | None) -> None:
        if lease is not None:
            await self._store.check(lease)  # raises LeaseLost; no await point after it

    async def get(self, key: str, limit: int | None = None) -> list[Any]:
        rows = self._items.get(key, [])
        if limit is not None and limit >= 0:
            rows = rows[len(rows) - limit :] if limit else []
        return [item for item in map(_loads, rows) if item is not _CORRUPT]

    async def add(
        self, key: str, items: Sequence[Any], lease: Lease | None = None, state: Any = KEEP
    ) -> None:
        encoded = [_dumps(item) for item in items]  # fail before anything changes
        text = None if state is KEEP or state is None else _dumps(state)
        await self._fence(lease)
        if encoded:
            self._items.setdefault(key, []).extend(encoded)
        if state is not KEEP:
            if text is None:
                self._states.pop(key, None)
            else:
                self._states[key] = text

    async def pop(self, key: str, lease: Lease | None = None) -> Any | None:
        await self._fence(lease)
        rows = self._items.get(key)
        while rows:
            item = _loads(rows.pop())
            if item is not _CORRUPT:
                return item
        return None

    async def clear(self, key: str, lease: Lease | None = None) -> int:
        await self._fence(lease)
        self._states.pop(key, None)
        return len(self._items.pop(key, []))

    async def get_state(self, key: str) -> Any | None:
        text = self._states.get(key)
        return None if text is None else json.loads(text)


# -- SQLite -------------------------------------------------------------------------------------

_SQLITE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS session_items (
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        item TEXT NOT NULL,
        PRIMARY KEY (key, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS session_item_state (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL
    ) WITHOUT ROWID""",
)


class _SQLiteItems(OnSQLite, ItemLog):
    """Runs on the store's writer thread and connection, so an item write is ordered with the
    session's own writes and fenced in the same transaction."""

    schema = _SQLITE_SCHEMA

    async def get(self, key: str, limit: int | None = None) -> list[Any]:
        return await self._run(self._get, key, limit)

    @staticmethod
    def _get(conn: Any, key: str, limit: int | None) -> list[Any]:
        if limit is None or limit < 0:
            rows = conn.execute(
                "SELECT item FROM session_items WHERE key = ? ORDER BY seq", (key,)
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT item FROM session_items WHERE key = ? ORDER BY seq DESC LIMIT ?",
                (key, limit),
            ).fetchall()[::-1]
        return [item for item in (_loads(row[0]) for row in rows) if item is not _CORRUPT]

    async def add(
        self, key: str, items: Sequence[Any], lease: Lease | None = None, state: Any = KEEP
    ) -> None:
        encoded = [_dumps(item) for item in items]
        text = None if state is KEEP or state is None else _dumps(state)
        await self._run(self._add, key, encoded, lease, state is KEEP, text)

    def _add(
        self,
        conn: Any,
        key: str,
        encoded: list[str],
        lease: Lease | None,
        keep: bool,
        text: str | None,
    ) -> None:
        def body() -> None:
            self._fence(conn, lease)
            if encoded:
                last = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM session_items WHERE key = ?", (key,)
                ).fetchone()[0]
                conn.executemany(
                    "INSERT INTO session_items (key, seq, item) VALUES (?, ?, ?)",
                    [(key, last + i, item) for i, item in enumerate(encoded, 1)],
                )
            if not keep:
                if text is None:
                    conn.execute("DELETE FROM session_item_state WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO session_item_state (key, state) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET state = excluded.state",
                        (key, text),
                    )

        self._store._write(conn, body)

    async def pop(self, key: str, lease: Lease | None = None) -> Any | None:
        return await self._run(self._pop, key, lease)

    def _pop(self, conn: Any, key: str, lease: Lease | None) -> Any | None:
        def body() -> Any | None:
            self._fence(conn, lease)
            while True:
                row = conn.execute(
                    "DELETE FROM session_items WHERE key = ? AND seq = "
                    "(SELECT max(seq) FROM session_items WHERE key = ?) RETURNING item",
                    (key, key),
                ).fetchone()
                if row is None:
                    return None
                item = _loads(row[0])
                if item is not _CORRUPT:
                    return item

        return self._store._write(conn, body)

    async def clear(self, key: str, lease: Lease | None = None) -> int:
        return await self._run(self._clear, key, lease)

    def _clear(self, conn: Any, key: str, lease: Lease | None) -> int:
        def body() -> int:
            self._fence(conn, lease)
            conn.execute("DELETE FROM session_item_state WHERE key = ?", (key,))
            return int(conn.execute("DELETE FROM session_items WHERE key = ?", (key,)).rowcount)

        return self._store._write(conn, body)

    async def get_state(self, key: str) -> Any | None:
        row = await self._run(self._get_state, key)
        return None if row is None else _loads(row)

    @staticmethod
    def _get_state(conn: Any, key: str) -> str | None:
        row = conn.execute("SELECT state FROM session_item_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])


# -- Postgres -----------------------------------------------------------------------------------

_POSTGRES_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS session_items (
        key TEXT NOT NULL,
        seq BIGINT NOT NULL,
        item TEXT NOT NULL,
        PRIMARY KEY (key, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS session_item_state (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL
    )""",
)


class _PostgresItems(OnPostgres, ItemLog):
    """Runs on the store's pool; a fenced write locks the session's row (``FOR SHARE``) so a
    claim cannot slip between the check and the write."""

    schema = _POSTGRES_SCHEMA
    creation_lock = 7218940001

    async def get(self, key: str, limit: int | None = None) -> list[Any]:
        async def operation(conn: Any, attempt: int) -> list[Any]:
            if limit is None or limit < 0:
                cursor = await conn.execute(
                    "SELECT item FROM session_items WHERE key = %s ORDER BY seq", (key,)
                )
                rows = await cursor.fetchall()
            else:
                cursor = await conn.execute(
                    "SELECT item FROM session_items WHERE key = %s ORDER BY seq DESC LIMIT %s",
                    (key, limit),
                )
                rows = (await cursor.fetchall())[::-1]
            return list(rows)

        rows = await self._run(operation)
        return [item for item in (_loads(row[0]) for row in rows) if item is not _CORRUPT]

    async def add(
        self, key: str, items: Sequence[Any], lease: Lease | None = None, state: Any = KEEP
    ) -> None:
        encoded = [_dumps(item) for item in items]
        text = None if state is KEEP or state is None else _dumps(state)
        keep = state is KEEP

        async def operation(conn: Any, attempt: int) -> None:
            async with conn.transaction():
                await self._fence(conn, lease)
                if encoded:
                    # Serialise appends to one key (the seq is read, then written).
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                    cursor = await conn.execute(
                        "SELECT coalesce(max(seq), 0) FROM session_items WHERE key = %s", (key,)
                    )
                    row = await cursor.fetchone()
                    last = int(row[0])
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            "INSERT INTO session_items (key, seq, item) VALUES (%s, %s, %s)",
                            [(key, last + i, item) for i, item in enumerate(encoded, 1)],
                        )
                if not keep:
                    if text is None:
                        await conn.execute("DELETE FROM session_item_state WHERE key = %s", (key,))
                    else:
                        await conn.execute(
                            "INSERT INTO session_item_state (key, state) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET state = excluded.state",
                            (key, text),
                        )

        await self._run(operation)

    async def pop(self, key: str, lease: Lease | None = None) -> Any | None:
        async def operation(conn: Any, attempt: int) -> list[Any]:
            popped: list[Any] = []
            async with conn.transaction():
                await self._fence(conn, lease)
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                while True:
                    cursor = await conn.execute(
                        "DELETE FROM session_items WHERE key = %s AND seq = "
                        "(SELECT max(seq) FROM session_items WHERE key = %s) RETURNING item",
                        (key, key),
                    )
                    row = await cursor.fetchone()
                    if row is None:
                        return popped
                    item = _loads(row[0])
                    if item is not _CORRUPT:
                        return [item]

        found = await self._run(operation)
        return found[0] if found else None

    async def clear(self, key: str, lease: Lease | None = None) -> int:
        async def operation(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                await self._fence(conn, lease)
                await conn.execute("DELETE FROM session_item_state WHERE key = %s", (key,))
                cursor = await conn.execute("DELETE FROM session_items WHERE key = %s", (key,))
                return int(cursor.rowcount)

        return await self._run(operation)

    async def get_state(self, key: str) -> Any | None:
        async def operation(conn: Any, attempt: int) -> Any:
            cursor = await conn.execute(
                "SELECT state FROM session_item_state WHERE key = %s", (key,)
            )
            return await cursor.fetchone()

        row = await self._run(operation)
        return None if row is None else _loads(row[0])


# -- lookup -------------------------------------------------------------------------------------

_LOGS: LogsBeside[ItemLog] = LogsBeside(
    {MemoryStore: _MemoryItems, SQLiteStore: _SQLiteItems, PostgresStore: _PostgresItems},
    "session items",
)


def item_log_for(store: SessionStore) -> ItemLog:
    """The item log kept beside ``store`` (one per store object).

    Raises:
        ConfigurationError: ``store`` is not a built-in store (nor a subclass of one).
    """
    return _LOGS(store)


async def delete_items(store: SessionStore, key: SessionKey | str) -> int:
    """Delete ``key``'s items and state from ``store``'s item log, unfenced (the session is being
    ended or purged); ``0`` for a store that keeps no items."""
    try:
        log = item_log_for(store)
    except ConfigurationError:
        return 0
    return await log.clear(str(key))
