"""``SessionCheckpointer``: a LangGraph checkpoint saver whose data lives in sessionful's stores.

```python
from sessionful_langgraph import SessionCheckpointer
saver = SessionCheckpointer("sqlite:///.sessionful/sessions.db")   # or a SessionStore
graph = builder.compile(checkpointer=saver)                        # a plain LangGraph saver
```

Checkpoints, pending writes and channel blobs go to the store's checkpoint log
(:mod:`sessionful.stores._checkpoints`: the same SQLite file or Postgres database as the
sessions, tables of its own), serialised with LangGraph's serializer in strict mode (no pickle;
msgpack limited to LangGraph's safe types plus the ``allowed`` ones).

Every method exists sync and async. The store belongs to one event loop, the first that uses it
(a private background loop when the first call is synchronous): async calls from another loop,
and sync calls from another thread, are handed to it; a sync call from inside that loop's own
thread would block it and raises, as LangGraph's async savers do.

A thread may be bound to a session's lease (:meth:`bind`, or per run: the manager's LangGraph
instances put their lease in the run's ``configurable``); each write to it is then fenced in
the same transaction and raises ``LeaseLost``, landing nothing, once another process has claimed
the session. Beyond LangGraph's base capabilities it implements ``delete_for_runs``,
``copy_thread`` and ``prune``.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from sessionful import SessionStore
from sessionful.stores import MemoryStore, store_from_url
from sessionful.stores._checkpoints import (
    CheckpointLog,
    StoredBlob,
    StoredCheckpoint,
    StoredWrite,
    checkpoint_log_for,
)
from sessionful.stores.base import Lease
from sessionful_langgraph._local import LEASE_KEY, metadata_for

__all__ = ["SessionCheckpointer"]

T = TypeVar("T")


def _stores() -> dict[str, type[SessionStore]]:
    from sessionful._plugins import Plugins

    return dict(Plugins().get_stores())


class SessionCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph ``BaseCheckpointSaver`` on a sessionful store (see the module's docstring).

    Args:
        store: a :class:`~sessionful.SessionStore`, or a store URL (``sqlite:///path``,
            ``postgresql://...``, ``memory://``); default: a new in-memory store.
        serde: the serializer (default: LangGraph's ``JsonPlusSerializer`` in strict mode).
        allowed: extra ``(module, name)`` types the default serializer may revive.
    """

    def __init__(
        self,
        store: SessionStore | str | None = None,
        *,
        serde: SerializerProtocol | None = None,
        allowed: Sequence[tuple[str, ...]] = (),
    ) -> None:
        from sessionful_langgraph._framework import strict_serializer

        super().__init__(serde=serde or strict_serializer(allowed))
        self._owns_store = not isinstance(store, SessionStore)
        if store is None:
            store = MemoryStore()
        elif isinstance(store, str):
            store = store_from_url(store, _stores())
        self.store: SessionStore = store
        self.log: CheckpointLog = checkpoint_log_for(store)
        self._leases: dict[str, Lease] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: threading.Thread | None = None
        self._opened = False

    # -- leases ------------------------------------------------------------------------------

    def bind(self, thread_id: str, lease: Lease) -> None:
        """Fence every later write to ``thread_id`` by ``lease``."""
        self._leases[thread_id] = lease

    def unbind(self, thread_id: str) -> None:
        """Write to ``thread_id`` unfenced again."""
        self._leases.pop(thread_id, None)

    def _lease(self, config: RunnableConfig, thread: str) -> tuple[Lease | None, bool]:
        """The lease fencing a write, and whether the turn's acknowledgement follows the write:
        the run's own lease (``configurable`` carries it when the manager drives the thread,
        and the manager's fenced turn append acknowledges what the run wrote), else the
        thread's bound one (nothing acknowledges it: each write is durable on its own)."""
        lease = config.get("configurable", {}).get(LEASE_KEY)
        if isinstance(lease, Lease):
            return lease, True
        return self._leases.get(thread), False

    # -- the store's loop -----------------------------------------------------------------------

    async def _ready(self, make: Callable[[], Awaitable[T]]) -> T:
        if not self._opened:
            await self.store.open()
            self._opened = True
        return await make()

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        running = asyncio.get_running_loop()
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            loop = self._loop = running
        if loop is running:
            return await self._ready(make)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._ready(make), loop))

    def _call_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            loop = self._loop = self._start_background()
        if loop is running:
            raise asyncio.InvalidStateError(
                "SessionCheckpointer's synchronous methods cannot run in the event loop that "
                "owns its store (they would block it); use the async ones (ainvoke, astream, "
                "aget_state)"
            )
        return asyncio.run_coroutine_threadsafe(self._ready(make), loop).result()

    def _start_background(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        self._background = threading.Thread(target=run, name="sessionful-checkpointer", daemon=True)
        self._background.start()
        started.wait()
        return loop

    async def aclose(self) -> None:
        """Close the store if this saver opened it from a URL (or made it), and its background
        loop if it started one."""
        if self._owns_store and self._opened:
            await self._call(self.store.aclose)
            self._opened = False
        loop, self._loop = self._loop, None
        if self._background is not None and loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._background.join()
            self._background = None
            loop.close()

    async def __aenter__(self) -> SessionCheckpointer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- conversions -----------------------------------------------------------------------------

    def _tuple(self, stored: StoredCheckpoint) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed(stored.checkpoint)
        values = {
            blob.channel: self.serde.loads_typed(blob.value)
            for blob in stored.blobs
            if blob.value[0] != "empty"
        }
        writes = sorted(stored.writes, key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))
        where = {"thread_id": stored.thread, "checkpoint_ns": stored.ns}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": stored.id}},
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self.serde.loads_typed(stored.metadata),
            parent_config=(
                {"configurable": {**where, "checkpoint_id": stored.parent_id}}
                if stored.parent_id
                else None
            ),
            pending_writes=[
                (w.task_id, w.channel, self.serde.loads_typed(w.value)) for w in writes
            ],
        )

    def _stored(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[StoredCheckpoint, list[StoredBlob]]:
        configurable = config["configurable"]
        thread, ns = configurable["thread_id"], configurable.get("checkpoint_ns", "")
        rest: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = rest.pop("channel_values")
        blobs = [
            StoredBlob(
                channel,
                json.dumps(version),
                self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b""),
            )
            for channel, version in new_versions.items()
        ]
        full = metadata_for(config, metadata)
        run_id = full.get("run_id")
        stored = StoredCheckpoint(
            thread=thread,
            ns=ns,
            id=checkpoint["id"],
            parent_id=configurable.get("checkpoint_id"),
            run_id=run_id if isinstance(run_id, str) else None,
            checkpoint=self.serde.dumps_typed(rest),
            metadata=self.serde.dumps_typed(full),
            versions={ch: json.dumps(v) for ch, v in checkpoint["channel_versions"].items()},
        )
        return stored, blobs

    # -- async ---------------------------------------------------------------------------------

    async def _get(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config["configurable"]
        stored = await self.log.get(
            configurable["thread_id"],
            configurable.get("checkpoint_ns", ""),
            get_checkpoint_id(config),
        )
        return None if stored is None else self._tuple(stored)

    async def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        configurable = (config or {}).get("configurable", {})
        found = await self.log.list(
            configurable.get("thread_id"),
            configurable.get("checkpoint_ns"),
            get_checkpoint_id(config) if config else None,
            get_checkpoint_id(before) if before else None,
            None if filter else limit,
        )
        tuples = [self._tuple(stored) for stored in found]
        if filter:
            tuples = [t for t in tuples if all(t.metadata.get(k) == v for k, v in filter.items())]
            if limit is not None:
                tuples = tuples[: max(limit, 0)]
        return tuples

    async def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        stored, blobs = self._stored(config, checkpoint, metadata, new_versions)
        lease, acknowledged = self._lease(config, stored.thread)
        await self.log.put(stored, blobs, lease, acknowledged=acknowledged)
        return {
            "configurable": {
                "thread_id": stored.thread,
                "checkpoint_ns": stored.ns,
                "checkpoint_id": stored.id,
            }
        }

    async def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        configurable = config["configurable"]
        thread = configurable["thread_id"]
        dumps = self.serde.dumps_typed
        stored = [
            StoredWrite(task_id, WRITES_IDX_MAP.get(ch, i), ch, dumps(value), task_path)
            for i, (ch, value) in enumerate(writes)
        ]
        lease, acknowledged = self._lease(config, thread)
        await self.log.put_writes(
            thread,
            configurable.get("checkpoint_ns", ""),
            configurable["checkpoint_id"],
            stored,
            lease,
            acknowledged=acknowledged,
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._call(lambda: self._get(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for found in await self._call(lambda: self._list(config, filter, before, limit)):
            yield found

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._call(lambda: self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._call(lambda: self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        lease = self._leases.get(thread_id)
        await self._call(lambda: self.log.delete_thread(thread_id, lease))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._call(lambda: self.log.delete_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._call(lambda: self.log.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}")
        await self._call(lambda: self.log.prune(thread_ids, strategy == "keep_latest"))

    # -- sync: the same, on the store's loop ----------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._call_sync(lambda: self._get(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._call_sync(lambda: self._list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._call_sync(lambda: self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._call_sync(lambda: self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        lease = self._leases.get(thread_id)
        self._call_sync(lambda: self.log.delete_thread(thread_id, lease))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._call_sync(lambda: self.log.delete_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._call_sync(lambda: self.log.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}")
        self._call_sync(lambda: self.log.prune(thread_ids, strategy == "keep_latest"))

    def get_next_version(self, current: str | None, channel: None) -> str:
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"
