"""The service layer the CLI and the HTTP service share: configured agents, principals, limits.

:class:`AgentService` turns :class:`~sessionful.service.config.Settings` into one
:class:`~sessionful.SessionManager` per framework and answers in a principal's name. The
principal is the session key's namespace, so one principal's session ids never meet another's:
asking for another principal's session is exactly like asking for one that does not exist
(:class:`SessionNotFound`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from pydantic import BaseModel, ConfigDict

from sessionful._plugins import Plugins
from sessionful.errors import ConfigurationError, SessionError, UnknownAgent, UnknownStrategy
from sessionful.keys import SessionKey
from sessionful.lifecycle import CleanupReport
from sessionful.manager import EndReport, SessionManager
from sessionful.models import (
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    ManagerStats,
    SessionStats,
)
from sessionful.service.config import AgentConfig, Settings
from sessionful.service.turns import TurnItem, execute_turn, stream_turn
from sessionful.stores.base import SessionRecord

__all__ = [
    "AgentService",
    "LimitExceeded",
    "SessionNotFound",
    "SessionPage",
    "SessionView",
    "new_session_id",
    "strategy_persists",
]


def new_session_id() -> str:
    """A fresh session id: 192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


class SessionNotFound(SessionError, LookupError):
    """No such session for this principal (which includes: it is another principal's)."""

    def __init__(self, agent_id: str, session_id: str) -> None:
        super().__init__(None, f"no session {session_id!r} of agent {agent_id!r}")
        self.agent_id = agent_id
        self.session_id = session_id


class LimitExceeded(SessionError):
    """A request is over a configured limit; ``.limit`` names it (``max_message_chars``...)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(None, message)
        self.limit = limit


class SessionView(BaseModel):
    """One session as a principal sees it."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    session_id: str
    loaded: bool
    """Whether an instance is live in this process."""
    stats: SessionStats | None
    """Live analytics, when loaded."""
    record: SessionRecord | None
    """What the store holds (``persisted``)."""
    history: list[ChatMessage]


class SessionPage(BaseModel):
    """A page of a principal's sessions; pass ``next_after`` to get the next page."""

    model_config = ConfigDict(frozen=True)

    sessions: list[SessionRecord]
    next_after: str | None


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
        # Count-then-create must not interleave, or concurrent creates overshoot the limit.
        # (Within this process; several processes can still overshoot by their number.)
        self._creating = asyncio.Lock()

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
        """The principal an API key maps to, or ``None``; constant-time in the key."""
        if api_key is None:
            return None
        found = None
        for key, principal in self.settings.auth.api_keys.items():
            if secrets.compare_digest(key.encode(), api_key.encode()):
                found = principal
        return found

    # -- sessions -------------------------------------------------------------------------------

    async def create_session(self, principal: str, agent_id: str) -> SessionKey:
        """A new session with a server-generated id, its instance made ready."""
        manager = self.manager_for(agent_id)
        limit = self.settings.limits.max_sessions_per_principal
        async with self._creating:
            if await self._count(principal, limit) >= limit:
                raise LimitExceeded(
                    "max_sessions_per_principal",
                    f"principal already has {limit} sessions; end some first",
                )
            key, _ = await manager.open_session(agent_id, new_session_id(), namespace=principal)
        return key

    async def require_session(
        self, principal: str, agent_id: str, session_id: str
    ) -> SessionManager:
        """The manager of an existing session of this principal; raises ``SessionNotFound``
        (also for another principal's session: the two are indistinguishable)."""
        manager = self.manager_for(agent_id)
        if not await manager.session_exists(self._key(manager, principal, agent_id, session_id)):
            raise SessionNotFound(agent_id, session_id)
        return manager

    @staticmethod
    def _key(manager: SessionManager, principal: str, agent_id: str, session_id: str) -> SessionKey:
        try:
            return manager.key_for(agent_id, session_id, principal)
        except ConfigurationError:  # ids that cannot name a session name none of this principal
            raise SessionNotFound(agent_id, session_id) from None

    def _command(
        self, principal: str, agent_id: str, session_id: str, messages: Sequence[ChatMessage]
    ) -> ExecuteAgentCommand:
        limits = self.settings.limits
        if len(messages) > limits.max_messages_per_request:
            raise LimitExceeded(
                "max_messages_per_request",
                f"{len(messages)} messages; at most {limits.max_messages_per_request} per request",
            )
        for message in messages:
            if len(message.content) > limits.max_message_chars:
                raise LimitExceeded(
                    "max_message_chars",
                    f"a message of {len(message.content)} characters; "
                    f"at most {limits.max_message_chars}",
                )
        return ExecuteAgentCommand(
            agent_id=agent_id, session_id=session_id, messages=list(messages), principal=principal
        )

    async def execute(
        self, principal: str, agent_id: str, session_id: str, messages: Sequence[ChatMessage]
    ) -> ExecutionResult:
        """Run one turn on an existing session of this principal, within ``turn_timeout``
        (``TurnTimeout``)."""
        command = self._command(principal, agent_id, session_id, messages)
        manager = await self.require_session(principal, agent_id, session_id)
        return await execute_turn(manager, command, self.settings.limits.turn_timeout)

    async def stream(
        self, principal: str, agent_id: str, session_id: str, messages: Sequence[ChatMessage]
    ) -> AsyncGenerator[TurnItem, None]:
        """Run one turn like :meth:`execute`, yielding its ``ChatMessage`` chunks as they come,
        then its ``ExecutionResult``, last (see :func:`~sessionful.service.turns.stream_turn`)."""
        command = self._command(principal, agent_id, session_id, messages)
        manager = await self.require_session(principal, agent_id, session_id)
        stream = stream_turn(manager, command, self.settings.limits.turn_timeout)
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

    async def end_session(self, principal: str, agent_id: str, session_id: str) -> EndReport:
        """End a session of this principal; say what was deleted."""
        manager = await self.require_session(principal, agent_id, session_id)
        return await manager.end_session(agent_id, session_id, namespace=principal)

    async def list_sessions(
        self, principal: str | None, *, after: str | None = None, limit: int = 50
    ) -> SessionPage:
        """A page of the principal's sessions (every principal's with ``None``, for operators),
        ordered by key, across all frameworks' stores."""
        # Managers of several frameworks may share one store: count each session once.
        unique: dict[str, SessionRecord] = {}
        for manager in self.managers.values():
            for record in await manager.list_sessions(
                namespace=principal, after=after, limit=limit + 1
            ):
                unique[str(record.key)] = record
        found = sorted(unique.values(), key=lambda record: str(record.key))
        page = found[:limit]
        more = len(found) > limit
        return SessionPage(sessions=page, next_after=str(page[-1].key) if more and page else None)

    async def _count(self, principal: str, limit: int) -> int:
        keys: set[str] = set()  # managers may share one store: count each session once
        for manager in self.managers.values():
            if manager.persistent:
                records = await manager.list_sessions(namespace=principal, limit=limit)
                keys.update(str(record.key) for record in records)
            else:
                keys.update(str(key) for key in manager.list_agents() if key.namespace == principal)
        return len(keys)

    async def cleanup(self) -> dict[str, CleanupReport]:
        """One sweep of every manager (expiry, and retention for stored sessions)."""
        return {name: await manager.cleanup_inactive() for name, manager in self.managers.items()}

    def stats(self) -> dict[str, ManagerStats]:
        """Each manager's counters, by framework."""
        return {name: manager.stats() for name, manager in self.managers.items()}


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
