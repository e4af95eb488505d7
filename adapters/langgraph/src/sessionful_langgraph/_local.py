"""The adapter's own in-process saver, for graphs given no checkpointer.

LangGraph needs a checkpointer for ``interrupt()`` and ``Command(resume=...)``, so every graph
gets one. Without one in the settings it gets this: threads in a dict, each thread's data in one
place (deleting a thread is O(its size), not a scan of every thread as with ``InMemorySaver``),
values serialised with the strict serializer (nothing shared with the running graph), and
``prune(keep_latest)`` after each completed turn, so a session holds its latest state only.
``delete_for_runs`` lets the adapter undo a turn that did not complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

__all__ = ["CONTEXT_KEYS", "LEASE_KEY", "TURN_KEY", "LocalSaver", "metadata_for", "task_of"]

CONTEXT_KEYS = "__sessionful_context_keys"
"""A ``configurable`` entry naming the keys the adapter copied there from a turn's context: the
adapter's savers leave them out of checkpoint metadata (context is never stored)."""
LEASE_KEY = "__sessionful_lease"
"""A ``configurable`` entry holding the session's lease: ``SessionCheckpointer`` fences every
write of the run by it (a ``__`` key, so LangGraph never copies it into metadata)."""
TURN_KEY = "sessionful_turn"
"""Checkpoint metadata: the session's turn number that wrote it (native persistence), so a
restore can tell the checkpoints of an acknowledged turn from those of a turn never
acknowledged."""


def task_of(ns: str) -> str:
    """The id of the parent task a subgraph namespace (``node:task_id|...``) runs in."""
    return ns.split("|", 1)[0].rpartition(":")[2]


def metadata_for(config: RunnableConfig, metadata: CheckpointMetadata) -> CheckpointMetadata:
    """LangGraph's checkpoint metadata for ``config`` (``config["metadata"]`` and scalar
    ``configurable`` values added), without the values a turn's context put there."""
    full = get_checkpoint_metadata(config, metadata)
    for key in config.get("configurable", {}).get(CONTEXT_KEYS, ()):
        if key not in metadata:
            full.pop(key, None)  # type: ignore[misc]
    return full


_Typed = tuple[str, bytes]


@dataclass
class _Saved:
    checkpoint: _Typed
    metadata: _Typed
    parent: str | None
    run_id: str | None
    versions: dict[str, str | int | float]
    writes: dict[tuple[str, int], tuple[str, str, _Typed, str]] = field(default_factory=dict)


@dataclass
class _Thread:
    # namespace -> checkpoint id -> saved
    checkpoints: dict[str, dict[str, _Saved]] = field(default_factory=dict)
    # (namespace, channel, version) -> serialised value
    blobs: dict[tuple[str, str, str | int | float], _Typed] = field(default_factory=dict)


class LocalSaver(BaseCheckpointSaver[str]):
    """An in-memory LangGraph saver keyed by thread (see the module's docstring)."""

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self.threads: dict[str, _Thread] = {}

    # -- reads -------------------------------------------------------------------------------

    def _tuple(self, thread_id: str, ns: str, cid: str, saved: _Saved) -> CheckpointTuple:
        thread = self.threads[thread_id]
        checkpoint: Checkpoint = self.serde.loads_typed(saved.checkpoint)
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            blob = thread.blobs.get((ns, channel, version))
            if blob is not None and blob[0] != "empty":
                values[channel] = self.serde.loads_typed(blob)
        writes = sorted(saved.writes.items(), key=lambda kv: writes_sort_key(kv[1][3], *kv[0]))
        return CheckpointTuple(
            config={
                "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}
            },
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self.serde.loads_typed(saved.metadata),
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": saved.parent,
                    }
                }
                if saved.parent
                else None
            ),
            pending_writes=[
                (task, ch, self.serde.loads_typed(v)) for task, ch, v, _ in (w for _, w in writes)
            ],
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        ns = configurable.get("checkpoint_ns", "")
        thread = self.threads.get(thread_id)
        if thread is None:
            return None
        saved_in_ns = thread.checkpoints.get(ns)
        if not saved_in_ns:
            return None
        cid = get_checkpoint_id(config) or max(saved_in_ns)
        saved = saved_in_ns.get(cid)
        return None if saved is None else self._tuple(thread_id, ns, cid, saved)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        configurable = (config or {}).get("configurable", {})
        thread_ids = (
            [configurable["thread_id"]] if "thread_id" in configurable else list(self.threads)
        )
        wanted_ns = configurable.get("checkpoint_ns")
        wanted_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        for thread_id in thread_ids:
            thread = self.threads.get(thread_id)
            if thread is None:
                continue
            for ns, saved_in_ns in list(thread.checkpoints.items()):
                if wanted_ns is not None and ns != wanted_ns:
                    continue
                for cid in sorted(saved_in_ns, reverse=True):
                    if wanted_id is not None and cid != wanted_id:
                        continue
                    if before_id is not None and cid >= before_id:
                        continue
                    found = self._tuple(thread_id, ns, cid, saved_in_ns[cid])
                    if filter and any(found.metadata.get(k) != v for k, v in filter.items()):
                        continue
                    if limit is not None:
                        if limit <= 0:
                            return
                        limit -= 1
                    yield found

    # -- writes ------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        ns = configurable.get("checkpoint_ns", "")
        thread = self.threads.setdefault(thread_id, _Thread())
        stored: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values")
        for channel, version in new_versions.items():
            thread.blobs[(ns, channel, version)] = (
                self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            )
        full = metadata_for(config, metadata)
        run_id = full.get("run_id")
        thread.checkpoints.setdefault(ns, {})[checkpoint["id"]] = _Saved(
            self.serde.dumps_typed(stored),
            self.serde.dumps_typed(full),
            configurable.get("checkpoint_id"),
            run_id if isinstance(run_id, str) else None,
            dict(checkpoint["channel_versions"]),
        )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        configurable = config["configurable"]
        thread = self.threads.get(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        saved = (
            None
            if thread is None
            else thread.checkpoints.get(ns, {}).get(configurable["checkpoint_id"])
        )
        if saved is None:
            return  # its checkpoint was pruned or rolled back: nothing can read these writes
        for index, (channel, value) in enumerate(writes):
            key = (task_id, WRITES_IDX_MAP.get(channel, index))
            if key[1] >= 0 and key in saved.writes:
                continue
            saved.writes[key] = (task_id, channel, self.serde.dumps_typed(value), task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.threads.pop(thread_id, None)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = set(run_ids)
        for thread in self.threads.values():
            for saved_in_ns in thread.checkpoints.values():
                for cid in [c for c, s in saved_in_ns.items() if s.run_id in runs]:
                    del saved_in_ns[cid]
            self._collect(thread)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}")
        for thread_id in thread_ids:
            thread = self.threads.get(thread_id)
            if thread is None:
                continue
            if strategy == "delete":
                del self.threads[thread_id]
                continue
            for ns, saved_in_ns in thread.checkpoints.items():
                if len(saved_in_ns) > 1:
                    latest = max(saved_in_ns)
                    thread.checkpoints[ns] = {latest: saved_in_ns[latest]}
            self._collect(thread)

    def settle(self, thread_id: str) -> None:
        """After a completed turn: keep each namespace's latest checkpoint, and of the
        subgraphs' namespaces only those of the root's pending tasks (a paused subgraph); the
        others belong to runs that are over."""
        self.prune([thread_id])
        thread = self.threads.get(thread_id)
        if thread is None:
            return
        root = thread.checkpoints.get("", {})
        tasks = {task for saved in root.values() for task, _ in saved.writes}
        for ns in [ns for ns in thread.checkpoints if ns and task_of(ns) not in tasks]:
            del thread.checkpoints[ns]
        self._collect(thread)

    def _collect(self, thread: _Thread) -> None:
        """Drop the blobs no remaining checkpoint refers to."""
        used: set[tuple[str, str, str | int | float]] = set()
        for ns, saved_in_ns in thread.checkpoints.items():
            for saved in saved_in_ns.values():
                used.update((ns, channel, version) for channel, version in saved.versions.items())
        for key in [k for k in thread.blobs if k not in used]:
            del thread.blobs[key]

    def get_next_version(self, current: str | None, channel: None) -> str:
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}"

    # -- async: the same work, no I/O ---------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for found in self.list(config, filter=filter, before=before, limit=limit):
            yield found

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.delete_for_runs(run_ids)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)
