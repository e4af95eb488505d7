"""SessionManager: one agent instance per session, reused across turns, with a lifecycle."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Literal

from sessionful._persistence import Claim, Persistence
from sessionful._plugins import Plugins
from sessionful._reads import SessionReads, as_key
from sessionful._registry import Entry, Registry
from sessionful._resolve import persistence_for, resolve_framework, resolve_strategy
from sessionful._sweeper import Sweeper
from sessionful._turns import SessionTurns
from sessionful.errors import (
    AgentCreationFailed,
    CapacityExceeded,
    ConfigurationError,
    SessionfulError,
    UnknownAgent,
    UnknownTemplate,
)
from sessionful.factory import (
    AgentFactory,
    AgentInstance,
    Framework,
)
from sessionful.keys import SessionKey
from sessionful.lifecycle import CleanupReport, LifecyclePolicy
from sessionful.models import (
    AgentCreateRequest,
    AgentDefinition,
    EndReport,
    InstanceEvent,
    UnloadReason,
)
from sessionful.stores.base import SessionStore
from sessionful.strategies import SessionStrategy

__all__ = ["EndReport", "OverlapPolicy", "SessionManager"]

logger = logging.getLogger("sessionful")

OverlapPolicy = Literal["enqueue", "reject"]
"""What a turn does when its session is mid-turn: wait its turn (FIFO), or raise ``SessionBusy``."""

_E = Entry[AgentInstance]

_COUNTER: dict[UnloadReason, str] = {
    "idle": "expired",
    "lifetime": "expired",
    "capacity": "evicted",
    "evicted": "evicted",
    "lease-lost": "evicted",
    "shutdown": "evicted",
    "ended": "ended",
}
"""The ``ManagerStats`` counter each unload reason adds to."""


class SessionManager(SessionTurns, SessionReads):
    """Runs turns on per-session agent instances and manages their lifecycle.

    One manager serves one framework. Use it as ``async with manager:`` to run the background
    sweeper and to destroy every instance on exit; without it, call ``cleanup_inactive()`` and
    ``aclose()`` yourself.

    Args:
        framework: a registered framework's name, or a :class:`~sessionful.Framework`.
        strategy: ``"shared"``, ``"per_session"``, a plugin's strategy name, or a strategy object.
        lifecycle: when instances are unloaded; defaults to :class:`LifecyclePolicy()`.
        clock: zero-argument callable returning seconds; all stats timestamps come from it.
        wall_clock: zero-argument callable returning Unix seconds, for what is stored
            (``persisted``: activity times, retention); defaults to ``time.time``.
        framework_settings: passed to ``Framework.create_agent_factory``.
        overlap: ``"enqueue"`` (default) queues a session's turns; ``"reject"`` raises
            :class:`~sessionful.SessionBusy` when one is in flight.
        plugins: extra plugin objects (lifecycle hook observers, frameworks, strategies).
        agents: agent definitions to register at once.
        store: ``persisted`` only: a store URL (``sqlite:///path``, ``postgresql://...``,
            ``memory://``) or a :class:`~sessionful.stores.SessionStore`; defaults to the
            embedded SQLite file ``.sessionful/sessions.db``.
        node_id: who this manager is in store leases; defaults to host, pid and a random part.

    Raises:
        UnknownFramework, UnknownStrategy: the name is not registered; the error lists those that
            are.
        ConfigurationError: any other bad argument.
    """

    def __init__(
        self,
        framework: str | Framework,
        strategy: str | SessionStrategy = "per_session",
        lifecycle: LifecyclePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        framework_settings: Mapping[str, Any] | None = None,
        overlap: OverlapPolicy = "enqueue",
        plugins: Iterable[object] = (),
        agents: Iterable[AgentDefinition] = (),
        store: str | SessionStore | None = None,
        node_id: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if overlap not in ("enqueue", "reject"):
            raise ConfigurationError(f"overlap must be 'enqueue' or 'reject', not {overlap!r}")
        for name, given in (("clock", clock), ("wall_clock", wall_clock)):
            if not callable(given):
                raise ConfigurationError(f"{name} must be a zero-argument callable, not {given!r}")
        if lifecycle is not None and not isinstance(lifecycle, LifecyclePolicy):
            raise ConfigurationError(f"lifecycle must be a LifecyclePolicy, not {lifecycle!r}")
        self._plugins = Plugins(plugins)
        self.framework: Framework = resolve_framework(self._plugins, framework)
        self.strategy: SessionStrategy = resolve_strategy(self._plugins, strategy)
        self.lifecycle: LifecyclePolicy = lifecycle or LifecyclePolicy()
        self.overlap: OverlapPolicy = overlap
        self._reject = overlap == "reject"
        self._clock = clock
        self._factory: AgentFactory = self.framework.create_agent_factory(
            dict(framework_settings or {})
        )
        self._registry = Registry(self.lifecycle)
        self.node_id: str = node_id or _default_node_id()
        """Who this manager is in store leases."""
        self._agents: dict[str, AgentDefinition] = {}
        self._templates = (
            self._plugins.get_templates(self.framework.name)
            if getattr(self.framework, "uses_templates", False)
            else None
        )
        self._persistence: Persistence = persistence_for(
            self.strategy,
            self.framework,
            store,
            self._plugins.get_stores(),
            node_id=self.node_id,
            wall_clock=wall_clock,
            retention=self.lifecycle.retention,
            retention_batch=self.lifecycle.retention_batch,
            templates=self._templates,
        )
        self._counts = dict.fromkeys(
            ("created", "reused", "restored", "evicted", "expired", "ended", "failed"), 0
        )
        hooks = self._plugins.hooks
        self._on_created = hooks["session_created"]
        self._on_restored = hooks["session_restored"]
        self._on_reused = hooks["session_reused"]
        self._on_evicted = hooks["session_evicted"]
        self._on_ended = hooks["session_ended"]
        self._on_turn = hooks["turn_completed"]
        self._on_interrupted = hooks["turn_interrupted"]
        self._sweeper: Sweeper | None = None
        for agent in agents:
            self.register_agent(agent)

    # -- configuration ------------------------------------------------------------------------

    def register_agent(self, agent: AgentDefinition) -> None:
        """Add ``agent`` to the catalog, or replace its definition.

        A replaced definition applies to sessions created from now on; live instances keep the
        definition they were built from until they are unloaded.
        """
        if not isinstance(agent, AgentDefinition):
            raise ConfigurationError(f"register_agent takes an AgentDefinition, not {agent!r}")
        if self._templates is not None:
            wanted = (agent.template_id, agent.template_version)
            if wanted not in self._templates:
                raise UnknownTemplate(
                    f"{agent.template_id}@{agent.template_version}",
                    (t.ref for t in self._templates.values()),
                )
        self._agents[agent.id] = agent

    @property
    def agents(self) -> Mapping[str, AgentDefinition]:
        """The catalog, by agent id (read-only)."""
        return MappingProxyType(self._agents)

    # -- acquiring ----------------------------------------------------------------------------
    def _target(
        self, agent_id: str, session_id: str | None, namespace: str | None
    ) -> tuple[AgentDefinition, SessionKey]:
        """The registered agent and the strategy's key for a turn; raises ``UnknownAgent`` or
        ``InvalidSessionKey`` before anything is created."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id, self._agents)
        return agent, self.strategy.context_key(agent_id, session_id, namespace)

    async def _acquire(
        self,
        key: SessionKey,
        agent: AgentDefinition,
        create: bool = True,
        *,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[_E, InstanceEvent]:
        """The live entry for ``key``, its turn gate held, and how it was found. Raises
        ``SessionNotFound`` when ``create`` is false and the session does not exist.
        ``user_id`` and ``labels`` are stored with a session this creates."""
        while True:
            entry = self._registry.index.get(key)
            created = False
            if entry is None:
                entry, created = await self._registry.get_or_create(
                    key, lambda: self._create(key, agent, create, user_id, labels)
                )
            if not entry.try_enter():
                await entry.enter(reject=self._reject)
            if entry.closed:  # unloaded while we waited: start again with a fresh instance
                entry.leave()
                continue
            if created:
                return entry, "restored" if entry.restored else "created"
            expired = self._expired(entry)
            if expired is not None:  # past its policy but not yet swept: never reuse it
                self._detach(key, entry)
                entry.leave()
                await self._destroy(entry, expired)
                continue
            persistence = self._persistence
            if persistence.durable and (verdict := await persistence.still_ours(entry)) != "ours":
                self._detach(key, entry)
                entry.leave()
                # Ended or purged elsewhere: the instance goes as ended and never continues the
                # old context; the next round starts a fresh session (or, without ``create``,
                # finds none). Claimed elsewhere: it goes, and the next round restores.
                await self._destroy(entry, "ended" if verdict == "gone" else "lease-lost")
                continue
            self._counts["reused"] += 1
            on_reused = self._on_reused
            if on_reused.active:  # the service's metrics take only the key: no stats built
                on_reused(key=key, stats=entry.stats() if "stats" in on_reused.wants else None)
            return entry, "reused"

    def _expired(self, entry: _E) -> Literal["idle", "lifetime"] | None:
        """``"idle"`` or ``"lifetime"`` if ``entry`` is past the policy now, else ``None``."""
        policy = self.lifecycle
        if policy.idle_timeout is None and policy.max_lifetime is None:
            return None
        now = self._clock()
        if policy.idle_timeout is not None and now - entry.last_activity >= policy.idle_timeout:
            return "idle"
        if policy.max_lifetime is not None and now - entry.born >= policy.max_lifetime:
            return "lifetime"
        return None

    async def _create(
        self,
        key: SessionKey,
        agent: AgentDefinition,
        create: bool,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> _E:
        await self._make_room(key)
        claim: Claim = await self._persistence.claim(
            key, agent, create=create, user_id=user_id, labels=labels
        )
        agent = claim.agent
        template = None
        if self._templates is not None:
            template = self._templates[(agent.template_id, agent.template_version)]
        request = AgentCreateRequest.for_session(agent, key, template)
        logger.info("creating session agent %s", key)
        try:
            instance = await self._factory.create_agent(request)
        except SessionfulError:
            self._counts["failed"] += 1
            raise
        except Exception as exc:
            self._counts["failed"] += 1
            raise AgentCreationFailed(key, exc) from exc
        entry: _E = Entry(key, instance, self._clock())
        try:
            restored = await self._persistence.attach(entry, claim)
        except Exception:
            with contextlib.suppress(Exception):
                await self._factory.destroy_agent(instance, "evicted")  # keep its data
            self._counts["failed"] += 1
            raise
        if restored:
            self._counts["restored"] += 1
            if self._on_restored.active:
                self._on_restored(key=key, instance=instance, stats=entry.stats())
            return entry
        self._counts["created"] += 1
        if self._on_created.active:
            self._on_created(key=key, instance=instance, stats=entry.stats())
        return entry

    async def _make_room(self, key: SessionKey) -> None:
        """Evict least-recently-used idle instances until this creation fits in max_active."""
        limit = self.lifecycle.max_active
        if limit is None:
            return
        index = self._registry.index
        # This creation is already counted in `creating`, so it holds its own slot.
        while len(index) + self._registry.creating > limit:
            victim = index.lru_idle()
            if victim is None:
                raise CapacityExceeded(key, limit)
            self._detach(*victim)
            await self._destroy(victim[1], "capacity")

    # -- unloading ----------------------------------------------------------------------------

    def _detach(self, key: SessionKey, entry: _E) -> None:
        """Take ``entry`` out of the registry at once, so no new turn can reach it."""
        self._registry.index.discard(key)
        entry.closed = True

    async def _destroy(self, entry: _E, reason: UnloadReason) -> str | None:
        """Destroy a detached entry's instance; return the error text if the adapter raised."""
        self._counts[_COUNTER[reason]] += 1
        await self._persistence.unload(entry, reason)
        error = None
        try:
            await self._factory.destroy_agent(entry.instance, reason)
        except Exception as exc:
            error = repr(exc)
            logger.warning("destroy_agent failed for %s (%s): %r", entry.key, reason, exc)
        else:
            logger.info("unloaded session agent %s (%s)", entry.key, reason)
        if reason == "ended":
            if self._on_ended.active:
                self._on_ended(key=entry.key, stats=entry.stats())
        elif self._on_evicted.active:
            self._on_evicted(key=entry.key, reason=reason, stats=entry.stats())
        return error

    async def _unload(
        self,
        key: SessionKey,
        reason: UnloadReason,
        holding: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Wait for ``key``'s turn in flight (and a creation in flight), then destroy it.

        ``holding`` runs while the session's gate is still held, before queued turns go on: an
        end deletes the stored session there, so a turn queued behind it finds no session
        rather than reviving it."""
        await self._registry.wait_created(key)
        entry = self._registry.index.get(key)
        if entry is None:
            return False
        await entry.enter(reject=False)
        try:
            if entry.closed:
                return False
            self._detach(key, entry)
            if holding is not None:
                await holding()
        finally:
            entry.leave()  # queued turns see `closed` and start a fresh instance
        await self._destroy(entry, reason)
        return True

    async def end_session(
        self, agent_id: str, session_id: str | None = None, *, namespace: str | None = None
    ) -> EndReport:
        """End a session: wait for its turn in flight, destroy its instance, and (``persisted``)
        delete everything the store holds for it. The report says what went.

        Under the ``shared`` strategy sessions have no instance of their own, so ending one
        unloads nothing; ``end_session(agent_id)`` ends the agent-level instance.
        """
        key = self.strategy.context_key(agent_id, session_id, namespace)
        if session_id is not None and key.session_id is None:
            return EndReport(key=key, unloaded=False)
        deleted: dict[str, int] = {}

        async def delete() -> None:
            nonlocal deleted
            deleted = await self._persistence.delete(key)

        unloaded = await self._unload(key, "ended", delete)
        if not unloaded:
            await delete()
        if any(deleted.values()) and not unloaded:
            self._counts["ended"] += 1
        report = EndReport(key=key, unloaded=unloaded, deleted=deleted)
        if not unloaded and self._on_ended.active:
            self._on_ended(key=key, stats=None)
        return report

    async def open_session(
        self,
        agent_id: str,
        session_id: str | None = None,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[SessionKey, InstanceEvent]:
        """Make sure the session's instance is live (and, ``persisted``, its record stored)
        without running a turn: a service creates sessions this way before their first message.
        Returns the key and how the instance was found.

        ``user_id`` (the end user) and ``labels`` (string pairs to filter listings by) are
        stored with a session this call creates (``persisted``); an existing session keeps
        its own. ``ValueError`` for ones no store can hold."""
        agent, key = self._target(agent_id, session_id, namespace)
        entry, event = await self._acquire(key, agent, user_id=user_id, labels=labels)
        entry.leave()
        return key, event

    async def evict(self, key: SessionKey | str) -> bool:
        """Unload ``key``'s instance now (after its turn in flight); its session may come back."""
        return await self._unload(as_key(key), "evicted")

    async def cleanup_inactive(self) -> CleanupReport:
        """Unload instances idle past ``idle_timeout`` or older than ``max_lifetime``.

        Costs O(expired + mid-turn) rather than O(live); never touches an instance mid-turn; a
        failing ``destroy_agent`` is logged, reported, and does not stop the rest.
        """
        victims, skipped = self._registry.index.expired(self._clock())
        for key, entry, _ in victims:
            self._detach(key, entry)
        idle: list[SessionKey] = []
        lifetime: list[SessionKey] = []
        failed: dict[str, str] = {}
        for key, entry, reason in victims:
            (idle if reason == "idle" else lifetime).append(key)
            error = await self._destroy(entry, reason)
            if error is not None:
                failed[str(key)] = error
        if victims:
            logger.info(
                "cleaned up %d inactive session agent%s",
                len(victims),
                "" if len(victims) == 1 else "s",
            )
        index = self._registry.index
        live, entry_of = index.keys, index.get  # read only if retention may purge something
        purged = await self._persistence.purge(
            lambda: [k for k in live() if (e := entry_of(k)) is not None and e.busy]
        )
        return CleanupReport(
            expired_idle=idle,
            expired_lifetime=lifetime,
            skipped_busy=skipped,
            failed=failed,
            purged=purged,
        )

    # -- running ------------------------------------------------------------------------------

    async def __aenter__(self) -> SessionManager:
        await self._persistence.open()
        interval = self.lifecycle.sweep_interval
        if interval is not None and self._sweeper is None:
            self._sweeper = Sweeper(self.cleanup_inactive, interval)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the sweeper (a sweep in progress finishes), let turns in flight finish, and
        destroy every instance."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            await sweeper.stop()
        while len(self._registry.index) or self._registry.creating:
            await self._registry.wait_all_created()
            for key in list(self._registry.index.keys()):
                await self._unload(key, "shutdown")
        await self._persistence.aclose()


def _default_node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
