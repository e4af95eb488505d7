"""Persistence as one collaborator: what the ``persisted`` strategy adds to a turn's path.

The manager calls the same fixed points whatever the strategy: ``claim`` before an instance is
created, ``attach`` once it is, ``still_ours`` before a live instance is reused, ``append`` when a
turn completes, ``unload`` when an instance goes, ``delete`` when a session ends, ``purge`` at a
sweep. :class:`InMemory` answers them with nothing (``shared``, ``per_session``: a session lives
only in its instance); :class:`Stored` keeps the session in a :class:`SessionStore`, every write
fenced by the session's lease. The manager's turn path has one persistence branch, ``durable``:
with nothing stored it skips the two awaits a reused turn would make. This is the only module
besides the manager that touches a store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal, NamedTuple

from sessionful._registry import Entry
from sessionful.content import Usage
from sessionful.errors import CorruptSessionData, LeaseLost, SessionNotFound
from sessionful.factory import AgentInstance, Framework, SupportsNativeState, SupportsSnapshot
from sessionful.keys import SessionKey
from sessionful.models import AgentDefinition, ChatMessage, Interrupt, UnloadReason
from sessionful.stores._checkpoints import delete_checkpoints
from sessionful.stores._items import delete_items
from sessionful.stores.base import (
    Feedback,
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
)
from sessionful.templates import AgentTemplate

__all__ = [
    "Claim",
    "InMemory",
    "Persistence",
    "Stored",
    "Verdict",
    "WriteUnknown",
]

logger = logging.getLogger("sessionful")

_E = Entry[AgentInstance]


class Claim(NamedTuple):
    """What ``claim`` hands back: the definition to build the instance from (a stored session
    keeps the template version it was created with), and the lease and state to attach."""

    agent: AgentDefinition
    lease: Lease | None = None
    loaded: LoadedSession | None = None


Verdict = Literal["ours", "lost", "gone"]
"""Whether a live instance may go on: its session is still ``ours``, another process claimed it
(``lost``), or it was ended or purged (``gone``)."""


class Persistence:
    """The fixed points of a turn's path that persistence hooks into. This base keeps nothing:
    it is the collaborator of the strategies whose sessions live only in their instances."""

    store: SessionStore | None = None
    """The store, or ``None`` when nothing is persisted."""

    durable = False
    """Whether turns are stored: when false, the manager skips ``still_ours`` and ``append``
    on the hot path (both are no-ops here, and a coroutine per call is most of a reused turn's
    cost)."""

    async def open(self) -> None:
        """Make the store ready (idempotent)."""

    async def aclose(self) -> None:
        """Flush and release the store."""

    async def claim(
        self,
        key: SessionKey,
        agent: AgentDefinition,
        *,
        create: bool,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Claim:
        """Take ``key``'s session before its instance is created. Raises ``SessionNotFound``
        when it does not exist and ``create`` is false. ``user_id`` and ``labels`` are stored
        with a session this creates (``ValueError`` for ones no store can hold)."""
        if not create:
            raise SessionNotFound(key)
        return Claim(agent)

    async def attach(self, entry: _E, claim: Claim) -> bool:
        """Bind a new entry to its claim; rebuild its instance from stored state. Returns whether
        it was restored. Raises ``CorruptSessionData`` when the stored state does not restore."""
        return False

    async def still_ours(self, entry: _E) -> Verdict:
        """Whether ``entry`` may run a turn: no other process has claimed its session since, and
        it was not ended or purged."""
        return "ours"

    async def append(
        self,
        entry: _E,
        received: Sequence[ChatMessage],
        produced: Sequence[ChatMessage],
        duration: float,
        interrupts: Sequence[Interrupt],
        usage: Usage | None,
    ) -> None:
        """Store a completed turn (with the interrupts it left pending and its usage) before
        it is acknowledged. Raises ``LeaseLost`` (and stores nothing) when another process owns
        the session now."""

    async def unload(self, entry: _E, reason: UnloadReason) -> None:
        """An instance is going: compact its session if that helps the next restore."""

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete what is stored of ``key``; counts by kind."""
        return {}

    async def purge(self, busy: Callable[[], Collection[SessionKey]] = tuple) -> list[SessionKey]:
        """Delete stored sessions past retention, one batch, never one of ``busy()`` (the keys
        with a turn in flight here; called only when there is something to purge by)."""
        return []

    async def record(self, key: SessionKey) -> SessionRecord | None:
        """What is stored of ``key``, or ``None``."""
        return None

    async def history(self, key: SessionKey, limit: int | None) -> list[ChatMessage]:
        """The logged messages of ``key``, oldest first."""
        return []

    async def list_sessions(
        self,
        *,
        namespace: str | None,
        agent_id: str | None,
        after: str | None,
        limit: int,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        active_after: float | None = None,
        active_before: float | None = None,
    ) -> list[SessionRecord]:
        """Stored records ordered by key string, after ``after``, filtered (see
        ``SessionStore.list_sessions``); a damaged one flagged ``corrupt``."""
        return []

    async def count_sessions(
        self, namespace: str | None, *, agent_id: str | None = None
    ) -> int | None:
        """How many sessions are stored (in ``namespace``), counted by the store without loading
        them; ``None`` when nothing is stored (the live instances are the sessions)."""
        return None

    async def record_feedback(
        self, key: SessionKey, rating: float, comment: str | None, turn: int | None
    ) -> bool:
        """Store a rating with ``key``'s session; whether it was stored (``False`` when nothing
        is). Raises ``SessionNotFound`` when the stored session does not exist."""
        return False

    async def feedback(self, key: SessionKey) -> list[Feedback]:
        """The ratings stored with ``key``'s session, oldest first."""
        return []

    async def check(self) -> None:
        """Read from the store once; raises when it cannot answer."""


InMemory = Persistence
"""The collaborator of ``shared`` and ``per_session``: nothing is stored."""


class WriteUnknown(Exception):
    """A turn's write was cut by a cancellation and did not finish within the grace: whether it
    is stored is unknown, so the instance cannot be trusted to match the store."""

    def __init__(self, key: SessionKey) -> None:
        self.key = key
        super().__init__(f"the write of a cancelled turn on {key} did not finish in time")


class Stored(Persistence):
    """Sessions kept in ``store``: claimed with a lease, restored, appended to, fenced."""

    durable = True

    cancel_grace: float = 5.0
    """Seconds a cancelled turn waits for its write to finish before giving up on it."""

    def __init__(
        self,
        store: SessionStore,
        *,
        framework: Framework,
        node_id: str,
        wall_clock: Callable[[], float],
        retention: float | None,
        retention_batch: int,
        templates: Mapping[tuple[str, str], AgentTemplate] | None,
    ) -> None:
        self.store = store
        self._store = store
        self._framework = framework
        self._node_id = node_id
        self._wall = wall_clock
        self._retention = retention
        self._retention_batch = retention_batch
        self._templates = templates
        self._open = False

    async def open(self) -> None:
        if not self._open:
            await self._store.open()
            self._open = True

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            await self._store.aclose()

    async def claim(
        self,
        key: SessionKey,
        agent: AgentDefinition,
        *,
        create: bool,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Claim:
        await self.open()
        # create=False refuses a missing session in the claim's own transaction: a session
        # ended between a check and the claim cannot come back as a new one.
        lease, loaded = await self._store.claim(
            key,
            self._node_id,
            agent.template_id,
            agent.template_version,
            self._wall(),
            create=create,
            user_id=user_id,
            labels=labels,
        )
        if loaded is not None:
            agent = self._as_created(agent, loaded.record)
        return Claim(agent, lease, loaded)

    def _as_created(self, agent: AgentDefinition, record: SessionRecord) -> AgentDefinition:
        """The definition a stored session was created with: it keeps its template version."""
        stored = (record.template_id, record.template_version)
        if stored == (agent.template_id, agent.template_version):
            return agent
        if self._templates is not None and stored not in self._templates:
            logger.warning(
                "session %s was created on template %s@%s, which is no longer registered; "
                "restoring it on %s@%s",
                record.key,
                *stored,
                agent.template_id,
                agent.template_version,
            )
            return agent
        return agent.model_copy(
            update={"template_id": record.template_id, "template_version": record.template_version}
        )

    async def attach(self, entry: _E, claim: Claim) -> bool:
        entry.lease = claim.lease
        native = _mode(entry.instance, self._framework) == "native"
        if native and claim.lease is not None and isinstance(entry.instance, SupportsNativeState):
            try:  # the instance keeps its state in our store from now on, fenced by the lease
                await entry.instance.bind_store(self._store, claim.lease)
            except LeaseLost:
                raise
            except Exception as exc:
                raise CorruptSessionData(entry.key, f"binding its state failed: {exc!r}") from exc
        loaded = claim.loaded
        if loaded is not None and loaded.record.feedback_count:
            record = loaded.record
            entry.fb_count = record.feedback_count
            entry.fb_sum = (record.feedback_mean or 0.0) * record.feedback_count
        if loaded is None or not loaded.record.turn_count:
            return False
        record = loaded.record
        try:
            if native:  # the framework reloads its own state for this key; a snapshot
                # stored before it went native is handed over once, for it to take in
                if loaded.snapshot is not None and isinstance(entry.instance, SupportsSnapshot):
                    await entry.instance.restore(loaded.snapshot, loaded.messages)
            elif not isinstance(entry.instance, SupportsSnapshot):
                raise TypeError("the instance has no snapshot()/restore()")
            else:
                await entry.instance.restore(loaded.snapshot, loaded.messages)
        except Exception as exc:
            raise CorruptSessionData(entry.key, f"restoring it failed: {exc!r}") from exc
        entry.restored = True
        entry.turns = record.turn_count
        entry.messages = record.message_count
        entry.rt_sum = record.response_time_sum
        entry.pending = list(record.interrupts)
        entry.tokens_in = record.input_tokens
        entry.tokens_out = record.output_tokens
        # The session's age, carried over from wall-clock time into the manager's clock, for
        # its stats; the instance itself is new (``born``), so max_lifetime counts from now.
        entry.created_at = entry.created_at - max(0.0, self._wall() - record.created_at)
        return True

    async def still_ours(self, entry: _E) -> Verdict:
        try:
            await self._store.check(_lease(entry))
        except LeaseLost:
            # Off the hot path: tell a takeover from an end (or a purge) elsewhere.
            if await self._store.get(entry.key) is None:
                logger.info("session %s was ended elsewhere; dropping its instance", entry.key)
                return "gone"
            logger.info("session %s was claimed elsewhere; reloading it", entry.key)
            return "lost"
        return "ours"

    async def append(
        self,
        entry: _E,
        received: Sequence[ChatMessage],
        produced: Sequence[ChatMessage],
        duration: float,
        interrupts: Sequence[Interrupt],
        usage: Usage | None,
    ) -> None:
        turn = entry.turns + 1
        instance = entry.instance
        every = _snapshot_every(instance, self._framework)
        snapshot = None
        if (
            every
            and turn % every == 0
            and _mode(instance, self._framework) == "snapshot"
            and isinstance(instance, SupportsSnapshot)
        ):
            snapshot = await instance.snapshot()
        write = TurnWrite(
            turn, [*received, *produced], self._wall(), duration, snapshot, interrupts, usage
        )
        # A coroutine becomes a task, which our cancellation does not cut; a store's own future
        # (SQLite's writer) is taken as it is, settled by the store whatever happens to us.
        pending = asyncio.ensure_future(self._store.append_turn(_lease(entry), write))
        try:
            await asyncio.shield(pending)
        except asyncio.CancelledError:
            # The caller went away mid-write. A half-known outcome is worse than a short wait:
            # finish the write, so the turn is either stored and acknowledged (then cancelled)
            # or not stored at all (its failure raised), never stored behind the manager's back.
            # A store that does not answer within the grace leaves the outcome unknown:
            # WriteUnknown, and the manager drops the instance (the next turn restores).
            done, _ = await asyncio.wait([pending], timeout=self.cancel_grace)
            if not done:
                pending.cancel()
                raise WriteUnknown(entry.key) from None
            pending.result()
            raise

    async def unload(self, entry: _E, reason: UnloadReason) -> None:
        """Compact a persisted session as it is unloaded, when turns are not each snapshotted:
        a restore then replays only what comes after. Best effort: the log already has every
        acknowledged turn, so a failure here loses nothing."""
        if (
            reason in ("ended", "lease-lost")
            or entry.lease is None
            or not entry.turns
            or _snapshot_every(entry.instance, self._framework) == 1
            or _mode(entry.instance, self._framework) != "snapshot"
            or not isinstance(entry.instance, SupportsSnapshot)
        ):
            return
        try:
            snapshot = await entry.instance.snapshot()
            await self._store.save_snapshot(_lease(entry), entry.turns, snapshot)
        except LeaseLost:
            pass  # another process owns the session now; its state is its own
        except Exception as exc:
            logger.warning("could not snapshot %s on unload: %r", entry.key, exc)

    async def delete(self, key: SessionKey) -> dict[str, int]:
        await self.open()
        deleted = await self._store.delete(key)
        if self._framework.persistence == "native":  # what the framework kept beside it
            deleted["items"] = await delete_items(self._store, key)
            deleted["checkpoints"] = await delete_checkpoints(self._store, key)
        return deleted

    async def purge(self, busy: Callable[[], Collection[SessionKey]] = tuple) -> list[SessionKey]:
        if self._retention is None:
            return []
        await self.open()
        purged = await self._store.purge_idle(
            self._wall() - self._retention, self._retention_batch, busy()
        )
        if purged:
            logger.info(
                "retention deleted %d stored session%s",
                len(purged),
                "" if len(purged) == 1 else "s",
            )
            if self._framework.persistence == "native":
                for key in purged:
                    await delete_items(self._store, key)
                    await delete_checkpoints(self._store, key)
        return purged

    async def record(self, key: SessionKey) -> SessionRecord | None:
        await self.open()
        return await self._store.get(key)

    async def history(self, key: SessionKey, limit: int | None) -> list[ChatMessage]:
        await self.open()
        return await self._store.history(key, limit)

    async def list_sessions(
        self,
        *,
        namespace: str | None,
        agent_id: str | None,
        after: str | None,
        limit: int,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        active_after: float | None = None,
        active_before: float | None = None,
    ) -> list[SessionRecord]:
        await self.open()
        return await self._store.list_sessions(
            namespace=namespace,
            agent_id=agent_id,
            after=after,
            limit=limit,
            user_id=user_id,
            labels=labels,
            active_after=active_after,
            active_before=active_before,
        )

    async def count_sessions(
        self, namespace: str | None, *, agent_id: str | None = None
    ) -> int | None:
        await self.open()
        return await self._store.count_sessions(namespace, agent_id=agent_id)

    async def record_feedback(
        self, key: SessionKey, rating: float, comment: str | None, turn: int | None
    ) -> bool:
        await self.open()
        await self._store.record_feedback(key, rating, comment, turn, self._wall())
        return True

    async def feedback(self, key: SessionKey) -> list[Feedback]:
        await self.open()
        return await self._store.feedback(key)

    async def check(self) -> None:
        await self.open()
        await self._store.get(SessionKey("readiness-probe", "readiness-probe"))


def _lease(entry: _E) -> Lease:
    lease = entry.lease
    assert isinstance(lease, Lease), "a persisted entry always carries its lease"
    return lease


def _mode(instance: AgentInstance, framework: Framework) -> str | None:
    """The framework's ``persistence``, unless the instance carries its own (a framework whose
    settings choose between native state and snapshots)."""
    mode = getattr(instance, "persistence", framework.persistence)
    return mode if mode in ("native", "snapshot") else framework.persistence


def _snapshot_every(instance: AgentInstance, framework: Framework) -> int:
    """The framework's ``snapshot_every``, unless the instance says otherwise for itself."""
    every = getattr(instance, "snapshot_every", framework.snapshot_every)
    return every if isinstance(every, int) else framework.snapshot_every
