"""The SQLite store's checkpoint log: tables in the store's own file, written through its writer
thread and connection, fenced in the same transaction."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sessionful.stores._beside import OnSQLite
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
    _version_keys,
)
from sessionful.stores.base import Lease

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


class _SQLiteCheckpoints(OnSQLite, CheckpointLog):
    """Runs on the store's writer thread and connection: a checkpoint write is ordered with the
    session's own writes and fenced in the same transaction."""

    schema = _SQLITE_SCHEMA

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
