"""What a :class:`~sessionful.SessionManager` tells about its sessions without running a turn:
keys, stored records, listings, history, existence, live instances and counters. A mixin, so the
manager's own module keeps to turns and lifecycle; everything here reads, nothing unloads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from sessionful._persistence import Persistence
from sessionful._plugins import Plugins
from sessionful._registry import Registry
from sessionful.errors import ConfigurationError, SessionNotFound, UnknownAgent
from sessionful.factory import AgentInstance, SupportsHistory
from sessionful.keys import SessionKey
from sessionful.models import AgentDefinition, ChatMessage, ManagerStats, SessionStats
from sessionful.stores.base import Feedback, SessionRecord, SessionStore

if TYPE_CHECKING:
    from sessionful._registry import Entry
    from sessionful.models import InstanceEvent
    from sessionful.strategies import SessionStrategy

__all__ = ["DEFAULT_SCALE", "SessionReads", "as_key", "rating_value"]

DEFAULT_SCALE: tuple[float, float] = (1.0, 5.0)
"""The rating range :meth:`SessionReads.record_feedback` accepts unless told otherwise."""

Thumb = Literal["up", "down"]
"""A thumbs rating: ``up`` is the top of the scale, ``down`` its bottom."""


class SessionReads:
    """The manager's read-side methods (see :class:`~sessionful.SessionManager`)."""

    strategy: SessionStrategy
    _persistence: Persistence
    _plugins: Plugins
    _registry: Registry
    _counts: dict[str, int]
    _agents: dict[str, AgentDefinition]

    if TYPE_CHECKING:

        async def _acquire(
            self, key: SessionKey, agent: AgentDefinition, create: bool = True
        ) -> tuple[Entry[AgentInstance], InstanceEvent]: ...

    @property
    def store(self) -> SessionStore | None:
        """The session store (``persisted``), or ``None``. For inspection and tests: the
        manager's own methods (``session_record``, ``list_sessions``, ``history``) are the way
        to read it."""
        return self._persistence.store

    @property
    def plugins(self) -> Plugins:
        """This manager's plugins (frameworks, strategies, hook observers)."""
        return self._plugins

    async def session_exists(self, key: SessionKey | str) -> bool:
        """Whether ``key`` names a session: for ``persisted`` a stored one (the store is the
        truth, so a session ended or purged on any process does not exist here either, live
        instance or not); otherwise a live instance."""
        key = as_key(key)
        if self._registry.is_creating(key):
            return True
        if self._persistence.store is not None:
            return await self._persistence.record(key) is not None
        return self._registry.index.get(key) is not None

    async def history(self, key: SessionKey | str, limit: int | None = None) -> list[ChatMessage]:
        """The session's messages, oldest first (``persisted``: from the store's log; other
        strategies keep no log, so this is empty)."""
        return await self._persistence.history(as_key(key), limit)

    async def state_history(
        self, key: SessionKey | str, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The session's saved states, newest first, when its framework keeps them (an instance
        with ``state_history``, :class:`~sessionful.SupportsHistory`: LangGraph's checkpoints,
        each with its id, time, next nodes and messages); empty otherwise. The session's
        instance is loaded (under ``persisted``, restored) as for a turn, without running one.

        Raises:
            SessionNotFound: no such session.
            UnknownAgent: its agent is not registered.
        """
        key = as_key(key)
        agent = self._agents.get(key.agent_id)
        if agent is None:
            raise UnknownAgent(key.agent_id, self._agents)
        entry, _ = await self._acquire(key, agent, create=False)
        try:
            instance = entry.instance
            if not isinstance(instance, SupportsHistory):
                return []
            return await instance.state_history(limit)
        finally:
            entry.leave()

    def key_for(
        self, agent_id: str, session_id: str | None = None, namespace: str | None = None
    ) -> SessionKey:
        """The key this manager's strategy gives a session: the one place a service or a command
        line derives it (``shared`` drops the session id, for instance).

        Raises:
            InvalidSessionKey: an id cannot name a session.
        """
        return self.strategy.context_key(agent_id, session_id, namespace)

    @property
    def keeps_sessions_apart(self) -> bool:
        """Whether the strategy gives each session and principal its own key (a service needs
        this; ``shared`` does not)."""
        probe = self.key_for("agent", "session", "principal")
        return probe.session_id is not None and probe.namespace is not None

    @property
    def persistent(self) -> bool:
        """Whether sessions outlive their instances in a store (the ``persisted`` strategy, or
        a plugin strategy with ``persistent = True``)."""
        return self._persistence.store is not None

    async def session_record(self, key: SessionKey | str) -> SessionRecord | None:
        """What the store holds of ``key`` (``persisted``), or ``None``: not stored, or a
        strategy that stores nothing."""
        return await self._persistence.record(as_key(key))

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
        """Stored sessions ordered by key string, ``after`` a key string (keyset paging);
        empty for strategies that store nothing.

        Filters (``None``: none): ``namespace``, ``agent_id``, the end user ``user_id``,
        ``labels`` (a session must carry every pair), and the activity window
        ``active_after <= last_activity < active_before`` in wall-clock Unix seconds. A damaged
        session is listed with :attr:`~sessionful.stores.SessionRecord.corrupt` set."""
        return await self._persistence.list_sessions(
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
        self, namespace: str | None = None, agent_id: str | None = None
    ) -> int:
        """How many sessions there are (in ``namespace``; of ``agent_id``): counted by the
        store without loading them (``persisted``), else the live instances."""
        counted = await self._persistence.count_sessions(namespace, agent_id=agent_id)
        if counted is not None:
            return counted
        return sum(
            1
            for key in self.list_agents()
            if (namespace is None or key.namespace == namespace)
            and (agent_id is None or key.agent_id == agent_id)
        )

    async def record_feedback(
        self,
        key: SessionKey | str,
        rating: float | Thumb,
        comment: str | None = None,
        turn: int | None = None,
        *,
        scale: tuple[float, float] = DEFAULT_SCALE,
    ) -> tuple[int, float | None]:
        """Record a rating of the session (an end user's satisfaction): a number within
        ``scale`` (inclusive; default 1 to 5), or ``"up"`` / ``"down"`` for its ends; an
        optional comment and the turn it refers to. ``persisted``: stored with the session and
        deleted with it; otherwise kept with the live instance (count and mean only). Returns
        the session's rating count and mean after it.

        Raises:
            SessionNotFound: no such session.
            ConfigurationError: a rating outside ``scale``, or a turn that is not a turn number.
        """
        key = as_key(key)
        value = rating_value(rating, scale)
        if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int) or turn < 0):
            raise ConfigurationError(f"a rated turn is a turn number (>= 0), not {turn!r}")
        entry = self._registry.index.get(key)
        stored = await self._persistence.record_feedback(key, value, comment, turn)
        if not stored and entry is None:
            raise SessionNotFound(key)
        if entry is not None:
            entry.fb_count += 1
            entry.fb_sum += value
        if stored:
            record = await self._persistence.record(key)
            if record is not None and record.corrupt is None:
                return record.feedback_count, record.feedback_mean
        if entry is not None:
            return entry.fb_count, entry.fb_sum / entry.fb_count
        return 1, value

    async def feedback(self, key: SessionKey | str) -> list[Feedback]:
        """The ratings stored with the session, oldest first (``persisted``; empty otherwise)."""
        return await self._persistence.feedback(as_key(key))

    async def check_store(self) -> None:
        """Open the store (if not yet) and read from it once; raises ``StoreError`` (or the
        driver's ``OSError``) when it cannot answer. A no-op without a store. For readiness
        probes."""
        await self._persistence.check()

    @property
    def store_exists(self) -> bool:
        """Whether the store's database is there already (``False`` for a SQLite file not yet
        made, which opening the store would create); ``False`` without a store."""
        store = self._persistence.store
        return store is not None and store.exists

    @property
    def store_dsn(self) -> str | None:
        """The libpq connection string of a PostgreSQL store (cluster membership shares its
        database), else ``None``."""
        return getattr(self.store, "conninfo", None)

    def get_agent(self, key: SessionKey | str) -> AgentInstance | None:
        """The live instance for ``key``, or ``None``. Does not count as activity."""
        entry = self._registry.index.get(as_key(key))
        return None if entry is None else entry.instance

    def list_agents(self) -> list[SessionKey]:
        """Keys of the live instances, least recently used first."""
        return self._registry.index.keys()

    def session_stats(self, key: SessionKey | str) -> SessionStats | None:
        """Analytics of a live session, or ``None`` if it is not loaded."""
        entry = self._registry.index.get(as_key(key))
        return None if entry is None else entry.stats()

    def stats(self) -> ManagerStats:
        """Counters since construction and the number of live instances."""
        return ManagerStats(**self._counts, active=len(self._registry.index))


def rating_value(rating: float | str, scale: tuple[float, float] = DEFAULT_SCALE) -> float:
    """A rating as a number on ``scale``: ``"up"`` and ``"down"`` are its ends; a number must
    be finite and within it (``ConfigurationError`` otherwise)."""
    low, high = scale
    if rating == "up":
        return float(high)
    if rating == "down":
        return float(low)
    if isinstance(rating, bool) or not isinstance(rating, (int, float)):
        raise ConfigurationError(f"a rating is a number or 'up' / 'down', not {rating!r}")
    if not math.isfinite(rating) or not low <= rating <= high:
        raise ConfigurationError(f"a rating is a number from {low:g} to {high:g}, not {rating!r}")
    return float(rating)


def as_key(key: SessionKey | str) -> SessionKey:
    """``key`` itself, or parsed from its string form."""
    return key if isinstance(key, SessionKey) else SessionKey.parse(key)
