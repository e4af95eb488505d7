"""The checkpoint log's interface and what its backends share: the stored shapes
(:class:`StoredCheckpoint`, :class:`StoredWrite`, :class:`StoredBlob`), the abstract
:class:`CheckpointLog`, and the row/SQL helpers of the SQLite and Postgres backends.

See :mod:`sessionful.stores._checkpoints` for what the log is; import the public names from there.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sessionful.stores.base import Lease

__all__ = [
    "CheckpointLog",
    "StoredBlob",
    "StoredCheckpoint",
    "StoredWrite",
    "Typed",
]

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
