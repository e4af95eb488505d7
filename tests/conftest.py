"""Shared fixtures: a fake clock, a hook recorder, a controllable framework (all three from
:mod:`support`), a manager builder.

Time never passes by itself in these tests: the manager reads the :class:`FakeClock`, and a test
moves it with ``clock.advance(seconds)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LifecyclePolicy,
    SessionManager,
)
from sessionful._plugins import LOAD_PLUGINS_ENV
from support import BOT, ControlledAgent, ControlledFramework, FakeClock, Recorder
from support.postgres import schema_url

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


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A ``postgresql://`` URL whose connections see an empty schema of their own, dropped
    afterwards (:func:`support.postgres.schema_url`). Skips, loudly, without a server."""
    with schema_url() as url:
        yield url
