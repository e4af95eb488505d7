"""The Postgres store's checkpoint log: tables in the store's own database, run on its pool; a
fenced write locks the session's row (``FOR SHARE``) in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sessionful.errors import LeaseLost
from sessionful.stores._beside import OnPostgres
from sessionful.stores._checkpoints_base import (
    _COLUMNS,
    CheckpointLog,
    StoredBlob,
    StoredCheckpoint,
    StoredWrite,
    _assemble,
    _checkpoint_params,
    _row_checkpoint,
    _select,
)
from sessionful.stores.base import Lease

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


class _PostgresCheckpoints(OnPostgres, CheckpointLog):
    """Runs on the store's pool; a fenced write locks the session's row (``FOR SHARE``) so a
    claim cannot slip between the check and the write."""

    schema = _POSTGRES_SCHEMA
    creation_lock = 7218940002

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
