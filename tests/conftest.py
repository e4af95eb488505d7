"""Shared fixtures: a fake clock, a hook recorder, a controllable framework, a manager builder.

Time never passes by itself in these tests: the manager reads the :class:`FakeClock`, and a test
moves it with ``clock.advance(seconds)``.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from sessionful import (
    AgentCreateRequest,
    AgentDefinition,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ExecuteAgentCommand,
    Framework,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    SessionStats,
    hookimpl,
)
from sessionful._plugins import LOAD_PLUGINS_ENV

BOT = "customer-service-bot"


class FakeClock:
    """A clock that only moves when told to. Call it for the time; ``advance`` to move it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds


class Recorder:
    """A plugin that records every lifecycle hook call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.created: list[SessionKey] = []
        self.reused: list[SessionKey] = []
        self.evicted: list[tuple[SessionKey, str]] = []
        self.ended: list[tuple[SessionKey, SessionStats | None]] = []
        self.turns: list[dict[str, Any]] = []

    @hookimpl
    def session_created(self, key: SessionKey, instance: AgentInstance) -> None:
        self.created.append(key)
        self.events.append(("created", key))

    @hookimpl
    def session_reused(self, key: SessionKey) -> None:
        self.reused.append(key)
        self.events.append(("reused", key))

    @hookimpl
    def session_evicted(self, key: SessionKey, reason: str) -> None:
        self.evicted.append((key, reason))
        self.events.append(("evicted", key))

    @hookimpl
    def session_ended(self, key: SessionKey, stats: SessionStats | None) -> None:
        self.ended.append((key, stats))
        self.events.append(("ended", key))

    @hookimpl
    def turn_completed(
        self,
        key: SessionKey,
        messages: Sequence[ChatMessage],
        duration: float,
        stats: SessionStats,
        instance_event: str,
    ) -> None:
        self.turns.append(
            {
                "key": key,
                "messages": list(messages),
                "duration": duration,
                "stats": stats,
                "event": instance_event,
            }
        )
        self.events.append(("turn", key))


# -- a framework whose every step a test can hold or script ------------------------------------

Step = Callable[..., Awaitable[None]]


class ControlledAgent:
    """Replies ``reply #<n>`` and runs the factory's ``on_invoke`` (if set) inside each turn."""

    def __init__(self, key: SessionKey, factory: ControlledFactory) -> None:
        self.key = key
        self.factory = factory
        self.turns = 0
        self.destroyed = False

    async def ainvoke(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        factory = self.factory
        assert not self.destroyed, f"{self.key} invoked after destroy"
        factory.in_flight[self.key] += 1
        factory.max_in_flight[self.key] = max(
            factory.max_in_flight[self.key], factory.in_flight[self.key]
        )
        try:
            if factory.on_invoke is not None:
                await factory.on_invoke(self, messages)
            assert not self.destroyed, f"{self.key} destroyed during a turn"
            self.turns += 1
            return [ChatMessage.assistant(f"reply #{self.turns}")]
        finally:
            factory.in_flight[self.key] -= 1


class ControlledFactory(AgentFactory):
    """Counts creates and destroys; ``on_create`` / ``on_invoke`` / ``on_destroy`` script them."""

    def __init__(self) -> None:
        self.on_create: Step | None = None
        self.on_invoke: Step | None = None
        self.on_destroy: Step | None = None
        self.created: list[ControlledAgent] = []
        self.destroyed: list[ControlledAgent] = []
        self.create_calls = 0
        self.in_flight: Counter[SessionKey] = Counter()
        self.max_in_flight: Counter[SessionKey] = Counter()

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        self.create_calls += 1
        if self.on_create is not None:
            await self.on_create(request)
        agent = ControlledAgent(request.key, self)
        self.created.append(agent)
        return agent

    async def destroy_agent(self, instance: AgentInstance) -> None:
        assert isinstance(instance, ControlledAgent)
        assert not instance.destroyed, f"{instance.key} destroyed twice"
        instance.destroyed = True
        self.destroyed.append(instance)
        if self.on_destroy is not None:
            await self.on_destroy(instance)


class ControlledFramework(Framework):
    """Pass an instance as ``SessionManager(framework=...)``; its ``factory`` is the one used."""

    name: ClassVar[str] = "controlled"

    def __init__(self) -> None:
        self.factory = ControlledFactory()

    def create_agent_factory(self, settings: Mapping[str, Any]) -> ControlledFactory:
        return self.factory


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _all_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees every installed plugin unless it narrows the list itself."""
    monkeypatch.delenv(LOAD_PLUGINS_ENV, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock; ``clock.advance(seconds)`` moves time."""
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    """A hook plugin recording lifecycle events; pass it in ``plugins=[recorder]``."""
    return Recorder()


@pytest.fixture
def bot() -> AgentDefinition:
    """The original design's agent."""
    return AgentDefinition(
        id=BOT, name="Customer service", template_id="echo", template_version="1"
    )


@pytest.fixture
def controlled() -> ControlledFramework:
    """A fresh controllable framework (see :class:`ControlledFramework`)."""
    return ControlledFramework()


@pytest.fixture
def make_manager(
    clock: FakeClock, recorder: Recorder, bot: AgentDefinition
) -> Callable[..., SessionManager]:
    """Build a manager on the stub with the fake clock, the recorder and ``bot`` registered.

    Keyword arguments override the defaults; ``lifecycle`` defaults to no background sweeper.
    """

    def make(**overrides: Any) -> SessionManager:
        options: dict[str, Any] = {
            "framework": "stub",
            "clock": clock,
            "plugins": [recorder],
            "agents": [bot],
            "lifecycle": LifecyclePolicy(sweep_interval=None),
        }
        options.update(overrides)
        return SessionManager(**options)

    return make


def command(text: str, session_id: str | None = None, **extra: Any) -> ExecuteAgentCommand:
    """One user message to ``BOT`` (or ``agent_id=...``) in ``session_id``."""
    extra.setdefault("agent_id", BOT)
    return ExecuteAgentCommand(session_id=session_id, messages=[ChatMessage.user(text)], **extra)


@pytest.fixture
def cmd() -> Callable[..., ExecuteAgentCommand]:
    """``cmd("Hello", "s1")`` builds an ``ExecuteAgentCommand`` for the default agent."""
    return command


@pytest.fixture
def timed_framework(clock: FakeClock) -> Callable[[list[float]], ControlledFramework]:
    """``timed_framework([2.0, 0.5])``: a controlled framework whose n-th turn advances the fake
    clock by the n-th duration, i.e. a turn that takes that long."""

    def make(durations: list[float]) -> ControlledFramework:
        framework = ControlledFramework()
        pending = iter(durations)

        async def take_time(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
            clock.advance(next(pending))

        framework.factory.on_invoke = take_time
        return framework

    return make


# -- a real PostgreSQL server, when scripts/with-postgres.sh started one -------------------------

POSTGRES_DSN_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"
"""Set by ``scripts/with-postgres.sh`` (so by ``make pytest``) to the throwaway server's URL."""

NO_POSTGRES = (
    f"NO POSTGRESQL SERVER: {POSTGRES_DSN_ENV} is not set, so this Postgres test is SKIPPED. "
    "Run the tests through scripts/with-postgres.sh (make pytest does), on a machine with the "
    "PostgreSQL server binaries (Debian: apt-get install postgresql)."
)


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` with ``options=-csearch_path=<schema>`` added to its query string."""
    from urllib.parse import quote

    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A ``postgresql://`` URL whose connections see an empty schema of their own (its name in
    ``search_path``), dropped afterwards: each test gets isolated tables on the shared test
    server, also from child processes given the URL. Skips, loudly, without a server."""
    base = os.environ.get(POSTGRES_DSN_ENV)
    if not base:
        pytest.skip(NO_POSTGRES)
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(base, schema)
    finally:
        try:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '10s'")
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        except psycopg.Error:
            pass  # a child still holds a lock: the schema dies with the throwaway server
