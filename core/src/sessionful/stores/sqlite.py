"""The embedded default store: one SQLite file, WAL, ``synchronous=FULL``, group commit.

This module holds the store's SQL; the thread that runs it lives in
:mod:`sessionful.stores._sqlite_writer`. One writer thread per store owns the connection, so the
event loop never blocks on disk. Turns that complete while a commit is in flight are committed
together in the next transaction (group commit): one fsync acknowledges many turns, and each is
still fenced on its own. Several processes may share the file: writes take the lock up front
(``BEGIN IMMEDIATE``), wait on it (``busy_timeout``), and retry with backoff for ``lock_retry``
seconds before raising ``StoreUnavailable``, so "database is locked" never reaches a caller.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from sessionful.errors import (
    ConfigurationError,
    CorruptSessionData,
    LeaseLost,
    SchemaTooNew,
)
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores._codec import LOADED, RECORD, loaded, record
from sessionful.stores._sqlite_writer import Connection, Fence, Writer, retry, transaction
from sessionful.stores.base import (
    SCHEMA_VERSION,
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
    decode_message,
    encode_message,
    encode_snapshot,
    finite,
)

__all__ = ["DEFAULT_SQLITE_PATH", "SQLiteStore"]

DEFAULT_SQLITE_PATH = Path(".sessionful") / "sessions.db"
"""Where the default store lives, relative to the working directory."""

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]
T = TypeVar("T")

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE sessions (
            key TEXT PRIMARY KEY,
            namespace TEXT,
            agent_id TEXT NOT NULL,
            session_id TEXT,
            template_id TEXT NOT NULL,
            template_version TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_activity REAL NOT NULL,
            turn_count INTEGER NOT NULL DEFAULT 0,
            message_count INTEGER NOT NULL DEFAULT 0,
            response_time_sum REAL NOT NULL DEFAULT 0,
            epoch INTEGER NOT NULL,
            owner TEXT,
            snapshot TEXT,
            snapshot_turn INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessions_by_activity ON sessions (last_activity)",
        "CREATE INDEX sessions_by_agent ON sessions (namespace, agent_id, key)",
        """CREATE TABLE messages (
            key TEXT NOT NULL,
            turn INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            name TEXT,
            metadata TEXT NOT NULL,
            PRIMARY KEY (key, turn, seq)
        ) WITHOUT ROWID""",
    ),
}
"""Schema version -> the statements that bring the previous version to it."""


_APPEND = (
    "UPDATE sessions SET turn_count = ?, message_count = message_count + ?, last_activity = ?, "
    "response_time_sum = response_time_sum + ?{} "
    "WHERE key = ? AND epoch = ? AND owner = ? AND turn_count = ?"
)
"""A turn's fenced update of the record: it changes the row only if the lease and the turn
number hold (then the turn's messages are inserted, in the same transaction)."""
_APPEND_SNAPSHOT = _APPEND.format(", snapshot = ?, snapshot_turn = ?")
_APPEND = _APPEND.format("")
_LOG = (
    "INSERT INTO messages (key, turn, seq, role, content, name, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore(SessionStore):
    """Sessions in one SQLite file.

    Args:
        path: the database file; its folder is created. Default ``./.sessionful/sessions.db``.
        synchronous: ``"FULL"`` (default) fsyncs every commit, so an acknowledged turn survives
            power loss; ``"NORMAL"`` in WAL mode survives a process crash but may lose the last
            commits on power loss, for fewer fsyncs.
        busy_timeout: seconds one statement waits for another process's lock.
        lock_retry: seconds a write keeps retrying a locked database before ``StoreUnavailable``.
    """

    schemes: ClassVar[tuple[str, ...]] = ("sqlite",)

    def __init__(
        self,
        path: str | Path = DEFAULT_SQLITE_PATH,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
        lock_retry: float = 30.0,
    ) -> None:
        if str(synchronous).upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigurationError(
                f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}"
            )
        self.path = Path(path)
        self.synchronous = str(synchronous).upper()
        self.busy_timeout = float(busy_timeout)
        self.lock_retry = float(lock_retry)
        self._where = str(self.path)
        self._writer: Writer | None = None
        self._conn: Connection | None = None
        """The writer's connection; the event loop only asks its fence (see ``check``)."""
        self._reader: sqlite3.Connection | None = None
        self._opening: asyncio.Future[None] | None = None

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with optional
        ``?synchronous=NORMAL&busy_timeout=5&lock_retry=30``."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
            raise ConfigurationError(
                f"a SQLite store URL looks like sqlite:///relative.db or sqlite:////abs.db, "
                f"not {url!r}"
            )
        path = unquote(parts.path[1:]) or str(DEFAULT_SQLITE_PATH)
        options: dict[str, Any] = {}
        for name, value in parse_qsl(parts.query, strict_parsing=bool(parts.query)):
            if name == "synchronous":
                options[name] = value.upper()
            elif name in ("busy_timeout", "lock_retry"):
                try:
                    options[name] = float(value)
                except ValueError:
                    raise ConfigurationError(f"{name} must be a number, not {value!r}") from None
            else:
                raise ConfigurationError(f"unknown SQLite store option {name!r} in {url!r}")
        return cls(path, **options)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous!r})"

    # -- the connection ------------------------------------------------------------------------

    def _connect(self) -> Connection:
        """The writer's connection, on its thread: WAL, the durability asked for, migrated."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            factory=Connection,
        )
        conn.fence = Fence()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            retry(lambda: conn.execute("PRAGMA journal_mode = WAL"), self.lock_retry, self._where)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    async def _call(self, fn: Callable[..., T], *args: Any, batchable: bool = False) -> T:
        writer = self._writer
        if writer is None:
            await self.open()
            writer = self._writer
            assert writer is not None
        return await writer.call(fn, *args, batchable=batchable)

    def _write(self, conn: Connection, body: Callable[[], T]) -> T:
        """Run ``body`` in one immediate transaction, retried while the file is locked."""
        return transaction(conn, body, self.lock_retry, self._where)

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer thread, open the file, apply migrations. Idempotent."""
        if self._writer is not None:
            return
        if self._opening is not None:
            return await asyncio.shield(self._opening)
        self._opening = asyncio.get_running_loop().create_future()
        # Each writer has a queue of its own: a call that reopens the store while aclose()
        # waits for the old thread must not start a thread that takes the old one's jobs.
        writer = Writer(self._connect, lock_retry=self.lock_retry, where=self._where)
        try:
            await writer.start()
        except BaseException as exc:
            opening, self._opening = self._opening, None
            opening.set_exception(exc)
            opening.exception()
            raise
        opening, self._opening = self._opening, None
        self._writer = writer
        opening.set_result(None)

    async def aclose(self) -> None:
        """Finish queued writes and close the connection."""
        writer, self._writer = self._writer, None
        reader, self._reader = self._reader, None
        self._conn = None
        if reader is not None:
            reader.close()
        if writer is not None:
            await writer.stop()

    def _migrate(self, conn: Connection) -> None:
        def body() -> None:
            conn.execute("CREATE TABLE IF NOT EXISTS sessionful_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM sessionful_schema").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(current, SCHEMA_VERSION)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO sessionful_schema (version) VALUES (?)", (version,))

        self._write(conn, body)

    # -- the contract -------------------------------------------------------------------------

    async def claim(
        self, key: SessionKey, owner: str, template_id: str, template_version: str, now: float
    ) -> tuple[Lease, LoadedSession | None]:
        """Bump the epoch (creating the record if missing) and load the state, atomically."""
        return await self._call(self._claim, key, owner, template_id, template_version, now)

    def _claim(
        self,
        conn: Connection,
        key: SessionKey,
        owner: str,
        template_id: str,
        template_version: str,
        now: float,
    ) -> tuple[Lease, LoadedSession | None]:
        text = str(key)

        def body() -> tuple[Lease, tuple[Any, ...] | None, list[tuple[Any, ...]]]:
            row = conn.execute(f"SELECT {LOADED} FROM sessions WHERE key = ?", (text,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO sessions (key, namespace, agent_id, session_id, template_id, "
                    "template_version, created_at, last_activity, epoch, owner) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (
                        text,
                        key.namespace,
                        key.agent_id,
                        key.session_id,
                        template_id,
                        template_version,
                        now,
                        now,
                        owner,
                    ),
                )
                return Lease(key, 1, owner), None, []
            if type(row[8]) is not int:  # SQLite columns hold any type
                raise CorruptSessionData(key, f"the stored epoch is not an integer: {row[8]!r}")
            epoch = row[8] + 1
            conn.execute(
                # A claim is activity: retention must not purge a session being restored.
                "UPDATE sessions SET epoch = ?, owner = ?, last_activity = max(last_activity, ?) "
                "WHERE key = ?",
                (epoch, owner, now, text),
            )
            messages = conn.execute(
                "SELECT role, content, name, metadata FROM messages "
                "WHERE key = ? AND turn > ? ORDER BY turn, seq",
                (text, row[11]),
            ).fetchall()
            return Lease(key, epoch, owner), row, messages

        lease, row, rows = self._write(conn, body)
        conn.fence.known[text] = (lease.epoch, owner)
        if row is None:
            return lease, None
        return lease, loaded(key, (*row[:8], lease.epoch, owner, *row[10:]), rows)

    async def check(self, lease: Lease) -> None:
        """Raise ``LeaseLost`` if the session's epoch is no longer ``lease.epoch``.

        Answered on the caller's thread, never queued behind a commit in flight. When this store
        wrote the lease last and no other connection has written the file since (the writer's
        ``data_version`` is unchanged, see :class:`~sessionful.stores._sqlite_writer.Fence`),
        no row is read. Otherwise the row is read through a read-only connection: in WAL mode a
        reader never waits for the writer."""
        if self._writer is None:
            await self.open()
        conn = self._conn
        if conn is not None and conn.fence.current(conn, str(lease.key), lease.epoch, lease.owner):
            return
        reader = self._reader
        if reader is None:
            reader = self._reader = self._connect_reader()
        try:
            self._check(reader, lease)
        except sqlite3.OperationalError:  # locked during WAL recovery, say: ask the writer
            await self._call(self._check, lease)

    def _connect_reader(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        reader = sqlite3.connect(uri, uri=True, timeout=0.05, isolation_level=None)
        reader.execute("PRAGMA query_only = ON")
        return reader

    @staticmethod
    def _check(conn: sqlite3.Connection, lease: Lease) -> None:
        row = conn.execute(
            "SELECT epoch, owner FROM sessions WHERE key = ?", (str(lease.key),)
        ).fetchone()
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)

    async def append_turn(self, lease: Lease, turn: TurnWrite) -> None:
        """Append the turn in the next group commit; fenced on epoch and turn number."""
        await self._call(self._append, lease, turn, batchable=True)

    @staticmethod
    def _append(conn: Connection, lease: Lease, turn: TurnWrite) -> None:
        text = str(lease.key)
        values: tuple[Any, ...] = (turn.turn, len(turn.messages), turn.finished_at)
        values += (finite(turn.duration),)
        statement = _APPEND
        if turn.snapshot is not None:
            statement = _APPEND_SNAPSHOT
            values += (encode_snapshot(turn.snapshot), turn.turn)
        values += (text, lease.epoch, lease.owner, turn.turn - 1)
        fence = conn.fence
        if conn.execute(statement, values).rowcount != 1:
            fence.known.pop(text, None)
            raise LeaseLost(lease.key, lease.epoch)
        conn.executemany(
            _LOG,
            [(text, turn.turn, seq, *encode_message(m)) for seq, m in enumerate(turn.messages)],
        )
        fence.known[text] = (lease.epoch, lease.owner)

    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the snapshot as of ``turn`` if the lease and turn count still hold."""
        encoded = encode_snapshot(snapshot)
        await self._call(self._save_snapshot, lease, turn, encoded, batchable=True)

    @staticmethod
    def _save_snapshot(conn: Connection, lease: Lease, turn: int, encoded: str) -> None:
        cursor = conn.execute(
            "UPDATE sessions SET snapshot = ?, snapshot_turn = ? "
            "WHERE key = ? AND epoch = ? AND owner = ? AND turn_count = ?",
            (encoded, turn, str(lease.key), lease.epoch, lease.owner, turn),
        )
        if cursor.rowcount != 1:
            conn.fence.known.pop(str(lease.key), None)
            raise LeaseLost(lease.key, lease.epoch)

    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The session's record, or ``None``."""
        return await self._call(self._get, key)

    @staticmethod
    def _get(conn: sqlite3.Connection, key: SessionKey) -> SessionRecord | None:
        row = conn.execute(f"SELECT {RECORD} FROM sessions WHERE key = ?", (str(key),)).fetchone()
        return None if row is None else record(row)

    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The logged messages, oldest first; the latest ``limit`` when given."""
        return await self._call(self._history, key, limit)

    @staticmethod
    def _history(conn: sqlite3.Connection, key: SessionKey, limit: int | None) -> list[ChatMessage]:
        rows = conn.execute(
            "SELECT role, content, name, metadata FROM messages WHERE key = ? "
            "ORDER BY turn DESC, seq DESC LIMIT ?",
            (str(key), -1 if limit is None else limit),
        ).fetchall()
        return [decode_message(key, *row) for row in reversed(rows)]

    async def list_sessions(
        self,
        *,
        namespace: str | None = None,
        agent_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Records by key string, filtered, ``after`` a key string (keyset paging)."""
        return await self._call(self._list, namespace, agent_id, after, limit)

    @staticmethod
    def _list(
        conn: sqlite3.Connection,
        namespace: str | None,
        agent_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[SessionRecord]:
        clauses, values = ["key > ?"], [after or ""]
        if namespace is not None:
            clauses.append("namespace = ?")
            values.append(namespace)
        if agent_id is not None:
            clauses.append("agent_id = ?")
            values.append(agent_id)
        rows = conn.execute(
            f"SELECT {RECORD} FROM sessions WHERE {' AND '.join(clauses)} ORDER BY key LIMIT ?",
            (*values, limit),
        ).fetchall()
        return [record(row) for row in rows]

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete the session's record, log and snapshot; return what was deleted."""
        return await self._call(self._delete, key)

    def _delete(self, conn: Connection, key: SessionKey) -> dict[str, int]:
        text = str(key)

        def body() -> dict[str, int]:
            conn.fence.known.pop(text, None)
            messages = conn.execute("DELETE FROM messages WHERE key = ?", (text,)).rowcount
            row = conn.execute(
                "DELETE FROM sessions WHERE key = ? RETURNING snapshot IS NOT NULL", (text,)
            ).fetchone()
            return {
                "sessions": 0 if row is None else 1,
                "messages": messages,
                "snapshots": 0 if row is None else int(row[0]),
            }

        return self._write(conn, body)

    async def purge_idle(self, before: float, limit: int) -> list[SessionKey]:
        """Delete up to ``limit`` sessions idle since before ``before``, oldest first."""
        return await self._call(self._purge, before, limit)

    def _purge(self, conn: Connection, before: float, limit: int) -> list[SessionKey]:
        def body() -> list[str]:
            keys = [
                row[0]
                for row in conn.execute(
                    "SELECT key FROM sessions WHERE last_activity < ? "
                    "ORDER BY last_activity LIMIT ?",
                    (before, limit),
                )
            ]
            conn.executemany("DELETE FROM messages WHERE key = ?", [(k,) for k in keys])
            conn.executemany("DELETE FROM sessions WHERE key = ?", [(k,) for k in keys])
            for k in keys:
                conn.fence.known.pop(k, None)
            return keys

        return [SessionKey.parse(k) for k in self._write(conn, body)]
