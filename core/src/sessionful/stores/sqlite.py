"""The embedded default store: one SQLite file, WAL, ``synchronous=FULL``, group commit.

This module holds the store; its schema, migrations and statements live in
:mod:`sessionful.stores._sqlite_schema`, its reads in :mod:`sessionful.stores._sqlite_reads`, and
the thread that runs them in :mod:`sessionful.stores._sqlite_writer`. One writer thread per store
owns the connection, so the event loop never blocks on disk. Turns that complete while a commit
is in flight are committed together in the next transaction (group commit): one fsync
acknowledges many turns, and each is still fenced on its own. Several processes may share the
file: writes take the lock up front (``BEGIN IMMEDIATE``), wait on it (``busy_timeout``), and
retry with backoff for ``lock_retry`` seconds before raising ``StoreUnavailable``, so "database
is locked" never reaches a caller.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from sessionful.errors import (
    ConfigurationError,
    CorruptSessionData,
    LeaseLost,
    SessionNotFound,
)
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores import _sqlite_reads as reads
from sessionful.stores import _sqlite_schema as sql
from sessionful.stores._codec import EPOCH, SNAPSHOT_TURN, loaded
from sessionful.stores._json import (
    encode_interrupts,
    encode_labels,
    encode_message,
    encode_snapshot,
)
from sessionful.stores._sqlite_writer import Connection, Fence, Writer, retry, transaction
from sessionful.stores.base import (
    Feedback,
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
    check_feedback,
    check_labels,
    check_template,
    check_user_id,
    finite,
)

__all__ = ["DEFAULT_SQLITE_PATH", "SQLiteStore"]

DEFAULT_SQLITE_PATH = Path(".sessionful") / "sessions.db"
"""Where the default store lives, relative to the working directory."""

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]
T = TypeVar("T")


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

    @property
    def exists(self) -> bool:
        """Whether the database file is there already."""
        return self.path.exists()

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
        self._write(conn, lambda: sql.migrate(conn))

    # -- the contract -------------------------------------------------------------------------

    async def claim(
        self,
        key: SessionKey,
        owner: str,
        template_id: str,
        template_version: str,
        now: float,
        *,
        create: bool = True,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[Lease, LoadedSession | None]:
        """Bump the epoch (creating the record if missing and ``create``) and load the state,
        atomically."""
        new = None  # create=False: nothing is written, so nothing to check
        if create:
            check_template(template_id, template_version)
            new = (check_user_id(user_id), check_labels(labels))
        return await self._call(self._claim, key, owner, template_id, template_version, now, new)

    def _claim(
        self,
        conn: Connection,
        key: SessionKey,
        owner: str,
        template_id: str,
        template_version: str,
        now: float,
        new: tuple[str | None, dict[str, str]] | None,
    ) -> tuple[Lease, LoadedSession | None]:
        text = str(key)

        def body() -> tuple[Lease | None, LoadedSession | None]:
            row = conn.execute(sql.LOADED_ROW, (text,)).fetchone()
            if row is None:
                if new is None:  # create=False: nothing is written
                    return None, None
                user_id, labels = new
                conn.execute(
                    sql.CREATE,
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
                        user_id,
                        encode_labels(labels),
                    ),
                )
                if labels:
                    conn.executemany(
                        sql.ADD_LABEL,
                        [(text, name, value) for name, value in labels.items()],
                    )
                return Lease(key, 1, owner), None
            epoch = row[EPOCH]
            if type(epoch) is not int or epoch < 1:  # SQLite columns hold any type
                raise CorruptSessionData(key, f"the stored epoch is not an integer: {epoch!r}")
            since = row[SNAPSHOT_TURN]
            if type(since) is not int:
                raise CorruptSessionData(key, f"the snapshot turn is not an integer: {since!r}")
            messages = conn.execute(sql.LOG_SINCE, (text, since)).fetchall()
            # Decoded before the epoch moves: a damaged session is refused and left as it was.
            state = loaded(key, (*row[:EPOCH], epoch + 1, owner, *row[EPOCH + 2 :]), messages)
            conn.execute(sql.CLAIM, (epoch + 1, owner, now, text))
            return Lease(key, epoch + 1, owner), state

        lease, state = self._write(conn, body)
        if lease is None:
            raise SessionNotFound(key)
        conn.fence.known[text] = (lease.epoch, owner)
        return lease, state

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
            reader = self._reader = reads.connect_reader(self.path)
        try:
            reads.check_lease(reader, lease)
        except sqlite3.OperationalError:  # locked during WAL recovery, say: ask the writer
            await self._call(reads.check_lease, lease)

    def append_turn(self, lease: Lease, turn: TurnWrite) -> Awaitable[None]:
        """Append the turn in the next group commit; fenced on epoch and turn number. Once the
        store is open, this is the writer's future: queued now, settled by the writer thread
        with the write's outcome even if whoever awaits it is cancelled."""
        writer = self._writer
        if writer is None:
            return self._call(self._append, lease, turn, batchable=True)
        return writer.call(self._append, lease, turn, batchable=True)

    @staticmethod
    def _append(conn: Connection, lease: Lease, turn: TurnWrite) -> None:
        text = str(lease.key)
        usage = turn.usage
        values: tuple[Any, ...] = (turn.turn, len(turn.messages), turn.finished_at)
        values += (finite(turn.duration), encode_interrupts(turn.interrupts))
        values += (0, 0) if usage is None else (usage.input_tokens, usage.output_tokens)
        statement = sql.APPEND
        if turn.snapshot is not None:
            statement = sql.APPEND_SNAPSHOT
            values += (encode_snapshot(turn.snapshot), turn.turn)
        values += (text, lease.epoch, lease.owner, turn.turn - 1)
        fence = conn.fence
        if conn.execute(statement, values).rowcount != 1:
            fence.known.pop(text, None)
            raise LeaseLost(lease.key, lease.epoch)
        conn.executemany(
            sql.LOG,
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
            sql.SAVE_SNAPSHOT, (encoded, turn, str(lease.key), lease.epoch, lease.owner, turn)
        )
        if cursor.rowcount != 1:
            conn.fence.known.pop(str(lease.key), None)
            raise LeaseLost(lease.key, lease.epoch)

    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The session's record, or ``None``."""
        return await self._call(reads.get, key)

    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The logged messages, oldest first; the latest ``limit`` when given."""
        return await self._call(reads.history, key, limit)

    async def list_sessions(
        self,
        *,
        namespace: str | None = None,
        agent_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        active_after: float | None = None,
        active_before: float | None = None,
    ) -> list[SessionRecord]:
        """Records by key string, filtered, ``after`` a key string (keyset paging); damaged
        rows come back flagged ``corrupt``."""
        clauses, values = sql.filters(
            namespace, agent_id, user_id, labels, active_after, active_before
        )
        clauses.append("key > ?")
        values.append(after or "")
        return await self._call(reads.list_records, " AND ".join(clauses), values, limit)

    async def count_sessions(
        self, namespace: str | None = None, *, agent_id: str | None = None
    ) -> int:
        """How many sessions match, counted on the ``(namespace, agent_id, key)`` index."""
        clauses, values = sql.filters(namespace, agent_id)
        where = " AND ".join(clauses) or "1"
        return await self._call(reads.count, where, values)

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete the session's record, log and snapshot; return what was deleted."""
        return await self._call(self._delete, key)

    def _delete(self, conn: Connection, key: SessionKey) -> dict[str, int]:
        text = str(key)

        def body() -> dict[str, int]:
            conn.fence.known.pop(text, None)
            messages = conn.execute(sql.DELETE_MESSAGES, (text,)).rowcount
            feedback = conn.execute(sql.DELETE_FEEDBACK, (text,)).rowcount
            conn.execute(sql.DELETE_LABELS, (text,))
            row = conn.execute(sql.DELETE_SESSION, (text,)).fetchone()
            deleted = {
                "sessions": 0 if row is None else 1,
                "messages": messages,
                "snapshots": 0 if row is None else int(bool(row[0])),
            }
            if feedback:
                deleted["feedback"] = feedback
            return deleted

        return self._write(conn, body)

    async def purge_idle(
        self, before: float, limit: int, exclude: Collection[SessionKey] = ()
    ) -> list[SessionKey]:
        """Delete up to ``limit`` sessions idle since before ``before``, oldest first, none of
        ``exclude``."""
        spared = {str(k) for k in exclude}
        return await self._call(self._purge, before, max(0, limit), spared)

    def _purge(
        self, conn: Connection, before: float, limit: int, spared: set[str]
    ) -> list[SessionKey]:
        def body() -> list[str]:
            # Read past the spared ones (at most len(spared) more rows), then drop them here.
            keys = [
                row[0]
                for row in conn.execute(sql.IDLE, (before, limit + len(spared)))
                if row[0] not in spared
            ][:limit]
            gone = [(k,) for k in keys]
            conn.executemany(sql.DELETE_MESSAGES, gone)
            conn.executemany(sql.DELETE_FEEDBACK, gone)
            conn.executemany(sql.DELETE_LABELS, gone)
            conn.executemany(sql.DELETE_SESSIONS, gone)
            for k in keys:
                conn.fence.known.pop(k, None)
            return keys

        purged = []
        for text in self._write(conn, body):
            try:
                purged.append(SessionKey.parse(text))
            except (ValueError, TypeError):  # a damaged key: its rows are gone all the same
                continue
        return purged

    async def record_feedback(
        self,
        key: SessionKey,
        rating: float,
        comment: str | None = None,
        turn: int | None = None,
        at: float = 0.0,
    ) -> None:
        """Keep the rating with the session (its count and sum on the record, in the same
        transaction); ``SessionNotFound`` when there is no such session."""
        rating = check_feedback(rating, turn)
        if comment is not None and not isinstance(comment, str):
            raise ValueError(f"a comment is text, not {comment!r}")
        if not await self._call(self._feedback, str(key), rating, comment, turn, finite(at)):
            raise SessionNotFound(key)

    def _feedback(
        self,
        conn: Connection,
        text: str,
        rating: float,
        comment: str | None,
        turn: int | None,
        at: float,
    ) -> bool:
        def body() -> bool:
            row = conn.execute(sql.RATE, (rating, text)).fetchone()
            if row is None:
                return False
            conn.execute(sql.ADD_FEEDBACK, (text, row[0], rating, comment, turn, at))
            return True

        return self._write(conn, body)

    async def feedback(self, key: SessionKey) -> list[Feedback]:
        """The session's ratings, oldest first."""
        return await self._call(reads.feedback, key)
