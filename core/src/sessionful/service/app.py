"""The service layer the CLI and the HTTP service share: configured agents, principals, limits.

:class:`AgentService` turns :class:`~sessionful.service.config.Settings` into one
:class:`~sessionful.SessionManager` per framework and answers in a principal's name. The
principal is the session key's namespace, so one principal's session ids never meet another's:
asking for another principal's session is exactly like asking for one that does not exist
(:class:`~sessionful.errors.SessionNotFound`).

Sessions are created explicitly (:meth:`AgentService.create_session`); a turn, a look or an end
on a session that does not exist (never made, or ended or purged on any process: for a
persisting strategy the store is the truth) raises ``SessionNotFound``, never starts a new one.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from sessionful._plugins import Plugins
from sessionful._reads import rating_value
from sessionful.errors import (
    ConfigurationError,
    CorruptSessionData,
    SessionNotFound,
    UnknownAgent,
    UnknownStrategy,
)
from sessionful.keys import SessionKey
from sessionful.lifecycle import CleanupReport
from sessionful.manager import EndReport, SessionManager
from sessionful.models import (
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    ManagerStats,
)
from sessionful.service.config import AgentConfig, Settings
from sessionful.service.limits import LimitExceeded, check_turn
from sessionful.service.turns import TurnItem, execute_turn, stream_turn
from sessionful.service.views import HistoryPage, SessionFilter, SessionPage, SessionView
from sessionful.stores.base import SessionRecord

__all__ = [
    "DEV_PRINCIPAL",
    "AgentService",
    "HistoryPage",
    "LimitExceeded",
    "SessionFilter",
    "SessionPage",
    "SessionView",
    "mask_url",
    "new_session_id",
    "strategy_persists",
]


DEV_PRINCIPAL = "dev"
"""The principal of every request in dev mode (no ``[auth] api_keys``): no key is asked for."""


def new_session_id() -> str:
    """A fresh session id: 192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


class _Ids(NamedTuple):
    """What names a session that no key can name (its ids are invalid), for ``SessionNotFound``."""

    agent_id: str
    session_id: str

    def __str__(self) -> str:
        return f"{self.session_id!r} of agent {self.agent_id!r}"


class AgentService:
    """Configured agents behind one object; use ``async with`` to start and stop it all."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        plugins: Iterable[object] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        """The managers' clock (their stats' times are on it)."""
        self.agents: dict[str, AgentConfig] = {agent.id: agent for agent in settings.agents}
        frameworks = sorted({agent.framework for agent in settings.agents})
        extra = list(plugins)
        persists = bool(frameworks) and strategy_persists(settings.strategy, extra)
        store = settings.store if persists else None
        self.managers: dict[str, SessionManager] = {}
        for framework in frameworks:
            self.managers[framework] = SessionManager(
                framework=framework,
                strategy=settings.strategy,
                lifecycle=settings.lifecycle,
                clock=clock,
                framework_settings=settings.framework_settings.get(framework, {}),
                overlap=settings.overlap,
                plugins=extra,
                store=store,
                agents=[a.definition() for a in settings.agents if a.framework == framework],
            )
        self._stack: AsyncExitStack | None = None
        # A principal's count-then-create must not interleave, or its concurrent creates
        # overshoot its limit; other principals' creates go on meanwhile. (Within this process;
        # several processes can still overshoot by their number.) Principals come from the
        # configured API keys, so this dict stays small.
        self._creating: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> AgentService:
        stack = AsyncExitStack()
        for manager in self.managers.values():
            await stack.enter_async_context(manager)
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Let turns in flight finish, destroy every instance, flush and close the stores."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def manager_for(self, agent_id: str) -> SessionManager:
        """The manager that runs ``agent_id``; raises ``UnknownAgent``."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id, self.agents)
        return self.managers[agent.framework]

    def principal_for(self, api_key: str | None) -> str | None:
        """The principal an API key maps to, or ``None``; constant-time in the key. In dev mode
        (no API keys configured) every caller is :data:`DEV_PRINCIPAL`, whatever it sends."""
        if not self.settings.auth.api_keys:
            return DEV_PRINCIPAL
        if api_key is None:
            return None
        found = None
        for key, principal in self.settings.auth.api_keys.items():
            if secrets.compare_digest(key.encode(), api_key.encode()):
                found = principal
        return found

    # -- sessions -------------------------------------------------------------------------------

    async def create_session(
        self,
        principal: str,
        agent_id: str,
        *,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> SessionKey:
        """A new session with a server-generated id, its instance made ready; ``user_id`` and
        ``labels`` are stored with it (``persisted``)."""
        key, _ = await self.ensure_session(
            principal, agent_id, new_session_id(), user_id=user_id, labels=labels
        )
        return key

    async def ensure_session(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        *,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[SessionKey, bool]:
        """The principal's session ``session_id`` (a caller-chosen id): created, its instance
        made ready, if it does not exist (counted against ``max_sessions_per_principal``),
        else left as it is (its own user and labels kept). Returns the key and whether it was
        created. Idempotent within the principal; another principal's identical id is another
        session.

        Raises:
            InvalidSessionKey: the id cannot name a session (the reason says why).
            LimitExceeded: a creation past ``max_sessions_per_principal``.
        """
        manager = self.manager_for(agent_id)
        key = manager.key_for(agent_id, session_id, principal)
        limit = self.settings.limits.max_sessions_per_principal
        lock = self._creating.setdefault(principal, asyncio.Lock())
        async with lock:
            if await manager.session_exists(key):
                return key, False
            if await self._count(principal, limit) >= limit:
                raise LimitExceeded(
                    "max_sessions_per_principal",
                    f"principal already has {limit} sessions; end some first",
                )
            key, _ = await manager.open_session(
                agent_id, session_id, namespace=principal, user_id=user_id, labels=labels
            )
        return key, True

    async def require_session(
        self, principal: str, agent_id: str, session_id: str
    ) -> SessionManager:
        """The manager of an existing session of this principal; raises ``SessionNotFound``
        (also for another principal's session: the two are indistinguishable)."""
        manager = self.manager_for(agent_id)
        if not await manager.session_exists(self._key(manager, principal, agent_id, session_id)):
            raise SessionNotFound(self._key(manager, principal, agent_id, session_id))
        return manager

    @staticmethod
    def _key(manager: SessionManager, principal: str, agent_id: str, session_id: str) -> SessionKey:
        try:
            return manager.key_for(agent_id, session_id, principal)
        except ConfigurationError:  # ids that cannot name a session name none of this principal
            raise SessionNotFound(_Ids(agent_id, session_id)) from None

    def _command(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        messages: Sequence[ChatMessage],
        context: Mapping[str, Any] | None,
        resume: Mapping[str, Any] | None,
    ) -> ExecuteAgentCommand:
        check_turn(self.settings.limits, messages, context, resume)
        return ExecuteAgentCommand(
            agent_id=agent_id,
            session_id=session_id,
            messages=list(messages),
            principal=principal,
            context=dict(context or {}),
            resume=dict(resume) if resume else None,
        )

    async def execute(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        messages: Sequence[ChatMessage] = (),
        *,
        context: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run one turn on an existing session of this principal, within ``turn_timeout``
        (``TurnTimeout``): new ``messages``, per-turn ``context`` (for the agent, never stored),
        and ``resume`` answers to the session's pending interrupts.

        Raises:
            SessionNotFound: no such session of this principal (never made, ended, purged).
            LimitExceeded: over a ``[limits]`` size.
            InterruptPending: the session waits for answers and the turn has no ``resume``.
            InvalidResume: ``resume`` names interrupts that are not pending.
        """
        manager = self.manager_for(agent_id)
        command = self._command(principal, agent_id, session_id, messages, context, resume)
        self._key(manager, principal, agent_id, session_id)  # invalid ids: SessionNotFound
        return await execute_turn(manager, command, self.settings.limits.turn_timeout, create=False)

    async def stream(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        messages: Sequence[ChatMessage] = (),
        *,
        context: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[TurnItem, None]:
        """Run one turn like :meth:`execute`, yielding its ``ChatMessage`` chunks and
        ``StreamEvent``s as they come, then its ``ExecutionResult``, last (see
        :func:`~sessionful.service.turns.stream_turn`)."""
        manager = self.manager_for(agent_id)
        command = self._command(principal, agent_id, session_id, messages, context, resume)
        self._key(manager, principal, agent_id, session_id)
        stream = stream_turn(manager, command, self.settings.limits.turn_timeout, create=False)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()

    async def get_session(self, principal: str, agent_id: str, session_id: str) -> SessionView:
        """A session's stats and history."""
        manager = await self.require_session(principal, agent_id, session_id)
        key = self._key(manager, principal, agent_id, session_id)
        return SessionView(
            agent_id=agent_id,
            session_id=session_id,
            loaded=manager.get_agent(key) is not None,
            stats=manager.session_stats(key),
            record=await manager.session_record(key),
            history=await manager.history(key),
        )

    async def session_record(
        self, principal: str, agent_id: str, session_id: str
    ) -> SessionRecord | None:
        """What the store holds of a session of this principal (``None`` without a store)."""
        manager = self.manager_for(agent_id)
        return await manager.session_record(self._key(manager, principal, agent_id, session_id))

    async def record_feedback(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        rating: float | str,
        *,
        comment: str | None = None,
        turn: int | None = None,
    ) -> tuple[float, int, float | None]:
        """Record a rating of a session of this principal on the configured scale
        (``[feedback]``; ``"up"``/``"down"`` its ends). Returns the rating as recorded, and the
        session's rating count and mean after it.

        Raises:
            SessionNotFound: no such session of this principal.
            ConfigurationError: a rating off the scale, a negative turn.
        """
        manager = self.manager_for(agent_id)
        key = self._key(manager, principal, agent_id, session_id)
        scale = self.settings.feedback.scale
        value = rating_value(rating, scale)
        count, mean = await manager.record_feedback(key, value, comment, turn, scale=scale)
        return value, count, mean

    async def history(
        self,
        principal: str,
        agent_id: str,
        session_id: str,
        *,
        limit: int,
        after: int = 0,
    ) -> HistoryPage:
        """A page of a session's messages, oldest first, from position ``after`` (the previous
        page's ``next_after``)."""
        manager = await self.require_session(principal, agent_id, session_id)
        key = self._key(manager, principal, agent_id, session_id)
        record = await manager.session_record(key)
        if record is not None:  # the store gives the latest N: ask for the tail from `after`
            tail = max(0, record.message_count - after)
            messages = await manager.history(key, tail) if tail else []
        else:
            messages = (await manager.history(key))[after:]
        page = messages[:limit]
        more = len(messages) > limit
        return HistoryPage(page, after, after + len(page) if more else None)

    async def state_history(
        self, principal: str, agent_id: str, session_id: str, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The session's saved states (LangGraph's checkpoints), newest first; empty for
        frameworks that keep none."""
        manager = await self.require_session(principal, agent_id, session_id)
        key = self._key(manager, principal, agent_id, session_id)
        return await manager.state_history(key, limit)

    async def readiness(self, timeout: float = 5.0) -> str | None:
        """Why the service cannot serve now (its store does not answer within ``timeout``
        seconds), or ``None`` when it can."""
        for name, manager in self.managers.items():
            try:
                await asyncio.wait_for(manager.check_store(), timeout)
            except asyncio.TimeoutError:
                return f"the session store of {name!r} did not answer within {timeout:g}s"
            except Exception as exc:
                return f"the session store of {name!r} does not answer: {exc}"
        return None

    async def end_session(self, principal: str, agent_id: str, session_id: str) -> EndReport:
        """End a session of this principal; say what was deleted. A damaged session (its
        stored data does not decode) can be ended too: that is how it is cleaned up."""
        try:
            manager = await self.require_session(principal, agent_id, session_id)
        except CorruptSessionData:
            manager = self.manager_for(agent_id)
        return await manager.end_session(agent_id, session_id, namespace=principal)

    async def list_sessions(
        self,
        principal: str | None,
        *,
        after: str | None = None,
        limit: int = 50,
        where: SessionFilter | None = None,
    ) -> SessionPage:
        """A page of the principal's sessions (every principal's with ``None``, for operators),
        ordered by key, across all frameworks' stores, filtered by ``where``."""
        where = where or SessionFilter()
        managers = list(self.managers.values())
        if where.agent_id is not None:
            managers = [self.manager_for(where.agent_id)]
        # Managers of several frameworks may share one store: count each session once.
        unique: dict[str, SessionRecord] = {}
        for manager in managers:
            for record in await manager.list_sessions(
                namespace=principal,
                agent_id=where.agent_id,
                after=after,
                limit=limit + 1,
                user_id=where.user_id,
                labels=where.labels,
                active_after=where.active_after,
                active_before=where.active_before,
            ):
                unique[str(record.key)] = record
        found = sorted(unique.values(), key=lambda record: str(record.key))
        page = found[:limit]
        more = len(found) > limit
        return SessionPage(sessions=page, next_after=str(page[-1].key) if more and page else None)

    def store_name(self) -> str | None:
        """The configured store URL, its password masked, when sessions are stored; else
        ``None``."""
        if not any(manager.persistent for manager in self.managers.values()):
            return None
        return mask_url(self.settings.store)

    async def _count(self, principal: str, limit: int) -> int:
        """How many sessions ``principal`` has (a count of ``limit`` or more may stop at
        ``limit``: no more is needed)."""
        persistent = [manager for manager in self.managers.values() if manager.persistent]
        if not persistent:  # sessions are the live instances
            return sum(
                1
                for manager in self.managers.values()
                for key in manager.list_agents()
                if key.namespace == principal
            )
        # Every manager here has the one configured store: it counts, without loading a record.
        return await persistent[0].count_sessions(namespace=principal)

    async def cleanup(self) -> dict[str, CleanupReport]:
        """One sweep of every manager (expiry, and retention for stored sessions)."""
        return {name: await manager.cleanup_inactive() for name, manager in self.managers.items()}

    def stats(self) -> dict[str, ManagerStats]:
        """Each manager's counters, by framework."""
        return {name: manager.stats() for name, manager in self.managers.items()}


def mask_url(url: str) -> str:
    """``url`` with its password (``user:pw@`` or ``password=``) replaced by ``***``."""
    url = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    if "://" not in url or parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def strategy_persists(strategy: str, plugins: Iterable[object] = ()) -> bool:
    """Whether the strategy named ``strategy`` keeps sessions in a store (its ``persistent``):
    the one rule for whether the configured store applies, for the service and the command line.

    Raises:
        UnknownStrategy: no installed plugin registers ``strategy`` (the error lists those that
            do).
    """
    available = Plugins(plugins).get_strategies()
    if strategy not in available:
        raise UnknownStrategy(strategy, available)
    return available[strategy].persistent
