"""Checkpoint logs: a framework's checkpoints, their pending writes and channel blobs, beside a
store's sessions.

A framework that checkpoints its own state (LangGraph) keeps it here when it runs on sessionful's
stores: :func:`checkpoint_log_for` returns the :class:`CheckpointLog` of a store. The core knows
nothing of the framework: values arrive serialised by the framework (``(type, bytes)`` pairs) and
leave the same way; the log only knows the ids that order and select them (thread, namespace,
checkpoint id, parent, run id) and which channel versions a checkpoint reads.

It lives in the store's own database (SQLite: the same file, through the store's writer thread;
Postgres: the same pool; memory: beside the store object), in tables of its own
(``session_checkpoints``, ``session_checkpoint_writes``, ``session_checkpoint_blobs``: not
LangGraph's own savers' names, so they can share the database) created idempotently on first use,
so the stores' schemas and migrations are untouched.

**Fencing.** A write may name the session's :class:`~sessionful.stores.base.Lease`; it then
lands only if the lease is still the session's, checked in the same transaction, and raises
``LeaseLost`` (writing nothing) otherwise. Without a lease (a saver used on its own) writes are
unfenced.
"""

from __future__ import annotations

import builtins
import json
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sessionful.errors import ConfigurationError, LeaseLost
from sessionful.keys import SessionKey
from sessionful.stores.base import Lease, SessionStore
from sessionful.stores.memory import MemoryStore
from sessionful.stores.postgres import PostgresStore
from sessionful.stores.sqlite import SQLiteStore

__all__ = [
    "CheckpointLog",
    "StoredBlob",
    "StoredCheckpoint",
    "StoredWrite",
    "checkpoint_log_for",
    "delete_checkpoints",
]

T = TypeVar("T")
Typed = tuple[str, bytes]
"""A value as its framework serialised it: a type tag and the bytes."""


@dataclass(frozen=True)
class StoredWrite:
    """A pending write of a task, against one checkpoint."""

    task_id: str
    idx: int
    """Its position among the task's writes; negative for special writes (errors, interrupts),
    which replace an earlier one of the same index, where a regular write is kept first."""
    channel: str
    value: Typed
    task_path: str = ""


@dataclass(frozen=True)
class StoredBlob:
    """One version of one channel's value."""

    channel: str
    version: str
    """The version, JSON-encoded (so ``1`` and ``"1"`` stay apart)."""
    value: Typed


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: ids, the serialised checkpoint and metadata, and what a read adds
    (its pending writes, the blobs of the channel versions it names)."""

    thread: str
    ns: str
    id: str
    parent_id: str | None
    run_id: str | None
    checkpoint: Typed
    metadata: Typed
    versions: Mapping[str, str] = field(default_factory=dict)
    """Channel -> JSON-encoded version: which blobs the checkpoint reads."""
    writes: tuple[StoredWrite, ...] = ()
    blobs: tuple[StoredBlob, ...] = ()


class CheckpointLog(ABC):
    """The checkpoints of one store's threads (a thread is ``str(SessionKey)`` when the manager
    drives it, any id otherwise)."""

    @abstractmethod
    async def put(
        self, checkpoint: StoredCheckpoint, blobs: Sequence[StoredBlob], lease: Lease | None = None,
        *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        """Store ``checkpoint`` (replacing one of the same id) and the new ``blobs`` of its
        thread and namespace, in one transaction.

        ``acknowledged``: a fenced turn write of the same store follows and acknowledges this
        one (the manager's turn append); a restore drops checkpoints of a turn never
        acknowledged. The write then need not be durable on its own: the acknowledgement's
        durable commit covers it (Postgres commits it asynchronously, its WAL flushed by the
        acknowledgement's commit). It is fenced all the same."""

    @abstractmethod
    async def put_writes(
        self, thread: str, ns: str, checkpoint_id: str, writes: Sequence[StoredWrite],
        lease: Lease | None = None, *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        """Store pending writes against a checkpoint (see :attr:`StoredWrite.idx`);
        ``acknowledged`` as for :meth:`put`."""

    @abstractmethod
    async def get(self, thread: str, ns: str, checkpoint_id: str | None) -> StoredCheckpoint | None:
        """One checkpoint with its writes and blobs: ``checkpoint_id``'s, or the latest."""

    @abstractmethod
    async def list(
        self,
        thread: str | None,
        ns: str | None,
        checkpoint_id: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[StoredCheckpoint]:
        """Checkpoints newest first (by id), with writes and blobs, optionally of one thread,
        one namespace, one id, ids before ``before``, at most ``limit``."""

    @abstractmethod
    async def delete_thread(self, thread: str, lease: Lease | None = None) -> int:
        """Delete a thread's checkpoints, writes and blobs; how many checkpoints went."""

    @abstractmethod
    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete the checkpoints (and their writes) of these runs; how many went."""

    @abstractmethod
    async def copy_thread(self, source: str, target: str) -> None:
        """Copy every checkpoint, write and blob of ``source`` to ``target``."""

    @abstractmethod
    async def prune(self, threads: Sequence[str], keep_latest: bool) -> None:
        """Keep only each namespace's latest checkpoint (and the blobs it reads), or delete the
        threads whole."""


def _version_keys(checkpoints: Iterable[StoredCheckpoint]) -> set[tuple[str, str, str]]:
    return {(c.ns, ch, v) for c in checkpoints for ch, v in c.versions.items()}


# -- memory -------------------------------------------------------------------------------------


@dataclass
class _MemoryThread:
    checkpoints: dict[tuple[str, str], StoredCheckpoint] = field(default_factory=dict)
    writes: dict[tuple[str, str, str, int], StoredWrite] = field(default_factory=dict)
    blobs: dict[tuple[str, str, str], StoredBlob] = field(default_factory=dict)


class _MemoryCheckpoints(CheckpointLog):
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._threads: dict[str, _MemoryThread] = {}

    async def _fence(self, lease: Lease | None) -> None:
        if lease is not None:
            await self._store.check(lease)  # raises LeaseLost; no await point after it

    def _read(self, t: _MemoryThread, c: StoredCheckpoint) -> StoredCheckpoint:
        writes = tuple(
            w
            for (ns, cid, _, _), w in sorted(t.writes.items(), key=lambda kv: kv[0])
            if (ns, cid) == (c.ns, c.id)
        )
        blobs = tuple(
            b for ch, v in c.versions.items() if (b := t.blobs.get((c.ns, ch, v))) is not None
        )
        return replace(c, writes=writes, blobs=blobs)

    async def put(
        self, checkpoint: StoredCheckpoint, blobs: Sequence[StoredBlob], lease: Lease | None = None,
        *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        await self._fence(lease)
        t = self._threads.setdefault(checkpoint.thread, _MemoryThread())
        for blob in blobs:
            t.blobs[(checkpoint.ns, blob.channel, blob.version)] = blob
        t.checkpoints[(checkpoint.ns, checkpoint.id)] = replace(checkpoint, writes=(), blobs=())

    async def put_writes(
        self, thread: str, ns: str, checkpoint_id: str, writes: Sequence[StoredWrite],
        lease: Lease | None = None, *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        await self._fence(lease)
        t = self._threads.setdefault(thread, _MemoryThread())
        for write in writes:
            key = (ns, checkpoint_id, write.task_id, write.idx)
            if write.idx >= 0 and key in t.writes:
                continue
            t.writes[key] = write

    async def get(self, thread: str, ns: str, checkpoint_id: str | None) -> StoredCheckpoint | None:
        found = await self.list(thread, ns, checkpoint_id, limit=1)
        return found[0] if found else None

    async def list(
        self,
        thread: str | None,
        ns: str | None,
        checkpoint_id: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[StoredCheckpoint]:
        threads = [thread] if thread is not None else list(self._threads)
        found = []
        for name in threads:
            t = self._threads.get(name)
            if t is None:
                continue
            for (c_ns, c_id), c in t.checkpoints.items():
                if ns is not None and c_ns != ns:
                    continue
                if checkpoint_id is not None and c_id != checkpoint_id:
                    continue
                if before is not None and c_id >= before:
                    continue
                found.append((t, c))
        found.sort(key=lambda tc: tc[1].id, reverse=True)
        if limit is not None:
            found = found[: max(limit, 0)]
        return [self._read(t, c) for t, c in found]

    async def delete_thread(self, thread: str, lease: Lease | None = None) -> int:
        await self._fence(lease)
        t = self._threads.pop(thread, None)
        return 0 if t is None else len(t.checkpoints)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        runs = set(run_ids)
        count = 0
        for t in self._threads.values():
            gone = {k for k, c in t.checkpoints.items() if c.run_id in runs}
            count += len(gone)
            for key in gone:
                del t.checkpoints[key]
            t.writes = {k: w for k, w in t.writes.items() if (k[0], k[1]) not in gone}
        return count

    async def copy_thread(self, source: str, target: str) -> None:
        t = self._threads.get(source)
        if t is None:
            return
        self._threads[target] = _MemoryThread(
            {k: replace(c, thread=target) for k, c in t.checkpoints.items()},
            dict(t.writes),
            dict(t.blobs),
        )

    async def prune(self, threads: Sequence[str], keep_latest: bool) -> None:
        for name in threads:
            t = self._threads.get(name)
            if t is None:
                continue
            if not keep_latest:
                del self._threads[name]
                continue
            latest: dict[str, str] = {}
            for c_ns, c_id in t.checkpoints:
                latest[c_ns] = max(c_id, latest.get(c_ns, c_id))
            t.checkpoints = {k: c for k, c in t.checkpoints.items() if latest[k[0]] == k[1]}
            t.writes = {k: w for k, w in t.writes.items() if latest.get(k[0]) == k[1]}
            used = _version_keys(t.checkpoints.values())
            t.blobs = {k: b for k, b in t.blobs.items() if k in used}


# -- SQL, shared by SQLite and Postgres ---------------------------------------------------------

_COLUMNS = "thread, ns, id, parent_id, run_id, type, checkpoint, metadata_type, metadata, versions"


def _row_checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(
        thread=row[0],
        ns=row[1],
        id=row[2],
        parent_id=row[3],
        run_id=row[4],
        checkpoint=(row[5], bytes(row[6])),
        metadata=(row[7], bytes(row[8])),
        versions=json.loads(row[9]),
    )


def _checkpoint_params(c: StoredCheckpoint) -> tuple[Any, ...]:
    return (
        c.thread,
        c.ns,
        c.id,
        c.parent_id,
        c.run_id,
        c.checkpoint[0],
        c.checkpoint[1],
        c.metadata[0],
        c.metadata[1],
        json.dumps(dict(c.versions), separators=(",", ":")),
    )


def _select(
    placeholder: str,
    thread: str | None,
    ns: str | None,
    checkpoint_id: str | None,
    before: str | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    where, params = [], []
    for column, value, op in (
        ("thread", thread, "="),
        ("ns", ns, "="),
        ("id", checkpoint_id, "="),
        ("id", before, "<"),
    ):
        if value is not None:
            where.append(f"{column} {op} {placeholder}")
            params.append(value)
    sql = f"SELECT {_COLUMNS} FROM session_checkpoints"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {max(int(limit), 0)}"
    return sql, params


def _assemble(
    checkpoints: list[StoredCheckpoint],
    writes: Iterable[Sequence[Any]],
    blobs: Iterable[Sequence[Any]],
) -> list[StoredCheckpoint]:
    """Attach writes ``(thread, ns, checkpoint_id, task_id, idx, channel, type, value,
    task_path)`` and blobs ``(thread, ns, channel, version, type, value)`` to their checkpoints."""
    by_checkpoint: dict[tuple[str, str, str], list[StoredWrite]] = {}
    for w in sorted(writes, key=lambda r: (r[3], r[4])):
        by_checkpoint.setdefault((w[0], w[1], w[2]), []).append(
            StoredWrite(w[3], int(w[4]), w[5], (w[6], bytes(w[7])), w[8])
        )
    by_version = {
        (b[0], b[1], b[2], b[3]): StoredBlob(b[2], b[3], (b[4], bytes(b[5]))) for b in blobs
    }
    return [
        replace(
            c,
            writes=tuple(by_checkpoint.get((c.thread, c.ns, c.id), ())),
            blobs=tuple(
                blob
                for ch, v in c.versions.items()
                if (blob := by_version.get((c.thread, c.ns, ch, v))) is not None
            ),
        )
        for c in checkpoints
    ]


# -- SQLite -------------------------------------------------------------------------------------

_SQLITE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS session_checkpoints (
        thread TEXT NOT NULL, ns TEXT NOT NULL, id TEXT NOT NULL,
        parent_id TEXT, run_id TEXT,
        type TEXT NOT NULL, checkpoint BLOB NOT NULL,
        metadata_type TEXT NOT NULL, metadata BLOB NOT NULL,
        versions TEXT NOT NULL,
        PRIMARY KEY (thread, ns, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS session_checkpoints_run ON session_checkpoints (run_id) WHERE "
    "run_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS session_checkpoint_writes (
        thread TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL, idx INTEGER NOT NULL, channel TEXT NOT NULL,
        type TEXT NOT NULL, value BLOB NOT NULL, task_path TEXT NOT NULL,
        PRIMARY KEY (thread, ns, checkpoint_id, task_id, idx)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS session_checkpoint_blobs (
        thread TEXT NOT NULL, ns TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,
        type TEXT NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY (thread, ns, channel, version)
    ) WITHOUT ROWID""",
)


class _SQLiteCheckpoints(CheckpointLog):
    """Runs on the store's writer thread and connection: a checkpoint write is ordered with the
    session's own writes and fenced in the same transaction."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._ready = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._ready:
            await self._store._call(self._create)
            self._ready = True
        return await self._store._call(fn, *args)

    def _create(self, conn: Any) -> None:
        def body() -> None:
            for statement in _SQLITE_SCHEMA:
                conn.execute(statement)

        self._store._write(conn, body)

    @staticmethod
    def _fence(conn: Any, lease: Lease | None) -> None:
        if lease is None:
            return
        row = conn.execute(
            "SELECT epoch, owner FROM sessions WHERE key = ?", (str(lease.key),)
        ).fetchone()
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)

    async def put(
        self, checkpoint: StoredCheckpoint, blobs: Sequence[StoredBlob], lease: Lease | None = None,
        *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        await self._run(self._put, checkpoint, blobs, lease)

    def _put(
        self, conn: Any, c: StoredCheckpoint, blobs: Sequence[StoredBlob], lease: Lease | None
    ) -> None:
        def body() -> None:
            self._fence(conn, lease)
            conn.executemany(
                "INSERT OR REPLACE INTO session_checkpoint_blobs VALUES (?, ?, ?, ?, ?, ?)",
                [(c.thread, c.ns, b.channel, b.version, *b.value) for b in blobs],
            )
            conn.execute(
                f"INSERT OR REPLACE INTO session_checkpoints ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _checkpoint_params(c),
            )

        self._store._write(conn, body)

    async def put_writes(
        self, thread: str, ns: str, checkpoint_id: str, writes: Sequence[StoredWrite],
        lease: Lease | None = None, *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        await self._run(self._put_writes, thread, ns, checkpoint_id, writes, lease)

    def _put_writes(
        self, conn: Any, thread: str, ns: str, cid: str, writes: Sequence[StoredWrite],
        lease: Lease | None,
    ) -> None:  # fmt: skip
        def body() -> None:
            self._fence(conn, lease)
            for w in writes:
                verb = "INSERT OR REPLACE" if w.idx < 0 else "INSERT OR IGNORE"
                conn.execute(
                    f"{verb} INTO session_checkpoint_writes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (thread, ns, cid, w.task_id, w.idx, w.channel, *w.value, w.task_path),
                )

        self._store._write(conn, body)

    async def get(self, thread: str, ns: str, checkpoint_id: str | None) -> StoredCheckpoint | None:
        found = await self.list(thread, ns, checkpoint_id, limit=1)
        return found[0] if found else None

    async def list(
        self,
        thread: str | None,
        ns: str | None,
        checkpoint_id: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[StoredCheckpoint]:
        return await self._run(self._list, thread, ns, checkpoint_id, before, limit)

    @staticmethod
    def _list(
        conn: Any, thread: str | None, ns: str | None, cid: str | None, before: str | None,
        limit: int | None,
    ) -> builtins.list[StoredCheckpoint]:  # fmt: skip
        sql, params = _select("?", thread, ns, cid, before, limit)
        found = [_row_checkpoint(row) for row in conn.execute(sql, params).fetchall()]
        writes: builtins.list[Any] = []
        blobs: builtins.list[Any] = []
        for c in found:
            writes += conn.execute(
                "SELECT * FROM session_checkpoint_writes WHERE thread = ? AND ns = ? AND "
                "checkpoint_id = ?",
                (c.thread, c.ns, c.id),
            ).fetchall()
            for ch, v in c.versions.items():
                blobs += conn.execute(
                    "SELECT * FROM session_checkpoint_blobs WHERE thread = ? AND ns = ? AND "
                    "channel = ? "
                    "AND version = ?",
                    (c.thread, c.ns, ch, v),
                ).fetchall()
        return _assemble(found, writes, blobs)

    async def delete_thread(self, thread: str, lease: Lease | None = None) -> int:
        return await self._run(self._delete_thread, thread, lease)

    def _delete_thread(self, conn: Any, thread: str, lease: Lease | None) -> int:
        def body() -> int:
            self._fence(conn, lease)
            conn.execute("DELETE FROM session_checkpoint_writes WHERE thread = ?", (thread,))
            conn.execute("DELETE FROM session_checkpoint_blobs WHERE thread = ?", (thread,))
            return int(
                conn.execute("DELETE FROM session_checkpoints WHERE thread = ?", (thread,)).rowcount
            )

        return self._store._write(conn, body)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        return await self._run(self._delete_runs, list(run_ids))

    def _delete_runs(self, conn: Any, run_ids: builtins.list[str]) -> int:
        def body() -> int:
            count = 0
            for run_id in run_ids:
                rows = conn.execute(
                    "DELETE FROM session_checkpoints WHERE run_id = ? RETURNING thread, ns, id",
                    (run_id,),
                ).fetchall()
                conn.executemany(
                    "DELETE FROM session_checkpoint_writes "
                    "WHERE thread = ? AND ns = ? AND checkpoint_id = ?",
                    rows,
                )
                count += len(rows)
            return count

        return self._store._write(conn, body)

    async def copy_thread(self, source: str, target: str) -> None:
        await self._run(self._copy_thread, source, target)

    def _copy_thread(self, conn: Any, source: str, target: str) -> None:
        def body() -> None:
            for table, rest in (
                ("session_checkpoints", _COLUMNS.removeprefix("thread, ")),
                ("session_checkpoint_writes",
                 "ns, checkpoint_id, task_id, idx, channel, type, value, task_path"),
                ("session_checkpoint_blobs", "ns, channel, version, type, value"),
            ):  # fmt: skip
                conn.execute(
                    f"INSERT OR REPLACE INTO {table} (thread, {rest}) "
                    f"SELECT ?, {rest} FROM {table} WHERE thread = ?",
                    (target, source),
                )

        self._store._write(conn, body)

    async def prune(self, threads: Sequence[str], keep_latest: bool) -> None:
        await self._run(self._prune, list(threads), keep_latest)

    def _prune(self, conn: Any, threads: builtins.list[str], keep_latest: bool) -> None:
        def body() -> None:
            for thread in threads:
                if not keep_latest:
                    for table in (
                        "session_checkpoint_writes",
                        "session_checkpoint_blobs",
                        "session_checkpoints",
                    ):
                        conn.execute(f"DELETE FROM {table} WHERE thread = ?", (thread,))
                    continue
                latest = dict(
                    conn.execute(
                        "SELECT ns, max(id) FROM session_checkpoints WHERE thread = ? GROUP BY ns",
                        (thread,),
                    ).fetchall()
                )
                kept = [
                    _row_checkpoint(row)
                    for ns, cid in latest.items()
                    for row in conn.execute(
                        f"SELECT {_COLUMNS} FROM session_checkpoints "
                        "WHERE thread = ? AND ns = ? AND id = ?",
                        (thread, ns, cid),
                    ).fetchall()
                ]
                for ns, cid in latest.items():
                    conn.execute(
                        "DELETE FROM session_checkpoints WHERE thread = ? AND ns = ? AND id != ?",
                        (thread, ns, cid),
                    )
                    conn.execute(
                        "DELETE FROM session_checkpoint_writes WHERE thread = ? AND ns = ? "
                        "AND checkpoint_id != ?",
                        (thread, ns, cid),
                    )
                used = _version_keys(kept)
                for ns, channel, version in conn.execute(
                    "SELECT ns, channel, version FROM session_checkpoint_blobs WHERE thread = ?",
                    (thread,),
                ).fetchall():
                    if (ns, channel, version) not in used:
                        conn.execute(
                            "DELETE FROM session_checkpoint_blobs WHERE thread = ? AND ns = ? "
                            "AND channel = ? AND version = ?",
                            (thread, ns, channel, version),
                        )

        self._store._write(conn, body)


# -- Postgres -----------------------------------------------------------------------------------

_POSTGRES_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS session_checkpoints (
        thread TEXT NOT NULL, ns TEXT NOT NULL, id TEXT NOT NULL,
        parent_id TEXT, run_id TEXT,
        type TEXT NOT NULL, checkpoint BYTEA NOT NULL,
        metadata_type TEXT NOT NULL, metadata BYTEA NOT NULL,
        versions TEXT NOT NULL,
        PRIMARY KEY (thread, ns, id)
    )""",
    "CREATE INDEX IF NOT EXISTS session_checkpoints_run ON session_checkpoints (run_id) WHERE "
    "run_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS session_checkpoint_writes (
        thread TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL, idx INTEGER NOT NULL, channel TEXT NOT NULL,
        type TEXT NOT NULL, value BYTEA NOT NULL, task_path TEXT NOT NULL,
        PRIMARY KEY (thread, ns, checkpoint_id, task_id, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS session_checkpoint_blobs (
        thread TEXT NOT NULL, ns TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,
        type TEXT NOT NULL, value BYTEA NOT NULL,
        PRIMARY KEY (thread, ns, channel, version)
    )""",
)


class _PostgresCheckpoints(CheckpointLog):
    """Runs on the store's pool; a fenced write locks the session's row (``FOR SHARE``) so a
    claim cannot slip between the check and the write."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._ready = False

    async def _run(self, operation: Callable[[Any, int], Awaitable[T]]) -> T:
        if not self._ready:

            async def create(conn: Any, attempt: int) -> None:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(7218940002)")
                    for statement in _POSTGRES_SCHEMA:
                        await conn.execute(statement)

            await self._store._run(create)
            self._ready = True
        return await self._store._run(operation)

    @staticmethod
    async def _fence(conn: Any, lease: Lease | None) -> None:
        if lease is None:
            return
        cursor = await conn.execute(
            "SELECT epoch, owner FROM sessionful WHERE key = %s FOR SHARE", (str(lease.key),)
        )
        row = await cursor.fetchone()
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)

    async def _write(
        self,
        lease: Lease | None,
        acknowledged: bool,
        statements: Callable[[Any], Awaitable[None]],
    ) -> None:
        """Run ``statements`` in one transaction behind the lease's fence.

        Acknowledged (the manager's turn append follows): the transaction goes as one pipeline
        (``SET LOCAL synchronous_commit``, the fence's ``SELECT ... FOR SHARE``, the writes, one
        sync; then the commit), committed asynchronously: the acknowledgement's durable commit
        flushes the WAL through it, and a turn never acknowledged is dropped on restore. The
        fence is read before the commit, so a stale lease still lands nothing."""
        if not acknowledged:

            async def operation(conn: Any, attempt: int) -> None:
                async with conn.transaction():
                    await self._fence(conn, lease)
                    await statements(conn)

            await self._run(operation)
            return

        async def pipelined(conn: Any, attempt: int) -> None:
            async with conn.pipeline(), conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit TO OFF")
                fence = None
                if lease is not None:
                    fence = await conn.execute(
                        "SELECT epoch, owner FROM sessionful WHERE key = %s FOR SHARE",
                        (str(lease.key),),
                    )
                await statements(conn)
                if fence is not None and lease is not None:
                    row = await fence.fetchone()
                    if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
                        raise LeaseLost(lease.key, lease.epoch)

        await self._run(pipelined)

    async def put(
        self, checkpoint: StoredCheckpoint, blobs: Sequence[StoredBlob], lease: Lease | None = None,
        *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        c = checkpoint

        async def statements(conn: Any) -> None:
            if blobs:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO session_checkpoint_blobs VALUES (%s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (thread, ns, channel, version) DO UPDATE SET "
                        "type = excluded.type, value = excluded.value",
                        [(c.thread, c.ns, b.channel, b.version, *b.value) for b in blobs],
                    )
            await conn.execute(
                f"INSERT INTO session_checkpoints ({_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (thread, ns, id) DO UPDATE SET "
                "parent_id = excluded.parent_id, run_id = excluded.run_id, "
                "type = excluded.type, "
                "checkpoint = excluded.checkpoint, metadata_type = excluded.metadata_type, "
                "metadata = excluded.metadata, versions = excluded.versions",
                _checkpoint_params(c),
            )

        await self._write(lease, acknowledged, statements)

    async def put_writes(
        self, thread: str, ns: str, checkpoint_id: str, writes: Sequence[StoredWrite],
        lease: Lease | None = None, *, acknowledged: bool = False,
    ) -> None:  # fmt: skip
        async def statements(conn: Any) -> None:
            for w in writes:
                conflict = (
                    "DO UPDATE SET channel = excluded.channel, type = excluded.type, "
                    "value = excluded.value, task_path = excluded.task_path"
                    if w.idx < 0
                    else "DO NOTHING"
                )
                await conn.execute(
                    "INSERT INTO session_checkpoint_writes VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                    f"(thread, ns, checkpoint_id, task_id, idx) {conflict}",
                    (thread, ns, checkpoint_id, w.task_id, w.idx, w.channel, *w.value,
                     w.task_path),
                )  # fmt: skip

        await self._write(lease, acknowledged, statements)

    async def get(self, thread: str, ns: str, checkpoint_id: str | None) -> StoredCheckpoint | None:
        found = await self.list(thread, ns, checkpoint_id, limit=1)
        return found[0] if found else None

    async def list(
        self,
        thread: str | None,
        ns: str | None,
        checkpoint_id: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[StoredCheckpoint]:
        sql, params = _select("%s", thread, ns, checkpoint_id, before, limit)

        async def operation(conn: Any, attempt: int) -> list[StoredCheckpoint]:
            cursor = await conn.execute(sql, params)
            found = [_row_checkpoint(row) for row in await cursor.fetchall()]
            if not found:
                return []
            keys = [(c.thread, c.ns, c.id) for c in found]
            cursor = await conn.execute(
                "SELECT w.* FROM session_checkpoint_writes w JOIN unnest(%s::text[], %s::text[], "
                "%s::text[]) AS k(thread, ns, id) ON w.thread = k.thread AND w.ns = k.ns "
                "AND w.checkpoint_id = k.id",
                [list(col) for col in zip(*keys, strict=True)],
            )
            writes = await cursor.fetchall()
            wanted = [(c.thread, c.ns, ch, v) for c in found for ch, v in c.versions.items()]
            blobs: list[Any] = []
            if wanted:
                cursor = await conn.execute(
                    "SELECT b.* FROM session_checkpoint_blobs b JOIN unnest(%s::text[], "
                    "%s::text[], "
                    "%s::text[], %s::text[]) AS k(thread, ns, channel, version) "
                    "ON b.thread = k.thread AND b.ns = k.ns AND b.channel = k.channel "
                    "AND b.version = k.version",
                    [list(col) for col in zip(*wanted, strict=True)],
                )
                blobs = await cursor.fetchall()
            return _assemble(found, writes, blobs)

        return await self._run(operation)

    async def delete_thread(self, thread: str, lease: Lease | None = None) -> int:
        async def operation(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                await self._fence(conn, lease)
                await conn.execute(
                    "DELETE FROM session_checkpoint_writes WHERE thread = %s", (thread,)
                )
                await conn.execute(
                    "DELETE FROM session_checkpoint_blobs WHERE thread = %s", (thread,)
                )
                cursor = await conn.execute(
                    "DELETE FROM session_checkpoints WHERE thread = %s", (thread,)
                )
                return int(cursor.rowcount)

        return await self._run(operation)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        runs = list(run_ids)

        async def operation(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                cursor = await conn.execute(
                    "DELETE FROM session_checkpoints WHERE run_id = ANY(%s) RETURNING thread, ns, "
                    "id",
                    (runs,),
                )
                rows = await cursor.fetchall()
                async with conn.cursor() as cur:
                    if rows:
                        await cur.executemany(
                            "DELETE FROM session_checkpoint_writes WHERE thread = %s AND ns = %s "
                            "AND checkpoint_id = %s",
                            rows,
                        )
                return len(rows)

        return await self._run(operation)

    async def copy_thread(self, source: str, target: str) -> None:
        async def operation(conn: Any, attempt: int) -> None:
            async with conn.transaction():
                for table, rest, key in (
                    ("session_checkpoints", _COLUMNS.removeprefix("thread, "), "thread, ns, id"),
                    ("session_checkpoint_writes",
                     "ns, checkpoint_id, task_id, idx, channel, type, value, task_path",
                     "thread, ns, checkpoint_id, task_id, idx"),
                    ("session_checkpoint_blobs", "ns, channel, version, type, value",
                     "thread, ns, channel, version"),
                ):  # fmt: skip
                    await conn.execute(
                        f"INSERT INTO {table} (thread, {rest}) "
                        f"SELECT %s, {rest} FROM {table} WHERE thread = %s "
                        f"ON CONFLICT ({key}) DO NOTHING",
                        (target, source),
                    )

        await self._run(operation)

    async def prune(self, threads: Sequence[str], keep_latest: bool) -> None:
        names = list(threads)

        async def operation(conn: Any, attempt: int) -> None:
            async with conn.transaction():
                if not keep_latest:
                    for table in (
                        "session_checkpoint_writes",
                        "session_checkpoint_blobs",
                        "session_checkpoints",
                    ):
                        await conn.execute(f"DELETE FROM {table} WHERE thread = ANY(%s)", (names,))
                    return
                await conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS _kept (thread TEXT, ns TEXT, id TEXT) "
                    "ON COMMIT DROP"
                )
                await conn.execute(
                    "INSERT INTO _kept SELECT thread, ns, max(id) FROM session_checkpoints "
                    "WHERE thread = ANY(%s) GROUP BY thread, ns",
                    (names,),
                )
                await conn.execute(
                    "DELETE FROM session_checkpoints c WHERE c.thread = ANY(%s) AND NOT EXISTS "
                    "(SELECT 1 FROM _kept k WHERE k.thread = c.thread AND k.ns = c.ns "
                    "AND k.id = c.id)",
                    (names,),
                )
                await conn.execute(
                    "DELETE FROM session_checkpoint_writes w WHERE w.thread = ANY(%s) AND NOT "
                    "EXISTS "
                    "(SELECT 1 FROM _kept k WHERE k.thread = w.thread AND k.ns = w.ns "
                    "AND k.id = w.checkpoint_id)",
                    (names,),
                )
                cursor = await conn.execute(
                    f"SELECT {_COLUMNS} FROM session_checkpoints WHERE thread = ANY(%s)",
                    (names,),
                )
                kept = [_row_checkpoint(row) for row in await cursor.fetchall()]
                used = {(c.thread, c.ns, ch, v) for c in kept for ch, v in c.versions.items()}
                cursor = await conn.execute(
                    "SELECT thread, ns, channel, version FROM session_checkpoint_blobs "
                    "WHERE thread = ANY(%s)",
                    (names,),
                )
                stale = [tuple(row) for row in await cursor.fetchall() if tuple(row) not in used]
                async with conn.cursor() as cur:
                    if stale:
                        await cur.executemany(
                            "DELETE FROM session_checkpoint_blobs WHERE thread = %s AND ns = %s "
                            "AND channel = %s AND version = %s",
                            stale,
                        )

        await self._run(operation)


# -- lookup -------------------------------------------------------------------------------------

_LOGS: weakref.WeakKeyDictionary[SessionStore, CheckpointLog] = weakref.WeakKeyDictionary()
_KINDS: Mapping[type[SessionStore], Callable[[Any], CheckpointLog]] = {
    MemoryStore: _MemoryCheckpoints,
    SQLiteStore: _SQLiteCheckpoints,
    PostgresStore: _PostgresCheckpoints,
}


def checkpoint_log_for(store: SessionStore) -> CheckpointLog:
    """The checkpoint log kept beside ``store`` (one per store object).

    Raises:
        ConfigurationError: ``store`` is not a built-in store (nor a subclass of one).
    """
    log = _LOGS.get(store)
    if log is None:
        for kind, make in _KINDS.items():
            if isinstance(store, kind):
                log = _LOGS[store] = make(store)
                break
        else:
            raise ConfigurationError(
                f"{type(store).__name__} keeps no checkpoints; use the memory, SQLite or "
                "Postgres store"
            )
    return log


async def delete_checkpoints(store: SessionStore, key: SessionKey | str) -> int:
    """Delete ``key``'s thread from ``store``'s checkpoint log, unfenced (the session is being
    ended or purged); ``0`` for a store that keeps none."""
    try:
        log = checkpoint_log_for(store)
    except ConfigurationError:
        return 0
    return await log.delete_thread(str(key))
