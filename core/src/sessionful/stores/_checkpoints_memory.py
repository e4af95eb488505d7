"""The memory store's checkpoint log: dictionaries beside the store object, fenced by the
store's own lease check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sessionful.stores._checkpoints_base import (
    CheckpointLog,
    StoredBlob,
    StoredCheckpoint,
    StoredWrite,
    _version_keys,
)
from sessionful.stores.base import Lease
from sessionful.stores.memory import MemoryStore


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
